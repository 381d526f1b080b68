//! `kong --backend aws` end to end on moto: evacuate, restore and drill of hosted zones,
//! weighted record sets and ALB forward actions; rollback on a failing check and after
//! kill -9; one `ChangeResourceRecordSets` per hosted zone per step; refusals when a resource
//! named by the topology is missing. Fixtures are created and read back through the SDK.

pub mod support {
    pub mod fleet;
    pub mod kong;
    pub mod moto;
    pub mod proxy;
}

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fleet::{FAST, Fleet, Spec};
use support::kong::Kong;
use support::moto::moto;
use support::proxy::{Proxy, Rules};

#[test]
fn evacuate_restore_and_drill_return_every_record_and_action_to_its_exact_form() {
    let spec = Spec {
        zones: 3,
        services: 21,
        per_wave: 7,
        albs: true,
        canary: false,
    };
    let fleet = Fleet::create(&moto().url(), "e2e", &spec);
    let original = fleet.snapshot();
    let kong = Kong::aws(&fleet.topology, FAST, &moto().url());

    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.stdout.starts_with("backend: aws"), "{}", out.text());
    fleet.assert_evacuated(&original, "us-east-1");

    // Plan again after apply: nothing left to do.
    let plan = kong.plan("evacuate", "us-east-1");
    assert_eq!(plan["steps"].as_array().map(Vec::len), Some(0), "{plan}");

    let out = kong.run(&["restore", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        fleet.snapshot(),
        original,
        "restore returns the exact original form"
    );

    let out = kong.run(&["drill", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        fleet.snapshot(),
        original,
        "a drill ends at the exact original form"
    );

    let out = kong.run(&["status", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let status: Value = serde_json::from_str(&out.stdout).expect("status JSON");
    assert_eq!(status["shares"]["svc00"]["us-east-1"], 0.5, "{status}");
    assert_eq!(
        status["dials"].as_array().map(Vec::len),
        Some(23),
        "{status}"
    );
}

#[test]
fn failing_check_mid_run_rolls_back_to_the_exact_original_form_with_exit_4() {
    // The canary's sim dial moves with wave 0; its destinations pass 30% utilization at the
    // 50% step (20 + 30/2 = 35 of 100), after the AWS dials of wave 0 moved twice.
    let playbook = "name: canary
steps: [25, 50, 100]
bake: 0s
propagation: 0s
on_abort: rollback
checks:
  - name: canary destination utilization
    source: sim
    metric: utilization
    service: canary
    per: destination
    max: 0.3
";
    let spec = Spec {
        zones: 3,
        services: 6,
        per_wave: 3,
        albs: true,
        canary: true,
    };
    let fleet = Fleet::create(&moto().url(), "chk", &spec);
    let original = fleet.snapshot();
    let kong = Kong::aws(&fleet.topology, playbook, &moto().url());

    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 4, "{}", out.text());
    assert!(out.stdout.contains("step 1 applied"), "{}", out.text());
    assert!(
        out.stdout.contains("canary destination utilization"),
        "{}",
        out.text()
    );
    assert_eq!(
        fleet.snapshot(),
        original,
        "rollback returns the exact original form"
    );
}

#[test]
fn rollback_after_kill_9_mid_run_restores_the_exact_original_form() {
    let playbook = "name: slow
steps: [10, 25, 50, 100]
bake: 2s
propagation: 0s
on_abort: rollback
";
    let spec = Spec {
        zones: 3,
        services: 9,
        per_wave: 3,
        albs: true,
        canary: false,
    };
    let fleet = Fleet::create(&moto().url(), "kill", &spec);
    let original = fleet.snapshot();
    let kong = Kong::aws(&fleet.topology, playbook, &moto().url());

    let mut child = kong
        .command(&["evacuate", "us-east-1", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn kong");
    // Kill it once a step has been applied (and so traffic moved), during its bake.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no step applied within 60 s");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "kong ended early"
        );
        let applied = std::fs::read_dir(kong.path("state/runs"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|run| {
                std::fs::read_to_string(run.path().join("journal.jsonl"))
                    .is_ok_and(|j| j.contains("\"step_applied\""))
            });
        if applied {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert_ne!(
        fleet.snapshot(),
        original,
        "the killed run had moved traffic"
    );

    let runs = kong.runs();
    let id = runs
        .last()
        .and_then(|r| r["id"].as_str())
        .expect("the killed run is listed")
        .to_string();
    let out = kong.run(&["rollback", &id, "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        fleet.snapshot(),
        original,
        "rollback returns the exact original form"
    );
}

#[test]
fn each_step_makes_one_change_call_per_hosted_zone_it_touches() {
    let spec = Spec {
        zones: 3,
        services: 12,
        per_wave: 4,
        albs: false,
        canary: false,
    };
    let fleet = Fleet::create(&moto().url(), "bat", &spec);
    let proxy = Proxy::start(&moto().url(), Rules::default());
    let kong = Kong::aws(&fleet.topology, FAST, &proxy.url());

    // Hosted zones touched by each step group (wave, percent) of the plan.
    let zone_of: BTreeMap<String, String> = fleet
        .records
        .iter()
        .map(|d| (format!("{}/dns", d.service), d.zone.clone()))
        .collect();
    let plan = kong.plan("evacuate", "us-east-1");
    let mut groups: Vec<((u64, u64), BTreeSet<String>)> = Vec::new();
    for step in plan["steps"].as_array().expect("steps") {
        let key = (
            step["wave"].as_u64().unwrap_or(0),
            step["percent"].as_u64().unwrap_or(0),
        );
        if groups.last().is_none_or(|(k, _)| *k != key) {
            groups.push((key, BTreeSet::new()));
        }
        let zones = &mut groups.last_mut().expect("group").1;
        for change in step["changes"].as_array().expect("changes") {
            zones.insert(zone_of[change["dial"].as_str().expect("dial")].clone());
        }
    }
    assert_eq!(groups.len(), 9, "3 waves x 3 steps");
    let expected: usize = groups.iter().map(|(_, z)| z.len()).sum();

    proxy.clear_log();
    let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    // Each group needs at least one call per zone it touches (a change batch holds one
    // zone), so equal totals mean exactly one call per zone in every group.
    assert_eq!(
        proxy.forwarded("ChangeResourceRecordSets"),
        expected,
        "ChangeResourceRecordSets calls vs hosted zones touched per step: {groups:?}"
    );
    // Per group: the drift read and the read-back, plus at most two reads for the built-in
    // guards' traffic model per evaluation round (after each group and once before the
    // run); plus the plan's read. Each read is one scan per zone.
    let reads = proxy.forwarded("ListResourceRecordSets");
    let rounds = 4 * groups.len() + 2 + 2;
    assert!(
        reads <= rounds * spec.zones,
        "{reads} ListResourceRecordSets calls: reads should be one scan per zone"
    );
}

#[test]
fn missing_resources_named_by_the_topology_are_refused_with_exit_3_and_change_nothing() {
    let spec = Spec {
        zones: 1,
        services: 2,
        per_wave: 2,
        albs: true,
        canary: false,
    };
    let fleet = Fleet::create(&moto().url(), "mis", &spec);
    let original = fleet.snapshot();
    let listener = &fleet.forwards[0];
    let rule = &fleet.forwards[1];
    let record = &fleet.records[0];
    let stem = &listener.arn[..listener.arn.len() - 4];
    let bogus_listener = if listener.arn.ends_with("beef") {
        format!("{stem}feed")
    } else {
        format!("{stem}beef")
    };
    let cases: Vec<(String, String, Vec<String>)> = vec![
        (
            "hosted zone".to_string(),
            fleet.topology.replace(&record.zone, "ZNOSUCHZONE1"),
            vec!["NoSuchHostedZone".to_string(), "ZNOSUCHZONE1".to_string()],
        ),
        (
            "record set".to_string(),
            fleet.topology.replace(
                &format!("record: {}", record.name),
                &format!("record: gone.{}", record.name),
            ),
            vec![
                format!("gone.{}", record.name),
                "does not exist".to_string(),
            ],
        ),
        (
            "set identifier".to_string(),
            fleet
                .topology
                .replacen("euw1: eu-west-1", "euw9: eu-west-1", 1),
            vec!["euw9".to_string()],
        ),
        (
            "listener".to_string(),
            fleet.topology.replace(&listener.arn, &bogus_listener),
            vec![bogus_listener.clone()],
        ),
        (
            "target group".to_string(),
            fleet.topology.replace(
                &format!("{}: eu-west-1", rule.proxy),
                &format!("{}x: eu-west-1", rule.proxy),
            ),
            vec![format!("{}x", rule.proxy)],
        ),
    ];
    for (what, topology, needles) in cases {
        assert_ne!(
            topology, fleet.topology,
            "{what}: the case changes the topology"
        );
        let kong = Kong::aws(&topology, FAST, &moto().url());
        let out = kong.run(&["evacuate", "us-east-1", "--yes"]);
        assert_eq!(out.code, 3, "missing {what}: {}", out.text());
        for needle in needles {
            assert!(
                out.stderr.contains(&needle),
                "missing {what}: no `{needle}` in {}",
                out.text()
            );
        }
        assert_eq!(
            fleet.snapshot(),
            original,
            "missing {what}: nothing changed"
        );
    }

    // Credentials: a profile that does not exist, and nothing in the environment.
    let kong = Kong::aws(&fleet.topology, FAST, &moto().url());
    let out = kong
        .command(&["status", "--profile", "nosuch"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run kong");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("profile `nosuch`"), "{stderr}");
}
