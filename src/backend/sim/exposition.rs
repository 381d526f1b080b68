//! The simulator's metrics in the Prometheus text exposition format (what `kong sim serve`
//! answers on `GET /metrics`).
//!
//! A pure function of [`SimMetrics`]: for every metric of [`SimMetric::ALL`], a gauge
//! `kong_sim_<metric>` with one sample per service and region
//! (`{service="...",region="..."}`) and one per region total (`{region="..."}`, no `service`
//! label: the same totals a `sim` check without `service:` reads).

use std::fmt::Write;

use crate::model::SimMetric;

use super::traffic::SimMetrics;

/// The prefix of every metric name.
pub const PREFIX: &str = "kong_sim_";

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric, in a stable order.
pub fn render(metrics: &SimMetrics) -> String {
    let mut out = String::new();
    for metric in SimMetric::ALL {
        let name = format!("{PREFIX}{}", metric.name());
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {} (kong simulator)", help(metric));
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (service, regions) in &metrics.services {
            for (region, values) in regions {
                let _ = writeln!(
                    out,
                    "{name}{{service=\"{}\",region=\"{}\"}} {}",
                    escape(service),
                    escape(region),
                    number(values.get(metric))
                );
            }
        }
        for (region, values) in &metrics.regions {
            let _ = writeln!(
                out,
                "{name}{{region=\"{}\"}} {}",
                escape(region),
                number(values.get(metric))
            );
        }
    }
    out
}

fn help(metric: SimMetric) -> &'static str {
    match metric {
        SimMetric::RequestsPerSecond => "Requests per second served",
        SimMetric::Utilization => "Served load over capacity",
        SimMetric::ErrorRate => "Fraction of requests failing",
        SimMetric::P50LatencyMs => "Median latency in milliseconds",
        SimMetric::P99LatencyMs => "99th percentile latency in milliseconds",
        SimMetric::LatencyRatio => "p99 over p50 latency",
    }
}

/// A sample value as the format spells it (`NaN`, `+Inf`, `-Inf` for the non-finite).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        v.to_string()
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{SimWorld, traffic};
    use crate::testing::streaming;

    #[test]
    fn renders_every_metric_per_service_and_region_and_region_totals() {
        let topology = streaming();
        let metrics = traffic::metrics(&topology, &SimWorld::initial(&topology).weights);
        let text = render(&metrics);
        for metric in SimMetric::ALL {
            assert!(
                text.contains(&format!("# TYPE kong_sim_{} gauge\n", metric.name())),
                "{text}"
            );
        }
        let rps = metrics.services["edge-api"]["us-east-1"].requests_per_second;
        assert!(
            text.contains(&format!(
                "kong_sim_requests_per_second{{service=\"edge-api\",region=\"us-east-1\"}} {rps}\n"
            )),
            "{text}"
        );
        let total = metrics.regions["us-east-1"].utilization;
        assert!(
            text.contains(&format!(
                "kong_sim_utilization{{region=\"us-east-1\"}} {total}\n"
            )),
            "{text}"
        );
        // Every sample line is `name{labels} number`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn escapes_label_values_and_spells_non_finite_numbers() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(5000.0), "5000");
    }
}
