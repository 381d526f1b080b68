//! `kong validate` through the binary: exit 0 for valid files; exit 2 and every problem at
//! `FILE:LINE:COLUMN` for invalid ones.

pub mod support {
    pub mod kong;
}

use std::path::{Path, PathBuf};

use support::kong::{Kong, Output};

const SHARED_TOPOLOGY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/shared/topology.yaml"
);
const SHARED_PLAYBOOK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/shared/playbook.yaml"
);

/// A small valid topology that the cases below break one way each.
const TOPOLOGY: &str = "\
name: small
regions: [r1, r2]
max_utilization: 0.8
services:
  a:
    depends_on: [b]
    capacity: {r1: 10, r2: 10}
    load: {r1: 5, r2: 5}
    dials:
      - id: dns
        route53:
          hosted_zone_id: Z1
          record: a.example.com.
          type: CNAME
          members: {m1: r1, m2: r2}
  b:
    capacity: {r1: 10, r2: 10}
    load: {r1: 5, r2: 5}
    dials:
      - id: sim
        sim: {}
";

/// A small valid playbook that the cases below break one way each.
const PLAYBOOK: &str = "\
name: p
steps: [10, 50, 100]
bake: 1m
checks:
  - name: errors
    source: sim
    metric: error_rate
    max: 0.01
";

/// A scratch directory for the files under test.
struct Files {
    kong: Kong,
}

impl Files {
    fn new() -> Self {
        Files {
            kong: Kong::scratch(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        self.kong.write(name, text)
    }

    /// Runs `kong validate` and returns (exit code, stdout, stderr).
    fn validate(&self, topology: &Path, playbook: &Path) -> (i32, String, String) {
        let output: Output = self
            .kong
            .bare(&["validate", "--topology"])
            .arg(topology)
            .arg("--playbook")
            .arg(playbook)
            .arg("--state-dir")
            .arg(self.kong.path("state"))
            .output()
            .expect("run kong")
            .into();
        (output.code, output.stdout, output.stderr)
    }

    /// Validates a broken topology (with the valid playbook); returns the `error:` lines.
    fn bad_topology(&self, text: &str) -> Vec<String> {
        let topology = self.write("topology.yaml", text);
        let playbook = self.write("playbook.yaml", PLAYBOOK);
        self.errors(&topology, &playbook)
    }

    /// Validates a broken playbook (with the valid topology); returns the `error:` lines.
    fn bad_playbook(&self, text: &str) -> Vec<String> {
        let topology = self.write("topology.yaml", TOPOLOGY);
        let playbook = self.write("playbook.yaml", text);
        self.errors(&topology, &playbook)
    }

    fn errors(&self, topology: &Path, playbook: &Path) -> Vec<String> {
        let (code, _stdout, stderr) = self.validate(topology, playbook);
        assert_eq!(code, 2, "exit code; stderr:\n{stderr}");
        stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .map(String::from)
            .collect()
    }

    /// `error: <dir>/NAME:` for expected lines.
    fn at(&self, name: &str, rest: &str) -> String {
        format!("error: {}:{rest}", self.kong.path(name).display())
    }
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture does not contain {from:?}");
    text.replacen(from, to, 1)
}

#[test]
fn valid_shared_examples_exit_0_with_an_ok_line() {
    let files = Files::new();
    let (code, stdout, stderr) =
        files.validate(Path::new(SHARED_TOPOLOGY), Path::new(SHARED_PLAYBOOK));
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("ok")),
        "stdout:\n{stdout}"
    );
    assert!(!stderr.contains("error"), "stderr:\n{stderr}");
}

#[test]
fn valid_small_files_exit_0() {
    let files = Files::new();
    let topology = files.write("topology.yaml", TOPOLOGY);
    let playbook = files.write("playbook.yaml", PLAYBOOK);
    let (code, _, stderr) = files.validate(&topology, &playbook);
    assert_eq!(code, 0, "stderr:\n{stderr}");
}

#[test]
fn unknown_key_names_the_allowed_keys_and_the_likely_one() {
    let files = Files::new();
    let text = replace(
        TOPOLOGY,
        "    load: {r1: 5, r2: 5}\n    dials:\n      - id: dns",
        "    laod: {r1: 5, r2: 5}\n    dials:\n      - id: dns",
    );
    assert_eq!(
        files.bad_topology(&text),
        [files.at(
            "topology.yaml",
            "8:5: unknown key `laod` in service `a`, expected one of: depends_on, capacity, load, load_query, max_utilization, autoscaling, dials, pinned (did you mean `load`?)"
        )]
    );
}

#[test]
fn unknown_key_in_playbook_is_an_error() {
    let files = Files::new();
    let text = replace(PLAYBOOK, "bake: 1m", "bake: 1m\nrollback_on_error: true");
    assert_eq!(
        files.bad_playbook(&text),
        [files.at(
            "playbook.yaml",
            "4:1: unknown key `rollback_on_error` in the playbook, expected one of: name, steps, bake, propagation, hold, deadline, on_abort, checks, approval, guards, prescale, hypothesis, drain, schedule, notify"
        )]
    );
}

#[test]
fn unknown_region_is_reported_where_it_is_written() {
    let files = Files::new();
    let text = replace(
        TOPOLOGY,
        "members: {m1: r1, m2: r2}",
        "members: {m1: r1, m2: r3}",
    );
    assert_eq!(
        files.bad_topology(&text),
        [files.at(
            "topology.yaml",
            "15:33: unknown region `r3` in region of member `m2` of dial `dns` of service `a`, expected one of the topology's regions: r1, r2"
        )]
    );
}

#[test]
fn unknown_depends_on_service_is_reported() {
    let files = Files::new();
    let text = replace(TOPOLOGY, "depends_on: [b]", "depends_on: [b, payments]");
    assert_eq!(
        files.bad_topology(&text),
        [files.at(
            "topology.yaml",
            "6:21: unknown service `payments` in depends_on of service `a`"
        )]
    );
}

#[test]
fn dependency_cycle_names_every_member() {
    let files = Files::new();
    let text = "\
name: cyclic
regions: [r1]
max_utilization: 0.8
services:
  edge: {depends_on: [auth]}
  auth: {depends_on: [users]}
  users: {depends_on: [edge]}
";
    assert_eq!(
        files.bad_topology(text),
        [files.at(
            "topology.yaml",
            "5:23: dependency cycle: edge -> auth -> users -> edge; remove one of these depends_on entries"
        )]
    );
}

#[test]
fn duplicate_dial_id_is_reported() {
    let files = Files::new();
    let text = replace(
        TOPOLOGY,
        "      - id: sim\n        sim: {}\n",
        "      - id: sim\n        sim: {}\n      - id: sim\n        sim: {}\n",
    );
    assert_eq!(
        files.bad_topology(&text),
        [files.at(
            "topology.yaml",
            "22:13: duplicate dial id `sim` in service `b` (first defined on line 20)"
        )]
    );
}

#[test]
fn step_out_of_range_is_reported() {
    let files = Files::new();
    let text = replace(PLAYBOOK, "steps: [10, 50, 100]", "steps: [10, 50, 120]");
    assert_eq!(
        files.bad_playbook(&text),
        [files.at(
            "playbook.yaml",
            "2:17: step `120` is out of range: expected a whole percent in 1..=100"
        )]
    );
}

#[test]
fn steps_not_increasing_are_reported() {
    let files = Files::new();
    let text = replace(PLAYBOOK, "steps: [10, 50, 100]", "steps: [10, 50, 25, 100]");
    assert_eq!(
        files.bad_playbook(&text),
        [files.at(
            "playbook.yaml",
            "2:17: steps must be strictly increasing: `25` follows `50`"
        )]
    );
}

#[test]
fn steps_not_ending_at_100_are_reported() {
    let files = Files::new();
    let text = replace(PLAYBOOK, "steps: [10, 50, 100]", "steps: [10, 50, 90]");
    assert_eq!(
        files.bad_playbook(&text),
        [files.at(
            "playbook.yaml",
            "2:17: steps must end at 100 (the whole region moved), the last step is `90`"
        )]
    );
}

#[test]
fn missing_capacity_for_a_served_region_is_reported() {
    let files = Files::new();
    let text = replace(TOPOLOGY, "capacity: {r1: 10, r2: 10}", "capacity: {r1: 10}");
    assert_eq!(
        files.bad_topology(&text),
        [files.at(
            "topology.yaml",
            "15:33: service `a` has no capacity for region `r2`, which member `m2` of dial `dns` serves; add it to `capacity` (line 7)"
        )]
    );
}

#[test]
fn max_utilization_out_of_range_is_reported() {
    let files = Files::new();
    let text = replace(TOPOLOGY, "max_utilization: 0.8", "max_utilization: 80");
    assert_eq!(
        files.bad_topology(&text),
        [files.at(
            "topology.yaml",
            "3:18: max_utilization of the topology `80` is out of range: expected a number in (0, 1], e.g. 0.75"
        )]
    );
}

#[test]
fn duration_without_unit_is_reported() {
    let files = Files::new();
    let text = replace(PLAYBOOK, "bake: 1m", "bake: 120");
    assert_eq!(
        files.bad_playbook(&text),
        [files.at(
            "playbook.yaml",
            "3:7: bake: expected a duration like 90s, 2m or 1h30m, found number `120`"
        )]
    );
}

#[test]
fn yaml_syntax_error_has_a_location() {
    let files = Files::new();
    let text = replace(TOPOLOGY, "regions: [r1, r2]", "regions: [r1, r2");
    let errors = files.bad_topology(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let prefix = files.at("topology.yaml", "");
    let rest = errors[0].strip_prefix(&prefix).expect("names the file");
    let (line, rest) = rest.split_once(':').expect("line");
    let (column, message) = rest.split_once(':').expect("column");
    assert!(line.parse::<u32>().unwrap() >= 2, "{errors:?}");
    assert!(column.parse::<u32>().unwrap() >= 1, "{errors:?}");
    assert!(message.starts_with(" invalid YAML: "), "{errors:?}");
}

#[test]
fn several_errors_in_one_file_are_all_reported_in_order() {
    let files = Files::new();
    let text = replace(TOPOLOGY, "max_utilization: 0.8", "max_utilization: 1.2");
    let text = replace(&text, "depends_on: [b]", "depends_on: [c]");
    let text = replace(
        &text,
        "members: {m1: r1, m2: r2}",
        "members: {m1: r1, m2: r9}",
    );
    let text = replace(
        &text,
        "        sim: {}\n",
        "        sim: {}\n        weight: 3\n",
    );
    assert_eq!(
        files.bad_topology(&text),
        [
            files.at("topology.yaml", "3:18: max_utilization of the topology `1.2` is out of range: expected a number in (0, 1], e.g. 0.75"),
            files.at("topology.yaml", "6:18: unknown service `c` in depends_on of service `a`"),
            files.at(
                "topology.yaml",
                "15:33: unknown region `r9` in region of member `m2` of dial `dns` of service `a`, expected one of the topology's regions: r1, r2"
            ),
            files.at("topology.yaml", "22:9: unknown key `weight` in dial `sim` of service `b`, expected one of: id, route53, alb, sim"),
        ]
    );
}

#[test]
fn errors_in_topology_and_playbook_are_reported_together() {
    let files = Files::new();
    let topology = files.write(
        "topology.yaml",
        &replace(TOPOLOGY, "regions: [r1, r2]", "regions: []"),
    );
    let playbook = files.write(
        "playbook.yaml",
        &replace(PLAYBOOK, "bake: 1m", "bake: soon"),
    );
    assert_eq!(
        files.errors(&topology, &playbook),
        [
            files.at(
                "topology.yaml",
                "2:10: regions is empty: expected at least one region, e.g. [us-east-1, us-west-2]"
            ),
            files.at(
                "playbook.yaml",
                "3:7: bake: invalid duration `soon`: expected a duration like 90s, 2m or 1h30m"
            ),
        ]
    );
}

#[test]
fn sim_check_naming_an_unknown_service_is_reported() {
    let files = Files::new();
    let text = replace(PLAYBOOK, "    max: 0.01", "    service: c\n    max: 0.01");
    assert_eq!(
        files.bad_playbook(&text),
        [files.at(
            "playbook.yaml",
            "8:14: unknown service `c` in check `errors`: not in topology `small`"
        )]
    );
}

#[test]
fn every_playbook_of_a_directory_is_validated() {
    let files = Files::new();
    let topology = files.write("topology.yaml", TOPOLOGY);
    files.write("playbooks/good.yaml", PLAYBOOK);
    files.write(
        "playbooks/bad.yaml",
        &replace(PLAYBOOK, "source: sim", "source: sim\n    query: up"),
    );
    assert_eq!(
        files.errors(&topology, &files.kong.path("playbooks")),
        [files.at(
            "playbooks/bad.yaml",
            "7:5: key `query` does not apply to a sim check (check `errors`); a sim check takes: metric"
        )]
    );
}

#[test]
fn diagnostics_show_the_source_line_with_a_caret() {
    let files = Files::new();
    let topology = files.write(
        "topology.yaml",
        &replace(TOPOLOGY, "depends_on: [b]", "depends_on: [x]"),
    );
    let playbook = files.write("playbook.yaml", PLAYBOOK);
    let (code, _, stderr) = files.validate(&topology, &playbook);
    assert_eq!(code, 2);
    let expected = format!(
        "{}\n  6 |     depends_on: [x]\n    |                  ^\n",
        files.at(
            "topology.yaml",
            "6:18: unknown service `x` in depends_on of service `a`"
        )
    );
    assert!(stderr.contains(&expected), "stderr:\n{stderr}");
}
