//! The simulator's Auto Scaling groups: part of the world, persisted with it.
//!
//! A group raised by `set_desired` brings its new instances in service after the backend's
//! `in_service_delay` (tokio's clock, so paused tests take no time); a group lowered loses
//! its extra instances at once. Like the dials, a change is either persisted or not made.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::SimBackend;
use super::world::group_key;
use crate::backend::BackendError;
use crate::backend::scaling::{GroupRef, GroupState, ScalingBackend};

#[async_trait]
impl ScalingBackend for SimBackend {
    async fn describe(
        &self,
        groups: &[GroupRef],
    ) -> Result<BTreeMap<GroupRef, GroupState>, BackendError> {
        if !self.read_latency.is_zero() {
            tokio::time::sleep(self.read_latency).await;
        }
        let mut state = self.state.lock().await;
        state.stats.reads += 1;
        let now = tokio::time::Instant::now();
        let mut out = BTreeMap::new();
        for g in groups {
            let key = group_key(&g.region, &g.group);
            if state.pending.get(&key).is_some_and(|at| *at <= now) {
                state.pending.remove(&key);
                if let Some(group) = state.world.groups.get_mut(&key) {
                    group.in_service = group.desired;
                }
            }
            let group = state.world.groups.get(&key).ok_or_else(|| {
                BackendError::permanent(
                    "DescribeAutoScalingGroups",
                    &g.to_string(),
                    format!(
                        "Auto Scaling group {} does not exist in {}",
                        g.group, g.region
                    ),
                )
            })?;
            out.insert(
                g.clone(),
                GroupState {
                    desired: group.desired,
                    min: group.min,
                    max: group.max,
                    in_service: group.in_service,
                },
            );
        }
        Ok(out)
    }

    async fn set_desired(&self, g: &GroupRef, desired: u32) -> Result<(), BackendError> {
        if !self.api_latency.is_zero() {
            tokio::time::sleep(self.api_latency).await;
        }
        let target = g.to_string();
        let key = group_key(&g.region, &g.group);
        let mut state = self.state.lock().await;
        if state.fails_left > 0 {
            state.fails_left -= 1;
            state.stats.failed_applies += 1;
            return Err(BackendError::transient(
                "SetDesiredCapacity",
                &target,
                "injected failure".to_string(),
            ));
        }
        let Some(previous) = state.world.groups.get(&key).copied() else {
            state.stats.failed_applies += 1;
            return Err(BackendError::permanent(
                "SetDesiredCapacity",
                &target,
                format!(
                    "Auto Scaling group {} does not exist in {}",
                    g.group, g.region
                ),
            ));
        };
        if desired > previous.max || desired < previous.min {
            state.stats.failed_applies += 1;
            return Err(BackendError::permanent(
                "SetDesiredCapacity",
                &target,
                format!(
                    "desired capacity {desired} is outside the group's min..max {}..{}",
                    previous.min, previous.max
                ),
            ));
        }
        let mut group = previous;
        group.desired = desired;
        if desired <= group.in_service {
            group.in_service = desired;
            state.pending.remove(&key);
        } else if self.in_service_delay.is_zero() {
            group.in_service = desired;
        } else {
            let at = tokio::time::Instant::now() + self.in_service_delay;
            state.pending.insert(key.clone(), at);
        }
        state.world.groups.insert(key.clone(), group);
        if let Err(e) = self.write(&mut state, &[]).await {
            state.world.groups.insert(key, previous);
            state.stats.failed_applies += 1;
            return Err(BackendError::transient(
                "SetDesiredCapacity",
                &target,
                format!("cannot write simulator state: {e}"),
            ));
        }
        state.stats.applies += 1;
        Ok(())
    }
}
