//! Metric sources and checks: the steady-state hypothesis.
//!
//! Sources only fetch a number ([`MetricSource`]); whether it passes is a pure predicate
//! over samples ([`evaluate`]). No data is never a pass.

mod evaluate;
pub mod sim;
mod sources;

use async_trait::async_trait;

use crate::model::Check;

pub use evaluate::{evaluate, render_threshold};
pub use sim::SimSource;
pub use sources::Sources;

/// Why a value could not be fetched.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Where a check's value is read: the simulator, Prometheus, CloudWatch.
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// Reads the current value of `check` for `region` (`None`: global). An empty result,
    /// NaN or an unreachable source is an error, never a default value.
    async fn fetch(&self, check: &Check, region: Option<&str>) -> Result<f64, SourceError>;
}
