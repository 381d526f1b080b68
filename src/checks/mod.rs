//! Metric sources and checks: the steady-state hypothesis.
//!
//! Sources only fetch a number ([`MetricSource`]); whether it passes is a pure predicate
//! over samples ([`evaluate`]). No data is never a pass.

pub mod cloudwatch;
mod evaluate;
pub mod guards;
pub mod prometheus;
mod result;
pub mod sim;
mod sources;

use async_trait::async_trait;

use crate::model::Check;

pub use evaluate::{evaluate, num, render_threshold};
pub use prometheus::Prometheus;
pub use result::CheckResult;
pub use sim::SimSource;
pub use sources::Sources;

/// Why a value could not be fetched.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What failed, naming the check, the query and the source.
    pub message: String,
    /// Whether another try may answer: the source was unreachable, timed out, answered 5xx
    /// or throttled. A query error or an empty result is permanent.
    pub transient: bool,
}

impl SourceError {
    /// A failure another try would repeat.
    pub fn new(message: impl Into<String>) -> SourceError {
        SourceError {
            message: message.into(),
            transient: false,
        }
    }

    /// A failure another try may not repeat.
    pub fn transient(message: impl Into<String>) -> SourceError {
        SourceError {
            message: message.into(),
            transient: true,
        }
    }
}

impl crate::retry::Transient for SourceError {
    fn is_transient(&self) -> bool {
        self.transient
    }
}

/// What one evaluation of a check is bound to: `{{region}}` and `{{service}}`, and the
/// instant its round of evaluations was asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The destination region (`None`: global).
    pub region: Option<&'a str>,
    /// The service (`None`: the check is not about one service).
    pub service: Option<&'a str>,
    /// When the round this evaluation belongs to was asked for (`None`: when the fetch
    /// starts). A source that shares one read between fetches serves a fetch only from a
    /// read started at or after it, so every check of a round can share the round's first
    /// read and none sees weights older than the round.
    pub asked: Option<std::time::Instant>,
}

impl<'a> Scope<'a> {
    /// Bound to `region` only.
    pub fn region(region: Option<&'a str>) -> Scope<'a> {
        Scope {
            region,
            service: None,
            asked: None,
        }
    }

    /// Bound to `region` and `service`, in the round asked for at `asked`.
    pub fn of(
        region: Option<&'a str>,
        service: Option<&'a str>,
        asked: std::time::Instant,
    ) -> Scope<'a> {
        Scope {
            region,
            service,
            asked: Some(asked),
        }
    }

    /// Replaces `{{region}}` and `{{service}}` in `text`. A placeholder this scope does not
    /// bind is an error: a query about "no region" must not silently read every region.
    pub fn render(&self, text: &str) -> Result<String, SourceError> {
        let mut out = text.to_string();
        for (placeholder, value, why) in [
            (
                "{{region}}",
                self.region,
                "it is global (use `per: destination`)",
            ),
            (
                "{{service}}",
                self.service,
                "no service is bound (set `service:`)",
            ),
        ] {
            if out.contains(placeholder) {
                let Some(value) = value else {
                    return Err(SourceError::new(format!(
                        "`{placeholder}` cannot be filled in: {why}"
                    )));
                };
                out = out.replace(placeholder, value);
            }
        }
        Ok(out)
    }
}

/// Where a check's value is read: the simulator, Prometheus, CloudWatch.
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// Reads the current value of `check` for `scope`. An empty result, NaN, a timeout or an
    /// unreachable source is an error, never a default value.
    async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError>;
}
