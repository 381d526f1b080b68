//! The drill history a schedule needs: when each region's last drill completed.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::journal::{Record, RunLog, RunState};
use crate::plan::Operation;

/// A region's last completed drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastDrill {
    /// The drill's restore run (the run that completed it).
    pub run: String,
    /// When that run finished.
    pub finished_at: Timestamp,
}

/// The last completed drill of each region, from the run history: a drill is complete when
/// its restore run (`command: drill`, operation restore) finished `completed`.
pub fn last_completed_drills(logs: &[RunLog]) -> BTreeMap<String, LastDrill> {
    let mut out: BTreeMap<String, LastDrill> = BTreeMap::new();
    for log in logs {
        let h = &log.header;
        if h.command != "drill"
            || h.operation != Operation::Restore
            || log.state != RunState::Completed
            || h.dry_run
        {
            continue;
        }
        let finished = log.records.iter().rev().find_map(|r| match r {
            Record::RunFinished { at, .. } => at.parse::<Timestamp>().ok(),
            _ => None,
        });
        let Some(finished_at) = finished else {
            continue;
        };
        let newer = out
            .get(&h.region)
            .is_none_or(|l| l.finished_at < finished_at);
        if newer {
            out.insert(
                h.region.clone(),
                LastDrill {
                    run: h.id.clone(),
                    finished_at,
                },
            );
        }
    }
    out
}
