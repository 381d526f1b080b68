//! Hand-built topologies for the simulator's and the sim source's tests (no YAML).

use std::collections::BTreeMap;

use crate::model::{Dial, DialKind, Service, Topology};

fn members(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .collect()
}

fn route53(id: &str, pairs: &[(&str, &str)]) -> Dial {
    Dial {
        id: id.to_string(),
        kind: DialKind::Route53 {
            hosted_zone_id: "Z0000000EXAMPLE".to_string(),
            record: format!("{id}.example.com."),
            record_type: "CNAME".to_string(),
        },
        members: members(pairs),
    }
}

fn service(name: &str, capacity: [f64; 3], load: [f64; 3], dials: Vec<Dial>) -> Service {
    let regions = ["us-east-1", "us-west-2", "eu-west-1"];
    let map = |v: [f64; 3]| {
        regions
            .iter()
            .zip(v)
            .map(|(r, x)| (r.to_string(), x))
            .collect()
    };
    Service {
        name: name.to_string(),
        depends_on: Vec::new(),
        capacity: map(capacity),
        load: map(load),
        load_query: None,
        max_utilization: None,
        autoscaling: Default::default(),
        dials,
    }
}

const THREE: [(&str, &str); 3] = [
    ("use1", "us-east-1"),
    ("usw2", "us-west-2"),
    ("euw1", "eu-west-1"),
];

/// The SPEC's example topology: route53, alb and sim dials over three regions.
pub(crate) fn streaming() -> Topology {
    let edge = service(
        "edge-api",
        [12000.0, 10000.0, 8000.0],
        [5000.0, 3000.0, 2000.0],
        vec![
            route53("dns", &THREE),
            Dial {
                id: "alb-use1".to_string(),
                kind: DialKind::Alb {
                    region: "us-east-1".to_string(),
                    listener_arn: Some("arn:listener/edge".to_string()),
                    rule_arn: None,
                },
                members: members(&[("tg-local", "us-east-1"), ("tg-to-usw2", "us-west-2")]),
            },
        ],
    );
    let playback = service(
        "playback",
        [8000.0, 7000.0, 5000.0],
        [3000.0, 2000.0, 1500.0],
        vec![route53("dns", &THREE)],
    );
    let identity = service(
        "identity",
        [4000.0, 4000.0, 3000.0],
        [1200.0, 900.0, 600.0],
        vec![route53("dns", &THREE)],
    );
    let catalog = service(
        "catalog",
        [6000.0, 6000.0, 4000.0],
        [2000.0, 1500.0, 1000.0],
        vec![Dial {
            id: "sim".to_string(),
            kind: DialKind::Sim,
            members: members(&THREE),
        }],
    );
    Topology {
        name: "streaming".to_string(),
        regions: vec![
            "us-east-1".to_string(),
            "us-west-2".to_string(),
            "eu-west-1".to_string(),
        ],
        max_utilization: 0.75,
        backend: None,
        metrics: Default::default(),
        services: [edge, playback, identity, catalog]
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect(),
        notify: Vec::new(),
    }
}

/// (region, capacity, load) of one service in one region.
pub(crate) type Row<'a> = (&'a str, f64, f64);

/// A topology whose services each have one sim dial, one member per region listed as
/// [`Row`]s.
pub(crate) fn topology_with(services: Vec<(&str, Vec<Row<'_>>)>) -> Topology {
    let mut regions: Vec<String> = Vec::new();
    let mut out = BTreeMap::new();
    for (name, rows) in services {
        for (r, _, _) in &rows {
            if !regions.iter().any(|x| x == r) {
                regions.push(r.to_string());
            }
        }
        let service = Service {
            name: name.to_string(),
            depends_on: Vec::new(),
            capacity: rows.iter().map(|(r, c, _)| (r.to_string(), *c)).collect(),
            load: rows.iter().map(|(r, _, l)| (r.to_string(), *l)).collect(),
            load_query: None,
            max_utilization: None,
            autoscaling: Default::default(),
            dials: vec![Dial {
                id: "sim".to_string(),
                kind: DialKind::Sim,
                members: rows
                    .iter()
                    .map(|(r, _, _)| (r.to_string(), r.to_string()))
                    .collect(),
            }],
        };
        out.insert(name.to_string(), service);
    }
    Topology {
        name: "test".to_string(),
        regions,
        max_utilization: 0.75,
        backend: None,
        metrics: Default::default(),
        services: out,
        notify: Vec::new(),
    }
}
