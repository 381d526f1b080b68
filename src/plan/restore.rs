//! Restore of one service: back from the observed weights to the baseline.
//!
//! See [`super::planner`] for the rules. Pure: no I/O.

use crate::model::Service;

use super::planner::{
    Context, Motion, ServiceNames, ServicePlan, baseline_total, finish, has_entry,
    observed_weights, same_weights,
};
use super::redistribute::restore_targets;
use super::rounding::{GroupRound, weights_from_shares};
use super::shares::{DialWeights, weight_of};
use super::{PlanError, Weights};

impl Context<'_> {
    /// The part of the plan that restores `service`, or `None` if it is already there.
    pub(super) fn restore(
        &self,
        service: &Service,
        names: &ServiceNames,
        base: &[&DialWeights],
        restore_to: &Weights,
        notes: &mut Vec<String>,
    ) -> Result<Option<ServicePlan>, PlanError> {
        let region = self.region;
        let refs = &names.refs;
        if !self.concerns(service) {
            let drifted = service.dials.iter().zip(refs).zip(base).any(|((d, r), b)| {
                restore_to
                    .get(r.as_str())
                    .is_some_and(|to| !same_weights(d, b, to))
            });
            if drifted {
                notes.push(format!(
                    "{}: differs from the restore baseline but serves nothing in {region}; left as is",
                    service.name
                ));
            }
            return Ok(None);
        }
        let to = observed_weights(service, refs, restore_to, |dial, member| {
            PlanError::MissingRestoreWeights { dial, member }
        })?;
        let entry = has_entry(service);
        let moving: Vec<(usize, Motion)> = service
            .dials
            .iter()
            .enumerate()
            .filter(|(i, d)| !same_weights(d, base[*i], to[*i]))
            .map(|(i, d)| {
                let motion = if d.is_entry() || !entry {
                    Motion::Gradual
                } else {
                    Motion::AtFirst
                };
                (i, motion)
            })
            .collect();
        if moving.is_empty() {
            return Ok(None);
        }

        let last = self.schedule.len() - 1;
        let walk = self.walk(service, names, base, &moving, |k, f, i, motion| {
            let dial = &service.dials[i];
            let exact = match motion {
                Motion::Gradual => k == last,
                Motion::AtFirst if k == 0 => true,
                Motion::AtFirst | Motion::AtLast => return None,
            };
            Some(if exact {
                dial.members
                    .keys()
                    .map(|m| weight_of(Some(to[i]), m))
                    .collect()
            } else {
                let targets = restore_targets(dial, Some(base[i]), Some(to[i]), region, f);
                let total = baseline_total(dial, to[i]);
                weights_from_shares(&targets, total, dial.max_weight(), GroupRound::Down)
            })
        });
        let final_shares = walk.final_shares(self, service, base);
        Ok(finish(
            service,
            names,
            base,
            walk,
            &final_shares,
            Vec::new(),
        ))
    }
}
