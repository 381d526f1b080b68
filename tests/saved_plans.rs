//! Plans reviewed in pull requests, through the `kong` binary on the simulator: `kong plan
//! diff`, and `kong evacuate --plan FILE` executing exactly the reviewed plan — every
//! tampered plan refused with exit 3, naming the difference, weights unchanged.

pub mod support {
    pub mod kong;
}

use serde_json::Value;
use support::kong::{FAST_PLAYBOOK, Kong, Output};

/// `kong plan evacuate us-east-1 --out plan.json`, and the plan as JSON.
fn reviewed(w: &Kong) -> Value {
    let Output {
        code, stderr: err, ..
    } = w.run(&["plan", "evacuate", "us-east-1", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&std::fs::read_to_string(w.path("plan.json")).unwrap()).unwrap()
}

/// `kong evacuate us-east-1 --plan FILE` on a fast clock.
fn execute(w: &Kong, file: &str) -> Output {
    w.run(&[
        "evacuate",
        "us-east-1",
        "--plan",
        file,
        "--yes",
        "--time-scale",
        "100",
    ])
}

/// Every dial of `w` at the weights of `plan`'s target.
fn assert_at_target(w: &Kong, plan: &Value) {
    let after = w.weights();
    for (dial, members) in plan["target"].as_object().unwrap() {
        for (member, weight) in members.as_object().unwrap() {
            assert_eq!(&after[dial][member], weight, "{dial} {member}");
        }
    }
}

/// Indices of the steps of `service`, in order.
fn steps_of(plan: &Value, service: &str) -> Vec<usize> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, s)| s["service"] == service)
        .map(|(i, _)| i)
        .collect()
}

/// Runs the tampered plan: exit 3, every `named` text in the refusal, weights unchanged.
fn assert_refused(w: &Kong, tampered: &Value, named: &[&str]) {
    let before = w.weights();
    w.write(
        "tampered.json",
        &serde_json::to_string_pretty(tampered).unwrap(),
    );
    let Output {
        code,
        stdout: out,
        stderr: err,
    } = execute(w, "tampered.json");
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("is not the plan kong computes now"), "{err}");
    for text in named {
        assert!(err.contains(text), "missing {text:?} in:\n{err}");
    }
    assert_eq!(w.weights(), before, "a refused plan moved traffic");
    assert!(!out.contains("finished"), "{out}");
}

#[test]
fn a_middle_step_edited_consistently_is_refused() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let mut plan = reviewed(&w);
    let steps = steps_of(&plan, "edge-api");
    assert!(steps.len() >= 3, "{steps:?}");
    let (middle, next) = (steps[1], steps[2]);
    // More to one member at the middle step, and the next step starting from there: each
    // step still follows from the one before.
    let change = plan["steps"][middle]["changes"][0].clone();
    let to = change["to"].as_u64().unwrap() + 5;
    plan["steps"][middle]["changes"][0]["to"] = to.into();
    for c in plan["steps"][next]["changes"].as_array_mut().unwrap() {
        if c["dial"] == change["dial"] && c["member"] == change["member"] {
            c["from"] = to.into();
        }
    }
    let percent = plan["steps"][middle]["percent"].as_u64().unwrap();
    let location = format!(
        "steps: edge-api at {percent}%, {} {}",
        change["dial"].as_str().unwrap(),
        change["member"].as_str().unwrap()
    );
    assert_refused(
        &w,
        &plan,
        &[&location, "in the file", "in the plan computed now"],
    );
}

#[test]
fn a_last_step_sending_everything_to_one_region_is_refused() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let mut plan = reviewed(&w);
    let last = *steps_of(&plan, "catalog").last().unwrap();
    // The last step of catalog sends everything to one member, and the target agrees.
    let changes = plan["steps"][last]["changes"].as_array_mut().unwrap();
    let dial = changes[0]["dial"].as_str().unwrap().to_string();
    let member = changes
        .iter()
        .find(|c| c["to"].as_u64().unwrap() > 0)
        .map(|c| c["member"].as_str().unwrap().to_string())
        .unwrap();
    for c in changes.iter_mut() {
        let heavy = c["member"] == member.as_str();
        c["to"] = if heavy { 255 } else { 0 }.into();
    }
    if let Some(members) = plan["target"][&dial].as_object_mut() {
        for (m, v) in members.iter_mut() {
            *v = if *m == member { 255 } else { 0 }.into();
        }
    }
    assert_refused(&w, &plan, &["steps: catalog at 100%"]);
}

#[test]
fn a_flipped_preflight_ok_is_refused() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let mut plan = reviewed(&w);
    plan["preflight"][0]["ok"] = false.into();
    let row = &plan["preflight"][0];
    let location = format!(
        "pre-flight: {} in {}, ok: false in the file, true in the plan computed now",
        row["service"].as_str().unwrap(),
        row["region"].as_str().unwrap()
    );
    assert_refused(&w, &plan, &[&location]);
}

#[test]
fn a_reordered_wave_is_refused() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let mut plan = reviewed(&w);
    let waves = plan["waves"].as_array_mut().unwrap();
    assert!(waves.len() >= 2);
    waves.swap(0, 1);
    let (first, second) = (waves[0].clone(), waves[1].clone());
    // The steps follow the new order and wave numbers, as a careful editor would make them.
    let steps = plan["steps"].as_array_mut().unwrap();
    for s in steps.iter_mut() {
        let wave = s["wave"].as_u64().unwrap();
        if wave < 2 {
            s["wave"] = (1 - wave).into();
        }
    }
    steps.sort_by_key(|s| s["wave"].as_u64().unwrap());
    let expected = format!(
        "waves: wave 1: {} in the file, {} in the plan computed now",
        join(&first),
        join(&second)
    );
    assert_refused(&w, &plan, &[&expected]);
}

fn join(wave: &Value) -> String {
    wave.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn a_removed_step_is_refused() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let mut plan = reviewed(&w);
    let steps = steps_of(&plan, "playback");
    let removed = steps[1];
    let percent = plan["steps"][removed]["percent"].as_u64().unwrap();
    plan["steps"].as_array_mut().unwrap().remove(removed);
    let location = format!("steps: playback at {percent}%: only in the plan computed now");
    assert_refused(&w, &plan, &[&location]);
}

#[test]
fn the_reviewed_plan_untouched_executes_to_its_target() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let plan = reviewed(&w);
    let Output {
        code,
        stdout: out,
        stderr: err,
    } = execute(&w, "plan.json");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_at_target(&w, &plan);
}

#[test]
fn a_reviewed_plan_saved_in_another_json_layout_executes_like_the_original() {
    // Not the bytes `kong plan` writes (compact, keys sorted), the same plan: it is read
    // whole and compared field by field, and runs.
    let w = Kong::streaming(FAST_PLAYBOOK);
    let plan = reviewed(&w);
    w.write("compact.json", &serde_json::to_string(&plan).unwrap());
    let out = execute(&w, "compact.json");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_at_target(&w, &plan);
}

#[test]
fn a_reviewed_plan_is_refused_once_live_weights_moved_since_review() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let plan = reviewed(&w);
    // Someone moves traffic after the review: eu-west-1 is evacuated.
    let moved = w.run(&["evacuate", "eu-west-1", "--yes", "--time-scale", "100"]);
    assert_eq!(moved.code, 0, "{}", moved.text());
    let before = w.weights();
    let out = execute(&w, "plan.json");
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(
        out.stderr
            .contains("differ from the baseline of plan plan.json")
            && out
                .stderr
                .contains("the world moved since the plan was made"),
        "{}",
        out.text()
    );
    assert_eq!(w.weights(), before, "a stale plan moved traffic");
    assert!(plan["steps"].as_array().is_some_and(|s| !s.is_empty()));
}

#[test]
fn plan_diff_exits_0_when_identical_1_when_a_step_changed_2_on_a_non_plan() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let mut plan = reviewed(&w);
    let same = w.run(&["plan", "diff", "plan.json", "plan.json"]);
    assert_eq!(same.code, 0, "{}", same.text());
    let out = same.stdout;
    assert!(
        out.contains("no differences: the plans are identical"),
        "{out}"
    );

    let last = *steps_of(&plan, "catalog").last().unwrap();
    let to = plan["steps"][last]["changes"][0]["to"].as_u64().unwrap();
    plan["steps"][last]["changes"][0]["to"] = (to + 7).into();
    w.write("new.json", &serde_json::to_string_pretty(&plan).unwrap());
    let changed = w.run(&["plan", "diff", "plan.json", "new.json"]);
    assert_eq!(changed.code, 1, "{}", changed.text());
    let out = changed.stdout;
    assert!(
        out.contains("--- plan.json\n+++ new.json\n1 difference\n"),
        "{out}"
    );
    assert!(out.contains("~ catalog at 100%, catalog/"), "{out}");
    assert!(out.contains(&format!("to {to} (")), "{out}");
    assert!(out.contains(&format!("to {} (", to + 7)), "{out}");

    w.write("other.json", "{\"not\": \"a plan\"}");
    let Output {
        code, stderr: err, ..
    } = w.run(&["plan", "diff", "plan.json", "other.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("other.json: not a kong plan"), "{err}");
}

#[test]
fn plan_diff_markdown_of_a_reordered_and_edited_plan() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let mut plan = reviewed(&w);
    let steps = plan["steps"].as_array_mut().unwrap();
    let moved = steps.remove(1);
    steps.push(moved);
    plan["preflight"][0]["ok"] = false.into();
    plan["notes"]
        .as_array_mut()
        .unwrap()
        .push("a note added by hand".into());
    w.write("new.json", &serde_json::to_string_pretty(&plan).unwrap());
    let Output {
        code,
        stdout: out,
        stderr: err,
    } = w.run(&[
        "plan",
        "diff",
        "plan.json",
        "new.json",
        "--format",
        "markdown",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.starts_with("backend: sim"), "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn plan_markdown_within_max_chars_through_the_binary() {
    let w = Kong::streaming(FAST_PLAYBOOK);
    let Output {
        code,
        stdout: full,
        stderr: err,
    } = w.run(&["plan", "evacuate", "us-east-1", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    let Output {
        code,
        stdout: out,
        stderr: err,
    } = w.run(&[
        "plan",
        "evacuate",
        "us-east-1",
        "--format",
        "markdown",
        "--max-chars",
        "6000",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(full.len() > 6000, "the example plan should need cutting");
    assert!(out.chars().count() <= 6000, "{} chars", out.chars().count());
    assert!(out.starts_with("## kong plan: evacuate us-east-1"), "{out}");
    for part in [
        "### Pre-flight",
        "### Waves",
        "left out to stay within 6000",
    ] {
        assert!(out.contains(part), "missing {part}:\n{out}");
    }
    assert!(err.starts_with("backend: sim"), "{err}");
    let Output {
        code, stderr: err, ..
    } = w.run(&["plan", "evacuate", "us-east-1", "--max-chars", "6000"]);
    assert_eq!(code, 2, "{err}");
}
