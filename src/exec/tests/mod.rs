//! Engine tests with tokio's paused clock: bakes of minutes take no real time.
//!
//! The fixture ([`support::topology`]) evacuates us-east-1 in 9 step groups: wave 0
//! (auth, edge) at 25/50/100%, wave 1 (api) and wave 2 (db) likewise. Groups 0-1 apply one
//! batch (hosted zone Z1 holds both auth/dns and edge/dns), group 2 two (Z1 and edge's ALB
//! listener), the others one each.

mod aborts;
mod prescale;
mod props;
mod recovery;
mod sim;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use support::*;

use crate::backend;
use crate::exec::steps;
use crate::exec::{Outcome, ProgressEvent};
use crate::journal::{Record, RunState};
use crate::model::{Abort, AbortKind};

pub(super) fn events_of(world: &World) -> Vec<ProgressEvent> {
    world.progress.events()
}

pub(super) fn assert_at_baseline(world: &World) {
    assert_eq!(
        world.live(),
        world.plan.baseline,
        "every dial back at baseline"
    );
}

pub(super) fn assert_no_apply(world: &World) {
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
    assert!(matches!(outcome, Outcome::Completed));
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
        Some(ProgressEvent::Finished { summary }) if summary == "completed"
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
    // Pre-flight decides from the numbers, not from the row's stored `ok`.
    let row = &mut world.plan.preflight[0];
    row.projected_load = row.capacity * 0.95;
    row.utilization = 0.95;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    let reason = &abort_of(&outcome, AbortKind::Capacity, &[]).message;
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
    assert_eq!(sink.log().abort_kinds(), vec![Some(AbortKind::Capacity)]);
}

#[tokio::test(start_paused = true)]
async fn drift_at_start_refuses_naming_the_dial() {
    let world = World::new();
    let baseline = world.plan.baseline["api/dns"]["usw2"];
    world.backend.inner.set("api/dns", "usw2", baseline + 7);
    let outcome = world.run(&mut MemSink::default()).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    let reason = &abort_of(&outcome, AbortKind::Drift, &[]).message;
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
    assert_eq!(outcome, gate_refusal(50));
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
            abort: Abort::new(
                AbortKind::GateDenied,
                "approval denied before moving past 50%"
            ),
        }
    );
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn steady_state_failing_before_the_run_refuses() {
    let mut world = World::new();
    world.source = ScriptedSource::new(|n, _, _| Some(if n == 0 { 9.0 } else { 1.0 }));
    let outcome = world.run(&mut MemSink::default()).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    let reason = &abort_of(&outcome, AbortKind::CheckFailed, &[]).message;
    assert!(
        reason.starts_with("steady state does not hold before the run: check \"errors\""),
        "{reason}"
    );
    assert_no_apply(&world);

    // No data is not a pass either.
    let mut world = World::new();
    world.source = ScriptedSource::new(|_, _, _| None);
    let outcome = world.run(&mut MemSink::default()).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
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
    assert!(matches!(outcome, Outcome::DryRun { .. }));
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
    assert!(
        matches!(outcome, Outcome::DryRun { .. }),
        "a failing check fails the dry run"
    );
    assert_no_apply(&world);
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
    assert!(matches!(outcome, Outcome::RolledBack { .. }));
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
            abort: Abort::new(
                AbortKind::Invalid,
                "the plan was made for topology elsewhere, not test"
            ),
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
    assert_eq!(
        held,
        Err(Abort::new(AbortKind::Interrupted, "interrupted (Ctrl-C)"))
    );
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}
