//! `resume` and `rollback` of a run from its journal, after a pause or a crash.
//!
//! Guarantees: nothing is written or applied before the journal and the live weights agree.
//! `resume` reconciles the last intent without a result dial by dial (live equal to the
//! intent: applied; equal to the weights before it: not applied; anything else: refused,
//! never guessed), checks every other touched dial still holds what the run left, then
//! journals `Resumed`, re-applies that group (idempotent) or re-checks the last applied group
//! whose checks did not pass, and continues exactly as `run`. A refused resume writes
//! nothing, so `kong rollback` remains possible. `rollback` restores the baseline of every
//! dial any intent named, whatever the run's state, unless the run is over, then returns
//! every group a `PrescaleIntent` raised to its original desired capacity. A run killed
//! before its pre-scale finished pre-scales again on `resume` (from the journaled original
//! capacity) before its first step.
//!
//! Assumptions: the caller holds the run lock (the run's own process is dead or gone).

use std::collections::{BTreeMap, BTreeSet};

use tracing::Instrument;

use crate::journal::{Record, RunJournal, RunLog, RunState, lock};
use crate::model::{Abort, AbortKind};
use crate::plan::{Plan, Weights};

use super::clock::Clock;
use super::engine::{Ctx, Entry, record_abort_kind};
use super::preflight::approval_possible;
use super::steps::{self, StepGroup};
use super::{Executor, Outcome, ProgressEvent, Sink, gates, now};

/// What the journal says about a run.
struct Journaled<'l> {
    plan: &'l Plan,
    baseline: &'l Weights,
    /// Dial -> the latest wave an intent named it in.
    touched: BTreeMap<String, usize>,
}

fn journaled(log: &RunLog) -> Option<Journaled<'_>> {
    let (plan, baseline) = match log.records.first() {
        Some(Record::RunStarted { plan, baseline, .. }) => (plan.as_ref(), baseline),
        _ => return None,
    };
    let mut touched: BTreeMap<String, usize> = BTreeMap::new();
    for record in &log.records {
        if let Record::StepIntent { wave, weights, .. } = record {
            for dial in weights.keys() {
                let w = touched.entry(dial.clone()).or_insert(*wave);
                *w = (*w).max(*wave);
            }
        }
    }
    Some(Journaled {
        plan,
        baseline,
        touched,
    })
}

impl<'l> Journaled<'l> {
    /// The executor state that continues the run of `log`: its plan, baseline, touched dials
    /// and pre-scaled groups; no check values, gate triggers or approvals yet.
    fn ctx<'r, 'a>(
        self,
        ex: &'r Executor<'a>,
        sink: &'r mut dyn Sink,
        log: &RunLog,
        groups: Vec<StepGroup>,
        clock: Clock,
    ) -> Ctx<'r, 'a>
    where
        'l: 'r,
    {
        Ctx {
            ex,
            sink,
            run_id: log.header.id.clone(),
            plan: self.plan,
            groups,
            baseline: self.baseline.clone(),
            check_values: BTreeMap::new(),
            touched: self.touched,
            triggers: Vec::new(),
            approved: BTreeSet::new(),
            clock,
            prescaled: log.prescaled(),
        }
    }
}

fn refused(abort: Abort) -> Outcome {
    Outcome::Refused { abort }
}

/// Refused: the run's state, its journal or its plan does not allow it.
fn invalid(reason: String) -> Outcome {
    refused(Abort::new(AbortKind::Invalid, reason))
}

impl Executor<'_> {
    /// Continues a paused or dead run from its journal (see the module docs).
    pub async fn resume(&self, log: &RunLog, journal: &mut RunJournal) -> Outcome {
        self.resume_with(log, journal).await
    }

    /// Returns a run that is not over to its baseline (see the module docs).
    pub async fn rollback(&self, log: &RunLog, journal: &mut RunJournal) -> Outcome {
        self.rollback_with(log, journal).await
    }

    pub(crate) async fn resume_with(&self, log: &RunLog, sink: &mut dyn Sink) -> Outcome {
        let span = run_span(log);
        let outcome = self.resume_inner(log, sink).instrument(span.clone()).await;
        record_abort_kind(&span, &outcome);
        self.finished(&outcome);
        outcome
    }

    pub(crate) async fn rollback_with(&self, log: &RunLog, sink: &mut dyn Sink) -> Outcome {
        let span = run_span(log);
        let outcome = self
            .rollback_inner(log, sink)
            .instrument(span.clone())
            .await;
        record_abort_kind(&span, &outcome);
        self.finished(&outcome);
        outcome
    }

    async fn resume_inner(&self, log: &RunLog, sink: &mut dyn Sink) -> Outcome {
        let id = &log.header.id;
        match log.state {
            RunState::Running | RunState::Paused => {}
            RunState::RollingBack | RunState::RollbackFailed => {
                return invalid(format!(
                    "run {id} is {}; finish it with `kong rollback {id}`",
                    log.state.describe()
                ));
            }
            state => {
                return invalid(format!(
                    "run {id} is {}; there is nothing to resume",
                    state.describe()
                ));
            }
        }
        if log.header.dry_run {
            return invalid(format!(
                "run {id} was a dry run; there is nothing to resume"
            ));
        }
        let Some(journal) = journaled(log) else {
            return invalid(format!("run {id} has no run_started record"));
        };
        let groups = match steps::groups(journal.plan) {
            Ok(groups) => groups,
            Err(e) => return invalid(format!("the journaled plan is inconsistent: {e}")),
        };
        let (start, entry, last) = match where_to_continue(log, &groups) {
            Ok(found) => found,
            Err(e) => return invalid(e),
        };

        let mut approved = log.approved();
        let triggers = gates::triggers(&self.playbook.approval.before_percent, &groups);
        // A gate before a journaled intent was passed: the intent is written after it.
        approved.extend(
            triggers
                .iter()
                .filter(|(i, _)| last.is_some_and(|l| *i <= l))
                .map(|(_, g)| *g),
        );
        let ahead = triggers
            .iter()
            .filter(|(_, g)| !approved.contains(g))
            .map(|(_, g)| *g);
        if let Err(e) = approval_possible(&self.options, ahead) {
            return refused(e);
        }

        if let Err(e) = self
            .reconcile(
                id,
                journal.plan,
                &groups,
                &journal.touched,
                start,
                entry,
                last,
            )
            .await
        {
            return refused(e);
        }

        // Killed between the run's start and its checks' baseline: that record comes before
        // anything else the run does, so nothing has changed and the values now are the
        // values before the run. Measure them, as the run would have, and journal them after
        // the resume.
        let (check_values, measured) = match log.checks_baseline() {
            Some(values) => (values.clone(), false),
            None => (
                super::checking::before_run(self, journal.plan).await.1,
                true,
            ),
        };
        let mut records = vec![Record::Resumed {
            at: now(),
            host: lock::this_host(),
            pid: std::process::id(),
        }];
        if measured {
            records.push(Record::ChecksBaseline {
                at: now(),
                values: check_values.clone(),
            });
        }
        for record in &records {
            if let Err(e) = sink.append(record).await {
                return refused(Abort::new(
                    AbortKind::Journal,
                    format!("could not write the journal: {e}"),
                ));
            }
        }
        tracing::info!(from = start, ?entry, "resuming");
        self.emit(ProgressEvent::Resumed {
            run: id.clone(),
            from: start,
        });
        let clock = Clock::new(
            self.interrupts.clone(),
            self.playbook.deadline,
            self.options.time_scale,
        );
        let mut ctx = journal.ctx(self, sink, log, groups, clock);
        ctx.check_values = check_values;
        ctx.triggers = triggers;
        ctx.approved = approved;
        // Killed or paused before the pre-scale finished (and so before the first step):
        // raise again and wait, from the journaled original capacity.
        let result = if log.last_intent().is_none() && !log.is_prescale_done() {
            match ctx.prescale().await {
                Ok(()) => ctx.forward(start, entry).await,
                Err(stop) => Err(stop),
            }
        } else {
            ctx.forward(start, entry).await
        };
        ctx.finish(result).await
    }

    /// Checks the live weights against the journal: every touched dial holds what the run
    /// left, except the dials of a group whose intent has no result, which hold either the
    /// intent or the weights before it.
    #[allow(clippy::too_many_arguments)]
    async fn reconcile(
        &self,
        id: &str,
        plan: &Plan,
        groups: &[StepGroup],
        touched: &BTreeMap<String, usize>,
        start: usize,
        entry: Entry,
        last: Option<usize>,
    ) -> Result<(), Abort> {
        let expected = steps::weights_after(&plan.baseline, groups, last);
        let pending = (entry == Entry::Reapply).then(|| &groups[start]);
        let dials: Vec<String> = touched.keys().cloned().collect();
        let calls = super::calls::Calls::default();
        let live = super::calls::read(self, &dials, &calls)
            .await
            .map_err(|e| e.context("cannot read live weights"))?;
        let mut applied = Vec::new();
        let mut not_applied = Vec::new();
        let mut foreign = Vec::new();
        for dial in &dials {
            let found = live.get(dial);
            match pending.filter(|g| g.after.contains_key(dial)) {
                Some(group) => {
                    if found == group.after.get(dial) {
                        applied.push(dial.clone());
                    } else if found == group.before.get(dial) {
                        not_applied.push(dial.clone());
                    } else {
                        foreign.push(format!(
                            "dial {dial} is at {}, which is neither the intent of step group {} ({}) nor its previous weights ({})",
                            show(found),
                            group.index,
                            show(group.after.get(dial)),
                            show(group.before.get(dial))
                        ));
                    }
                }
                None => {
                    if found != expected.get(dial) {
                        foreign.push(format!(
                            "dial {dial} is at {}, but the run left it at {}",
                            show(found),
                            show(expected.get(dial))
                        ));
                    }
                }
            }
        }
        if !foreign.is_empty() {
            return Err(Abort::new(
                AbortKind::Drift,
                format!(
                    "{}; something else moved it: run `kong rollback {id}`",
                    steps::first_few(&foreign, 3)
                ),
            ));
        }
        if let Some(group) = pending {
            tracing::info!(index = group.index, ?applied, ?not_applied, "reconciled");
            self.emit(ProgressEvent::Reconciled {
                index: group.index,
                applied,
                not_applied,
            });
        }
        Ok(())
    }

    async fn rollback_inner(&self, log: &RunLog, sink: &mut dyn Sink) -> Outcome {
        let id = &log.header.id;
        match log.state {
            RunState::Completed => {
                return invalid(format!(
                    "run {id} is already completed; to bring traffic back use `kong restore {}`",
                    log.header.region
                ));
            }
            RunState::RolledBack => {
                return invalid(format!(
                    "run {id} is already rolled back; traffic is at its baseline"
                ));
            }
            RunState::Refused => {
                return invalid(format!(
                    "run {id} changed nothing (refused or dry run); there is nothing to roll back"
                ));
            }
            RunState::Running
            | RunState::Paused
            | RunState::RollingBack
            | RunState::RollbackFailed => {}
        }
        let Some(journal) = journaled(log) else {
            return invalid(format!("run {id} has no run_started record"));
        };
        let touched: Vec<String> = journal.touched.keys().cloned().collect();
        if let Err(e) = sink
            .append(&Record::Resumed {
                at: now(),
                host: lock::this_host(),
                pid: std::process::id(),
            })
            .await
        {
            return Outcome::RollbackFailed {
                abort: Abort::new(
                    AbortKind::Journal,
                    format!("could not write the journal: {e}; nothing was rolled back"),
                ),
                left: touched,
            };
        }
        let groups = steps::groups(journal.plan).unwrap_or_default();
        let clock = Clock::new(self.interrupts.clone(), None, self.options.time_scale);
        let mut ctx = journal.ctx(self, sink, log, groups, clock);
        ctx.roll_back(Abort::new(
            AbortKind::Requested,
            format!("rollback of run {id} requested"),
        ))
        .await
    }
}

/// Where a resumed run continues: (group, how to enter it, the last group with an intent).
fn where_to_continue(
    log: &RunLog,
    groups: &[StepGroup],
) -> Result<(usize, Entry, Option<usize>), String> {
    let Some((last, weights)) = log.last_intent() else {
        return Ok((0, Entry::Fresh, None));
    };
    let Some(group) = groups.get(last) else {
        return Err(format!(
            "the journal names step group {last}, but the plan has {} groups",
            groups.len()
        ));
    };
    if *weights != group.after {
        return Err(format!(
            "the journaled intent of step group {last} differs from the plan's; run `kong rollback {}`",
            log.header.id
        ));
    }
    if !log.is_step_applied(last) {
        return Ok((last, Entry::Reapply, Some(last)));
    }
    let passed = log.records.iter().any(|r| {
        matches!(r, Record::StepChecked { index, results, .. }
            if *index == last && results.iter().all(|c| c.ok))
    });
    if passed {
        Ok((last + 1, Entry::Fresh, Some(last)))
    } else {
        Ok((last, Entry::ChecksOnly, Some(last)))
    }
}

fn run_span(log: &RunLog) -> tracing::Span {
    tracing::info_span!(
        "run",
        run = %log.header.id,
        operation = %log.header.operation,
        region = %log.header.region,
        abort.kind = tracing::field::Empty
    )
}

fn show(weights: Option<&BTreeMap<String, u32>>) -> String {
    match weights {
        None => "missing".to_string(),
        Some(w) => {
            let parts: Vec<String> = w.iter().map(|(m, v)| format!("{m}={v}")).collect();
            parts.join(" ")
        }
    }
}
