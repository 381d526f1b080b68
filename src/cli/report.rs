//! `kong report RUN [--format markdown|html]`: the report of one run (a drill's evacuation
//! brings its restore along), built only from the journal, so it can be produced after a
//! crash too. Rendering is `crate::report`'s; writing is [`super::run_report`]'s.

use std::path::Path;

use super::context::{Context, Line, State};
use super::exit::Done;
use super::{CliError, Common, ReportFormat, run_report};
use crate::journal::RunLog;
use crate::plan::Operation;
use crate::report::{self, Input};

/// Prints the report of a run, or writes it to `out` (Markdown: charts as `FILE-NAME.svg`
/// beside it; on stdout, the charts go to the run's directory). The backend line goes to
/// stderr when the report itself is on stdout.
pub fn run(
    common: &Common,
    run_id: &str,
    format: ReportFormat,
    out: Option<&Path>,
) -> Result<Done, CliError> {
    let line = if out.is_some() {
        Line::Stdout
    } else {
        Line::Stderr
    };
    let ctx = Context::<()>::open(common, "report", line)?;
    let log = ctx.block_on(ctx.state.read_run(run_id))?;
    let logs = ctx.block_on(with_drill_restore(&ctx.state, log));
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
        (ReportFormat::Markdown, Some(path)) => {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "report".to_string());
            run_report::write_charts(&dir, &stem, &input)
                .map_err(|e| CliError::Usage(format!("cannot write the charts: {e}")))?;
            write(path, &report::markdown(&input, Some(&format!("{stem}-"))))?;
        }
        (ReportFormat::Markdown, None) => {
            let dir = ctx.state.report_dir(run_id);
            run_report::write_charts(&dir, "report", &input)
                .map_err(|e| CliError::Usage(format!("cannot write the charts: {e}")))?;
            let prefix = format!("{}/report-", dir.display());
            print!("{}", report::markdown(&input, Some(&prefix)));
        }
    }
    Ok(Done::Ok)
}

/// `[log]`, or `[evacuation, restore]` when `log` is a drill's evacuation whose restore ran.
async fn with_drill_restore(state: &State, log: RunLog) -> Vec<RunLog> {
    if log.header.command != "drill" || log.header.operation != Operation::Evacuate {
        return vec![log];
    }
    let restore = state.list_runs().await.ok().and_then(|runs| {
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
