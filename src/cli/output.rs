//! Output helpers shared by the commands: names and formats people read.

use crate::journal::RunState;

/// Human name of a run state.
pub fn state_name(state: RunState) -> &'static str {
    match state {
        RunState::Running => "running (or interrupted)",
        RunState::Paused => "paused",
        RunState::RollingBack => "rolling back (or interrupted)",
        RunState::Completed => "completed",
        RunState::RolledBack => "rolled back",
        RunState::RollbackFailed => "rollback failed",
        RunState::Refused => "refused",
    }
}
