//! Writing a run's report files: `kong report RUN`, the `report.md`/`report.html` every run
//! leaves next to its journal, and a drill's `drill-report.*`. What they say is
//! `crate::report`'s (pure); this writes them.

use std::path::{Path, PathBuf};

use crate::journal::RunLog;
use crate::model::{Playbook, Topology};
use crate::report::{self, Input};

/// Files a report was written to.
#[derive(Debug)]
pub struct WrittenReport {
    /// The Markdown report.
    pub markdown: PathBuf,
    /// The HTML report.
    pub html: PathBuf,
}

/// Writes the charts of `input` as `{stem}-NAME.svg` into `dir`.
pub fn write_charts(dir: &Path, stem: &str, input: &Input<'_>) -> std::io::Result<()> {
    for chart in report::charts(input) {
        std::fs::write(dir.join(format!("{stem}-{}.svg", chart.name)), &chart.svg)?;
    }
    Ok(())
}

/// Writes `{stem}.md`, its charts `{stem}-NAME.svg` and `{stem}.html` into `dir`.
pub fn write_report(
    dir: &Path,
    stem: &str,
    logs: &[RunLog],
    topology: &Topology,
    playbook: &Playbook,
) -> std::io::Result<WrittenReport> {
    let input = Input {
        logs,
        topology: Some(topology),
        playbook: Some(playbook),
    };
    write_charts(dir, stem, &input)?;
    let markdown = dir.join(format!("{stem}.md"));
    std::fs::write(
        &markdown,
        report::markdown(&input, Some(&format!("{stem}-"))),
    )?;
    let html = dir.join(format!("{stem}.html"));
    std::fs::write(&html, report::html(&input))?;
    Ok(WrittenReport { markdown, html })
}
