//! Capacity from Auto Scaling: each service's `autoscaling` binding, read through the
//! scaling backend before planning. A region's capacity is its group's in-service
//! instances x `per_instance`; when the playbook pre-scales an evacuation, a destination's
//! capacity is what pre-scaling can reach, the group's max size x `per_instance`, so that
//! pre-flight refuses exactly when even the max size cannot hold the projected load.

use std::collections::BTreeMap;

use crate::backend::scaling::{GroupRef, GroupState, ScalingBackend, bound_groups};
use crate::model::{Region, Topology};
use crate::plan::{Figure, FigureSource};

use super::LiveError;

/// The capacity of every region bound to a group. `prescaled`: the region evacuated when
/// the run pre-scales the others (their capacity is then the max size's).
pub async fn autoscaling_capacity(
    topology: &Topology,
    scaling: &dyn ScalingBackend,
    prescaled: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<Region, Figure>>, LiveError> {
    let groups: Vec<GroupRef> = bound_groups(topology).into_keys().collect();
    if groups.is_empty() {
        return Ok(BTreeMap::new());
    }
    let states = scaling.describe(&groups).await.map_err(|e| {
        LiveError(format!(
            "cannot read the Auto Scaling groups behind the capacity: {e}; nothing was changed"
        ))
    })?;
    let mut out: BTreeMap<String, BTreeMap<Region, Figure>> = BTreeMap::new();
    for service in topology.services.values() {
        for (region, binding) in &service.autoscaling {
            let key = GroupRef {
                region: region.clone(),
                group: binding.group.clone(),
            };
            let Some(state) = states.get(&key) else {
                return Err(LiveError(format!(
                    "{} of service {}: not described by the provider; nothing was changed",
                    key, service.name
                )));
            };
            out.entry(service.name.clone()).or_default().insert(
                region.clone(),
                figure(&key, state, binding.per_instance, prescaled),
            );
        }
    }
    Ok(out)
}

fn figure(
    key: &GroupRef,
    state: &GroupState,
    per_instance: f64,
    prescaled: Option<&str>,
) -> Figure {
    let r = per_instance;
    match prescaled {
        Some(evacuated) if evacuated != key.region => {
            let reach = state.max.max(state.in_service);
            Figure {
                value: f64::from(reach) * r,
                source: FigureSource::Autoscaling,
                detail: format!(
                    "group {}: max size {reach} x {r} req/s after pre-scaling ({} in service now)",
                    key.group, state.in_service
                ),
            }
        }
        _ => Figure {
            value: f64::from(state.in_service) * r,
            source: FigureSource::Autoscaling,
            detail: format!(
                "group {}: {} in service x {r} req/s",
                key.group, state.in_service
            ),
        },
    }
}
