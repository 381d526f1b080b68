//! `kong` entry point: parse arguments, run the command, map its result to an exit code.

use clap::Parser;

// mimalloc instead of glibc's malloc: loading a 10,000-service topology and planning on it
// allocate millions of small strings and maps; measured on `kong plan` (benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = kong::cli::Cli::parse();
    let telemetry = kong::telemetry::init();
    let code = kong::cli::exit::exit_code(&kong::cli::run(cli));
    // `exit` runs no destructors: flush the spans first.
    drop(telemetry);
    std::process::exit(code);
}
