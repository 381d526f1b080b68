//! Pre-scaling on the simulator's Auto Scaling groups, paused clock: groups raised (never
//! lowered, at most their max size) before the first weight change, the wait for instances
//! in service, and the groups returned to their original capacity by rollback (after the
//! weights) and by restore (after traffic is back).
//!
//! The fixture binds `api` in us-west-2 and eu-west-1 to groups of 100 req/s instances. After
//! evacuating us-east-1 each destination serves 1,500 req/s of api; under the topology's
//! max_utilization 0.8 that needs ceil(1500 / 80) = 19 instances.

use std::time::Duration;

use super::support::*;
use super::{assert_at_baseline, assert_no_apply, events_of};
use crate::backend::scaling::{GroupRef, ScalingBackend};
use crate::backend::sim::{SimBackend, SimFaults, SimGroup};
use crate::exec::{Outcome, ProgressEvent};
use crate::journal::{CapacityChange, Record, RunState};
use crate::model::{AbortKind, AutoscalingBinding, Prescale};
use crate::plan::{self, Operation, PlanInput, Weights};

const NEEDED: u32 = 19;

fn group(region: &str) -> GroupRef {
    GroupRef {
        region: region.to_string(),
        group: format!("api-{region}"),
    }
}

fn sized(desired: u32, in_service: u32, max: u32) -> SimGroup {
    SimGroup {
        desired,
        min: 1,
        max,
        in_service,
    }
}

/// The fixture with `api` bound to a group in each destination, `prescale` on (timeout
/// 10m), the groups at `west` and `eu`, new instances in service after `delay`.
async fn world(west: SimGroup, eu: SimGroup, delay: Duration) -> World {
    let mut topology = topology();
    let api = topology.services.get_mut("api").unwrap();
    for region in ["us-west-2", "eu-west-1"] {
        api.autoscaling.insert(
            region.to_string(),
            AutoscalingBinding {
                group: group(region).group,
                per_instance: 100.0,
            },
        );
    }
    let mut playbook = playbook();
    playbook.prescale = Some(Prescale {
        timeout: Duration::from_secs(600),
    });
    let mut world = World::with(topology.clone(), playbook);
    let sim =
        SimBackend::in_memory(topology.clone(), SimFaults::default()).with_in_service_delay(delay);
    sim.set_group("us-west-2", "api-us-west-2", west)
        .await
        .unwrap();
    sim.set_group("eu-west-1", "api-eu-west-1", eu)
        .await
        .unwrap();
    world.scaling = Some(LoggedScaling {
        inner: sim,
        timeline: world.timeline.clone(),
    });
    world
}

/// The fixture with its groups at the needed size and traffic evacuated (the evacuation
/// plan's target), planned to restore to the evacuation's baseline (returned) and to return
/// the groups `restore_capacity` after.
async fn restoring(restore_capacity: Vec<CapacityChange>) -> (World, Weights) {
    let mut world = world(
        sized(NEEDED, NEEDED, 30),
        sized(NEEDED, NEEDED, 30),
        Duration::ZERO,
    )
    .await;
    let mut evacuated = world.plan.baseline.clone();
    evacuated.extend(world.plan.target.clone());
    let baseline = world.plan.baseline.clone();
    world.plan = plan::plan(&PlanInput {
        topology: &world.topology,
        playbook: &world.playbook,
        operation: Operation::Restore,
        region: "us-east-1",
        observed: &evacuated,
        restore_to: Some(&baseline),
    })
    .unwrap();
    *world.backend.inner.weights.lock().unwrap() = evacuated;
    world.restore_capacity = restore_capacity;
    (world, baseline)
}

/// The desired capacity of the groups in us-west-2 and eu-west-1 is `west` and `eu`.
async fn assert_desired(world: &World, west: u32, eu: u32) {
    assert_eq!(desired(world, "us-west-2").await, west);
    assert_eq!(desired(world, "eu-west-1").await, eu);
}

async fn desired(world: &World, region: &str) -> u32 {
    let g = group(region);
    let states = world
        .scaling
        .as_ref()
        .unwrap()
        .describe(std::slice::from_ref(&g))
        .await
        .unwrap();
    states[&g].desired
}

fn timeline(world: &World) -> Vec<String> {
    world.timeline.lock().unwrap().clone()
}

fn prescale_intent(sink: &MemSink) -> Vec<CapacityChange> {
    sink.records
        .iter()
        .find_map(|r| match r {
            Record::PrescaleIntent { groups, .. } => Some(groups.clone()),
            _ => None,
        })
        .expect("a prescale_intent record")
}

#[tokio::test(start_paused = true)]
async fn prescale_raises_destination_groups_before_the_first_weight_change() {
    let world = world(sized(10, 10, 30), sized(12, 12, 30), Duration::ZERO).await;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome, Outcome::Completed, "{:#?}", events_of(&world));

    let kinds = sink.kinds();
    assert_eq!(
        kinds[..5],
        [
            "run_started",
            "checks_baseline",
            "prescale_intent",
            "prescale_done",
            "intent 0"
        ],
        "{kinds:?}"
    );
    assert_eq!(
        prescale_intent(&sink),
        vec![
            CapacityChange {
                region: "eu-west-1".into(),
                group: "api-eu-west-1".into(),
                from: 12,
                to: NEEDED,
            },
            CapacityChange {
                region: "us-west-2".into(),
                group: "api-us-west-2".into(),
                from: 10,
                to: NEEDED,
            },
        ]
    );
    // Both groups are set before the first apply of any weight.
    let lines = timeline(&world);
    let first_apply = lines.iter().position(|l| l.starts_with("apply")).unwrap();
    let sets: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("set_desired"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(sets.len(), 2, "{lines:?}");
    assert!(sets.iter().all(|i| *i < first_apply), "{lines:?}");
    assert_desired(&world, NEEDED, NEEDED).await;
    // The events say what is scaled, before the first step.
    let events = events_of(&world);
    let scaling = events
        .iter()
        .position(|e| {
            matches!(
                e,
                ProgressEvent::Scaling {
                    purpose: "prescale",
                    ..
                }
            )
        })
        .unwrap();
    let step = events
        .iter()
        .position(|e| matches!(e, ProgressEvent::StepStarted { .. }))
        .unwrap();
    assert!(scaling < step);
}

#[tokio::test(start_paused = true)]
async fn prescale_waits_until_enough_instances_are_in_service() {
    let delay = Duration::from_secs(95);
    let world = world(sized(10, 10, 30), sized(10, 10, 30), delay).await;
    let mut sink = MemSink::default();
    let start = tokio::time::Instant::now();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome, Outcome::Completed, "{:#?}", events_of(&world));
    let events = events_of(&world);
    let times = world.progress.times.lock().unwrap().clone();
    let waiting = events
        .iter()
        .filter(|e| matches!(e, ProgressEvent::WaitingInService { .. }))
        .count();
    // Polled every 10 s: short at 0, 10, ..., 90 s; enough at 100 s.
    assert_eq!(waiting, 10, "{events:#?}");
    let first_step = events
        .iter()
        .position(|e| matches!(e, ProgressEvent::StepStarted { .. }))
        .unwrap();
    assert!(times[first_step] - start >= delay);
    let prescaled = events
        .iter()
        .position(|e| matches!(e, ProgressEvent::Prescaled { groups: 2 }))
        .unwrap();
    assert!(prescaled < first_step);
}

#[tokio::test(start_paused = true)]
async fn prescale_timeout_aborts_and_rollback_returns_the_groups_without_moving_traffic() {
    // Instances take an hour; the playbook waits 10 minutes.
    let world = world(
        sized(10, 10, 30),
        sized(10, 10, 30),
        Duration::from_secs(3600),
    )
    .await;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::Capacity,
        &[
            "not in service after 10m",
            "group api-us-west-2 in us-west-2: 10 of 19 in service",
        ],
    );
    assert_no_apply(&world);
    assert_at_baseline(&world);
    assert_desired(&world, 10, 10).await;
    assert_eq!(
        sink.kinds(),
        [
            "run_started",
            "checks_baseline",
            "prescale_intent",
            "aborted",
            "rollback_intent",
            "capacity_restore_intent",
            "capacity_restored",
            "rollback_done",
            "finished RolledBack",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn failing_check_rolls_back_the_weights_then_the_desired_capacity() {
    let mut world = world(sized(10, 10, 30), sized(10, 10, 30), Duration::ZERO).await;
    world.source = ScriptedSource::failing_at_group(0);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    assert_at_baseline(&world);
    assert_desired(&world, 10, 10).await;
    // Weights go back first: lowering capacity under traffic would overload it.
    let lines = timeline(&world);
    let last_apply = lines.iter().rposition(|l| l.starts_with("apply")).unwrap();
    let lowered: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("set_desired") && l.ends_with(" 10"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(lowered.len(), 2, "{lines:?}");
    assert!(lowered.iter().all(|i| *i > last_apply), "{lines:?}");
    let kinds = sink.kinds();
    let tail = &kinds[kinds.len() - 4..];
    assert_eq!(
        tail,
        [
            "capacity_restore_intent",
            "capacity_restored",
            "rollback_done",
            "finished RolledBack"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn prescale_never_lowers_a_group_and_rollback_leaves_it_alone() {
    // us-west-2 already wants more than needed.
    let mut world = world(sized(25, 25, 30), sized(10, 10, 30), Duration::ZERO).await;
    world.source = ScriptedSource::failing_at_group(1);
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    let intent = prescale_intent(&sink);
    assert_eq!(intent.len(), 1, "{intent:?}");
    assert_eq!(intent[0].group, "api-eu-west-1");
    assert!(
        !timeline(&world)
            .iter()
            .any(|l| l.starts_with("set_desired api-us-west-2")),
        "{:?}",
        timeline(&world)
    );
    assert_desired(&world, 25, 10).await;
}

#[tokio::test(start_paused = true)]
async fn prescale_refuses_when_the_max_size_cannot_hold_the_load() {
    // 15 instances at most; 19 needed. (Pre-flight refuses this earlier when the plan's
    // capacity comes from the groups; this is the executor's own guard.)
    let world = world(sized(10, 10, 15), sized(10, 10, 30), Duration::ZERO).await;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::Capacity,
        &[
            "group api-us-west-2 in us-west-2 needs 19 instances",
            "max size is 15",
        ],
    );
    assert!(
        !timeline(&world)
            .iter()
            .any(|l| l.starts_with("set_desired")),
        "{:?}",
        timeline(&world)
    );
    assert_no_apply(&world);
    assert_eq!(desired(&world, "us-west-2").await, 10);
    assert_eq!(sink.log().state, RunState::Refused);
}

#[tokio::test(start_paused = true)]
async fn run_stopped_after_the_prescale_intent_is_rolled_back_to_the_original_capacity() {
    let world = world(sized(10, 10, 30), sized(10, 10, 30), Duration::ZERO).await;
    // The journal takes run_started, checks_baseline and prescale_intent, then fails.
    let mut sink = MemSink::failing_after(3);
    let outcome = world.run(&mut sink).await;
    assert!(
        matches!(&outcome, Outcome::Paused { abort } if abort.message.contains("kong rollback")),
        "capacity changed, so this is not a refusal: {outcome:?}"
    );
    assert_eq!(desired(&world, "us-west-2").await, NEEDED);
    sink.fail_after = None;
    let outcome = world.rollback(&mut sink).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    assert_desired(&world, 10, 10).await;
    assert_at_baseline(&world);
}

#[tokio::test(start_paused = true)]
async fn resume_after_a_stop_during_prescale_raises_from_the_original_capacity() {
    let world = world(sized(10, 10, 30), sized(10, 10, 30), Duration::ZERO).await;
    let mut sink = MemSink::failing_after(3);
    world.run(&mut sink).await;
    sink.fail_after = None;
    // Meanwhile us-west-2 was set to 15 (say, by its own policy): still short of 19.
    let scaling = world.scaling.as_ref().unwrap();
    scaling
        .inner
        .set_group("us-west-2", "api-us-west-2", sized(15, 15, 30))
        .await
        .unwrap();
    let outcome = world.resume(&mut sink).await;
    assert_eq!(outcome, Outcome::Completed, "{:#?}", events_of(&world));
    assert_eq!(desired(&world, "us-west-2").await, NEEDED);
    // The intent journaled on resume keeps the original `from` (10, not 15).
    let intents: Vec<Vec<CapacityChange>> = sink
        .records
        .iter()
        .filter_map(|r| match r {
            Record::PrescaleIntent { groups, .. } => Some(groups.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(intents.len(), 2);
    assert_eq!(
        intents[1],
        vec![CapacityChange {
            region: "us-west-2".into(),
            group: "api-us-west-2".into(),
            from: 10,
            to: NEEDED,
        }]
    );
    assert_eq!(sink.log().prescaled().len(), 2);
    assert!(sink.log().is_prescale_done());
}

#[tokio::test(start_paused = true)]
async fn restore_returns_the_prescaled_groups_after_traffic_is_back() {
    let returned = ["us-west-2", "eu-west-1"]
        .iter()
        .map(|r| CapacityChange {
            region: r.to_string(),
            group: group(r).group,
            from: 10,
            to: NEEDED,
        })
        .collect();
    let (world, baseline) = restoring(returned).await;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert_eq!(outcome, Outcome::Completed, "{:#?}", events_of(&world));
    assert_eq!(world.live(), baseline);
    assert_desired(&world, 10, 10).await;
    let kinds = sink.kinds();
    assert!(!kinds.contains(&"prescale_intent".to_string()), "{kinds:?}");
    assert_eq!(
        kinds[kinds.len() - 3..],
        [
            "capacity_restore_intent",
            "capacity_restored",
            "finished Completed"
        ]
    );
    // Lowered after the last weight change.
    let lines = timeline(&world);
    let last_apply = lines.iter().rposition(|l| l.starts_with("apply")).unwrap();
    let first_set = lines
        .iter()
        .position(|l| l.starts_with("set_desired"))
        .unwrap();
    assert!(first_set > last_apply, "{lines:?}");
}

#[tokio::test(start_paused = true)]
async fn restore_that_cannot_return_the_groups_pauses_naming_them() {
    let (world, _) = restoring(vec![CapacityChange {
        region: "us-west-2".into(),
        group: "gone".into(),
        from: 10,
        to: NEEDED,
    }])
    .await;
    let mut sink = MemSink::default();
    let outcome = world.run(&mut sink).await;
    assert!(matches!(outcome, Outcome::Paused { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::Provider,
        &[
            "traffic is back at its baseline",
            "group gone in us-west-2 (original desired 10)",
            "kong resume run-1",
        ],
    );
}
