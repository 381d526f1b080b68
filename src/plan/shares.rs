//! Served shares: which fraction of a service's traffic each region serves, given weights.
//!
//! Traffic enters a service through its entry dials (`route53`, `sim`): the entry share of a
//! region is the average, over the entry dials, of the summed shares of the members serving
//! that region. A service without an entry dial is split by its declared `load` (equally over
//! the regions with capacity when it declares no load). What arrives in region A is then split
//! by the `alb` dials living in A (averaged when there are several) into the regions their
//! target groups serve; without an alb dial in A it stays in A.
//!
//! A dial's member share is weight / total; a dial whose weights are all 0 spreads traffic
//! evenly over its members, as Route 53 does. A dial missing from the weights is read as all 0.
//! Pure functions: no I/O.

use std::collections::BTreeMap;

use crate::model::{Dial, MemberId, Region, Service, Topology, dial_ref};

/// The weights of one dial: member -> weight (defined in `model`).
pub(crate) use crate::model::DialWeights;

use super::Shares;

/// Sum of a dial's member weights (members absent from `weights` count as 0).
pub(crate) fn dial_total(dial: &Dial, weights: Option<&DialWeights>) -> u64 {
    dial.members
        .keys()
        .map(|m| u64::from(weight_of(weights, m)))
        .sum()
}

/// The weight of one member, 0 when unknown.
pub(crate) fn weight_of(weights: Option<&DialWeights>, member: &str) -> u32 {
    weights.and_then(|w| w.get(member)).copied().unwrap_or(0)
}

/// Each member's share of a dial, in member order: weight / total, or 1/n when all are 0.
pub(crate) fn member_shares<'d>(
    dial: &'d Dial,
    weights: Option<&DialWeights>,
) -> impl Iterator<Item = (&'d MemberId, &'d Region, f64)> {
    let total = dial_total(dial, weights);
    let n = dial.members.len() as f64;
    dial.members.iter().map(move |(m, r)| {
        let share = if total == 0 {
            1.0 / n
        } else {
            f64::from(weight_of(weights, m)) / total as f64
        };
        (m, r, share)
    })
}

/// The share of a service's traffic that arrives in each region before alb dials split it,
/// when the service has no entry dial: its declared load share.
pub(crate) fn declared_entry_shares<'t>(
    topology: &'t Topology,
    service: &'t Service,
) -> BTreeMap<&'t str, f64> {
    let mut entry = BTreeMap::new();
    let total_load = service.total_load();
    if total_load > 0.0 {
        for (r, load) in &service.load {
            if *load > 0.0 {
                entry.insert(r.as_str(), load / total_load);
            }
        }
        return entry;
    }
    // No declared load: spread evenly over the regions able to serve it.
    let mut regions: Vec<&str> = service
        .capacity
        .iter()
        .filter(|(_, c)| **c > 0.0)
        .map(|(r, _)| r.as_str())
        .collect();
    if regions.is_empty() {
        regions = service.capacity.keys().map(String::as_str).collect();
    }
    if regions.is_empty() {
        regions = topology.regions.iter().map(String::as_str).collect();
    }
    let n = regions.len() as f64;
    for r in regions {
        entry.insert(r, 1.0 / n);
    }
    entry
}

/// Served shares of one service, reading the weights of `service.dials[i]` as `lookup(i)`.
pub(crate) fn served_shares_with<'w, F>(
    topology: &Topology,
    service: &Service,
    lookup: F,
) -> BTreeMap<Region, f64>
where
    F: Fn(usize) -> Option<&'w DialWeights>,
{
    served_by_region(topology, service, lookup)
        .into_iter()
        .map(|(r, s)| (r.to_string(), s))
        .collect()
}

/// Served shares as (region, share) pairs without allocating region names: every region
/// where the service has capacity or that a member serves, plus any that gets traffic.
pub(crate) fn served_by_region<'t, 'w, F>(
    topology: &'t Topology,
    service: &'t Service,
    lookup: F,
) -> Vec<(&'t str, f64)>
where
    F: Fn(usize) -> Option<&'w DialWeights>,
{
    let mut served: Vec<(&'t str, f64)> = Vec::with_capacity(service.capacity.len() + 1);
    for r in service.capacity.keys() {
        add(&mut served, r, 0.0);
    }
    for dial in &service.dials {
        for r in dial.members.values() {
            add(&mut served, r, 0.0);
        }
    }

    let entry_count = service
        .dials
        .iter()
        .filter(|d| d.is_entry() && !d.members.is_empty())
        .count();
    let entry: Vec<(&'t str, f64)> = if entry_count == 0 {
        declared_entry_shares(topology, service)
            .into_iter()
            .collect()
    } else {
        let mut entry = Vec::with_capacity(served.len());
        let n = entry_count as f64;
        for (i, dial) in service.dials.iter().enumerate() {
            if dial.is_entry() && !dial.members.is_empty() {
                for (_, r, share) in member_shares(dial, lookup(i)) {
                    add(&mut entry, r, share / n);
                }
            }
        }
        entry
    };

    for (arrived, share) in entry {
        let albs = || {
            service
                .dials
                .iter()
                .enumerate()
                .filter(move |(_, d)| d.alb_region() == Some(arrived) && !d.members.is_empty())
        };
        let n = albs().count();
        if n == 0 {
            add(&mut served, arrived, share);
            continue;
        }
        for (i, dial) in albs() {
            for (_, r, s) in member_shares(dial, lookup(i)) {
                add(&mut served, r, share * s / n as f64);
            }
        }
    }
    served
}

fn add<'t>(served: &mut Vec<(&'t str, f64)>, region: &'t str, value: f64) {
    match served.iter_mut().find(|(r, _)| *r == region) {
        Some((_, v)) => *v += value,
        None => served.push((region, value)),
    }
}

/// Served shares of one service under `weights`: region -> share, summing to 1.
///
/// Lists every region where the service has capacity or that one of its members serves.
pub fn served_shares(
    topology: &Topology,
    service: &Service,
    weights: &super::Weights,
) -> BTreeMap<Region, f64> {
    served_shares_with(topology, service, |i| {
        weights.get(&dial_ref(&service.name, &service.dials[i].id))
    })
}

/// Served shares of every service under `weights`.
pub fn all_served_shares(topology: &Topology, weights: &super::Weights) -> Shares {
    topology
        .services
        .iter()
        .map(|(name, service)| (name.clone(), served_shares(topology, service, weights)))
        .collect()
}
