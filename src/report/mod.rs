//! The report of a run, or of a drill's two runs: a summary that fits on one screen, charts,
//! then the detail of every step, as Markdown (with SVG files beside it) or as one
//! self-contained HTML page (SVG inline, no network asset).
//!
//! Pure: it takes journals read back ([`RunLog`]), the topology and the playbook, and returns
//! strings. No I/O, no clock: the same journals give the same bytes, so reports are
//! snapshot-tested from fixed journals and can be made again after a crash.
//!
//! Charts are hand-written SVG ([`svg`]): four kinds of chart (stacked areas, lines with
//! thresholds, lanes) need a few hundred lines, with stable number formatting and no
//! font or backend set-up, where a plotting crate would add a dependency tree for the same.

mod facts;
mod html;
mod markdown;
mod svg;
#[cfg(test)]
mod tests;
mod traffic;

use crate::journal::RunLog;
use crate::model::{Playbook, Topology};

pub use facts::{Bound, bound};
pub use traffic::Traffic;

/// What a report is made from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The run, or a drill's evacuation then its restore, in order.
    pub logs: &'a [RunLog],
    /// The topology, when its file is still there: shares before the first step, loads and
    /// capacities for the traffic and utilization charts.
    pub topology: Option<&'a Topology>,
    /// The playbook, when its file is still there: the hypothesis.
    pub playbook: Option<&'a Playbook>,
}

/// One chart: a file name stem (`traffic`, `checks`, ...), a title, and its SVG document.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// A stem for the file written beside the Markdown, e.g. `traffic-wave-1`.
    pub name: String,
    /// What it shows.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// The charts of the report, in the order the report shows them.
pub fn charts(input: &Input<'_>) -> Vec<Chart> {
    svg::charts(&facts::Facts::new(input))
}

/// The Markdown report. Each chart is linked as `{prefix}{chart.name}.svg` (the caller
/// writes [`charts`] there); `None` leaves the charts out.
pub fn markdown(input: &Input<'_>, chart_prefix: Option<&str>) -> String {
    let facts = facts::Facts::new(input);
    let charts = chart_prefix.map(|prefix| (prefix, svg::charts(&facts)));
    markdown::render(&facts, charts.as_ref().map(|(p, c)| (*p, c.as_slice())))
}

/// The HTML report: one file, charts inline, no external asset; prints on paper.
pub fn html(input: &Input<'_>) -> String {
    let facts = facts::Facts::new(input);
    let charts = svg::charts(&facts);
    html::render(&facts, &charts)
}

/// Seconds between two RFC 3339 times, when both parse.
fn seconds_between(from: &str, to: &str) -> Option<f64> {
    let a: jiff::Timestamp = from.parse().ok()?;
    let b: jiff::Timestamp = to.parse().ok()?;
    Some((b.as_millisecond() - a.as_millisecond()) as f64 / 1000.0)
}

/// `4.2s`, `3m05s`, `1h02m`.
pub fn fmt_secs(s: f64) -> String {
    if s >= 3600.0 {
        let m = (s / 60.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    } else if s >= 60.0 {
        let r = s.round() as u64;
        format!("{}m{:02}s", r / 60, r % 60)
    } else {
        format!("{s:.1}s")
    }
}

/// `09:03:12` from `2026-11-23T09:03:12.345Z`.
fn time_of(at: &str) -> String {
    at.split('T')
        .nth(1)
        .map(|t| t.chars().take(8).collect())
        .unwrap_or_else(|| at.to_string())
}

pub use crate::checks::num;

/// `n names: a, b, … z` when there are more than `max`.
pub fn few(names: &[String], max: usize) -> String {
    if names.len() <= max {
        return names.join(", ");
    }
    let head = names[..max.saturating_sub(1).max(1)].join(", ");
    format!(
        "{} services: {head}, … {}",
        names.len(),
        names.last().map(String::as_str).unwrap_or_default()
    )
}
