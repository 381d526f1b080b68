//! Property: for any plan and any abort point, rollback returns every dial to its baseline.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::support::*;

use crate::backend;
use crate::exec::{Outcome, steps};
use crate::model::{Dial, DialKind, OnAbort, Service, Topology};
use crate::plan::{self, Operation, PlanInput};

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

#[derive(Debug, Clone)]
struct ServiceSpec {
    /// 0: route53 in Z1, 1: route53 in Z2, 2: alb in us-east-1, 3: sim.
    dials: Vec<u8>,
    load: [u16; 3],
    /// Bit b: depends on the service b+1 places after it.
    deps: u8,
}

#[derive(Debug, Clone)]
enum AbortAt {
    /// The check after step group k (mod the number of groups) fails.
    Check(usize),
    /// The k-th apply call (mod the number of forward applies) fails permanently.
    Apply(usize),
}

fn service_spec() -> impl Strategy<Value = ServiceSpec> {
    (
        prop::collection::vec(0u8..4, 1..3),
        [100u16..2000, 100u16..2000, 100u16..2000],
        any::<u8>(),
    )
        .prop_map(|(dials, load, deps)| ServiceSpec { dials, load, deps })
}

fn abort_at() -> impl Strategy<Value = AbortAt> {
    prop_oneof![
        (0usize..64).prop_map(AbortAt::Check),
        (0usize..64).prop_map(AbortAt::Apply),
    ]
}

fn members(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .collect()
}

fn topology_of(specs: &[ServiceSpec]) -> Topology {
    let mut base = topology();
    base.services.clear();
    for (i, spec) in specs.iter().enumerate() {
        let name = format!("s{i}");
        let dials = spec
            .dials
            .iter()
            .enumerate()
            .map(|(d, kind)| {
                let id = format!("d{d}");
                let three = members(&[
                    ("use1", "us-east-1"),
                    ("usw2", "us-west-2"),
                    ("euw1", "eu-west-1"),
                ]);
                match kind {
                    0 | 1 => Dial {
                        kind: DialKind::Route53 {
                            hosted_zone_id: format!("Z{kind}"),
                            record: format!("{name}-{id}.example.com."),
                            record_type: "CNAME".into(),
                        },
                        id,
                        members: three,
                    },
                    2 => Dial {
                        kind: DialKind::Alb {
                            region: "us-east-1".into(),
                            target: crate::model::AlbTarget::Listener(format!(
                                "arn:listener/{name}/{id}"
                            )),
                        },
                        id,
                        members: members(&[("local", "us-east-1"), ("west", "us-west-2")]),
                    },
                    _ => Dial {
                        kind: DialKind::Sim,
                        id,
                        members: three,
                    },
                }
            })
            .collect();
        let depends_on = (0..8)
            .filter(|b| spec.deps & (1 << b) != 0)
            .map(|b| i + b + 1)
            .filter(|j| *j < specs.len())
            .map(|j| format!("s{j}"))
            .collect();
        let service = Service {
            name: name.clone(),
            depends_on,
            capacity: REGIONS.iter().map(|r| (r.to_string(), 1e7)).collect(),
            load: REGIONS
                .iter()
                .zip(spec.load)
                .map(|(r, l)| (r.to_string(), f64::from(l)))
                .collect(),
            load_query: None,
            max_utilization: None,
            autoscaling: Default::default(),
            dials,
        };
        base.services.insert(name, service);
    }
    base
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn rollback_returns_every_dial_to_its_baseline(
        specs in prop::collection::vec(service_spec(), 1..6),
        schedule in prop::sample::subsequence(vec![10u32, 25, 50, 75], 0..=4),
        abort in abort_at(),
        pause_first in any::<bool>(),
        transient_first in any::<bool>(),
    ) {
        let topology = topology_of(&specs);
        let mut playbook = playbook();
        playbook.steps = schedule.into_iter().chain([100]).collect();
        playbook.on_abort = if pause_first { OnAbort::Pause } else { OnAbort::Rollback };
        let observed = plan::initial_weights(&topology);
        let planned = plan::plan(&PlanInput {
            topology: &topology,
            playbook: &playbook,
            operation: Operation::Evacuate,
            region: "us-east-1",
            observed: &observed,
            restore_to: None,
        });
        prop_assume!(planned.is_ok());
        let mut world = World::with(topology, playbook);
        world.plan = planned.unwrap();
        *world.backend.inner.weights.lock().unwrap() = world.plan.baseline.clone();
        let groups = steps::groups(&world.plan).unwrap();
        prop_assume!(!groups.is_empty());
        let applies: usize = groups
            .iter()
            .map(|g| backend::batches(&world.topology, &g.after).len())
            .sum();
        prop_assume!(applies > 0);
        let fail_apply = match abort {
            AbortAt::Check(k) => {
                world.source = ScriptedSource::failing_at_group(k % groups.len());
                None
            }
            // Call 1 fails transiently and is retried when `transient_first`: shift by one.
            AbortAt::Apply(k) => Some(k % applies + 1 + usize::from(transient_first)),
        };
        world.backend.faults(move |n, _| {
            if transient_first && n == 1 {
                Fault::Transient
            } else if fail_apply == Some(n) {
                Fault::Permanent
            } else {
                Fault::None
            }
        });
        world.options.retry_max_delay = Duration::from_millis(200);

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let mut sink = MemSink::default();
        let outcome = runtime.block_on(async {
            let outcome = world.run(&mut sink).await;
            if pause_first {
                prop_assert!(matches!(outcome, Outcome::Paused { .. }), "{:?}", outcome);
                Ok(world.rollback(&mut sink).await)
            } else {
                Ok(outcome)
            }
        })?;
        prop_assert!(matches!(outcome, Outcome::RolledBack { .. }), "{:?}", outcome);
        prop_assert_eq!(world.live(), world.plan.baseline.clone());
    }
}
