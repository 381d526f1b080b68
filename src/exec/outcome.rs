//! How a run ended (the CLI's `exit` module gives it its exit code).

use crate::journal::CheckResult;

/// How `run`, `resume` or `rollback` ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every step group applied and checked.
    Completed,
    /// `--dry-run`: pre-flight passed; every check's result before the run.
    DryRun {
        /// Each check evaluated once per region.
        results: Vec<CheckResult>,
    },
    /// Refused before any change.
    Refused {
        /// Why, and what to do about it.
        reason: String,
    },
    /// Aborted after changes; every touched dial is back at baseline.
    RolledBack {
        /// Why the run aborted.
        reason: String,
    },
    /// Aborted, and the rollback did not complete.
    RollbackFailed {
        /// Why the run aborted and why the rollback failed.
        reason: String,
        /// Dials not at baseline (per read-back, or every touched dial when unreadable).
        left: Vec<String>,
    },
    /// Aborted and held where it is (`on_abort: pause`, or the journal could not be written).
    Paused {
        /// Why, naming `kong resume RUN` and `kong rollback RUN`.
        reason: String,
    },
}

impl Outcome {
    /// One line for people.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Completed => "completed".to_string(),
            Outcome::DryRun { results } => {
                let failed = results.iter().filter(|r| !r.ok).count();
                if failed == 0 {
                    format!("dry run: pre-flight passed, {} checks ok", results.len())
                } else {
                    format!(
                        "dry run: {failed} of {} checks failing before the run",
                        results.len()
                    )
                }
            }
            Outcome::Refused { reason } => format!("refused: {reason}"),
            Outcome::RolledBack { reason } => {
                format!("aborted: {reason}; rolled back, traffic is at baseline")
            }
            Outcome::RollbackFailed { reason, left } => {
                format!(
                    "aborted: {reason}; rollback did not complete, left off baseline: {}",
                    left.join(", ")
                )
            }
            Outcome::Paused { reason } => format!("paused: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_what_is_left_off_baseline() {
        let failed = Outcome::RollbackFailed {
            reason: "x".into(),
            left: vec!["a/dns".into()],
        };
        assert!(failed.summary().contains("a/dns"));
        assert_eq!(Outcome::Completed.summary(), "completed");
    }
}
