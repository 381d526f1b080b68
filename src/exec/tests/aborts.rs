//! Aborts after changes: failed checks, read-back mismatches, retries, Ctrl-C, deadlines,
//! journal failures; rollback (exit 4), failed rollback (exit 5) and pause.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::support::*;
use super::{assert_at_baseline, assert_no_apply, events_of};

use crate::backend::BatchKey;
use crate::exec::steps;
use crate::exec::{Outcome, ProgressEvent};
use crate::journal::{Record, RunState};
use crate::model::{Abort, AbortKind};

#[tokio::test(start_paused = true)]
async fn failed_check_at_step_2_rolls_back_to_the_exact_baseline() {
    let mut world = World::new();
    world.source = ScriptedSource::failing_at_group(2);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::CheckFailed,
        &["step group 2 (wave 0, 100%)", "check \"errors\""],
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
    // The journal and the progress event carry the kind as well.
    assert_eq!(sink.log().abort_kinds(), vec![Some(AbortKind::CheckFailed)]);
    assert!(events_of(&world).iter().any(|e| matches!(
        e,
        ProgressEvent::Aborted {
            kind: AbortKind::CheckFailed,
            ..
        }
    )));
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
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
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
        ["apply hosted zone Z1", "apply listener arn:listener/alb"]
    );
}

#[tokio::test(start_paused = true)]
async fn failing_rollback_exits_5_and_names_what_is_left() {
    let mut world = World::new();
    world.source = ScriptedSource::failing_at_group(4);
    let flag = world.aborted_flag();
    world
        .backend
        .fault_when(Fault::Permanent, move |_, _| flag.load(Ordering::SeqCst));
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(
        matches!(outcome, Outcome::RollbackFailed { .. }),
        "{outcome:?}"
    );
    let Outcome::RollbackFailed { abort, left } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(abort.kind, AbortKind::CheckFailed, "{abort:?}");
    let reason = &abort.message;
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
    world.backend.fault_when(
        Fault::TamperAfter("auth/dns".into(), "use1".into(), 77),
        |n, batch| n == 3 && batch.key == BatchKey::HostedZone("Z1".into()),
    );
    let outcome = world.run(&mut MemSink::default()).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::Drift,
        &[
            "read-back mismatch after step group 2",
            "dial auth/dns member use1: asked 0, found 77 (something else moved it)",
        ],
    );
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_and_the_run_completes() {
    let world = World::new();
    world
        .backend
        .fault_when(Fault::Transient, |n, _| matches!(n, 1 | 2 | 6));
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
async fn a_permanent_provider_error_aborts_without_retrying_as_kind_provider() {
    let world = World::new();
    world
        .backend
        .fault_when(Fault::Permanent, |call, _| call == 1);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    let abort = abort_of(&outcome, AbortKind::Provider, &[]);
    assert!(!abort.message.contains("gave up"), "{abort:?}");
    assert_eq!(sink.log().abort_kinds(), vec![Some(AbortKind::Provider)]);
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn persistent_transient_failures_exhaust_retries_then_roll_back() {
    let world = World::new();
    let flag = world.aborted_flag();
    world.backend.fault_when(Fault::Transient, move |_, batch| {
        !flag.load(Ordering::SeqCst) && batch.key == BatchKey::HostedZone("Z2".into())
    });
    let outcome = world.run(&mut MemSink::default()).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::RetriesExhausted,
        &["step group 3", "gave up after 4 attempts"],
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
            abort: Abort::new(AbortKind::Interrupted, "interrupted (Ctrl-C)"),
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
            abort: Abort::new(AbortKind::Deadline, "deadline of 3m20s passed"),
        }
    );
    assert_eq!(start.elapsed(), Duration::from_secs(200));
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn journal_write_failure_stops_without_acting_further() {
    let world = World::new();
    // run_started, checks_baseline, intent 0, applied 0, checked 0: then the disk fills.
    let mut sink = MemSink::failing_after(5);
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::Paused { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::Journal,
        &["could not write the journal", "kong rollback run-1"],
    );
    assert_eq!(world.applies_per_group().values().sum::<usize>(), 1);

    // Before the first change it is a refusal.
    let world = World::new();
    let mut sink = MemSink::failing_after(0);
    assert!(matches!(
        world.run(&mut sink).await,
        Outcome::Refused { .. }
    ));
    assert_no_apply(&world);
}

#[tokio::test(start_paused = true)]
async fn pause_on_abort_holds_and_names_resume_and_rollback() {
    let world = World::pausing_at(3);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::Paused { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::CheckFailed,
        &["kong resume run-1", "kong rollback run-1"],
    );
    assert_eq!(sink.log().state, RunState::Paused);
    let groups = steps::groups(&world.plan).unwrap();
    assert_eq!(
        world.live(),
        steps::weights_after(&world.plan.baseline, &groups, Some(3)),
        "held where it is"
    );
}
