//! The text of a Slack-compatible announcement.

use super::{Announcement, Event};

/// One line: what happened to which run, by whom, where, and the report's path.
pub(super) fn slack_text(a: &Announcement) -> String {
    let r = &a.run;
    let what = match &a.event {
        Event::Start { resumed: false } => "started".to_string(),
        Event::Start { resumed: true } => "resumed".to_string(),
        Event::Wave { wave, services } => {
            format!("wave {} started: {}", wave + 1, services.join(", "))
        }
        Event::Abort { reason } => format!("ABORTED: {reason}"),
        Event::RollbackDone => "rolled back: traffic is back at its baseline".to_string(),
        Event::RollbackFailed { reason } => {
            format!("ROLLBACK DID NOT COMPLETE: {reason}; see `kong status`")
        }
        Event::Finish { exit_code } => format!("finished: {} (exit {exit_code})", a.outcome),
    };
    let command = if r.command == r.operation {
        r.operation.clone()
    } else {
        format!("{} ({})", r.command, r.operation)
    };
    format!(
        "kong {command} {}: {what} | run {} by {} on {} | report {}",
        r.region, r.run, r.operator, r.host, r.report
    )
}
