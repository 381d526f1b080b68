//! Restore of one service: back from the observed weights to the baseline.
//!
//! See [`super::planner`] for the rules. Pure: no I/O.

use crate::model::Service;

use super::planner::{
    Context, Motion, ServiceNames, ServicePlan, apply, baseline_total, finish, has_entry,
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

        let mut current: Vec<Option<DialWeights>> = vec![None; service.dials.len()];
        let mut steps = Vec::with_capacity(self.schedule.len());
        let last = self.schedule.len() - 1;
        for (k, percent) in self.schedule.iter().enumerate() {
            let f = f64::from(*percent) / 100.0;
            let mut changes = Vec::new();
            for &(i, motion) in &moving {
                let dial = &service.dials[i];
                let exact = match motion {
                    Motion::Gradual => k == last,
                    Motion::AtFirst if k == 0 => true,
                    Motion::AtFirst | Motion::AtLast => continue,
                };
                let weights: Vec<u32> = if exact {
                    dial.members
                        .keys()
                        .map(|m| weight_of(Some(to[i]), m))
                        .collect()
                } else {
                    let targets = restore_targets(dial, Some(base[i]), Some(to[i]), region, f);
                    let total = baseline_total(dial, to[i]);
                    weights_from_shares(&targets, total, dial.max_weight(), GroupRound::Down)
                };
                let now = current[i].get_or_insert_with(|| base[i].clone());
                apply(dial, names, i, now, &weights, &mut changes);
            }
            steps.push(self.finish_step(service, base, &current, changes));
        }
        let final_shares = self.served_of(service, base, &current);
        Ok(finish(
            service,
            names,
            base,
            current,
            steps,
            &final_shares,
            Vec::new(),
        ))
    }
}
