//! `kong` entry point: parse arguments, run the command, map its result to an exit code.

use clap::Parser;

fn main() {
    let cli = kong::cli::Cli::parse();
    let telemetry = kong::telemetry::init();
    let code = kong::cli::exit::exit_code(&kong::cli::run(cli));
    // `exit` runs no destructors: flush the spans first.
    drop(telemetry);
    std::process::exit(code);
}
