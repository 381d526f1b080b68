//! Property tests of the planner's invariants over random topologies, weights and schedules.
//!
//! Each case builds a random DAG of 1..=20 services over 2..=5 regions; services live in
//! some of the regions, with random (sometimes zero) capacity and load, 0..=2 entry dials
//! (`route53` or `sim`) and 0..=2 `alb` dials (always with a local target group, sometimes
//! with proxies), random weights (often 0, sometimes all 0), a random region and a random
//! schedule. Failures are persisted under `proptest-regressions/plan/proptests.txt`.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{Dial, Service, Topology, dial_ref};
use crate::testing::{alb, playbook, route53, service, sim, topology};

const MAX_REGIONS: usize = 5;
const MAX_SERVICES: usize = 20;

#[derive(Debug, Clone)]
struct RawDial {
    sim: bool,
    /// Region pick (alb: where it lives).
    home: usize,
    /// (region pick, weight) per member; for an alb, the first is its local target group.
    members: Vec<(usize, u32)>,
}

#[derive(Debug, Clone)]
struct RawService {
    present: Vec<bool>,
    capacity: Vec<u32>,
    load: Vec<u32>,
    calls: Vec<bool>,
    entry: Vec<RawDial>,
    albs: Vec<RawDial>,
}

#[derive(Debug, Clone)]
struct Case {
    topology: Topology,
    observed: Weights,
    region: String,
    schedule: Vec<u32>,
}

fn raw_dial() -> impl Strategy<Value = RawDial> {
    let weight = prop_oneof![3 => Just(0u32), 7 => 0u32..1000];
    (
        any::<bool>(),
        0usize..MAX_REGIONS,
        prop::collection::vec((0usize..MAX_REGIONS, weight), 1..=4),
    )
        .prop_map(|(sim, home, members)| RawDial { sim, home, members })
}

fn raw_service() -> impl Strategy<Value = RawService> {
    let amount = || prop_oneof![1 => Just(0u32), 4 => 1u32..10_000];
    (
        prop::collection::vec(prop::bool::weighted(0.7), MAX_REGIONS),
        prop::collection::vec(amount(), MAX_REGIONS),
        prop::collection::vec(amount(), MAX_REGIONS),
        prop::collection::vec(prop::bool::weighted(0.2), MAX_SERVICES),
        prop::collection::vec(raw_dial(), 0..=2),
        prop::collection::vec(raw_dial(), 0..=2),
    )
        .prop_map(|(present, capacity, load, calls, entry, albs)| RawService {
            present,
            capacity,
            load,
            calls,
            entry,
            albs,
        })
}

fn schedule() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::btree_set(1u32..100, 0..=4).prop_map(|set| {
        let mut steps: Vec<u32> = set.into_iter().collect();
        steps.push(100);
        steps
    })
}

/// A dial's members as (member id, region served, weight).
type Members<'a> = Vec<(String, &'a str, u32)>;

fn case() -> impl Strategy<Value = Case> {
    (
        2usize..=MAX_REGIONS,
        prop::collection::vec(raw_service(), 1..=MAX_SERVICES),
        0usize..MAX_REGIONS,
        schedule(),
        0.3f64..=1.0,
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(n_regions, raw, region, schedule, max_utilization, repair)| {
                let region = format!("r{}", region % n_regions);
                build(n_regions, &raw, &region, schedule, max_utilization, repair)
            },
        )
}

/// Builds a case; with `repair`, dials that could not drain `region` get a member outside it
/// (so most cases plan successfully, and some exercise `CannotDrain`).
fn build(
    n_regions: usize,
    raw: &[RawService],
    region: &str,
    schedule: Vec<u32>,
    max_utilization: f64,
    repair: bool,
) -> Case {
    let regions: Vec<String> = (0..n_regions).map(|i| format!("r{i}")).collect();
    let name = |i: usize| format!("s{i:02}");
    let mut services = Vec::new();
    let mut observed = Weights::new();
    for (i, s) in raw.iter().enumerate() {
        let mut present: Vec<&str> = (0..n_regions)
            .filter(|r| s.present[*r])
            .map(|r| regions[r].as_str())
            .collect();
        if present.is_empty() || (repair && present.len() < 2) {
            let extra = regions
                .iter()
                .map(String::as_str)
                .find(|r| !present.contains(r))
                .unwrap();
            present.push(extra);
        }
        let pick = |k: usize| present[k % present.len()];
        let elsewhere = |r: &str| *present.iter().find(|p| **p != r).unwrap_or(&present[0]);
        // Forward edges only: the graph is a DAG.
        let calls: Vec<String> = (i + 1..raw.len())
            .filter(|j| s.calls[*j])
            .map(name)
            .collect();
        let calls: Vec<&str> = calls.iter().map(String::as_str).collect();
        let capacity: Vec<(&str, f64)> = present
            .iter()
            .map(|r| (*r, f64::from(s.capacity[index(r)])))
            .collect();
        let load: Vec<(&str, f64)> = present
            .iter()
            .map(|r| (*r, f64::from(s.load[index(r)])))
            .collect();

        let mut dials: Vec<(Dial, Members<'_>)> = Vec::new();
        for (d, raw_dial) in s.entry.iter().enumerate() {
            let mut members: Vec<(String, &str, u32)> = raw_dial
                .members
                .iter()
                .enumerate()
                .map(|(k, (r, w))| (format!("m{k}"), pick(*r), *w))
                .collect();
            if repair && members.iter().all(|(_, r, _)| *r == region) {
                members.push(("mx".to_string(), elsewhere(region), raw_dial.members[0].1));
            }
            let pairs: Vec<(&str, &str)> =
                members.iter().map(|(m, r, _)| (m.as_str(), *r)).collect();
            let id = format!("dns{d}");
            let dial = if raw_dial.sim {
                sim(&id, &pairs)
            } else {
                route53(&id, &pairs)
            };
            dials.push((dial, members));
        }
        let mut albs: Vec<(String, &str, Members<'_>)> = Vec::new();
        for (d, raw_dial) in s.albs.iter().enumerate() {
            let home = pick(raw_dial.home);
            let mut members: Vec<(String, &str, u32)> = raw_dial
                .members
                .iter()
                .enumerate()
                .map(|(k, (r, w))| (format!("tg{k}"), if k == 0 { home } else { pick(*r) }, *w))
                .collect();
            if repair && members.iter().all(|(_, r, _)| *r == region) {
                members.push(("tgx".to_string(), elsewhere(region), raw_dial.members[0].1));
            }
            albs.push((format!("alb{d}"), home, members));
        }
        let no_entry = s.entry.is_empty();
        if repair && no_entry && present.contains(&region) && !albs.iter().any(|a| a.1 == region) {
            albs.push((
                "albx".to_string(),
                region,
                vec![
                    ("tg0".to_string(), region, 100),
                    ("tg1".to_string(), elsewhere(region), 0),
                ],
            ));
        }
        for (id, home, members) in albs {
            let pairs: Vec<(&str, &str)> =
                members.iter().map(|(m, r, _)| (m.as_str(), *r)).collect();
            dials.push((alb(&id, home, &pairs), members));
        }

        let name_i = name(i);
        for (dial, members) in &dials {
            let max = dial.max_weight();
            observed.insert(
                dial_ref(&name_i, &dial.id),
                members
                    .iter()
                    .map(|(m, _, w)| (m.clone(), w % (max + 1)))
                    .collect(),
            );
        }
        services.push(service(
            &name_i,
            &calls,
            &capacity,
            &load,
            dials.into_iter().map(|(d, _)| d).collect(),
        ));
    }
    let regions_ref: Vec<&str> = regions.iter().map(String::as_str).collect();
    Case {
        topology: topology(&regions_ref, max_utilization, services),
        observed,
        region: region.to_string(),
        schedule,
    }
}

fn index(region: &str) -> usize {
    region[1..].parse().unwrap()
}

fn run(
    case: &Case,
    operation: Operation,
    observed: &Weights,
    to: Option<&Weights>,
) -> Result<Plan, PlanError> {
    plan(&PlanInput {
        topology: &case.topology,
        playbook: &playbook(&case.schedule),
        operation,
        region: &case.region,
        observed,
        restore_to: to,
    })
}

/// Member shares of a dial (equal when all 0), as the SPEC defines them.
fn shares_of(dial: &Dial, weights: &BTreeMap<String, u32>) -> Vec<f64> {
    let total: u32 = dial.members.keys().map(|m| weights[m]).sum();
    dial.members
        .keys()
        .map(|m| {
            if total == 0 {
                1.0 / dial.members.len() as f64
            } else {
                f64::from(weights[m]) / f64::from(total)
            }
        })
        .collect()
}

/// Share of the dial's traffic sent to `region`.
fn region_share(dial: &Dial, weights: &BTreeMap<String, u32>, region: &str) -> f64 {
    dial.members
        .values()
        .zip(shares_of(dial, weights))
        .filter(|(r, _)| *r == region)
        .map(|(_, s)| s)
        .sum()
}

fn has_entry(service: &Service) -> bool {
    service.dials.iter().any(Dial::is_entry)
}

/// Declared-load share of `region` for a service without entry dials (SPEC: load, or an
/// even split over the regions with capacity when it declares none).
fn declared_share(service: &Service, region: &str) -> f64 {
    let total = service.total_load();
    if total > 0.0 {
        return service.load.get(region).copied().unwrap_or(0.0) / total;
    }
    let with_capacity: Vec<&String> = service
        .capacity
        .iter()
        .filter(|(_, c)| **c > 0.0)
        .map(|(r, _)| r)
        .collect();
    let regions: Vec<&String> = if with_capacity.is_empty() {
        service.capacity.keys().collect()
    } else {
        with_capacity
    };
    if regions.iter().any(|r| *r == region) {
        1.0 / regions.len() as f64
    } else {
        0.0
    }
}

/// Whether the service cannot be drained from `region` with the dials it has.
fn undrainable(service: &Service, region: &str) -> bool {
    let serves = |d: &Dial| d.members.values().any(|r| r == region);
    let only = |d: &Dial| d.members.values().all(|r| r == region);
    if service
        .dials
        .iter()
        .any(|d| d.is_entry() && serves(d) && only(d))
    {
        return true;
    }
    if has_entry(service) || declared_share(service, region) == 0.0 {
        return false;
    }
    let albs_here: Vec<&Dial> = service
        .dials
        .iter()
        .filter(|d| d.alb_region() == Some(region))
        .collect();
    albs_here.is_empty() || albs_here.iter().any(|d| only(d))
}

fn apply_step(weights: &mut Weights, step: &PlanStep) -> Result<(), TestCaseError> {
    for c in &step.changes {
        let dial = weights.get_mut(c.dial.as_str()).unwrap();
        prop_assert_eq!(
            dial[c.member.as_str()],
            c.from,
            "from of {} {}",
            c.dial,
            c.member
        );
        dial.insert(c.member.to_string(), c.to);
    }
    Ok(())
}

fn dial_by_ref<'t>(topology: &'t Topology, dial: &str) -> &'t Dial {
    topology.find_dial(dial).unwrap().1
}

fn check_shares<K: std::fmt::Debug>(shares: &BTreeMap<K, f64>) -> Result<(), TestCaseError> {
    let sum: f64 = shares.values().sum();
    prop_assert!((sum - 1.0).abs() < 1e-9, "shares sum to {sum}: {shares:?}");
    prop_assert!(shares.values().all(|s| *s >= -1e-12));
    Ok(())
}

/// Service -> the wave the plan moves it in.
fn wave_of(plan: &Plan) -> BTreeMap<&str, usize> {
    plan.waves
        .iter()
        .enumerate()
        .flat_map(|(w, names)| names.iter().map(move |n| (n.as_str(), w)))
        .collect()
}

/// Every call between two services the plan moves: (caller, its wave, callee, its wave).
fn call_waves<'a>(topology: &'a Topology, plan: &'a Plan) -> Vec<(&'a str, usize, &'a str, usize)> {
    let wave_of = wave_of(plan);
    let mut calls = Vec::new();
    for s in topology.services.values() {
        for callee in &s.depends_on {
            if let (Some(&a), Some(&b)) =
                (wave_of.get(s.name.as_str()), wave_of.get(callee.as_str()))
            {
                calls.push((s.name.as_str(), a, callee.as_str(), b));
            }
        }
    }
    calls
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn evacuation_keeps_its_invariants(case in case()) {
        let t = &case.topology;
        let r = case.region.as_str();
        let blocked: Vec<&String> = t
            .services
            .values()
            .filter(|s| undrainable(s, r))
            .map(|s| &s.name)
            .collect();
        let plan = match run(&case, Operation::Evacuate, &case.observed, None) {
            Ok(plan) => {
                prop_assert!(blocked.is_empty(), "planned although {blocked:?} cannot drain");
                plan
            }
            Err(PlanError::CannotDrain { service, .. }) => {
                prop_assert!(blocked.contains(&&service), "{service} refused; blocked: {blocked:?}");
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error: {e}"))),
        };

        // Callers before callees; waves sorted and non-empty.
        for names in &plan.waves {
            prop_assert!(!names.is_empty());
            prop_assert!(names.windows(2).all(|p| p[0] < p[1]));
        }
        for (caller, a, callee, b) in call_waves(t, &plan) {
            prop_assert!(a < b, "{caller} (wave {a}) calls {callee} (wave {b})");
        }

        // Replay every step: weights in range, no all-zero dial, never more than scheduled.
        let wave_of = wave_of(&plan);
        let mut weights = case.observed.clone();
        for step in &plan.steps {
            prop_assert!(!step.changes.is_empty());
            prop_assert_eq!(wave_of[step.service.as_str()], step.wave);
            apply_step(&mut weights, step)?;
            check_shares(&step.shares)?;
            let service = &t.services[step.service.as_str()];
            for dial in &service.dials {
                let key = dial_ref(&service.name, &dial.id);
                let now = &weights[&key];
                prop_assert!(now.values().all(|w| *w <= dial.max_weight()));
                // A dial all-zero at baseline and left alone is not the plan's doing.
                if now != &case.observed[&key] {
                    prop_assert!(now.values().any(|w| *w > 0), "{key} all-zero");
                }
                let per_schedule = dial.is_entry() || !has_entry(service);
                if per_schedule {
                    let base = region_share(dial, &case.observed[&dial_ref(&service.name, &dial.id)], r);
                    let after = region_share(dial, now, r);
                    let floor = base * (1.0 - f64::from(step.percent) / 100.0);
                    prop_assert!(after >= floor - 1e-9, "{}/{} at {}%: {after} < {floor}", service.name, dial.id, step.percent);
                }
            }
        }

        // The region serves nothing of any planned service at the end.
        for (name, shares) in &plan.final_shares {
            check_shares(shares)?;
            prop_assert!(shares.get(r).copied().unwrap_or(0.0) <= 1e-9, "{name} still in {r}: {shares:?}");
            prop_assert_eq!(shares, &served_shares(t, &t.services[name], &weights));
        }
        for (dial, w) in &plan.target {
            prop_assert_eq!(&weights[dial], w);
        }

        // Redistribution follows free capacity, within rounding.
        for name in plan.final_shares.keys() {
            let service = &t.services[name];
            let base_served = served_shares(t, service, &case.observed);
            let mu = service.max_utilization(t);
            let free = |region: &str| {
                let cap = service.capacity.get(region).copied().unwrap_or(0.0);
                (cap * mu - base_served.get(region).copied().unwrap_or(0.0) * service.total_load()).max(0.0)
            };
            for dial in service.dials.iter().filter(|d| d.is_entry()) {
                let key = dial_ref(name, &dial.id);
                let (before, after) = (&case.observed[&key], &weights[&key]);
                let base_total: u32 = before.values().sum();
                let expected_total = if base_total == 0 { 100 * dial.members.len() as u32 } else { base_total };
                let total: u32 = after.values().sum();
                let moved = region_share(dial, before, r);
                let destinations: std::collections::BTreeSet<&String> =
                    dial.members.values().filter(|x| *x != r).collect();
                let free_sum: f64 = destinations.iter().map(|d| free(d)).sum();
                if total != expected_total || free_sum <= 0.0 || moved == 0.0 {
                    continue;
                }
                for d in destinations {
                    let n = dial.members.values().filter(|x| *x == d).count() as f64;
                    let gained = region_share(dial, after, d) - region_share(dial, before, d);
                    let expected = moved * free(d) / free_sum;
                    prop_assert!(
                        (gained - expected).abs() <= n / f64::from(total) + 1e-9,
                        "{key}: {d} gained {gained}, expected {expected} (T = {total})"
                    );
                }
            }
        }

        // Planning again on the result has nothing left to do.
        let again = run(&case, Operation::Evacuate, &weights, None).unwrap();
        prop_assert!(again.is_empty(), "re-plan not empty: {:?}", again.steps);
    }

    #[test]
    fn restore_returns_exactly_to_the_baseline(case in case()) {
        let t = &case.topology;
        let Ok(evacuation) = run(&case, Operation::Evacuate, &case.observed, None) else {
            return Ok(());
        };
        let mut evacuated = case.observed.clone();
        for step in &evacuation.steps {
            apply_step(&mut evacuated, step)?;
        }
        let plan = run(&case, Operation::Restore, &evacuated, Some(&case.observed)).unwrap();
        for (caller, a, callee, b) in call_waves(t, &plan) {
            prop_assert!(a > b, "restore: {caller} (wave {a}) before its callee {callee} (wave {b})");
        }
        let mut weights = evacuated.clone();
        for step in &plan.steps {
            apply_step(&mut weights, step)?;
            check_shares(&step.shares)?;
            for c in &step.changes {
                let dial = dial_by_ref(t, &c.dial);
                let now = &weights[c.dial.as_str()];
                prop_assert!(now.values().all(|w| *w <= dial.max_weight()));
                // All-zero only where the baseline itself is all-zero, at its last step.
                prop_assert!(now.values().any(|w| *w > 0) || now == &case.observed[c.dial.as_str()]);
            }
        }
        prop_assert_eq!(&weights, &case.observed);
        for (dial, w) in &plan.target {
            prop_assert_eq!(&case.observed[dial], w);
        }
        let again = run(&case, Operation::Restore, &weights, Some(&case.observed)).unwrap();
        prop_assert!(again.is_empty());
    }
}
