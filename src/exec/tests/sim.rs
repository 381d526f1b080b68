//! The executor against the embedded simulator and its metric source: the traffic model,
//! not a script, decides whether checks pass.

use std::sync::Arc;

use super::support::*;

use crate::backend::sim::{SimBackend, SimFaults};
use crate::backend::{self, TrafficBackend};
use crate::checks::SimSource;
use crate::exec::{Executor, Outcome, steps};
use crate::model::{AbortKind, Check, CheckSource, Per, SimMetric, Threshold, Topology};

/// Destination error rate at most 1%, the region's total.
fn error_rate_check() -> Check {
    Check {
        name: "destination error rate".into(),
        source: CheckSource::Sim {
            metric: SimMetric::ErrorRate,
        },
        service: None,
        per: Per::Destination,
        threshold: Threshold {
            max: Some(0.01),
            ..Threshold::default()
        },
        consecutive: 1,
        interval: std::time::Duration::from_secs(10),
        timeout: std::time::Duration::from_secs(10),
    }
}

async fn run_on_sim(topology: Topology) -> (Outcome, Arc<SimBackend>, crate::plan::Plan) {
    let mut playbook = playbook();
    playbook.checks = vec![error_rate_check()];
    run_playbook_on_sim(topology, playbook).await
}

async fn run_playbook_on_sim(
    topology: Topology,
    playbook: crate::model::Playbook,
) -> (Outcome, Arc<SimBackend>, crate::plan::Plan) {
    let plan = plan_for(&topology, &playbook);
    run_plan_on_sim(topology, playbook, plan).await
}

/// Executes `plan` (made for any topology) on a simulator of `topology`.
async fn run_plan_on_sim(
    topology: Topology,
    playbook: crate::model::Playbook,
    plan: crate::plan::Plan,
) -> (Outcome, Arc<SimBackend>, crate::plan::Plan) {
    let backend = Arc::new(SimBackend::in_memory(
        topology.clone(),
        SimFaults::default(),
    ));
    let source = SimSource::new(backend.clone());
    let progress = Collector::default();
    let prompter = Scripted::default();
    let (_ctrl_c, interrupts) = tokio::sync::watch::channel(0);
    let executor = Executor {
        topology: &topology,
        playbook: &playbook,
        backend: backend.as_ref(),
        scaling: None,
        restore_capacity: &[],
        source: &source,
        progress: &progress,
        prompter: &prompter,
        options: options(),
        interrupts,
    };
    let mut sink = MemSink::default();
    let outcome = executor.run_with(&plan, header(&plan), &mut sink).await;
    (outcome, backend, plan)
}

#[tokio::test(start_paused = true)]
async fn evacuation_on_the_simulator_completes_with_one_apply_per_batch() {
    let (outcome, backend, plan) = run_on_sim(topology()).await;
    assert_eq!(outcome, Outcome::Completed);
    let live = backend
        .read(&plan.target.keys().cloned().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(live, plan.target);
    let groups = steps::groups(&plan).unwrap();
    let batches: usize = groups
        .iter()
        .map(|g| backend::batches(&backend.topology().clone(), &g.after).len())
        .sum();
    assert_eq!(backend.stats().await.applies, batches as u64);
}

#[tokio::test(start_paused = true)]
async fn an_overloaded_destination_fails_its_checks_and_the_run_rolls_back() {
    // Destinations can take the load (pre-flight passes at max_utilization 1.0) but only
    // past the simulator's knee, where errors rise.
    let mut topology = topology();
    topology.max_utilization = 1.0;
    for service in topology.services.values_mut() {
        for region in ["us-west-2", "eu-west-1"] {
            service.capacity.insert(region.to_string(), 1_600.0);
        }
    }
    let (outcome, backend, plan) = run_on_sim(topology).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    abort_of(
        &outcome,
        AbortKind::CheckFailed,
        &["destination error rate"],
    );
    assert_eq!(backend.weights().await, plan.baseline);
}

/// Destinations that can hold the load (pre-flight passes at max_utilization 1.0) at about
/// 79.5% utilization: past the knee, where the p99/p50 ratio is 1.35x its value before the
/// run, but where the error rate (0.87%) is still under the playbook's 1%.
fn past_the_knee() -> Topology {
    let mut topology = topology();
    topology.max_utilization = 1.0;
    for service in topology.services.values_mut() {
        for region in ["us-west-2", "eu-west-1"] {
            service.capacity.insert(region.to_string(), 1_887.0);
        }
    }
    topology
}

#[tokio::test(start_paused = true)]
async fn the_latency_ratio_guard_aborts_an_evacuation_no_playbook_check_would_stop() {
    // Without guards, the playbook's own error-rate check lets this run complete.
    let mut unguarded = playbook();
    unguarded.checks = vec![error_rate_check()];
    let (outcome, _, _) = run_playbook_on_sim(past_the_knee(), unguarded.clone()).await;
    assert_eq!(outcome, Outcome::Completed);

    let mut guarded = unguarded;
    guarded.guards = crate::model::Guards::default();
    let (outcome, backend, plan) = run_playbook_on_sim(past_the_knee(), guarded).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    abort_of(&outcome, AbortKind::CheckFailed, &["guard: latency ratio"]);
    assert_eq!(backend.weights().await, plan.baseline);
}

#[tokio::test(start_paused = true)]
async fn the_utilization_guard_holds_each_service_to_its_max_utilization() {
    // The plan was made for max_utilization 1.0; the service's own limit is lower, as if
    // the file changed between plan and run: only the utilization guard notices.
    let topology = past_the_knee();
    let mut playbook = playbook();
    playbook.guards = crate::model::Guards {
        utilization: true,
        latency_ratio: None,
        error_rate: None,
    };
    let plan = plan_for(&topology, &playbook);
    let mut stricter = topology.clone();
    for service in stricter.services.values_mut() {
        service.max_utilization = Some(0.6);
    }
    let (outcome, backend, plan) = run_plan_on_sim(stricter, playbook, plan).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    let reason = &abort_of(&outcome, AbortKind::CheckFailed, &["guard: utilization"]).message;
    assert!(reason.contains(" for "), "names the service: {reason}");
    assert_eq!(backend.weights().await, plan.baseline);
}
