//! `kong report RUN`: a Markdown write-up of one run (see [`super::run_report`]).

use std::path::Path;

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, run_report};

/// Prints the report of a run, or writes it to `out`. The backend line goes to stderr when
/// the report itself is on stdout.
pub fn run(common: &Common, run_id: &str, out: Option<&Path>) -> Result<Done, CliError> {
    let line = if out.is_some() {
        Line::Stdout
    } else {
        Line::Stderr
    };
    let ctx = Context::<()>::open(common, "report", line)?;
    let log = ctx.state.read_run(run_id)?;
    // The topology, when its file is still there, gives the shares before the first step.
    let topology = crate::model::load_topology(Path::new(&log.header.topology_path)).ok();
    let report = run_report::markdown(&[log], topology.as_ref());
    match out {
        Some(path) => std::fs::write(path, &report)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{report}"),
    }
    Ok(Done::Ok)
}
