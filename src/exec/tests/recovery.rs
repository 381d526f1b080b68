//! `resume` and `rollback` from the journal: after a pause, and after a crash at chosen
//! records (the journal truncated there, the backend left as the crash would).

use super::assert_at_baseline;
use super::support::*;

use crate::exec::steps;
use crate::exec::{Outcome, ProgressEvent};
use crate::journal::{Journal, RunJournal, RunState, read_run};
use crate::model::{Abort, AbortKind};

/// A run killed right after the journal record `last` (e.g. `intent 4`), with the backend
/// holding the weights after group `applied_through` (`None`: baseline).
async fn crashed(last: &str, applied_through: Option<usize>) -> (World, MemSink) {
    let world = World::new();
    let mut sink = MemSink::default();
    assert_eq!(world.run(&mut sink).await, Outcome::Completed);
    let keep = sink.kinds().iter().position(|k| k == last).expect(last) + 1;
    sink.records.truncate(keep);
    let groups = steps::groups(&world.plan).unwrap();
    *world.backend.inner.weights.lock().unwrap() =
        steps::weights_after(&world.plan.baseline, &groups, applied_through);
    world.timeline.lock().unwrap().clear();
    world.progress.events.lock().unwrap().clear();
    (world, sink)
}

fn assert_at_target(world: &World) {
    let live = world.live();
    for (dial, weights) in &world.plan.target {
        assert_eq!(&live[dial], weights, "dial {dial}");
    }
}

/// A run that paused when the checks of step group `group` failed.
async fn paused_at(group: usize) -> (World, MemSink) {
    let world = World::pausing_at(group);
    let mut sink = MemSink::default();
    assert!(matches!(world.run(&mut sink).await, Outcome::Paused { .. }));
    (world, sink)
}

/// `outcome` completed the run and every dial is at the plan's target.
fn assert_completed(world: &World, outcome: &Outcome) {
    assert_eq!(
        outcome,
        &Outcome::Completed,
        "{:#?}",
        world.progress.events()
    );
    assert_at_target(world);
}

/// `kong rollback` of the journaled run rolls back to the exact baseline.
async fn assert_rolls_back(world: &World, sink: &mut MemSink) {
    let outcome = world.rollback(sink).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    assert_at_baseline(world);
}

#[tokio::test(start_paused = true)]
async fn pause_then_resume_completes() {
    let (world, mut sink) = paused_at(3).await;
    let outcome = world.resume(&mut sink).await;
    assert_completed(&world, &outcome);
    let kinds = sink.kinds();
    let resumed = kinds.iter().position(|k| k == "resumed").unwrap();
    assert_eq!(
        kinds[resumed - 2..resumed + 3],
        ["aborted", "paused", "resumed", "checked 3", "intent 4"],
        "the failed group's checks run again before the run continues"
    );
    assert_eq!(sink.log().state, RunState::Completed);
}

#[tokio::test(start_paused = true)]
async fn pause_then_rollback_returns_to_baseline() {
    let (world, mut sink) = paused_at(5).await;
    assert_rolls_back(&world, &mut sink).await;
    assert_eq!(sink.log().state, RunState::RolledBack);
    let kinds = sink.kinds();
    assert_eq!(
        kinds[kinds.len() - 4..],
        [
            "resumed",
            "rollback_intent",
            "rollback_done",
            "finished RolledBack"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn resume_after_an_applied_intent_without_result_reconciles_as_applied() {
    let (world, mut sink) = crashed("intent 4", Some(4)).await;
    assert_eq!(sink.log().state, RunState::Running);
    let outcome = world.resume(&mut sink).await;
    assert_completed(&world, &outcome);
    let events = world.progress.events();
    assert!(
        events.contains(&ProgressEvent::Reconciled {
            index: 4,
            applied: vec!["api/dns".into()],
            not_applied: vec![],
        }),
        "{events:#?}"
    );
    let kinds = sink.kinds();
    let resumed = kinds.iter().position(|k| k == "resumed").unwrap();
    assert_eq!(
        kinds[resumed - 1..resumed + 4],
        ["intent 4", "resumed", "applied 4", "checked 4", "intent 5"]
    );
}

#[tokio::test(start_paused = true)]
async fn resume_after_an_unapplied_intent_reconciles_as_not_applied() {
    let (world, mut sink) = crashed("intent 2", Some(1)).await;
    let outcome = world.resume(&mut sink).await;
    assert_completed(&world, &outcome);
    assert!(
        world
            .progress
            .events()
            .contains(&ProgressEvent::Reconciled {
                index: 2,
                applied: vec![],
                not_applied: vec!["auth/dns".into(), "edge/alb".into(), "edge/dns".into()],
            })
    );
}

#[tokio::test(start_paused = true)]
async fn resume_refuses_a_dial_that_is_neither_intent_nor_previous_weights() {
    let (world, mut sink) = crashed("intent 4", Some(3)).await;
    world.backend.inner.set("api/dns", "euw1", 3);
    let before = sink.records.len();
    let outcome = world.resume(&mut sink).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::Drift,
        &[
            "dial api/dns is at",
            "neither the intent of step group 4",
            "kong rollback run-1",
        ],
    );
    assert_eq!(
        sink.records.len(),
        before,
        "a refused resume writes nothing"
    );
    assert!(
        world.timeline.lock().unwrap().is_empty(),
        "and applies nothing"
    );
    // The way out it names works.
    assert_rolls_back(&world, &mut sink).await;
}

#[tokio::test(start_paused = true)]
async fn resume_refuses_drift_on_a_dial_an_earlier_step_left() {
    let (world, mut sink) = crashed("checked 4", Some(4)).await;
    world.backend.inner.set("edge/dns", "usw2", 1);
    let outcome = world.resume(&mut sink).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::Drift,
        &["dial edge/dns is at", "the run left it at"],
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_after_a_crash_mid_rollback_finishes_it() {
    let mut world = World::new();
    world.source = ScriptedSource::failing_at_group(6);
    let mut sink = MemSink::default();
    assert!(matches!(
        world.run(&mut sink).await,
        Outcome::RolledBack { .. }
    ));
    // Killed right after the rollback intent, before any rollback batch.
    let keep = sink
        .kinds()
        .iter()
        .position(|k| k == "rollback_intent")
        .unwrap()
        + 1;
    sink.records.truncate(keep);
    let groups = steps::groups(&world.plan).unwrap();
    *world.backend.inner.weights.lock().unwrap() =
        steps::weights_after(&world.plan.baseline, &groups, Some(6));
    assert_eq!(sink.log().state, RunState::RollingBack);
    assert_rolls_back(&world, &mut sink).await;
}

#[tokio::test(start_paused = true)]
async fn rollback_of_a_completed_run_points_to_restore() {
    let world = World::new();
    let mut sink = MemSink::default();
    assert_eq!(world.run(&mut sink).await, Outcome::Completed);
    let outcome = world.rollback(&mut sink).await;
    assert_eq!(
        outcome,
        Outcome::Refused {
            abort: Abort::new(
                AbortKind::Invalid,
                "run run-1 is already completed; to bring traffic back use `kong restore us-east-1`"
            ),
        }
    );
    let outcome = world.resume(&mut sink).await;
    assert!(matches!(outcome, Outcome::Refused { .. }));
}

#[tokio::test(start_paused = true)]
async fn resume_with_a_gate_ahead_needs_approval() {
    let mut world = World::pausing_at(0);
    world.playbook.approval.before_percent = vec![50];
    world.options.approve = true;
    let mut sink = MemSink::default();
    assert!(matches!(world.run(&mut sink).await, Outcome::Paused { .. }));
    world.options.approve = false;
    let outcome = world.resume(&mut sink).await;
    assert_eq!(outcome, gate_refusal(50));
    world.options.approve = true;
    assert_eq!(world.resume(&mut sink).await, Outcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn pause_and_resume_through_the_real_journal() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::pausing_at(1);
    let header = header(&world.plan);
    let id = header.id.clone();
    let mut journal = RunJournal::Local(Journal::create(dir.path(), &id).unwrap());
    let outcome = world
        .executor()
        .run(&world.plan, header, &mut journal)
        .await;
    assert!(matches!(outcome, Outcome::Paused { .. }));
    drop(journal);

    let log = read_run(dir.path(), &id).unwrap();
    assert_eq!(log.state, RunState::Paused);
    let mut journal = RunJournal::Local(Journal::open(dir.path(), &id).unwrap());
    let outcome = world.executor().resume(&log, &mut journal).await;
    assert_eq!(outcome, Outcome::Completed);
    drop(journal);
    assert_eq!(
        read_run(dir.path(), &id).unwrap().state,
        RunState::Completed
    );
    assert_at_target(&world);
}

#[tokio::test(start_paused = true)]
async fn resume_after_a_crash_before_the_checks_baseline_measures_it_before_going_on() {
    let mut world = World::new();
    // A ratio check needs the value before the run, journaled right after the run's start.
    world.playbook.checks[0].threshold = crate::model::Threshold {
        max_ratio_to_baseline: Some(3.0),
        ..Default::default()
    };
    let mut sink = MemSink::default();
    assert_eq!(world.run(&mut sink).await, Outcome::Completed);
    // Killed right after `run_started`: nothing changed yet.
    sink.records.truncate(1);
    assert_eq!(sink.kinds(), ["run_started"]);
    *world.backend.inner.weights.lock().unwrap() = world.plan.baseline.clone();
    world.progress.events.lock().unwrap().clear();
    let outcome = world.resume(&mut sink).await;
    assert_completed(&world, &outcome);
    let kinds = sink.kinds();
    assert_eq!(
        kinds[..4],
        ["run_started", "resumed", "checks_baseline", "intent 0"],
        "the values before the run are measured and journaled before the first change"
    );
}
