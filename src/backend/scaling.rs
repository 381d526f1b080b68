//! Scaling backends: where Auto Scaling groups are described and their desired capacity set.
//!
//! A service binds its capacity in a region to one group (`autoscaling:` in the topology);
//! pre-flight reads the groups through [`ScalingBackend::describe`] and the executor's
//! `prescale` phase raises them with [`ScalingBackend::set_desired`]. Each provider (the
//! simulator, Auto Scaling on AWS) implements the trait in its own module; the executor only
//! sees the trait. Like [`super::TrafficBackend`], nothing here retries beyond the SDK: the
//! executor owns the retry policy.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::BackendError;
use crate::model::{Region, Topology};

/// One Auto Scaling group: its region and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupRef {
    /// The region the group lives in.
    pub region: Region,
    /// The group's name.
    pub group: String,
}

impl std::fmt::Display for GroupRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "group {} in {}", self.group, self.region)
    }
}

/// What the provider reports about a group now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// Desired capacity (instances).
    pub desired: u32,
    /// Minimum size.
    pub min: u32,
    /// Maximum size.
    pub max: u32,
    /// Instances in the `InService` lifecycle state.
    pub in_service: u32,
}

/// A provider of Auto Scaling groups.
///
/// Guarantees asked of implementations: `describe` returns what the provider holds now for
/// every group asked, and a group that does not exist is a permanent error naming it;
/// `set_desired` sets the absolute desired capacity (idempotent; the executor never asks for
/// more than the max size); neither retries beyond its SDK.
#[async_trait]
pub trait ScalingBackend: Send + Sync {
    /// Describes the groups (all of them, or an error).
    async fn describe(
        &self,
        groups: &[GroupRef],
    ) -> Result<BTreeMap<GroupRef, GroupState>, BackendError>;

    /// Sets a group's desired capacity.
    async fn set_desired(&self, group: &GroupRef, desired: u32) -> Result<(), BackendError>;
}

#[async_trait]
impl<T: ScalingBackend + ?Sized> ScalingBackend for std::sync::Arc<T> {
    async fn describe(
        &self,
        groups: &[GroupRef],
    ) -> Result<BTreeMap<GroupRef, GroupState>, BackendError> {
        (**self).describe(groups).await
    }

    async fn set_desired(&self, group: &GroupRef, desired: u32) -> Result<(), BackendError> {
        (**self).set_desired(group, desired).await
    }
}

/// Every group the topology binds, with the services bound to it.
pub fn bound_groups(topology: &Topology) -> BTreeMap<GroupRef, Vec<String>> {
    let mut out: BTreeMap<GroupRef, Vec<String>> = BTreeMap::new();
    for service in topology.services.values() {
        for (region, binding) in &service.autoscaling {
            out.entry(GroupRef {
                region: region.clone(),
                group: binding.group.clone(),
            })
            .or_default()
            .push(service.name.clone());
        }
    }
    out
}
