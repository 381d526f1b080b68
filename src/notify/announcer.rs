//! The executor's progress events turned into announcements.

use std::sync::Mutex;

use super::{Announcement, Event, Notifier, RunInfo};
use crate::exec::{Progress, ProgressEvent};

/// A [`Progress`] that passes every event to `inner` and announces the ones that matter:
/// start (or resume), the first step of each wave, abort, rollback done, rollback failed (a
/// rollback started and not done by the finish), finish.
pub struct Announcer<'a> {
    inner: &'a dyn Progress,
    notifier: &'a Notifier,
    run: RunInfo,
    state: Mutex<State>,
}

struct State {
    last_wave: Option<usize>,
    outcome: &'static str,
    /// The run paused on abort (`on_abort: pause`).
    paused: bool,
    /// A rollback started; without `RollbackDone` by the finish, it failed.
    rolling_back: bool,
    rolled_back: bool,
}

impl<'a> Announcer<'a> {
    /// Announces the events of run `run` to `notifier`, passing them on to `inner`.
    pub fn new(inner: &'a dyn Progress, notifier: &'a Notifier, run: RunInfo) -> Announcer<'a> {
        Announcer {
            inner,
            notifier,
            run,
            state: Mutex::new(State {
                last_wave: None,
                outcome: "running",
                paused: false,
                rolling_back: false,
                rolled_back: false,
            }),
        }
    }

    fn announce(&self, event: Event, outcome: String) {
        self.notifier.announce(Announcement {
            event,
            run: self.run.clone(),
            outcome,
            at: jiff::Timestamp::now().to_string(),
        });
    }
}

impl Progress for Announcer<'_> {
    fn event(&self, event: &ProgressEvent) {
        self.inner.event(event);
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match event {
            ProgressEvent::Started { .. } => {
                state.outcome = "running";
                self.announce(Event::Start { resumed: false }, "running".into());
            }
            ProgressEvent::Resumed { .. } => {
                state.outcome = "running";
                self.announce(Event::Start { resumed: true }, "running".into());
            }
            ProgressEvent::StepStarted { wave, services, .. } if state.last_wave != Some(*wave) => {
                state.last_wave = Some(*wave);
                self.announce(
                    Event::Wave {
                        wave: *wave,
                        services: services.clone(),
                    },
                    state.outcome.to_string(),
                );
            }
            ProgressEvent::Aborted { reason, kind } => {
                state.outcome = "aborting";
                self.announce(
                    Event::Abort {
                        reason: format!("{kind}: {reason}"),
                    },
                    "aborting".into(),
                );
            }
            ProgressEvent::Paused { .. } => {
                state.outcome = "paused";
                state.paused = true;
            }
            ProgressEvent::RollbackStarted { .. } => state.rolling_back = true,
            ProgressEvent::RollbackDone => {
                state.rolled_back = true;
                state.outcome = "rolled back";
                self.announce(Event::RollbackDone, "rolled back".into());
            }
            ProgressEvent::Finished { summary } => {
                let failed = state.rolling_back && !state.rolled_back && !state.paused;
                if failed {
                    self.announce(
                        Event::RollbackFailed {
                            reason: summary.clone(),
                        },
                        summary.clone(),
                    );
                }
                // The SPEC exit code of the run, as the CLI will map it.
                let exit_code = if failed || state.paused {
                    5
                } else if state.rolled_back {
                    4
                } else if summary.starts_with("refused") {
                    3
                } else {
                    0
                };
                self.announce(Event::Finish { exit_code }, summary.clone());
            }
            _ => {}
        }
    }
}
