//! Snapshots of what each command prints and the exit code it returns, on the simulator: its
//! main success path and its main refusal path. Run ids, times, durations, the host and the
//! pid change from run to run; insta filters redact them, nothing else.

pub mod support {
    pub mod kong;
}

use support::kong::{Kong, fast_playbook};

/// Steps 50 and 100 only: the snapshots stay short.
fn fast() -> String {
    fast_playbook(&[("steps", "[50, 100]")])
}

/// A check that passes at the baseline and fails once the destinations fill up.
fn failing_check(playbook: &str) -> String {
    playbook.replace(
        "    metric: p99_latency_ms\n    per: destination\n    max: 250",
        "    metric: utilization\n    per: destination\n    max: 0.55",
    )
}

/// A scratch dir with the example topology and the fast playbook; the state dir inside it.
fn world() -> Kong {
    Kong::streaming(&fast())
}

/// `kong ARGS` with relative paths (so that none of the scratch dir shows) and the runner's
/// clean environment.
fn run(w: &Kong, args: &[&str]) -> Ran {
    let out = w.run(args);
    Ran {
        args: args.join(" "),
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// The id of the last run, from `kong runs --format json`.
fn last_run(w: &Kong) -> String {
    let runs = w.runs();
    runs.last().expect("a run")["id"]
        .as_str()
        .expect("run id")
        .to_string()
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
    let w = world();
    snapshot("validate_ok", &run(&w, &["validate"]));
    w.write("playbook.yaml", &fast().replace("bake: 1s", "bake: soon"));
    snapshot("validate_invalid", &run(&w, &["validate"]));
}

#[test]
fn plan() {
    let w = world();
    snapshot("plan_ok", &run(&w, &["plan", "evacuate", "us-east-1"]));
    let topology = support::kong::STREAMING;
    w.write(
        "topology.yaml",
        &topology.replace("max_utilization: 0.75", "max_utilization: 0.3"),
    );
    snapshot(
        "plan_preflight_fails",
        &run(&w, &["plan", "evacuate", "us-east-1"]),
    );
}

#[test]
fn evacuate() {
    let w = world();
    snapshot(
        "evacuate_not_confirmed",
        &run(&w, &["evacuate", "us-east-1"]),
    );
    snapshot(
        "evacuate_ok",
        &run(
            &w,
            &["evacuate", "us-east-1", "--yes", "--time-scale", "100"],
        ),
    );
}

#[test]
fn restore() {
    let w = world();
    let ran = run(
        &w,
        &["evacuate", "us-east-1", "--yes", "--time-scale", "100"],
    );
    assert_eq!(ran.code, 0, "{}", ran.text());
    snapshot("restore_not_confirmed", &run(&w, &["restore", "us-east-1"]));
    snapshot(
        "restore_ok",
        &run(
            &w,
            &["restore", "us-east-1", "--yes", "--time-scale", "100"],
        ),
    );
}

#[test]
fn drill() {
    let w = world();
    snapshot("drill_not_confirmed", &run(&w, &["drill", "us-east-1"]));
    snapshot(
        "drill_ok",
        &run(&w, &["drill", "us-east-1", "--yes", "--time-scale", "100"]),
    );
}

#[test]
fn status() {
    let w = world();
    snapshot("status_ok", &run(&w, &["status"]));
    std::fs::remove_file(w.path("topology.yaml")).unwrap();
    snapshot("status_no_topology", &run(&w, &["status"]));
}

#[test]
fn runs() {
    let w = world();
    let ran = run(
        &w,
        &["evacuate", "us-east-1", "--yes", "--time-scale", "100"],
    );
    assert_eq!(ran.code, 0, "{}", ran.text());
    snapshot("runs_ok", &run(&w, &["runs"]));
    snapshot("runs_bad_format", &run(&w, &["runs", "--format", "yaml"]));
}

#[test]
fn report() {
    let w = world();
    let ran = run(
        &w,
        &["evacuate", "us-east-1", "--yes", "--time-scale", "100"],
    );
    assert_eq!(ran.code, 0, "{}", ran.text());
    let id = last_run(&w);
    snapshot("report_ok", &run(&w, &["report", &id]));
    snapshot("report_unknown_run", &run(&w, &["report", "no-such-run"]));
}

/// A run paused by a failing check (`on_abort: pause`), left for resume or rollback.
fn paused_run(w: &Kong) -> String {
    w.write(
        "playbook.yaml",
        &failing_check(&fast().replace("on_abort: rollback", "on_abort: pause")),
    );
    let ran = run(
        w,
        &["evacuate", "us-east-1", "--yes", "--time-scale", "100"],
    );
    assert_eq!(ran.code, 5, "{}", ran.text());
    last_run(w)
}

#[test]
fn resume() {
    let w = world();
    let id = paused_run(&w);
    // The check is fixed: the run continues where it paused.
    w.write(
        "playbook.yaml",
        &fast().replace("on_abort: rollback", "on_abort: pause"),
    );
    snapshot(
        "resume_ok",
        &run(&w, &["resume", &id, "--yes", "--time-scale", "100"]),
    );
    snapshot(
        "resume_unknown_run",
        &run(&w, &["resume", "no-such-run", "--yes"]),
    );
}

#[test]
fn rollback() {
    let w = world();
    let id = paused_run(&w);
    // Another run cannot start while this one is unfinished.
    snapshot(
        "rollback_other_run_refused",
        &run(
            &w,
            &["evacuate", "eu-west-1", "--yes", "--time-scale", "100"],
        ),
    );
    snapshot(
        "rollback_ok",
        &run(&w, &["rollback", &id, "--yes", "--time-scale", "100"]),
    );
    snapshot(
        "rollback_finished_run",
        &run(&w, &["rollback", &id, "--yes", "--time-scale", "100"]),
    );
}

#[test]
fn graph() {
    let w = world();
    snapshot("graph_ok", &run(&w, &["graph", "--format", "mermaid"]));
    snapshot("graph_bad_format", &run(&w, &["graph", "--format", "png"]));
}
