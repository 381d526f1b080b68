//! The simulator's traffic model: from dial weights to the metrics `sim` checks read.
//!
//! Pure functions, no I/O and no clock: the same weights always give the same metrics.
//!
//! Per service and region, the region serves `served_share * service.total_load()` requests/s
//! and its utilization is that over the region's capacity (a region with no capacity that
//! receives traffic counts as [`NO_CAPACITY_UTILIZATION`]). Error rate and latency are flat up
//! to [`KNEE`] and then grow like a queue, in `1/(1-u)`: at u = 0.85 the p99 is about 320 ms
//! and 1.8% of requests fail, so an overloaded destination fails the checks a real one would.
//! Past u = 1 the region sheds what it cannot serve: the error rate climbs toward 1.
//!
//! Region totals (a `sim` check without `service:`): requests/s summed over services;
//! utilization = served load over capacity, both summed over the services of the region;
//! error rate and latencies are the requests/s-weighted mean over services (what a
//! region-wide load balancer would report), the plain mean when the region serves nothing.
//! Global values (no region): requests/s summed over regions; every other metric is the
//! worst (largest) region, so one overloaded region fails a global check.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Region, SimMetric, Topology, Weights};
use crate::plan::served_shares;

/// Utilization below which error rate and latency stay at their base values.
pub const KNEE: f64 = 0.7;
/// Utilization at which the queueing term stops growing, so latencies stay finite.
pub const SATURATION: f64 = 0.99;
/// Utilization reported for a region with no capacity that receives traffic.
pub const NO_CAPACITY_UTILIZATION: f64 = 10.0;
/// Median latency of a healthy region.
pub const BASE_P50_MS: f64 = 40.0;
/// 99th percentile latency of a healthy region.
pub const BASE_P99_MS: f64 = 120.0;
/// Error rate of a healthy region.
pub const BASE_ERROR_RATE: f64 = 0.001;

/// The p99 latency grows by this fraction of its base per unit of queueing pressure.
const LATENCY_SLOPE: f64 = 0.5;
/// The median grows more slowly than the tail: queueing shows first in the p99, so the
/// p99/p50 ratio rises past the knee (what the latency-ratio guard watches).
const P50_LATENCY_SLOPE: f64 = 0.2;
/// Error rate grows by this much per unit of queueing pressure.
const ERROR_SLOPE: f64 = 0.005;

/// The five metrics of one service in one region (or of a region's total).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricValues {
    /// Requests per second served.
    pub requests_per_second: f64,
    /// Served load over capacity.
    pub utilization: f64,
    /// Fraction of requests failing, in [0, 1].
    pub error_rate: f64,
    /// Median latency in milliseconds.
    pub p50_latency_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_latency_ms: f64,
}

impl MetricValues {
    /// The value of one metric.
    pub fn get(&self, metric: SimMetric) -> f64 {
        match metric {
            SimMetric::RequestsPerSecond => self.requests_per_second,
            SimMetric::Utilization => self.utilization,
            SimMetric::ErrorRate => self.error_rate,
            SimMetric::P50LatencyMs => self.p50_latency_ms,
            SimMetric::P99LatencyMs => self.p99_latency_ms,
            SimMetric::LatencyRatio => self.p99_latency_ms / self.p50_latency_ms,
        }
    }

    /// Metrics of a region serving `rps` requests/s with `capacity` requests/s at 100%.
    pub fn at_load(rps: f64, capacity: f64) -> MetricValues {
        let u = utilization(rps, capacity);
        MetricValues {
            requests_per_second: rps,
            utilization: u,
            error_rate: error_rate(u),
            p50_latency_ms: p50_latency_ms(u),
            p99_latency_ms: p99_latency_ms(u),
        }
    }
}

/// Every metric of every service in every region, and per-region totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimMetrics {
    /// Service -> region -> metrics. Lists every region the service has capacity in or
    /// that one of its dial members serves.
    pub services: BTreeMap<String, BTreeMap<Region, MetricValues>>,
    /// Region -> totals over the services present there (every topology region is listed).
    pub regions: BTreeMap<Region, MetricValues>,
}

impl SimMetrics {
    /// The value a `sim` check reads: of `service` (or the region total when `None`), in
    /// `region` (or globally when `None`; see the module docs for how regions combine).
    ///
    /// A known service with nothing in a known region reads as idle (0 requests/s, base
    /// error rate and latency). An unknown service or region is an error.
    pub fn value(
        &self,
        service: Option<&str>,
        region: Option<&str>,
        metric: SimMetric,
    ) -> Result<f64, String> {
        let per_region: &BTreeMap<Region, MetricValues> = match service {
            Some(name) => self
                .services
                .get(name)
                .ok_or_else(|| format!("the topology has no service `{name}`"))?,
            None => &self.regions,
        };
        match region {
            Some(r) => {
                if let Some(values) = per_region.get(r) {
                    Ok(values.get(metric))
                } else if self.regions.contains_key(r) {
                    Ok(MetricValues::at_load(0.0, 0.0).get(metric))
                } else {
                    Err(format!("the topology has no region `{r}`"))
                }
            }
            None => {
                let values = per_region.values().map(|v| v.get(metric));
                Ok(match metric {
                    SimMetric::RequestsPerSecond => values.sum(),
                    _ => values.fold(MetricValues::at_load(0.0, 0.0).get(metric), f64::max),
                })
            }
        }
    }
}

/// Computes every metric from the topology and the current weights.
pub fn metrics(topology: &Topology, weights: &Weights) -> SimMetrics {
    let services = topology
        .services
        .iter()
        .map(|(name, service)| (name.clone(), service_metrics(topology, service, weights)))
        .collect();
    let regions = region_totals(topology, &services);
    SimMetrics { services, regions }
}

impl SimMetrics {
    /// Brings the metrics up to date after a change of `weights` that only touched dials of
    /// `changed` (service names): those services are computed again, and the region totals.
    /// Gives exactly what [`metrics`] gives for the new weights.
    pub fn update<'a>(
        &mut self,
        topology: &Topology,
        weights: &Weights,
        changed: impl IntoIterator<Item = &'a str>,
    ) {
        for name in changed {
            if let Some(service) = topology.services.get(name) {
                self.services.insert(
                    name.to_string(),
                    service_metrics(topology, service, weights),
                );
            }
        }
        self.regions = region_totals(topology, &self.services);
    }
}

/// The metrics of one service in every region it is served in.
fn service_metrics(
    topology: &Topology,
    service: &crate::model::Service,
    weights: &Weights,
) -> BTreeMap<Region, MetricValues> {
    let total = service.total_load();
    served_shares(topology, service, weights)
        .into_iter()
        .map(|(region, share)| {
            let capacity = service.capacity.get(&region).copied().unwrap_or(0.0);
            (region, MetricValues::at_load(share * total, capacity))
        })
        .collect()
}

/// Every region's totals over the services present there (every topology region listed).
fn region_totals(
    topology: &Topology,
    services: &BTreeMap<String, BTreeMap<Region, MetricValues>>,
) -> BTreeMap<Region, MetricValues> {
    // Region -> (rps, capacity, [metrics]) accumulated over services.
    let mut acc: BTreeMap<&str, (f64, f64, Vec<MetricValues>)> = topology
        .regions
        .iter()
        .map(|r| (r.as_str(), (0.0, 0.0, Vec::new())))
        .collect();
    // Both maps are keyed by service name, in the same order: walk them together instead
    // of looking each service up (10,000 lookups per evaluation round otherwise).
    let mut declared = topology.services.iter().peekable();
    for (name, per_region) in services {
        while declared
            .next_if(|(n, _)| n.as_str() < name.as_str())
            .is_some()
        {}
        let capacities = declared
            .next_if(|(n, _)| *n == name)
            .map(|(_, s)| &s.capacity);
        for (region, values) in per_region {
            let capacity = capacities
                .and_then(|c| c.get(region))
                .copied()
                .unwrap_or(0.0);
            let entry = acc.entry(region.as_str()).or_default();
            entry.0 += values.requests_per_second;
            entry.1 += capacity;
            entry.2.push(*values);
        }
    }
    acc.into_iter()
        .map(|(region, (rps, capacity, parts))| {
            (region.to_string(), region_total(rps, capacity, &parts))
        })
        .collect()
}

/// Totals of one region from its services' metrics.
fn region_total(rps: f64, capacity: f64, parts: &[MetricValues]) -> MetricValues {
    let idle = MetricValues::at_load(0.0, 0.0);
    if parts.is_empty() {
        return MetricValues {
            utilization: utilization(rps, capacity),
            ..idle
        };
    }
    let weight_sum: f64 = parts.iter().map(|p| p.requests_per_second).sum();
    let mean = |f: fn(&MetricValues) -> f64| -> f64 {
        if weight_sum > 0.0 {
            parts
                .iter()
                .map(|p| p.requests_per_second * f(p))
                .sum::<f64>()
                / weight_sum
        } else {
            parts.iter().map(f).sum::<f64>() / parts.len() as f64
        }
    };
    MetricValues {
        requests_per_second: rps,
        utilization: utilization(rps, capacity),
        error_rate: mean(|p| p.error_rate),
        p50_latency_ms: mean(|p| p.p50_latency_ms),
        p99_latency_ms: mean(|p| p.p99_latency_ms),
    }
}

/// Served load over capacity; [`NO_CAPACITY_UTILIZATION`] when traffic meets no capacity.
pub fn utilization(rps: f64, capacity: f64) -> f64 {
    if rps <= 0.0 {
        0.0
    } else if capacity <= 0.0 {
        NO_CAPACITY_UTILIZATION
    } else {
        rps / capacity
    }
}

/// Queueing pressure: 0 up to the knee, then `1/(1-u) - 1/(1-knee)`, capped at saturation.
fn pressure(u: f64) -> f64 {
    if u <= KNEE {
        return 0.0;
    }
    let u = u.min(SATURATION);
    1.0 / (1.0 - u) - 1.0 / (1.0 - KNEE)
}

/// Median latency at utilization `u`.
pub fn p50_latency_ms(u: f64) -> f64 {
    BASE_P50_MS * (1.0 + P50_LATENCY_SLOPE * pressure(u))
}

/// 99th percentile latency at utilization `u`.
pub fn p99_latency_ms(u: f64) -> f64 {
    BASE_P99_MS * (1.0 + LATENCY_SLOPE * pressure(u))
}

/// Fraction of requests failing at utilization `u`.
///
/// Queueing errors (timeouts) grow past the knee; past u = 1 the region also sheds the
/// `1 - 1/u` of requests it has no capacity for.
pub fn error_rate(u: f64) -> f64 {
    let queueing = (BASE_ERROR_RATE + ERROR_SLOPE * pressure(u)).min(1.0);
    if u <= 1.0 {
        queueing
    } else {
        queueing + (1.0 - queueing) * (1.0 - 1.0 / u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::initial_weights;
    use crate::testing::{streaming, topology_with};

    #[test]
    fn updating_the_changed_services_gives_the_metrics_of_the_new_weights() {
        let topology = streaming();
        let mut weights = initial_weights(&topology);
        let mut model = metrics(&topology, &weights);
        let dns = weights.get_mut("edge-api/dns").unwrap();
        dns.insert("use1".into(), 0);
        model.update(&topology, &weights, ["edge-api"]);
        assert_eq!(model, metrics(&topology, &weights));
    }

    fn grid() -> Vec<f64> {
        (0..=1200).map(|i| f64::from(i) / 100.0).collect()
    }

    #[test]
    fn metrics_are_monotonic_in_utilization() {
        let us = grid();
        for pair in us.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(p50_latency_ms(a) <= p50_latency_ms(b), "p50 at {a} vs {b}");
            assert!(p99_latency_ms(a) <= p99_latency_ms(b), "p99 at {a} vs {b}");
            assert!(error_rate(a) <= error_rate(b), "error rate at {a} vs {b}");
        }
        for u in us {
            assert!(p99_latency_ms(u).is_finite());
            assert!((0.0..=1.0).contains(&error_rate(u)));
        }
    }

    #[test]
    fn metrics_are_flat_below_the_knee() {
        for u in [0.0, 0.2, 0.5, 0.6, 0.7] {
            assert_eq!(p99_latency_ms(u), 120.0);
            assert_eq!(p50_latency_ms(u), 40.0);
            assert_eq!(error_rate(u), 0.001);
        }
    }

    #[test]
    fn overload_fails_typical_thresholds() {
        assert!(p99_latency_ms(0.85) > 300.0, "{}", p99_latency_ms(0.85));
        assert!(error_rate(0.85) > 0.01, "{}", error_rate(0.85));
        // A destination filled to a typical max_utilization of 0.75 still passes them.
        assert!(p99_latency_ms(0.75) < 250.0);
        assert!(error_rate(0.75) < 0.01);
        // Past capacity, errors climb toward 1.
        assert!(error_rate(2.0) > 0.5);
        assert!(error_rate(NO_CAPACITY_UTILIZATION) > 0.9);
    }

    #[test]
    fn utilization_handles_missing_capacity() {
        assert_eq!(utilization(0.0, 0.0), 0.0);
        assert_eq!(utilization(10.0, 0.0), NO_CAPACITY_UTILIZATION);
        assert_eq!(utilization(50.0, 100.0), 0.5);
    }

    #[test]
    fn initial_world_serves_declared_load() {
        let topology = streaming();
        let m = metrics(&topology, &initial_weights(&topology));
        let edge = &m.services["edge-api"];
        assert!((edge["us-east-1"].requests_per_second - 5000.0).abs() < 1e-6);
        assert!((edge["us-west-2"].requests_per_second - 3000.0).abs() < 1e-6);
        assert!((edge["us-east-1"].utilization - 5000.0 / 12000.0).abs() < 1e-9);
        assert_eq!(edge["us-east-1"].p99_latency_ms, BASE_P99_MS);
    }

    #[test]
    fn region_totals_sum_rps_and_capacity_and_weight_by_rps() {
        let topology = topology_with(vec![
            ("big", vec![("a", 1000.0, 800.0)]),
            ("small", vec![("a", 100.0, 90.0)]),
        ]);
        let m = metrics(&topology, &initial_weights(&topology));
        let total = m.regions["a"];
        assert!((total.requests_per_second - 890.0).abs() < 1e-9);
        assert!((total.utilization - 890.0 / 1100.0).abs() < 1e-9);
        let big = m.services["big"]["a"];
        let small = m.services["small"]["a"];
        let expected = (800.0 * big.p99_latency_ms + 90.0 * small.p99_latency_ms) / 890.0;
        assert!((total.p99_latency_ms - expected).abs() < 1e-9);
        assert!(total.p99_latency_ms > big.p99_latency_ms);
        assert!(total.p99_latency_ms < small.p99_latency_ms);
    }

    #[test]
    fn value_reads_service_region_and_global() {
        let topology = streaming();
        let m = metrics(&topology, &initial_weights(&topology));
        let rps = SimMetric::RequestsPerSecond;
        assert_eq!(
            m.value(Some("edge-api"), Some("us-east-1"), rps),
            Ok(m.services["edge-api"]["us-east-1"].requests_per_second)
        );
        let global = m.value(Some("edge-api"), None, rps).unwrap();
        assert!((global - 10000.0).abs() < 1e-6);
        let all = m.value(None, None, rps).unwrap();
        let declared: f64 = topology.services.values().map(|s| s.total_load()).sum();
        assert!((all - declared).abs() < 1e-6);
        let worst = m.value(None, None, SimMetric::Utilization).unwrap();
        let max = m
            .regions
            .values()
            .map(|v| v.utilization)
            .fold(0.0, f64::max);
        assert_eq!(worst, max);
        assert!(m.value(Some("nope"), None, rps).is_err());
        assert!(m.value(None, Some("mars-1"), rps).is_err());
    }
}
