//! CloudWatch checks end to end: metric data is put into moto's CloudWatch through the SDK,
//! and a simulated evacuation (`--backend sim`) reads it through the `kong` binary pointed at
//! moto with `--endpoint-url` (CloudWatch is a metric source: the AWS flags apply whatever
//! the traffic backend).
//!
//! moto keeps CloudWatch data per region, like AWS. Every test names its metric after
//! itself, so the tests sharing this binary's moto server never read each other's data.

pub mod support {
    pub mod fleet;
    pub mod kong;
    pub mod moto;
}

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::SystemTime;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};

use support::fleet::{runtime, sdk};
use support::kong::{Kong, Output};
use support::moto::moto;

const NAMESPACE: &str = "Kong/Tests";

/// Three regions and one service on a sim dial; `{cloudwatch}` is the `metrics.cloudwatch`
/// value. Evacuating us-east-1 fills the two others to 60%.
fn topology(cloudwatch: &str) -> String {
    format!(
        "name: cw
regions: [us-east-1, us-west-2, eu-west-1]
max_utilization: 0.8
metrics:
  cloudwatch: {cloudwatch}
services:
  api:
    capacity: {{us-east-1: 100, us-west-2: 100, eu-west-1: 100}}
    load: {{us-east-1: 40, us-west-2: 40, eu-west-1: 40}}
    dials:
      - id: sim
        sim: {{}}
"
    )
}

/// One cloudwatch check on `metric` (dimension `Region: {{region}}`), `per`, at most 10.
fn playbook(metric: &str, per: &str, steps: &str, bake: &str) -> String {
    format!(
        "name: cw
steps: {steps}
bake: {bake}
propagation: 1s
on_abort: rollback
checks:
  - name: errors
    source: cloudwatch
    namespace: {NAMESPACE}
    metric: {metric}
    dimensions:
      Region: '{{{{region}}}}'
    stat: Maximum
    period: 60
    per: {per}
    max: 10
"
    )
}

/// Puts `value` for `metric` with dimension `Region = dimension` into `into`'s CloudWatch.
fn put(into: &str, metric: &str, dimension: &str, value: f64) {
    runtime().block_on(async {
        let client = aws_sdk_cloudwatch::Client::new(&sdk(&moto().url(), into).await);
        client
            .put_metric_data()
            .namespace(NAMESPACE)
            .metric_data(
                MetricDatum::builder()
                    .metric_name(metric)
                    .dimensions(Dimension::builder().name("Region").value(dimension).build())
                    .timestamp(DateTime::from(SystemTime::now()))
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .expect("PutMetricData on moto");
    });
}

/// [`topology`] whose service `api` reads its load live from CloudWatch `metric` (dimension
/// `Region: {{region}}`, the newest maximum per minute), declared 40 req/s per region.
fn live_load_topology(metric: &str) -> String {
    topology("{}").replace(
        "    load: {us-east-1: 40, us-west-2: 40, eu-west-1: 40}\n",
        &format!(
            "    load: {{us-east-1: 40, us-west-2: 40, eu-west-1: 40}}\n    load_query:\n      cloudwatch:\n        namespace: {NAMESPACE}\n        metric: {metric}\n        dimensions: {{Region: '{{{{region}}}}'}}\n        stat: Maximum\n        period: 60\n"
        ),
    )
}

/// Puts the measured load of us-east-1, us-west-2 and eu-west-1 (in that order) into each
/// region's CloudWatch as `metric`.
fn put_load(metric: &str, load: [f64; 3]) {
    for (region, value) in ["us-east-1", "us-west-2", "eu-west-1"]
        .into_iter()
        .zip(load)
    {
        put(region, metric, region, value);
    }
}

/// kong in a scratch dir with `topology` and `playbook`, on the simulator, CloudWatch on
/// moto.
fn on_sim(topology: &str, playbook: &str) -> Kong {
    Kong::new(topology, playbook)
        .backend("sim")
        .endpoint(&moto().url())
        .env("KONG_PROGRESS", "plain")
}

fn evacuate(world: &Kong) -> Output {
    // -v: every check evaluation on its own line (the tests read the values).
    world.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "10", "-v"])
}

#[test]
fn passing_values_read_from_each_destinations_cloudwatch_let_the_evacuation_finish() {
    let metric = "PassingErrors";
    put("us-west-2", metric, "us-west-2", 3.0);
    put("eu-west-1", metric, "eu-west-1", 4.0);
    let world = on_sim(
        &topology("{}"),
        &playbook(metric, "destination", "[50, 100]", "1s"),
    );
    let out = evacuate(&world);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.stdout.contains("backend: sim"), "{}", out.text());
    // `{{region}}` is filled per destination, and each reads its own region's CloudWatch.
    assert!(
        out.stdout.contains("check ok errors @us-west-2: 3.0000"),
        "{}",
        out.text()
    );
    assert!(
        out.stdout.contains("check ok errors @eu-west-1: 4.0000"),
        "{}",
        out.text()
    );
}

#[test]
fn a_breaching_value_before_the_run_refuses_it_with_exit_3() {
    let metric = "BreachingErrors";
    put("us-west-2", metric, "us-west-2", 3.0);
    put("eu-west-1", metric, "eu-west-1", 50.0);
    let world = on_sim(
        &topology("{}"),
        &playbook(metric, "destination", "[50, 100]", "1s"),
    );
    let out = evacuate(&world);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.stdout
            .contains("check FAILED errors @eu-west-1: 50.0000"),
        "{}",
        out.text()
    );
    assert!(
        out.stdout.contains("check ok errors @us-west-2: 3.0000"),
        "{}",
        out.text()
    );
    assert!(
        !out.stdout.contains("started:"),
        "nothing moved: {}",
        out.text()
    );
}

#[test]
fn no_datapoints_in_the_destination_region_refuses_with_no_data() {
    // The data exists, but in us-east-1's CloudWatch: moto, like AWS, keeps regions apart,
    // and each destination's check reads its own region.
    let metric = "ElsewhereErrors";
    put("us-east-1", metric, "us-west-2", 3.0);
    put("us-east-1", metric, "eu-west-1", 4.0);
    let world = on_sim(
        &topology("{}"),
        &playbook(metric, "destination", "[50, 100]", "1s"),
    );
    let out = evacuate(&world);
    assert_eq!(out.code, 3, "{}", out.text());
    let text = out.text();
    for needle in [
        "check `errors`",
        "CloudWatch in us-west-2",
        "Kong/Tests ElsewhereErrors {Region=us-west-2} Maximum/60s",
        "no datapoints",
        "no data is not a pass",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn one_monitoring_region_reads_each_destination_through_the_region_template() {
    // Everything is published into us-east-1's CloudWatch, keyed by a Region dimension.
    let metric = "CentralErrors";
    put("us-east-1", metric, "us-west-2", 5.0);
    put("us-east-1", metric, "eu-west-1", 6.0);
    let world = on_sim(
        &topology("{region: us-east-1}"),
        &playbook(metric, "destination", "[100]", "1s"),
    );
    let out = evacuate(&world);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("check ok errors @us-west-2: 5.0000"),
        "{}",
        out.text()
    );
    assert!(
        out.stdout.contains("check ok errors @eu-west-1: 6.0000"),
        "{}",
        out.text()
    );
}

#[test]
fn a_global_check_without_a_cloudwatch_region_is_refused_with_advice() {
    let playbook = playbook("GlobalErrors", "global", "[100]", "1s")
        .replace("      Region: '{{region}}'\n", "      Scope: all\n");
    let world = on_sim(&topology("{}"), &playbook);
    let out = evacuate(&world);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.text()
            .contains("names no region: set `metrics: {cloudwatch: {region: REGION}}`"),
        "{}",
        out.text()
    );
}

#[test]
fn a_value_breaching_after_the_first_step_rolls_back_with_exit_4() {
    let metric = "MidRunErrors";
    put("us-west-2", metric, "us-west-2", 3.0);
    put("eu-west-1", metric, "eu-west-1", 4.0);
    // A 5 s bake (not scaled): the breaching value is put as soon as kong reports the first
    // step applied, seconds before the checks after it read CloudWatch.
    let world = on_sim(
        &topology("{}"),
        &playbook(metric, "destination", "[50, 100]", "5s"),
    );
    let mut child = world
        .command(&["evacuate", "us-east-1", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kong");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).expect("read kong's stdout");
        assert!(n > 0, "kong ended before applying step 1:\n{seen}");
        seen.push_str(&line);
        if line.contains("step 1 applied") {
            break;
        }
    }
    put("eu-west-1", metric, "eu-west-1", 40.0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read kong's stdout");
    seen.push_str(&rest);
    let status = child.wait_with_output().expect("wait for kong");
    let stderr = String::from_utf8_lossy(&status.stderr);
    let text = format!(
        "exit {:?}\n--- stdout\n{seen}\n--- stderr\n{stderr}",
        status.status.code()
    );
    assert_eq!(status.status.code(), Some(4), "{text}");
    assert!(
        seen.contains("check FAILED errors @eu-west-1: 40.0000"),
        "{text}"
    );
    assert!(
        !seen.contains("step 2/2: wave"),
        "no step after the failed check: {text}"
    );
    let status = world.run(&["status", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.text());
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    assert_eq!(
        status["dials"][0]["weights"],
        serde_json::json!({"us-east-1": 100, "us-west-2": 100, "eu-west-1": 100}),
        "rolled back to the baseline: {status}"
    );
}

#[test]
fn a_cloudwatch_endpoint_that_never_answers_fails_the_check_at_its_timeout() {
    // Accepts connections and never answers: only the check's timeout ends the fetch.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let playbook = playbook("SilentErrors", "destination", "[100]", "1s")
        .replace("    max: 10\n", "    max: 10\n    timeout: 1s\n");
    let world = on_sim(&topology("{}"), &playbook).endpoint(&endpoint);
    let out = evacuate(&world);
    assert_eq!(out.code, 3, "{}", out.text());
    for needle in [
        "CloudWatch in us-west-2, Kong/Tests SilentErrors {Region=us-west-2} Maximum/60s",
        "no answer within the check's timeout of 1 s (no data is not a pass)",
    ] {
        assert!(
            out.text().contains(needle),
            "missing `{needle}` in:\n{}",
            out.text()
        );
    }
}

#[test]
fn an_unreachable_cloudwatch_endpoint_fails_the_check_naming_the_error() {
    // A port nothing listens on: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let world = on_sim(
        &topology("{}"),
        &playbook("RefusedErrors", "destination", "[100]", "1s"),
    )
    .endpoint(&format!("http://127.0.0.1:{port}"));
    let out = evacuate(&world);
    assert_eq!(out.code, 3, "{}", out.text());
    for needle in [
        "CloudWatch in eu-west-1, Kong/Tests RefusedErrors {Region=eu-west-1} Maximum/60s",
        "GetMetricData at http://127.0.0.1:",
        "failed (credentials from the default credential chain",
        "no data is not a pass",
    ] {
        assert!(
            out.text().contains(needle),
            "missing `{needle}` in:\n{}",
            out.text()
        );
    }
}

#[test]
fn a_cloudwatch_load_query_is_the_live_load_the_plan_uses() {
    let metric = "LiveRequests";
    // Declared 40 req/s per region (120 in all); measured 90 in us-east-1, 30 and 20 in the
    // others (140 in all).
    put_load(metric, [90.0, 30.0, 20.0]);
    let topology = live_load_topology(metric);
    let world = on_sim(
        &topology,
        &playbook("LiveRequestsErrors", "destination", "[100]", "1s"),
    );
    let out = world.run(&["plan", "evacuate", "us-east-1", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    let total: f64 = plan["preflight"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            assert_eq!(row["load_source"], "live", "{row}");
            row["projected_load"].as_f64().unwrap()
        })
        .sum();
    // After the evacuation the two destinations serve the measured 140 req/s, not the
    // declared 120.
    assert!((total - 140.0).abs() < 1.0, "{total}");
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains(
            "load of api in us-east-1: 90 req/s (live: cloudwatch Kong/Tests/LiveRequests)"
        ),
        "{notes}"
    );
}

#[test]
fn a_reviewed_plan_is_refused_when_the_live_load_grew_past_capacity_since_review() {
    let metric = "ReviewedRequests";
    // At review: 140 req/s in all; the two destinations can take 160 (2 x 100 x 0.8).
    put_load(metric, [90.0, 30.0, 20.0]);
    let topology = live_load_topology(metric);
    let world = on_sim(
        &topology,
        &playbook("ReviewedRequestsErrors", "destination", "[100]", "1s"),
    );
    let reviewed = world.run(&["plan", "evacuate", "us-east-1", "--out", "plan.json"]);
    assert_eq!(reviewed.code, 0, "{}", reviewed.text());
    // Between review and execution the load grows to 230 req/s: more than the destinations
    // can take. The reviewed plan is still the plan of its recorded figures, but its
    // pre-flight on today's load fails.
    put_load(metric, [150.0, 40.0, 40.0]);
    let before = world.weights();
    let out = world.run(&[
        "evacuate",
        "us-east-1",
        "--plan",
        "plan.json",
        "--yes",
        "--time-scale",
        "10",
    ]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(out.text().contains("pre-flight"), "{}", out.text());
    assert!(out.text().contains("api"), "{}", out.text());
    assert_eq!(world.weights(), before, "a refused plan moved traffic");
}
