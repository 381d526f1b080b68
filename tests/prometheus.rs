//! Prometheus checks end to end: the real `kong` binary on the simulator (`--backend sim`),
//! `kong sim serve` as the scrape target, and a real Prometheus server scraping it every
//! second. Each test has its own scratch dir, simulator world, scrape target and Prometheus.
//!
//! Topologies have three regions and one service on a sim dial. `HEALTHY`: evacuating r1
//! leaves r2 and r3 near 30% utilization. `OVERLOAD`: pre-flight passes (max_utilization
//! 0.95) but the last step fills r2 and r3 to 90%, past the simulator's knee (70%), so p99 and
//! error rate jump. Bakes are 3 s or more of real time: a sample reaches Prometheus up to one
//! scrape (1 s) after a change.

pub mod support {
    pub mod kong;
    pub mod prometheus;
}

use std::time::{Duration, Instant};

use serde_json::Value;
use support::kong::{Kong, Output};
use support::prometheus::{Prometheus, SimServe, free_port};

const HEALTHY: &str = "\
regions: [r1, r2, r3]
max_utilization: 0.75
services:
  web:
    capacity: {r1: 1000, r2: 2000, r3: 2000}
    load: {r1: 300, r2: 400, r3: 400}
    dials:
      - id: sim
        sim: {}
";

const OVERLOAD: &str = "\
regions: [r1, r2, r3]
max_utilization: 0.95
services:
  web:
    capacity: {r1: 2000, r2: 1000, r3: 1000}
    load: {r1: 1200, r2: 300, r3: 300}
    dials:
      - id: sim
        sim: {}
";

/// Destination p99 from the region totals (no `service` label: one series per region).
const P99_CHECK: &str = r#"
  - name: destination p99
    source: prometheus
    query: 'kong_sim_p99_latency_ms{region="{{region}}",service=""}'
    per: destination
    max: 200
"#;

/// Requests/s served over every region: moving traffic must not lose any.
const GLOBAL_RPS_CHECK: &str = r#"
  - name: global requests
    source: prometheus
    query: 'sum(kong_sim_requests_per_second{service=""})'
    min_ratio_to_baseline: 0.95
"#;

/// A scratch dir with a world, its scrape target and a Prometheus scraping it.
struct Lab {
    kong: Kong,
    prometheus: Prometheus,
    _serve: SimServe,
}

impl Lab {
    /// `topology` (regions and services; the name and Prometheus URL are added) and a
    /// playbook of `steps`, `bake` and `checks`.
    fn new(topology: &str, steps: &str, bake: &str, checks: &str) -> Lab {
        let port = free_port();
        let kong = Kong::new(
            &format!(
                "name: lab\nmetrics:\n  prometheus:\n    url: http://127.0.0.1:{port}\n{topology}"
            ),
            &format!(
                "name: lab\nsteps: {steps}\nbake: {bake}\npropagation: 0s\nhold: 1s\non_abort: rollback\nchecks:{checks}"
            ),
        )
        .backend("sim");
        let serve = SimServe::start(&kong);
        let prometheus = Prometheus::start(port, &serve.addr);
        Lab {
            kong,
            prometheus,
            _serve: serve,
        }
    }

    /// The records of the only run's journal.
    fn journal(&self) -> Vec<Value> {
        let mut runs = self.kong.journals();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs.remove(0).1
    }
}

/// Every check result of the journal's `step_checked` records named `name`.
fn step_results<'a>(journal: &'a [Value], name: &str) -> Vec<&'a Value> {
    journal
        .iter()
        .filter(|r| r["event"] == "step_checked")
        .flat_map(|r| r["results"].as_array().into_iter().flatten())
        .filter(|c| c["name"] == name)
        .collect()
}

#[test]
fn healthy_evacuation_with_prometheus_checks_passes_and_journals_the_values() {
    let lab = Lab::new(
        HEALTHY,
        "[50, 100]",
        "3s",
        &format!("{P99_CHECK}{GLOBAL_RPS_CHECK}"),
    );
    let out = lab.kong.run(&["evacuate", "r1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());

    let journal = lab.journal();
    let p99 = step_results(&journal, "destination p99");
    // Two steps, two destinations each; a healthy region's p99 is the simulator's base 120.
    assert_eq!(p99.len(), 4, "{journal:?}");
    for result in &p99 {
        assert_eq!(result["ok"], true, "{result}");
        assert_eq!(result["value"], 120.0, "{result}");
    }
    let rps = step_results(&journal, "global requests");
    assert_eq!(rps.len(), 2, "{journal:?}");
    for result in &rps {
        assert_eq!(result["ok"], true, "{result}");
        let value = result["value"].as_f64().expect("value");
        assert!((value - 1100.0).abs() < 1.0, "{result}");
    }

    // Prometheus sees the traffic gone from r1 (it scrapes every second: wait for it).
    let deadline = Instant::now() + Duration::from_secs(30);
    let query = r#"kong_sim_requests_per_second{region="r1",service=""}"#;
    while lab.prometheus.value(query) != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "r1 still serves {:?}",
            lab.prometheus.value(query)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r2 = lab
        .prometheus
        .value(r#"kong_sim_requests_per_second{region="r2",service="web"}"#)
        .expect("r2 series");
    assert!(r2 > 400.0, "r2 took over part of r1's traffic: {r2}");
}

#[test]
fn destination_overload_breaches_p99_and_rolls_back_to_baseline_with_exit_4() {
    let lab = Lab::new(OVERLOAD, "[50, 100]", "3s", P99_CHECK);
    let baseline = lab.kong.weights();
    let out = lab.kong.run(&["evacuate", "r1", "--yes"]);
    assert_eq!(out.code, 4, "{}", out.text());
    assert!(
        out.text().contains("destination p99") && out.text().contains("<= 200"),
        "the abort names the failing check: {}",
        out.text()
    );
    assert_eq!(
        lab.kong.weights(),
        baseline,
        "rollback restores the exact baseline"
    );
    // The breach was measured by Prometheus: the last step's p99 is far above 200.
    let journal = lab.journal();
    let failed: Vec<_> = step_results(&journal, "destination p99")
        .into_iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert!(!failed.is_empty(), "{journal:?}");
    assert!(failed[0]["value"].as_f64().unwrap() > 200.0, "{failed:?}");
}

#[test]
fn query_without_data_is_refused_before_any_change_with_exit_3() {
    let missing = r#"
  - name: missing metric
    source: prometheus
    query: 'kong_sim_no_such_metric{region="{{region}}"}'
    per: destination
    max: 1
"#;
    let lab = Lab::new(HEALTHY, "[50, 100]", "3s", missing);
    let baseline = lab.kong.weights();
    let out = lab.kong.run(&["evacuate", "r1", "--yes"]);
    // The steady state is evaluated before the first change: no data there refuses the run.
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.text().contains("no data: the query returned no series"),
        "{}",
        out.text()
    );
    assert!(
        out.text()
            .contains(r#"kong_sim_no_such_metric{region="r2"}"#),
        "the rendered query is named: {}",
        out.text()
    );
    assert_eq!(lab.kong.weights(), baseline, "nothing was changed");
}

#[test]
fn prometheus_down_mid_run_aborts_and_rolls_back_with_exit_4() {
    let mut lab = Lab::new(HEALTHY, "[50, 100]", "5s", P99_CHECK);
    let baseline = lab.kong.weights();
    let mut child = lab
        .kong
        .command(&["evacuate", "r1", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start kong evacuate");
    // Kill Prometheus once the first step is applied (during its bake).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let applied = std::fs::read_dir(lab.kong.path("state/runs"))
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("journal.jsonl")).ok())
            .any(|j| j.contains(r#""event":"step_applied""#));
        if applied {
            break;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "kong ended before the first step was applied"
        );
        assert!(Instant::now() < deadline, "no step applied within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    lab.prometheus.kill();
    let out = Output::from(child.wait_with_output().expect("kong evacuate"));
    assert_eq!(out.code, 4, "{}", out.text());
    assert!(
        out.text().contains("cannot reach the server"),
        "the abort says Prometheus is unreachable: {}",
        out.text()
    );
    assert_eq!(
        lab.kong.weights(),
        baseline,
        "rollback restores the exact baseline"
    );
}

#[test]
fn max_ratio_to_baseline_fails_on_overload_while_global_requests_ratio_holds() {
    let ratio = r#"
  - name: worst p99 vs before
    source: prometheus
    query: 'max(kong_sim_p99_latency_ms{service=""})'
    max_ratio_to_baseline: 1.5
"#;
    let lab = Lab::new(
        OVERLOAD,
        "[50, 100]",
        "3s",
        &format!("{GLOBAL_RPS_CHECK}{ratio}"),
    );
    let baseline = lab.kong.weights();
    let out = lab.kong.run(&["evacuate", "r1", "--yes"]);
    assert_eq!(out.code, 4, "{}", out.text());
    let journal = lab.journal();
    let worst = step_results(&journal, "worst p99 vs before");
    let last = worst.last().expect("evaluated");
    assert_eq!(last["ok"], false, "{journal:?}");
    assert!(last["value"].as_f64().unwrap() > 1.5 * 120.0, "{last}");
    // Requests/s are conserved through the move: the min ratio held at every step.
    let rps = step_results(&journal, "global requests");
    assert!(!rps.is_empty());
    assert!(rps.iter().all(|c| c["ok"] == true), "{rps:?}");
    assert_eq!(
        lab.kong.weights(),
        baseline,
        "rollback restores the exact baseline"
    );
}

#[test]
fn for_window_needs_three_passing_evaluations_per_destination() {
    // `for: 2s` every 1s: the first evaluation and one per interval of the window.
    let window = r#"
  - name: window p99
    source: prometheus
    query: 'kong_sim_p99_latency_ms{region="{{region}}",service=""}'
    per: destination
    max: 200
    interval: 1s
    for: 2s
"#;
    let lab = Lab::new(HEALTHY, "[100]", "3s", window);
    // -v: every evaluation on its own line.
    let out = lab.kong.run(&["evacuate", "r1", "--yes", "-v"]);
    assert_eq!(out.code, 0, "{}", out.text());
    for region in ["r2", "r3"] {
        let evaluations = out
            .text()
            .lines()
            .filter(|l| l.contains(&format!("check ok window p99 @{region}:")))
            .count();
        // One before the run (the steady state), three after the only step.
        assert_eq!(evaluations, 4, "{region}: {}", out.text());
    }
}

#[test]
fn sim_serve_follows_moves_and_answers_500_when_the_world_cannot_be_read() {
    let lab = Lab::new(HEALTHY, "[100]", "3s", P99_CHECK);
    let serve = &lab._serve;
    let (status, body) = serve.scrape();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("kong_sim_requests_per_second{service=\"web\",region=\"r1\"} 300"),
        "{body}"
    );
    // A move made by another kong process shows on the next scrape.
    let out = lab.kong.run(&["evacuate", "r1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let (_, body) = serve.scrape();
    assert!(
        body.contains("kong_sim_requests_per_second{region=\"r1\"} 0\n"),
        "{body}"
    );
    std::fs::write(lab.kong.path("state/sim/lab.json"), "not json").expect("corrupt the world");
    let (status, body) = serve.scrape();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("opening the backend"), "{body}");
}

/// `HEALTHY` with a live load three times the declared one: planned on the live figures,
/// the destinations would run at 82.5% > 75%.
const LIVE_LOAD: &str = "\
regions: [r1, r2, r3]
max_utilization: 0.75
services:
  web:
    capacity: {r1: 1000, r2: 2000, r3: 2000}
    load: {r1: 300, r2: 400, r3: 400}
    load_query:
      prometheus: '3 * kong_sim_requests_per_second{service=\"{{service}}\",region=\"{{region}}\"}'
    dials:
      - id: sim
        sim: {}
";

#[test]
fn live_load_from_prometheus_replaces_the_declared_load_in_pre_flight() {
    let lab = Lab::new(LIVE_LOAD, "[50, 100]", "3s", P99_CHECK);
    lab.prometheus
        .wait_for_data("kong_sim_requests_per_second{service=\"web\"}");
    let before = lab.kong.weights();

    // Planned on the live load: 900 + 1200 + 1200 req/s, r1's 900 split over r2 and r3.
    let out = lab
        .kong
        .run(&["plan", "evacuate", "r1", "--format", "json"]);
    assert_eq!(
        out.code,
        3,
        "pre-flight fails on the live load:\n{}",
        out.text()
    );
    let plan: Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    let rows = plan["preflight"].as_array().expect("preflight rows");
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(row["load_source"], "live", "{row}");
        assert!(
            row.get("capacity_source").is_none(),
            "capacity is declared: {row}"
        );
        let projected = row["projected_load"].as_f64().unwrap();
        // Within 1% (the simulator's integer weights round the live shares).
        assert!((projected - 1650.0).abs() < 16.5, "{row}");
        assert_eq!(row["ok"], false, "{row}");
    }
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains("load of web in r1: 900 req/s (live"),
        "{notes}"
    );
    let text = lab.kong.run(&["plan", "evacuate", "r1"]);
    assert!(text.stdout.contains("(live)"), "{}", text.stdout);

    // The declared figures, on request, pass.
    let declared = lab.kong.run(&[
        "plan",
        "evacuate",
        "r1",
        "--format",
        "json",
        "--declared-load",
    ]);
    assert_eq!(declared.code, 0, "{}", declared.text());
    let plan: Value = serde_json::from_str(&declared.stdout).expect("plan JSON");
    assert!(plan["preflight"][0].get("load_source").is_none());
    assert!(plan["notes"].to_string().contains("--declared-load"));

    // An evacuation plans on the live load too: refused, nothing moved.
    let run = lab.kong.run(&["evacuate", "r1", "--yes"]);
    assert_eq!(run.code, 3, "{}", run.text());
    assert_eq!(lab.kong.weights(), before);
}

#[test]
fn a_live_load_query_without_data_refuses_and_names_service_and_region() {
    let topology = LIVE_LOAD.replace(
        "3 * kong_sim_requests_per_second",
        "kong_sim_no_such_metric",
    );
    let lab = Lab::new(&topology, "[50, 100]", "3s", P99_CHECK);
    lab.prometheus
        .wait_for_data("kong_sim_requests_per_second{service=\"web\"}");
    let before = lab.kong.weights();
    for args in [
        &["plan", "evacuate", "r1"][..],
        &["evacuate", "r1", "--yes"][..],
    ] {
        let out = lab.kong.run(args);
        assert_eq!(out.code, 3, "{args:?}:\n{}", out.text());
        assert!(
            out.text().contains("cannot read the live load"),
            "{}",
            out.text()
        );
        assert!(out.text().contains("web in r2"), "{}", out.text());
        assert!(out.text().contains("no series"), "{}", out.text());
    }
    assert_eq!(lab.kong.weights(), before);
}
