//! The result of one check evaluation, as the executor, the journal and the report keep it.

use serde::{Deserialize, Serialize};

/// The result of one check evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// The region it was evaluated for (`None` when global).
    pub region: Option<String>,
    /// The service it was evaluated for (`None` unless the check is bound to one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The value read, if any.
    pub value: Option<f64>,
    /// The threshold, rendered (e.g. `<= 250`, `>= 95% of 1234.5`).
    pub threshold: String,
    /// Whether it passed.
    pub ok: bool,
    /// Why it failed (no data, source down, breach).
    pub detail: Option<String>,
}
