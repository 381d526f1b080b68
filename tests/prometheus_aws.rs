//! Drills on moto + the simulator + a real Prometheus: Route 53 weighted records on moto,
//! `kong sim serve --backend aws` computing the simulator's metrics from those records on
//! every scrape, Prometheus scraping it every second, and `kong drill --backend aws` checking
//! Prometheus after every step. A healthy drill moves traffic and brings it back (exit 0); an
//! overloading one aborts and rolls back to the exact original records (exit 4).

pub mod support {
    pub mod fleet;
    pub mod kong;
    pub mod moto;
    pub mod prometheus;
}

use serde_json::Value;
use support::fleet::{Fleet, Spec};
use support::kong::Kong;
use support::moto::moto;
use support::prometheus::{Prometheus, SimServe, free_port};

/// One hosted zone, one service `svc00` with one weighted record set (weights 100/60/40;
/// load 100/60/40 req/s; capacity 400 per region: evacuating us-east-1 keeps the others
/// near 25% utilization).
const ONE_RECORD: Spec = Spec {
    zones: 1,
    services: 1,
    per_wave: 1,
    albs: false,
    canary: false,
};

const HEALTHY_CAPACITY: &str = "capacity: {us-east-1: 400, us-west-2: 400, eu-west-1: 400}";
/// us-west-2 and eu-west-1 end near 90% utilization (pre-flight allows 95%).
const SMALL_CAPACITY: &str = "capacity: {us-east-1: 400, us-west-2: 120, eu-west-1: 100}";

const PLAYBOOK: &str = r#"name: drill
steps: [50, 100]
bake: 3s
propagation: 0s
hold: 2s
on_abort: rollback
checks:
  - name: destination p99
    source: prometheus
    query: 'kong_sim_p99_latency_ms{region="{{region}}",service=""}'
    per: destination
    max: 200
  - name: us-east-1 requests
    source: prometheus
    query: 'kong_sim_requests_per_second{region="us-east-1",service=""}'
    min: 0
"#;

/// Moto fixtures, kong in a scratch dir, its scrape target and Prometheus.
struct Lab {
    fleet: Fleet,
    kong: Kong,
    prometheus: Prometheus,
    _serve: SimServe,
}

impl Lab {
    fn new(tag: &str, capacity: &str, max_utilization: &str) -> Lab {
        let fleet = Fleet::create(&moto().url(), tag, &ONE_RECORD);
        let port = free_port();
        assert!(
            fleet.topology.contains(HEALTHY_CAPACITY),
            "{}",
            fleet.topology
        );
        let topology = fleet
            .topology
            .replace(HEALTHY_CAPACITY, capacity)
            .replace(
                "max_utilization: 0.75\n",
                &format!(
                    "max_utilization: {max_utilization}\nmetrics:\n  prometheus:\n    url: http://127.0.0.1:{port}\n"
                ),
            );
        let kong = Kong::aws(&topology, PLAYBOOK, &moto().url());
        let serve = SimServe::start(&kong);
        let prometheus = Prometheus::start(port, &serve.addr);
        Lab {
            fleet,
            kong,
            prometheus,
            _serve: serve,
        }
    }

    /// The `step_checked` results named `name` of every run, oldest run first, each with
    /// its run's operation.
    fn step_values(&self, name: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (run, journal) in self.kong.journals() {
            let operation = run.split('-').nth(2).unwrap_or_default().to_string();
            for record in journal {
                if record["event"] != "step_checked" {
                    continue;
                }
                for result in record["results"].as_array().into_iter().flatten() {
                    if result["name"] == name {
                        out.push((operation.clone(), result.clone()));
                    }
                }
            }
        }
        out
    }
}

#[test]
fn healthy_drill_on_moto_moves_traffic_seen_by_prometheus_and_restores_exact_records() {
    let lab = Lab::new("promdrill", HEALTHY_CAPACITY, "0.75");
    let original = lab.fleet.snapshot();
    let before = lab
        .prometheus
        .value(r#"kong_sim_requests_per_second{region="us-east-1",service=""}"#)
        .expect("us-east-1 series");
    assert!((before - 100.0).abs() < 1.0, "{before}");

    let out = lab.kong.run(&["drill", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        lab.fleet.snapshot(),
        original,
        "the drill ends at the exact original records"
    );

    // What Prometheus measured after each step: us-east-1's traffic halves, reaches 0 at the
    // end of the evacuation, and comes back with the restore.
    let seen = lab.step_values("us-east-1 requests");
    let evacuate: Vec<f64> = seen
        .iter()
        .filter(|(op, _)| op == "evacuate")
        .map(|(_, r)| r["value"].as_f64().expect("value"))
        .collect();
    let restore: Vec<f64> = seen
        .iter()
        .filter(|(op, _)| op == "restore")
        .map(|(_, r)| r["value"].as_f64().expect("value"))
        .collect();
    assert_eq!(evacuate.len(), 2, "{seen:?}");
    assert!((evacuate[0] - 50.0).abs() < 2.0, "{seen:?}");
    assert_eq!(evacuate[1], 0.0, "{seen:?}");
    let last = *restore.last().expect("restore evaluated");
    assert!((last - 100.0).abs() < 1.0, "{seen:?}");
    let p99 = lab.step_values("destination p99");
    assert!(p99.iter().all(|(_, r)| r["ok"] == true), "{p99:?}");
}

#[test]
fn overloading_drill_on_moto_aborts_on_prometheus_p99_and_rolls_back_exact_records() {
    let lab = Lab::new("promover", SMALL_CAPACITY, "0.95");
    let original = lab.fleet.snapshot();
    let out = lab.kong.run(&["drill", "us-east-1", "--yes"]);
    assert_eq!(out.code, 4, "{}", out.text());
    assert!(out.stdout.contains("destination p99"), "{}", out.text());
    assert_eq!(
        lab.fleet.snapshot(),
        original,
        "rollback restores the exact original records"
    );
    let p99 = lab.step_values("destination p99");
    let failed: Vec<_> = p99.iter().filter(|(_, r)| r["ok"] == false).collect();
    assert!(!failed.is_empty(), "{p99:?}");
    assert!(failed[0].1["value"].as_f64().unwrap() > 200.0, "{failed:?}");
}
