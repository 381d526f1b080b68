//! How a run ended (the CLI's `exit` module gives it its exit code).

use crate::journal::CheckResult;
use crate::model::Abort;

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
        /// Why (its kind), and what to do about it.
        abort: Abort,
    },
    /// Aborted after changes; every touched dial is back at baseline.
    RolledBack {
        /// Why the run aborted.
        abort: Abort,
    },
    /// Aborted, and the rollback did not complete.
    RollbackFailed {
        /// Why the run aborted (its kind) and why the rollback failed.
        abort: Abort,
        /// Dials not at baseline (per read-back, or every touched dial when unreadable).
        left: Vec<String>,
    },
    /// Aborted and held where it is (`on_abort: pause`, or the journal could not be written).
    Paused {
        /// Why (its kind), naming `kong resume RUN` and `kong rollback RUN`.
        abort: Abort,
    },
}

impl Outcome {
    /// Why the run stopped, unless it completed (or was a dry run).
    pub fn abort(&self) -> Option<&Abort> {
        match self {
            Outcome::Completed | Outcome::DryRun { .. } => None,
            Outcome::Refused { abort }
            | Outcome::RolledBack { abort }
            | Outcome::RollbackFailed { abort, .. }
            | Outcome::Paused { abort } => Some(abort),
        }
    }

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
            Outcome::Refused { abort } => format!("refused ({}): {abort}", abort.kind),
            Outcome::RolledBack { abort } => {
                format!(
                    "aborted ({}): {abort}; rolled back, traffic is at baseline",
                    abort.kind
                )
            }
            Outcome::RollbackFailed { abort, left } => {
                format!(
                    "aborted ({}): {abort}; rollback did not complete, left off baseline: {}",
                    abort.kind,
                    left.join(", ")
                )
            }
            Outcome::Paused { abort } => format!("paused ({}): {abort}", abort.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AbortKind;

    #[test]
    fn the_summary_names_what_is_left_off_baseline_and_the_kind() {
        let failed = Outcome::RollbackFailed {
            abort: Abort::new(AbortKind::CheckFailed, "x"),
            left: vec!["a/dns".into()],
        };
        assert_eq!(
            failed.summary(),
            "aborted (check failed): x; rollback did not complete, left off baseline: a/dns"
        );
        assert_eq!(failed.abort().map(|a| a.kind), Some(AbortKind::CheckFailed));
        assert_eq!(Outcome::Completed.summary(), "completed");
        assert_eq!(Outcome::Completed.abort(), None);
    }
}
