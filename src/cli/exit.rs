//! Exit codes, in one place. Every command returns a [`Done`] or a [`CliError`]; this module
//! alone maps them to SPEC.md's exit codes (0 done as asked, 2 bad invocation or invalid
//! files, 3 refused before the first change, 4 aborted and rolled back, 5 aborted and the
//! rollback did not complete; 1 for the unexpected).

use crate::exec::Outcome;
use crate::journal::lock::LockError;
use crate::model::Diagnostics;
use crate::plan::PlanError;
use crate::prepare::PrepareError;

/// How a command that did not fail ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// Done as asked.
    Ok,
    /// `kong plan`: the plan was printed, and its pre-flight fails.
    PreflightFails,
    /// `kong plan diff`: the plans differ (exit 1, like `diff`).
    Differ,
    /// A run of the executor (evacuate, restore, resume) ended so.
    Run(Outcome),
    /// `kong rollback RUN` ended so: reaching the baseline is what was asked.
    Rollback(Outcome),
    /// `kong drill`: its phases, in order; the worst decides.
    Drill(Vec<Outcome>),
}

/// A failure, sorted by what the user should make of it.
#[derive(Debug)]
pub enum CliError {
    /// Bad invocation.
    Usage(String),
    /// Invalid topology or playbook.
    Invalid(Diagnostics),
    /// Refused before the first change.
    Refused(String),
    /// Something unexpected.
    Unexpected(anyhow::Error),
}

/// The exit code of a run's outcome.
fn outcome_code(outcome: &Outcome) -> i32 {
    match outcome {
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

impl Done {
    /// The SPEC exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Done::Ok => 0,
            Done::PreflightFails => 3,
            Done::Differ => 1,
            Done::Run(outcome) => outcome_code(outcome),
            Done::Rollback(Outcome::RolledBack { .. }) => 0,
            Done::Rollback(outcome) => outcome_code(outcome),
            Done::Drill(phases) => phases.iter().map(outcome_code).max().unwrap_or(0),
        }
    }
}

impl CliError {
    /// The SPEC exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::Invalid(_) => 2,
            CliError::Refused(_) => 3,
            CliError::Unexpected(_) => 1,
        }
    }
}

/// Reports a failure on stderr and returns the process exit code of a command's result:
/// what `main` calls.
pub fn exit_code(result: &Result<Done, CliError>) -> i32 {
    match result {
        Ok(done) => done.exit_code(),
        Err(err) => {
            eprintln!("{err}");
            err.exit_code()
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "error: {m}"),
            CliError::Invalid(d) => write!(f, "{}", d.to_string().trim_end()),
            CliError::Refused(m) => write!(f, "refused: {m}"),
            CliError::Unexpected(e) => write!(f, "error: {e:#}"),
        }
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Invalid(d)
    }
}

/// A planner refusal: a region the topology lacks, a cycle or a bad schedule is a bad
/// invocation; a topology that cannot be drained is a pre-flight refusal.
impl From<PlanError> for CliError {
    fn from(err: PlanError) -> Self {
        match err {
            PlanError::UnknownRegion { .. }
            | PlanError::Cycle { .. }
            | PlanError::InvalidSchedule { .. } => CliError::Usage(err.to_string()),
            _ => CliError::Refused(err.to_string()),
        }
    }
}

impl From<PrepareError> for CliError {
    fn from(err: PrepareError) -> Self {
        match err {
            PrepareError::Usage(m) => CliError::Usage(m),
            PrepareError::Refused(m) => CliError::Refused(m),
            PrepareError::Plan(e) => e.into(),
        }
    }
}

/// A lock held by another run refuses (exit 3); any other lock failure is unexpected.
impl From<LockError> for CliError {
    fn from(err: LockError) -> Self {
        match err {
            LockError::Held { .. } => CliError::Refused(format!(
                "{err}; wait for it to finish (kong status shows it)"
            )),
            other => CliError::Unexpected(anyhow::anyhow!(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::CheckResult;

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

    fn reason() -> String {
        "x".to_string()
    }

    #[test]
    fn run_outcomes_follow_the_spec() {
        let code = |o: Outcome| Done::Run(o).exit_code();
        assert_eq!(code(Outcome::Completed), 0);
        let dry = |oks: &[bool]| Outcome::DryRun {
            results: oks.iter().map(|ok| result(*ok)).collect(),
        };
        assert_eq!(code(dry(&[true])), 0);
        assert_eq!(code(dry(&[true, false])), 3);
        assert_eq!(code(Outcome::Refused { reason: reason() }), 3);
        assert_eq!(code(Outcome::RolledBack { reason: reason() }), 4);
        let failed = Outcome::RollbackFailed {
            reason: reason(),
            left: vec!["a/dns".into()],
        };
        assert_eq!(code(failed), 5);
        assert_eq!(code(Outcome::Paused { reason: reason() }), 5);
    }

    #[test]
    fn a_requested_rollback_that_reaches_the_baseline_is_done_as_asked() {
        assert_eq!(
            Done::Rollback(Outcome::RolledBack { reason: reason() }).exit_code(),
            0
        );
        let failed = Outcome::RollbackFailed {
            reason: reason(),
            left: vec![],
        };
        assert_eq!(Done::Rollback(failed).exit_code(), 5);
    }

    #[test]
    fn a_drill_exits_with_its_worst_phase() {
        let drill = Done::Drill(vec![
            Outcome::Completed,
            Outcome::RolledBack { reason: reason() },
        ]);
        assert_eq!(drill.exit_code(), 4);
        assert_eq!(Done::Drill(vec![Outcome::Completed]).exit_code(), 0);
    }

    #[test]
    fn errors_follow_the_spec() {
        assert_eq!(CliError::Usage(reason()).exit_code(), 2);
        assert_eq!(CliError::Invalid(Diagnostics(vec![])).exit_code(), 2);
        assert_eq!(CliError::Refused(reason()).exit_code(), 3);
        assert_eq!(CliError::Unexpected(anyhow::anyhow!("boom")).exit_code(), 1);
        assert_eq!(Done::PreflightFails.exit_code(), 3);
        assert_eq!(Done::Ok.exit_code(), 0);
    }
}
