//! The planner: topology + playbook + observed weights -> [`Plan`].
//!
//! # Evacuate R
//! The baseline is the observed weights. A service is planned when one of its dial members
//! serves R, or when it has no entry dial and part of its declared load arrives in R. For
//! each step percent p (f = p / 100):
//! - entry dials (`route53`, `sim`) move f of R's baseline share on the dial to the dial's
//!   other regions, in proportion to their free capacity ([`super::redistribute`]);
//! - `alb` dials of a service with entry dials change only at the last step, when DNS already
//!   sends R nothing: members serving R go to 0, their weight to the other members by free
//!   capacity. An alb dial with no member outside R is left alone with a note;
//! - a service without entry dials moves its alb dials per schedule instead.
//!
//! Weights come from target shares by [`super::rounding`]: the dial keeps its baseline total
//! (100 per member if it was all-zero), scaled down when a member would pass the provider's
//! maximum. Members serving R are rounded up as a group, so a step never moves more than
//! scheduled, and reach exactly 0 at the last step.
//!
//! # Restore R
//! From the observed weights back to `restore_to`, over the same services, in reverse wave
//! order. Entry dials interpolate member shares per schedule (members serving R rounded down
//! as a group, so a step never brings back more than scheduled) and end exactly at
//! `restore_to`; alb dials go back at the first step. Dials already at `restore_to` stay.
//!
//! # Order
//! Steps run wave by wave; within a wave, percent by percent; within a percent, service by
//! service (sorted). A step lists only the members whose weight changes.
//!
//! Pure: no I/O, no clock; every map is a `BTreeMap`, so equal inputs give equal plans.

use std::collections::BTreeMap;

use crate::model::{Dial, Playbook, Region, Service, Topology, dial_ref};

use super::preflight;
use super::redistribute::{Free, Split, evacuation_targets, restore_targets};
use super::rounding::{GroupRound, weights_from_shares};
use super::shares::{
    DialWeights, declared_entry_shares, dial_total, served_shares_with, weight_of,
};
use super::waves::layers;
use super::{Change, Operation, Plan, PlanError, PlanStep, Weights};

/// A served share below this counts as nothing (float noise).
const NOTHING: f64 = 1e-9;

/// Everything the planner needs, all of it already read from the world.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The validated topology.
    pub topology: &'a Topology,
    /// The validated playbook (its `steps` is the schedule).
    pub playbook: &'a Playbook,
    /// Evacuate or restore.
    pub operation: Operation,
    /// The region evacuated or restored.
    pub region: &'a str,
    /// Live weights of every dial of every service: the plan's baseline.
    pub observed: &'a Weights,
    /// Restore only: the weights to return to (the baseline of the evacuation).
    pub restore_to: Option<&'a Weights>,
}

/// Plans an evacuation or a restore of `input.region`.
///
/// Guarantees: deterministic; no I/O; re-planning on the weights a plan produces gives an
/// empty plan. Hashes are left empty for the caller to fill.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let PlanInput {
        topology,
        playbook,
        operation,
        region,
        observed,
        restore_to,
    } = *input;
    check_schedule(playbook)?;
    if !topology.regions.iter().any(|r| r == region) {
        return Err(PlanError::UnknownRegion {
            region: region.to_string(),
            topology: topology.name.clone(),
            known: topology.regions.clone(),
        });
    }
    let restore_to = match (operation, restore_to) {
        (Operation::Restore, None) => {
            return Err(PlanError::MissingRestoreBaseline {
                region: region.to_string(),
            });
        }
        (_, r) => r,
    };
    let layers = layers(topology);
    layers.check_acyclic()?;

    let ctx = Context {
        topology,
        schedule: &playbook.steps,
        region,
    };
    let mut baseline = Weights::new();
    let mut planned: BTreeMap<&str, ServicePlan> = BTreeMap::new();
    let mut notes = Vec::new();
    for service in topology.services.values() {
        let refs: Vec<String> = service
            .dials
            .iter()
            .map(|d| dial_ref(&service.name, &d.id))
            .collect();
        let base = observed_weights(service, &refs, observed, |dial, member| {
            PlanError::MissingWeights { dial, member }
        })?;
        for (r, w) in refs.iter().zip(&base) {
            baseline.insert(r.clone(), (*w).clone());
        }
        let service_plan = match (operation, restore_to) {
            (Operation::Evacuate, _) => ctx.evacuate(service, &refs, &base)?,
            (Operation::Restore, Some(to)) => ctx.restore(service, &refs, &base, to, &mut notes)?,
            (Operation::Restore, None) => None,
        };
        if let Some(p) = service_plan {
            planned.insert(service.name.as_str(), p);
        }
    }

    let mut waves = layers.waves_of(|name| planned.contains_key(name));
    if operation == Operation::Restore {
        waves.reverse();
    }
    let mut steps = Vec::new();
    for (w, wave) in waves.iter().enumerate() {
        for (k, percent) in playbook.steps.iter().enumerate() {
            for name in wave {
                let Some(p) = planned.get_mut(name.as_str()) else {
                    continue;
                };
                if let Some(step) = p.steps[k].take() {
                    steps.push(PlanStep {
                        service: name.clone(),
                        wave: w,
                        percent: *percent,
                        changes: step.changes,
                        shares: step.shares,
                    });
                }
            }
        }
    }

    let mut target = Weights::new();
    let mut final_shares = BTreeMap::new();
    let mut preflight_rows = Vec::new();
    for (name, p) in planned {
        let service = &topology.services[name];
        let rows = preflight::rows(topology, service, &p.final_shares, operation, region);
        notes.extend(p.notes);
        if operation == Operation::Evacuate
            && let Some(note) = preflight::limit_note(name, &rows)
        {
            notes.push(note);
        }
        preflight_rows.extend(rows);
        target.extend(p.target);
        final_shares.insert(name.to_string(), p.final_shares);
    }

    Ok(Plan {
        operation,
        region: region.to_string(),
        topology: topology.name.clone(),
        playbook: playbook.name.clone(),
        topology_hash: String::new(),
        playbook_hash: String::new(),
        waves,
        steps,
        final_shares,
        preflight: preflight_rows,
        baseline,
        target,
        notes,
    })
}

fn check_schedule(playbook: &Playbook) -> Result<(), PlanError> {
    let steps = &playbook.steps;
    let increasing = steps.windows(2).all(|w| w[0] < w[1]);
    let in_range = steps.iter().all(|p| (1..=100).contains(p));
    if steps.last() == Some(&100) && increasing && in_range {
        Ok(())
    } else {
        Err(PlanError::InvalidSchedule {
            playbook: playbook.name.clone(),
            steps: steps.clone(),
        })
    }
}

/// The weights of every dial of `service` in `weights`, in dial order; every member must be
/// present.
fn observed_weights<'w>(
    service: &Service,
    refs: &[String],
    weights: &'w Weights,
    missing: impl Fn(String, Option<String>) -> PlanError,
) -> Result<Vec<&'w DialWeights>, PlanError> {
    service
        .dials
        .iter()
        .zip(refs)
        .map(|(dial, r)| {
            let w = weights.get(r).ok_or_else(|| missing(r.clone(), None))?;
            if let Some(m) = dial.members.keys().find(|m| !w.contains_key(*m)) {
                return Err(missing(r.clone(), Some(m.clone())));
            }
            Ok(w)
        })
        .collect()
}

/// One service's part of the plan, before it is interleaved with the others.
struct ServicePlan {
    /// Per schedule position: the step, if anything changes at it.
    steps: Vec<Option<ServiceStep>>,
    /// Final weights of the dials that changed.
    target: Weights,
    /// Served shares after the last step.
    final_shares: BTreeMap<Region, f64>,
    /// Notes about this service (dials left alone, capacity fallback).
    notes: Vec<String>,
}

struct ServiceStep {
    changes: Vec<Change>,
    shares: BTreeMap<Region, f64>,
}

/// When a dial moves during a service's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Motion {
    /// Every step, following the schedule.
    PerStep,
    /// Evacuation of an alb dial behind entry dials: all at once at the last step.
    LastStep,
    /// Restore of an alb dial behind entry dials: all at once at the first step.
    FirstStep,
}

struct Context<'a> {
    topology: &'a Topology,
    schedule: &'a [u32],
    region: &'a str,
}

impl Context<'_> {
    /// Whether evacuating or restoring the region concerns `service` at all.
    fn concerns(&self, service: &Service) -> bool {
        let serves = service
            .dials
            .iter()
            .any(|d| d.members.values().any(|r| r == self.region));
        serves || (!has_entry(service) && self.declared_share(service) > 0.0)
    }

    fn declared_share(&self, service: &Service) -> f64 {
        declared_entry_shares(self.topology, service)
            .get(self.region)
            .copied()
            .unwrap_or(0.0)
    }

    fn evacuate(
        &self,
        service: &Service,
        refs: &[String],
        base: &[&DialWeights],
    ) -> Result<Option<ServicePlan>, PlanError> {
        if !self.concerns(service) {
            return Ok(None);
        }
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
                moving.push((i, Motion::PerStep));
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
                        Motion::LastStep
                    } else {
                        Motion::PerStep
                    },
                ));
            }
        }

        let base_served = served_shares_with(self.topology, service, |i| Some(base[i]));
        let total_load = service.total_load();
        let max_utilization = service.max_utilization(self.topology);
        let free: Free<'_> = service
            .capacity
            .iter()
            .map(|(r, cap)| {
                let served = base_served.get(r).copied().unwrap_or(0.0) * total_load;
                (r.as_str(), (cap * max_utilization - served).max(0.0))
            })
            .collect();

        let mut current: Vec<Option<DialWeights>> = vec![None; service.dials.len()];
        let mut fallback_noted = vec![false; service.dials.len()];
        let mut steps = Vec::with_capacity(self.schedule.len());
        let last = self.schedule.len() - 1;
        for (k, percent) in self.schedule.iter().enumerate() {
            let f = f64::from(*percent) / 100.0;
            let mut changes = Vec::new();
            for &(i, motion) in &moving {
                let f = match motion {
                    Motion::PerStep => f,
                    Motion::LastStep if k == last => 1.0,
                    Motion::LastStep | Motion::FirstStep => continue,
                };
                let dial = &service.dials[i];
                let Some((targets, split)) =
                    evacuation_targets(dial, Some(base[i]), region, f, &free, &service.capacity)
                else {
                    continue;
                };
                if split != Split::Free && !fallback_noted[i] {
                    fallback_noted[i] = true;
                    notes.push(fallback_note(&refs[i], split));
                }
                let total = baseline_total(dial, base[i]);
                let weights =
                    weights_from_shares(&targets, total, dial.max_weight(), GroupRound::Up);
                let now = current[i].get_or_insert_with(|| base[i].clone());
                apply(dial, &refs[i], now, &weights, &mut changes);
            }
            steps.push(self.finish_step(service, base, &current, changes));
        }

        let final_shares = served_of(self.topology, service, base, &current);
        if final_shares.get(region).copied().unwrap_or(0.0) > NOTHING {
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
                    "{:.3} of its traffic would still be served in {region} after the last step",
                    final_shares[region]
                )
            };
            return Err(self.cannot_drain(service, reason));
        }
        Ok(finish(
            service,
            refs,
            base,
            current,
            steps,
            final_shares,
            notes,
        ))
    }

    fn restore(
        &self,
        service: &Service,
        refs: &[String],
        base: &[&DialWeights],
        restore_to: &Weights,
        notes: &mut Vec<String>,
    ) -> Result<Option<ServicePlan>, PlanError> {
        let region = self.region;
        if !self.concerns(service) {
            let drifted = service
                .dials
                .iter()
                .zip(refs)
                .zip(base)
                .any(|((d, r), b)| restore_to.get(r).is_some_and(|to| !same_weights(d, b, to)));
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
                    Motion::PerStep
                } else {
                    Motion::FirstStep
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
                    Motion::PerStep => k == last,
                    Motion::FirstStep if k == 0 => true,
                    Motion::FirstStep | Motion::LastStep => continue,
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
                apply(dial, &refs[i], now, &weights, &mut changes);
            }
            steps.push(self.finish_step(service, base, &current, changes));
        }
        let final_shares = served_of(self.topology, service, base, &current);
        Ok(finish(
            service,
            refs,
            base,
            current,
            steps,
            final_shares,
            Vec::new(),
        ))
    }

    /// The step's record, or `None` when nothing changes at it.
    fn finish_step(
        &self,
        service: &Service,
        base: &[&DialWeights],
        current: &[Option<DialWeights>],
        mut changes: Vec<Change>,
    ) -> Option<ServiceStep> {
        if changes.is_empty() {
            return None;
        }
        changes.sort_by(|a, b| (&a.dial, &a.member).cmp(&(&b.dial, &b.member)));
        Some(ServiceStep {
            changes,
            shares: served_of(self.topology, service, base, current),
        })
    }

    fn cannot_drain(&self, service: &Service, reason: String) -> PlanError {
        PlanError::CannotDrain {
            service: service.name.clone(),
            region: self.region.to_string(),
            reason,
        }
    }
}

/// Whether the service has an entry dial (with members) that traffic comes in through.
fn has_entry(service: &Service) -> bool {
    service
        .dials
        .iter()
        .any(|d| d.is_entry() && !d.members.is_empty())
}

/// The total a dial's weights keep: its baseline total, or 100 per member if that was 0.
fn baseline_total(dial: &Dial, weights: &DialWeights) -> u64 {
    match dial_total(dial, Some(weights)) {
        0 => 100 * dial.members.len() as u64,
        t => t,
    }
}

/// Whether two weight maps agree on every member of the dial.
fn same_weights(dial: &Dial, a: &DialWeights, b: &DialWeights) -> bool {
    dial.members
        .keys()
        .all(|m| weight_of(Some(a), m) == weight_of(Some(b), m))
}

/// Records the members of `dial` whose weight changes from `now` to `weights`, and applies it.
fn apply(
    dial: &Dial,
    dial_ref: &str,
    now: &mut DialWeights,
    weights: &[u32],
    changes: &mut Vec<Change>,
) {
    for ((member, region), &to) in dial.members.iter().zip(weights) {
        let from = weight_of(Some(now), member);
        if from != to {
            changes.push(Change {
                dial: dial_ref.to_string(),
                member: member.clone(),
                region: region.clone(),
                from,
                to,
            });
            now.insert(member.clone(), to);
        }
    }
}

fn served_of(
    topology: &Topology,
    service: &Service,
    base: &[&DialWeights],
    current: &[Option<DialWeights>],
) -> BTreeMap<Region, f64> {
    served_shares_with(topology, service, |i| {
        Some(current[i].as_ref().unwrap_or(base[i]))
    })
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

/// Assembles one service's part, or `None` when no step changes anything.
fn finish(
    service: &Service,
    refs: &[String],
    base: &[&DialWeights],
    current: Vec<Option<DialWeights>>,
    steps: Vec<Option<ServiceStep>>,
    final_shares: BTreeMap<Region, f64>,
    notes: Vec<String>,
) -> Option<ServicePlan> {
    if steps.iter().all(Option::is_none) {
        return None;
    }
    let mut target = Weights::new();
    for (i, now) in current.into_iter().enumerate() {
        if let Some(now) = now
            && !same_weights(&service.dials[i], base[i], &now)
        {
            target.insert(refs[i].clone(), now);
        }
    }
    Some(ServicePlan {
        steps,
        target,
        final_shares,
        notes,
    })
}
