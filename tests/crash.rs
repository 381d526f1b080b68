//! kill -9 at random instants, then `kong rollback` (or `kong resume`): the weights end
//! exactly at the baseline (or at the completed evacuation), and the journal parses; with the
//! local state dir, and (a subset of the trials) with the shared state in DynamoDB (moto).

pub mod support {
    pub mod kong;
    pub mod moto;
}

use std::collections::BTreeMap;
use std::time::Duration;

use support::kong::{Kong, State, fast_playbook};

/// A fast playbook without propagation waits.
fn playbook() -> String {
    fast_playbook(&[("name", "crash"), ("propagation", "0s")])
}

/// The example topology and `playbook` on the simulator, every apply taking 15 ms so a kill
/// lands mid-run.
fn slow_applies(playbook: &str) -> Kong {
    Kong::streaming(playbook).env("KONG_SIM_API_LATENCY_MS", "15")
}

/// Whether us-east-1 serves no traffic any more.
fn evacuated(kong: &Kong) -> bool {
    kong.status()["shares"]
        .as_object()
        .unwrap()
        .values()
        .all(|s| s["us-east-1"].as_f64().unwrap_or(0.0) == 0.0)
}

/// A small deterministic generator, so a failing trial can be replayed by its number.
fn delay_ms(trial: u64) -> u64 {
    let mut x = trial.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    // Spread over start-up, the journal's first writes, every step, and the end.
    5 + x % 1700
}

#[test]
fn rollback_or_resume_after_kill_9_at_random_instants_is_exact() {
    kill_trials(0..24, &State::Local);
}

#[test]
fn rollback_or_resume_after_kill_9_is_exact_on_dynamodb_state() {
    // A subset of the local trials (CI time): every kind of kill point still comes up.
    // A 2 s lease: the killed holder's lock expires quickly.
    let state = State::DynamoDb {
        endpoint: support::moto::moto().url(),
        lease: "2s",
    };
    kill_trials((0..24).step_by(3).chain([4, 8]), &state);
}

/// Kills an evacuation at the instant of each trial, then resumes or rolls it back; on
/// `state` (on DynamoDB, a table of its own per trial).
fn kill_trials(trials: impl Iterator<Item = u64>, state: &State) {
    let mut outcomes = BTreeMap::<String, usize>::new();
    for trial in trials {
        // Every third trial fails a check after a few steps, so some kills land mid-rollback.
        let playbook = if trial % 3 == 2 {
            playbook().replace(
                "metric: p99_latency_ms\n    per: destination\n    max: 250",
                "metric: utilization\n    per: destination\n    max: 0.55",
            )
        } else {
            playbook()
        };
        let t = slow_applies(&playbook).on(state);
        let baseline = t.weights();
        let mut child = t.spawn(&["evacuate", "us-east-1", "--yes", "--time-scale", "20"]);
        std::thread::sleep(Duration::from_millis(delay_ms(trial)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if let State::DynamoDb { .. } = state {
            // The shared lock outlives the process until its lease expires.
            std::thread::sleep(Duration::from_millis(2500));
        }

        // The journal parses whatever instant the kill hit.
        let runs = t.runs();
        assert!(runs.len() <= 1, "trial {trial}: {runs:?}");
        let Some(run) = runs.first() else {
            assert_eq!(
                t.weights(),
                baseline,
                "trial {trial}: killed before the run began"
            );
            *outcomes.entry("before start".into()).or_default() += 1;
            continue;
        };
        let id = run["id"].as_str().unwrap().to_string();
        let state = run["state"].as_str().unwrap().to_string();
        match state.as_str() {
            "completed" => {
                assert!(evacuated(&t), "trial {trial}: completed but not evacuated");
            }
            "refused" | "rolled_back" => assert_eq!(t.weights(), baseline, "trial {trial}"),
            _ if trial % 4 == 0 && trial % 3 != 2 => {
                let out = t.run(&["resume", &id, "--yes", "--time-scale", "20"]);
                assert_eq!(out.code, 0, "trial {trial}: resume failed: {}", out.stderr);
                assert!(
                    evacuated(&t),
                    "trial {trial}: resumed run did not finish the evacuation"
                );
            }
            _ => {
                let out = t.run(&["rollback", &id]);
                assert_eq!(
                    out.code,
                    0,
                    "trial {trial}: rollback failed: {}",
                    out.text()
                );
                assert_eq!(
                    t.weights(),
                    baseline,
                    "trial {trial}: rollback is not exact"
                );
            }
        }
        *outcomes.entry(state).or_default() += 1;
        // Whatever happened, the journal still parses and the run is now finished.
        let runs = t.runs();
        assert!(
            runs.iter().all(|r| r["state"] != "running"),
            "trial {trial}"
        );
    }
    eprintln!("crash trials by state at kill: {outcomes:?}");
    assert!(
        outcomes
            .keys()
            .any(|s| s == "running" || s == "rolling_back"),
        "no trial killed a run mid-way: {outcomes:?}"
    );
}
