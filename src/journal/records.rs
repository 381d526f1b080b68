//! The records of a run journal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{AbortKind, Operation, Weights};
use crate::plan::Plan;

/// A run's identifier, e.g. `20261123-090312-evacuate-us-east-1-3f9a`; sorts by start time.
pub type RunId = String;

/// Where a run stands, derived from its journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Moving traffic (or its process died while it was).
    Running,
    /// Held after an abort with `on_abort: pause`; waiting for resume or rollback.
    Paused,
    /// Rolling back (or its process died while it was).
    RollingBack,
    /// Every step done.
    Completed,
    /// Aborted and back at baseline.
    RolledBack,
    /// Aborted and the rollback did not complete.
    RollbackFailed,
    /// Refused before the first change, or a dry run: nothing changed.
    Refused,
}

impl RunState {
    /// For people: `rolled back`, `running (or interrupted)`.
    pub fn describe(self) -> &'static str {
        match self {
            RunState::Running => "running (or interrupted)",
            RunState::Paused => "paused",
            RunState::RollingBack => "rolling back (or interrupted)",
            RunState::Completed => "completed",
            RunState::RolledBack => "rolled back",
            RunState::RollbackFailed => "rollback failed",
            RunState::Refused => "refused",
        }
    }

    /// As in the journal and the JSON of `kong status` and `kong runs`: `rolled_back`.
    pub fn key(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::RollingBack => "rolling_back",
            RunState::Completed => "completed",
            RunState::RolledBack => "rolled_back",
            RunState::RollbackFailed => "rollback_failed",
            RunState::Refused => "refused",
        }
    }

    /// Every state (tests).
    #[cfg(test)]
    pub(crate) const ALL: [RunState; 7] = [
        RunState::Running,
        RunState::Paused,
        RunState::RollingBack,
        RunState::Completed,
        RunState::RolledBack,
        RunState::RollbackFailed,
        RunState::Refused,
    ];

    /// Whether the run is over (nothing left to resume or roll back).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::RolledBack | RunState::Refused
        )
    }
}

/// Who ran it, what with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// The run id.
    pub id: RunId,
    /// `evacuate` or `restore`.
    pub operation: Operation,
    /// The region.
    pub region: String,
    /// `drill` when part of a drill, else the command name.
    pub command: String,
    /// Topology name.
    pub topology: String,
    /// Topology file path as given.
    pub topology_path: String,
    /// Playbook file path as given.
    pub playbook_path: String,
    /// `sim` or `aws`.
    pub backend: String,
    /// Host name of the process.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Whether nothing is changed (`--dry-run`).
    pub dry_run: bool,
    /// The user who started the run (absent in journals written before kong recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Why a drill ran although the playbook's schedule did not allow it (`--force
    /// --reason`); absent when the schedule allowed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<Forced>,
}

/// A drill run outside its schedule by `--force --reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forced {
    /// The operator's `--reason`.
    pub reason: String,
    /// What the schedule said (`outside every drill window (...)`, `in freeze ...`).
    pub overrode: String,
}

/// Check results belong to `checks`; re-exported here for the paths already in use.
pub use crate::checks::CheckResult;

/// One Auto Scaling group's desired capacity change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityChange {
    /// The group's region.
    pub region: String,
    /// The group's name.
    pub group: String,
    /// Desired capacity before the change (what restore and rollback return to).
    pub from: u32,
    /// Desired capacity asked.
    pub to: u32,
}

impl std::fmt::Display for CapacityChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "group {} in {}: desired {} -> {}",
            self.group, self.region, self.from, self.to
        )
    }
}

/// What one service still serves in an evacuated region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualTraffic {
    /// The service.
    pub service: String,
    /// Requests/s it still serves in the region (`None`: could not be measured).
    pub rps: Option<f64>,
    /// `rps` over what the region served before the run, a fraction.
    pub share: Option<f64>,
    /// Why it could not be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `services` with the largest residual share first, those not measured before all (they
/// may hide anything), ties by name: the order reports list them in.
pub fn worst_residual_first(services: &[ResidualTraffic]) -> Vec<&ResidualTraffic> {
    let mut listed: Vec<_> = services.iter().collect();
    listed.sort_by(|a, b| {
        b.share
            .unwrap_or(f64::INFINITY)
            .total_cmp(&a.share.unwrap_or(f64::INFINITY))
            .then(a.service.cmp(&b.service))
    });
    listed
}

/// The services above `max_residual` (or not measured), described for people:
/// `billing 3.0% (270 req/s)`, `search (not measured: source down)`.
pub fn residual_over(max_residual: f64, services: &[ResidualTraffic]) -> Vec<String> {
    services
        .iter()
        .filter_map(|s| match (s.share, s.rps) {
            (Some(share), Some(rps)) if share > max_residual => Some(format!(
                "{} {:.1}% ({rps:.0} req/s)",
                s.service,
                share * 100.0
            )),
            (Some(_), Some(_)) => None,
            _ => Some(format!(
                "{} (not measured: {})",
                s.service,
                s.error.as_deref().unwrap_or("no data")
            )),
        })
        .collect()
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One line of a journal.
// `RunStarted` (the run header) is far larger than the other records; there is one per run and
// a run writes a few dozen records, so boxing it would buy nothing but churn at every use.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    /// Written before the first change: the run, its plan, and its baseline.
    RunStarted {
        /// RFC 3339 time.
        at: String,
        /// The run.
        run: RunHeader,
        /// The plan executed.
        plan: Box<Plan>,
        /// Live weights read at the start (every dial the plan may touch).
        baseline: Weights,
    },
    /// Check values measured before the first change (for ratio-to-baseline thresholds).
    ChecksBaseline {
        /// RFC 3339 time.
        at: String,
        /// Check name -> region (`""` when global) -> value.
        values: BTreeMap<String, BTreeMap<String, f64>>,
    },
    /// Written (fsynced) before a step group is applied: the complete desired weights of
    /// every dial it changes.
    StepIntent {
        /// RFC 3339 time.
        at: String,
        /// Index of the step group (wave, percent) in execution order.
        index: usize,
        /// Wave index.
        wave: usize,
        /// Cumulative percent.
        percent: u32,
        /// Services moved.
        services: Vec<String>,
        /// Desired weights of every dial changed.
        weights: Weights,
    },
    /// The step group's batches were applied and read back equal to the intent.
    StepApplied {
        /// RFC 3339 time.
        at: String,
        /// Step group index.
        index: usize,
        /// Provider calls made (apply + read + wait), for the report.
        api_calls: u32,
        /// Of `api_calls`, the attempts that repeated a failed call (throttling, transient
        /// errors). Absent in journals written before it was recorded.
        #[serde(default, skip_serializing_if = "is_zero")]
        retries: u32,
    },
    /// Checks after the bake of a step group.
    StepChecked {
        /// RFC 3339 time.
        at: String,
        /// Step group index.
        index: usize,
        /// Every evaluation.
        results: Vec<CheckResult>,
    },
    /// Written (fsynced) before the destination groups are raised (`prescale`), before the
    /// first step: every group raised, from its original desired capacity.
    PrescaleIntent {
        /// RFC 3339 time.
        at: String,
        /// The groups raised (`from` is what restore and rollback return to).
        groups: Vec<CapacityChange>,
    },
    /// Every pre-scaled group has enough instances in service.
    PrescaleDone {
        /// RFC 3339 time.
        at: String,
    },
    /// Written before groups raised by a pre-scale are returned to their original desired
    /// capacity (by a rollback, or by the restore after traffic is back).
    CapacityRestoreIntent {
        /// RFC 3339 time.
        at: String,
        /// `from`: the raised capacity; `to`: the original one.
        groups: Vec<CapacityChange>,
    },
    /// The groups of the last `CapacityRestoreIntent` are back at their original capacity.
    CapacityRestored {
        /// RFC 3339 time.
        at: String,
    },
    /// A human approved a gate.
    Approved {
        /// RFC 3339 time.
        at: String,
        /// The gate percent.
        percent: u32,
        /// `tty` or `--approve`.
        by: String,
    },
    /// The run aborted.
    Aborted {
        /// RFC 3339 time.
        at: String,
        /// Why.
        reason: String,
        /// What kind of cause; absent in journals written before kinds were recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<AbortKind>,
    },
    /// The run is paused (`on_abort: pause`).
    Paused {
        /// RFC 3339 time.
        at: String,
    },
    /// The run resumed after a pause or crash.
    Resumed {
        /// RFC 3339 time.
        at: String,
        /// Host name of the resuming process.
        host: String,
        /// Process id of the resuming process.
        pid: u32,
    },
    /// Written before a rollback batch group is applied: the baseline weights it restores.
    RollbackIntent {
        /// RFC 3339 time.
        at: String,
        /// Desired (baseline) weights.
        weights: Weights,
    },
    /// Rollback applied and read back equal to the baseline.
    RollbackDone {
        /// RFC 3339 time.
        at: String,
    },
    /// Rollback failed; what is left off baseline.
    RollbackFailed {
        /// RFC 3339 time.
        at: String,
        /// Why.
        reason: String,
        /// Dials not at baseline (as far as known).
        left: Vec<String>,
    },
    /// Traffic each moved service still serves in the evacuated region (hidden
    /// dependencies: clients that ignore DNS), measured after the last evacuation step and
    /// again at the end of a drill's hold. Changes nothing about the run's state.
    Residual {
        /// RFC 3339 time.
        at: String,
        /// When it was measured: `after evacuation` or `end of hold`.
        when: String,
        /// The evacuated region.
        region: String,
        /// Where the figures came from: `drain query`, `load_query` or `sim`.
        source: String,
        /// The playbook's `drain.max_residual` (default 1%), a fraction.
        max_residual: f64,
        /// Every service measured.
        services: Vec<ResidualTraffic>,
    },
    /// Something the report should say that is no step of the run: a drill's hold cut short
    /// by the end of its window, an announcement that could not be delivered. Changes no state.
    Note {
        /// RFC 3339 time.
        at: String,
        /// One line for people.
        text: String,
    },
    /// The run ended.
    RunFinished {
        /// RFC 3339 time.
        at: String,
        /// Final state.
        state: RunState,
    },
}

impl Record {
    /// When the record was written, RFC 3339.
    pub fn at(&self) -> &str {
        match self {
            Record::RunStarted { at, .. }
            | Record::ChecksBaseline { at, .. }
            | Record::StepIntent { at, .. }
            | Record::StepApplied { at, .. }
            | Record::StepChecked { at, .. }
            | Record::PrescaleIntent { at, .. }
            | Record::PrescaleDone { at }
            | Record::CapacityRestoreIntent { at, .. }
            | Record::CapacityRestored { at }
            | Record::Approved { at, .. }
            | Record::Aborted { at, .. }
            | Record::Paused { at }
            | Record::Resumed { at, .. }
            | Record::RollbackIntent { at, .. }
            | Record::RollbackDone { at }
            | Record::RollbackFailed { at, .. }
            | Record::Residual { at, .. }
            | Record::Note { at, .. }
            | Record::RunFinished { at, .. } => at,
        }
    }
}

impl Record {
    /// The first number of the record that JSON cannot hold (NaN or an infinity), named by
    /// its place, e.g. `checks_baseline.values[latency][us-west-2]`; `None` when every number
    /// is finite.
    ///
    /// serde_json writes such a number as `null`, which does not read back as an `f64`: a
    /// journal line holding one would turn into corruption the moment another record follows
    /// it. Checking the numbers costs nothing next to re-parsing the line.
    pub fn non_finite(&self) -> Option<String> {
        let bad = |value: f64| !value.is_finite();
        match self {
            Record::RunStarted { plan, .. } => plan_non_finite(plan),
            Record::ChecksBaseline { values, .. } => values.iter().find_map(|(check, regions)| {
                regions
                    .iter()
                    .find(|(_, v)| bad(**v))
                    .map(|(region, _)| format!("checks_baseline.values[{check}][{region}]"))
            }),
            Record::StepChecked { results, .. } => results
                .iter()
                .find(|r| r.value.is_some_and(bad))
                .map(|r| format!("step_checked.results[{}].value", r.name)),
            Record::Residual {
                max_residual,
                services,
                ..
            } => {
                if bad(*max_residual) {
                    return Some("residual.max_residual".to_string());
                }
                services.iter().find_map(|t| {
                    [("rps", t.rps), ("share", t.share)]
                        .into_iter()
                        .find(|(_, v)| v.is_some_and(bad))
                        .map(|(name, _)| format!("residual.services[{}].{name}", t.service))
                })
            }
            Record::StepIntent { .. }
            | Record::StepApplied { .. }
            | Record::PrescaleIntent { .. }
            | Record::PrescaleDone { .. }
            | Record::CapacityRestoreIntent { .. }
            | Record::CapacityRestored { .. }
            | Record::Approved { .. }
            | Record::Aborted { .. }
            | Record::Paused { .. }
            | Record::Resumed { .. }
            | Record::RollbackIntent { .. }
            | Record::RollbackDone { .. }
            | Record::RollbackFailed { .. }
            | Record::Note { .. }
            | Record::RunFinished { .. } => None,
        }
    }
}

/// The first non-finite number of a plan. Destructured field by field, so that a number
/// added to the plan later cannot be forgotten here.
fn plan_non_finite(plan: &Plan) -> Option<String> {
    let Plan {
        operation: _,
        region: _,
        topology: _,
        playbook: _,
        topology_hash: _,
        playbook_hash: _,
        waves: _,
        steps,
        final_shares,
        preflight,
        baseline: _,
        target: _,
        notes: _,
        figures,
    } = plan;
    let crate::plan::Figures {
        load,
        capacity,
        declared_load: _,
    } = figures;
    for (kind, figures) in [("load", load), ("capacity", capacity)] {
        for (service, regions) in figures {
            if let Some((region, _)) = regions.iter().find(|(_, f)| !f.value.is_finite()) {
                return Some(format!("plan.figures.{kind}[{service}][{region}]"));
            }
        }
    }
    for step in steps {
        let crate::plan::PlanStep {
            service,
            wave: _,
            percent,
            changes: _,
            shares,
        } = step;
        if let Some((region, _)) = shares.iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("plan.steps[{service} {percent}%].shares[{region}]"));
        }
    }
    for (service, shares) in final_shares {
        if let Some((region, _)) = shares.iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("plan.final_shares[{service}][{region}]"));
        }
    }
    for row in preflight {
        let crate::plan::PreflightRow {
            service,
            region,
            projected_load,
            capacity,
            utilization,
            max_utilization,
            ok: _,
            load_source: _,
            capacity_source: _,
        } = row;
        let fields = [
            ("projected_load", projected_load),
            ("capacity", capacity),
            ("utilization", utilization),
            ("max_utilization", max_utilization),
        ];
        if let Some((name, _)) = fields.iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("plan.preflight[{service} {region}].{name}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::RunState;

    #[test]
    fn a_run_state_key_is_its_journal_spelling() {
        for state in RunState::ALL {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::Value::from(state.key())
            );
        }
    }
}
