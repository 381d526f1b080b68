//! Why a run stopped: an [`AbortKind`] and its message, shared by the executor (which
//! decides it), the journal (which records it) and the report and spans (which count it).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of cause stopped a run. The exit code does not depend on it (it depends on
/// what was changed and undone); the journal, the report and the spans name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortKind {
    /// A check failed: after a step, or the steady state before the run.
    CheckFailed,
    /// A provider call kept failing transiently until the retry policy gave up.
    RetriesExhausted,
    /// A provider call failed permanently (not retried).
    Provider,
    /// A dial did not hold what the run expected (something else moved it).
    Drift,
    /// The playbook's deadline passed.
    Deadline,
    /// An approval gate was denied, or could not be asked.
    GateDenied,
    /// Ctrl-C.
    Interrupted,
    /// The journal could not be written (the run stops where it is).
    Journal,
    /// Not enough capacity: the pre-flight capacity rows, or a pre-scale that cannot be made.
    Capacity,
    /// The plan or the run does not allow it (inconsistent plan, nothing to resume).
    Invalid,
    /// The operator asked for the rollback (`kong rollback RUN`).
    Requested,
}

impl AbortKind {
    /// Every kind, in declaration order.
    pub const ALL: [AbortKind; 11] = [
        AbortKind::CheckFailed,
        AbortKind::RetriesExhausted,
        AbortKind::Provider,
        AbortKind::Drift,
        AbortKind::Deadline,
        AbortKind::GateDenied,
        AbortKind::Interrupted,
        AbortKind::Journal,
        AbortKind::Capacity,
        AbortKind::Invalid,
        AbortKind::Requested,
    ];

    /// The serialized name (`check_failed`), as in the journal and the spans.
    pub fn as_str(self) -> &'static str {
        match self {
            AbortKind::CheckFailed => "check_failed",
            AbortKind::RetriesExhausted => "retries_exhausted",
            AbortKind::Provider => "provider",
            AbortKind::Drift => "drift",
            AbortKind::Deadline => "deadline",
            AbortKind::GateDenied => "gate_denied",
            AbortKind::Interrupted => "interrupted",
            AbortKind::Journal => "journal",
            AbortKind::Capacity => "capacity",
            AbortKind::Invalid => "invalid",
            AbortKind::Requested => "requested",
        }
    }

    /// Words for people (`check failed`).
    pub fn label(self) -> &'static str {
        match self {
            AbortKind::CheckFailed => "check failed",
            AbortKind::RetriesExhausted => "retries exhausted",
            AbortKind::Provider => "provider error",
            AbortKind::Drift => "drift",
            AbortKind::Deadline => "deadline",
            AbortKind::GateDenied => "gate denied",
            AbortKind::Interrupted => "interrupted",
            AbortKind::Journal => "journal",
            AbortKind::Capacity => "capacity",
            AbortKind::Invalid => "invalid",
            AbortKind::Requested => "rollback requested",
        }
    }
}

impl fmt::Display for AbortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a run stopped: its kind and the message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    /// What kind of cause.
    pub kind: AbortKind,
    /// What happened, and what to do about it.
    pub message: String,
}

impl Abort {
    /// An abort of `kind`.
    pub fn new(kind: AbortKind, message: impl Into<String>) -> Abort {
        Abort {
            kind,
            message: message.into(),
        }
    }

    /// The same kind, the message prefixed: `prefix: message`.
    #[must_use]
    pub fn context(self, prefix: impl fmt::Display) -> Abort {
        Abort {
            kind: self.kind,
            message: format!("{prefix}: {}", self.message),
        }
    }

    /// The same kind, the message rewritten.
    #[must_use]
    pub fn map(self, f: impl FnOnce(String) -> String) -> Abort {
        Abort {
            kind: self.kind,
            message: f(self.message),
        }
    }
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serialized_name_is_the_one_serde_writes() {
        for kind in AbortKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<AbortKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn context_keeps_the_kind() {
        let abort = Abort::new(AbortKind::Drift, "dial a/dns moved").context("step group 1");
        assert_eq!(abort.kind, AbortKind::Drift);
        assert_eq!(abort.to_string(), "step group 1: dial a/dns moved");
    }
}
