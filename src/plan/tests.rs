//! Unit tests of the planner's public API on SPEC.md's example topology and small variants.

use std::collections::BTreeMap;

use super::*;
use crate::model::{Dial, Topology};
use crate::testing::*;

const E: &str = "us-east-1";
const W: &str = "us-west-2";
const EU: &str = "eu-west-1";
const SCHEDULE: [u32; 4] = [10, 25, 50, 100];

/// A topology of us-east-1 and us-west-2 (max_utilization 0.75) with one service, `name`,
/// that calls nothing and has one dial.
fn one_service(name: &str, capacity: &[(&str, f64)], load: &[(&str, f64)], dial: Dial) -> Topology {
    topology(
        &[E, W],
        0.75,
        vec![service(name, &[], capacity, load, vec![dial])],
    )
}

/// The plan of `operation` on us-east-1 of `topology` at the initial weights, with the
/// playbook's steps at `schedule` and no restore baseline.
fn plan_initial(
    topology: &Topology,
    schedule: &[u32],
    operation: Operation,
) -> Result<Plan, PlanError> {
    plan(&PlanInput {
        topology,
        playbook: &playbook(schedule),
        operation,
        region: E,
        observed: &initial_weights(topology),
        restore_to: None,
    })
}

fn evacuate(topology: &Topology, observed: &Weights, region: &str) -> Result<Plan, PlanError> {
    plan(&PlanInput {
        topology,
        playbook: &playbook(&SCHEDULE),
        operation: Operation::Evacuate,
        region,
        observed,
        restore_to: None,
    })
}

fn restore(
    topology: &Topology,
    observed: &Weights,
    region: &str,
    to: &Weights,
) -> Result<Plan, PlanError> {
    plan(&PlanInput {
        topology,
        playbook: &playbook(&SCHEDULE),
        operation: Operation::Restore,
        region,
        observed,
        restore_to: Some(to),
    })
}

/// The weights after applying every step of `plan` to `observed`.
fn apply(observed: &Weights, plan: &Plan) -> Weights {
    let mut weights = observed.clone();
    for step in &plan.steps {
        apply_step(&mut weights, step);
    }
    weights
}

fn apply_step(weights: &mut Weights, step: &PlanStep) {
    for change in &step.changes {
        weights
            .get_mut(change.dial.as_str())
            .unwrap()
            .insert(change.member.to_string(), change.to);
    }
}

/// The initial weights of `topology` and the weights after evacuating us-east-1 from them.
fn evacuated(topology: &Topology) -> (Weights, Weights) {
    let baseline = initial_weights(topology);
    let evacuated = apply(&baseline, &evacuate(topology, &baseline, E).unwrap());
    (baseline, evacuated)
}

/// The served shares of `service` at the initial weights, with `dial` set to `weights`.
fn shares_with(
    topology: &Topology,
    service: &str,
    dial: &str,
    weights: &[(&str, u32)],
) -> BTreeMap<String, f64> {
    let mut all = initial_weights(topology);
    all.insert(dial.to_string(), w(weights));
    served_shares(topology, &topology.services[service], &all)
}

/// Each region's share is as `expected` (to 1e-12).
fn assert_shares<K: std::borrow::Borrow<str> + Ord>(
    shares: &BTreeMap<K, f64>,
    expected: &[(&str, f64)],
) {
    for (region, share) in expected {
        assert!((shares[*region] - share).abs() < 1e-12, "{region}");
    }
}

fn dial(weights: &Weights, name: &str) -> Vec<u32> {
    weights[name].values().copied().collect()
}

fn w(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(m, w)| (m.to_string(), *w)).collect()
}

#[test]
fn waves_put_callers_before_callees() {
    assert_eq!(
        waves(&streaming()),
        vec![
            vec!["edge-api"],
            vec!["identity", "playback"],
            vec!["catalog"]
        ]
    );
}

#[test]
fn waves_use_the_longest_caller_path() {
    // a -> b -> c and a -> c: c drains after b, not alongside it.
    let t = topology(
        &[E, W],
        0.75,
        vec![
            service("a", &["b", "c"], &[], &[], vec![]),
            service("b", &["c"], &[], &[], vec![]),
            service("c", &[], &[], &[], vec![]),
            service("d", &[], &[], &[], vec![]),
        ],
    );
    assert_eq!(waves(&t), vec![vec!["a", "d"], vec!["b"], vec!["c"]]);
}

#[test]
fn initial_weights_follow_declared_load_and_keep_albs_local() {
    let weights = initial_weights(&streaming());
    // Members sorted by id: euw1, use1, usw2.
    assert_eq!(dial(&weights, "edge-api/dns"), vec![40, 100, 60]);
    assert_eq!(
        weights["edge-api/alb-use1"],
        w(&[("tg-edge-local", 100), ("tg-edge-to-usw2", 0)])
    );
    // Catalog: 2000/1500/1000 -> 100/75/50; sim members named after regions.
    assert_eq!(weights["catalog/sim"], w(&[(EU, 50), (E, 100), (W, 75)]));
    assert_eq!(dial(&weights, "identity/dns"), vec![50, 100, 75]);
}

#[test]
fn initial_weights_split_a_region_among_its_members_and_avoid_all_zero() {
    let t = topology(
        &[E, W],
        0.75,
        vec![
            service(
                "s",
                &[],
                &[(E, 10.0), (W, 10.0)],
                &[(E, 100.0), (W, 0.0)],
                vec![
                    route53("dns", &[("a", E), ("b", E), ("c", W)]),
                    alb("alb", W, &[("x", E)]),
                ],
            ),
            service(
                "idle",
                &[],
                &[(E, 10.0)],
                &[],
                vec![route53("dns", &[("a", E), ("b", W)])],
            ),
        ],
    );
    let weights = initial_weights(&t);
    assert_eq!(weights["s/dns"], w(&[("a", 50), ("b", 50), ("c", 0)]));
    assert_eq!(weights["s/alb"], w(&[("x", 100)]));
    assert_eq!(weights["idle/dns"], w(&[("a", 100), ("b", 100)]));
}

#[test]
fn served_shares_at_initial_weights_match_declared_load() {
    let t = streaming();
    let shares = all_served_shares(&t, &initial_weights(&t));
    assert_shares(&shares["edge-api"], &[(E, 0.5), (W, 0.3), (EU, 0.2)]);
}

#[test]
fn served_shares_compose_entry_dials_and_albs() {
    let t = streaming();
    // The us-east-1 ALB forwards a quarter of what arrives there to us-west-2.
    let alb = [("tg-edge-local", 75), ("tg-edge-to-usw2", 25)];
    let shares = shares_with(&t, "edge-api", "edge-api/alb-use1", &alb);
    assert_shares(&shares, &[(E, 0.375), (W, 0.425), (EU, 0.2)]);
}

#[test]
fn an_all_zero_dial_spreads_traffic_evenly() {
    let t = streaming();
    let zero = [("euw1", 0), ("use1", 0), ("usw2", 0)];
    let shares = shares_with(&t, "identity", "identity/dns", &zero);
    assert_shares(&shares, &[(E, 1.0 / 3.0), (W, 1.0 / 3.0), (EU, 1.0 / 3.0)]);
}

#[test]
fn a_service_without_entry_dial_is_split_by_declared_load() {
    let t = one_service(
        "worker",
        &[(E, 10.0), (W, 10.0)],
        &[(E, 3.0), (W, 1.0)],
        alb("alb-use1", E, &[("local", E), ("proxy", W)]),
    );
    let shares = shares_with(
        &t,
        "worker",
        "worker/alb-use1",
        &[("local", 1), ("proxy", 1)],
    );
    assert_shares(&shares, &[(E, 0.375), (W, 0.625)]);
}

#[test]
fn evacuation_of_the_example_moves_by_free_capacity_callers_first() {
    let t = streaming();
    let observed = initial_weights(&t);
    let plan = evacuate(&t, &observed, E).unwrap();
    assert_eq!(plan.waves, waves(&t));
    let first = &plan.steps[0];
    assert_eq!(
        (first.service.as_str(), first.wave, first.percent),
        ("edge-api", 0, 10)
    );
    // 10% of 0.5 moves: us-east-1 to 0.45 (90 of 200); free capacity 4500 (us-west-2) and
    // 4000 (eu-west-1) split the moved 0.05 into 65.29 and 44.71 weight units.
    let to: Vec<(&str, u32, u32)> = first
        .changes
        .iter()
        .map(|c| (c.member.as_str(), c.from, c.to))
        .collect();
    assert_eq!(
        to,
        vec![("euw1", 40, 45), ("use1", 100, 90), ("usw2", 60, 65)]
    );
    // Execution order: every percent of wave 0 before wave 1, services sorted within a wave.
    let order: Vec<(usize, u32, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.wave, s.percent, s.service.as_str()))
        .collect();
    assert_eq!(order[4..6], [(1, 10, "identity"), (1, 10, "playback")]);
    assert!(
        order
            .windows(2)
            .all(|p| (p[0].0, p[0].1) <= (p[1].0, p[1].1))
    );

    let after = apply(&observed, &plan);
    assert_eq!(dial(&after, "edge-api/dns"), vec![87, 0, 113]);
    assert_eq!(
        after["edge-api/alb-use1"],
        w(&[("tg-edge-local", 0), ("tg-edge-to-usw2", 100)])
    );
    assert_eq!(plan.target["edge-api/dns"], after["edge-api/dns"]);
    for (service, shares) in &plan.final_shares {
        assert_eq!(shares[E], 0.0, "{service}");
        assert!((shares.values().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    assert!(plan.preflight_ok());
    assert_eq!(plan.preflight.len(), 8);
    assert!(
        plan.notes
            .contains(&"edge-api: us-west-2 limits the move: 56% of 75% allowed".to_string()),
        "{:?}",
        plan.notes
    );
}

#[test]
fn the_alb_of_the_evacuated_region_moves_only_at_the_last_step() {
    let t = streaming();
    let plan = evacuate(&t, &initial_weights(&t), E).unwrap();
    for step in &plan.steps {
        let touches_alb = step.changes.iter().any(|c| c.dial == "edge-api/alb-use1");
        assert_eq!(
            touches_alb,
            step.service == "edge-api" && step.percent == 100
        );
    }
}

#[test]
fn replanning_after_an_evacuation_is_empty() {
    let t = streaming();
    let observed = initial_weights(&t);
    let plan = evacuate(&t, &observed, E).unwrap();
    let again = evacuate(&t, &apply(&observed, &plan), E).unwrap();
    assert!(again.is_empty(), "{:?}", again.steps);
    assert!(again.waves.is_empty());
}

#[test]
fn restore_reverses_waves_and_ends_exactly_at_the_baseline() {
    let t = streaming();
    let (baseline, evacuated) = evacuated(&t);
    let plan = restore(&t, &evacuated, E, &baseline).unwrap();
    let mut reversed = waves(&t);
    reversed.reverse();
    assert_eq!(plan.waves, reversed);
    assert_eq!(apply(&evacuated, &plan), baseline);
    // The ALB serves locally again before DNS sends traffic back.
    let first_edge = plan.steps.iter().find(|s| s.service == "edge-api").unwrap();
    assert_eq!(first_edge.percent, 10);
    assert!(
        first_edge
            .changes
            .iter()
            .any(|c| c.dial == "edge-api/alb-use1")
    );
    assert!(restore(&t, &baseline, E, &baseline).unwrap().is_empty());
}

#[test]
fn restore_never_brings_back_more_than_scheduled() {
    let t = streaming();
    let (baseline, evacuated) = evacuated(&t);
    let plan = restore(&t, &evacuated, E, &baseline).unwrap();
    let mut weights = evacuated.clone();
    for step in &plan.steps {
        apply_step(&mut weights, step);
        if step.service != "catalog" {
            let dns = &weights[&format!("{}/dns", step.service)];
            let total: u32 = dns.values().sum();
            let base_total: u32 = baseline[&format!("{}/dns", step.service)].values().sum();
            let share = f64::from(dns["use1"]) / f64::from(total);
            let base = f64::from(baseline[&format!("{}/dns", step.service)]["use1"])
                / f64::from(base_total);
            assert!(share <= base * f64::from(step.percent) / 100.0 + 1e-9);
        }
    }
}

#[test]
fn restore_without_a_baseline_is_refused() {
    let t = streaming();
    let err = plan_initial(&t, &SCHEDULE, Operation::Restore).unwrap_err();
    assert!(matches!(err, PlanError::MissingRestoreBaseline { .. }));
}

#[test]
fn an_unknown_region_is_refused_with_the_known_ones() {
    let t = streaming();
    let err = evacuate(&t, &initial_weights(&t), "mars-1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "region `mars-1` is not in topology `streaming` (known regions: us-east-1, us-west-2, eu-west-1)"
    );
}

#[test]
fn a_dial_missing_from_the_observed_weights_is_refused() {
    let t = streaming();
    let mut observed = initial_weights(&t);
    observed.remove("catalog/sim");
    assert_eq!(
        evacuate(&t, &observed, E).unwrap_err(),
        PlanError::MissingWeights {
            dial: "catalog/sim".into(),
            member: None
        }
    );
    let mut observed = initial_weights(&t);
    observed.get_mut("identity/dns").unwrap().remove("usw2");
    assert_eq!(
        evacuate(&t, &observed, E).unwrap_err(),
        PlanError::MissingWeights {
            dial: "identity/dns".into(),
            member: Some("usw2".into())
        }
    );
}

#[test]
fn an_entry_dial_entirely_in_the_region_cannot_drain() {
    let t = one_service(
        "pinned",
        &[(E, 10.0), (W, 10.0)],
        &[(E, 1.0)],
        route53("dns", &[("use1", E)]),
    );
    let err = evacuate(&t, &initial_weights(&t), E).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot drain `pinned` from `us-east-1`: every member of pinned/dns serves us-east-1; add a member in another region"
    );
}

#[test]
fn a_service_without_dials_out_of_the_region_cannot_drain() {
    let t = one_service(
        "batch",
        &[(E, 10.0), (W, 10.0)],
        &[(E, 1.0), (W, 1.0)],
        alb("alb-usw2", W, &[("local", W)]),
    );
    let err = evacuate(&t, &initial_weights(&t), E).unwrap_err();
    assert!(
        matches!(&err, PlanError::CannotDrain { reason, .. } if reason.contains("no alb dial in us-east-1")),
        "{err}"
    );
}

#[test]
fn an_alb_with_no_target_group_outside_the_region_is_left_alone() {
    let mut t = streaming();
    let edge = t.services.get_mut("edge-api").unwrap();
    edge.dials
        .push(alb("alb-local", E, &[("tg-only-local", E)]));
    let plan = evacuate(&t, &initial_weights(&t), E).unwrap();
    assert!(plan.notes.contains(
        &"edge-api/alb-local keeps forwarding to us-east-1: no target group outside it".to_string()
    ));
    assert!(!plan.target.contains_key("edge-api/alb-local"));
    assert_eq!(plan.final_shares["edge-api"][E], 0.0);
}

#[test]
fn a_service_without_entry_dial_moves_its_alb_per_schedule() {
    let t = one_service(
        "worker",
        &[(E, 100.0), (W, 100.0)],
        &[(E, 30.0), (W, 10.0)],
        alb("alb-use1", E, &[("local", E), ("proxy", W)]),
    );
    let observed = initial_weights(&t);
    let plan = evacuate(&t, &observed, E).unwrap();
    let percents: Vec<u32> = plan.steps.iter().map(|s| s.percent).collect();
    assert_eq!(percents, SCHEDULE);
    // T = 100 (the local member's baseline); 10% moves 10 units to the proxy.
    assert_eq!(
        (
            plan.steps[0].changes[0].member.as_str(),
            plan.steps[0].changes[0].to
        ),
        ("local", 90)
    );
    assert_eq!(
        dial(&apply(&observed, &plan), "worker/alb-use1"),
        vec![0, 100]
    );
    assert_eq!(plan.final_shares["worker"][E], 0.0);
}

#[test]
fn weights_at_the_provider_maximum_scale_the_total_down() {
    let t = streaming();
    let mut observed = initial_weights(&t);
    observed.insert(
        "identity/dns".into(),
        w(&[("euw1", 255), ("use1", 255), ("usw2", 255)]),
    );
    let plan = evacuate(&t, &observed, E).unwrap();
    let after = apply(&observed, &plan);
    assert!(after["identity/dns"].values().all(|w| *w <= 255));
    assert_eq!(after["identity/dns"]["use1"], 0);
}

#[test]
fn full_destinations_fall_back_to_capacity_and_fail_preflight() {
    let t = topology(
        &[E, W, EU],
        0.5,
        vec![service(
            "hot",
            &[],
            &[(E, 100.0), (W, 100.0), (EU, 300.0)],
            &[(E, 100.0), (W, 100.0), (EU, 200.0)],
            vec![route53("dns", &[("use1", E), ("usw2", W), ("euw1", EU)])],
        )],
    );
    let plan = evacuate(&t, &initial_weights(&t), E).unwrap();
    assert!(!plan.preflight_ok());
    assert!(
        plan.notes.iter().any(|n| n.contains("split by capacity")),
        "{:?}",
        plan.notes
    );
    let eu = plan.preflight.iter().find(|r| r.region == EU).unwrap();
    assert!(!eu.ok);
    // us-west-2 has a third of the capacity and gets a third of the moved 0.25.
    assert!((plan.final_shares["hot"][W] - (0.25 + 0.25 / 4.0)).abs() < 0.01);
}

#[test]
fn a_destination_without_capacity_reports_unbounded_utilization() {
    let t = one_service(
        "s",
        &[(E, 10.0), (W, 0.0)],
        &[(E, 10.0)],
        route53("dns", &[("use1", E), ("usw2", W)]),
    );
    let plan = evacuate(&t, &initial_weights(&t), E).unwrap();
    let row = &plan.preflight[0];
    assert_eq!((row.region.as_str(), row.ok), (W, false));
    assert_eq!(row.utilization, UNBOUNDED_UTILIZATION);
    assert!(serde_json::to_string(&plan).is_ok());
}

#[test]
fn a_cycle_is_refused_with_its_members() {
    let t = topology(
        &[E, W],
        0.75,
        vec![
            service("a", &["b"], &[], &[], vec![]),
            service("b", &["a"], &[], &[], vec![]),
            service("c", &["a"], &[], &[], vec![]),
        ],
    );
    let err = evacuate(&t, &Weights::new(), E).unwrap_err();
    assert_eq!(
        err,
        PlanError::Cycle {
            members: vec!["a".into(), "b".into()]
        }
    );
    assert_eq!(waves(&t), vec![vec!["c"], vec!["a", "b"]]);
}

#[test]
fn a_bad_schedule_is_refused() {
    let t = streaming();
    let err = plan_initial(&t, &[50, 25, 100], Operation::Evacuate).unwrap_err();
    assert!(matches!(err, PlanError::InvalidSchedule { .. }));
}

#[test]
fn a_region_nobody_serves_gives_an_empty_plan() {
    let t = topology(
        &[E, W, EU],
        0.75,
        vec![service(
            "s",
            &[],
            &[(E, 10.0), (W, 10.0)],
            &[(E, 1.0), (W, 1.0)],
            vec![route53("dns", &[("use1", E), ("usw2", W)])],
        )],
    );
    let plan = evacuate(&t, &initial_weights(&t), EU).unwrap();
    assert!(plan.is_empty() && plan.waves.is_empty() && plan.preflight.is_empty());
    assert_eq!(plan.baseline, initial_weights(&t));
}

#[test]
fn planning_is_deterministic() {
    let t = streaming();
    let observed = initial_weights(&t);
    let a = serde_json::to_string(&evacuate(&t, &observed, W).unwrap()).unwrap();
    let b = serde_json::to_string(&evacuate(&t, &observed, W).unwrap()).unwrap();
    assert_eq!(a, b);
}
