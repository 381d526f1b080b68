//! Rollback: every dial any intent of the run named goes back to its weights in
//! `RunStarted.baseline`, last wave first.
//!
//! Guarantees: the rollback intent (the complete baseline weights restored) is journaled
//! before anything is applied; each wave's dials are applied as one set of concurrent
//! batches, retried like forward steps; a wave whose batches fail stops the rollback there
//! (its callers, in earlier waves, are not sent back to a region whose callees are still
//! away); success is judged by reading every touched dial back. Only then are the groups a
//! pre-scale raised returned to their original desired capacity (lowering them while
//! traffic may still be on them would overload them). Ctrl-C does not stop a
//! rollback: each press only reports progress. Idempotent: rolling back twice is harmless.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::Instrument;

use crate::backend;
use crate::journal::{Record, RunState};
use crate::model::Abort;
use crate::plan::Weights;

use super::clock::Clock;
use super::engine::Ctx;
use super::steps;
use super::{Executor, Outcome, ProgressEvent, calls, now};

impl Ctx<'_, '_> {
    /// Restores the baseline of every touched dial; `abort` says why (its kind is the
    /// outcome's).
    pub async fn roll_back(&mut self, abort: Abort) -> Outcome {
        // Presses from here on only report progress (the one that aborted is already seen).
        let mut presses = self.clock.subscribe();
        let dials: Vec<String> = self.touched.keys().cloned().collect();
        let total = dials.len();
        let desired = steps::select(&self.baseline, &dials);
        let unknown: Vec<String> = dials
            .iter()
            .filter(|d| !desired.contains_key(*d))
            .cloned()
            .collect();
        if let Err(stop) = self
            .journal(Record::RollbackIntent {
                at: now(),
                weights: desired.clone(),
            })
            .await
        {
            let e = stop.message();
            let outcome = Outcome::RollbackFailed {
                abort: abort.map(|reason| format!("{reason}; {e}, so nothing was rolled back")),
                left: dials,
            };
            return outcome;
        }
        tracing::info!(dials = total, "rolling back");
        self.emit(ProgressEvent::RollbackStarted { dials: total });

        let mut waves: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (dial, wave) in &self.touched {
            if desired.contains_key(dial) {
                waves.entry(*wave).or_default().push(dial.clone());
            }
        }
        let done = AtomicUsize::new(0);
        let work = restore_waves(self.ex, &desired, &waves, &done, total);
        tokio::pin!(work);
        let applied = loop {
            tokio::select! {
                biased;
                () = Clock::next_press(&mut presses) => {
                    // A second Ctrl-C does not stop a rollback: say where it is.
                    self.emit(ProgressEvent::RollbackProgress {
                        done: done.load(Ordering::Relaxed),
                        total,
                    });
                }
                applied = &mut work => break applied,
            }
        };

        let calls = super::calls::Calls::default();
        let (left, read_error) = match calls::read(self.ex, &dials, &calls).await {
            Ok(live) => {
                let mut left: Vec<String> =
                    steps::mismatches(&desired, &steps::select(&live, &dials))
                        .into_iter()
                        .map(|m| m.dial)
                        .chain(unknown.iter().cloned())
                        .collect();
                left.sort();
                left.dedup();
                (left, None)
            }
            Err(e) => (dials.clone(), Some(e)),
        };

        if left.is_empty() {
            // Traffic is back: the groups raised for it can shrink again.
            let raised = self.prescaled.clone();
            if let Err(e) = self.restore_capacity(&raised).await {
                tracing::error!(error = %e, "capacity not restored");
                let left: Vec<String> = raised
                    .iter()
                    .map(|c| format!("group {} in {}", c.group, c.region))
                    .collect();
                let said = format!("traffic is back at baseline, but {e}");
                return self.rollback_failed(abort, &e.message, &said, left).await;
            }
            let journaled = match self.journal(Record::RollbackDone { at: now() }).await {
                Ok(()) => {
                    self.journal(Record::RunFinished {
                        at: now(),
                        state: RunState::RolledBack,
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            self.emit(ProgressEvent::RollbackDone);
            let id = &self.run_id;
            let abort = match journaled {
                Ok(()) => abort,
                Err(stop) => abort.map(|reason| format!(
                    "{reason}; traffic is back at baseline but {} (a later `kong rollback {id}` is harmless)",
                    stop.message()
                )),
            };
            return Outcome::RolledBack { abort };
        }

        let why = match (applied, read_error, unknown.is_empty()) {
            (_, Some(e), _) => format!("cannot read the dials back: {e}"),
            (Err(e), None, _) => e,
            (Ok(()), None, false) => format!(
                "no baseline journaled for {}",
                steps::first_few(&unknown, 3)
            ),
            (Ok(()), None, true) => {
                "read-back after the rollback differs from the baseline (something else moved it)"
                    .to_string()
            }
        };
        let why = if self.prescaled.is_empty() {
            why
        } else {
            // Lowering capacity while traffic may still be on it would overload it.
            format!("{why}; the pre-scaled Auto Scaling groups stay raised until traffic is back")
        };
        tracing::error!(%why, left = ?left, "rollback failed");
        let said = format!("rollback failed: {why}");
        self.rollback_failed(abort, &why, &said, left).await
    }

    /// Ends a rollback that did not complete: journals `reason` and what is `left`, and
    /// the run's end; the outcome's reason is the abort's, then `said`, then how to retry.
    async fn rollback_failed(
        &mut self,
        abort: Abort,
        reason: &str,
        said: &str,
        left: Vec<String>,
    ) -> Outcome {
        let _ = self
            .journal(Record::RollbackFailed {
                at: now(),
                reason: reason.to_string(),
                left: left.clone(),
            })
            .await;
        let _ = self
            .journal(Record::RunFinished {
                at: now(),
                state: RunState::RollbackFailed,
            })
            .await;
        let id = &self.run_id;
        Outcome::RollbackFailed {
            abort: abort.map(|why| format!("{why}; {said}; retry with `kong rollback {id}`")),
            left,
        }
    }
}

/// Applies the baseline wave by wave, last wave first; stops at the first wave that fails.
async fn restore_waves(
    ex: &Executor<'_>,
    desired: &Weights,
    waves: &BTreeMap<usize, Vec<String>>,
    done: &AtomicUsize,
    total: usize,
) -> Result<(), String> {
    for (wave, dials) in waves.iter().rev() {
        let part = steps::select(desired, dials);
        let batches = backend::batches(ex.topology, &part);
        let calls = super::calls::Calls::default();
        let span = tracing::info_span!("wave", wave = *wave, rollback = true);
        calls::apply_all(ex, &batches, &calls)
            .instrument(span)
            .await
            .map_err(|e| format!("wave {wave}: {e}"))?;
        let now_done = done.fetch_add(dials.len(), Ordering::Relaxed) + dials.len();
        ex.emit(ProgressEvent::RollbackProgress {
            done: now_done,
            total,
        });
    }
    Ok(())
}
