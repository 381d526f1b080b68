//! End-to-end runs through the `kong` binary on the simulator: exit codes, idempotent
//! re-planning, restore back to baseline, saved plans, locks and unfinished runs.
//!
//! Every test that keeps runs runs on both states: `local::NAME` on the local state dir,
//! `dynamodb::NAME` on a DynamoDB table of its own (moto).

pub mod support {
    pub mod kong;
    pub mod moto;
}

use serde_json::Value;
use support::kong::{FAST_PLAYBOOK, Kong, Output, State};

/// Each test body `fn NAME(state: &State)`, instantiated as `local::NAME` and
/// `dynamodb::NAME`. The DynamoDB tests share their process's moto (nextest runs each test in
/// a process of its own), one that answers one request at a time: moto's conditional writes
/// are not atomic across its threads, DynamoDB's are, and the lock test races two processes.
macro_rules! on_both_states {
    ($($test:ident),+ $(,)?) => {
        mod local {
            $(#[test]
            fn $test() {
                super::$test(&super::State::Local)
            })+
        }
        mod dynamodb {
            $(#[test]
            fn $test() {
                super::$test(&super::State::dynamodb(super::support::moto::moto_serial().url()))
            })+
        }
    };
}

on_both_states!(
    evacuate_then_restore_returns_to_baseline_and_replanning_is_empty,
    drill_evacuates_holds_restores_and_reports,
    drill_with_a_pinned_service_reports_it_as_a_hidden_dependency_with_the_verdict_first,
    residual_traffic_above_the_limit_fails_the_drill_when_the_playbook_says_so,
    failing_check_mid_run_rolls_back_and_exits_4,
    injected_api_failures_that_persist_abort_and_roll_back,
    capacity_preflight_failure_refuses_with_exit_3_and_changes_nothing,
    non_interactive_run_without_yes_is_refused,
    approval_gate_without_approve_is_refused_when_not_on_a_terminal,
    dry_run_changes_nothing,
    saved_plan_is_refused_when_live_weights_or_files_changed,
    two_concurrent_evacuations_exactly_one_proceeds,
    a_paused_run_blocks_others_until_resumed_or_rolled_back,
);

fn share(status: &Value, service: &str, region: &str) -> f64 {
    status["shares"][service][region].as_f64().unwrap()
}

fn evacuate_then_restore_returns_to_baseline_and_replanning_is_empty(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let baseline = w.weights();
    let out = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "evacuate failed:\n{}", out.text());
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("backend: sim"),
        "first line names the backend: {first}"
    );
    if let State::DynamoDb { .. } = state {
        assert!(
            first.contains("state: dynamodb kong-"),
            "and the state: {first}"
        );
    }
    let written = printed_report(&w, &out.stdout, "report: ", "html");
    assert!(written.contains("<html"), "{written}");
    let status = w.status();
    for service in status["shares"].as_object().unwrap().keys() {
        assert_eq!(
            share(&status, service, "us-east-1"),
            0.0,
            "{service} still in us-east-1"
        );
    }
    assert!(status["active_run"].is_null());

    // Plan again after apply: nothing left to do (the plan exits 0).
    let plan = w.plan("evacuate", "us-east-1");
    assert!(plan["steps"].as_array().unwrap().is_empty(), "{plan}");

    let out = w.run(&["restore", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "restore failed:\n{}", out.text());
    assert_eq!(
        w.weights(),
        baseline,
        "restore returns every dial to its baseline"
    );

    let runs = w.runs();
    let states: Vec<&str> = runs.iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["completed", "completed"]);
    let id = runs[0]["id"].as_str().unwrap();
    let report = w.run(&["report", id]);
    assert_eq!(report.code, 0);
    assert!(report.stdout.contains("## Steps"), "{}", report.stdout);
    assert!(
        report.stdout.contains("p99"),
        "report lists check values: {}",
        report.stdout
    );
}

fn drill_evacuates_holds_restores_and_reports(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let baseline = w.weights();
    let out = w.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "drill failed:\n{}", out.text());
    assert!(
        out.stdout.contains("holding us-east-1 evacuated"),
        "{}",
        out.stdout
    );
    let report = drill_report(&w, &out.stdout, "md");
    assert!(
        report.starts_with("# kong drill us-east-1: completed"),
        "{report}"
    );
    assert_eq!(w.weights(), baseline);
}

/// The drill report `kong drill` printed the path of (`md` or `html`).
fn drill_report(w: &Kong, out: &str, ext: &str) -> String {
    printed_report(w, out, "drill report: ", ext)
}

/// The report whose path a run printed on the line starting with `label` (`report: ` or
/// `drill report: `), as `PATH.md (HTML: PATH.html)` relative to the scratch directory: in
/// the local state dir whatever the state.
fn printed_report(w: &Kong, out: &str, label: &str, ext: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("the run prints the report's path ({label}): {out}"));
    let (md, html) = line
        .trim_start_matches(label)
        .split_once(" (HTML: ")
        .unwrap_or_else(|| panic!("{line}"));
    let path = match ext {
        "md" => w.path(md),
        _ => w.path(html.trim_end_matches(')')),
    };
    assert!(
        path.starts_with(w.path("state/runs")),
        "reports are written to the local state dir: {line}"
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example topology with `playback`'s us-east-1 clients 3% pinned (they ignore DNS).
fn pin_playback(w: &Kong) {
    let topology = std::fs::read_to_string(w.path("topology.yaml")).unwrap();
    let pinned = topology.replacen(
        "  playback:\n    depends_on: [license, manifest, profile]\n",
        "  playback:\n    depends_on: [license, manifest, profile]\n    pinned: {us-east-1: 0.03}\n",
        1,
    );
    assert_ne!(pinned, topology, "the example topology declares playback");
    w.write("topology.yaml", &pinned);
}

fn drill_with_a_pinned_service_reports_it_as_a_hidden_dependency_with_the_verdict_first(
    state: &State,
) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    pin_playback(&w);
    w.write(
        "playbook.yaml",
        &format!(
            "{FAST_PLAYBOOK}hypothesis: \"us-west-2 and eu-west-1 absorb us-east-1 with p99 under 250 ms\"\ndrain: {{max_residual: 1%}}\n"
        ),
    );
    let run = w.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(
        run.code,
        0,
        "a finding alone does not fail the drill:\n{}",
        run.text()
    );
    let out = run.stdout;
    assert!(
        out.contains("residual traffic after evacuation: 1 of"),
        "the terminal says it: {out}"
    );
    let report = drill_report(&w, &out, "md");
    let head: Vec<&str> = report.lines().take(5).collect();
    let head = head.join("\n");
    assert!(
        head.contains("**Hypothesis:** us-west-2 and eu-west-1 absorb us-east-1"),
        "{head}"
    );
    assert!(head.contains("**Verdict:** **held**"), "{head}");
    let summary = report.split("## ").next().unwrap();
    assert!(
        summary.lines().count() <= 40,
        "the summary fits on one screen ({} lines):\n{summary}",
        summary.lines().count()
    );
    assert!(
        summary.contains("**hidden dependency**: `playback` still serves 3.0% of its us-east-1 traffic (210 req/s) after evacuation"),
        "{summary}"
    );
    assert!(report.contains("| playback | 3.0% | 210 |"), "{report}");
    assert!(
        !summary.contains("`edge-api` still serves"),
        "a service that follows DNS is not a finding: {summary}"
    );
}

fn residual_traffic_above_the_limit_fails_the_drill_when_the_playbook_says_so(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    pin_playback(&w);
    w.write(
        "playbook.yaml",
        &format!("{FAST_PLAYBOOK}drain: {{max_residual: 1%, fail: true}}\n"),
    );
    let baseline = w.weights();
    let run = w.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(run.code, 4, "aborted and rolled back:\n{}", run.text());
    let err = run.stderr;
    assert!(
        err.contains("residual traffic in us-east-1 above 1.0%") && err.contains("playback 3.0%"),
        "{err}"
    );
    assert_eq!(w.weights(), baseline, "rolled back to the baseline");
}

fn failing_check_mid_run_rolls_back_and_exits_4(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    // Passes at baseline (destinations below 55%), fails once they fill up.
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace(
            "    metric: p99_latency_ms\n    per: destination\n    max: 250",
            "    metric: utilization\n    per: destination\n    max: 0.55",
        ),
    );
    let baseline = w.weights();
    let out = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 4, "expected abort + rollback:\n{}", out.text());
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert_eq!(
        w.weights(),
        baseline,
        "rollback restores the exact baseline"
    );
}

fn injected_api_failures_that_persist_abort_and_roll_back(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let baseline = w.weights();
    let out: Output = w
        .command(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"])
        .env("KONG_SIM_FAILURE_RATE", "0.97")
        .env("KONG_SIM_SEED", "7")
        .output()
        .unwrap()
        .into();
    // Either the very first apply never succeeds (rollback of nothing applied, 4) or the
    // rollback itself cannot get through (5): never a half-moved world reported as success.
    assert!(out.code == 4 || out.code == 5, "{}", out.text());
    if out.code == 4 {
        assert_eq!(w.weights(), baseline);
    }
}

fn capacity_preflight_failure_refuses_with_exit_3_and_changes_nothing(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let topology = std::fs::read_to_string(w.path("topology.yaml")).unwrap();
    w.write(
        "topology.yaml",
        &topology.replace("max_utilization: 0.75", "max_utilization: 0.3"),
    );
    let baseline = w.weights();
    let out = w.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.stderr.contains("us-west-2") || out.stderr.contains("eu-west-1"),
        "names the region: {}",
        out.stderr
    );
    assert_eq!(w.weights(), baseline);
    let out = w.run(&["plan", "evacuate", "us-east-1"]);
    assert_eq!(out.code, 3, "plan exits 3 when its pre-flight fails");
}

fn non_interactive_run_without_yes_is_refused(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let baseline = w.weights();
    let out = w.run(&["evacuate", "us-east-1"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(w.weights(), baseline);
}

fn approval_gate_without_approve_is_refused_when_not_on_a_terminal(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    w.write(
        "playbook.yaml",
        &format!("{FAST_PLAYBOOK}approval:\n  before_percent: [50]\n"),
    );
    let baseline = w.weights();
    let out = w.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(format!("{}{}", out.stdout, out.stderr).contains("--approve"));
    assert_eq!(w.weights(), baseline);
    let out = w.run(&[
        "evacuate",
        "us-east-1",
        "--yes",
        "--approve",
        "--time-scale",
        "100",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
}

fn dry_run_changes_nothing(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let baseline = w.weights();
    let out = w.run(&["evacuate", "us-east-1", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(w.weights(), baseline);
}

fn saved_plan_is_refused_when_live_weights_or_files_changed(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let ok = |args: &[&str]| {
        let out = w.run(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.text());
    };
    let refused = |args: &[&str], why: &str| {
        let out = w.run(args);
        assert_eq!(out.code, 3, "{args:?}: {}", out.text());
        assert!(out.stderr.contains(why), "{}", out.stderr);
    };
    ok(&["plan", "evacuate", "us-east-1", "--out", "plan.json"]);
    // The world moves (another evacuation and restore of a different region leave it elsewhere).
    ok(&["evacuate", "eu-west-1", "--yes", "--time-scale", "100"]);
    refused(
        &["evacuate", "us-east-1", "--plan", "plan.json", "--yes"],
        "differ",
    );
    ok(&["restore", "eu-west-1", "--yes", "--time-scale", "100"]);

    // Back at the plan's baseline, it executes.
    ok(&[
        "evacuate",
        "us-east-1",
        "--plan",
        "plan.json",
        "--yes",
        "--time-scale",
        "100",
    ]);
    ok(&["restore", "us-east-1", "--yes", "--time-scale", "100"]);

    // A changed playbook invalidates the reviewed plan.
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace("bake: 1s", "bake: 2s"),
    );
    refused(
        &["evacuate", "us-east-1", "--plan", "plan.json", "--yes"],
        "changed since the plan",
    );
}

fn two_concurrent_evacuations_exactly_one_proceeds(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace("bake: 1s", "bake: 3s"),
    );
    let args = ["evacuate", "us-east-1", "--yes", "--time-scale", "10"];
    let (a, b) = (w.spawn(&args), w.spawn(&args));
    let a: Output = a.wait_with_output().unwrap().into();
    let b: Output = b.wait_with_output().unwrap().into();
    let mut codes = [a.code, b.code];
    codes.sort();
    assert_eq!(
        codes,
        [0, 3],
        "one completes, one is refused:\nA: {}\nB: {}",
        a.text(),
        b.text()
    );
    let (winner, loser) = if a.code == 0 { (&a, &b) } else { (&b, &a) };
    let id = w.runs()[0]["id"].as_str().unwrap().to_string();
    assert!(
        winner.stdout.contains(&format!("run {id}")),
        "{}",
        winner.text()
    );
    assert!(
        loser.stderr.contains(&format!("held by run {id}")),
        "names the holder: {}",
        loser.text()
    );
}

/// A run paused by a failing check (`on_abort: pause`, exit 5); returns its id.
fn paused_run(w: &Kong) -> String {
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK
            .replace("on_abort: rollback", "on_abort: pause")
            .replace(
                "    metric: p99_latency_ms\n    per: destination\n    max: 250",
                "    metric: utilization\n    per: destination\n    max: 0.55",
            ),
    );
    let out = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 5, "paused:\n{}", out.text());
    let runs = w.runs();
    let run = runs.last().unwrap();
    assert_eq!(run["state"], "paused", "{runs:?}");
    let id = run["id"].as_str().unwrap().to_string();
    assert!(
        out.stderr.contains(&format!("kong resume {id}"))
            && out.stderr.contains(&format!("kong rollback {id}")),
        "names the way out: {}",
        out.stderr
    );
    id
}

fn a_paused_run_blocks_others_until_resumed_or_rolled_back(state: &State) {
    let w = Kong::streaming(FAST_PLAYBOOK).on(state);
    let baseline = w.weights();

    let id = paused_run(&w);
    let status = w.status();
    assert_eq!(status["active_run"]["id"], id.as_str(), "{status}");
    assert_eq!(status["active_run"]["live"], false, "{status}");
    assert!(status["lock"].is_null(), "the lock is free: {status}");
    // Another run of the topology is refused while this one is unfinished.
    let out = w.run(&["evacuate", "eu-west-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.stderr.contains(&format!("kong resume {id}")),
        "{}",
        out.stderr
    );
    // The check is fixed: the run continues where it paused and completes the evacuation.
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace("on_abort: rollback", "on_abort: pause"),
    );
    let out = w.run(&["resume", &id, "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "resume:\n{}", out.text());
    let status = w.status();
    assert!(status["active_run"].is_null(), "{status}");
    for service in status["shares"].as_object().unwrap().keys() {
        assert_eq!(share(&status, service, "us-east-1"), 0.0, "{service}");
    }
    let records = w.records(&id);
    assert_eq!(
        records.last().unwrap()["event"],
        "run_finished",
        "{records:?}"
    );
    let out = w.run(&["restore", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "restore:\n{}", out.text());
    assert_eq!(w.weights(), baseline);

    // Paused again, then rolled back: the exact baseline, and the run is finished.
    let id = paused_run(&w);
    let out = w.run(&["rollback", &id, "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "rollback:\n{}", out.text());
    assert_eq!(
        w.weights(),
        baseline,
        "rollback returns to the exact baseline"
    );
    let states: Vec<String> = w
        .runs()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["completed", "completed", "rolled_back"]);
    let out = w.run(&["rollback", &id, "--yes"]);
    assert_eq!(
        out.code,
        3,
        "a finished run is not rolled back twice:\n{}",
        out.text()
    );
    assert!(out.stderr.contains("already rolled back"), "{}", out.stderr);
}

#[test]
fn unknown_region_is_a_usage_error() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let out = w.run(&["plan", "evacuate", "mars-north-1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("mars-north-1"));
    let out = w.run(&["evacuate", "mars-north-1", "--yes"]);
    assert_eq!(out.code, 2);
}
