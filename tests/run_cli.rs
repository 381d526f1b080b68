//! End-to-end runs through the `kong` binary on the simulator: exit codes, idempotent
//! re-planning, restore back to baseline, saved plans, locks and unfinished runs.

mod support;

use serde_json::Value;
use support::sim::{FAST_PLAYBOOK, World};

fn share(status: &Value, service: &str, region: &str) -> f64 {
    status["shares"][service][region].as_f64().unwrap()
}

#[test]
fn evacuate_then_restore_returns_to_baseline_and_replanning_is_empty() {
    let w = World::new();
    let baseline = w.weights();
    let (code, out, err) = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(code, 0, "evacuate failed:\n{out}\n{err}");
    assert!(
        out.starts_with("backend: sim"),
        "first line names the backend: {out}"
    );
    let status = w.status();
    for service in status["shares"].as_object().unwrap().keys() {
        assert_eq!(
            share(&status, service, "us-east-1"),
            0.0,
            "{service} still in us-east-1"
        );
    }
    assert!(status["active_run"].is_null());

    // Plan again after apply: nothing left to do.
    let (code, out, _) = w.run(&["plan", "evacuate", "us-east-1", "--format", "json"]);
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert!(plan["steps"].as_array().unwrap().is_empty(), "{out}");

    let (code, out, err) = w.run(&["restore", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(code, 0, "restore failed:\n{out}\n{err}");
    assert_eq!(
        w.weights(),
        baseline,
        "restore returns every dial to its baseline"
    );

    let (code, out, _) = w.run(&["runs", "--format", "json"]);
    assert_eq!(code, 0);
    let runs: Value = serde_json::from_str(&out).unwrap();
    let states: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["completed", "completed"]);
    let id = runs[0]["id"].as_str().unwrap();
    let (code, report, _) = w.run(&["report", id]);
    assert_eq!(code, 0);
    assert!(report.contains("## Timeline"), "{report}");
    assert!(
        report.contains("p99"),
        "report lists check values: {report}"
    );
}

#[test]
fn drill_evacuates_holds_restores_and_reports() {
    let w = World::new();
    let baseline = w.weights();
    let (code, out, err) = w.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(code, 0, "drill failed:\n{out}\n{err}");
    assert!(out.contains("holding us-east-1 evacuated"), "{out}");
    assert!(
        out.contains("# kong restore us-east-1"),
        "drill prints the report: {out}"
    );
    assert_eq!(w.weights(), baseline);
}

#[test]
fn failing_check_mid_run_rolls_back_and_exits_4() {
    let w = World::new();
    // Passes at baseline (destinations below 55%), fails once they fill up.
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace(
            "    metric: p99_latency_ms\n    per: destination\n    max: 250",
            "    metric: utilization\n    per: destination\n    max: 0.55",
        ),
    );
    let baseline = w.weights();
    let (code, out, err) = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(code, 4, "expected abort + rollback:\n{out}\n{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(
        w.weights(),
        baseline,
        "rollback restores the exact baseline"
    );
}

#[test]
fn injected_api_failures_that_persist_abort_and_roll_back() {
    let w = World::new();
    let baseline = w.weights();
    let out = w
        .kong(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"])
        .env("KONG_SIM_FAILURE_RATE", "0.97")
        .env("KONG_SIM_SEED", "7")
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    // Either the very first apply never succeeds (rollback of nothing applied, 4) or the
    // rollback itself cannot get through (5): never a half-moved world reported as success.
    assert!(
        code == 4 || code == 5,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if code == 4 {
        assert_eq!(w.weights(), baseline);
    }
}

#[test]
fn capacity_preflight_failure_refuses_with_exit_3_and_changes_nothing() {
    let w = World::new();
    let topology = std::fs::read_to_string(w.path("topology.yaml")).unwrap();
    w.write(
        "topology.yaml",
        &topology.replace("max_utilization: 0.75", "max_utilization: 0.3"),
    );
    let baseline = w.weights();
    let (code, out, err) = w.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains("us-west-2") || err.contains("eu-west-1"),
        "names the region: {err}"
    );
    assert_eq!(w.weights(), baseline);
    let (code, _, _) = w.run(&["plan", "evacuate", "us-east-1"]);
    assert_eq!(code, 3, "plan exits 3 when its pre-flight fails");
}

#[test]
fn non_interactive_run_without_yes_is_refused() {
    let w = World::new();
    let baseline = w.weights();
    let (code, _, err) = w.run(&["evacuate", "us-east-1"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(w.weights(), baseline);
}

#[test]
fn approval_gate_without_approve_is_refused_when_not_on_a_terminal() {
    let w = World::new();
    w.write(
        "playbook.yaml",
        &format!("{FAST_PLAYBOOK}approval:\n  before_percent: [50]\n"),
    );
    let baseline = w.weights();
    let (code, out, err) = w.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(format!("{out}{err}").contains("--approve"));
    assert_eq!(w.weights(), baseline);
    let (code, out, err) = w.run(&[
        "evacuate",
        "us-east-1",
        "--yes",
        "--approve",
        "--time-scale",
        "100",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn dry_run_changes_nothing() {
    let w = World::new();
    let baseline = w.weights();
    let (code, out, err) = w.run(&["evacuate", "us-east-1", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(w.weights(), baseline);
}

#[test]
fn saved_plan_is_refused_when_live_weights_or_files_changed() {
    let w = World::new();
    let (code, _, err) = w.run(&["plan", "evacuate", "us-east-1", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    // The world moves (another evacuation and restore of a different region leave it elsewhere).
    let (code, _, err) = w.run(&["evacuate", "eu-west-1", "--yes", "--time-scale", "100"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = w.run(&["evacuate", "us-east-1", "--plan", "plan.json", "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("differ"), "{err}");
    let (code, _, err) = w.run(&["restore", "eu-west-1", "--yes", "--time-scale", "100"]);
    assert_eq!(code, 0, "{err}");

    // Back at the plan's baseline, it executes.
    let (code, out, err) = w.run(&[
        "evacuate",
        "us-east-1",
        "--plan",
        "plan.json",
        "--yes",
        "--time-scale",
        "100",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, _, err) = w.run(&["restore", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(code, 0, "{err}");

    // A changed playbook invalidates the reviewed plan.
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace("bake: 1s", "bake: 2s"),
    );
    let (code, _, err) = w.run(&["evacuate", "us-east-1", "--plan", "plan.json", "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("changed since the plan"), "{err}");
}

#[test]
fn two_concurrent_evacuations_exactly_one_proceeds() {
    let w = World::new();
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace("bake: 1s", "bake: 3s"),
    );
    let spawn = || {
        w.kong(&["evacuate", "us-east-1", "--yes", "--time-scale", "10"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn();
    let b = spawn();
    let a = a.wait_with_output().unwrap();
    let b = b.wait_with_output().unwrap();
    let mut codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    codes.sort();
    let loser = if a.status.code() == Some(3) { &a } else { &b };
    assert_eq!(
        codes,
        [0, 3],
        "one completes, one is refused:\nA: {}\nB: {}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(err.contains("held by run"), "names the holder: {err}");
}

#[test]
fn unknown_region_is_a_usage_error() {
    let w = World::new();
    let (code, _, err) = w.run(&["plan", "evacuate", "mars-north-1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mars-north-1"));
    let (code, _, _) = w.run(&["evacuate", "mars-north-1", "--yes"]);
    assert_eq!(code, 2);
}
