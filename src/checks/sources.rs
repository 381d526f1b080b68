//! The registry of metric sources: one [`MetricSource`] that sends each check to the source
//! its `source:` names. Adding a source (Prometheus, CloudWatch) touches this file and the
//! source's own module, nothing in the executor.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::aws::AwsSettings;
use crate::model::{Check, CheckSource, Topology};

use super::cloudwatch::CloudWatch;
use super::prometheus::Prometheus;
use super::sim::SimSource;
use super::{MetricSource, Scope, SourceError};

/// Every metric source a run can read, dispatched by each check's `source:`.
#[derive(Clone)]
pub struct Sources {
    sim: SimSource,
    /// The topology's `metrics.prometheus` server, if it declares one.
    prometheus: Option<Prometheus>,
    cloudwatch: CloudWatch,
}

impl Sources {
    /// The sources of `topology`: the simulator's world in `state_dir` for `sim` checks, the
    /// topology's `metrics.prometheus` server for `prometheus` checks, CloudWatch reached
    /// with `aws` (whatever the traffic backend) for `cloudwatch` checks. The topology is
    /// shared with the `sim` source, not copied.
    pub fn for_topology(
        topology: &Arc<Topology>,
        state_dir: &Path,
        aws: &AwsSettings,
    ) -> Result<Sources, SourceError> {
        let prometheus = match &topology.metrics.prometheus {
            Some(p) => Some(Prometheus::new(&p.url)?),
            None => None,
        };
        Ok(Sources {
            sim: SimSource::from_state_dir(topology.clone(), state_dir),
            prometheus,
            cloudwatch: CloudWatch::for_topology(topology, aws),
        })
    }

    /// These sources with `sim` checks (and the built-in guards) reading `sim` instead.
    pub fn replace_sim(mut self, sim: SimSource) -> Sources {
        self.sim = sim;
        self
    }

    /// Sources reading `sim` checks from `sim` (e.g. over an in-memory backend in tests).
    pub fn with_sim(sim: SimSource) -> Sources {
        Sources {
            sim,
            prometheus: None,
            cloudwatch: CloudWatch::undeclared(),
        }
    }
}

#[async_trait]
impl MetricSource for Sources {
    async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError> {
        match &check.source {
            CheckSource::Sim { .. } => self.sim.fetch(check, scope).await,
            CheckSource::Prometheus { .. } => match &self.prometheus {
                Some(prometheus) => prometheus.fetch(check, scope).await,
                // The playbook loader refuses this when it has the topology; a check reaching
                // here anyway gets no data.
                None => Err(SourceError::new(format!(
                    "check `{}`: the topology declares no Prometheus server (set `metrics.prometheus.url`)",
                    check.name
                ))),
            },
            CheckSource::Cloudwatch { .. } => self.cloudwatch.fetch(check, scope).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{Per, SimMetric, Threshold};
    use crate::testing::streaming;

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
    async fn dispatches_sim_checks_and_refuses_prometheus_without_a_server() {
        let dir = tempfile::tempdir().unwrap();
        let sources =
            Sources::for_topology(&Arc::new(streaming()), dir.path(), &AwsSettings::default())
                .unwrap();
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
        assert!(err.message.contains("metrics.prometheus.url"), "{err}");
    }
}
