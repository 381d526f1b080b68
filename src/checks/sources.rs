//! The registry of metric sources: one [`MetricSource`] that sends each check to the source
//! its `source:` names. Adding a source (Prometheus, CloudWatch) touches this file and the
//! source's own module, nothing in the executor.

use std::path::Path;

use async_trait::async_trait;

use crate::backend::aws::AwsSettings;
use crate::model::{Check, CheckSource, Topology};

use super::cloudwatch::CloudWatch;

use super::sim::{SimSource, source_name};
use super::{MetricSource, Scope, SourceError};

/// Every metric source a run can read, dispatched by each check's `source:`.
#[derive(Clone)]
pub struct Sources {
    sim: SimSource,
    cloudwatch: CloudWatch,
}

impl Sources {
    /// The sources of `topology`: the simulator's world in `state_dir` for `sim` checks,
    /// CloudWatch reached with `aws` (whatever the traffic backend). Prometheus is not
    /// available in this build: its checks get no data, and so fail.
    pub fn for_topology(
        topology: &Topology,
        state_dir: &Path,
        aws: &AwsSettings,
    ) -> Result<Sources, SourceError> {
        Ok(Sources {
            sim: SimSource::from_state_dir(topology, state_dir),
            cloudwatch: CloudWatch::for_topology(topology, aws),
        })
    }

    /// Sources reading `sim` checks from `sim` (e.g. over an in-memory backend in tests).
    pub fn with_sim(sim: SimSource) -> Sources {
        Sources {
            sim,
            cloudwatch: CloudWatch::undeclared(),
        }
    }
}

#[async_trait]
impl MetricSource for Sources {
    async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError> {
        match &check.source {
            CheckSource::Sim { .. } => self.sim.fetch(check, scope).await,
            CheckSource::Cloudwatch { .. } => self.cloudwatch.fetch(check, scope).await,
            other => Err(SourceError(format!(
                "check `{}`: the {} source is not available in this build",
                check.name,
                source_name(other)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backend::sim::testing::streaming;
    use crate::model::{Per, SimMetric, Threshold};

    fn check(source: CheckSource) -> Check {
        Check {
            name: "c".to_string(),
            source,
            service: None,
            per: Per::Global,
            threshold: Threshold {
                max: Some(1.0),
                ..Threshold::default()
            },
            consecutive: 1,
            interval: Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn dispatches_sim_checks_and_refuses_unavailable_sources() {
        let dir = tempfile::tempdir().unwrap();
        let sources =
            Sources::for_topology(&streaming(), dir.path(), &AwsSettings::default()).unwrap();
        let sim = check(CheckSource::Sim {
            metric: SimMetric::Utilization,
        });
        let u = sources
            .fetch(&sim, &Scope::region(Some("us-east-1")))
            .await
            .unwrap();
        assert!(u > 0.0 && u < 1.0, "{u}");
        let prometheus = check(CheckSource::Prometheus {
            query: "up".to_string(),
        });
        let err = sources
            .fetch(&prometheus, &Scope::default())
            .await
            .unwrap_err();
        assert!(err.0.contains("prometheus"), "{err}");
    }
}
