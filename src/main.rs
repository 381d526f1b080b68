//! `kong` entry point: parse arguments, run the command, map the outcome to an exit code.

use clap::Parser;

fn main() {
    let cli = kong::cli::Cli::parse();
    let telemetry = kong::telemetry::init();
    let code = match kong::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{err}");
            err.exit_code()
        }
    };
    // `exit` runs no destructors: flush the spans first.
    drop(telemetry);
    std::process::exit(code);
}
