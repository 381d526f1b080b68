//! Capacity from Auto Scaling: each service's `autoscaling` binding, read through the
//! scaling backend before planning. A region's capacity is its group's in-service
//! instances x `per_instance`; when the playbook pre-scales an evacuation, a destination's
//! capacity is what pre-scaling can reach, the group's max size x `per_instance`, so that
//! pre-flight refuses exactly when even the max size cannot hold the projected load.

use std::collections::BTreeMap;

use crate::backend::scaling::{GroupRef, GroupState, ScalingBackend, bound_groups};
use crate::model::{Region, Topology};
use crate::plan::{Figure, FigureSource};
use crate::retry::RetryPolicy;

use super::LiveError;

/// The capacity of every region bound to a group. `prescaled`: the region evacuated when
/// the run pre-scales the others (their capacity is then the max size's). The groups are
/// described with the default [`RetryPolicy`] (transient errors retried).
pub async fn autoscaling_capacity(
    topology: &Topology,
    scaling: &dyn ScalingBackend,
    prescaled: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<Region, Figure>>, LiveError> {
    let groups: Vec<GroupRef> = bound_groups(topology).into_keys().collect();
    if groups.is_empty() {
        return Ok(BTreeMap::new());
    }
    let states = RetryPolicy::default()
        .call("describe Auto Scaling groups", || scaling.describe(&groups))
        .await
        .map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{SimBackend, SimFaults, SimGroup};
    use crate::model::AutoscalingBinding;
    use crate::testing::streaming;

    fn bound() -> Topology {
        let mut t = streaming();
        let edge = t.services.get_mut("edge-api").unwrap();
        for region in ["us-east-1", "us-west-2"] {
            edge.autoscaling.insert(
                region.to_string(),
                AutoscalingBinding {
                    group: format!("edge-{region}"),
                    per_instance: 50.0,
                },
            );
        }
        t
    }

    async fn sim(t: &Topology) -> SimBackend {
        let sim = SimBackend::in_memory(t.clone(), SimFaults::default());
        for region in ["us-east-1", "us-west-2"] {
            let group = SimGroup {
                desired: 4,
                min: 1,
                max: 10,
                in_service: 3,
            };
            sim.set_group(region, &format!("edge-{region}"), group)
                .await
                .unwrap();
        }
        sim
    }

    #[tokio::test]
    async fn capacity_is_in_service_instances_times_per_instance() {
        let t = bound();
        let capacity = autoscaling_capacity(&t, &sim(&t).await, None)
            .await
            .unwrap();
        assert_eq!(capacity.len(), 1, "only edge-api is bound");
        let west = &capacity["edge-api"]["us-west-2"];
        assert_eq!(west.value, 150.0);
        assert_eq!(west.source, FigureSource::Autoscaling);
        assert_eq!(west.detail, "group edge-us-west-2: 3 in service x 50 req/s");
        assert!(!capacity["edge-api"].contains_key("eu-west-1"));
    }

    #[tokio::test]
    async fn prescaling_counts_the_max_size_of_every_destination() {
        let t = bound();
        let capacity = autoscaling_capacity(&t, &sim(&t).await, Some("us-east-1"))
            .await
            .unwrap();
        let west = &capacity["edge-api"]["us-west-2"];
        assert_eq!(west.value, 500.0);
        assert!(west.detail.contains("max size 10"), "{}", west.detail);
        assert_eq!(capacity["edge-api"]["us-east-1"].value, 150.0);
    }

    #[tokio::test]
    async fn a_missing_group_refuses_naming_it() {
        let mut t = bound();
        let sim = sim(&t).await;
        t.services
            .get_mut("edge-api")
            .unwrap()
            .autoscaling
            .get_mut("us-west-2")
            .unwrap()
            .group = "nope".into();
        let err = autoscaling_capacity(&t, &sim, None).await.unwrap_err();
        assert!(
            err.0.contains("group nope does not exist in us-west-2")
                && err.0.contains("nothing was changed"),
            "{err}"
        );
    }
}
