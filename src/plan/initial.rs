//! The simulator's start state: weights as SPEC.md describes a healthy, un-evacuated world.
//!
//! Entry dials send each region traffic in proportion to its declared load; alb dials keep
//! all traffic in their own region. Pure: no I/O.

use std::collections::BTreeMap;

use crate::model::{Dial, Service, Topology, dial_ref};

use super::Weights;
use super::shares::DialWeights;

/// The weight the region with the most declared load gets on an entry dial.
const FULL: f64 = 100.0;

/// Start weights of every dial of every service.
///
/// Entry dials: each region weighted by its declared load, scaled so the largest gets 100
/// (5000/3000/2000 -> 100/60/40), split equally (rounded) among the region's members; a
/// region without load gets 0 unless every region lacks load (then every member gets 100).
/// Alb dials: local target groups share 100 equally (rounded, at least 1 each), the others
/// get 0; an alb dial with no local target group sends to all members equally (100 each).
pub fn initial_weights(topology: &Topology) -> Weights {
    let mut weights = Weights::new();
    for service in topology.services.values() {
        for dial in &service.dials {
            let w = if dial.is_entry() {
                entry_weights(service, dial)
            } else {
                alb_weights(dial)
            };
            weights.insert(dial_ref(&service.name, &dial.id), w);
        }
    }
    weights
}

fn entry_weights(service: &Service, dial: &Dial) -> DialWeights {
    let mut per_region: BTreeMap<&str, usize> = BTreeMap::new();
    for r in dial.members.values() {
        *per_region.entry(r.as_str()).or_insert(0) += 1;
    }
    let load = |r: &str| service.load.get(r).copied().unwrap_or(0.0).max(0.0);
    let largest = per_region.keys().map(|r| load(r)).fold(0.0, f64::max);
    if largest <= 0.0 {
        return dial.members.keys().map(|m| (m.clone(), 100)).collect();
    }
    let mut weights: DialWeights = dial
        .members
        .iter()
        .map(|(m, r)| {
            let region_weight = FULL * load(r) / largest;
            let w = (region_weight / per_region[r.as_str()] as f64).round() as u32;
            (m.clone(), w)
        })
        .collect();
    // Many members in the busiest region can round to 0 each: never leave the dial all-zero.
    if weights.values().all(|w| *w == 0) {
        for (m, r) in &dial.members {
            if load(r) >= largest
                && let Some(w) = weights.get_mut(m)
            {
                *w = 1;
            }
        }
    }
    weights
}

fn alb_weights(dial: &Dial) -> DialWeights {
    let home = dial.alb_region().unwrap_or_default();
    let local = dial.members.values().filter(|r| *r == home).count();
    if local == 0 {
        return dial.members.keys().map(|m| (m.clone(), 100)).collect();
    }
    let each = ((FULL / local as f64).round() as u32).max(1);
    dial.members
        .iter()
        .map(|(m, r)| (m.clone(), if r == home { each } else { 0 }))
        .collect()
}
