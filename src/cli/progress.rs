//! Progress of a run for people: plain timestamped lines (cron logs, CI), one per event.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::exec::{Progress, ProgressEvent};

/// Prints one timestamped line per executor event on stdout.
pub struct LineProgress {
    tty: bool,
    out: Mutex<()>,
}

impl LineProgress {
    /// `tty`: stdout is a terminal (lines are shorter, times local-free either way).
    pub fn new(tty: bool) -> LineProgress {
        LineProgress {
            tty,
            out: Mutex::new(()),
        }
    }
}

/// `2m30s`, `45s`, `1.5s`, `120ms`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        if secs.fract() == 0.0 {
            format!("{}s", secs as u64)
        } else {
            format!("{secs:.1}s")
        }
    } else {
        let total = secs.round() as u64;
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
        match (h, s) {
            (0, 0) => format!("{m}m"),
            (0, _) => format!("{m}m{s:02}s"),
            _ => format!("{h}h{m:02}m{s:02}s"),
        }
    }
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
        } => format!("retrying {operation} in {}: {error}", fmt_duration(*delay)),
        ProgressEvent::Applied {
            index,
            batches,
            api_calls,
        } => format!(
            "step {} applied and read back: {batches} batches, {api_calls} API calls",
            index + 1
        ),
        ProgressEvent::Waiting { what, duration } => {
            format!("{what}: waiting {}", fmt_duration(*duration))
        }
        ProgressEvent::Check(c) => format!(
            "check {} {}{}: {} vs {}{}",
            if c.ok { "ok" } else { "FAILED" },
            c.name,
            c.region
                .as_deref()
                .map(|r| format!(" @{r}"))
                .unwrap_or_default(),
            c.value
                .map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "no data".to_string()),
            c.threshold,
            c.detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
        ProgressEvent::StepDone { index } => format!("step {} healthy", index + 1),
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
        ProgressEvent::Finished { summary, exit_code } => {
            format!("finished: {summary} (exit {exit_code})")
        }
    }
}

impl Progress for LineProgress {
    fn event(&self, event: &ProgressEvent) {
        let line = describe(event);
        let _guard = self.out.lock();
        let mut out = std::io::stdout().lock();
        if self.tty {
            let now = jiff::Zoned::now();
            let _ = writeln!(out, "{} {line}", now.strftime("%H:%M:%S"));
        } else {
            let _ = writeln!(
                out,
                "{} {line}",
                jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
            );
        }
        let _ = out.flush();
    }
}
