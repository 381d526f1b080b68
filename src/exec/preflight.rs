//! Pre-flight: everything checked before the first change, and what a refusal journals.
//!
//! Guarantees: reads only (live weights, check values); a refusal applies nothing and
//! journals `RunStarted` (the live weights if read, else empty), `Aborted{reason}` and
//! `RunFinished{Refused}`, best effort, after pre-flight finished.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU32;

use crate::journal::{Record, RunHeader, RunState};
use crate::plan::{Plan, Weights};

use super::steps::{self, StepGroup};
use super::{Executor, Outcome, ProgressEvent, Sink, calls, gates, now};

impl Executor<'_> {
    pub(crate) fn preflight_item(&self, item: &'static str, result: &Result<String, String>) {
        let (ok, detail) = match result {
            Ok(d) => (true, d.clone()),
            Err(d) => (false, d.clone()),
        };
        self.emit(ProgressEvent::Preflight { item, ok, detail });
    }

    /// Plan consistency, capacity, drift, approval. On refusal: the reason and the live
    /// weights if they were read (empty otherwise).
    pub(crate) async fn static_preflight(
        &self,
        plan: &Plan,
    ) -> Result<(Vec<StepGroup>, Weights), (String, Weights)> {
        let none = Weights::new();
        let groups = if plan.topology == self.topology.name {
            steps::groups(plan).map_err(|e| format!("the plan is inconsistent: {e}"))
        } else {
            Err(format!(
                "the plan was made for topology {}, not {}",
                plan.topology, self.topology.name
            ))
        };
        self.preflight_item(
            "plan",
            &groups
                .as_ref()
                .map(|g| format!("{} step groups", g.len()))
                .map_err(String::clone),
        );
        let groups = groups.map_err(|e| (e, none.clone()))?;

        let capacity = capacity(plan);
        self.preflight_item("capacity", &capacity);
        capacity.map_err(|e| (e, none.clone()))?;

        let dials: Vec<String> = plan.baseline.keys().cloned().collect();
        let calls = AtomicU32::new(0);
        let live = calls::read(self, &dials, &calls)
            .await
            .map(|live| steps::select(&live, &dials))
            .map_err(|e| (format!("cannot read live weights: {e}"), none.clone()))?;
        let drift = steps::mismatches(&plan.baseline, &live)
            .iter()
            .map(|m| m.describe("the plan's baseline says"))
            .collect::<Vec<_>>();
        let drift = if drift.is_empty() {
            Ok(format!("{} dials at the plan's baseline", dials.len()))
        } else {
            Err(format!(
                "drift: {}; plan again against the live weights",
                steps::first_few(&drift, 3)
            ))
        };
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
) -> Result<String, String> {
    let gates: BTreeSet<u32> = gates.collect();
    match gates.first() {
        None => Ok("no approval gate is crossed".to_string()),
        Some(_) if options.approve => Ok("pre-approved with --approve".to_string()),
        Some(_) if options.interactive => Ok("will ask on the terminal".to_string()),
        Some(first) => Err(format!(
            "approval required before moving past {first}%: pass --approve or run on a terminal"
        )),
    }
}

/// Every pre-flight row within its limit, else the failing rows with their numbers.
fn capacity(plan: &Plan) -> Result<String, String> {
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
    if failing.is_empty() {
        Ok(format!(
            "{} destination projections within capacity",
            plan.preflight.len()
        ))
    } else {
        Err(format!("capacity: {}", steps::first_few(&failing, 3)))
    }
}

/// A refusal after pre-flight: journals `RunStarted`, `Aborted` and `RunFinished{Refused}`
/// (best effort: nothing changed either way).
pub(crate) fn refuse(
    sink: &mut dyn Sink,
    header: RunHeader,
    plan: &Plan,
    live: Weights,
    reason: String,
) -> Outcome {
    tracing::warn!(%reason, "refused");
    let records = [
        Record::RunStarted {
            at: now(),
            run: header,
            plan: Box::new(plan.clone()),
            baseline: live,
        },
        Record::Aborted {
            at: now(),
            reason: format!("refused: {reason}"),
        },
        Record::RunFinished {
            at: now(),
            state: RunState::Refused,
        },
    ];
    append_best_effort(sink, &records);
    Outcome::Refused { reason }
}

pub(crate) fn append_best_effort(sink: &mut dyn Sink, records: &[Record]) {
    for record in records {
        if let Err(e) = sink.append(record) {
            tracing::warn!(error = %e, "could not write the journal");
            return;
        }
    }
}
