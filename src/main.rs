//! `kong` entry point: parse arguments, run the command, map the outcome to an exit code.

use clap::Parser;

fn main() {
    let cli = kong::cli::Cli::parse();
    let code = match kong::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{err}");
            err.exit_code()
        }
    };
    std::process::exit(code);
}
