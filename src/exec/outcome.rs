//! How a run ended, and the exit code SPEC.md gives it.

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
    /// The process exit code (SPEC.md, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Completed => 0,
            Outcome::DryRun { results } => {
                if results.iter().all(|r| r.ok) {
                    0
                } else {
                    3
                }
            }
            Outcome::Refused { .. } => 3,
            Outcome::RolledBack { .. } => 4,
            Outcome::RollbackFailed { .. } | Outcome::Paused { .. } => 5,
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

    fn result(ok: bool) -> CheckResult {
        CheckResult {
            name: "c".into(),
            region: None,
            service: None,
            value: Some(1.0),
            threshold: "<= 1".into(),
            ok,
            detail: None,
        }
    }

    #[test]
    fn exit_codes_follow_the_spec() {
        assert_eq!(Outcome::Completed.exit_code(), 0);
        assert_eq!(
            Outcome::DryRun {
                results: vec![result(true)]
            }
            .exit_code(),
            0
        );
        assert_eq!(
            Outcome::DryRun {
                results: vec![result(true), result(false)]
            }
            .exit_code(),
            3
        );
        assert_eq!(Outcome::Refused { reason: "x".into() }.exit_code(), 3);
        assert_eq!(Outcome::RolledBack { reason: "x".into() }.exit_code(), 4);
        let failed = Outcome::RollbackFailed {
            reason: "x".into(),
            left: vec!["a/dns".into()],
        };
        assert_eq!(failed.exit_code(), 5);
        assert!(failed.summary().contains("a/dns"));
        assert_eq!(Outcome::Paused { reason: "x".into() }.exit_code(), 5);
    }
}
