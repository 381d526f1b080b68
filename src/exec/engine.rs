//! `run`: pre-flight, then step groups forward; and the abort handling shared with `resume`.
//!
//! Each step group (Guarantees): its dials are read and must equal the weights expected
//! before it (drift); its approval gate is passed; the deadline has not passed; its intent is
//! journaled; its batches are applied concurrently and waited on; its dials are read back
//! and must equal the intent; `StepApplied` is journaled; propagation and bake are waited
//! (Ctrl-C and the deadline cut them short); the checks are evaluated and journaled. Any
//! failure aborts. Safe to stop at any await: the journal says what may have been applied.

use std::collections::{BTreeMap, BTreeSet};

use tracing::Instrument;

use crate::backend;
use crate::journal::{CapacityChange, Record, RunHeader, RunState};
use crate::model::{Abort, AbortKind, OnAbort};
use crate::plan::Operation;
use crate::plan::{Plan, Weights};

use super::checking::{self, CheckValues};
use super::clock::Clock;
use super::preflight::{self, append_best_effort, refuse};
use super::steps::{self, StepGroup};
use super::{Executor, Outcome, ProgressEvent, Sink, calls, gates, now};

/// Why the forward loop stopped early.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stop {
    /// Abort the run (the reason and its kind are journaled, then on_abort applies).
    Abort(Abort),
    /// The journal could not be written: act no further.
    Journal(String),
}

/// How the first group of a forward pass is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Drift check, gate, deadline, intent, apply, settle.
    Fresh,
    /// The intent is journaled and reconciled already: apply, settle.
    Reapply,
    /// Applied already; its checks did not pass: settle again.
    ChecksOnly,
}

/// One executor call's state: what the run touched, approved and measured.
pub(crate) struct Ctx<'r, 'a> {
    pub ex: &'r Executor<'a>,
    pub sink: &'r mut dyn Sink,
    pub run_id: String,
    pub plan: &'r Plan,
    pub groups: Vec<StepGroup>,
    /// `RunStarted.baseline`: what rollback restores.
    pub baseline: Weights,
    pub check_values: CheckValues,
    /// Every dial named by an intent of the run -> the latest wave that named it.
    pub touched: BTreeMap<String, usize>,
    pub triggers: Vec<(usize, u32)>,
    pub approved: BTreeSet<u32>,
    pub clock: Clock,
    /// Groups a `PrescaleIntent` of the run raised, with their original capacity.
    pub prescaled: Vec<CapacityChange>,
}

impl Executor<'_> {
    /// Executes `plan` as run `header`, journaling to `journal` (see the module docs).
    pub async fn run(
        &self,
        plan: &Plan,
        header: RunHeader,
        journal: &mut crate::journal::RunJournal,
    ) -> Outcome {
        self.run_with(plan, header, journal).await
    }

    pub(crate) async fn run_with(
        &self,
        plan: &Plan,
        header: RunHeader,
        sink: &mut dyn Sink,
    ) -> Outcome {
        let span = tracing::info_span!(
            "run",
            run = %header.id,
            operation = %plan.operation,
            region = %plan.region,
            abort.kind = tracing::field::Empty
        );
        let outcome = self
            .run_inner(plan, header, sink)
            .instrument(span.clone())
            .await;
        record_abort_kind(&span, &outcome);
        self.finished(&outcome);
        outcome
    }

    /// Drills: waits the playbook's `hold` (scaled), unless Ctrl-C or the deadline cuts it
    /// short (the reason is returned). Changes nothing, journals nothing.
    pub async fn hold(&self) -> Result<(), Abort> {
        let clock = Clock::new(
            self.interrupts.clone(),
            self.playbook.deadline,
            self.options.time_scale,
        );
        let duration = clock.scaled(self.playbook.hold);
        self.emit(ProgressEvent::Waiting {
            what: "hold",
            duration,
        });
        clock.sleep(duration).await
    }

    pub(crate) fn emit(&self, event: ProgressEvent) {
        self.progress.event(&event);
    }

    pub(crate) fn finished(&self, outcome: &Outcome) {
        tracing::info!(outcome = %outcome.summary(), "finished");
        self.emit(ProgressEvent::Finished {
            summary: outcome.summary(),
        });
    }

    async fn run_inner(&self, plan: &Plan, header: RunHeader, sink: &mut dyn Sink) -> Outcome {
        let clock = Clock::new(
            self.interrupts.clone(),
            self.playbook.deadline,
            self.options.time_scale,
        );
        let (groups, live) = match self.static_preflight(plan).await {
            Ok(found) => found,
            Err((abort, live)) => return refuse(sink, header, plan, live, abort).await,
        };
        let (results, values) = checking::before_run(self, plan).await;
        let failing: Vec<String> = results
            .iter()
            .filter(|r| !r.ok)
            .map(checking::describe_failure)
            .collect();
        let steady = preflight::row(
            &failing,
            format!("{} check evaluations pass", results.len()),
            AbortKind::CheckFailed,
            |few| format!("steady state does not hold before the run: {few}"),
        );
        self.preflight_item("steady state", &steady);
        if self.options.dry_run {
            let records = [
                preflight::run_started(header, plan, live),
                Record::ChecksBaseline { at: now(), values },
                Record::RunFinished {
                    at: now(),
                    state: RunState::Refused,
                },
            ];
            append_best_effort(sink, &records).await;
            return Outcome::DryRun { results };
        }
        if let Err(abort) = steady {
            return refuse(sink, header, plan, live, abort).await;
        }
        if let Err(e) = clock.check() {
            return refuse(sink, header, plan, live, e).await;
        }

        // Before the first change: the run, its plan and its baseline, durably.
        let run_id = header.id.clone();
        let started = preflight::run_started(header, plan, live.clone());
        let journaled = match sink.append(&started).await {
            Ok(()) => {
                sink.append(&Record::ChecksBaseline {
                    at: now(),
                    values: values.clone(),
                })
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = journaled {
            return Outcome::Refused {
                abort: Abort::new(
                    AbortKind::Journal,
                    format!("could not write the journal: {e}"),
                ),
            };
        }
        self.emit(ProgressEvent::Started {
            run: run_id.clone(),
            groups: groups.len(),
        });
        let triggers = gates::triggers(&self.playbook.approval.before_percent, &groups);
        let mut ctx = Ctx {
            ex: self,
            sink,
            run_id,
            plan,
            groups,
            baseline: live,
            check_values: values,
            touched: BTreeMap::new(),
            triggers,
            approved: BTreeSet::new(),
            clock,
            prescaled: Vec::new(),
        };
        let result = match ctx.prescale().await {
            Ok(()) => ctx.forward(0, Entry::Fresh).await,
            Err(stop) => Err(stop),
        };
        ctx.finish(result).await
    }
}

impl Ctx<'_, '_> {
    pub fn emit(&self, event: ProgressEvent) {
        self.ex.emit(event);
    }

    /// Appends a record; a failure stops the run where it is.
    pub async fn journal(&mut self, record: Record) -> Result<(), Stop> {
        self.sink
            .append(&record)
            .await
            .map_err(|e| Stop::Journal(format!("could not write the journal: {e}")))
    }

    /// Appends a result record (no fsync of its own: the next intent's makes it durable).
    pub async fn journal_result(&mut self, record: Record) -> Result<(), Stop> {
        self.sink
            .append_result(&record)
            .await
            .map_err(|e| Stop::Journal(format!("could not write the journal: {e}")))
    }

    /// Applies groups `start..` (the first entered as `entry`).
    pub async fn forward(&mut self, start: usize, entry: Entry) -> Result<(), Stop> {
        let mut wave: Option<(usize, tracing::Span)> = None;
        for index in start..self.groups.len() {
            let group_wave = self.groups[index].wave;
            if wave.as_ref().map(|(w, _)| *w) != Some(group_wave) {
                let span = tracing::info_span!("wave", run = %self.run_id, wave = group_wave);
                wave = Some((group_wave, span));
            }
            let parent = wave.as_ref().map(|(_, span)| span.clone());
            let span = tracing::info_span!(
                parent: parent.and_then(|s| s.id()),
                "step",
                run = %self.run_id,
                index,
                percent = self.groups[index].percent
            );
            let entry = if index == start { entry } else { Entry::Fresh };
            self.step(index, entry).instrument(span).await?;
        }
        if self.plan.operation == Operation::Evacuate {
            self.drained().await?;
        }
        Ok(())
    }

    /// After the last evacuation step: the traffic each service still serves in the region
    /// is measured and journaled; above the playbook's `drain.max_residual` it is a finding,
    /// and aborts the run when `drain.fail` is set.
    async fn drained(&mut self) -> Result<(), Stop> {
        let Some(record) = self.ex.residual(self.plan, "after evacuation").await else {
            return Ok(());
        };
        let Record::Residual {
            services,
            max_residual,
            ..
        } = &record
        else {
            return Ok(());
        };
        let over = crate::journal::residual_over(*max_residual, services);
        self.emit(ProgressEvent::Residual {
            when: "after evacuation".to_string(),
            region: self.plan.region.to_string(),
            measured: services.len(),
            max_residual: *max_residual,
            over: over.clone(),
        });
        let max = *max_residual;
        self.journal_result(record).await?;
        if self.ex.playbook.drain.fail && !over.is_empty() {
            return Err(Stop::Abort(Abort::new(
                AbortKind::CheckFailed,
                format!(
                    "residual traffic in {} above {:.1}% after the evacuation (drain.fail): {}",
                    self.plan.region,
                    max * 100.0,
                    steps::first_few(&over, 5)
                ),
            )));
        }
        Ok(())
    }

    /// One step group, in order: drift check ([`Self::expect_before`]), approval gates
    /// ([`Self::gate`]), `StepIntent` journaled, batches applied and read back
    /// ([`Self::apply`]), waits and checks ([`Self::settle`]). A resumed step enters part way
    /// (`entry`).
    async fn step(&mut self, index: usize, entry: Entry) -> Result<(), Stop> {
        let group = self.groups[index].clone();
        self.emit(ProgressEvent::StepStarted {
            index,
            total: self.groups.len(),
            wave: group.wave,
            percent: group.percent,
            services: group.services.clone(),
        });
        let calls = super::calls::Calls::default();
        if entry == Entry::Fresh {
            self.clock.check().map_err(Stop::Abort)?;
            self.expect_before(&group, &calls).await?;
            self.gate(index).await?;
            self.clock.check().map_err(Stop::Abort)?;
            self.journal(Record::StepIntent {
                at: now(),
                index,
                wave: group.wave,
                percent: group.percent,
                services: group.services.clone(),
                weights: group.after.clone(),
            })
            .await?;
            self.touch(&group);
        }
        if entry != Entry::ChecksOnly {
            self.apply(&group, &calls).await?;
        }
        self.settle(&group).await
    }

    pub fn touch(&mut self, group: &StepGroup) {
        for dial in group.after.keys() {
            let wave = self.touched.entry(dial.clone()).or_insert(group.wave);
            *wave = (*wave).max(group.wave);
        }
    }

    /// Step, first: the group's dials hold what the plan expects before it (drift).
    async fn expect_before(
        &self,
        group: &StepGroup,
        calls: &super::calls::Calls,
    ) -> Result<(), Stop> {
        let dials = group.dials();
        let live = calls::read(self.ex, &dials, calls).await.map_err(|e| {
            Stop::Abort(e.context(format!("{}: cannot read live weights", label(group))))
        })?;
        let expected_word = if group.index == 0 {
            "the plan's baseline says"
        } else {
            "the previous step left it at"
        };
        let drift: Vec<String> = steps::mismatches(&group.before, &steps::select(&live, &dials))
            .iter()
            .map(|m| m.describe(expected_word))
            .collect();
        if drift.is_empty() {
            Ok(())
        } else {
            Err(Stop::Abort(Abort::new(
                AbortKind::Drift,
                format!(
                    "drift before {}: {} (something else moved it)",
                    label(group),
                    steps::first_few(&drift, 3)
                ),
            )))
        }
    }

    /// Step, second: passes the approval gates that trigger before this group.
    async fn gate(&mut self, index: usize) -> Result<(), Stop> {
        for percent in gates::at(&self.triggers, index) {
            if self.approved.contains(&percent) {
                continue;
            }
            let by = if self.ex.options.approve {
                "--approve"
            } else if self.ex.options.interactive {
                self.emit(ProgressEvent::ApprovalRequested { percent });
                let question = format!(
                    "{} {}: move past {percent}% (run {})?",
                    self.plan.operation, self.plan.region, self.run_id
                );
                let yes = tokio::select! {
                    biased;
                    reason = self.clock.stopped() => return Err(Stop::Abort(reason)),
                    yes = self.ex.prompter.confirm(&question) => yes,
                };
                if !yes {
                    return Err(Stop::Abort(Abort::new(
                        AbortKind::GateDenied,
                        format!("approval denied before moving past {percent}%"),
                    )));
                }
                "tty"
            } else {
                return Err(Stop::Abort(Abort::new(
                    AbortKind::GateDenied,
                    format!(
                        "approval required before moving past {percent}%: pass --approve or run on a terminal"
                    ),
                )));
            };
            self.journal(Record::Approved {
                at: now(),
                percent,
                by: by.to_string(),
            })
            .await?;
            self.approved.insert(percent);
            self.emit(ProgressEvent::Approved {
                percent,
                by: by.to_string(),
            });
        }
        Ok(())
    }

    /// Step, after `StepIntent` is journaled: applies the group's batches, reads them back, journals `StepApplied` with
    /// every provider call of the group (`calls` already holds the drift read).
    async fn apply(&mut self, group: &StepGroup, calls: &super::calls::Calls) -> Result<(), Stop> {
        let batches = backend::batches(self.ex.topology, &group.after);
        calls::apply_all(self.ex, &batches, calls)
            .await
            .map_err(|e| Stop::Abort(e.context(label(group))))?;
        let dials = group.dials();
        let live = calls::read(self.ex, &dials, calls).await.map_err(|e| {
            Stop::Abort(e.context(format!("{}: cannot read back the weights", label(group))))
        })?;
        let mismatch: Vec<String> = steps::mismatches(&group.after, &steps::select(&live, &dials))
            .iter()
            .map(|m| {
                format!(
                    "dial {} member {}: asked {}, found {}",
                    m.dial,
                    m.member,
                    m.expected.map_or("none".to_string(), |w| w.to_string()),
                    m.found.map_or("none".to_string(), |w| w.to_string())
                )
            })
            .collect();
        if !mismatch.is_empty() {
            return Err(Stop::Abort(Abort::new(
                AbortKind::Drift,
                format!(
                    "read-back mismatch after {}: {} (something else moved it)",
                    label(group),
                    steps::first_few(&mismatch, 3)
                ),
            )));
        }
        let api_calls = calls.made();
        self.journal_result(Record::StepApplied {
            at: now(),
            index: group.index,
            api_calls,
            retries: calls.retried(),
        })
        .await?;
        self.emit(ProgressEvent::Applied {
            index: group.index,
            batches: batches.len(),
            api_calls,
        });
        Ok(())
    }

    /// Step, last: propagation and bake waits, then the checks.
    async fn settle(&mut self, group: &StepGroup) -> Result<(), Stop> {
        let waits = [
            ("propagation", self.ex.playbook.propagation),
            ("bake", self.ex.playbook.bake),
        ];
        for (what, duration) in waits {
            let duration = self.clock.scaled(duration);
            if duration.is_zero() {
                continue;
            }
            self.emit(ProgressEvent::Waiting { what, duration });
            self.clock.sleep(duration).await.map_err(Stop::Abort)?;
        }
        self.clock.check().map_err(Stop::Abort)?;
        let results = checking::after_step(
            self.ex,
            self.plan,
            &group.services,
            &self.check_values,
            &self.clock,
        )
        .await
        .map_err(Stop::Abort)?;
        self.journal_result(Record::StepChecked {
            at: now(),
            index: group.index,
            results: results.clone(),
        })
        .await?;
        if let Some(failed) = results.iter().find(|r| !r.ok) {
            return Err(Stop::Abort(Abort::new(
                AbortKind::CheckFailed,
                format!("{}: {}", label(group), checking::describe_failure(failed)),
            )));
        }
        self.emit(ProgressEvent::StepDone { index: group.index });
        Ok(())
    }

    /// Ends the call: `Completed`, or the abort handled per `on_abort`.
    pub async fn finish(&mut self, result: Result<(), Stop>) -> Outcome {
        match result {
            Ok(()) => {
                if self.plan.operation == Operation::Restore {
                    let raised = self.ex.restore_capacity;
                    if let Err(e) = self.restore_capacity(raised).await {
                        return self.capacity_not_restored(e).await;
                    }
                }
                if let Err(stop) = self
                    .journal(Record::RunFinished {
                        at: now(),
                        state: RunState::Completed,
                    })
                    .await
                {
                    // Every step is applied and checked; only the record of it is missing.
                    let e = stop.message();
                    tracing::error!(error = %e, "completed, but the journal could not say so");
                }
                Outcome::Completed
            }
            Err(Stop::Journal(e)) => self.journal_failed(e),
            Err(Stop::Abort(abort)) => {
                tracing::warn!(reason = %abort, kind = abort.kind.as_str(), "aborted");
                self.emit(ProgressEvent::Aborted {
                    kind: abort.kind,
                    reason: abort.message.clone(),
                });
                if let Err(stop) = self
                    .journal(Record::Aborted {
                        at: now(),
                        reason: abort.message.clone(),
                        kind: Some(abort.kind),
                    })
                    .await
                {
                    return self.journal_failed(format!("{abort}; then {}", stop.message()));
                }
                if self.touched.is_empty() && self.prescaled.is_empty() {
                    let _ = self
                        .journal(Record::RunFinished {
                            at: now(),
                            state: RunState::Refused,
                        })
                        .await;
                    return Outcome::Refused { abort };
                }
                match self.ex.playbook.on_abort {
                    OnAbort::Pause => self.pause(abort).await,
                    OnAbort::Rollback => self.roll_back(abort).await,
                }
            }
        }
    }

    /// A restore brought traffic back, but the groups its evacuation pre-scaled could not be
    /// returned: the run is paused so that `kong resume` tries again.
    async fn capacity_not_restored(&mut self, e: Abort) -> Outcome {
        let kind = e.kind;
        let id = &self.run_id;
        let reason =
            format!("traffic is back at its baseline, but {e}; `kong resume {id}` tries again");
        tracing::error!(%reason, "capacity not restored");
        if let Err(stop) = self.journal(Record::Paused { at: now() }).await {
            return self.journal_failed(format!("{reason}; then {}", stop.message()));
        }
        self.emit(ProgressEvent::Paused {
            reason: reason.clone(),
        });
        Outcome::Paused {
            abort: Abort::new(kind, reason),
        }
    }

    async fn pause(&mut self, abort: Abort) -> Outcome {
        let id = &self.run_id;
        let abort = abort.map(|reason| format!(
            "{reason}; the run is paused where it is: `kong resume {id}` continues it, `kong rollback {id}` returns to the baseline"
        ));
        if let Err(stop) = self.journal(Record::Paused { at: now() }).await {
            return self.journal_failed(format!("{abort}; then {}", stop.message()));
        }
        self.emit(ProgressEvent::Paused {
            reason: abort.message.clone(),
        });
        Outcome::Paused { abort }
    }

    /// The journal cannot be written: nothing more may be done.
    fn journal_failed(&mut self, e: String) -> Outcome {
        tracing::error!(error = %e, "journal write failed; stopping where the run is");
        if self.touched.is_empty() && self.prescaled.is_empty() {
            return Outcome::Refused {
                abort: Abort::new(AbortKind::Journal, e),
            };
        }
        let id = &self.run_id;
        let reason = format!(
            "{e}; stopped where it is without acting further; once the journal can be written (and the lock is free), `kong rollback {id}` returns to the baseline (or `kong resume {id}` continues)"
        );
        self.emit(ProgressEvent::Paused {
            reason: reason.clone(),
        });
        Outcome::Paused {
            abort: Abort::new(AbortKind::Journal, reason),
        }
    }
}

impl Stop {
    /// The kind of the cause (`journal` for a journal that cannot be written).
    pub fn kind(&self) -> AbortKind {
        match self {
            Stop::Abort(abort) => abort.kind,
            Stop::Journal(_) => AbortKind::Journal,
        }
    }

    /// The message, whichever the cause.
    pub fn message(&self) -> &str {
        match self {
            Stop::Abort(abort) => &abort.message,
            Stop::Journal(e) => e,
        }
    }
}

/// Sets the run span's `abort.kind` attribute when the run did not complete.
pub(crate) fn record_abort_kind(span: &tracing::Span, outcome: &Outcome) {
    if let Some(abort) = outcome.abort() {
        span.record("abort.kind", abort.kind.as_str());
    }
}

/// `step group 3 (wave 1, 25%)`.
pub(crate) fn label(group: &StepGroup) -> String {
    format!(
        "step group {} (wave {}, {}%)",
        group.index, group.wave, group.percent
    )
}
