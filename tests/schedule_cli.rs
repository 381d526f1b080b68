//! Drills on a schedule, through the `kong` binary on the simulator: `kong drill` refused
//! outside its schedule (exit 3, nothing moved), `--force --reason` journaled, `--if-due`
//! printing one `not due:` line (exit 0, nothing moved) or running, and `kong schedule`.

pub mod support {
    pub mod kong;
}

use support::kong::{FAST_PLAYBOOK, Kong};

/// Today's date in UTC (the freezes below are in UTC).
fn today() -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// FAST_PLAYBOOK with a freeze from yesterday to the day after tomorrow (UTC): closed now.
fn frozen_playbook() -> String {
    let day = jiff::Span::new().days(1);
    let from = today().checked_sub(day).expect("yesterday");
    let to = today().checked_add(day).expect("tomorrow").checked_add(day).expect("day after");
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

#[test]
fn if_due_in_a_freeze_prints_one_not_due_line_and_moves_nothing() {
    let kong = Kong::streaming(&frozen_playbook());
    let before = kong.weights();
    let out = kong.run(&["drill", "us-east-1", "--if-due", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {}", out.text());
    assert!(lines[0].starts_with("not due: "), "{}", out.text());
    assert!(lines[0].contains("test freeze"), "{}", out.text());
    assert!(lines[0].contains("next opening"), "{}", out.text());
    assert_eq!(kong.weights(), before, "--if-due when not due moved weights");
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
    let report = std::fs::read_to_string(
        kong.path("state")
            .join("runs")
            .join(first)
            .join("drill-report.md"),
    )
    .expect("drill report");
    assert!(report.contains("quarterly game day"), "{report}");
}

#[test]
fn if_due_inside_a_window_runs_then_is_not_due_until_min_interval() {
    let kong = Kong::streaming(&always_open_playbook());
    let before = kong.weights();
    let out = kong.run(&["drill", "us-east-1", "--if-due", "--yes", "--time-scale", "100"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(!out.stdout.contains("not due"), "{}", out.text());
    assert_eq!(kong.journals().len(), 2, "{}", out.text());
    assert_eq!(kong.weights(), before, "a drill ends restored");
    let again = kong.run(&["drill", "us-east-1", "--if-due", "--yes", "--time-scale", "100"]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again.stdout.starts_with("not due: ") && again.stdout.contains("min_interval"),
        "{}",
        again.text()
    );
    assert_eq!(kong.journals().len(), 2, "the second --if-due ran a drill");
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
}
