//! Built-in guard checks: added to every run's checks unless the playbook opts out
//! (`guards: false`, or per guard). They read the traffic model (`sim` metrics), per
//! destination region:
//! - `guard: utilization`: each moved service stays within its `max_utilization` (plus
//!   [`Guards::UTILIZATION_SLACK`] for weight rounding);
//! - `guard: latency ratio`: the p99/p50 ratio grows at most `latency_ratio` x its value
//!   before the run (the tail outrunning the median is the first sign of queueing);
//! - `guard: error rate`: the error rate rises at most `error_rate` above its value before
//!   the run.

use std::time::Duration;

use crate::model::{Check, CheckSource, Guards, Per, SimMetric, Threshold, Topology};

/// Name of the utilization guard (one check per moved service).
pub const UTILIZATION: &str = "guard: utilization";
/// Name of the latency-ratio guard.
pub const LATENCY_RATIO: &str = "guard: latency ratio";
/// Name of the error-rate guard.
pub const ERROR_RATE: &str = "guard: error rate";

fn guard(name: &str, metric: SimMetric, service: Option<&str>, threshold: Threshold) -> Check {
    Check {
        name: name.to_string(),
        source: CheckSource::Sim { metric },
        service: service.map(str::to_string),
        per: Per::Destination,
        threshold,
        consecutive: 1,
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(10),
    }
}

/// The guard checks of a run moving `services` (those of the topology; others are
/// skipped), in a stable order: region-wide guards first, then one utilization guard per
/// service.
pub fn checks(topology: &Topology, guards: &Guards, services: &[String]) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(ratio) = guards.latency_ratio {
        out.push(guard(
            LATENCY_RATIO,
            SimMetric::LatencyRatio,
            None,
            Threshold {
                max_ratio_to_baseline: Some(ratio),
                ..Threshold::default()
            },
        ));
    }
    if let Some(rise) = guards.error_rate {
        out.push(guard(
            ERROR_RATE,
            SimMetric::ErrorRate,
            None,
            Threshold {
                max_increase: Some(rise),
                ..Threshold::default()
            },
        ));
    }
    if guards.utilization {
        for name in services {
            let Some(service) = topology.services.get(name) else {
                continue;
            };
            let limit = service.max_utilization(topology) * (1.0 + Guards::UTILIZATION_SLACK);
            out.push(guard(
                UTILIZATION,
                SimMetric::Utilization,
                Some(name),
                Threshold {
                    max: Some((limit * 1e6).round() / 1e6),
                    ..Threshold::default()
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::streaming;

    #[test]
    fn every_guard_by_default_none_when_off() {
        let t = streaming();
        let services = vec!["edge-api".to_string(), "nope".to_string()];
        let all = checks(&t, &Guards::default(), &services);
        let names: Vec<_> = all.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [LATENCY_RATIO, ERROR_RATE, UTILIZATION]);
        let util = &all[2];
        assert_eq!(util.service.as_deref(), Some("edge-api"));
        let limit = t.services["edge-api"].max_utilization(&t) * 1.02;
        assert!((util.threshold.max.unwrap() - limit).abs() < 1e-6);
        assert!(checks(&t, &Guards::off(), &services).is_empty());
    }
}
