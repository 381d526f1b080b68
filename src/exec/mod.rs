//! The executor: applies a [`Plan`] step group by step group through a
//! [`TrafficBackend`], journaling every intent before acting, verifying what the provider
//! really holds, baking, checking the steady-state hypothesis, and rolling back.
//!
//! It never touches files except through [`Journal::append`], never plans (the plan is a
//! value decided before), and never parses command-line input: the CLI builds an
//! [`Executor`], owns the lock and its lease, and maps the [`Outcome`] to an exit code.
//!
//! # Step groups
//! A plan's steps are grouped by (wave, percent), in plan order: the services of a wave move
//! together. A group's desired weights are, for every dial it changes, the dial's complete
//! weights after the group (its baseline with every earlier change applied): re-applying a
//! group is harmless.
//!
//! # Guarantees
//! - **Nothing changes before pre-flight passed**: capacity ([`Plan::preflight_ok`]), plan
//!   consistency, live weights equal to the plan's baseline (drift), approval gates reachable
//!   (`--approve` or a terminal), and the steady state holding before the run. A refusal
//!   returns [`Outcome::Refused`] (exit 3) having applied nothing.
//! - **Journal first**: `RunStarted` (run, plan, baseline) is appended before the first change,
//!   each `StepIntent` before its group is applied, each `RollbackIntent` before the rollback
//!   applies anything. A journal write failure stops the run where it is: nothing is applied
//!   that could not be journaled (not even a rollback), and the outcome says so (exit 5 when
//!   changes exist, 3 when none).
//! - **A refused run's journal** holds `RunStarted` (with the live weights read, empty when
//!   they could not be read), `Aborted{reason}` and `RunFinished{Refused}`, all written after
//!   pre-flight finished; a dry run holds `RunStarted`, `ChecksBaseline` and
//!   `RunFinished{Refused}`. A process killed during pre-flight leaves an empty journal and no
//!   change.
//! - **Verified steps**: before a group, its dials are read and must equal the weights the
//!   plan expects before it; after applying, they are read back and must equal the intent.
//!   Either mismatch aborts (something else moved a dial).
//! - **Rollback is exact**: for any plan and any abort point, rollback sets every dial named by
//!   any `StepIntent` of the run (applied or not: an intent without a result may have been
//!   partly applied) to its weights in `RunStarted.baseline`, last wave first, and reads them
//!   back. A second Ctrl-C during a rollback only reports progress.
//! - **Pre-scaling** (playbook `prescale`, evacuations only): after `RunStarted` and before
//!   the first weight change, every destination group bound by a moved service is raised
//!   to what its projected load needs (`ceil(load / (per_instance x max_utilization))`,
//!   never lowered, at most its max size), the changes journaled (`PrescaleIntent`) before
//!   any is made; then kong waits (polling, tokio's clock, up to the prescale timeout) until
//!   enough instances are in service (`PrescaleDone`). Any failure aborts like a step's.
//!   Rollback (once every dial is back) and the restore of the evacuation (once traffic is
//!   back) return each raised group to its original desired capacity, never raising one.
//! - **Recovery never guesses**: `resume` reconciles an intent without a result dial by dial
//!   against live weights (the intent, or the weights before it); anything else is refused.
//!
//! # Assumptions
//! - [`TrafficBackend::apply`] sets absolute weights and is idempotent; `read` returns what the
//!   provider holds; neither retries beyond its SDK (the executor owns the retry policy:
//!   `retry_attempts` calls in all, exponential back-off with jitter, transient errors only).
//! - The caller holds the run lock for the whole call, and feeds `interrupts` with the number
//!   of Ctrl-C presses so far.
//! - Time is tokio's clock, so tests pause it; `time_scale` divides propagation, bake and
//!   check-interval waits (the CLI allows it above 1 only on the simulator). The deadline is
//!   real (unscaled) time since this process started the run or resumed it.

mod calls;
mod checking;
mod clock;
mod engine;
mod gates;
mod outcome;
mod preflight;
mod prescale;
mod recover;
mod rollback;
mod steps;

#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;

use crate::backend::TrafficBackend;
use crate::backend::scaling::ScalingBackend;
use crate::checks::MetricSource;
use crate::journal::{CapacityChange, CheckResult, Journal, Record};
use crate::model::{Playbook, Topology};
use crate::retry::RetryPolicy;

#[cfg(doc)]
use crate::plan::Plan;

pub use outcome::Outcome;
pub use steps::first_few;

/// How a run is executed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    /// At least 1; divides propagation, bake, hold and check-interval waits.
    pub time_scale: f64,
    /// Run pre-flight and every check, change nothing.
    pub dry_run: bool,
    /// `--approve`: every approval gate is pre-approved.
    pub approve: bool,
    /// Stdin is a terminal: approval gates may ask the operator.
    pub interactive: bool,
    /// Provider calls per operation in all, the first one included (at least 1).
    pub retry_attempts: usize,
    /// First back-off delay between attempts.
    pub retry_min_delay: Duration,
    /// Largest back-off delay between attempts.
    pub retry_max_delay: Duration,
}

impl ExecOptions {
    /// The retry policy of one provider call: `retry_attempts` calls in all, exponential
    /// back-off from `retry_min_delay` to `retry_max_delay`, with jitter.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.retry_attempts,
            min_delay: self.retry_min_delay,
            max_delay: self.retry_max_delay,
        }
    }
}

impl Default for ExecOptions {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        ExecOptions {
            time_scale: 1.0,
            dry_run: false,
            approve: false,
            interactive: false,
            retry_attempts: retry.attempts,
            retry_min_delay: retry.min_delay,
            retry_max_delay: retry.max_delay,
        }
    }
}

/// Asks the operator a yes/no question (a TTY `y/N` in the CLI, scripted in tests).
#[async_trait]
pub trait Prompter: Send + Sync {
    /// `true` only on an explicit yes.
    async fn confirm(&self, question: &str) -> bool;
}

/// Receives progress events (the CLI renders them; tests collect them).
pub trait Progress: Send + Sync {
    /// Called for every event, in order.
    fn event(&self, event: &ProgressEvent);
}

/// What the executor is doing, for people watching.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// One pre-flight item: `plan`, `capacity`, `drift`, `approval`, `steady state`.
    Preflight {
        /// Which item.
        item: &'static str,
        /// Whether it passed.
        ok: bool,
        /// What was found.
        detail: String,
    },
    /// `RunStarted` is journaled; changes follow.
    Started {
        /// The run id.
        run: String,
        /// Step groups to apply.
        groups: usize,
    },
    /// A resumed run continues at group `from`.
    Resumed {
        /// The run id.
        run: String,
        /// First group (re-)applied or re-checked.
        from: usize,
    },
    /// An intent without a result was reconciled against live weights.
    Reconciled {
        /// The step group.
        index: usize,
        /// Dials found at the intent.
        applied: Vec<String>,
        /// Dials found at their previous weights.
        not_applied: Vec<String>,
    },
    /// Auto Scaling groups' desired capacity is being set: raised before the first step
    /// (`prescale`), or returned to the original (`restore`).
    Scaling {
        /// `prescale` or `restore`.
        purpose: &'static str,
        /// Every group changed.
        groups: Vec<CapacityChange>,
    },
    /// Waiting for pre-scaled groups to have enough instances in service.
    WaitingInService {
        /// `group in region: N of M in service`, for each group still short.
        short: Vec<String>,
    },
    /// Every pre-scaled group has enough instances in service.
    Prescaled {
        /// Groups checked.
        groups: usize,
    },
    /// Groups raised by a pre-scale are back at their original desired capacity.
    CapacityRestored {
        /// Groups lowered.
        groups: usize,
    },
    /// A step group begins.
    StepStarted {
        /// Group index (0-based).
        index: usize,
        /// Number of groups.
        total: usize,
        /// Wave index.
        wave: usize,
        /// Cumulative percent.
        percent: u32,
        /// Services moved.
        services: Vec<String>,
    },
    /// The operator is asked to approve a gate.
    ApprovalRequested {
        /// The gate percent.
        percent: u32,
    },
    /// A gate was approved.
    Approved {
        /// The gate percent.
        percent: u32,
        /// `tty` or `--approve`.
        by: String,
    },
    /// A provider call failed transiently and is retried.
    Retrying {
        /// What was called.
        operation: String,
        /// The error.
        error: String,
        /// Back-off before the next attempt.
        delay: Duration,
    },
    /// A step group was applied and read back equal to its intent.
    Applied {
        /// Group index.
        index: usize,
        /// Provider batches applied.
        batches: usize,
        /// Provider calls made (drift read, applies, waits, read-back; retries included).
        api_calls: u32,
    },
    /// A wait begins.
    Waiting {
        /// `propagation`, `bake`, `interval` (between consecutive checks) or `hold`.
        what: &'static str,
        /// How long (scaled).
        duration: Duration,
    },
    /// A check was evaluated.
    Check(CheckResult),
    /// A step group passed its checks.
    StepDone {
        /// Group index.
        index: usize,
    },
    /// The run aborts.
    Aborted {
        /// Why.
        reason: String,
    },
    /// Rollback begins.
    RollbackStarted {
        /// Dials to restore.
        dials: usize,
    },
    /// Rollback progress (also emitted on every Ctrl-C during a rollback).
    RollbackProgress {
        /// Dials restored so far.
        done: usize,
        /// Dials to restore.
        total: usize,
    },
    /// Every touched dial is back at baseline.
    RollbackDone,
    /// The run is paused.
    Paused {
        /// Why.
        reason: String,
    },
    /// The call returns.
    Finished {
        /// One line, e.g. `completed` or `rolled back: ...`.
        summary: String,
    },
}

/// Applies plans, resumes and rolls back runs. Borrowed pieces are owned by the CLI.
pub struct Executor<'a> {
    /// The validated topology.
    pub topology: &'a Topology,
    /// The validated playbook.
    pub playbook: &'a Playbook,
    /// Where dials are read and written.
    pub backend: &'a dyn TrafficBackend,
    /// Where Auto Scaling groups are read and scaled (`prescale`, restore, rollback);
    /// `None` when the topology binds none.
    pub scaling: Option<&'a dyn ScalingBackend>,
    /// A restore only: the groups the evacuation being undone pre-scaled, with their
    /// original desired capacity (`from`), returned to it once traffic is back.
    pub restore_capacity: &'a [CapacityChange],
    /// Where check values come from.
    pub source: &'a dyn MetricSource,
    /// Receives progress events.
    pub progress: &'a dyn Progress,
    /// Asks the operator at approval gates.
    pub prompter: &'a dyn Prompter,
    /// How to run.
    pub options: ExecOptions,
    /// Number of Ctrl-C presses so far (the CLI feeds it); an increase aborts a run.
    pub interrupts: tokio::sync::watch::Receiver<u32>,
}

/// Where the executor appends records: the run's [`Journal`], or a test double.
pub(crate) trait Sink: Send + Sync {
    /// Appends one record durably, or says why it could not.
    fn append(&mut self, record: &Record) -> Result<(), String>;

    /// Appends a record reporting something already done (`StepApplied`, `StepChecked`);
    /// it may become durable only with the next [`Sink::append`] (see
    /// [`Journal::append_result`]).
    fn append_result(&mut self, record: &Record) -> Result<(), String> {
        self.append(record)
    }
}

impl Sink for Journal {
    fn append(&mut self, record: &Record) -> Result<(), String> {
        Journal::append(self, record).map_err(|e| e.to_string())
    }

    fn append_result(&mut self, record: &Record) -> Result<(), String> {
        Journal::append_result(self, record).map_err(|e| e.to_string())
    }
}

/// An RFC 3339 timestamp for a record.
pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}
