//! The records of a run journal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Operation, Weights};
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
            | Record::Note { at, .. }
            | Record::RunFinished { at, .. } => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RunState;

    #[test]
    fn a_run_state_key_is_its_journal_spelling() {
        for state in [
            RunState::Running,
            RunState::Paused,
            RunState::RollingBack,
            RunState::Completed,
            RunState::RolledBack,
            RunState::RollbackFailed,
            RunState::Refused,
        ] {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::Value::from(state.key())
            );
        }
    }
}
