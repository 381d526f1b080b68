//! Progress of a run for people. On a terminal: a live display (a bar over the step groups,
//! `step 3/16 wave 1 50%`, a countdown while propagation, bake, check intervals or a hold
//! are waited out, a bar while rolling back) with every noteworthy event printed above it as
//! a timestamped line. Otherwise (cron logs, CI, `TERM=dumb`, `KONG_PROGRESS=plain`): one
//! plain timestamped line per event on stdout.
//!
//! It only displays: it never decides anything, and a display error is ignored (a broken
//! pipe must not stop a run that moves traffic).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::exec::{Progress, ProgressEvent, first_few};
use crate::journal::CheckResult;
use crate::model::{Topology, format_duration};
use crate::plan::Plan;
use crate::report::{Traffic, bound, few};

/// `KONG_PROGRESS=plain`: plain lines even on a terminal.
pub const ENV_PROGRESS: &str = "KONG_PROGRESS";

/// Renders executor events: live on a terminal, plain lines otherwise.
///
/// Checks are summed up in one line per step (`14 checks ok, closest: p99 @eu-west-1
/// 120/250`); a check gets a line of its own only when it fails or comes within 10% of its
/// threshold, or always with `-v`.
pub struct LineProgress {
    mode: Mode,
    verbose: bool,
    follow: Mutex<Follow>,
}

/// A check within this fraction of its threshold is printed on its own.
const NEAR: f64 = 0.1;

/// What the display remembers between events: the step's checks, and the region shares.
#[derive(Default)]
struct Follow {
    checks: Vec<CheckResult>,
    /// The step group under way: (index, wave, percent, services).
    step: Option<(usize, usize, u32, Vec<String>)>,
    shares: Option<SharesView>,
}

/// The run's topology and plan, to follow the share each region serves.
struct SharesView {
    topology: Arc<Topology>,
    plan: Plan,
    shares: Traffic,
}

impl SharesView {
    fn by_region(&self) -> Vec<(String, f64)> {
        self.shares.by_region(&self.topology)
    }
}

impl Follow {
    /// The lines to print for `event` (`None`: its [`describe`] line).
    fn lines(&mut self, event: &ProgressEvent, verbose: bool) -> Option<Vec<String>> {
        match event {
            ProgressEvent::StepStarted {
                index,
                wave,
                percent,
                services,
                ..
            } => {
                self.checks.clear();
                self.step = Some((*index, *wave, *percent, services.clone()));
                None
            }
            ProgressEvent::Applied { .. } => {
                if let (Some(view), Some((_, wave, percent, services))) =
                    (self.shares.as_mut(), self.step.as_ref())
                {
                    view.shares
                        .apply(&view.topology, &view.plan, *wave, *percent, services);
                }
                None
            }
            ProgressEvent::RollbackDone => {
                if let Some(view) = self.shares.as_mut() {
                    view.shares = Traffic::at_baseline(&view.topology, &view.plan);
                }
                None
            }
            ProgressEvent::Check(c) => {
                self.checks.push(c.clone());
                let near = c
                    .value
                    .zip(bound(&c.threshold))
                    .is_some_and(|(v, b)| b.margin(v) < NEAR);
                Some(if verbose || !c.ok || near {
                    vec![describe(event)]
                } else {
                    Vec::new()
                })
            }
            ProgressEvent::StepDone { index } => Some(vec![format!(
                "step {} healthy: {}",
                index + 1,
                checks_summary(&std::mem::take(&mut self.checks))
            )]),
            ProgressEvent::Aborted { .. } => {
                let mut lines = Vec::new();
                if !self.checks.is_empty()
                    && let Some((index, ..)) = &self.step
                {
                    lines.push(format!(
                        "step {}: {}",
                        index + 1,
                        checks_summary(&std::mem::take(&mut self.checks))
                    ));
                }
                lines.push(describe(event));
                Some(lines)
            }
            _ => None,
        }
    }
}

/// `14 checks ok, closest: p99 @eu-west-1 120/250`, or `13 of 14 checks ok, 1 FAILED, ...`.
pub fn checks_summary(checks: &[CheckResult]) -> String {
    if checks.is_empty() {
        return "no checks".to_string();
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let mut out = if failed == 0 {
        format!("{} checks ok", checks.len())
    } else {
        format!(
            "{} of {} checks ok, {failed} FAILED",
            checks.len() - failed,
            checks.len()
        )
    };
    let closest = checks
        .iter()
        .filter_map(|c| Some((c, bound(&c.threshold)?, c.value?)))
        // Ties (equal margins) go to the first by name, region and service: the checks of a
        // round finish in any order, and the line must not depend on it.
        .min_by(|a, b| {
            a.1.margin(a.2).total_cmp(&b.1.margin(b.2)).then_with(|| {
                (&a.0.name, &a.0.region, &a.0.service).cmp(&(&b.0.name, &b.0.region, &b.0.service))
            })
        });
    if let Some((c, b, v)) = closest {
        let region = c
            .region
            .as_deref()
            .map(|r| format!(" @{r}"))
            .unwrap_or_default();
        let service = c
            .service
            .as_deref()
            .map(|s| format!(" for {s}"))
            .unwrap_or_default();
        out.push_str(&format!(
            ", closest: {}{region}{service} {}/{}",
            c.name,
            crate::report::num(round3(v)),
            crate::report::num(round3(b.limit))
        ));
    }
    out
}

/// Three significant digits, for a summary line.
fn round3(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let mag = 10f64.powf(v.abs().log10().floor() - 2.0);
    (v / mag).round() * mag
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
                verbose: false,
                follow: Mutex::default(),
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
            verbose: false,
            follow: Mutex::default(),
        }
    }

    /// `-v`: every check evaluation on its own line.
    pub fn verbose(mut self, verbose: bool) -> LineProgress {
        self.verbose = verbose;
        self
    }

    /// Follows the share each region serves through `plan` (a live table on a terminal).
    pub fn with_shares(self, topology: &Arc<Topology>, plan: &Plan) -> LineProgress {
        let shares = Traffic::at_baseline(topology, plan);
        let view = SharesView {
            topology: topology.clone(),
            plan: plan.clone(),
            shares,
        };
        if let Mode::Live(live) = &self.mode {
            live.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .show_shares(&view.by_region());
        }
        self.follow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .shares = Some(view);
        self
    }
}

impl Progress for LineProgress {
    fn event(&self, event: &ProgressEvent) {
        let mut follow = self.follow.lock().unwrap_or_else(PoisonError::into_inner);
        let lines = follow
            .lines(event, self.verbose)
            .unwrap_or_else(|| vec![describe(event)]);
        match &self.mode {
            Mode::Lines { short, out } => {
                let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
                for line in lines {
                    let _ = writeln!(out, "{}", stamped(*short, &line));
                }
                let _ = out.flush();
            }
            Mode::Live(live) => {
                let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
                live.lines = lines;
                live.event(event);
                if matches!(
                    event,
                    ProgressEvent::Applied { .. } | ProgressEvent::RollbackDone
                ) && let Some(view) = &follow.shares
                {
                    live.show_shares(&view.by_region());
                }
            }
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
    /// The share each region serves: one bar per region, kept on screen.
    shares: Vec<ProgressBar>,
    /// What to print for the current event (see [`Follow::lines`]).
    lines: Vec<String>,
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
            shares: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Prints the lines chosen for the current event.
    fn say(&mut self) {
        for line in std::mem::take(&mut self.lines) {
            self.println(&line);
        }
    }

    /// Draws (or updates) the table of region shares.
    fn show_shares(&mut self, shares: &[(String, f64)]) {
        if self.shares.len() != shares.len() {
            for bar in self.shares.drain(..) {
                bar.finish_and_clear();
            }
            for (region, _) in shares {
                let bar = self.multi.add(ProgressBar::new(1000));
                bar.set_style(style("{prefix:>14} [{bar:30}] {msg}"));
                bar.set_prefix(region.clone());
                self.shares.push(bar);
            }
        }
        for (bar, (_, share)) in self.shares.iter().zip(shares) {
            bar.set_position((share * 1000.0).round() as u64);
            bar.set_message(format!("{:.1}%", share * 100.0));
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
                services: _,
            } => {
                self.at = StepsAt {
                    position: *index as u64,
                    length: *total as u64,
                    message: format!("step {}/{total} wave {wave} {percent}%", index + 1),
                    phase: "applying",
                };
                self.show_steps();
                self.say();
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
                self.say();
            }
            ProgressEvent::ApprovalRequested { .. } => {
                // The prompt is written on the terminal: no bar may draw over it.
                self.hide_steps();
                self.say();
            }
            ProgressEvent::Approved { .. } => {
                self.say();
                self.show_steps();
            }
            ProgressEvent::Waiting { what, duration } => {
                self.countdown(what, *duration);
            }
            ProgressEvent::RollbackStarted { dials } => {
                self.hide_steps();
                self.say();
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
                None => self.say(),
            },
            ProgressEvent::RollbackDone => {
                if let Some(bar) = self.below.take() {
                    bar.finish_and_clear();
                }
                self.say();
            }
            ProgressEvent::Finished { .. } => {
                self.hide_steps();
                if let Some(bar) = self.below.take() {
                    bar.finish_and_clear();
                }
                self.say();
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
            | ProgressEvent::Residual { .. }
            | ProgressEvent::Paused { .. } => self.say(),
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
        for bar in self.shares.drain(..) {
            bar.finish_and_clear();
        }
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
            few(services, 4)
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
        ProgressEvent::Residual {
            when,
            region,
            measured,
            max_residual,
            over,
        } => {
            if over.is_empty() {
                format!(
                    "residual traffic {when}: {measured} services measured in {region}, none above {:.1}%",
                    max_residual * 100.0
                )
            } else {
                format!(
                    "residual traffic {when}: {} of {measured} services still served in {region} above {:.1}% (hidden dependencies): {}",
                    over.len(),
                    max_residual * 100.0,
                    first_few(over, 5)
                )
            }
        }
        ProgressEvent::Aborted { kind, reason } => format!("ABORT ({kind}): {reason}"),
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
                kind: crate::model::AbortKind::CheckFailed,
                reason: "check `p99` failed".into(),
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

    /// The text of each line, without its time stamp (which must be RFC 3339 UTC).
    fn texts(buffer: &Buffer) -> Vec<String> {
        buffer
            .lines()
            .iter()
            .map(|line| {
                let (stamp, text) = line.split_once(' ').unwrap();
                assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{line}");
                assert!(stamp.ends_with('Z'), "UTC: {line}");
                text.to_string()
            })
            .collect()
    }

    #[test]
    fn plain_lines_are_stamped_and_sum_the_checks_up_once_per_step() {
        let buffer = Buffer::default();
        let progress = LineProgress::lines(false, Box::new(buffer.clone()));
        for event in &run_events() {
            progress.event(event);
        }
        let texts = texts(&buffer);
        assert_eq!(texts[2], "step 1/2: wave 0, 50%: edge-api");
        // The passing check far from its threshold has no line of its own.
        assert!(
            !texts.iter().any(|t| t.starts_with("check ok")),
            "{texts:#?}"
        );
        assert!(
            texts.contains(
                &"step 1 healthy: 1 checks ok, closest: p99 @us-west-2 12/250".to_string()
            ),
            "{texts:#?}"
        );
        // The failing one has, and the step's summary comes before the abort.
        let failed = texts
            .iter()
            .position(|t| t.starts_with("check FAILED p99"))
            .unwrap();
        assert_eq!(texts[failed + 1], "step 2: 0 of 1 checks ok, 1 FAILED");
        assert_eq!(
            texts[failed + 2],
            "ABORT (check failed): check `p99` failed"
        );
        assert_eq!(texts.last().unwrap(), "finished: rolled back");
    }

    #[test]
    fn a_check_near_its_threshold_gets_its_own_line_and_verbose_prints_them_all() {
        let near = || {
            ProgressEvent::Check(CheckResult {
                value: Some(240.0),
                ..check(true, Some("eu-west-1"), None)
            })
        };
        let far = || ProgressEvent::Check(check(true, Some("us-west-2"), Some(120.0)));
        let step = ProgressEvent::StepStarted {
            index: 0,
            total: 1,
            wave: 0,
            percent: 100,
            services: (0..200).map(|i| format!("s{i:04}")).collect(),
        };
        let buffer = Buffer::default();
        let progress = LineProgress::lines(false, Box::new(buffer.clone()));
        for event in [
            step.clone(),
            near(),
            far(),
            ProgressEvent::StepDone { index: 0 },
        ] {
            progress.event(&event);
        }
        assert_eq!(
            texts(&buffer),
            [
                "step 1/1: wave 0, 100%: 200 services: s0000, s0001, s0002, … s0199",
                "check ok p99 @eu-west-1: 240.0000 vs <= 250",
                "step 1 healthy: 2 checks ok, closest: p99 @eu-west-1 240/250",
            ]
        );
        let buffer = Buffer::default();
        let progress = LineProgress::lines(false, Box::new(buffer.clone())).verbose(true);
        for event in [step, near(), far(), ProgressEvent::StepDone { index: 0 }] {
            progress.event(&event);
        }
        assert_eq!(texts(&buffer).len(), 4, "-v prints every check");
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
        assert_eq!(text, "step 3 healthy: no checks");
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
    fn the_live_table_has_one_bar_per_region_set_to_its_share() {
        let mut live = Live::new();
        live.show_shares(&[("us-east-1".into(), 0.5), ("us-west-2".into(), 0.5)]);
        live.show_shares(&[("us-east-1".into(), 0.0), ("us-west-2".into(), 1.0)]);
        let positions: Vec<u64> = live.shares.iter().map(ProgressBar::position).collect();
        assert_eq!(positions, [0, 1000]);
        assert_eq!(live.shares[1].message(), "100.0%");
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
