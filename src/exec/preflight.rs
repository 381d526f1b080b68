//! Pre-flight: everything checked before the first change, and what a refusal journals.
//!
//! Guarantees: reads only (live weights, check values); a refusal applies nothing and
//! journals `RunStarted` (the live weights if read, else empty), `Aborted{reason}` and
//! `RunFinished{Refused}`, best effort, after pre-flight finished.

use std::collections::BTreeSet;

use crate::journal::{Record, RunHeader, RunState};
use crate::model::{Abort, AbortKind};
use crate::plan::{Plan, Weights};

use super::steps::{self, StepGroup};
use super::{Executor, Outcome, ProgressEvent, Sink, calls, gates, now};

impl Executor<'_> {
    pub(crate) fn preflight_item(&self, item: &'static str, result: &Result<String, Abort>) {
        let (ok, detail) = match result {
            Ok(d) => (true, d.clone()),
            Err(d) => (false, d.message.clone()),
        };
        self.emit(ProgressEvent::Preflight { item, ok, detail });
    }

    /// Plan consistency, capacity, drift, approval. On refusal: the reason and the live
    /// weights if they were read (empty otherwise).
    pub(crate) async fn static_preflight(
        &self,
        plan: &Plan,
    ) -> Result<(Vec<StepGroup>, Weights), (Abort, Weights)> {
        let none = Weights::new();
        let groups = if plan.topology == self.topology.name {
            steps::groups(plan).map_err(|e| {
                Abort::new(AbortKind::Invalid, format!("the plan is inconsistent: {e}"))
            })
        } else {
            Err(Abort::new(
                AbortKind::Invalid,
                format!(
                    "the plan was made for topology {}, not {}",
                    plan.topology, self.topology.name
                ),
            ))
        };
        self.preflight_item(
            "plan",
            &groups
                .as_ref()
                .map(|g| format!("{} step groups", g.len()))
                .map_err(Abort::clone),
        );
        let groups = groups.map_err(|e| (e, none.clone()))?;

        let capacity = capacity(plan);
        self.preflight_item("capacity", &capacity);
        capacity.map_err(|e| (e, none.clone()))?;

        let dials: Vec<String> = plan.baseline.keys().cloned().collect();
        let calls = super::calls::Calls::default();
        let live = calls::read(self, &dials, &calls)
            .await
            .map(|live| steps::select(&live, &dials))
            .map_err(|e| (e.context("cannot read live weights"), none.clone()))?;
        let drift = steps::mismatches(&plan.baseline, &live)
            .iter()
            .map(|m| m.describe("the plan's baseline says"))
            .collect::<Vec<_>>();
        let drift = row(
            &drift,
            format!("{} dials at the plan's baseline", dials.len()),
            AbortKind::Drift,
            |few| format!("drift: {few}; plan again against the live weights"),
        );
        self.preflight_item("drift", &drift);
        drift.map_err(|e| (e, live.clone()))?;

        let triggers = gates::triggers(&self.playbook.approval.before_percent, &groups);
        let approval = approval_possible(&self.options, triggers.iter().map(|(_, g)| *g));
        self.preflight_item("approval", &approval);
        approval.map_err(|e| (e, live.clone()))?;
        Ok((groups, live))
    }
}

/// Whether the gates ahead can be passed: pre-approved, or a terminal to ask on.
pub(crate) fn approval_possible(
    options: &super::ExecOptions,
    gates: impl Iterator<Item = u32>,
) -> Result<String, Abort> {
    let gates: BTreeSet<u32> = gates.collect();
    match gates.first() {
        None => Ok("no approval gate is crossed".to_string()),
        Some(_) if options.approve => Ok("pre-approved with --approve".to_string()),
        Some(_) if options.interactive => Ok("will ask on the terminal".to_string()),
        Some(first) => Err(Abort::new(
            AbortKind::GateDenied,
            format!(
                "approval required before moving past {first}%: pass --approve or run on a terminal"
            ),
        )),
    }
}

/// Every pre-flight row within its limit, else the failing rows with their numbers.
fn capacity(plan: &Plan) -> Result<String, Abort> {
    let failing: Vec<String> = plan
        .preflight
        .iter()
        .filter(|row| !row.fits())
        .map(|row| {
            format!(
                "{} in {} would serve {:.0} req/s of a capacity of {:.0} (utilization {:.2} > max {:.2})",
                row.service,
                row.region,
                row.projected_load,
                row.capacity,
                row.utilization,
                row.max_utilization
            )
        })
        .collect();
    row(
        &failing,
        format!(
            "{} destination projections within capacity",
            plan.preflight.len()
        ),
        AbortKind::Capacity,
        |few| format!("capacity: {few}"),
    )
}

/// One pre-flight row: `passed` when nothing fails, else an abort of `kind` whose reason
/// names the first three failures.
pub(crate) fn row(
    failing: &[String],
    passed: String,
    kind: AbortKind,
    reason: impl FnOnce(String) -> String,
) -> Result<String, Abort> {
    if failing.is_empty() {
        Ok(passed)
    } else {
        Err(Abort::new(kind, reason(steps::first_few(failing, 3))))
    }
}

/// The first record of every run, refused or not: its header, plan and baseline.
pub(crate) fn run_started(header: RunHeader, plan: &Plan, baseline: Weights) -> Record {
    Record::RunStarted {
        at: now(),
        run: header,
        plan: Box::new(plan.clone()),
        baseline,
    }
}

/// A refusal after pre-flight: journals `RunStarted`, `Aborted` and `RunFinished{Refused}`
/// (best effort: nothing changed either way).
pub(crate) async fn refuse(
    sink: &mut dyn Sink,
    header: RunHeader,
    plan: &Plan,
    live: Weights,
    abort: Abort,
) -> Outcome {
    tracing::warn!(reason = %abort, kind = abort.kind.as_str(), "refused");
    let records = [
        run_started(header, plan, live),
        Record::Aborted {
            at: now(),
            reason: format!("refused: {abort}"),
            kind: Some(abort.kind),
        },
        Record::RunFinished {
            at: now(),
            state: RunState::Refused,
        },
    ];
    append_best_effort(sink, &records).await;
    Outcome::Refused { abort }
}

pub(crate) async fn append_best_effort(sink: &mut dyn Sink, records: &[Record]) {
    for record in records {
        if let Err(e) = sink.append(record).await {
            tracing::warn!(error = %e, "could not write the journal");
            return;
        }
    }
}
