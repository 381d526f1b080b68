//! Snapshots of what each command prints and the exit code it returns, on the simulator: its
//! main success path and its main refusal path. Run ids, times, durations, the host and the
//! pid change from run to run; insta filters redact them, nothing else.

use std::path::PathBuf;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const FAST_PLAYBOOK: &str = "name: fast
steps: [50, 100]
bake: 1s
propagation: 1s
hold: 1s
on_abort: rollback
checks:
  - name: destination p99
    source: sim
    metric: p99_latency_ms
    per: destination
    max: 250
";

/// A check that passes at the baseline and fails once the destinations fill up.
fn failing_check(playbook: &str) -> String {
    playbook.replace(
        "    metric: p99_latency_ms\n    per: destination\n    max: 250",
        "    metric: utilization\n    per: destination\n    max: 0.55",
    )
}

/// A scratch dir with the example topology and a fast playbook; the state dir inside it.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            root().join("topology/streaming.yaml"),
            dir.path().join("topology.yaml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("playbook.yaml"), FAST_PLAYBOOK).unwrap();
        World { dir }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    /// `kong ARGS` with relative paths (so that none of the scratch dir shows) and no
    /// setting of the environment leaking in.
    fn run(&self, args: &[&str]) -> Ran {
        let mut cmd = Command::cargo_bin("kong").unwrap();
        cmd.current_dir(self.dir.path()).args(args).args([
            "--topology",
            "topology.yaml",
            "--playbook",
            "playbook.yaml",
            "--state-dir",
            "state",
        ]);
        for (var, _) in std::env::vars() {
            if var.starts_with("KONG_") || var.starts_with("OTEL_") || var == "RUST_LOG" {
                cmd.env_remove(var);
            }
        }
        let out = cmd.output().unwrap();
        Ran {
            args: args.join(" "),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The id of the last run, from `kong runs --format json`.
    fn last_run(&self) -> String {
        let ran = self.run(&["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
        runs.as_array().unwrap().last().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// One command's result.
struct Ran {
    args: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The snapshot text: the command, its exit code, both streams.
    fn text(&self) -> String {
        format!(
            "$ kong {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
            self.args,
            self.code,
            checks_in_order(&self.stdout),
            self.stderr
        )
    }
}

/// The checks of one round are evaluated concurrently and printed as each completes: each
/// run of consecutive `check` progress lines is put in a fixed order (their text after the
/// time stamp), the rest is left as printed.
fn checks_in_order(stdout: &str) -> String {
    let is_check = |line: &str| {
        line.split_once(' ')
            .is_some_and(|(_, text)| text.starts_with("check "))
    };
    let lines: Vec<&str> = stdout.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let mut j = i;
        while j < lines.len() && is_check(lines[j]) {
            j += 1;
        }
        if j > i {
            let mut block = lines[i..j].to_vec();
            block.sort_by_key(|line| line.split_once(' ').map(|(_, text)| text));
            for line in block {
                out.push_str(line);
                out.push('\n');
            }
            i = j;
        } else {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
        }
    }
    out
}

/// Asserts the snapshot of `ran` with what changes from run to run redacted.
fn snapshot(name: &str, ran: &Ran) {
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut filters = vec![
        (
            r"\d{8}-\d{6}-(evacuate|restore)-([a-z0-9-]+?)-[0-9a-f]{4}\b",
            "[RUN $1 $2]",
        ),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[TIME]",
        ),
        (r"\b\d{2}:\d{2}:\d{2}\b", "[HH:MM:SS]"),
        (r"\(pid \d+\)", "(pid [PID])"),
        // Durations measured, not configured: a report's `took` column and total.
        (r"\| \d[0-9hm.]*(ms|s|m) \|", "| [TOOK] |"),
        // The report's phase durations and drain time are measured.
        (
            r"\b(pre-flight|prescale|evacuate|hold|restore|drained) \d+(\.\d+)?(ms|s)\b",
            "$1 [DUR]",
        ),
        (r"\(\d[0-9hm.]*(ms|s|m)\) \|", "([TOOK]) |"),
    ];
    let host_pattern = regex_escape(&host);
    if !host.is_empty() {
        filters.push((host_pattern.as_str(), "[HOST]"));
    }
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!(name, ran.text());
    });
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn validate() {
    let w = World::new();
    snapshot("validate_ok", &w.run(&["validate"]));
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace("bake: 1s", "bake: soon"),
    );
    snapshot("validate_invalid", &w.run(&["validate"]));
}

#[test]
fn plan() {
    let w = World::new();
    snapshot("plan_ok", &w.run(&["plan", "evacuate", "us-east-1"]));
    let topology = std::fs::read_to_string(root().join("topology/streaming.yaml")).unwrap();
    w.write(
        "topology.yaml",
        &topology.replace("max_utilization: 0.75", "max_utilization: 0.3"),
    );
    snapshot(
        "plan_preflight_fails",
        &w.run(&["plan", "evacuate", "us-east-1"]),
    );
}

#[test]
fn evacuate() {
    let w = World::new();
    snapshot("evacuate_not_confirmed", &w.run(&["evacuate", "us-east-1"]));
    snapshot(
        "evacuate_ok",
        &w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]),
    );
}

#[test]
fn restore() {
    let w = World::new();
    let ran = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(ran.code, 0, "{}", ran.text());
    snapshot("restore_not_confirmed", &w.run(&["restore", "us-east-1"]));
    snapshot(
        "restore_ok",
        &w.run(&["restore", "us-east-1", "--yes", "--time-scale", "100"]),
    );
}

#[test]
fn drill() {
    let w = World::new();
    snapshot("drill_not_confirmed", &w.run(&["drill", "us-east-1"]));
    snapshot(
        "drill_ok",
        &w.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]),
    );
}

#[test]
fn status() {
    let w = World::new();
    snapshot("status_ok", &w.run(&["status"]));
    std::fs::remove_file(w.dir.path().join("topology.yaml")).unwrap();
    snapshot("status_no_topology", &w.run(&["status"]));
}

#[test]
fn runs() {
    let w = World::new();
    let ran = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(ran.code, 0, "{}", ran.text());
    snapshot("runs_ok", &w.run(&["runs"]));
    snapshot("runs_bad_format", &w.run(&["runs", "--format", "yaml"]));
}

#[test]
fn report() {
    let w = World::new();
    let ran = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(ran.code, 0, "{}", ran.text());
    let id = w.last_run();
    snapshot("report_ok", &w.run(&["report", &id]));
    snapshot("report_unknown_run", &w.run(&["report", "no-such-run"]));
}

/// A run paused by a failing check (`on_abort: pause`), left for resume or rollback.
fn paused_run(w: &World) -> String {
    w.write(
        "playbook.yaml",
        &failing_check(&FAST_PLAYBOOK.replace("on_abort: rollback", "on_abort: pause")),
    );
    let ran = w.run(&["evacuate", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(ran.code, 5, "{}", ran.text());
    w.last_run()
}

#[test]
fn resume() {
    let w = World::new();
    let id = paused_run(&w);
    // The check is fixed: the run continues where it paused.
    w.write(
        "playbook.yaml",
        &FAST_PLAYBOOK.replace("on_abort: rollback", "on_abort: pause"),
    );
    snapshot(
        "resume_ok",
        &w.run(&["resume", &id, "--yes", "--time-scale", "100"]),
    );
    snapshot(
        "resume_unknown_run",
        &w.run(&["resume", "no-such-run", "--yes"]),
    );
}

#[test]
fn rollback() {
    let w = World::new();
    let id = paused_run(&w);
    // Another run cannot start while this one is unfinished.
    snapshot(
        "rollback_other_run_refused",
        &w.run(&["evacuate", "eu-west-1", "--yes", "--time-scale", "100"]),
    );
    snapshot(
        "rollback_ok",
        &w.run(&["rollback", &id, "--yes", "--time-scale", "100"]),
    );
    snapshot(
        "rollback_finished_run",
        &w.run(&["rollback", &id, "--yes", "--time-scale", "100"]),
    );
}

#[test]
fn graph() {
    let w = World::new();
    snapshot("graph_ok", &w.run(&["graph", "--format", "mermaid"]));
    snapshot("graph_bad_format", &w.run(&["graph", "--format", "png"]));
}
