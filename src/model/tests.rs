//! Loader tests: the shared examples load as written; each kind of mistake is reported at
//! its line and column, and all of a file's mistakes are reported together.

use std::time::Duration;

use super::*;

const TOPOLOGY: &str = include_str!("../../tests/fixtures/shared/topology.yaml");
const PLAYBOOK: &str = include_str!("../../tests/fixtures/shared/playbook.yaml");

/// The first lines of the diagnostics, `FILE:LINE:COL: message`.
fn topology_errors(text: &str) -> Vec<String> {
    match parse_topology("t.yaml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

fn playbook_errors(text: &str) -> Vec<String> {
    let topology = parse_topology("t.yaml", TOPOLOGY).ok();
    match parse_playbook("p.yaml", text, topology.as_ref()) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

/// `SMALL_PLAYBOOK` with `extra` appended, read against `TOPOLOGY`.
fn small_playbook(extra: &str) -> Result<Playbook, Diagnostics> {
    let topology = parse_topology("t.yaml", TOPOLOGY).ok();
    parse_playbook(
        "p.yaml",
        &format!("{SMALL_PLAYBOOK}{extra}"),
        topology.as_ref(),
    )
}

/// The errors of `SMALL_PLAYBOOK` with `extra` appended.
fn small_playbook_errors(extra: &str) -> Vec<String> {
    playbook_errors(&format!("{SMALL_PLAYBOOK}{extra}"))
}

/// A small valid topology to mutate.
const SMALL: &str = "\
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

/// A small valid playbook to mutate.
const SMALL_PLAYBOOK: &str = "\
name: p
steps: [10, 50, 100]
checks:
  - name: c
    source: sim
    metric: error_rate
    max: 0.01
";

#[test]
fn shared_example_topology_loads_as_written() {
    let t = parse_topology("topology.yaml", TOPOLOGY).unwrap();
    assert_eq!(t.name, "streaming");
    assert_eq!(t.regions, ["us-east-1", "us-west-2", "eu-west-1"]);
    assert_eq!(t.max_utilization, 0.75);
    assert_eq!(t.backend, None);
    assert_eq!(
        t.metrics.prometheus.as_ref().unwrap().url,
        "http://127.0.0.1:9090"
    );
    assert_eq!(t.services.len(), 4);
    let edge = &t.services["edge-api"];
    assert_eq!(edge.depends_on, ["playback", "identity"]);
    assert_eq!(edge.capacity["eu-west-1"], 8000.0);
    assert_eq!(edge.load["us-east-1"], 5000.0);
    assert_eq!(edge.dials.len(), 2);
    assert_eq!(
        edge.dials[0].kind,
        DialKind::Route53 {
            hosted_zone_id: "Z0000000EXAMPLE".into(),
            record: "api.example.com.".into(),
            record_type: "CNAME".into()
        }
    );
    assert_eq!(edge.dials[0].members["usw2"], "us-west-2");
    let alb = &edge.dials[1];
    assert_eq!(alb.alb_region(), Some("us-east-1"));
    assert_eq!(alb.members.len(), 2);
    assert!(alb.members.values().any(|r| r == "us-west-2"));
    // A sim dial without members gets one per region with capacity, named after it.
    let sim = &t.services["catalog"].dials[0];
    assert_eq!(sim.kind, DialKind::Sim);
    assert_eq!(
        sim.members
            .iter()
            .map(|(m, r)| (m.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [
            ("eu-west-1", "eu-west-1"),
            ("us-east-1", "us-east-1"),
            ("us-west-2", "us-west-2")
        ]
    );
}

#[test]
fn shared_example_playbook_loads_as_written() {
    let t = parse_topology("topology.yaml", TOPOLOGY).unwrap();
    let p = parse_playbook("playbook.yaml", PLAYBOOK, Some(&t)).unwrap();
    assert_eq!(p.name, "evacuate");
    assert_eq!(p.steps, [10, 25, 50, 100]);
    assert_eq!(p.bake, Duration::from_secs(120));
    assert_eq!(p.propagation, Duration::from_secs(30));
    assert_eq!(p.hold, Duration::from_secs(1800));
    assert_eq!(p.deadline, None);
    assert_eq!(p.on_abort, OnAbort::Rollback);
    assert_eq!(p.approval.before_percent, [50]);
    assert_eq!(p.checks.len(), 3);
    assert_eq!(p.checks[0].per, Per::Destination);
    assert_eq!(p.checks[0].threshold.max, Some(0.01));
    assert!(
        matches!(&p.checks[0].source, CheckSource::Prometheus { query } if query.contains("{{region}}"))
    );
    assert_eq!(p.checks[1].per, Per::Global);
    assert_eq!(p.checks[1].threshold.min_ratio_to_baseline, Some(0.95));
    assert_eq!(p.checks[1].consecutive, 1);
    assert_eq!(p.checks[1].interval, Duration::from_secs(10));
    assert_eq!(
        p.checks[2].source,
        CheckSource::Sim {
            metric: SimMetric::P99LatencyMs,
        }
    );
    assert_eq!(p.checks[2].threshold.max, Some(250.0));
}

#[test]
fn small_fixtures_are_valid() {
    assert_eq!(topology_errors(SMALL), Vec::<String>::new());
    assert_eq!(playbook_errors(SMALL_PLAYBOOK), Vec::<String>::new());
}

#[test]
fn playbook_defaults_apply_when_keys_are_absent() {
    let p = parse_playbook("p.yaml", "name: p\nsteps: [100]\n", None).unwrap();
    assert_eq!(p.bake, Duration::ZERO);
    assert_eq!(p.propagation, Duration::ZERO);
    assert_eq!(p.hold, Duration::ZERO);
    assert_eq!(p.on_abort, OnAbort::Rollback);
    assert!(p.checks.is_empty());
    assert!(p.approval.before_percent.is_empty());
}

#[test]
fn optional_topology_keys_are_read() {
    let text = SMALL
        .replace(
            "max_utilization: 0.8\n",
            "max_utilization: 0.8\nbackend: aws\nmetrics:\n  cloudwatch: {region: r1}\n",
        )
        .replace(
            "    load: {r1: 5, r2: 5}\n    dials:\n      - id: sim",
            "    load: {r1: 5, r2: 5}\n    max_utilization: 0.5\n    dials:\n      - id: sim",
        );
    let t = parse_topology("t.yaml", &text).unwrap();
    assert_eq!(t.backend, Some(BackendKind::Aws));
    assert_eq!(
        t.metrics.cloudwatch.as_ref().unwrap().region.as_deref(),
        Some("r1")
    );
    assert_eq!(t.services["b"].max_utilization, Some(0.5));
    assert_eq!(t.services["b"].max_utilization(&t), 0.5);
    assert_eq!(t.services["a"].max_utilization(&t), 0.8);
}

#[test]
fn unknown_keys_are_all_reported_with_the_allowed_keys() {
    let text = SMALL
        .replace("max_utilization: 0.8", "max_utilisation: 0.8")
        .replace(
            "    capacity: {r1: 10, r2: 10}\n    load: {r1: 5, r2: 5}\n    dials:\n      - id: sim",
            "    capcity: {r1: 10, r2: 10}\n    load: {r1: 5, r2: 5}\n    dials:\n      - id: sim",
        );
    let errors = topology_errors(&text);
    assert_eq!(
        errors,
        [
            "t.yaml:3:1: unknown key `max_utilisation` in the topology, expected one of: name, regions, max_utilization, backend, state, metrics, services, notify (did you mean `max_utilization`?)",
            "t.yaml:17:5: unknown key `capcity` in service `b`, expected one of: depends_on, capacity, load, load_query, max_utilization, autoscaling, dials, pinned (did you mean `capacity`?)",
        ]
        .map(String::from)
        .to_vec()
    );
}

#[test]
fn unknown_regions_are_reported_where_they_are_written() {
    let text = SMALL
        .replace(
            "capacity: {r1: 10, r2: 10}\n    load: {r1: 5, r2: 5}\n    dials:\n      - id: dns",
            "capacity: {r1: 10, r3: 10}\n    load: {r1: 5, r2: 5}\n    dials:\n      - id: dns",
        )
        .replace("members: {m1: r1, m2: r2}", "members: {m1: r1, m2: r9}");
    let errors = topology_errors(&text);
    assert_eq!(
        errors,
        [
            "t.yaml:7:24: unknown region `r3` in capacity of service `a`, expected one of the topology's regions: r1, r2",
            "t.yaml:15:33: unknown region `r9` in region of member `m2` of dial `dns` of service `a`, expected one of the topology's regions: r1, r2",
        ]
        .map(String::from)
        .to_vec()
    );
}

#[test]
fn missing_capacity_for_a_served_region_names_dial_and_member() {
    let text = SMALL.replacen("capacity: {r1: 10, r2: 10}", "capacity: {r1: 10}", 1);
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:15:33: service `a` has no capacity for region `r2`, which member `m2` of dial `dns` serves; add it to `capacity` (line 7)"
        ]
    );
    let text = SMALL.replacen("    load: {r1: 5, r2: 5}\n", "", 1);
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:5:3: missing key `load` in service `a`: expected a value for every region its dials serve (dial `dns` member `m1` serves `r1`)"
        ]
    );
}

#[test]
fn dependency_errors_name_the_service() {
    let text = SMALL.replace("depends_on: [b]", "depends_on: [bb, a]");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:6:18: unknown service `bb` in depends_on of service `a`",
            "t.yaml:6:22: service `a` depends on itself",
        ]
    );
}

#[test]
fn cycles_name_every_member() {
    let text = "\
name: c
regions: [r1]
max_utilization: 1
services:
  a: {depends_on: [b]}
  b: {depends_on: [c]}
  c: {depends_on: [a]}
  d: {depends_on: [e]}
  e: {depends_on: [d, a]}
";
    assert_eq!(
        topology_errors(text),
        [
            "t.yaml:5:20: dependency cycle: a -> b -> c -> a; remove one of these depends_on entries",
            "t.yaml:8:20: dependency cycle: d -> e -> d; remove one of these depends_on entries",
        ]
    );
}

#[test]
fn cycles_that_are_not_simple_still_name_every_member() {
    // b <-> a <-> c: no simple cycle covers all three; the walk does.
    let text = "\
name: c
regions: [r1]
max_utilization: 1
services:
  a: {depends_on: [b, c]}
  b: {depends_on: [a]}
  c: {depends_on: [a]}
";
    assert_eq!(
        topology_errors(text),
        [
            "t.yaml:5:20: dependency cycle: a -> b -> a -> c -> a; remove one of these depends_on entries"
        ]
    );
}

#[test]
fn duplicate_names_are_reported() {
    let text = SMALL.replace(
        "      - id: sim\n        sim: {}\n",
        "      - id: sim\n        sim: {}\n      - id: sim\n        sim: {}\n",
    );
    assert_eq!(
        topology_errors(&text),
        ["t.yaml:22:13: duplicate dial id `sim` in service `b` (first defined on line 20)"]
    );
    let text = SMALL.replace("regions: [r1, r2]", "regions: [r1, r2, r1]");
    assert_eq!(
        topology_errors(&text),
        ["t.yaml:2:19: duplicate region `r1` in regions (first listed on line 2)"]
    );
    let text = SMALL.replace("members: {m1: r1, m2: r2}", "members: {m1: r1, m1: r2}");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:15:29: duplicate SetIdentifier `m1` in members of dial `dns` of service `a` (first defined on line 15)"
        ]
    );
    let text = SMALL.replace("name: small\n", "name: small\nname: again\n");
    assert_eq!(
        topology_errors(&text),
        ["t.yaml:2:1: duplicate key `name` in the topology (first set on line 1)"]
    );
}

#[test]
fn out_of_range_numbers_are_reported() {
    let text = SMALL
        .replace("max_utilization: 0.8", "max_utilization: 1.5")
        .replacen("load: {r1: 5, r2: 5}", "load: {r1: -5, r2: 5}", 1);
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:3:18: max_utilization of the topology `1.5` is out of range: expected a number in (0, 1], e.g. 0.75",
            "t.yaml:8:16: load of service `a` in `r1` is `-5`: expected a number >= 0 (requests/s)",
        ]
    );
    let text = SMALL.replace("max_utilization: 0.8", "max_utilization: 0");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:3:18: max_utilization of the topology `0` is out of range: expected a number in (0, 1], e.g. 0.75"
        ]
    );
}

#[test]
fn empty_regions_is_an_error() {
    let text = SMALL.replace("regions: [r1, r2]", "regions: []");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:2:10: regions is empty: expected at least one region, e.g. [us-east-1, us-west-2]"
        ]
    );
}

#[test]
fn alb_rules_are_enforced() {
    let alb = |body: &str| {
        SMALL.replace(
            "      - id: sim\n        sim: {}\n",
            &format!("      - id: lb\n        alb:\n{body}"),
        )
    };
    let six: String = (1..=6)
        .map(|i| format!("            tg{i}: r1\n"))
        .collect();
    let text = alb(&format!(
        "          region: r1\n          listener_arn: arn:l\n          members:\n{six}"
    ));
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:24:11: dial `lb` of service `b` has 6 members: an ALB forward action takes at most 5 target groups"
        ]
    );
    let text = alb(
        "          region: r1\n          listener_arn: arn:l\n          rule_arn: arn:r\n          members: {tg: r1}\n",
    );
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:24:11: dial `lb` of service `b` has both `listener_arn` and `rule_arn`: expected exactly one of them"
        ]
    );
    let text = alb("          region: r1\n          members: {tg: r1}\n");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:21:9: missing key `listener_arn` or `rule_arn` in alb of dial `lb` of service `b`: expected exactly one of them"
        ]
    );
    let text = alb("          region: r1\n          rule_arn: arn:r\n          members: {}\n");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:24:11: dial `lb` of service `b` has no members: expected at least one target group mapped to the region it serves"
        ]
    );
}

#[test]
fn dial_provider_must_be_exactly_one() {
    let text = SMALL.replace("        sim: {}\n", "");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:20:9: dial `sim` of service `b` has no provider: expected one of the keys route53, alb, sim"
        ]
    );
    let text = SMALL.replace("        sim: {}\n", "        sim: {}\n        alb: {}\n");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:22:9: dial `sim` of service `b` has both `sim` and `alb`: expected exactly one of route53, alb, sim"
        ]
    );
}

#[test]
fn route53_fields_must_be_non_empty_and_type_known() {
    let text = SMALL
        .replace("hosted_zone_id: Z1", "hosted_zone_id: ''")
        .replace("type: CNAME", "type: cname");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:12:27: hosted_zone_id of dial `dns` of service `a` is empty: expected a non-empty string",
            "t.yaml:14:17: unknown record type `cname` in dial `dns` of service `a`, expected one of: A, AAAA, CAA, CNAME, DS, HTTPS, MX, NAPTR, NS, PTR, SPF, SRV, SSHFP, SVCB, TLSA, TXT (did you mean `CNAME`?)",
        ]
    );
}

#[test]
fn dial_members_all_in_one_region_are_allowed() {
    let text = SMALL.replace("members: {m1: r1, m2: r2}", "members: {m1: r1, m2: r1}");
    assert_eq!(topology_errors(&text), Vec::<String>::new());
}

#[test]
fn wrong_types_are_reported_with_what_was_found() {
    let text = SMALL
        .replace("regions: [r1, r2]", "regions: r1")
        .replace("depends_on: [b]", "depends_on: b");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:2:10: expected regions (a list), found string `r1`",
            "t.yaml:6:17: expected depends_on of service `a` (a list), found string `b`",
        ]
    );
}

#[test]
fn steps_must_be_in_range_increasing_and_end_at_100() {
    let steps = |s: &str| playbook_errors(&SMALL_PLAYBOOK.replace("steps: [10, 50, 100]", s));
    assert_eq!(
        steps("steps: [0, 50, 100]"),
        ["p.yaml:2:9: step `0` is out of range: expected a whole percent in 1..=100"]
    );
    assert_eq!(
        steps("steps: [10, 150]"),
        ["p.yaml:2:13: step `150` is out of range: expected a whole percent in 1..=100"]
    );
    assert_eq!(
        steps("steps: [50, 25, 100]"),
        ["p.yaml:2:13: steps must be strictly increasing: `25` follows `50`"]
    );
    assert_eq!(
        steps("steps: [10, 50]"),
        ["p.yaml:2:13: steps must end at 100 (the whole region moved), the last step is `50`"]
    );
    assert_eq!(
        steps("steps: []"),
        [
            "p.yaml:2:1: steps is empty: expected cumulative percents ending at 100, e.g. [10, 25, 50, 100]"
        ]
    );
    assert_eq!(
        steps("steps: [10, 12.5, 100]"),
        ["p.yaml:2:13: expected step (a whole percent in 1..=100), found number `12.5`"]
    );
}

#[test]
fn durations_must_have_units() {
    let text = SMALL_PLAYBOOK.replace(
        "steps: [10, 50, 100]\n",
        "steps: [10, 50, 100]\nbake: 90\nhold: 2x\n",
    );
    assert_eq!(
        playbook_errors(&text),
        [
            "p.yaml:3:7: bake: expected a duration like 90s, 2m or 1h30m, found number `90`",
            "p.yaml:4:7: hold: invalid duration `2x`: expected a duration like 90s, 2m or 1h30m",
        ]
    );
}

#[test]
fn checks_are_validated_per_source() {
    let text = "\
name: p
steps: [100]
checks:
  - name: a
    source: sim
    metric: p99
    query: up
    max: 1
  - name: a
    source: prometheus
    query: up
  - name: c
    source: sim
    metric: error_rate
    service: nope
    min: 2
    max: 1
  - name: d
    source: datadog
    max: 1
approval:
  before_percent: [0]
";
    assert_eq!(
        playbook_errors(text),
        [
            "p.yaml:6:13: unknown sim metric `p99` in check `a`, expected one of: requests_per_second, utilization, error_rate, p50_latency_ms, p99_latency_ms, latency_ratio",
            "p.yaml:7:5: key `query` does not apply to a sim check (check `a`); a sim check takes: metric",
            "p.yaml:9:5: check `a` has no threshold: expected at least one of max, min, min_ratio_to_baseline, max_ratio_to_baseline, max_increase",
            "p.yaml:15:14: unknown service `nope` in check `c`: not in topology `streaming`",
            "p.yaml:16:10: min `2` of check `c` is above max `1`: no value can pass",
            "p.yaml:19:13: unknown source `datadog` in check `d`, expected one of: prometheus, cloudwatch, sim",
            "p.yaml:22:20: approval.before_percent `0` is out of range: expected a whole percent in 1..=100",
        ]
    );
}

#[test]
fn duplicate_check_names_are_reported() {
    let text = SMALL_PLAYBOOK.to_string()
        + "  - name: c\n    source: sim\n    metric: utilization\n    max: 0.9\n";
    assert_eq!(
        playbook_errors(&text),
        ["p.yaml:8:11: duplicate check name `c` (first used on line 4)"]
    );
}

#[test]
fn cloudwatch_checks_read_their_fields() {
    let text = "\
name: p
steps: [100]
checks:
  - name: cw
    source: cloudwatch
    namespace: AWS/ApplicationELB
    metric: HTTPCode_Target_5XX_Count
    dimensions: {LoadBalancer: '{{region}}'}
    stat: Sum
    period: 1m
    per: destination
    max: 10
    consecutive: 3
    interval: 30s
";
    let p = parse_playbook("p.yaml", text, None).unwrap();
    let c = &p.checks[0];
    assert_eq!(c.consecutive, 3);
    assert_eq!(c.interval, Duration::from_secs(30));
    assert_eq!(
        c.source,
        CheckSource::Cloudwatch {
            namespace: "AWS/ApplicationELB".into(),
            metric: "HTTPCode_Target_5XX_Count".into(),
            dimensions: [("LoadBalancer".into(), "{{region}}".into())].into(),
            stat: "Sum".into(),
            period: 60,
        }
    );
    let bad = text.replace("period: 1m", "period: 7");
    assert_eq!(
        playbook_errors(&bad),
        [
            "p.yaml:10:13: period of check `cw` is out of range: expected 1, 5, 10, 30 or a multiple of 60 seconds"
        ]
    );
}

#[test]
fn syntax_errors_have_a_location() {
    let errors = topology_errors("name: x\nregions: [r1\nservices: {}\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("t.yaml:"), "{errors:?}");
    assert!(!errors[0].starts_with("t.yaml:0:0"), "{errors:?}");
    assert!(errors[0].contains("invalid YAML"), "{errors:?}");
}

#[test]
fn several_errors_in_one_file_are_all_reported_in_order() {
    let text = SMALL
        .replace("max_utilization: 0.8", "max_utilization: 2")
        .replace("depends_on: [b]", "depends_on: [x]")
        .replace("members: {m1: r1, m2: r2}", "members: {m1: r1, m2: r7}")
        .replace(
            "        sim: {}\n",
            "        sim: {}\n        colour: blue\n",
        );
    let errors = topology_errors(&text);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    let lines: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').nth(1).unwrap())
        .collect();
    assert_eq!(lines, ["3", "6", "15", "22"]);
}

#[test]
fn diagnostics_carry_the_source_line() {
    let err = parse_topology(
        "t.yaml",
        &SMALL.replace("depends_on: [b]", "depends_on: [x]"),
    )
    .unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        "error: t.yaml:6:18: unknown service `x` in depends_on of service `a`\n  6 |     depends_on: [x]\n    |                  ^\n"
    );
}

#[test]
fn empty_and_non_mapping_documents_are_errors() {
    assert_eq!(
        topology_errors(""),
        [
            "t.yaml:1:1: missing key `max_utilization` in the topology",
            "t.yaml:1:1: missing key `name` in the topology",
            "t.yaml:1:1: missing key `regions` in the topology",
            "t.yaml:1:1: missing key `services` in the topology",
        ]
    );
    assert_eq!(
        playbook_errors("- 1\n"),
        [
            "p.yaml:1:1: expected the playbook (a mapping with keys name, steps, bake, propagation, hold, deadline, on_abort, checks, approval, guards, prescale, hypothesis, drain, schedule, notify), found a list"
        ]
    );
}

#[test]
fn sim_dial_without_members_or_capacity_is_an_error_not_a_dropped_service() {
    let text = SMALL.replace("  b:\n    capacity: {r1: 10, r2: 10}\n", "  b:\n");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:20:9: dial `sim` of service `b` has no members: the service has no capacity > 0 in any region; declare `members` or `capacity`"
        ]
    );
}

#[test]
fn large_cycles_still_name_every_member() {
    // A ring of 100 services with a shortcut: the shortest cycle skips half of them, and
    // the message names the rest.
    let mut text = String::from("name: ring\nregions: [r1]\nmax_utilization: 1\nservices:\n");
    for i in 0..100 {
        let next = (i + 1) % 100;
        let deps = if i == 0 {
            format!("[s{next}, s50]")
        } else {
            format!("[s{next}]")
        };
        text.push_str(&format!("  s{i}: {{depends_on: {deps}}}\n"));
    }
    let errors = topology_errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = &errors[0];
    for i in 0..100 {
        assert!(
            message.contains(&format!("s{i} "))
                || message.contains(&format!("s{i},"))
                || message.contains(&format!("s{i})")),
            "s{i} missing: {message}"
        );
    }
    assert!(message.contains("the cycle also involves"), "{message}");
}

#[test]
fn prometheus_check_needs_a_prometheus_server_in_the_topology() {
    let topology = parse_topology("t.yaml", SMALL).unwrap();
    assert!(topology.metrics.prometheus.is_none());
    let text = "\
name: p
steps: [100]
checks:
  - name: p99
    source: prometheus
    query: max(p99)
    max: 1
";
    let errors: Vec<String> = match parse_playbook("p.yaml", text, Some(&topology)) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    };
    assert_eq!(
        errors,
        [
            "p.yaml:5:13: check `p99` reads prometheus, but topology `small` declares no Prometheus server: add `metrics: {prometheus: {url: http://HOST:9090}}` to it"
        ]
    );
    // Without a topology (validating a playbook alone) there is nothing to compare with.
    assert!(parse_playbook("p.yaml", text, None).is_ok());
}

#[test]
fn guards_are_on_by_default_and_can_be_tuned_or_turned_off() {
    use crate::model::Guards;
    let parse = |extra: &str| {
        parse_playbook("p.yaml", &format!("{SMALL_PLAYBOOK}{extra}"), None)
            .unwrap()
            .guards
    };
    assert_eq!(parse(""), Guards::default());
    assert!(Guards::default().utilization);
    assert_eq!(parse("guards: false\n"), Guards::off());
    assert_eq!(parse("guards: true\n"), Guards::default());
    assert_eq!(
        parse("guards: {latency_ratio: 2, error_rate: false}\n"),
        Guards {
            utilization: true,
            latency_ratio: Some(2.0),
            error_rate: None,
        }
    );
    assert_eq!(
        playbook_errors(&format!(
            "{SMALL_PLAYBOOK}guards: {{latency_ratio: 0.5, utilisation: false}}\n"
        )),
        vec![
            "p.yaml:8:25: guards.latency_ratio: expected a number > 1 (e.g. 1.3) or false",
            "p.yaml:8:30: unknown key `utilisation` in guards, expected one of: utilization, latency_ratio, error_rate (did you mean `utilization`?)",
        ]
    );
    assert_eq!(
        playbook_errors(&format!("{SMALL_PLAYBOOK}guards: {{latency_ratio: 0.5}}\n")),
        vec!["p.yaml:8:25: guards.latency_ratio: expected a number > 1 (e.g. 1.3) or false"]
    );
    assert_eq!(
        playbook_errors(&format!("{SMALL_PLAYBOOK}guards: maybe\n")),
        vec![
            "p.yaml:8:9: guards: expected true, false, or a mapping of utilization, latency_ratio, error_rate"
        ]
    );
}

#[test]
fn a_service_load_query_is_read_and_validated() {
    let t = parse_topology(
        "t.yaml",
        &TOPOLOGY.replace(
            "    load:     {us-east-1: 3000, us-west-2: 2000, eu-west-1: 1500}\n",
            "    load:     {us-east-1: 3000, us-west-2: 2000, eu-west-1: 1500}\n    load_query:\n      prometheus: 'sum(rps{service=\"{{service}}\",region=\"{{region}}\"})'\n",
        ),
    )
    .unwrap();
    assert!(matches!(
        &t.services["playback"].load_query,
        Some(CheckSource::Prometheus { query }) if query.contains("{{region}}")
    ));
    assert!(t.services["edge-api"].load_query.is_none());
    let errors = topology_errors(&TOPOLOGY.replace(
        "    load:     {us-east-1: 3000, us-west-2: 2000, eu-west-1: 1500}\n",
        "    load:     {us-east-1: 3000, us-west-2: 2000, eu-west-1: 1500}\n    load_query: {prometheus: 'x', cloudwatch: {namespace: N, metric: M}}\n",
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("expected exactly one of"), "{errors:?}");
    // A query to a source the topology does not declare could never be read.
    let errors = topology_errors(&TOPOLOGY.replace(
        "    load:     {us-east-1: 3000, us-west-2: 2000, eu-west-1: 1500}\n",
        "    load:     {us-east-1: 3000, us-west-2: 2000, eu-west-1: 1500}\n    load_query: {cloudwatch: {namespace: N, metric: M}}\n",
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("reads cloudwatch, but the topology does not declare it: add `metrics: {cloudwatch: {}}`"),
        "{errors:?}"
    );
}

#[test]
fn a_cloudwatch_check_needs_cloudwatch_declared_in_the_topology() {
    let topology = parse_topology("t.yaml", SMALL).unwrap();
    let text = "\
name: p
steps: [100]
checks:
  - name: errors
    source: cloudwatch
    namespace: AWS/ApplicationELB
    metric: HTTPCode_Target_5XX_Count
    max: 1
";
    let errors: Vec<String> = match parse_playbook("p.yaml", text, Some(&topology)) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("p.yaml:5:13: check `errors` reads cloudwatch, but topology `small` does not declare CloudWatch"),
        "{errors:?}"
    );
    assert!(parse_playbook("p.yaml", text, None).is_ok());
}

/// SMALL with `autoscaling` (given as YAML lines indented for service `b`) added to `b`.
fn with_autoscaling(lines: &str) -> String {
    SMALL.replace(
        "  b:\n    capacity:",
        &format!("  b:\n    autoscaling:\n{lines}    capacity:"),
    )
}

#[test]
fn autoscaling_bindings_are_read() {
    let text = with_autoscaling(
        "      r1: {group: b-r1, per_instance: 250}\n      r2: {group: b-r2, per_instance: 12.5}\n",
    );
    let topology = parse_topology("t.yaml", &text).expect("valid");
    let b = &topology.services["b"];
    assert_eq!(
        b.autoscaling["r1"],
        AutoscalingBinding {
            group: "b-r1".into(),
            per_instance: 250.0
        }
    );
    assert_eq!(b.autoscaling["r2"].per_instance, 12.5);
    assert!(topology.services["a"].autoscaling.is_empty());
}

#[test]
fn autoscaling_mistakes_are_reported_where_they_are_written() {
    let text = with_autoscaling(
        "      r3: {group: x, per_instance: 1}\n      r1: {group: '', per_instance: 0}\n      r2: {grup: b, per_instance: 1}\n",
    );
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:18:7: unknown region `r3` in autoscaling of service `b`, expected one of the topology's regions: r1, r2",
            "t.yaml:19:19: group of autoscaling of service `b` in `r1` is empty: expected a non-empty string",
            "t.yaml:19:37: per_instance of autoscaling of service `b` in `r1` is `0`: expected requests/s one instance serves, a number > 0",
            "t.yaml:20:12: unknown key `grup` in autoscaling of service `b` in `r2`, expected one of: group, per_instance (did you mean `group`?)",
        ]
    );
    let text = with_autoscaling("      r1: {per_instance: -3}\n");
    assert_eq!(
        topology_errors(&text),
        [
            "t.yaml:18:7: missing key `group` in autoscaling of service `b` in `r1`",
            "t.yaml:18:26: per_instance of autoscaling of service `b` in `r1` is `-3`: expected requests/s one instance serves, a number > 0",
        ]
    );
}

#[test]
fn prescale_is_off_true_or_a_mapping_with_a_timeout() {
    let read = |extra: &str| small_playbook(extra).map(|p| p.prescale);
    assert_eq!(read("").unwrap(), None);
    assert_eq!(read("prescale: false\n").unwrap(), None);
    assert_eq!(
        read("prescale: true\n").unwrap(),
        Some(Prescale {
            timeout: Duration::from_secs(600)
        })
    );
    assert_eq!(
        read("prescale: {timeout: 3m}\n").unwrap(),
        Some(Prescale {
            timeout: Duration::from_secs(180)
        })
    );
    assert_eq!(
        read("prescale: {}\n").unwrap(),
        Some(Prescale {
            timeout: Duration::from_secs(600)
        })
    );
}

#[test]
fn prescale_mistakes_are_reported() {
    for (extra, error) in [
        (
            "prescale: yes\n",
            "p.yaml:8:11: expected prescale to be true, false or a mapping with key timeout (e.g. {timeout: 10m}), found string `yes`",
        ),
        (
            "prescale: {timout: 5m}\n",
            "p.yaml:8:12: unknown key `timout` in prescale, expected one of: timeout (did you mean `timeout`?)",
        ),
        (
            "prescale: {timeout: 0s}\n",
            "p.yaml:8:21: prescale.timeout is 0s: expected a positive duration, e.g. 10m",
        ),
    ] {
        assert_eq!(small_playbook_errors(extra), [error], "{extra}");
    }
}

#[test]
fn hypothesis_and_drain_are_read_with_their_defaults() {
    let read = |extra: &str| small_playbook(extra).unwrap();
    let plain = read("");
    assert_eq!(plain.hypothesis, None);
    assert_eq!(plain.drain, Drain::default());
    assert_eq!(plain.drain.max_residual, 0.01);
    let stated = read(
        "hypothesis: \"r2 absorbs r1 with p99 under 250 ms\"\ndrain: {max_residual: 2.5%, fail: true}\n",
    );
    assert_eq!(
        stated.hypothesis.as_deref(),
        Some("r2 absorbs r1 with p99 under 250 ms")
    );
    assert!((stated.drain.max_residual - 0.025).abs() < 1e-12);
    assert!(stated.drain.fail);
    assert_eq!(
        read("drain: {max_residual: 0.05}\n").drain.max_residual,
        0.05
    );
}

#[test]
fn drain_mistakes_are_reported() {
    for (extra, error) in [
        (
            "drain: {max_residual: 150%}\n",
            "p.yaml:8:23: drain.max_residual: expected a percent in 0%..=100% (e.g. 1%) or a fraction in 0..=1, found string `150%`",
        ),
        (
            "drain: {fial: true}\n",
            "p.yaml:8:9: unknown key `fial` in drain, expected one of: max_residual, fail, query (did you mean `fail`?)",
        ),
    ] {
        assert_eq!(small_playbook_errors(extra), [error], "{extra}");
    }
    assert_eq!(small_playbook_errors("hypothesis: \"\"\n").len(), 1);
}

#[test]
fn pinned_clients_are_fractions_of_known_regions() {
    let with = |pinned: &str| SMALL.replace("  b:\n", &format!("  b:\n    pinned: {pinned}\n"));
    let topology = parse_topology("t.yaml", &with("{r1: 0.03}")).unwrap();
    assert_eq!(topology.services["b"].pinned["r1"], 0.03);
    assert!(topology.services["a"].pinned.is_empty());
    let errors = topology_errors(&with("{r1: 3}"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("expected a fraction of the region's clients in 0..=1"),
        "{errors:?}"
    );
    assert_eq!(topology_errors(&with("{r9: 0.1}")).len(), 1);
}
