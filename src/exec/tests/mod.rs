//! Engine tests with tokio's paused clock: bakes of minutes take no real time.
//!
//! The fixture ([`support::topology`]) evacuates us-east-1 in 9 step groups: wave 0
//! (auth, edge) at 25/50/100%, wave 1 (api) and wave 2 (db) likewise. Groups 0-1 apply one
//! batch (hosted zone Z1 holds both auth/dns and edge/dns), group 2 two (Z1 and edge's ALB
//! listener), the others one each.

mod props;
mod recovery;
mod sim;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::*;

use crate::backend::{self, BatchKey};
use crate::exec::steps;
use crate::exec::{Outcome, ProgressEvent};
use crate::journal::{Record, RunState};

fn events_of(world: &World) -> Vec<ProgressEvent> {
    world.progress.events()
}

fn assert_at_baseline(world: &World) {
    assert_eq!(
        world.live(),
        world.plan.baseline,
        "every dial back at baseline"
    );
}

fn assert_no_apply(world: &World) {
    let timeline = world.timeline.lock().unwrap();
    assert!(
        !timeline.iter().any(|l| l.starts_with("apply")),
        "no apply call: {timeline:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn completed_run_reaches_the_plan_target_and_journals_in_order() {
    let world = World::new();
    let mut sink = MemSink::default();
    let start = tokio::time::Instant::now();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome, Outcome::Completed, "{:#?}", events_of(&world));
    assert_eq!(outcome.exit_code(), 0);
    let live = world.live();
    for (dial, weights) in &world.plan.target {
        assert_eq!(&live[dial], weights, "dial {dial}");
    }
    let mut expected = vec!["run_started".to_string(), "checks_baseline".to_string()];
    for i in 0..9 {
        expected.extend([
            format!("intent {i}"),
            format!("applied {i}"),
            format!("checked {i}"),
        ]);
    }
    expected.push("finished Completed".to_string());
    assert_eq!(sink.kinds(), expected);
    assert_eq!(sink.log().state, RunState::Completed);
    // Nine groups, each 30s propagation + 2m bake, on the paused clock.
    assert_eq!(start.elapsed(), Duration::from_secs(9 * 150));
    assert!(matches!(
        events_of(&world).last(),
        Some(ProgressEvent::Finished { exit_code: 0, .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn time_scale_divides_propagation_and_bake() {
    let mut world = World::new();
    world.options.time_scale = 10.0;
    let start = tokio::time::Instant::now();
    assert_eq!(world.run(&mut MemSink::default()).await, Outcome::Completed);
    assert_eq!(start.elapsed(), Duration::from_secs(9 * 15));
}

#[tokio::test(start_paused = true)]
async fn apply_calls_per_step_group_equal_its_batches() {
    let world = World::new();
    let mut sink = MemSink::default();
    assert_eq!(world.run(&mut sink).await, Outcome::Completed);
    let groups = steps::groups(&world.plan).unwrap();
    let per_group = world.applies_per_group();
    let mut expected = Vec::new();
    for group in &groups {
        let batches = backend::batches(&world.topology, &group.after);
        assert_eq!(
            per_group[&group.index],
            batches.len(),
            "group {}",
            group.index
        );
        expected.push(batches.len());
    }
    assert_eq!(expected, vec![1, 1, 2, 1, 1, 1, 1, 1, 1]);
    // api_calls: one apply and one wait per batch, a drift read and a read-back per group.
    let api_calls: Vec<u32> = sink
        .records
        .iter()
        .filter_map(|r| match r {
            Record::StepApplied { api_calls, .. } => Some(*api_calls),
            _ => None,
        })
        .collect();
    let want: Vec<u32> = expected.iter().map(|b| *b as u32 * 2 + 2).collect();
    assert_eq!(api_calls, want);
}

#[tokio::test(start_paused = true)]
async fn batches_of_a_group_are_applied_concurrently() {
    let world = World::new();
    *world.backend.latency.lock().unwrap() = Duration::from_secs(1);
    let start = tokio::time::Instant::now();
    assert_eq!(world.run(&mut MemSink::default()).await, Outcome::Completed);
    // Ten batches in nine groups, but group 2's two batches overlap: 9 seconds of apply.
    assert_eq!(start.elapsed(), Duration::from_secs(9 * 150 + 9));
}

#[tokio::test(start_paused = true)]
async fn preflight_capacity_failure_refuses_with_numbers_and_changes_nothing() {
    let mut world = World::new();
    world.plan.preflight[0].ok = false;
    world.plan.preflight[0].utilization = 0.95;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome.exit_code(), 3);
    let Outcome::Refused { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    let row = &world.plan.preflight[0];
    assert!(
        reason.contains(&row.service) && reason.contains(&row.region),
        "{reason}"
    );
    assert!(reason.contains("0.95"), "{reason}");
    assert_no_apply(&world);
    assert_at_baseline(&world);
    assert_eq!(
        sink.kinds(),
        ["run_started", "aborted", "finished Refused"],
        "a refused run leaves its reason and nothing else"
    );
}

#[tokio::test(start_paused = true)]
async fn drift_at_start_refuses_naming_the_dial() {
    let world = World::new();
    let baseline = world.plan.baseline["api/dns"]["usw2"];
    world.backend.inner.set("api/dns", "usw2", baseline + 7);
    let outcome = world.run(&mut MemSink::default()).await;
    let Outcome::Refused { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains(&format!(
            "drift: dial api/dns member usw2 is {}, the plan's baseline says {baseline}",
            baseline + 7
        )),
        "{reason}"
    );
    assert_no_apply(&world);
}

#[tokio::test(start_paused = true)]
async fn approval_gate_without_approve_or_terminal_refuses_before_any_change() {
    let mut world = World::new();
    world.playbook.approval.before_percent = vec![50];
    let outcome = world.run(&mut MemSink::default()).await;
    assert_eq!(
        outcome,
        Outcome::Refused {
            reason: "approval required before moving past 50%: pass --approve or run on a terminal"
                .into()
        }
    );
    assert_no_apply(&world);
}

#[tokio::test(start_paused = true)]
async fn approve_flag_passes_the_gate_once_and_journals_it() {
    let mut world = World::new();
    world.playbook.approval.before_percent = vec![50];
    world.options.approve = true;
    let mut sink = MemSink::default();
    assert_eq!(world.run(&mut sink).await, Outcome::Completed);
    let approvals: Vec<_> = sink
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Approved { percent, by, .. } => Some((*percent, by.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(approvals, vec![(50, "--approve".to_string())]);
    // Before the first group past 50%: wave 0 at 100%, group 2.
    let kinds = sink.kinds();
    let at = kinds.iter().position(|k| k == "approved 50").unwrap();
    assert_eq!(kinds[at + 1], "intent 2");
}

#[tokio::test(start_paused = true)]
async fn terminal_approval_yes_continues_and_no_aborts_and_rolls_back() {
    let mut world = World::new();
    world.playbook.approval.before_percent = vec![50];
    world.options.interactive = true;
    world.prompter = Scripted::answering(&[true]);
    let mut sink = MemSink::default();
    assert_eq!(world.run(&mut sink).await, Outcome::Completed);
    assert!(sink.kinds().contains(&"approved 50".to_string()));
    assert_eq!(world.prompter.asked.lock().unwrap().len(), 1);

    let mut world = World::new();
    world.playbook.approval.before_percent = vec![50];
    world.options.interactive = true;
    world.prompter = Scripted::answering(&[false]);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(
        outcome,
        Outcome::RolledBack {
            reason: "approval denied before moving past 50%".into()
        }
    );
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn steady_state_failing_before_the_run_refuses() {
    let mut world = World::new();
    world.source = ScriptedSource::new(|n, _, _| Some(if n == 0 { 9.0 } else { 1.0 }));
    let outcome = world.run(&mut MemSink::default()).await;
    let Outcome::Refused { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.starts_with("steady state does not hold before the run: check \"errors\""),
        "{reason}"
    );
    assert_no_apply(&world);

    // No data is not a pass either.
    let mut world = World::new();
    world.source = ScriptedSource::new(|_, _, _| None);
    let outcome = world.run(&mut MemSink::default()).await;
    assert_eq!(outcome.exit_code(), 3, "{outcome:?}");
}

#[tokio::test(start_paused = true)]
async fn dry_run_evaluates_checks_and_changes_nothing() {
    let mut world = World::new();
    world.options.dry_run = true;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    let Outcome::DryRun { results } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(results.len(), 1);
    assert_eq!(outcome.exit_code(), 0);
    assert_no_apply(&world);
    assert_eq!(
        sink.kinds(),
        ["run_started", "checks_baseline", "finished Refused"]
    );

    let mut world = World::new();
    world.options.dry_run = true;
    world.source = ScriptedSource::new(|_, _, _| Some(50.0));
    let outcome = world.run(&mut MemSink::default()).await;
    assert!(matches!(outcome, Outcome::DryRun { .. }));
    assert_eq!(outcome.exit_code(), 3, "a failing check fails the dry run");
    assert_no_apply(&world);
}

#[tokio::test(start_paused = true)]
async fn failed_check_at_step_2_rolls_back_to_the_exact_baseline() {
    let mut world = World::new();
    world.source = ScriptedSource::failing_at_group(2);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome.exit_code(), 4, "{outcome:?}");
    let Outcome::RolledBack { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("step group 2 (wave 0, 100%)") && reason.contains("check \"errors\""),
        "{reason}"
    );
    assert_at_baseline(&world);
    let kinds = sink.kinds();
    assert_eq!(
        kinds[kinds.len() - 5..],
        [
            "checked 2",
            "aborted",
            "rollback_intent",
            "rollback_done",
            "finished RolledBack"
        ]
    );
    assert_eq!(sink.log().state, RunState::RolledBack);
    let Some(Record::RollbackIntent { weights, .. }) = sink
        .records
        .iter()
        .find(|r| matches!(r, Record::RollbackIntent { .. }))
    else {
        panic!("no rollback intent")
    };
    let touched: Vec<&str> = weights.keys().map(String::as_str).collect();
    assert_eq!(touched, ["auth/dns", "edge/alb", "edge/dns"]);
}

#[tokio::test(start_paused = true)]
async fn rollback_restores_the_last_wave_first() {
    let mut world = World::new();
    world.source = ScriptedSource::failing_at_group(7);
    let outcome = world.run(&mut MemSink::default()).await;
    assert_eq!(outcome.exit_code(), 4, "{outcome:?}");
    assert_at_baseline(&world);
    let timeline = world.timeline.lock().unwrap().clone();
    let rollback: Vec<&str> = timeline[timeline.len() - 4..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(rollback[0], "apply sim dial db/sim", "wave 2 first");
    assert_eq!(rollback[1], "apply hosted zone Z2", "then wave 1");
    let mut wave0 = rollback[2..].to_vec();
    wave0.sort_unstable();
    assert_eq!(
        wave0,
        ["apply hosted zone Z1", "apply listener arn:listener/edge"]
    );
}

#[tokio::test(start_paused = true)]
async fn failing_rollback_exits_5_and_names_what_is_left() {
    let mut world = World::new();
    world.source = ScriptedSource::failing_at_group(4);
    let aborted = Arc::new(AtomicBool::new(false));
    let flag = aborted.clone();
    world.backend.faults(move |_, _| {
        if flag.load(Ordering::SeqCst) {
            Fault::Permanent
        } else {
            Fault::None
        }
    });
    let flag = aborted.clone();
    world.on_event(move |e| {
        if matches!(e, ProgressEvent::Aborted { .. }) {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome.exit_code(), 5, "{outcome:?}");
    let Outcome::RollbackFailed { reason, left } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("rollback failed: wave 1"), "{reason}");
    // Wave 1 could not be restored, so its callers in wave 0 were left alone too.
    assert_eq!(left, &["api/dns", "auth/dns", "edge/alb", "edge/dns"]);
    let kinds = sink.kinds();
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["rollback_failed", "finished RollbackFailed"]
    );
    assert_eq!(sink.log().state, RunState::RollbackFailed);
    // Permanent errors are not retried: one attempt on wave 1's single batch.
    assert_eq!(
        world.backend.applies.load(Ordering::SeqCst),
        6 + 1,
        "six forward applies, one rollback attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn read_back_mismatch_aborts_and_rolls_back() {
    let world = World::new();
    // Apply 3 is group 2's first batch (hosted zone Z1): someone moves auth/dns right after.
    world.backend.faults(|n, batch| {
        if n == 3 && batch.key == BatchKey::HostedZone("Z1".into()) {
            Fault::TamperAfter("auth/dns".into(), "use1".into(), 77)
        } else {
            Fault::None
        }
    });
    let outcome = world.run(&mut MemSink::default()).await;
    let Outcome::RolledBack { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("read-back mismatch after step group 2")
            && reason
                .contains("dial auth/dns member use1: asked 0, found 77 (something else moved it)"),
        "{reason}"
    );
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_and_the_run_completes() {
    let world = World::new();
    world.backend.faults(|n, _| {
        if matches!(n, 1 | 2 | 6) {
            Fault::Transient
        } else {
            Fault::None
        }
    });
    let mut sink = MemSink::default();
    assert_eq!(world.run(&mut sink).await, Outcome::Completed);
    let retries = events_of(&world)
        .iter()
        .filter(|e| matches!(e, ProgressEvent::Retrying { .. }))
        .count();
    assert_eq!(retries, 3);
    let Some(Record::StepApplied { api_calls, .. }) = sink
        .records
        .iter()
        .find(|r| matches!(r, Record::StepApplied { index: 0, .. }))
    else {
        panic!()
    };
    assert_eq!(
        *api_calls,
        1 + 3 + 1 + 1,
        "a drift read, three apply attempts, a wait, a read-back"
    );
}

#[tokio::test(start_paused = true)]
async fn persistent_transient_failures_exhaust_retries_then_roll_back() {
    let world = World::new();
    let aborted = Arc::new(AtomicBool::new(false));
    let flag = aborted.clone();
    world.backend.faults(move |_, batch| {
        if !flag.load(Ordering::SeqCst) && batch.key == BatchKey::HostedZone("Z2".into()) {
            Fault::Transient
        } else {
            Fault::None
        }
    });
    let flag = aborted.clone();
    world.on_event(move |e| {
        if matches!(e, ProgressEvent::Aborted { .. }) {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let outcome = world.run(&mut MemSink::default()).await;
    let Outcome::RolledBack { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("step group 3") && reason.contains("gave up after 4 attempts"),
        "{reason}"
    );
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_bake_rolls_back_and_a_second_press_only_reports_progress() {
    let world = World::new();
    *world.backend.latency.lock().unwrap() = Duration::from_secs(1);
    let sender = world.ctrl_c.clone();
    let mut bakes = 0;
    world.on_event(move |e| match e {
        ProgressEvent::Waiting { what: "bake", .. } => {
            bakes += 1;
            if bakes == 2 {
                World::press(&sender);
            }
        }
        ProgressEvent::RollbackStarted { .. } => World::press(&sender),
        _ => {}
    });
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(
        outcome,
        Outcome::RolledBack {
            reason: "interrupted (Ctrl-C)".into()
        }
    );
    assert_at_baseline(&world);
    let events = events_of(&world);
    let started = events
        .iter()
        .position(|e| matches!(e, ProgressEvent::RollbackStarted { .. }))
        .unwrap();
    assert!(
        matches!(
            events[started + 1],
            ProgressEvent::RollbackProgress { done: 0, total: 2 }
        ),
        "the second press reports progress: {:?}",
        &events[started..]
    );
    assert!(events.contains(&ProgressEvent::RollbackDone));
    // Aborted in group 1's bake: no check of group 1 was journaled.
    assert!(!sink.kinds().contains(&"checked 1".to_string()));
}

#[tokio::test(start_paused = true)]
async fn deadline_aborts_during_a_bake() {
    let mut world = World::new();
    world.playbook.deadline = Some(Duration::from_secs(200));
    let start = tokio::time::Instant::now();
    let outcome = world.run(&mut MemSink::default()).await;
    assert_eq!(
        outcome,
        Outcome::RolledBack {
            reason: "deadline of 3m20s passed".into()
        }
    );
    assert_eq!(start.elapsed(), Duration::from_secs(200));
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn consecutive_checks_need_n_passes_an_interval_apart() {
    let mut world = World::new();
    world.playbook.checks[0].consecutive = 3;
    world.playbook.checks[0].interval = Duration::from_secs(10);
    let start = tokio::time::Instant::now();
    assert_eq!(world.run(&mut MemSink::default()).await, Outcome::Completed);
    assert_eq!(
        world.source.fetches.load(Ordering::SeqCst),
        1 + 9 * 3,
        "once before the run, three times per group"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(9 * (150 + 20)));

    // The first failure fails the check without waiting for the others.
    let mut world = World::new();
    world.playbook.checks[0].consecutive = 3;
    world.source = ScriptedSource::new(|n, _, _| Some(if n == 2 { 100.0 } else { 1.0 }));
    let outcome = world.run(&mut MemSink::default()).await;
    assert_eq!(outcome.exit_code(), 4);
    assert_eq!(world.source.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn destination_checks_run_for_every_region_receiving_traffic() {
    let mut world = World::new();
    world.playbook.checks[0].per = crate::model::Per::Destination;
    assert_eq!(world.run(&mut MemSink::default()).await, Outcome::Completed);
    let log = world.source.log.lock().unwrap();
    let before: Vec<_> = log[..2].iter().map(|(_, r)| r.clone().unwrap()).collect();
    let mut before = before;
    before.sort();
    assert_eq!(before, ["eu-west-1", "us-west-2"]);
    assert_eq!(log.len(), 2 + 9 * 2);
}

#[tokio::test(start_paused = true)]
async fn journal_write_failure_stops_without_acting_further() {
    let world = World::new();
    // run_started, checks_baseline, intent 0, applied 0, checked 0: then the disk fills.
    let mut sink = MemSink {
        fail_after: Some(5),
        ..MemSink::default()
    };
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome.exit_code(), 5, "{outcome:?}");
    let Outcome::Paused { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("could not write the journal") && reason.contains("kong rollback run-1"),
        "{reason}"
    );
    assert_eq!(world.applies_per_group().values().sum::<usize>(), 1);

    // Before the first change it is a refusal.
    let world = World::new();
    let mut sink = MemSink {
        fail_after: Some(0),
        ..MemSink::default()
    };
    assert_eq!(world.run(&mut sink).await.exit_code(), 3);
    assert_no_apply(&world);
}

#[tokio::test(start_paused = true)]
async fn pause_on_abort_holds_and_names_resume_and_rollback() {
    let mut world = World::new();
    world.playbook.on_abort = crate::model::OnAbort::Pause;
    world.source = ScriptedSource::failing_at_group(3);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome.exit_code(), 5);
    let Outcome::Paused { reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("kong resume run-1") && reason.contains("kong rollback run-1"),
        "{reason}"
    );
    assert_eq!(sink.log().state, RunState::Paused);
    let groups = steps::groups(&world.plan).unwrap();
    assert_eq!(
        world.live(),
        steps::weights_after(&world.plan.baseline, &groups, Some(3)),
        "held where it is"
    );
}

#[tokio::test(start_paused = true)]
async fn run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let world = World::new();
    let executor = world.executor();
    let mut sink = MemSink::default();
    let future = executor.run_with(&world.plan, header(&world.plan), &mut sink);
    assert_send(&future);
    drop(future);
}

#[tokio::test(start_paused = true)]
async fn a_plan_for_another_topology_is_refused() {
    let mut world = World::new();
    world.plan.topology = "elsewhere".into();
    let outcome = world.run(&mut MemSink::default()).await;
    assert_eq!(
        outcome,
        Outcome::Refused {
            reason: "the plan was made for topology elsewhere, not test".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn hold_waits_the_scaled_hold_and_ctrl_c_cuts_it_short() {
    let mut world = World::new();
    world.options.time_scale = 4.0;
    let start = tokio::time::Instant::now();
    assert_eq!(world.executor().hold().await, Ok(()));
    assert_eq!(start.elapsed(), Duration::from_secs(600 / 4));

    let executor = world.executor();
    let sender = world.ctrl_c.clone();
    let press = async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        World::press(&sender);
    };
    let start = tokio::time::Instant::now();
    let (held, ()) = tokio::join!(executor.hold(), press);
    assert_eq!(held, Err("interrupted (Ctrl-C)".to_string()));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}
