//! The traffic share each region serves, followed step by step through a plan: what the
//! report charts and the terminal's live table shows. Pure.

use std::collections::BTreeMap;

use crate::model::Topology;
use crate::plan::{Plan, served_shares};

/// Service -> region -> share.
pub type ShareMap = BTreeMap<String, BTreeMap<String, f64>>;

/// The served shares of every service, moved along a plan's steps.
#[derive(Debug, Clone)]
pub struct Traffic<'t> {
    pub(super) topology: &'t Topology,
    /// The shares now.
    pub shares: ShareMap,
}

impl<'t> Traffic<'t> {
    /// Shares already known.
    pub fn new(topology: &'t Topology, shares: ShareMap) -> Traffic<'t> {
        Traffic { topology, shares }
    }

    /// The shares of every service of `topology` under `plan`'s baseline weights.
    pub fn at_baseline(topology: &'t Topology, plan: &Plan) -> Traffic<'t> {
        Traffic {
            topology,
            shares: baseline(topology, plan),
        }
    }

    /// Moves the services of a step group (`wave`, `percent`) to the plan's shares after it.
    pub fn apply(&mut self, plan: &Plan, wave: usize, percent: u32, services: &[String]) {
        for step in plan.steps.iter().filter(|s| {
            s.wave == wave
                && s.percent == percent
                && services.iter().any(|x| x == s.service.as_str())
        }) {
            self.shares.insert(
                step.service.to_string(),
                step.shares
                    .iter()
                    .map(|(r, v)| (r.to_string(), *v))
                    .collect(),
            );
        }
    }

    /// Back to `plan`'s baseline (after a rollback).
    pub fn reset(&mut self, plan: &Plan) {
        self.shares = baseline(self.topology, plan);
    }

    /// The share of the declared load of `services` (every service: `None`) each region
    /// serves, in the topology's region order.
    pub fn by_region(&self, services: Option<&[String]>) -> Vec<(String, f64)> {
        by_region(self.topology, &self.shares, services)
    }
}

fn baseline(topology: &Topology, plan: &Plan) -> ShareMap {
    topology
        .services
        .iter()
        .map(|(name, svc)| {
            let s = served_shares(topology, svc, &plan.baseline);
            (name.clone(), s.into_iter().collect())
        })
        .collect()
}

/// See [`Traffic::by_region`].
pub fn by_region(
    topology: &Topology,
    shares: &ShareMap,
    services: Option<&[String]>,
) -> Vec<(String, f64)> {
    let names: Vec<&String> = match services {
        Some(list) => list.iter().collect(),
        None => topology.services.keys().collect(),
    };
    Loads::new(topology, &names).by_region(shares)
}

/// The declared loads of some services, looked up once for the many share maps of a
/// report's charts (a 10,000-service run has hundreds).
pub struct Loads<'a> {
    topology: &'a Topology,
    /// Each service of the topology, in the order given, with its declared load.
    loads: Vec<(&'a String, f64)>,
    total: f64,
}

impl<'a> Loads<'a> {
    /// The loads of `names` (those the topology has).
    pub fn new(topology: &'a Topology, names: &[&'a String]) -> Loads<'a> {
        let loads: Vec<(&String, f64)> = names
            .iter()
            .filter_map(|s| Some((*s, topology.services.get(*s)?.total_load())))
            .collect();
        let total = loads.iter().map(|(_, load)| load).sum();
        Loads {
            topology,
            loads,
            total,
        }
    }

    /// The share of these services' load each region serves under `shares`, in the
    /// topology's region order (see [`Traffic::by_region`]).
    pub fn by_region(&self, shares: &ShareMap) -> Vec<(String, f64)> {
        let served: Vec<(&BTreeMap<String, f64>, f64)> = self
            .loads
            .iter()
            .filter_map(|(s, load)| Some((shares.get(*s)?, *load)))
            .collect();
        let total = self.total;
        self.topology
            .regions
            .iter()
            .map(|region| {
                let served: f64 = served
                    .iter()
                    .map(|(by_region, load)| load * by_region.get(region).copied().unwrap_or(0.0))
                    .sum();
                (
                    region.clone(),
                    if total > 0.0 { served / total } else { 0.0 },
                )
            })
            .collect()
    }
}
