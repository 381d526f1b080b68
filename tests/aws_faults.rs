//! `kong --backend aws` through a fault-injecting proxy in front of moto: throttling,
//! `PriorRequestNotComplete`, 500s, slow answers, dropped connections (before and after moto
//! applied the call) and `PENDING` changes are waited out and retried without losing the
//! baseline; faults that persist abort the run, which rolls back once they stop (exit 4) or
//! names what is left when they do not (exit 5).

pub mod support {
    pub mod fleet;
    pub mod kong;
    pub mod moto;
    pub mod proxy;
}

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use support::fleet::{FAST, Fleet, Snapshot, Spec};
use support::kong::Kong;
use support::moto::moto;
use support::proxy::{Fault, Mode, Proxy, Rules};

fn spec() -> Spec {
    Spec {
        zones: 3,
        services: 6,
        per_wave: 3,
        albs: true,
        canary: false,
    }
}

/// A fleet named `name` on moto, its original form, a proxy in front of moto with `rules`,
/// and a `kong` that goes through the proxy.
fn behind_proxy(name: &str, rules: Rules) -> (Fleet, Snapshot, Proxy, Kong) {
    let fleet = Fleet::create(&moto().url(), name, &spec());
    let original = fleet.snapshot();
    let proxy = Proxy::start(&moto().url(), rules);
    let kong = Kong::aws(&fleet.topology, FAST, &proxy.url());
    (fleet, original, proxy, kong)
}

/// A fault on the first occurrence of each distinct request, so a retry passes.
fn flaky() -> Rules {
    Rules {
        mode: Mode::FirstOccurrence,
        faults: vec![
            Fault::Throttling,
            Fault::PriorRequestNotComplete,
            Fault::ServerError,
            Fault::Slow(Duration::from_millis(300)),
            Fault::DropBeforeForward,
            Fault::DropAfterForward,
            // Longer than --aws-call-timeout: the SDK gives up, moto may still apply it.
            Fault::Slow(Duration::from_millis(2500)),
        ],
        operations: Vec::new(),
        pending_get_changes: 3,
    }
}

#[test]
fn transient_faults_and_pending_changes_are_waited_out_and_the_baseline_survives() {
    let (fleet, original, proxy, kong) = behind_proxy("flt", flaky());
    let timeout = ["--aws-call-timeout", "2s"];

    let out = kong.run(&[&["evacuate", "us-east-1", "--yes"][..], &timeout].concat());
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.stdout.contains("retrying"), "{}", out.text());
    fleet.assert_evacuated(&original, "us-east-1");
    for op in [
        "ListResourceRecordSets",
        "ChangeResourceRecordSets",
        "GetChange",
        "DescribeListeners",
        "DescribeRules",
        "ModifyListener",
        "ModifyRule",
    ] {
        assert!(proxy.faulted(op) > 0, "no fault was injected into {op}");
    }
    let pending = proxy
        .log()
        .iter()
        .filter(|e| e.fault == Some("PENDING"))
        .count();
    assert_eq!(pending, 3, "GetChange answered PENDING three times");

    proxy.set_rules(flaky());
    let out = kong.run(&[&["restore", "us-east-1", "--yes"][..], &timeout].concat());
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        fleet.snapshot(),
        original,
        "restore returns the exact original form"
    );
}

/// `faults` on every `ChangeResourceRecordSets`.
fn failing_changes(faults: Vec<Fault>) -> Rules {
    Rules {
        mode: Mode::Always,
        faults,
        operations: vec!["ChangeResourceRecordSets".to_string()],
        pending_get_changes: 0,
    }
}

/// Starts `kong evacuate ARGS`, switches the proxy to `rules` once the first step is applied,
/// and heals it when kong says it aborts if `heal_on_abort`. Returns the exit code and the
/// output.
fn evacuate_with_persistent_faults(
    kong: &Kong,
    proxy: &Proxy,
    rules: Rules,
    heal_on_abort: bool,
    args: &[&str],
) -> (i32, String) {
    let mut child = kong
        .command(&[&["evacuate", "us-east-1", "--yes"][..], args].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kong");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    let mut faulting = false;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        if !faulting && line.contains("step 1 applied") {
            proxy.set_rules(rules.clone());
            faulting = true;
        }
        if heal_on_abort && line.contains("ABORT") {
            proxy.heal();
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().expect("wait kong");
    text.push_str("--- stderr\n");
    text.push_str(&err_reader.join().unwrap_or_default());
    assert!(faulting, "step 1 was never applied:\n{text}");
    (status.code().unwrap_or(-1), text)
}

#[test]
fn persistent_faults_abort_and_roll_back_to_the_exact_original_form_once_they_stop() {
    let (fleet, original, proxy, kong) = behind_proxy("pf4", Rules::default());

    let (code, text) = evacuate_with_persistent_faults(
        &kong,
        &proxy,
        failing_changes(vec![Fault::Throttling, Fault::ServerError]),
        true,
        &[],
    );
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("gave up after"), "{text}");
    assert!(proxy.faulted("ChangeResourceRecordSets") >= 5, "{text}");
    assert_eq!(
        fleet.snapshot(),
        original,
        "rollback returns the exact original form"
    );
}

#[test]
fn faults_that_outlast_the_rollback_exit_5_naming_what_is_left_and_rollback_finishes_later() {
    let (fleet, original, proxy, kong) = behind_proxy("pf5", Rules::default());

    let (code, text) = evacuate_with_persistent_faults(
        &kong,
        &proxy,
        failing_changes(vec![Fault::PriorRequestNotComplete]),
        false,
        &[],
    );
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("not at baseline"), "{text}");
    assert!(
        text.contains("svc00/dns"),
        "the message names a dial left moved: {text}"
    );
    assert_ne!(fleet.snapshot(), original);

    proxy.heal();
    let id = kong
        .runs()
        .last()
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .expect("the run is listed");
    let out = kong.run(&["rollback", &id, "--yes"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        fleet.snapshot(),
        original,
        "rollback returns the exact original form"
    );
}

#[test]
fn a_change_pending_past_the_sync_timeout_aborts_and_rolls_back() {
    let (fleet, original, proxy, kong) = behind_proxy("pnd", Rules::default());

    let stuck = Rules {
        pending_get_changes: u32::MAX,
        ..Rules::default()
    };
    let (code, text) = evacuate_with_persistent_faults(
        &kong,
        &proxy,
        stuck,
        true,
        &["--route53-sync-timeout", "2s"],
    );
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("still PENDING after 2s"), "{text}");
    assert_eq!(
        fleet.snapshot(),
        original,
        "rollback returns the exact original form"
    );
}
