//! A journal read back: its records, the state they imply, and the questions recovery asks
//! of them (what was the baseline, which steps were applied, what was in flight).
//!
//! Nothing here reads live weights: an intent without its result says only that the step
//! *may* have been applied, and recovery must reconcile it against the backend.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{AbortKind, Weights};
use crate::plan::Plan;

use super::{CapacityChange, Record, RunHeader, RunState};

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
    records.iter().fold(RunState::Running, next_state)
}

/// Where a run stands after `record`, from `state` (see [`derive_state`]).
pub fn next_state(state: RunState, record: &Record) -> RunState {
    match record {
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
        | Record::PrescaleIntent { .. }
        | Record::PrescaleDone { .. }
        | Record::CapacityRestoreIntent { .. }
        | Record::CapacityRestored { .. }
        | Record::Residual { .. }
        | Record::Aborted { .. }
        | Record::Note { .. } => state,
    }
}

/// A run as the history lists it: who ran what, and where it stands; its records are read
/// with `read_run` when needed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The header of the `RunStarted` record.
    pub header: RunHeader,
    /// Where the run stands.
    pub state: RunState,
}

impl From<&RunLog> for RunSummary {
    fn from(log: &RunLog) -> RunSummary {
        RunSummary {
            header: log.header.clone(),
            state: log.state,
        }
    }
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

    /// Every group a `PrescaleIntent` of the run raised, with its original capacity (`from`).
    pub fn prescaled(&self) -> Vec<CapacityChange> {
        let mut out: Vec<CapacityChange> = Vec::new();
        for record in &self.records {
            if let Record::PrescaleIntent { groups, .. } = record {
                for change in groups {
                    // A resumed run may journal the same group again: the first `from` is
                    // the original.
                    if !out
                        .iter()
                        .any(|c| c.region == change.region && c.group == change.group)
                    {
                        out.push(change.clone());
                    }
                }
            }
        }
        out
    }

    /// Whether the run's pre-scaled groups were seen with enough instances in service.
    pub fn is_prescale_done(&self) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r, Record::PrescaleDone { .. }))
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

    /// The approval gates passed, by percent.
    pub fn approved(&self) -> BTreeSet<u32> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Approved { percent, .. } => Some(*percent),
                _ => None,
            })
            .collect()
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

    /// The kind of every abort of the run, in order (`None`: a journal written before kinds
    /// were recorded).
    pub fn abort_kinds(&self) -> Vec<Option<AbortKind>> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Aborted { kind, .. } => Some(*kind),
                _ => None,
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::testing::{
        AT, applied, at, every_record, finished, intent, plan, rollback_intent, run_started,
        weights,
    };

    fn log(records: Vec<Record>) -> RunLog {
        RunLog::from_records(records).expect("starts with run_started")
    }

    fn state_after(tail: Vec<Record>) -> RunState {
        let mut records = vec![run_started("r1", AT)];
        records.extend(tail);
        log(records).state
    }

    #[test]
    fn a_run_that_only_started_is_running() {
        assert_eq!(state_after(vec![]), RunState::Running);
        assert_eq!(
            state_after(vec![intent(0), applied(0, 1)]),
            RunState::Running
        );
    }

    #[test]
    fn an_abort_alone_leaves_the_run_running_until_pause_or_rollback_is_recorded() {
        let aborted = Record::Aborted {
            at: at(),
            reason: "x".to_string(),
            kind: Some(AbortKind::Drift),
        };
        assert_eq!(state_after(vec![intent(0), aborted]), RunState::Running);
    }

    #[test]
    fn paused_until_resumed() {
        let paused = Record::Paused { at: at() };
        let resumed = Record::Resumed {
            at: at(),
            host: "h".to_string(),
            pid: 1,
        };
        assert_eq!(state_after(vec![paused.clone()]), RunState::Paused);
        assert_eq!(state_after(vec![paused, resumed]), RunState::Running);
    }

    #[test]
    fn rolling_back_until_done_or_failed() {
        assert_eq!(state_after(vec![rollback_intent()]), RunState::RollingBack);
        // A rollback of a paused run, intent written, result not yet.
        assert_eq!(
            state_after(vec![Record::Paused { at: at() }, rollback_intent()]),
            RunState::RollingBack
        );
        assert_eq!(
            state_after(vec![rollback_intent(), Record::RollbackDone { at: at() }]),
            RunState::RolledBack
        );
        let failed = Record::RollbackFailed {
            at: at(),
            reason: "x".to_string(),
            left: vec![],
        };
        assert_eq!(
            state_after(vec![rollback_intent(), failed.clone()]),
            RunState::RollbackFailed
        );
        // `kong rollback` retrying a failed rollback is rolling back again.
        assert_eq!(
            state_after(vec![
                failed,
                finished(RunState::RollbackFailed),
                rollback_intent()
            ]),
            RunState::RollingBack
        );
    }

    #[test]
    fn run_finished_states_are_taken_as_written() {
        for state in [
            RunState::Completed,
            RunState::RolledBack,
            RunState::RollbackFailed,
            RunState::Refused,
            RunState::Paused,
        ] {
            assert_eq!(
                state_after(vec![intent(0), applied(0, 1), finished(state)]),
                state
            );
        }
    }

    #[test]
    fn from_records_needs_run_started_first() {
        assert!(RunLog::from_records(vec![]).is_none());
        assert!(RunLog::from_records(vec![intent(0)]).is_none());
    }

    #[test]
    fn helpers_answer_what_recovery_asks() {
        let log = log(every_record("r1"));
        assert_eq!(log.plan(), &plan());
        assert_eq!(log.baseline(), &plan().baseline);
        assert_eq!(log.last_intent().map(|(i, _)| i), Some(0));
        assert_eq!(log.pending_intent(), None);
        assert_eq!(log.applied_indices(), BTreeSet::from([0]));
        assert!(log.is_step_applied(0));
        assert!(!log.is_step_applied(1));
        assert_eq!(log.touched_dials(), BTreeSet::from(["edge-api/dns"]));
        assert_eq!(
            log.checks_baseline().unwrap()["latency"]["us-west-2"],
            123.5
        );
        assert_eq!(
            log.aborted_reason(),
            Some("check `latency` failed in us-west-2")
        );
        assert_eq!(log.abort_kinds(), vec![Some(AbortKind::CheckFailed)]);
        assert_eq!(log.api_calls_total(), 3);
        assert_eq!(log.finished_at(), Some(AT));
        assert!(log.records.iter().all(|r| r.at() == AT));
    }

    #[test]
    fn an_intent_without_its_result_is_pending() {
        let log = log(vec![
            run_started("r1", AT),
            intent(0),
            applied(0, 2),
            intent(1),
        ]);
        let expected = weights("edge-api/dns", &[("use1", 0), ("usw2", 100)]);
        assert_eq!(log.pending_intent(), Some((1, &expected)));
        assert_eq!(log.last_intent(), Some((1, &expected)));
        assert_eq!(log.applied_indices(), BTreeSet::from([0]));
        assert_eq!(log.api_calls_total(), 2);
        assert_eq!(log.checks_baseline(), None);
        assert_eq!(log.aborted_reason(), None);
        assert!(log.abort_kinds().is_empty());
        assert_eq!(log.finished_at(), None);
    }

    #[test]
    fn an_abort_record_written_before_kinds_still_reads_without_one() {
        let old =
            r#"{"event":"aborted","at":"2026-01-01T00:00:00Z","reason":"interrupted (Ctrl-C)"}"#;
        let record: Record = serde_json::from_str(old).expect("an old abort record parses");
        assert_eq!(
            record,
            Record::Aborted {
                at: "2026-01-01T00:00:00Z".to_string(),
                reason: "interrupted (Ctrl-C)".to_string(),
                kind: None,
            }
        );
        let log = log(vec![run_started("r1", AT), record]);
        assert_eq!(log.abort_kinds(), vec![None]);
        assert_eq!(log.aborted_reason(), Some("interrupted (Ctrl-C)"));
    }

    #[test]
    fn an_abort_record_carries_its_kind_in_snake_case() {
        let record = Record::Aborted {
            at: AT.to_string(),
            reason: "deadline of 2m passed".to_string(),
            kind: Some(AbortKind::Deadline),
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""kind":"deadline""#), "{json}");
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
    }
}
