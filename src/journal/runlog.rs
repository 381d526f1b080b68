//! A journal read back: its records, the state they imply, and the questions recovery asks
//! of them (what was the baseline, which steps were applied, what was in flight).
//!
//! Nothing here reads live weights: an intent without its result says only that the step
//! *may* have been applied, and recovery must reconcile it against the backend.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::{Plan, Weights};

use super::{Record, RunHeader, RunState};

/// A journal read back: its records (a torn last line dropped) and the state they imply.
#[derive(Debug, Clone)]
pub struct RunLog {
    /// The header of the `RunStarted` record.
    pub header: RunHeader,
    /// Every record, in order.
    pub records: Vec<Record>,
    /// Where the run stands.
    pub state: RunState,
}

/// Where a run stands after `records`, replayed in order (the latest record that says
/// something about the state wins):
///
/// - `run_started`, `resumed` → Running; `paused` → Paused;
/// - `rollback_intent` → RollingBack; `rollback_done` (the whole rollback verified) →
///   RolledBack; `rollback_failed` → RollbackFailed;
/// - `run_finished { state }` → that state; records after it (a later `kong rollback` of a
///   failed rollback, say) still count;
/// - other records (intents, results, checks, approvals, `aborted`) change nothing.
///
/// Running or RollingBack with no live lock holder means the process died; the caller
/// decides that through the lock.
pub fn derive_state(records: &[Record]) -> RunState {
    records
        .iter()
        .fold(RunState::Running, |state, record| match record {
            Record::RunStarted { .. } | Record::Resumed { .. } => RunState::Running,
            Record::Paused { .. } => RunState::Paused,
            Record::RollbackIntent { .. } => RunState::RollingBack,
            Record::RollbackDone { .. } => RunState::RolledBack,
            Record::RollbackFailed { .. } => RunState::RollbackFailed,
            Record::RunFinished { state, .. } => *state,
            Record::ChecksBaseline { .. }
            | Record::StepIntent { .. }
            | Record::StepApplied { .. }
            | Record::StepChecked { .. }
            | Record::Approved { .. }
            | Record::Aborted { .. } => state,
        })
}

impl RunLog {
    /// Builds a log from records whose first is `RunStarted` (else `None`), deriving its state.
    pub fn from_records(records: Vec<Record>) -> Option<RunLog> {
        let header = match records.first() {
            Some(Record::RunStarted { run, .. }) => run.clone(),
            _ => return None,
        };
        let state = derive_state(&records);
        Some(RunLog {
            header,
            records,
            state,
        })
    }

    fn started(&self) -> (&Plan, &Weights) {
        match self.records.first() {
            Some(Record::RunStarted { plan, baseline, .. }) => (plan, baseline),
            // `read_run` and `from_records` only build logs that start with RunStarted.
            _ => panic!("a RunLog must start with a run_started record"),
        }
    }

    /// The plan executed.
    ///
    /// # Panics
    /// If `records` does not start with `RunStarted` (never for a log from `read_run`).
    pub fn plan(&self) -> &Plan {
        self.started().0
    }

    /// The weights read before the first change: what rollback restores.
    ///
    /// # Panics
    /// If `records` does not start with `RunStarted` (never for a log from `read_run`).
    pub fn baseline(&self) -> &Weights {
        self.started().1
    }

    /// The latest step intent: its step group index and desired weights.
    pub fn last_intent(&self) -> Option<(usize, &Weights)> {
        self.records.iter().rev().find_map(|r| match r {
            Record::StepIntent { index, weights, .. } => Some((*index, weights)),
            _ => None,
        })
    }

    /// The latest step intent if no `StepApplied` of its index follows it: a step that may
    /// or may not have reached the backend, to reconcile against live weights.
    pub fn pending_intent(&self) -> Option<(usize, &Weights)> {
        let position = self
            .records
            .iter()
            .rposition(|r| matches!(r, Record::StepIntent { .. }))?;
        let Record::StepIntent { index, weights, .. } = &self.records[position] else {
            return None;
        };
        let applied = self.records[position..]
            .iter()
            .any(|r| matches!(r, Record::StepApplied { index: i, .. } if i == index));
        (!applied).then_some((*index, weights))
    }

    /// Indices of the step groups applied and read back.
    pub fn applied_indices(&self) -> BTreeSet<usize> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::StepApplied { index, .. } => Some(*index),
                _ => None,
            })
            .collect()
    }

    /// Whether step group `index` was applied and read back.
    pub fn is_step_applied(&self, index: usize) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r, Record::StepApplied { index: i, .. } if *i == index))
    }

    /// Every dial named by a step intent (applied or not): what a rollback must restore.
    pub fn touched_dials(&self) -> BTreeSet<&str> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::StepIntent { weights, .. } => Some(weights.keys().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Check values measured before the first change (the latest, if measured again).
    pub fn checks_baseline(&self) -> Option<&BTreeMap<String, BTreeMap<String, f64>>> {
        self.records.iter().rev().find_map(|r| match r {
            Record::ChecksBaseline { values, .. } => Some(values),
            _ => None,
        })
    }

    /// Why the run aborted (the latest abort), if it did.
    pub fn aborted_reason(&self) -> Option<&str> {
        self.records.iter().rev().find_map(|r| match r {
            Record::Aborted { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// Provider calls made by every applied step group.
    pub fn api_calls_total(&self) -> u64 {
        self.records
            .iter()
            .map(|r| match r {
                Record::StepApplied { api_calls, .. } => u64::from(*api_calls),
                _ => 0,
            })
            .sum()
    }

    /// When the run last finished (`RunFinished`), RFC 3339.
    pub fn finished_at(&self) -> Option<&str> {
        self.records.iter().rev().find_map(|r| match r {
            Record::RunFinished { at, .. } => Some(at.as_str()),
            _ => None,
        })
    }
}
