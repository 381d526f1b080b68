//! Progress of a run for people. On a terminal: a live display (a bar over the step groups,
//! `step 3/16 wave 1 50%`, a countdown while propagation, bake, check intervals or a hold
//! are waited out, a bar while rolling back) with every noteworthy event printed above it as
//! a timestamped line. Otherwise (cron logs, CI, `TERM=dumb`, `KONG_PROGRESS=plain`): one
//! plain timestamped line per event on stdout.
//!
//! It only displays: it never decides anything, and a display error is ignored (a broken
//! pipe must not stop a run that moves traffic).

use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::exec::{Progress, ProgressEvent, first_few};
use crate::model::format_duration;

/// `KONG_PROGRESS=plain`: plain lines even on a terminal.
pub const ENV_PROGRESS: &str = "KONG_PROGRESS";

/// Renders executor events: live on a terminal, plain lines otherwise.
pub struct LineProgress {
    mode: Mode,
}

enum Mode {
    /// One line per event to `out`; `short`: `HH:MM:SS` local time instead of RFC 3339 UTC.
    Lines {
        short: bool,
        out: Mutex<Box<dyn Write + Send>>,
    },
    /// indicatif bars on stdout.
    Live(Mutex<Live>),
}

impl LineProgress {
    /// `tty`: stdout is a terminal. Live there, unless `TERM=dumb` or `KONG_PROGRESS=plain`.
    pub fn new(tty: bool) -> LineProgress {
        let plain = std::env::var(ENV_PROGRESS).is_ok_and(|v| v.eq_ignore_ascii_case("plain"))
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if tty && !plain {
            LineProgress {
                mode: Mode::Live(Mutex::new(Live::new())),
            }
        } else {
            LineProgress::lines(tty, Box::new(std::io::stdout()))
        }
    }

    /// Plain lines to `out` (`short` timestamps for a person, RFC 3339 UTC for logs).
    pub fn lines(short: bool, out: Box<dyn Write + Send>) -> LineProgress {
        LineProgress {
            mode: Mode::Lines {
                short,
                out: Mutex::new(out),
            },
        }
    }
}

impl Progress for LineProgress {
    fn event(&self, event: &ProgressEvent) {
        match &self.mode {
            Mode::Lines { short, out } => {
                let line = stamped(*short, &describe(event));
                let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Mode::Live(live) => live
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .event(event),
        }
    }
}

/// `12:03:04 line` (a person's local time) or `2026-11-23T12:03:04Z line` (logs).
fn stamped(short: bool, line: &str) -> String {
    if short {
        format!("{} {line}", jiff::Zoned::now().strftime("%H:%M:%S"))
    } else {
        format!(
            "{} {line}",
            jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// The live display: lines above, then the steps bar, then a countdown or rollback bar.
struct Live {
    multi: MultiProgress,
    /// Over the step groups; hidden while the operator is asked to approve.
    steps: Option<ProgressBar>,
    /// Where the steps bar stands, to draw it again after an approval prompt.
    at: StepsAt,
    /// A wait's countdown, or the rollback's progress.
    below: Option<ProgressBar>,
}

#[derive(Default)]
struct StepsAt {
    position: u64,
    length: u64,
    message: String,
    /// `applying`, `applied, settling`, `healthy`.
    phase: &'static str,
}

impl Live {
    fn new() -> Live {
        Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            steps: None,
            at: StepsAt::default(),
            below: None,
        }
    }

    fn println(&self, line: &str) {
        let _ = self.multi.println(stamped(true, line));
    }

    fn event(&mut self, event: &ProgressEvent) {
        // A wait ends with whatever the executor does next (a rollback bar stays).
        if !matches!(event, ProgressEvent::Waiting { .. })
            && let Some(countdown) = self.below.take_if(|bar| bar.length().is_none())
        {
            countdown.finish_and_clear();
        }
        match event {
            ProgressEvent::StepStarted {
                index,
                total,
                wave,
                percent,
                services,
            } => {
                self.at = StepsAt {
                    position: *index as u64,
                    length: *total as u64,
                    message: format!("step {}/{total} wave {wave} {percent}%", index + 1),
                    phase: "applying",
                };
                self.show_steps();
                self.println(&format!(
                    "step {}/{total}: wave {wave}, {percent}%: {}",
                    index + 1,
                    first_few(services, 5)
                ));
            }
            ProgressEvent::Applied { .. } => {
                // Not a line of its own: the bar says where the run is.
                self.at.phase = "applied, settling";
                self.show_steps();
            }
            ProgressEvent::StepDone { index } => {
                self.at.position = *index as u64 + 1;
                self.at.phase = "healthy";
                self.show_steps();
            }
            ProgressEvent::ApprovalRequested { .. } => {
                // The prompt is written on the terminal: no bar may draw over it.
                self.hide_steps();
                self.println(&describe(event));
            }
            ProgressEvent::Approved { .. } => {
                self.println(&describe(event));
                self.show_steps();
            }
            ProgressEvent::Waiting { what, duration } => {
                self.countdown(what, *duration);
            }
            ProgressEvent::RollbackStarted { dials } => {
                self.hide_steps();
                self.println(&describe(event));
                let bar = self.multi.add(ProgressBar::new(*dials as u64));
                bar.set_style(style("rollback [{bar:30}] {pos}/{len} dials restored"));
                bar.tick();
                self.below = Some(bar);
            }
            ProgressEvent::RollbackProgress { done, total } => match &self.below {
                Some(bar) => {
                    bar.set_length(*total as u64);
                    bar.set_position(*done as u64);
                }
                // A second Ctrl-C during the rollback asks for progress: say it.
                None => self.println(&describe(event)),
            },
            ProgressEvent::RollbackDone => {
                if let Some(bar) = self.below.take() {
                    bar.finish_and_clear();
                }
                self.println(&describe(event));
            }
            ProgressEvent::Finished { .. } => {
                self.hide_steps();
                if let Some(bar) = self.below.take() {
                    bar.finish_and_clear();
                }
                self.println(&describe(event));
            }
            ProgressEvent::Preflight { .. }
            | ProgressEvent::Started { .. }
            | ProgressEvent::Resumed { .. }
            | ProgressEvent::Reconciled { .. }
            | ProgressEvent::Retrying { .. }
            | ProgressEvent::Check(_)
            | ProgressEvent::Aborted { .. }
            | ProgressEvent::Scaling { .. }
            | ProgressEvent::WaitingInService { .. }
            | ProgressEvent::Prescaled { .. }
            | ProgressEvent::CapacityRestored { .. }
            | ProgressEvent::Paused { .. } => self.println(&describe(event)),
        }
    }

    /// Draws the steps bar where `at` says (again, after an approval prompt).
    fn show_steps(&mut self) {
        if self.at.length == 0 {
            return;
        }
        let bar = self.steps.get_or_insert_with(|| {
            let bar = ProgressBar::new(self.at.length);
            bar.set_style(style("{msg:<24} [{bar:30}] {pos}/{len} done, {prefix}"));
            // Added first, so a countdown or rollback bar is always drawn below it.
            self.multi.insert(0, bar)
        });
        bar.set_length(self.at.length);
        bar.set_position(self.at.position);
        bar.set_message(self.at.message.clone());
        bar.set_prefix(self.at.phase);
    }

    fn hide_steps(&mut self) {
        if let Some(bar) = self.steps.take() {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.below.take() {
            bar.finish_and_clear();
        }
    }

    /// A spinner counting `duration` down; it clears itself when the time is up (a hold is
    /// followed by no event of this display).
    fn countdown(&mut self, what: &str, duration: Duration) {
        if let Some(bar) = self.below.take() {
            bar.finish_and_clear();
        }
        let left = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&format_duration(duration.saturating_sub(state.elapsed())));
        };
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(style("{spinner} {prefix}: {left} left").with_key("left", left));
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        let weak = bar.downgrade();
        let _ = std::thread::Builder::new()
            .name("kong-countdown".into())
            .spawn(move || {
                // Gone just before the wait ends, so it never draws over what follows it
                // (a hold is followed by output this display does not see).
                std::thread::sleep(
                    duration
                        .saturating_sub(duration / 10)
                        .max(duration.saturating_sub(Duration::from_millis(250))),
                );
                if let Some(bar) = weak.upgrade() {
                    bar.finish_and_clear();
                }
            });
        self.below = Some(bar);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.hide_steps();
        let _ = self.multi.clear();
    }
}

/// A style from a template written here (so it is valid).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// One line describing an event.
pub fn describe(event: &ProgressEvent) -> String {
    match event {
        ProgressEvent::Preflight { item, ok, detail } => format!(
            "pre-flight {item}: {} {detail}",
            if *ok { "ok" } else { "FAILED" }
        ),
        ProgressEvent::Started { run, groups } => {
            format!("run {run} started: {groups} step groups")
        }
        ProgressEvent::Resumed { run, from } => {
            format!("run {run} resumed at step {}", from + 1)
        }
        ProgressEvent::Reconciled {
            index,
            applied,
            not_applied,
        } => format!(
            "step {} reconciled against live weights: applied [{}], not applied [{}]",
            index + 1,
            applied.join(", "),
            not_applied.join(", ")
        ),
        ProgressEvent::StepStarted {
            index,
            total,
            wave,
            percent,
            services,
        } => format!(
            "step {}/{total}: wave {wave}, {percent}%: {}",
            index + 1,
            services.join(", ")
        ),
        ProgressEvent::ApprovalRequested { percent } => {
            format!("approval needed before moving past {percent}%")
        }
        ProgressEvent::Approved { percent, by } => {
            format!("approved moving past {percent}% ({by})")
        }
        ProgressEvent::Retrying {
            operation,
            error,
            delay,
        } => format!(
            "retrying {operation} in {}: {error}",
            format_duration(*delay)
        ),
        ProgressEvent::Applied {
            index,
            batches,
            api_calls,
        } => format!(
            "step {} applied and read back: {batches} batches, {api_calls} API calls",
            index + 1
        ),
        ProgressEvent::Waiting { what, duration } => {
            format!("{what}: waiting {}", format_duration(*duration))
        }
        ProgressEvent::Check(c) => format!(
            "check {} {}",
            if c.ok { "ok" } else { "FAILED" },
            super::output::check_line(c)
        ),
        ProgressEvent::StepDone { index } => format!("step {} healthy", index + 1),
        ProgressEvent::Scaling { purpose, groups } => format!(
            "{}: setting desired capacity: {}",
            match *purpose {
                "prescale" => "prescale",
                _ => "capacity restore",
            },
            groups
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ProgressEvent::WaitingInService { short } => {
            format!("prescale: waiting for instances: {}", short.join("; "))
        }
        ProgressEvent::Prescaled { groups } => {
            format!("prescale done: {groups} groups have enough instances in service")
        }
        ProgressEvent::CapacityRestored { groups } => {
            format!("capacity restored: {groups} groups back at their original desired capacity")
        }
        ProgressEvent::Aborted { reason } => format!("ABORT: {reason}"),
        ProgressEvent::RollbackStarted { dials } => {
            format!("rollback: restoring {dials} dials to baseline")
        }
        ProgressEvent::RollbackProgress { done, total } => {
            format!("rollback: {done}/{total} dials restored")
        }
        ProgressEvent::RollbackDone => {
            "rollback done: every touched dial is at baseline".to_string()
        }
        ProgressEvent::Paused { reason } => format!("PAUSED: {reason}"),
        ProgressEvent::Finished { summary } => {
            format!("finished: {summary}")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::journal::CheckResult;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    fn check(ok: bool, region: Option<&str>, value: Option<f64>) -> CheckResult {
        CheckResult {
            name: "p99".into(),
            region: region.map(str::to_string),
            service: None,
            value,
            threshold: "<= 250".into(),
            ok,
            detail: (!ok).then(|| "above the threshold".to_string()),
        }
    }

    fn run_events() -> Vec<ProgressEvent> {
        vec![
            ProgressEvent::Preflight {
                item: "capacity",
                ok: true,
                detail: "every destination within its limit".into(),
            },
            ProgressEvent::Started {
                run: "r1".into(),
                groups: 2,
            },
            ProgressEvent::StepStarted {
                index: 0,
                total: 2,
                wave: 0,
                percent: 50,
                services: vec!["edge-api".into()],
            },
            ProgressEvent::Applied {
                index: 0,
                batches: 1,
                api_calls: 4,
            },
            ProgressEvent::Waiting {
                what: "bake",
                duration: Duration::from_secs(120),
            },
            ProgressEvent::Check(check(true, Some("us-west-2"), Some(12.0))),
            ProgressEvent::StepDone { index: 0 },
            ProgressEvent::StepStarted {
                index: 1,
                total: 2,
                wave: 0,
                percent: 100,
                services: vec!["edge-api".into()],
            },
            ProgressEvent::ApprovalRequested { percent: 100 },
            ProgressEvent::Approved {
                percent: 100,
                by: "tty".into(),
            },
            ProgressEvent::Check(check(false, None, None)),
            ProgressEvent::Aborted {
                reason: "check failed".into(),
            },
            ProgressEvent::RollbackStarted { dials: 3 },
            ProgressEvent::RollbackProgress { done: 1, total: 3 },
            ProgressEvent::RollbackProgress { done: 3, total: 3 },
            ProgressEvent::RollbackDone,
            ProgressEvent::Finished {
                summary: "rolled back".into(),
            },
        ]
    }

    #[test]
    fn plain_lines_are_one_rfc3339_stamped_line_per_event() {
        let buffer = Buffer::default();
        let progress = LineProgress::lines(false, Box::new(buffer.clone()));
        let events = run_events();
        for event in &events {
            progress.event(event);
        }
        let lines = buffer.lines();
        assert_eq!(lines.len(), events.len());
        for (line, event) in lines.iter().zip(&events) {
            let (stamp, text) = line.split_once(' ').unwrap();
            assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{line}");
            assert!(stamp.ends_with('Z'), "UTC: {line}");
            assert_eq!(text, describe(event));
        }
        assert!(
            lines[2].ends_with("step 1/2: wave 0, 50%: edge-api"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn plain_lines_for_a_person_have_a_short_local_time() {
        let buffer = Buffer::default();
        let progress = LineProgress::lines(true, Box::new(buffer.clone()));
        progress.event(&ProgressEvent::StepDone { index: 2 });
        let lines = buffer.lines();
        let (stamp, text) = lines[0].split_once(' ').unwrap();
        assert_eq!(stamp.len(), "12:03:04".len(), "{stamp}");
        assert_eq!(stamp.matches(':').count(), 2, "{stamp}");
        assert_eq!(text, "step 3 healthy");
    }

    #[test]
    fn describe_says_what_happened_in_one_line() {
        let cases = [
            (
                ProgressEvent::Check(check(true, Some("us-west-2"), Some(12.0))),
                "check ok p99 @us-west-2: 12.0000 vs <= 250",
            ),
            (
                ProgressEvent::Check(check(false, None, None)),
                "check FAILED p99: no data vs <= 250 (above the threshold)",
            ),
            (
                ProgressEvent::Applied {
                    index: 2,
                    batches: 3,
                    api_calls: 5,
                },
                "step 3 applied and read back: 3 batches, 5 API calls",
            ),
            (
                ProgressEvent::Waiting {
                    what: "bake",
                    duration: Duration::from_secs(150),
                },
                "bake: waiting 2m30s",
            ),
            (
                ProgressEvent::Retrying {
                    operation: "apply zone Z1".into(),
                    error: "throttled".into(),
                    delay: Duration::from_millis(200),
                },
                "retrying apply zone Z1 in 200ms: throttled",
            ),
            (
                ProgressEvent::Resumed {
                    run: "r1".into(),
                    from: 3,
                },
                "run r1 resumed at step 4",
            ),
            (
                ProgressEvent::Preflight {
                    item: "drift",
                    ok: false,
                    detail: "edge-api/dns moved".into(),
                },
                "pre-flight drift: FAILED edge-api/dns moved",
            ),
            (
                ProgressEvent::Finished {
                    summary: "completed".into(),
                },
                "finished: completed",
            ),
        ];
        for (event, line) in cases {
            assert_eq!(describe(&event), line);
        }
    }

    #[test]
    fn the_display_can_be_shared_with_the_executor() {
        fn shared<T: Send + Sync>() {}
        shared::<LineProgress>();
    }

    #[test]
    fn the_live_display_follows_a_run_with_an_approval_and_a_rollback() {
        // Off a terminal indicatif draws nothing: this walks the state machine only.
        let mut live = Live::new();
        for event in run_events() {
            live.event(&event);
            match event {
                ProgressEvent::StepStarted { index, .. } => {
                    assert_eq!(live.at.position, index as u64);
                    assert!(live.steps.is_some());
                }
                ProgressEvent::Waiting { .. } => {
                    assert_eq!(live.below.as_ref().map(ProgressBar::length), Some(None));
                }
                ProgressEvent::Check(_) if live.at.position == 0 => {
                    assert!(live.below.is_none(), "the bake countdown ended");
                }
                ProgressEvent::ApprovalRequested { .. } => assert!(live.steps.is_none()),
                ProgressEvent::Approved { .. } => assert!(live.steps.is_some()),
                ProgressEvent::RollbackProgress { done, .. } => {
                    let bar = live.below.as_ref().unwrap();
                    assert_eq!(bar.position(), done as u64);
                }
                ProgressEvent::Finished { .. } => {
                    assert!(live.steps.is_none() && live.below.is_none());
                }
                _ => {}
            }
        }
        assert_eq!(live.at.message, "step 2/2 wave 0 100%");
    }
}
