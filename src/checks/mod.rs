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

pub use evaluate::{evaluate, render_threshold};
pub use prometheus::Prometheus;
pub use result::CheckResult;
pub use sim::SimSource;
pub use sources::Sources;

/// Why a value could not be fetched.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// What one evaluation of a check is bound to: `{{region}}` and `{{service}}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The destination region (`None`: global).
    pub region: Option<&'a str>,
    /// The service (`None`: the check is not about one service).
    pub service: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// Bound to `region` only.
    pub fn region(region: Option<&'a str>) -> Scope<'a> {
        Scope {
            region,
            service: None,
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
                    return Err(SourceError(format!(
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
