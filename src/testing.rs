//! Hand-built topologies and playbooks for the unit tests of every layer (plan, exec,
//! backend/sim, checks, live, graph): no YAML, since the loader is tested on its own.
//! Compiled only for tests.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{Approval, Dial, DialKind, OnAbort, Playbook, Service, Topology};

/// The three regions of SPEC.md's example.
pub(crate) const E: &str = "us-east-1";
/// The second region of SPEC.md's example.
pub(crate) const W: &str = "us-west-2";
/// The third region of SPEC.md's example.
pub(crate) const EU: &str = "eu-west-1";

/// One member per region of SPEC.md's example: (member, region).
pub(crate) const THREE: [(&str, &str); 3] = [("use1", E), ("usw2", W), ("euw1", EU)];

/// (member, region) pairs as a dial's member map.
pub(crate) fn members(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .collect()
}

/// A Route 53 dial in the example hosted zone; `members` are (SetIdentifier, region).
pub(crate) fn route53(id: &str, members: &[(&str, &str)]) -> Dial {
    route53_in("Z0000000EXAMPLE", id, members)
}

/// A Route 53 dial in hosted zone `zone`.
pub(crate) fn route53_in(zone: &str, id: &str, pairs: &[(&str, &str)]) -> Dial {
    Dial {
        id: id.to_string(),
        kind: DialKind::Route53 {
            hosted_zone_id: zone.to_string(),
            record: format!("{id}.example.com."),
            record_type: "CNAME".to_string(),
        },
        members: members(pairs),
    }
}

/// An ALB dial on listener `arn:listener/ID` living in `region`; `members` are (target
/// group, region it serves).
pub(crate) fn alb(id: &str, region: &str, pairs: &[(&str, &str)]) -> Dial {
    Dial {
        id: id.to_string(),
        kind: DialKind::Alb {
            region: region.to_string(),
            target: crate::model::AlbTarget::Listener(format!("arn:listener/{id}")),
        },
        members: members(pairs),
    }
}

/// A simulator dial.
pub(crate) fn sim(id: &str, pairs: &[(&str, &str)]) -> Dial {
    Dial {
        id: id.to_string(),
        kind: DialKind::Sim,
        members: members(pairs),
    }
}

/// A service with capacity and load given as (region, value) pairs.
pub(crate) fn service(
    name: &str,
    depends_on: &[&str],
    capacity: &[(&str, f64)],
    load: &[(&str, f64)],
    dials: Vec<Dial>,
) -> Service {
    let map = |pairs: &[(&str, f64)]| pairs.iter().map(|(r, v)| (r.to_string(), *v)).collect();
    Service {
        name: name.to_string(),
        depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
        capacity: map(capacity),
        load: map(load),
        load_query: None,
        max_utilization: None,
        autoscaling: Default::default(),
        pinned: Default::default(),
        dials,
    }
}

/// A topology named `test` over `regions` with the given services.
pub(crate) fn topology(regions: &[&str], max_utilization: f64, services: Vec<Service>) -> Topology {
    Topology {
        name: "test".to_string(),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        max_utilization,
        backend: None,
        state: None,
        metrics: Default::default(),
        services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
        notify: Vec::new(),
    }
}

/// A playbook with the given schedule and nothing else (default guards).
pub(crate) fn playbook(steps: &[u32]) -> Playbook {
    Playbook {
        name: "evacuate".to_string(),
        steps: steps.to_vec(),
        bake: Duration::from_secs(120),
        propagation: Duration::from_secs(30),
        hold: Duration::from_secs(1800),
        deadline: None,
        on_abort: OnAbort::Rollback,
        checks: Vec::new(),
        approval: Approval::default(),
        guards: crate::model::Guards::default(),
        prescale: None,
        hypothesis: None,
        drain: Default::default(),
        schedule: None,
        notify: Vec::new(),
    }
}

/// The topology of SPEC.md's example file (`streaming`): route53, alb and sim dials over
/// three regions, built by hand.
pub(crate) fn streaming() -> Topology {
    let mut topology = topology(
        &[E, W, EU],
        0.75,
        vec![
            service(
                "edge-api",
                &["playback", "identity"],
                &[(E, 12000.0), (W, 10000.0), (EU, 8000.0)],
                &[(E, 5000.0), (W, 3000.0), (EU, 2000.0)],
                vec![
                    route53("dns", &THREE),
                    alb(
                        "alb-use1",
                        E,
                        &[("tg-edge-local", E), ("tg-edge-to-usw2", W)],
                    ),
                ],
            ),
            service(
                "playback",
                &["catalog"],
                &[(E, 8000.0), (W, 7000.0), (EU, 5000.0)],
                &[(E, 3000.0), (W, 2000.0), (EU, 1500.0)],
                vec![route53("dns", &THREE)],
            ),
            service(
                "identity",
                &[],
                &[(E, 4000.0), (W, 4000.0), (EU, 3000.0)],
                &[(E, 1200.0), (W, 900.0), (EU, 600.0)],
                vec![route53("dns", &THREE)],
            ),
            service(
                "catalog",
                &[],
                &[(E, 6000.0), (W, 6000.0), (EU, 4000.0)],
                &[(E, 2000.0), (W, 1500.0), (EU, 1000.0)],
                vec![sim("sim", &[(E, E), (W, W), (EU, EU)])],
            ),
        ],
    );
    topology.name = "streaming".to_string();
    topology
}

/// (region, capacity, load) of one service in one region.
pub(crate) type Row<'a> = (&'a str, f64, f64);

/// A topology whose services each have one sim dial, one member per region (named after
/// it) listed as [`Row`]s; the regions in the order they first appear.
pub(crate) fn topology_with(services: Vec<(&str, Vec<Row<'_>>)>) -> Topology {
    let mut regions: Vec<&str> = Vec::new();
    let mut built = Vec::new();
    for (name, rows) in &services {
        for (r, _, _) in rows {
            if !regions.contains(r) {
                regions.push(r);
            }
        }
        let capacity: Vec<(&str, f64)> = rows.iter().map(|(r, c, _)| (*r, *c)).collect();
        let load: Vec<(&str, f64)> = rows.iter().map(|(r, _, l)| (*r, *l)).collect();
        let pairs: Vec<(&str, &str)> = rows.iter().map(|(r, _, _)| (*r, *r)).collect();
        built.push(service(
            name,
            &[],
            &capacity,
            &load,
            vec![sim("sim", &pairs)],
        ));
    }
    topology(&regions, 0.75, built)
}
