//! `kong report RUN [--format markdown|html]`: the report of one run (a drill's evacuation
//! brings its restore along), built only from the journal, so it can be produced after a
//! crash too. Rendering is `crate::report`'s; this command reads and writes files.

use std::path::Path;

use super::{CliError, Common, ReportFormat};
use crate::journal::{self, RunLog};
use crate::plan::Operation;
use crate::report::{self, Input};

/// Prints (or writes to `out`) the report of a run.
pub fn run(
    common: &Common,
    run_id: &str,
    format: ReportFormat,
    out: Option<&Path>,
) -> Result<i32, CliError> {
    let log = journal::read_run(&common.state_dir, &run_id.to_string()).map_err(|e| match e {
        journal::JournalError::UnknownRun(_) => CliError::Usage(e.to_string()),
        other => CliError::Unexpected(other.into()),
    })?;
    let logs = with_drill_restore(&common.state_dir, log);
    // The files, when still there, give the shares before the first step and the hypothesis.
    let topology = crate::model::load_topology(Path::new(&logs[0].header.topology_path)).ok();
    let playbook = topology.as_ref().and_then(|t| {
        crate::model::load_playbook(Path::new(&logs[0].header.playbook_path), Some(t)).ok()
    });
    let input = Input {
        logs: &logs,
        topology: topology.as_ref(),
        playbook: playbook.as_ref(),
    };
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))
    };
    match (format, out) {
        (ReportFormat::Html, Some(path)) => write(path, &report::html(&input))?,
        (ReportFormat::Html, None) => print!("{}", report::html(&input)),
        (ReportFormat::Markdown, out) => {
            // The charts go beside the report: beside FILE, or in the run's directory.
            let (dir, stem) = match out {
                Some(path) => (
                    path.parent().map(Path::to_path_buf).unwrap_or_default(),
                    path.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "report".to_string()),
                ),
                None => (
                    journal::run_dir(&common.state_dir, run_id),
                    "report".to_string(),
                ),
            };
            let prefix = match out {
                Some(_) => format!("{stem}-"),
                None => format!("{}/{stem}-", dir.display()),
            };
            for chart in report::charts(&input) {
                write(&dir.join(format!("{stem}-{}.svg", chart.name)), &chart.svg)?;
            }
            let text = report::markdown(&input, Some(&prefix));
            match out {
                Some(path) => write(path, &text)?,
                None => print!("{text}"),
            }
        }
    }
    Ok(0)
}

/// `[log]`, or `[evacuation, restore]` when `log` is a drill's evacuation whose restore ran.
fn with_drill_restore(state_dir: &Path, log: RunLog) -> Vec<RunLog> {
    if log.header.command != "drill" || log.header.operation != Operation::Evacuate {
        return vec![log];
    }
    let restore = journal::list_runs(state_dir).ok().and_then(|runs| {
        runs.into_iter()
            .filter(|r| {
                r.header.command == "drill"
                    && r.header.operation == Operation::Restore
                    && r.header.region == log.header.region
                    && r.header.topology == log.header.topology
                    && r.header.id > log.header.id
            })
            .min_by(|a, b| a.header.id.cmp(&b.header.id))
    });
    match restore {
        Some(r) => vec![log, r],
        None => vec![log],
    }
}
