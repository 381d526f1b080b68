//! Evacuation of one service: which dials move when, and the guard that R ends at 0.
//!
//! See [`super::planner`] for the rules. Pure: no I/O.

use crate::model::Service;

use super::PlanError;
use super::planner::{
    Context, Motion, ServiceNames, ServicePlan, baseline_total, finish, has_entry,
};
use super::redistribute::{Evacuation, PerRegion, Split, lookup};
use super::rounding::{GroupRound, weights_from_shares};
use super::shares::{DialWeights, served_by_region};

/// A served share below this counts as nothing (float noise).
const NOTHING: f64 = 1e-9;

impl Context<'_> {
    /// The part of the plan that evacuates `service`, or `None` if it has nothing to move.
    pub(super) fn evacuate(
        &self,
        service: &Service,
        names: &ServiceNames,
        base: &[&DialWeights],
    ) -> Result<Option<ServicePlan>, PlanError> {
        if !self.concerns(service) {
            return Ok(None);
        }
        let refs = &names.refs;
        let region = self.region;
        let entry = has_entry(service);
        let mut notes = Vec::new();
        let mut left_alone = Vec::new();
        let mut moving: Vec<(usize, Motion)> = Vec::new();
        for (i, dial) in service.dials.iter().enumerate() {
            if !dial.members.values().any(|r| r == region) {
                continue;
            }
            let outside = dial.members.values().any(|r| r != region);
            if dial.is_entry() {
                if !outside {
                    return Err(self.cannot_drain(
                        service,
                        format!(
                            "every member of {} serves {region}; add a member in another region",
                            refs[i]
                        ),
                    ));
                }
                moving.push((i, Motion::Gradual));
            } else if !outside {
                left_alone.push(i);
                notes.push(format!(
                    "{} keeps forwarding to {region}: no target group outside it",
                    refs[i]
                ));
            } else {
                moving.push((
                    i,
                    if entry {
                        Motion::AtLast
                    } else {
                        Motion::Gradual
                    },
                ));
            }
        }

        let base_served = served_by_region(self.topology, service, |i| Some(base[i]));
        let total_load = service.total_load();
        let max_utilization = service.max_utilization(self.topology);
        let free: PerRegion<'_> = service
            .capacity
            .iter()
            .map(|(r, cap)| {
                let served = lookup(&base_served, r) * total_load;
                (r.as_str(), (cap * max_utilization - served).max(0.0))
            })
            .collect();
        let mut moves: Vec<(usize, (Motion, Evacuation<'_>))> = Vec::with_capacity(moving.len());
        for (i, motion) in moving {
            let dial = &service.dials[i];
            // Every moving dial has a member outside the region (checked above).
            if let Some(evacuation) =
                Evacuation::new(dial, base[i], region, &free, &service.capacity)
            {
                if evacuation.split != Split::Free {
                    notes.push(fallback_note(&refs[i], evacuation.split));
                }
                moves.push((i, (motion, evacuation)));
            }
        }

        let last = self.schedule.len() - 1;
        let walk = self.walk(
            service,
            names,
            base,
            &moves,
            |k, f, i, (motion, evacuation)| {
                let f = match motion {
                    Motion::Gradual => f,
                    Motion::AtLast if k == last => 1.0,
                    Motion::AtLast | Motion::AtFirst => return None,
                };
                let dial = &service.dials[i];
                let total = baseline_total(dial, base[i]);
                Some(weights_from_shares(
                    &evacuation.targets(f),
                    total,
                    dial.max_weight(),
                    GroupRound::Up,
                ))
            },
        );

        let final_shares = walk.final_shares(self, service, base);
        let left_in_region = final_shares.get(region).copied().unwrap_or(0.0);
        if left_in_region > NOTHING {
            let reason = if !entry && !service.dials.iter().any(|d| d.alb_region() == Some(region))
            {
                format!(
                    "it has no entry dial and no alb dial in {region} to move the load it declares there"
                )
            } else if let Some(&i) = left_alone.first() {
                format!(
                    "{} sends everything arriving in {} to {region}: no target group outside it",
                    refs[i],
                    service.dials[i].alb_region().unwrap_or(region)
                )
            } else {
                format!(
                    "{left_in_region:.3} of its traffic would still be served in {region} after the last step"
                )
            };
            return Err(self.cannot_drain(service, reason));
        }
        Ok(finish(service, names, base, walk, &final_shares, notes))
    }
}

fn fallback_note(dial_ref: &str, split: Split) -> String {
    match split {
        Split::Capacity => format!(
            "{dial_ref}: no destination has free capacity under max_utilization; moved traffic is split by capacity and pre-flight fails"
        ),
        Split::Even | Split::Free => format!(
            "{dial_ref}: no destination has any capacity; moved traffic is split evenly and pre-flight fails"
        ),
    }
}
