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
    let total: f64 = names
        .iter()
        .filter_map(|s| topology.services.get(*s))
        .map(|s| s.total_load())
        .sum();
    topology
        .regions
        .iter()
        .map(|region| {
            let served: f64 = names
                .iter()
                .filter_map(|s| {
                    let load = topology.services.get(*s)?.total_load();
                    Some(load * shares.get(*s)?.get(region).copied().unwrap_or(0.0))
                })
                .sum();
            (
                region.clone(),
                if total > 0.0 { served / total } else { 0.0 },
            )
        })
        .collect()
}
