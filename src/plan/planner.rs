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
//! A restore concerns the same services an evacuation of R would (a member serving R, or
//! declared load arriving in R without an entry dial); other services that differ from
//! `restore_to` are left as they are, with a note. If `restore_to` itself has an all-zero
//! dial, the restore ends there: that is the one case a plan leaves a dial all-zero.
//!
//! # Order
//! Steps run wave by wave; within a wave, percent by percent; within a percent, service by
//! service (sorted). A step lists only the members whose weight changes.
//!
//! # Refusals
//! - [`PlanError::CannotDrain`]: an entry dial whose members all serve R; or, after the last
//!   step, R would still serve part of the service (no entry dial and no alb dial in R to
//!   move its declared load, or an alb dial forwarding everything to R from a region that
//!   still receives traffic).
//! - [`PlanError::MissingWeights`]: `observed` lacks a dial or member of any service (the
//!   baseline covers every dial); [`PlanError::MissingRestoreWeights`] likewise for
//!   `restore_to`, for the services being restored.
//! - [`PlanError::UnknownRegion`], [`PlanError::InvalidSchedule`], [`PlanError::Cycle`],
//!   [`PlanError::MissingRestoreBaseline`].
//!
//! A destination without free capacity still receives traffic when no destination of the
//! dial has any (split by capacity, then evenly); the plan says so in its notes and pre-flight
//! fails. Pre-flight utilization of a region with no capacity that would receive load is
//! [`super::UNBOUNDED_UTILIZATION`] (JSON has no infinity).
//!
//! Pure: no I/O, no clock; the output's maps are `BTreeMap`s (a `HashMap` is used for
//! lookups only), so equal inputs give byte-identical plans.

use std::collections::{BTreeMap, HashSet};

use crate::model::{Dial, Playbook, Region, Service, Topology, dial_ref};

use super::preflight;
use super::shares::{DialWeights, declared_entry_shares, dial_total, served_by_region, weight_of};
use super::waves::layers;
use super::{Change, Name, Operation, Plan, PlanError, PlanStep, Weights};

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
        regions: topology.regions.iter().map(Name::from).collect(),
    };
    // Member ids repeat across services (the same SetIdentifiers in every zone): one `Name`
    // each, shared by every change that mentions it.
    let mut members: HashSet<Name> = HashSet::new();
    // Collected in service order, then built in bulk (cheaper than one insert per key).
    let mut baseline: Vec<(String, DialWeights)> = Vec::with_capacity(observed.len());
    let mut planned: Vec<Option<(Name, ServicePlan)>> = Vec::with_capacity(topology.services.len());
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
        let names = ServiceNames::new(&ctx, service, &refs, &mut members);
        let service_plan = match (operation, restore_to) {
            (Operation::Evacuate, _) => ctx.evacuate(service, &names, &base)?,
            (Operation::Restore, Some(to)) => {
                ctx.restore(service, &names, &base, to, &mut notes)?
            }
            (Operation::Restore, None) => None,
        };
        planned.push(service_plan.map(|p| (names.service, p)));
        baseline.extend(refs.into_iter().zip(base).map(|(r, w)| (r, w.clone())));
    }

    let mut waves = layers.waves_of(|i| planned[i].is_some());
    if operation == Operation::Restore {
        waves.reverse();
    }
    let mut steps = Vec::new();
    for (w, wave) in waves.iter().enumerate() {
        for (k, percent) in playbook.steps.iter().enumerate() {
            for &i in wave {
                let Some((name, step)) = planned[i]
                    .as_mut()
                    .and_then(|(name, p)| Some((name.clone(), p.steps[k].take()?)))
                else {
                    continue;
                };
                steps.push(PlanStep {
                    service: name,
                    wave: w,
                    percent: *percent,
                    changes: step.changes,
                    shares: step.shares,
                });
            }
        }
    }

    let mut target: Vec<(String, DialWeights)> = Vec::new();
    let mut final_shares: Vec<(String, BTreeMap<Region, f64>)> = Vec::new();
    let mut preflight_rows = Vec::new();
    for (service, p) in topology.services.values().zip(planned) {
        let Some((_, p)) = p else { continue };
        let rows = preflight::rows(topology, service, &p.final_shares, operation, region);
        notes.extend(p.notes);
        if operation == Operation::Evacuate
            && let Some(note) = preflight::limit_note(&service.name, &rows)
        {
            notes.push(note);
        }
        preflight_rows.extend(rows);
        target.extend(p.target);
        final_shares.push((service.name.clone(), p.final_shares));
    }
    let waves = layers.named(&waves);

    Ok(Plan {
        operation,
        region: region.to_string(),
        topology: topology.name.clone(),
        playbook: playbook.name.clone(),
        topology_hash: String::new(),
        playbook_hash: String::new(),
        waves,
        steps,
        final_shares: final_shares.into_iter().collect(),
        preflight: preflight_rows,
        baseline: baseline.into_iter().collect(),
        target: target.into_iter().collect(),
        notes,
        figures: Default::default(),
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
pub(super) fn observed_weights<'w, S: AsRef<str>>(
    service: &Service,
    refs: &[S],
    weights: &'w Weights,
    missing: impl Fn(String, Option<String>) -> PlanError,
) -> Result<Vec<&'w DialWeights>, PlanError> {
    service
        .dials
        .iter()
        .zip(refs)
        .map(|(dial, r)| {
            let r = r.as_ref();
            let w = weights.get(r).ok_or_else(|| missing(r.to_string(), None))?;
            if let Some(m) = dial.members.keys().find(|m| !w.contains_key(*m)) {
                return Err(missing(r.to_string(), Some(m.clone())));
            }
            Ok(w)
        })
        .collect()
}

/// The names one service's steps and changes carry, made once per service so that every
/// change shares them.
pub(super) struct ServiceNames {
    /// The service.
    pub(super) service: Name,
    /// `service/dial`, in dial order.
    pub(super) refs: Vec<Name>,
    /// Per dial: (member, region) in member order.
    pub(super) members: Vec<Vec<(Name, Name)>>,
}

impl ServiceNames {
    fn new(
        ctx: &Context<'_>,
        service: &Service,
        refs: &[String],
        known: &mut HashSet<Name>,
    ) -> Self {
        let mut member_name = |m: &str| match known.get(m) {
            Some(name) => name.clone(),
            None => {
                let name = Name::from(m);
                known.insert(name.clone());
                name
            }
        };
        ServiceNames {
            service: Name::from(&service.name),
            refs: refs.iter().map(Name::from).collect(),
            members: service
                .dials
                .iter()
                .map(|d| {
                    d.members
                        .iter()
                        .map(|(m, r)| (member_name(m), ctx.region_name(r)))
                        .collect()
                })
                .collect(),
        }
    }
}

/// One service's part of the plan, before it is interleaved with the others.
pub(super) struct ServicePlan {
    /// Per schedule position: the step, if anything changes at it.
    pub(super) steps: Vec<Option<ServiceStep>>,
    /// Final weights of the dials that changed.
    pub(super) target: Vec<(String, DialWeights)>,
    /// Served shares after the last step.
    pub(super) final_shares: BTreeMap<Region, f64>,
    /// Notes about this service (dials left alone, capacity fallback).
    pub(super) notes: Vec<String>,
}

/// One service's changes at one schedule position.
pub(super) struct ServiceStep {
    pub(super) changes: Vec<Change>,
    pub(super) shares: BTreeMap<Name, f64>,
}

/// When a dial moves during a service's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Motion {
    /// Every step, following the schedule.
    Gradual,
    /// Evacuation of an alb dial behind entry dials: all at once at the last step.
    AtLast,
    /// Restore of an alb dial behind entry dials: all at once at the first step.
    AtFirst,
}

pub(super) struct Context<'a> {
    pub(super) topology: &'a Topology,
    pub(super) schedule: &'a [u32],
    pub(super) region: &'a str,
    /// The topology's regions as names, shared by every step's shares and changes.
    pub(super) regions: Vec<Name>,
}

impl Context<'_> {
    /// The shared name of a region (validation guarantees it is one of the topology's).
    pub(super) fn region_name(&self, region: &str) -> Name {
        self.regions
            .iter()
            .find(|r| r.as_str() == region)
            .cloned()
            .unwrap_or_else(|| Name::from(region))
    }

    /// Served shares of `service` with the current weights of each dial (baseline if
    /// untouched), keyed by shared region names.
    pub(super) fn served_of(
        &self,
        service: &Service,
        base: &[&DialWeights],
        current: &[Option<DialWeights>],
    ) -> BTreeMap<Name, f64> {
        served_by_region(self.topology, service, |i| {
            Some(current[i].as_ref().unwrap_or(base[i]))
        })
        .into_iter()
        .map(|(r, s)| (self.region_name(r), s))
        .collect()
    }

    /// Whether evacuating or restoring the region concerns `service` at all.
    pub(super) fn concerns(&self, service: &Service) -> bool {
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

    /// Walks the schedule for the dials in `moving` (index, and what the caller knows of
    /// it): at step `k`, at fraction `f` of the way, `weights(k, f, i, m)` gives dial `i`'s
    /// weights, or `None` when it does not move at that step.
    pub(super) fn walk<M>(
        &self,
        service: &Service,
        names: &ServiceNames,
        base: &[&DialWeights],
        moving: &[(usize, M)],
        mut weights: impl FnMut(usize, f64, usize, &M) -> Option<Vec<u32>>,
    ) -> Walk {
        let mut current: Vec<Option<DialWeights>> = vec![None; service.dials.len()];
        let mut steps = Vec::with_capacity(self.schedule.len());
        for (k, percent) in self.schedule.iter().enumerate() {
            let f = f64::from(*percent) / 100.0;
            let mut changes = Vec::new();
            for (i, m) in moving {
                let Some(weights) = weights(k, f, *i, m) else {
                    continue;
                };
                let now = current[*i].get_or_insert_with(|| base[*i].clone());
                apply(&service.dials[*i], names, *i, now, &weights, &mut changes);
            }
            steps.push(self.finish_step(service, base, &current, changes));
        }
        Walk { current, steps }
    }

    /// The step's record, or `None` when nothing changes at it.
    pub(super) fn finish_step(
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
            shares: self.served_of(service, base, current),
        })
    }

    pub(super) fn cannot_drain(&self, service: &Service, reason: String) -> PlanError {
        PlanError::CannotDrain {
            service: service.name.clone(),
            region: self.region.to_string(),
            reason,
        }
    }
}

/// Whether the service has an entry dial (with members) that traffic comes in through.
pub(super) fn has_entry(service: &Service) -> bool {
    service
        .dials
        .iter()
        .any(|d| d.is_entry() && !d.members.is_empty())
}

/// The total a dial's weights keep: its baseline total, or 100 per member if that was 0.
pub(super) fn baseline_total(dial: &Dial, weights: &DialWeights) -> u64 {
    match dial_total(dial, Some(weights)) {
        0 => 100 * dial.members.len() as u64,
        t => t,
    }
}

/// Whether two weight maps agree on every member of the dial.
pub(super) fn same_weights(dial: &Dial, a: &DialWeights, b: &DialWeights) -> bool {
    dial.members
        .keys()
        .all(|m| weight_of(Some(a), m) == weight_of(Some(b), m))
}

/// Records the members of dial `i` whose weight changes from `now` to `weights`, and applies
/// it.
pub(super) fn apply(
    dial: &Dial,
    names: &ServiceNames,
    i: usize,
    now: &mut DialWeights,
    weights: &[u32],
    changes: &mut Vec<Change>,
) {
    let members = dial.members.keys().zip(&names.members[i]);
    for ((member, (member_name, region)), &to) in members.zip(weights) {
        let from = weight_of(Some(now), member);
        if from != to {
            changes.push(Change {
                dial: names.refs[i].clone(),
                member: member_name.clone(),
                region: region.clone(),
                from,
                to,
            });
            match now.get_mut(member) {
                Some(w) => *w = to,
                None => {
                    now.insert(member.clone(), to);
                }
            }
        }
    }
}

/// A service's steps along the schedule ([`Context::walk`]).
pub(super) struct Walk {
    /// Each dial's weights after the last step (`None`: never changed).
    pub(super) current: Vec<Option<DialWeights>>,
    /// Each step's record (`None`: nothing changes at it).
    pub(super) steps: Vec<Option<ServiceStep>>,
}

impl Walk {
    /// The served shares after the last step: after the last change nothing moves, so its
    /// shares are the final ones (the baseline's if nothing changes).
    pub(super) fn final_shares(
        &self,
        context: &Context<'_>,
        service: &Service,
        base: &[&DialWeights],
    ) -> BTreeMap<Name, f64> {
        match self.steps.iter().rev().flatten().next() {
            Some(step) => step.shares.clone(),
            None => context.served_of(service, base, &self.current),
        }
    }
}

/// Assembles one service's part, or `None` when no step changes anything.
pub(super) fn finish(
    service: &Service,
    names: &ServiceNames,
    base: &[&DialWeights],
    walk: Walk,
    final_shares: &BTreeMap<Name, f64>,
    notes: Vec<String>,
) -> Option<ServicePlan> {
    let Walk { current, steps } = walk;
    if steps.iter().all(Option::is_none) {
        return None;
    }
    let mut target = Vec::new();
    for (i, now) in current.into_iter().enumerate() {
        if let Some(now) = now
            && !same_weights(&service.dials[i], base[i], &now)
        {
            target.push((names.refs[i].to_string(), now));
        }
    }
    Some(ServicePlan {
        steps,
        target,
        final_shares: final_shares
            .iter()
            .map(|(r, s)| (r.to_string(), *s))
            .collect(),
        notes,
    })
}
