//! Announcements: runs posted to the webhooks of `notify:` (playbook and topology).
//!
//! Events: a run's start, each wave, an abort, a rollback done or failed, and its finish.
//! Each carries the run id, operation, command, region, operator, host, outcome so far and the
//! report's path.
//!
//! # Guarantees
//! - **Never in the way of a run**: [`Notifier::announce`] only queues; each webhook has its
//!   own task posting its events in order, each delivery bounded by the webhook's `timeout`.
//!   [`Notifier::finish`] waits for what a webhook still has queued at most its timeout, then
//!   gives up on the rest. A webhook that fails or hangs is logged and reported as a
//!   [`Failure`]; it never stops or fails a run.
//! - **URLs are secrets**: they are never printed, logged, journaled or put in a failure;
//!   webhooks are named by host ([`Webhook::name`]). reqwest errors are stripped of their
//!   URL before they are shown.
//!
//! The executor knows nothing of this: [`Announcer`] is a [`Progress`](crate::exec::Progress)
//! that turns the executor's events into announcements and passes every event on.

mod announcer;
mod payload;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::{Webhook, WebhookFormat, WebhookUrl};

pub use announcer::Announcer;

/// Who and what a run is, for its announcements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// The run id.
    pub run: String,
    /// `evacuate` or `restore`.
    pub operation: String,
    /// The command (`drill`, `evacuate`, `restore`, `resume`, `rollback`).
    pub command: String,
    /// The region.
    pub region: String,
    /// Who started it.
    pub operator: String,
    /// Where it runs.
    pub host: String,
    /// Where its report is written.
    pub report: String,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run started (or resumed) changing traffic.
    Start {
        /// `true` for a resumed run.
        resumed: bool,
    },
    /// A wave of services begins moving.
    Wave {
        /// Wave index (0-based).
        wave: usize,
        /// The services of its first step group.
        services: Vec<String>,
    },
    /// The run aborts.
    Abort {
        /// Why.
        reason: String,
    },
    /// Every touched dial is back at its baseline.
    RollbackDone,
    /// The rollback did not complete.
    RollbackFailed {
        /// Why, and what is left.
        reason: String,
    },
    /// The run ended.
    Finish {
        /// Its exit code.
        exit_code: i32,
    },
}

impl Event {
    /// The event's name in payloads (`start`, `wave`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Event::Start { .. } => "start",
            Event::Wave { .. } => "wave",
            Event::Abort { .. } => "abort",
            Event::RollbackDone => "rollback_done",
            Event::RollbackFailed { .. } => "rollback_failed",
            Event::Finish { .. } => "finish",
        }
    }
}

/// One announcement: an event of a run and where the run stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Announcement {
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
    /// The run.
    #[serde(flatten)]
    pub run: RunInfo,
    /// `running`, `aborting`, or at the end the run's summary (`completed`, `rolled back: ...`).
    pub outcome: String,
    /// RFC 3339 time of the event.
    pub at: String,
}

/// A delivery that did not happen; names the webhook by host only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The run whose announcement was lost.
    pub run: String,
    /// One line: webhook, event, why.
    pub text: String,
}

/// One webhook's delivery task and its counters.
struct Queue {
    name: String,
    tx: mpsc::UnboundedSender<Announcement>,
    task: JoinHandle<()>,
    /// Announcements queued and delivered (or failed), to count what is left at the end.
    queued: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    /// Runs of the announcements queued, in order (to attribute undelivered ones).
    runs: Arc<Mutex<Vec<String>>>,
    /// The webhook's delivery timeout, also the most `finish` waits for it.
    timeout: Duration,
}

/// Posts announcements to webhooks in the background (see the module docs).
pub struct Notifier {
    /// Taken by [`Notifier::finish`]: later announcements go nowhere.
    queues: Mutex<Vec<Queue>>,
    failures: Arc<Mutex<Vec<Failure>>>,
    /// Problems found before any delivery (an unset `url_env`), reported with the first run.
    setup: Vec<String>,
}

impl Notifier {
    /// Starts one delivery task per webhook (`url_env` read through `env`). Must be called
    /// inside a tokio runtime.
    pub fn start(webhooks: &[Webhook], env: impl Fn(&str) -> Option<String>) -> Notifier {
        let failures = Arc::new(Mutex::new(Vec::new()));
        let mut setup = Vec::new();
        let mut queues = Vec::new();
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {}", e.without_url()));
        for webhook in webhooks {
            let name = webhook.name();
            let url = match &webhook.url {
                WebhookUrl::Literal(url) => url.expose().to_string(),
                WebhookUrl::Env(var) => match env(var).filter(|v| !v.trim().is_empty()) {
                    Some(v) if crate::model::SecretUrl::parse(v.trim()).is_ok() => {
                        v.trim().to_string()
                    }
                    Some(_) => {
                        setup.push(format!(
                            "webhook {name}: the variable does not hold an http(s) URL; nothing was announced to it"
                        ));
                        continue;
                    }
                    None => {
                        setup.push(format!(
                            "webhook {name}: the variable is not set; nothing was announced to it"
                        ));
                        continue;
                    }
                },
            };
            let client = match &client {
                Ok(c) => c.clone(),
                Err(e) => {
                    setup.push(format!("webhook {name}: {e}; nothing was announced to it"));
                    continue;
                }
            };
            let (tx, mut rx) = mpsc::unbounded_channel::<Announcement>();
            let done = Arc::new(AtomicUsize::new(0));
            let task = {
                let failures = failures.clone();
                let done = done.clone();
                let name = name.clone();
                let (format, timeout) = (webhook.format, webhook.timeout);
                tokio::spawn(async move {
                    while let Some(a) = rx.recv().await {
                        if let Err(why) = deliver(&client, &url, format, timeout, &a).await {
                            let text =
                                format!("webhook {name}: {} not delivered: {why}", a.event.name());
                            tracing::warn!("{text}");
                            if let Ok(mut f) = failures.lock() {
                                f.push(Failure {
                                    run: a.run.run.clone(),
                                    text,
                                });
                            }
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                })
            };
            queues.push(Queue {
                name,
                tx,
                task,
                queued: Arc::new(AtomicUsize::new(0)),
                done,
                runs: Arc::new(Mutex::new(Vec::new())),
                timeout: webhook.timeout,
            });
        }
        Notifier {
            queues: Mutex::new(queues),
            failures,
            setup,
        }
    }

    /// Whether no webhook is configured.
    pub fn is_empty(&self) -> bool {
        self.queues.lock().map(|q| q.is_empty()).unwrap_or(true) && self.setup.is_empty()
    }

    /// Queues `announcement` for every webhook; returns at once.
    pub fn announce(&self, announcement: Announcement) {
        let Ok(queues) = self.queues.lock() else {
            return;
        };
        for q in queues.iter() {
            if let Ok(mut runs) = q.runs.lock() {
                runs.push(announcement.run.run.clone());
            }
            q.queued.fetch_add(1, Ordering::SeqCst);
            // A closed channel means the task ended: counted as undelivered by `finish`.
            let _ = q.tx.send(announcement.clone());
        }
    }

    /// Problems found before any delivery (an unset `url_env`), for the report.
    pub fn setup_problems(&self) -> &[String] {
        &self.setup
    }

    /// Failures so far, taken (each is returned once).
    pub fn take_failures(&self) -> Vec<Failure> {
        self.failures
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    /// Waits for each webhook's queued deliveries at most its timeout, then gives up on the
    /// rest; returns every failure not taken yet, undelivered announcements included. Later
    /// announcements are dropped.
    pub async fn finish(&self) -> Vec<Failure> {
        let queues = self
            .queues
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default();
        let failures = &self.failures;
        let waits = queues.into_iter().map(|q| async move {
            drop(q.tx);
            let mut task = q.task;
            if tokio::time::timeout(q.timeout, &mut task).await.is_err() {
                task.abort();
            }
            let (queued, done) = (q.queued.load(Ordering::SeqCst), q.done.load(Ordering::SeqCst));
            if done >= queued {
                return None;
            }
            let runs = q.runs.lock().map(|r| r.clone()).unwrap_or_default();
            Some(Failure {
                run: runs.get(done).cloned().unwrap_or_default(),
                text: format!(
                    "webhook {}: {} announcement(s) not delivered: still pending when the run ended, given up after {}",
                    q.name,
                    queued - done,
                    crate::model::format_duration(q.timeout)
                ),
            })
        });
        let undelivered = futures::future::join_all(waits).await;
        let mut out = failures
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        out.extend(undelivered.into_iter().flatten());
        out
    }
}

/// Posts one announcement; `Err` says why it failed, without the URL.
async fn deliver(
    client: &reqwest::Client,
    url: &str,
    format: WebhookFormat,
    timeout: Duration,
    a: &Announcement,
) -> Result<(), String> {
    let body = match format {
        WebhookFormat::Slack => serde_json::json!({ "text": payload::slack_text(a) }),
        WebhookFormat::Json => serde_json::to_value(a).map_err(|e| e.to_string())?,
    };
    let send = client.post(url).json(&body).send();
    // reqwest's own timeout covers the request; the outer one also bounds connecting to a
    // host that never answers the handshake.
    let response = match tokio::time::timeout(timeout, send).await {
        Err(_) => {
            return Err(format!(
                "no answer within {}",
                crate::model::format_duration(timeout)
            ));
        }
        Ok(Err(e)) if e.is_timeout() => {
            return Err(format!(
                "no answer within {}",
                crate::model::format_duration(timeout)
            ));
        }
        Ok(Err(e)) => return Err(e.without_url().to_string()),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

/// The user running kong: `$USER`, else `$LOGNAME`, else `unknown`.
pub fn operator() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}
