//! Drills on a schedule, through the `kong` binary on the simulator: `kong drill` refused
//! outside its schedule (exit 3, nothing moved), `--force --reason` journaled, `--if-due`
//! printing one `not due:` line (exit 0, nothing moved) or running, and `kong schedule`;
//! the runs announced to webhooks (a local receiver that also fails and hangs); a scheduler
//! stopping kong with SIGTERM (a pod deleted) rolls back like Ctrl-C.

pub mod support {
    pub mod kong;
    pub mod webhook;
}

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;
use support::kong::{FAST_PLAYBOOK, Kong};
use support::webhook::{Behaviour, Receiver};

/// Today's date in UTC (the freezes below are in UTC).
fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// FAST_PLAYBOOK with a freeze from yesterday to the day after tomorrow (UTC): closed now.
fn frozen_playbook() -> String {
    let day = jiff::Span::new().days(1);
    let from = today().checked_sub(day).expect("yesterday");
    let to = today()
        .checked_add(day)
        .expect("tomorrow")
        .checked_add(day)
        .expect("day after");
    format!(
        "{FAST_PLAYBOOK}schedule:\n  freezes:\n    - {{from: {from}, to: {to}, reason: test freeze, timezone: UTC}}\n"
    )
}

/// FAST_PLAYBOOK with a window open every day, all day.
fn always_open_playbook() -> String {
    format!(
        "{FAST_PLAYBOOK}schedule:\n  windows:\n    - {{days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-24:00\", timezone: UTC}}\n  min_interval: 7d\n"
    )
}

/// `kong drill us-east-1 --if-due` on a fast clock.
const IF_DUE: &[&str] = &[
    "drill",
    "us-east-1",
    "--if-due",
    "--yes",
    "--time-scale",
    "100",
];

/// The drill report written beside the journal of `run` (the drill's evacuation).
fn drill_report(kong: &Kong, run: &str) -> String {
    std::fs::read_to_string(
        kong.path("state")
            .join("runs")
            .join(run)
            .join("drill-report.md"),
    )
    .expect("drill report")
}

/// Runs `--if-due` where it is not due: exit 0, stdout is the one `not due: ...` line (the
/// backend line goes to stderr), no weight moved and no run added; returns that line.
fn not_due_line(kong: &Kong) -> String {
    let (weights, runs) = (kong.weights(), kong.runs().len());
    let out = kong.run(IF_DUE);
    assert_eq!(out.code, 0, "{}", out.text());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {}", out.text());
    assert!(lines[0].starts_with("not due: "), "{}", out.text());
    assert!(lines[0].contains("next opening"), "{}", out.text());
    assert!(out.stderr.starts_with("backend: sim"), "{}", out.text());
    assert_eq!(
        kong.weights(),
        weights,
        "--if-due when not due moved weights"
    );
    assert_eq!(kong.runs().len(), runs, "--if-due when not due ran");
    lines[0].to_string()
}

#[test]
fn if_due_in_a_freeze_prints_one_not_due_line_and_moves_nothing() {
    let kong = Kong::streaming(&frozen_playbook());
    let line = not_due_line(&kong);
    assert!(line.contains("test freeze"), "{line}");
}

#[test]
fn drill_in_a_freeze_is_refused_with_exit_3_naming_the_freeze() {
    let kong = Kong::streaming(&frozen_playbook());
    let before = kong.weights();
    let out = kong.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 3, "{}", out.text());
    assert!(out.stderr.contains("test freeze"), "{}", out.text());
    assert!(out.stderr.contains("next opening"), "{}", out.text());
    assert_eq!(kong.weights(), before, "a refused drill moved weights");
    assert!(kong.runs().is_empty(), "a refused drill left a run");
}

#[test]
fn force_without_reason_is_a_usage_error() {
    let kong = Kong::streaming(&frozen_playbook());
    let out = kong.run(&["drill", "us-east-1", "--force", "--yes"]);
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("--reason"), "{}", out.text());
}

#[test]
fn forced_drill_runs_and_journals_the_reason_and_operator() {
    let kong = Kong::streaming(&frozen_playbook());
    let before = kong.weights();
    let out = kong.run(&[
        "drill",
        "us-east-1",
        "--force",
        "--reason",
        "quarterly game day",
        "--yes",
        "--time-scale",
        "100",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(kong.weights(), before, "a drill ends restored");
    let journals = kong.journals();
    assert_eq!(journals.len(), 2, "evacuation and restore: {journals:?}");
    for (run, records) in &journals {
        let header = records[0].to_string();
        assert!(
            header.contains("quarterly game day") && header.contains("test freeze"),
            "run {run}: the header lacks the forced reason: {header}"
        );
        assert!(header.contains("\"operator\""), "run {run}: {header}");
    }
    let (first, _) = &journals[0];
    let report = drill_report(&kong, first);
    assert!(report.contains("quarterly game day"), "{report}");
}

#[test]
fn if_due_inside_a_window_runs_then_is_not_due_until_min_interval() {
    let kong = Kong::streaming(&always_open_playbook());
    let before = kong.weights();
    let out = kong.run(IF_DUE);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(!out.stdout.contains("not due"), "{}", out.text());
    assert!(out.stdout.starts_with("backend: sim"), "{}", out.text());
    assert_eq!(kong.runs().len(), 2, "{}", out.text());
    assert_eq!(kong.weights(), before, "a drill ends restored");
    let line = not_due_line(&kong);
    assert!(line.contains("min_interval"), "{line}");
}

#[test]
fn schedule_prints_every_region_or_one() {
    let kong = Kong::streaming(&frozen_playbook());
    let out = kong.run(&["schedule"]);
    assert_eq!(out.code, 0, "{}", out.text());
    for region in ["us-east-1", "us-west-2", "eu-west-1"] {
        assert!(out.stdout.contains(region), "{region}: {}", out.text());
    }
    assert!(out.stdout.contains("test freeze"), "{}", out.text());
    let one = kong.run(&["schedule", "--region", "us-west-2"]);
    assert_eq!(one.code, 0, "{}", one.text());
    assert!(one.stdout.contains("us-west-2"), "{}", one.text());
    assert!(!one.stdout.contains("eu-west-1"), "{}", one.text());
    let unknown = kong.run(&["schedule", "--region", "mars-1"]);
    assert_eq!(unknown.code, 2, "{}", unknown.text());
    let json = kong.json(&["schedule", "--format", "json"]);
    let rows = json.as_array().expect("one object per region");
    assert_eq!(rows.len(), 3, "{json}");
    for row in rows {
        assert_eq!(row["due"], false, "{row}");
        assert!(row["last_drill"].is_null(), "{row}");
        assert!(row["next_opening"].is_string(), "{row}");
        assert!(
            row["not_due"]
                .as_str()
                .is_some_and(|t| t.contains("test freeze")),
            "{row}"
        );
    }
}

/// A path that looks like a Slack token: it must never leak.
const SECRET: &str = "/services/T000SECRET/B000SECRET/XXXXSECRETXXXX";

/// Every file under `dir`, as text (journals, reports, charts).
fn texts_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(texts_under(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path, text));
        }
    }
    out
}

#[test]
fn a_drill_is_announced_in_order_and_lost_announcements_are_noted_without_urls() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let json = runtime.block_on(Receiver::start(Behaviour::Accept));
    let slack = runtime.block_on(Receiver::start(Behaviour::Accept));
    let failing = runtime.block_on(Receiver::start(Behaviour::Fail));
    let hanging = runtime.block_on(Receiver::start(Behaviour::Hang));
    let playbook = format!(
        "{FAST_PLAYBOOK}notify:\n  - {{url: \"{}\", format: json}}\n  - {{url: \"{}\", format: slack}}\n  - {{url: \"{}\", format: json}}\n  - {{url: \"{}\", format: json, timeout: 300ms}}\n",
        json.url(SECRET),
        slack.url(SECRET),
        failing.url(SECRET),
        hanging.url(SECRET),
    );
    let kong = Kong::streaming(&playbook).env("USER", "alice");
    let before = kong.weights();
    let out = kong.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(kong.weights(), before, "a drill ends restored");

    // Every event of both runs, in order, with the run's fields.
    let received: Vec<Value> = json.received().into_iter().map(|r| r.body).collect();
    let runs: Vec<String> = kong
        .runs()
        .iter()
        .map(|r| r["id"].as_str().expect("run id").to_string())
        .collect();
    assert_eq!(runs.len(), 2, "evacuation and restore: {runs:?}");
    let evacuation_dir = kong.path("state").join("runs").join(&runs[0]);
    let drill_report = evacuation_dir.join("drill-report.md");
    let mut names = Vec::new();
    for event in &received {
        names.push(format!(
            "{} {}",
            event["operation"].as_str().unwrap_or("?"),
            event["event"].as_str().unwrap_or("?")
        ));
        assert_eq!(event["command"], "drill", "{event}");
        assert_eq!(event["region"], "us-east-1", "{event}");
        assert_eq!(event["operator"], "alice", "{event}");
        assert!(
            event["host"].as_str().is_some_and(|h| !h.is_empty()),
            "{event}"
        );
        assert!(
            event["report"]
                .as_str()
                .is_some_and(|r| r.ends_with(&format!("{}/drill-report.md", runs[0]))),
            "{event}"
        );
    }
    let run_of = |event: &Value| event["run"].as_str().unwrap_or("?").to_string();
    let split = received
        .iter()
        .position(|e| run_of(e) == runs[1])
        .expect("an event of the restore");
    assert!(
        received[..split].iter().all(|e| run_of(e) == runs[0]),
        "{names:?}"
    );
    assert!(
        received[split..].iter().all(|e| run_of(e) == runs[1]),
        "{names:?}"
    );
    for (run, events) in [(&runs[0], &names[..split]), (&runs[1], &names[split..])] {
        let operation = if run == &runs[0] {
            "evacuate"
        } else {
            "restore"
        };
        assert_eq!(
            events.first().map(String::as_str),
            Some(&*format!("{operation} start"))
        );
        assert_eq!(
            events.last().map(String::as_str),
            Some(&*format!("{operation} finish"))
        );
        let waves = events.iter().filter(|e| e.ends_with(" wave")).count();
        assert_eq!(
            events.len(),
            waves + 2,
            "start, each wave, finish: {events:?}"
        );
    }
    let waves: Vec<u64> = received[..split]
        .iter()
        .filter(|e| e["event"] == "wave")
        .map(|e| e["wave"].as_u64().expect("wave index"))
        .collect();
    assert_eq!(
        waves,
        (0..waves.len() as u64).collect::<Vec<_>>(),
        "waves in order"
    );
    assert!(
        waves.len() >= 2,
        "the example topology has several waves: {waves:?}"
    );
    assert_eq!(received.last().expect("events")["exit_code"], 0);
    let slack_texts: Vec<String> = slack
        .received()
        .into_iter()
        .map(|r| r.body["text"].as_str().expect("slack text").to_string())
        .collect();
    assert_eq!(slack_texts.len(), received.len(), "{slack_texts:?}");
    assert!(
        slack_texts[0].contains("kong drill (evacuate) us-east-1: started"),
        "{slack_texts:?}"
    );

    // The failing and the hanging webhooks: said on stderr and noted in the journal and the
    // drill report, by host only.
    assert!(
        out.stderr
            .contains("notify: webhook 127.0.0.1: start not delivered: HTTP 500"),
        "{}",
        out.text()
    );
    assert!(out.stderr.contains("no answer within"), "{}", out.text());
    let notes: Vec<String> = kong
        .journals()
        .iter()
        .flat_map(|(_, records)| records.clone())
        .filter(|r| r["event"] == "note")
        .map(|r| r.to_string())
        .collect();
    assert!(notes.iter().any(|n| n.contains("HTTP 500")), "{notes:?}");
    let report = std::fs::read_to_string(&drill_report).expect("drill report");
    assert!(report.contains("not delivered"), "{report}");

    // No URL anywhere: output, journals, reports, charts.
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("SECRET"), "a webhook URL leaked: {text}");
    }
    for (path, text) in texts_under(&kong.path("state")) {
        assert!(
            !text.contains("SECRET"),
            "a webhook URL leaked into {}",
            path.display()
        );
    }
    drop(runtime);
}

#[test]
fn sigterm_from_a_scheduler_aborts_and_rolls_back_like_ctrl_c() {
    let playbook = FAST_PLAYBOOK.replace("bake: 1s", "bake: 10m");
    let kong = Kong::streaming(&playbook);
    let before = kong.weights();
    let mut child = kong
        .command(&["evacuate", "us-east-1", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kong");
    // Wait for the first step's new shares: traffic has moved, the bake has begun.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("read stdout") > 0,
            "kong ended before its first step: {seen}"
        );
        seen.push_str(&line);
        if line.trim_start().starts_with("shares:") {
            break;
        }
    }
    // The step is printed as it starts: wait for the simulator to show its change.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while kong.weights() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the first step never moved traffic: {seen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill -TERM");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("stdout");
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{seen}{rest}{stderr}");
    assert!(
        stderr.contains("terminated (SIGTERM): aborting"),
        "{stderr}"
    );
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert_eq!(
        kong.weights(),
        before,
        "SIGTERM left traffic off its baseline"
    );
}

/// A time zone whose local time is now near noon (so that a window ending a few minutes
/// from now never crosses midnight) and the local time now.
fn zone_near_noon() -> (String, jiff::civil::DateTime) {
    let now = jiff::Timestamp::now();
    let hour = i64::from(now.to_zoned(jiff::tz::TimeZone::UTC).hour());
    let offset = 12 - hour; // -11..=12
    let name = match offset {
        0 => "UTC".to_string(),
        // The Etc zones' signs are POSIX's: Etc/GMT-3 is three hours ahead of UTC.
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    let zone = jiff::tz::TimeZone::get(&name).expect("bundled Etc zone");
    (name, now.to_zoned(zone).datetime())
}

#[test]
fn a_window_closing_during_the_hold_cuts_the_hold_and_the_report_says_so() {
    let (zone, local) = zone_near_noon();
    let end = local
        .checked_add(jiff::Span::new().minutes(3))
        .expect("three minutes on");
    let playbook = format!(
        "{}schedule:\n  windows:\n    - {{days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-{:02}:{:02}\", timezone: {zone}}}\n",
        FAST_PLAYBOOK.replace("hold: 1s", "hold: 1h"),
        end.hour(),
        end.minute()
    );
    let kong = Kong::streaming(&playbook);
    let before = kong.weights();
    let out = kong.run(&["drill", "us-east-1", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("hold cut short from 1h00m to ")
            && out.stdout.contains("window closes"),
        "{}",
        out.text()
    );
    assert_eq!(
        kong.weights(),
        before,
        "the drill restored after its cut hold"
    );
    let (first, records) = &kong.journals()[0];
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "note"
                && r["text"].as_str().unwrap_or("").contains("hold cut short")),
        "the evacuation's journal notes the cut: {records:?}"
    );
    let report = drill_report(&kong, first);
    assert!(report.contains("hold cut short"), "{report}");
}

#[test]
fn if_due_outside_every_window_prints_the_next_opening_and_moves_nothing() {
    let (zone, _) = zone_near_noon();
    // Local time is 12:xx: a 00:00-05:00 window is closed, and opens next at midnight.
    let playbook = format!(
        "{FAST_PLAYBOOK}schedule:\n  windows:\n    - {{days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-05:00\", timezone: {zone}}}\n"
    );
    let kong = Kong::streaming(&playbook);
    let line = not_due_line(&kong);
    assert!(
        line.starts_with("not due: outside every drill window")
            && line.contains("00:00-05:00")
            && line.contains(" 00:00 "),
        "{line}"
    );
}
