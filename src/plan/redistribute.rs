//! Target shares of one dial for one step: where moved traffic goes.
//!
//! Evacuation moves `f` (the step's percent / 100) of the region's baseline share on the dial
//! to the dial's other regions in proportion to their free capacity under
//! `max_utilization` (capacity x max_utilization - baseline served load, floored at 0). With
//! no free capacity anywhere it falls back to capacity, then to an even split, and says so.
//! Within a region, the region's share is split among its members in proportion to their
//! baseline weights (evenly if they are all 0).
//!
//! Restore interpolates each member's share from the current weights to the baseline's.
//! Pure: no I/O.

use std::collections::BTreeMap;

use crate::model::{Dial, Region};

use super::rounding::Target;
use super::shares::{DialWeights, member_shares, weight_of};

/// How moved traffic was divided among destination regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// In proportion to free capacity under max_utilization (the normal case).
    Free,
    /// No destination had free capacity: in proportion to capacity.
    Capacity,
    /// No destination had capacity at all: evenly.
    Even,
}

/// Free capacity of a service per region, under its max_utilization, at baseline.
pub(crate) type Free<'a> = BTreeMap<&'a str, f64>;

/// Target member shares (member order) after moving `f` of `region`'s share on `dial`.
///
/// `None` when the dial has no member outside `region`, so nothing can be moved.
pub(crate) fn evacuation_targets(
    dial: &Dial,
    base: Option<&DialWeights>,
    region: &str,
    f: f64,
    free: &Free<'_>,
    capacity: &BTreeMap<Region, f64>,
) -> Option<(Vec<Target>, Split)> {
    // Region share and weight per region at baseline.
    let mut share_of: BTreeMap<&str, f64> = BTreeMap::new();
    let mut weight_in: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for (m, r, s) in member_shares(dial, base) {
        *share_of.entry(r.as_str()).or_insert(0.0) += s;
        let slot = weight_in.entry(r.as_str()).or_insert((0, 0));
        slot.0 += u64::from(weight_of(base, m));
        slot.1 += 1;
    }
    let moved_share = share_of.get(region).copied().unwrap_or(0.0);
    let destinations: Vec<&str> = share_of.keys().copied().filter(|r| *r != region).collect();
    if destinations.is_empty() {
        return None;
    }

    let (split, basis): (Split, Vec<f64>) = {
        let by_free: Vec<f64> = destinations
            .iter()
            .map(|r| free.get(r).copied().unwrap_or(0.0).max(0.0))
            .collect();
        let by_capacity: Vec<f64> = destinations
            .iter()
            .map(|r| capacity.get(*r).copied().unwrap_or(0.0).max(0.0))
            .collect();
        if by_free.iter().sum::<f64>() > 0.0 {
            (Split::Free, by_free)
        } else if by_capacity.iter().sum::<f64>() > 0.0 {
            (Split::Capacity, by_capacity)
        } else {
            (Split::Even, vec![1.0; destinations.len()])
        }
    };
    let basis_total: f64 = basis.iter().sum();

    let mut region_target: BTreeMap<&str, f64> = BTreeMap::new();
    region_target.insert(region, moved_share * (1.0 - f));
    let moved = moved_share * f;
    for (r, b) in destinations.iter().zip(&basis) {
        region_target.insert(r, share_of[r] + moved * b / basis_total);
    }

    let targets = dial
        .members
        .iter()
        .map(|(m, r)| {
            let (w_total, n) = weight_in[r.as_str()];
            let target = region_target[r.as_str()];
            let share = if w_total == 0 {
                target / n as f64
            } else {
                target * f64::from(weight_of(base, m)) / w_total as f64
            };
            Target {
                share,
                moved: r == region,
            }
        })
        .collect();
    Some((targets, split))
}

/// Target member shares (member order) `f` of the way from `current` back to `baseline`.
pub(crate) fn restore_targets(
    dial: &Dial,
    current: Option<&DialWeights>,
    baseline: Option<&DialWeights>,
    region: &str,
    f: f64,
) -> Vec<Target> {
    member_shares(dial, current)
        .zip(member_shares(dial, baseline))
        .map(|((_, r, c), (_, _, b))| Target {
            share: c + f * (b - c),
            moved: r == region,
        })
        .collect()
}
