//! `kong schedule`: the next opening and the last completed drill of each region, as a
//! value (for JSON) and as text.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use super::{Due, LastDrill, Schedule, Zone, describe_due, describe_instant};

/// One region's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionSchedule {
    /// The region.
    pub region: String,
    /// Its last completed drill: the restore run and when it finished.
    pub last_drill: Option<LastDrillJson>,
    /// Whether `kong drill REGION --if-due` would run now.
    pub due: bool,
    /// When it would run next (now when due; `None` when no opening is found within a year).
    pub next_opening: Option<Timestamp>,
    /// Why not now (the `not due: ...` line), when not due.
    pub not_due: Option<String>,
}

/// A last drill in JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastDrillJson {
    /// The restore run that completed the drill.
    pub run: String,
    /// When it finished.
    pub finished_at: Timestamp,
}

/// Each of `regions`' schedule at `now` (no schedule: always due).
pub fn overview(
    schedule: Option<&Schedule>,
    regions: &[String],
    last: &BTreeMap<String, LastDrill>,
    now: Timestamp,
) -> Vec<RegionSchedule> {
    regions
        .iter()
        .map(|region| {
            let last_drill = last.get(region);
            let due = match schedule {
                Some(s) => s.due(now, last_drill.map(|l| l.finished_at)),
                None => Due::Now {
                    window: None,
                    until: None,
                },
            };
            let (is_due, next) = match &due {
                Due::Now { .. } => (true, Some(now)),
                Due::NotDue { next, .. } => (false, *next),
            };
            RegionSchedule {
                region: region.clone(),
                last_drill: last_drill.map(|l| LastDrillJson {
                    run: l.run.clone(),
                    finished_at: l.finished_at,
                }),
                due: is_due,
                next_opening: next,
                not_due: schedule.and_then(|s| describe_due(s, &due)),
            }
        })
        .collect()
}

/// The schedule in one paragraph, then one line per region.
pub fn render_text(
    playbook: &str,
    schedule: Option<&Schedule>,
    rows: &[RegionSchedule],
    now: Timestamp,
) -> String {
    let mut out = String::new();
    let zone = schedule.map_or_else(Zone::utc, Schedule::display_zone);
    match schedule {
        None => out.push_str(&format!(
            "playbook `{playbook}` declares no schedule: a drill may run any time\n"
        )),
        Some(s) => {
            out.push_str(&format!("schedule of playbook `{playbook}`:\n"));
            if s.windows.is_empty() {
                out.push_str("  windows: none (any time outside a freeze)\n");
            }
            for w in &s.windows {
                out.push_str(&format!("  window: {w}\n"));
            }
            for f in &s.freezes {
                out.push_str(&format!("  {f}\n"));
            }
            if let Some(d) = s.min_interval {
                out.push_str(&format!(
                    "  min_interval: {} between completed drills of a region\n",
                    human_days(d)
                ));
            }
        }
    }
    out.push_str(&format!("now: {}\n\n", describe_instant(now, &zone)));
    for row in rows {
        let last = match &row.last_drill {
            Some(l) => format!(
                "last drill {} (run {})",
                describe_instant(l.finished_at, &zone),
                l.run
            ),
            None => "no completed drill".to_string(),
        };
        let next = match (row.due, row.next_opening) {
            (true, _) => "due now".to_string(),
            (false, Some(t)) => format!("next opening {}", describe_instant(t, &zone)),
            (false, None) => "no opening within the next year".to_string(),
        };
        out.push_str(&format!("{}: {next}; {last}\n", row.region));
        if let Some(why) = &row.not_due {
            out.push_str(&format!("  {why}\n"));
        }
    }
    out
}

/// `7d`, `1d12h`, `36h30m`: the largest units first, zero units left out.
fn human_days(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let mut out = String::new();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    for (n, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}
