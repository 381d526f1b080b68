//! Hand-built topologies and playbooks for the planner's tests (no YAML: the loader is
//! tested on its own).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{Approval, Dial, DialKind, OnAbort, Playbook, Service, Topology};

/// A Route 53 dial; `members` are (SetIdentifier, region).
pub(crate) fn route53(id: &str, members: &[(&str, &str)]) -> Dial {
    Dial {
        id: id.to_string(),
        kind: DialKind::Route53 {
            hosted_zone_id: "Z0000000EXAMPLE".to_string(),
            record: format!("{id}.example.com."),
            record_type: "CNAME".to_string(),
        },
        members: members_of(members),
    }
}

/// An ALB dial living in `region`; `members` are (target group, region it serves).
pub(crate) fn alb(id: &str, region: &str, members: &[(&str, &str)]) -> Dial {
    Dial {
        id: id.to_string(),
        kind: DialKind::Alb {
            region: region.to_string(),
            listener_arn: Some(format!("arn:listener/{id}")),
            rule_arn: None,
        },
        members: members_of(members),
    }
}

/// A simulator dial.
pub(crate) fn sim(id: &str, members: &[(&str, &str)]) -> Dial {
    Dial {
        id: id.to_string(),
        kind: DialKind::Sim,
        members: members_of(members),
    }
}

fn members_of(members: &[(&str, &str)]) -> BTreeMap<String, String> {
    members
        .iter()
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .collect()
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
        dials,
    }
}

/// A topology over `regions` with the given services.
pub(crate) fn topology(regions: &[&str], max_utilization: f64, services: Vec<Service>) -> Topology {
    Topology {
        name: "test".to_string(),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        max_utilization,
        backend: None,
        metrics: Default::default(),
        services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
        notify: Vec::new(),
    }
}

/// A playbook with the given schedule and nothing else.
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
        schedule: None,
        notify: Vec::new(),
    }
}

/// The topology of SPEC.md's example file (`streaming`), built by hand.
pub(crate) fn example_topology() -> Topology {
    const E: &str = "us-east-1";
    const W: &str = "us-west-2";
    const EU: &str = "eu-west-1";
    let by_region = [("use1", E), ("usw2", W), ("euw1", EU)];
    topology(
        &[E, W, EU],
        0.75,
        vec![
            service(
                "edge-api",
                &["playback", "identity"],
                &[(E, 12000.0), (W, 10000.0), (EU, 8000.0)],
                &[(E, 5000.0), (W, 3000.0), (EU, 2000.0)],
                vec![
                    route53("dns", &by_region),
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
                vec![route53("dns", &by_region)],
            ),
            service(
                "identity",
                &[],
                &[(E, 4000.0), (W, 4000.0), (EU, 3000.0)],
                &[(E, 1200.0), (W, 900.0), (EU, 600.0)],
                vec![route53("dns", &by_region)],
            ),
            service(
                "catalog",
                &[],
                &[(E, 6000.0), (W, 6000.0), (EU, 4000.0)],
                &[(E, 2000.0), (W, 1500.0), (EU, 1000.0)],
                vec![sim("sim", &[(E, E), (W, W), (EU, EU)])],
            ),
        ],
    )
}
