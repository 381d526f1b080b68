use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::backend::{BatchKey, batches};
use crate::plan::initial_weights;
use crate::testing::streaming;

fn dial_weights(pairs: &[(&str, u32)]) -> DialWeights {
    pairs.iter().map(|(m, w)| (m.to_string(), *w)).collect()
}

/// The one batch holding `dial` set to `pairs`.
fn batch(topology: &Topology, dial: &str, pairs: &[(&str, u32)]) -> Batch {
    let desired: Weights = [(dial.to_string(), dial_weights(pairs))].into();
    let mut all = batches(topology, &desired);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn evacuate_use1(topology: &Topology) -> Batch {
    batch(
        topology,
        "edge-api/dns",
        &[("use1", 0), ("usw2", 120), ("euw1", 80)],
    )
}

#[tokio::test]
async fn apply_sets_absolute_weights_and_read_returns_them() {
    let topology = streaming();
    let sim = SimBackend::in_memory(topology.clone(), SimFaults::default());
    assert_eq!(sim.name(), "sim");
    let b = evacuate_use1(&topology);
    let receipt = sim.apply(&b).await.unwrap();
    assert_eq!(receipt.key, BatchKey::HostedZone("Z0000000EXAMPLE".into()));
    assert!(receipt.change_id.is_some());
    sim.wait_propagated(&receipt).await.unwrap();
    // Idempotent: the same batch again leaves the same state.
    sim.apply(&b).await.unwrap();

    let read = sim
        .read(&["edge-api/dns".into(), "catalog/sim".into()])
        .await
        .unwrap();
    assert_eq!(read["edge-api/dns"], b.weights["edge-api/dns"]);
    assert_eq!(
        read["catalog/sim"],
        initial_weights(&topology)["catalog/sim"]
    );
    assert_eq!(sim.world_snapshot().await.api_calls, 2);
    let stats = sim.stats().await;
    assert_eq!((stats.applies, stats.reads, stats.waits), (2, 1, 1));
}

#[test]
fn a_backend_shares_the_topology_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let topology = std::sync::Arc::new(streaming());
    let in_memory = SimBackend::in_memory(topology.clone(), SimFaults::default());
    let opened = SimBackend::open(dir.path(), topology.clone(), SimFaults::default()).unwrap();
    assert!(std::sync::Arc::ptr_eq(in_memory.topology(), &topology));
    assert!(std::sync::Arc::ptr_eq(opened.topology(), &topology));
}

#[tokio::test]
async fn read_of_unknown_dial_is_permanent_error() {
    let sim = SimBackend::in_memory(streaming(), SimFaults::default());
    let err = sim.read(&["edge-api/nope".into()]).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn invalid_batches_are_refused_and_change_nothing() {
    let topology = streaming();
    let sim = SimBackend::in_memory(topology.clone(), SimFaults::default());
    let before = sim.world_snapshot().await;
    let alb = "edge-api/alb-use1";
    let cases = [
        // Route 53 weights stop at 255.
        batch(
            &topology,
            "edge-api/dns",
            &[("use1", 256), ("usw2", 1), ("euw1", 1)],
        ),
        // Every member at 0.
        batch(
            &topology,
            "edge-api/dns",
            &[("use1", 0), ("usw2", 0), ("euw1", 0)],
        ),
        // A member missing.
        batch(&topology, "edge-api/dns", &[("use1", 0), ("usw2", 10)]),
        // A member the dial does not have.
        batch(
            &topology,
            alb,
            &[("tg-edge-local", 1), ("tg-edge-to-usw2", 1), ("x", 1)],
        ),
        // ALB weights stop at 999.
        batch(
            &topology,
            alb,
            &[("tg-edge-local", 1000), ("tg-edge-to-usw2", 0)],
        ),
    ];
    for b in &cases {
        let err = sim.apply(b).await.unwrap_err();
        assert!(!err.is_transient(), "{err}");
    }
    // A dial put in another provider's batch, and an unknown dial.
    let mut wrong = evacuate_use1(&topology);
    wrong.key = BatchKey::SimDial("edge-api/dns".into());
    assert!(sim.apply(&wrong).await.is_err());
    let unknown = Batch {
        key: BatchKey::SimDial("x/y".into()),
        weights: [("x/y".to_string(), dial_weights(&[("a", 1)]))].into(),
    };
    assert!(sim.apply(&unknown).await.is_err());
    assert_eq!(sim.world_snapshot().await, before);

    // 999 is fine on an ALB.
    sim.apply(&batch(
        &topology,
        alb,
        &[("tg-edge-local", 999), ("tg-edge-to-usw2", 0)],
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn first_n_applies_fail_transiently_without_changing_anything() {
    let topology = streaming();
    let faults = SimFaults {
        fail_first_n_applies: 2,
        ..SimFaults::default()
    };
    let sim = SimBackend::in_memory(topology.clone(), faults);
    let b = evacuate_use1(&topology);
    for _ in 0..2 {
        let err = sim.apply(&b).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(sim.weights().await, initial_weights(&topology));
    }
    sim.apply(&b).await.unwrap();
    let stats = sim.stats().await;
    assert_eq!((stats.applies, stats.failed_applies), (1, 2));
    assert_eq!(sim.world_snapshot().await.api_calls, 1);
}

#[tokio::test]
async fn failure_rate_is_reproducible_from_the_seed() {
    let topology = streaming();
    let b = evacuate_use1(&topology);
    let outcomes = |seed: u64| {
        let topology = topology.clone();
        let b = b.clone();
        async move {
            let faults = SimFaults {
                failure_rate: 0.5,
                seed,
                ..SimFaults::default()
            };
            let sim = SimBackend::in_memory(topology.clone(), faults);
            let mut out = Vec::new();
            for _ in 0..64 {
                out.push(sim.apply(&b).await.is_ok());
            }
            out
        }
    };
    let a = outcomes(7).await;
    assert_eq!(a, outcomes(7).await);
    let ok = a.iter().filter(|x| **x).count();
    assert!((10..=54).contains(&ok), "{ok} of 64 succeeded at rate 0.5");

    let always = SimFaults {
        failure_rate: 1.0,
        ..SimFaults::default()
    };
    let sim = SimBackend::in_memory(topology.clone(), always);
    assert!(sim.apply(&b).await.unwrap_err().is_transient());
}

#[tokio::test(start_paused = true)]
async fn api_latency_uses_tokio_time_and_concurrent_applies_overlap() {
    let topology = streaming();
    let faults = SimFaults {
        api_latency: Duration::from_millis(20),
        read_latency: Duration::from_millis(5),
        ..SimFaults::default()
    };
    let sim = SimBackend::in_memory(topology.clone(), faults);
    let start = tokio::time::Instant::now();
    let dns = evacuate_use1(&topology);
    let catalog = batch(
        &topology,
        "catalog/sim",
        &[("us-east-1", 0), ("us-west-2", 1), ("eu-west-1", 1)],
    );
    let (a, b) = tokio::join!(sim.apply(&dns), sim.apply(&catalog));
    a.unwrap();
    b.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    sim.read(&["catalog/sim".into()]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(25));
}

#[tokio::test]
async fn tamper_makes_read_back_differ_once() {
    let topology = streaming();
    let faults = SimFaults {
        tamper_after_apply: Some(Tamper::once("edge-api/dns", "use1", 50)),
        ..SimFaults::default()
    };
    let sim = SimBackend::in_memory(topology.clone(), faults);
    let b = evacuate_use1(&topology);
    sim.apply(&b).await.unwrap();
    let read = sim.read(&["edge-api/dns".into()]).await.unwrap();
    assert_ne!(read["edge-api/dns"], b.weights["edge-api/dns"]);
    assert_eq!(read["edge-api/dns"]["use1"], 50);
    // Spent: the next apply sticks.
    sim.apply(&b).await.unwrap();
    let read = sim.read(&["edge-api/dns".into()]).await.unwrap();
    assert_eq!(read["edge-api/dns"], b.weights["edge-api/dns"]);
}

#[tokio::test]
async fn applied_weights_are_on_disk_when_apply_returns() {
    let dir = tempfile::tempdir().unwrap();
    let topology = streaming();
    let sim = SimBackend::open(dir.path(), topology.clone(), SimFaults::default()).unwrap();
    let path = sim.state_path().unwrap().to_path_buf();
    assert!(!path.exists(), "opening writes nothing");
    let b = evacuate_use1(&topology);
    sim.apply(&b).await.unwrap();
    // A process started now (as after kill -9) sees the change.
    let on_disk = SimWorld::load(&path, &topology).unwrap().unwrap();
    assert_eq!(on_disk.weights["edge-api/dns"], b.weights["edge-api/dns"]);
    assert_eq!(on_disk.api_calls, 1);
    drop(sim);
    let reopened = SimBackend::open(dir.path(), topology.clone(), SimFaults::default()).unwrap();
    assert_eq!(
        reopened.read(&["edge-api/dns".into()]).await.unwrap()["edge-api/dns"],
        b.weights["edge-api/dns"]
    );
}

#[tokio::test]
async fn a_change_after_the_first_appends_one_line_and_leaves_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let topology = streaming();
    let sim = SimBackend::open(dir.path(), topology.clone(), SimFaults::default()).unwrap();
    let path = sim.state_path().unwrap().to_path_buf();
    sim.apply(&evacuate_use1(&topology)).await.unwrap();
    let snapshot = std::fs::read(&path).unwrap();
    let back = batch(
        &topology,
        "edge-api/dns",
        &[("use1", 100), ("usw2", 60), ("euw1", 40)],
    );
    sim.apply(&back).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        snapshot,
        "the snapshot is not rewritten"
    );
    let log = std::fs::read_to_string(SimWorld::log_path(&path)).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    let on_disk = SimWorld::load(&path, &topology).unwrap().unwrap();
    assert_eq!(on_disk, sim.world_snapshot().await);
    assert_eq!(
        on_disk.weights["edge-api/dns"],
        back.weights["edge-api/dns"]
    );
    assert_eq!((on_disk.api_calls, on_disk.changes), (2, 2));
    // A backend that ends folds the log into the snapshot: one complete file.
    drop(sim);
    assert_eq!(SimWorld::load(&path, &topology).unwrap().unwrap(), on_disk);
    let snapshot: SimWorld = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(snapshot, on_disk);
    assert_eq!(
        std::fs::metadata(SimWorld::log_path(&path)).unwrap().len(),
        0
    );
}

#[tokio::test]
async fn failed_write_leaves_world_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let topology = streaming();
    let sim = SimBackend::open(dir.path(), topology.clone(), SimFaults::default()).unwrap();
    // A file where the `sim/` directory should be makes every write fail.
    std::fs::write(dir.path().join("sim"), b"").unwrap();
    let err = sim.apply(&evacuate_use1(&topology)).await.unwrap_err();
    assert!(
        err.to_string().contains("cannot write simulator state"),
        "{err}"
    );
    assert_eq!(sim.world_snapshot().await, SimWorld::initial(&topology));
}

#[tokio::test]
async fn set_weights_bypasses_rules_but_not_unknown_dials() {
    let topology = streaming();
    let sim = SimBackend::in_memory(topology.clone(), SimFaults::default());
    let zero: Weights = [(
        "edge-api/dns".to_string(),
        dial_weights(&[("use1", 0), ("usw2", 0), ("euw1", 0)]),
    )]
    .into();
    sim.set_weights(zero.clone()).await.unwrap();
    assert_eq!(sim.read(&["edge-api/dns".into()]).await.unwrap(), zero);
    assert_eq!(sim.world_snapshot().await.api_calls, 0);
    let unknown: Weights = [("nope/dns".to_string(), BTreeMap::new())].into();
    assert!(sim.set_weights(unknown).await.is_err());
}

#[tokio::test]
async fn groups_start_from_the_declared_capacity_and_persist_with_the_world() {
    use crate::backend::scaling::{GroupRef, ScalingBackend};
    use crate::model::AutoscalingBinding;

    let dir = tempfile::tempdir().unwrap();
    let mut topology = streaming();
    let edge = topology.services.get_mut("edge-api").unwrap();
    let capacity = edge.capacity["us-west-2"];
    edge.autoscaling.insert(
        "us-west-2".into(),
        AutoscalingBinding {
            group: "edge".into(),
            per_instance: capacity / 4.0,
        },
    );
    let group = GroupRef {
        region: "us-west-2".into(),
        group: "edge".into(),
    };
    let sim = SimBackend::open(dir.path(), topology.clone(), SimFaults::default()).unwrap();
    let state = sim.describe(std::slice::from_ref(&group)).await.unwrap()[&group];
    assert_eq!((state.desired, state.in_service, state.max), (4, 4, 8));
    sim.set_desired(&group, 7).await.unwrap();
    let err = sim.set_desired(&group, 9).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("outside the group's min..max 1..8"),
        "{err}"
    );
    drop(sim);

    let sim = SimBackend::open(dir.path(), topology.clone(), SimFaults::default()).unwrap();
    let state = sim.describe(std::slice::from_ref(&group)).await.unwrap()[&group];
    assert_eq!((state.desired, state.in_service), (7, 7));
}
