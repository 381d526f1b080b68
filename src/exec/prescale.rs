//! Pre-scaling (playbook `prescale`) and returning pre-scaled groups to their original
//! desired capacity.
//!
//! Guarantees: the `PrescaleIntent` (every group to raise, from its desired capacity read
//! now) is journaled before any group is changed; a group is never lowered by a pre-scale
//! nor raised by a capacity restore, and never asked for more than its max size; the wait
//! for instances in service is bounded by the prescale timeout (an abort, like a failed
//! step) and cut short by Ctrl-C or the deadline. Returning groups journals a
//! `CapacityRestoreIntent` first, and only lowers groups whose desired capacity is still
//! above the original. Idempotent: re-running either is harmless.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backend::scaling::{GroupRef, ScalingBackend};
use crate::journal::{CapacityChange, Record};
use crate::model::Topology;
use crate::plan::{Operation, Plan};

use super::engine::{Ctx, Stop};
use super::{Executor, ProgressEvent, calls, now};

/// How often in-service counts are polled while waiting (divided by the time scale).
const POLL: Duration = Duration::from_secs(10);

/// Slack for float noise before rounding a needed instance count up.
const EPSILON: f64 = 1e-9;

/// Instances each destination group needs after the plan's last step: for each pre-flight
/// row of a service bound to a group there, `ceil(projected_load / (per_instance x
/// max_utilization))`; the most any service bound to the group needs.
pub(crate) fn needed(topology: &Topology, plan: &Plan) -> BTreeMap<GroupRef, u32> {
    let mut out: BTreeMap<GroupRef, u32> = BTreeMap::new();
    if plan.operation != Operation::Evacuate {
        return out;
    }
    for row in &plan.preflight {
        let Some(binding) = topology
            .services
            .get(&row.service)
            .and_then(|s| s.autoscaling.get(&row.region))
        else {
            continue;
        };
        let per_instance = binding.per_instance * row.max_utilization;
        let n = if per_instance > 0.0 && row.projected_load > 0.0 {
            (row.projected_load / per_instance - EPSILON)
                .ceil()
                .max(0.0) as u32
        } else {
            0
        };
        let key = GroupRef {
            region: row.region.clone(),
            group: binding.group.clone(),
        };
        let entry = out.entry(key).or_insert(0);
        *entry = (*entry).max(n);
    }
    out
}

fn group_ref(change: &CapacityChange) -> GroupRef {
    GroupRef {
        region: change.region.clone(),
        group: change.group.clone(),
    }
}

impl Ctx<'_, '_> {
    /// Raises the destination groups and waits for their instances (see the module docs).
    /// A resumed run keeps the original `from` of the groups its earlier `PrescaleIntent`
    /// named (`self.prescaled`), whatever their desired capacity is now.
    pub async fn prescale(&mut self) -> Result<(), Stop> {
        let Some(prescale) = self.ex.playbook.prescale.clone() else {
            return Ok(());
        };
        let needed = needed(self.ex.topology, self.plan);
        if needed.is_empty() {
            return Ok(());
        }
        let Some(scaling) = self.ex.scaling else {
            return Err(Stop::Abort(
                "prescale: no scaling backend to reach the Auto Scaling groups".to_string(),
            ));
        };
        self.clock.check().map_err(Stop::Abort)?;
        let groups: Vec<GroupRef> = needed.keys().cloned().collect();
        let states = calls::describe_groups(self.ex, scaling, &groups)
            .await
            .map_err(|e| Stop::Abort(format!("prescale: {e}")))?;
        // What each group must reach in service: the need, within its max size.
        let mut targets: BTreeMap<GroupRef, u32> = BTreeMap::new();
        let mut changes: Vec<CapacityChange> = Vec::new();
        let mut too_small = Vec::new();
        for (group, need) in &needed {
            let Some(state) = states.get(group) else {
                return Err(Stop::Abort(format!("prescale: {group} was not described")));
            };
            if *need > state.max {
                too_small.push(format!(
                    "{group} needs {need} instances for the projected load, but its max size is {}",
                    state.max
                ));
                continue;
            }
            targets.insert(group.clone(), *need);
            if *need > state.desired {
                changes.push(CapacityChange {
                    region: group.region.clone(),
                    group: group.group.clone(),
                    from: state.desired,
                    to: *need,
                });
            }
        }
        if !too_small.is_empty() {
            return Err(Stop::Abort(format!(
                "prescale: {}; raise the max size or evacuate less",
                too_small.join("; ")
            )));
        }
        // A resumed run raises again what its intent said, from the original capacity.
        let journaled: Vec<CapacityChange> = self
            .prescaled
            .iter()
            .filter(|c| targets.contains_key(&group_ref(c)))
            .cloned()
            .collect();
        let changes: Vec<CapacityChange> = changes
            .into_iter()
            .map(|c| {
                match journaled
                    .iter()
                    .find(|j| j.region == c.region && j.group == c.group)
                {
                    Some(j) => CapacityChange { from: j.from, ..c },
                    None => c,
                }
            })
            .collect();
        self.journal(Record::PrescaleIntent {
            at: now(),
            groups: changes.clone(),
        })?;
        for change in &changes {
            if !self
                .prescaled
                .iter()
                .any(|c| c.region == change.region && c.group == change.group)
            {
                self.prescaled.push(change.clone());
            }
        }
        if !changes.is_empty() {
            self.emit(ProgressEvent::Scaling {
                purpose: "prescale",
                groups: changes.clone(),
            });
        }
        for change in &changes {
            self.clock.check().map_err(Stop::Abort)?;
            calls::set_desired(self.ex, scaling, &group_ref(change), change.to)
                .await
                .map_err(|e| Stop::Abort(format!("prescale: {e}")))?;
        }
        self.wait_in_service(scaling, &targets, prescale.timeout)
            .await?;
        self.journal(Record::PrescaleDone { at: now() })?;
        self.emit(ProgressEvent::Prescaled {
            groups: targets.len(),
        });
        Ok(())
    }

    /// Polls until every group has at least its target in service, or `timeout` passes.
    async fn wait_in_service(
        &self,
        scaling: &dyn ScalingBackend,
        targets: &BTreeMap<GroupRef, u32>,
        timeout: Duration,
    ) -> Result<(), Stop> {
        let groups: Vec<GroupRef> = targets.keys().cloned().collect();
        let timeout = self.clock.scaled(timeout);
        let until = tokio::time::Instant::now() + timeout;
        let poll = self.clock.scaled(POLL);
        loop {
            let states = calls::describe_groups(self.ex, scaling, &groups)
                .await
                .map_err(|e| Stop::Abort(format!("prescale: {e}")))?;
            let short: Vec<String> = targets
                .iter()
                .filter_map(|(group, target)| {
                    let in_service = states.get(group).map_or(0, |s| s.in_service);
                    (in_service < *target)
                        .then(|| format!("{group}: {in_service} of {target} in service"))
                })
                .collect();
            if short.is_empty() {
                return Ok(());
            }
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Stop::Abort(format!(
                    "prescale: instances not in service after {}: {}",
                    crate::model::format_duration(timeout),
                    short.join("; ")
                )));
            }
            self.emit(ProgressEvent::WaitingInService { short });
            self.clock
                .sleep(poll.min(left))
                .await
                .map_err(Stop::Abort)?;
        }
    }

    /// Returns every group of `changes` whose desired capacity is above its original
    /// (`from`) to it; journals the intent first. The error names the groups left raised.
    pub async fn restore_capacity(&mut self, changes: &[CapacityChange]) -> Result<(), String> {
        if changes.is_empty() {
            return Ok(());
        }
        let Some(scaling) = self.ex.scaling else {
            return Err(format!(
                "no scaling backend to return {} to the original desired capacity",
                list(changes)
            ));
        };
        restore_groups(self, scaling, changes).await
    }
}

async fn restore_groups(
    ctx: &mut Ctx<'_, '_>,
    scaling: &dyn ScalingBackend,
    changes: &[CapacityChange],
) -> Result<(), String> {
    let ex: &Executor<'_> = ctx.ex;
    let groups: Vec<GroupRef> = changes.iter().map(group_ref).collect();
    let states = calls::describe_groups(ex, scaling, &groups)
        .await
        .map_err(|e| format!("{e}; still raised: {}", list(changes)))?;
    let lower: Vec<CapacityChange> = changes
        .iter()
        .filter_map(|c| {
            let state = states.get(&group_ref(c))?;
            (state.desired > c.from).then(|| CapacityChange {
                region: c.region.clone(),
                group: c.group.clone(),
                from: state.desired,
                to: c.from,
            })
        })
        .collect();
    ctx.journal(Record::CapacityRestoreIntent {
        at: now(),
        groups: lower.clone(),
    })
    .map_err(|(Stop::Journal(e) | Stop::Abort(e))| {
        format!("{e}; still raised: {}", list(changes))
    })?;
    if !lower.is_empty() {
        ctx.emit(ProgressEvent::Scaling {
            purpose: "restore",
            groups: lower.clone(),
        });
    }
    let mut failed = Vec::new();
    for change in &lower {
        if let Err(e) = calls::set_desired(ex, scaling, &group_ref(change), change.to).await {
            failed.push(e);
        }
    }
    if !failed.is_empty() {
        return Err(format!(
            "cannot return the Auto Scaling groups to their original desired capacity: {}",
            failed.join("; ")
        ));
    }
    ctx.journal(Record::CapacityRestored { at: now() })
        .map_err(|(Stop::Journal(e) | Stop::Abort(e))| e)?;
    ctx.emit(ProgressEvent::CapacityRestored {
        groups: lower.len(),
    });
    Ok(())
}

/// `group a in r (desired 3), ...`: the groups and the capacity they return to.
fn list(changes: &[CapacityChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "group {} in {} (original desired {})",
                c.group, c.region, c.from
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
