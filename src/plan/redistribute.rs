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

/// Per-region figures of a service, looked up by region (a handful of regions: a Vec).
pub(crate) type PerRegion<'a> = Vec<(&'a str, f64)>;

/// The value for `region` in a [`PerRegion`], 0 when absent.
pub(crate) fn lookup(values: &PerRegion<'_>, region: &str) -> f64 {
    values
        .iter()
        .find(|(r, _)| *r == region)
        .map_or(0.0, |(_, v)| *v)
}

/// One region of a dial at baseline.
struct Slot<'d> {
    region: &'d str,
    /// Summed member share.
    share: f64,
    /// Summed member weight.
    weight: u64,
    /// Number of members.
    members: usize,
    /// How much of the moved share this region takes (free capacity, capacity or 1).
    basis: f64,
}

/// The evacuation of one dial, prepared once from the baseline; [`Self::targets`] gives each
/// step's target shares.
pub(crate) struct Evacuation<'d> {
    dial: &'d Dial,
    base: &'d DialWeights,
    region: &'d str,
    slots: Vec<Slot<'d>>,
    basis_total: f64,
    moved_share: f64,
    /// How the moved share is divided among destinations.
    pub(crate) split: Split,
}

impl<'d> Evacuation<'d> {
    /// Prepares the evacuation of `region` from `dial`; `None` when the dial has no member
    /// outside `region`, so nothing can be moved.
    pub(crate) fn new(
        dial: &'d Dial,
        base: &'d DialWeights,
        region: &'d str,
        free: &PerRegion<'_>,
        capacity: &std::collections::BTreeMap<Region, f64>,
    ) -> Option<Self> {
        let mut slots: Vec<Slot<'d>> = Vec::new();
        for (m, r, s) in member_shares(dial, Some(base)) {
            let w = u64::from(weight_of(Some(base), m));
            match slots.iter_mut().find(|x| x.region == r.as_str()) {
                Some(slot) => {
                    slot.share += s;
                    slot.weight += w;
                    slot.members += 1;
                }
                None => slots.push(Slot {
                    region: r.as_str(),
                    share: s,
                    weight: w,
                    members: 1,
                    basis: 0.0,
                }),
            }
        }
        let destinations = || slots.iter().filter(|x| x.region != region);
        // Nothing can move off a dial with no member outside the region.
        destinations().next()?;
        let free_total: f64 = destinations()
            .map(|x| lookup(free, x.region).max(0.0))
            .sum();
        let capacity_of = |r: &str| capacity.get(r).copied().unwrap_or(0.0).max(0.0);
        let capacity_total: f64 = destinations().map(|x| capacity_of(x.region)).sum();
        let split = if free_total > 0.0 {
            Split::Free
        } else if capacity_total > 0.0 {
            Split::Capacity
        } else {
            Split::Even
        };
        let mut basis_total = 0.0;
        for slot in slots.iter_mut().filter(|x| x.region != region) {
            slot.basis = match split {
                Split::Free => lookup(free, slot.region).max(0.0),
                Split::Capacity => capacity_of(slot.region),
                Split::Even => 1.0,
            };
            basis_total += slot.basis;
        }
        let moved_share = slots
            .iter()
            .find(|x| x.region == region)
            .map_or(0.0, |x| x.share);
        Some(Evacuation {
            dial,
            base,
            region,
            slots,
            basis_total,
            moved_share,
            split,
        })
    }

    /// Target member shares (member order) once `f` of the region's share has moved.
    pub(crate) fn targets(&self, f: f64) -> Vec<Target> {
        self.dial
            .members
            .iter()
            .map(|(m, r)| {
                let moved = r == self.region;
                let slot = self
                    .slots
                    .iter()
                    .find(|x| x.region == r.as_str())
                    .expect("every member's region has a slot");
                let region_target = if moved {
                    self.moved_share * (1.0 - f)
                } else {
                    slot.share + self.moved_share * f * slot.basis / self.basis_total
                };
                let share = if slot.weight == 0 {
                    region_target / slot.members as f64
                } else {
                    region_target * f64::from(weight_of(Some(self.base), m)) / slot.weight as f64
                };
                Target { share, moved }
            })
            .collect()
    }
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
