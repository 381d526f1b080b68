//! Auto Scaling groups through the Auto Scaling API: `DescribeAutoScalingGroups` (batched,
//! one call per region per 50 names) and `SetDesiredCapacity` (`HonorCooldown=false`: kong
//! scales ahead of a traffic shift, a cooldown left by the group's own policies must not
//! delay it). One client per region. Nothing here retries an error: the executor does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::{Region as SdkRegion, SdkConfig};
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::LifecycleState;
use futures::future::join_all;
use tokio::sync::OnceCell;

use super::AwsSettings;
use super::calls::{Call, CallLog, all_ok};
use super::config;
use crate::backend::BackendError;
use crate::backend::scaling::{GroupRef, GroupState, ScalingBackend};

const SERVICE: &str = "autoscaling";
/// `DescribeAutoScalingGroups` returns at most 50 groups per page by default: asking for 50
/// names at a time keeps every answer on one page.
const NAMES_PER_CALL: usize = 50;

/// Auto Scaling groups on AWS (or an emulator).
pub struct AwsScaling {
    settings: AwsSettings,
    sdk: OnceCell<SdkConfig>,
    clients: Mutex<HashMap<String, Client>>,
    calls: Arc<CallLog>,
}

impl AwsScaling {
    /// Groups reached with `settings` (the SDK configuration is loaded on first use).
    pub fn new(settings: AwsSettings) -> AwsScaling {
        let calls = Arc::new(CallLog::new(settings.credentials_hint()));
        AwsScaling {
            settings,
            sdk: OnceCell::new(),
            clients: Mutex::new(HashMap::new()),
            calls,
        }
    }

    async fn client(&self, region: &str) -> Client {
        let sdk = self
            .sdk
            .get_or_init(|| async { config::load(&self.settings).await })
            .await;
        lock(&self.clients)
            .entry(region.to_string())
            .or_insert_with(|| {
                Client::from_conf(
                    aws_sdk_autoscaling::config::Builder::from(sdk)
                        .region(SdkRegion::new(region.to_string()))
                        .build(),
                )
            })
            .clone()
    }

    /// One `DescribeAutoScalingGroups` call for up to [`NAMES_PER_CALL`] groups of a region.
    async fn describe_some(
        &self,
        region: &str,
        names: &[&str],
    ) -> Result<Vec<(GroupRef, GroupState)>, BackendError> {
        let client = self.client(region).await;
        let target = format!("{} in {region}", names.join(","));
        let out = self
            .calls
            .run(
                Call {
                    service: SERVICE,
                    operation: "DescribeAutoScalingGroups",
                    target: &target,
                    dials: "",
                },
                client
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names(Some(
                        names.iter().map(|n| n.to_string()).collect(),
                    ))
                    .send(),
            )
            .await?;
        let mut found = Vec::new();
        for name in names {
            let Some(group) = out
                .auto_scaling_groups()
                .iter()
                .find(|g| g.auto_scaling_group_name() == Some(*name))
            else {
                return Err(BackendError::permanent(
                    "DescribeAutoScalingGroups",
                    &format!("group {name} in {region}"),
                    format!(
                        "Auto Scaling group {name} does not exist in {region} (named by the topology's autoscaling)"
                    ),
                ));
            };
            let count = |v: Option<i32>| v.unwrap_or(0).max(0) as u32;
            let in_service = group
                .instances()
                .iter()
                .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
                .count() as u32;
            found.push((
                GroupRef {
                    region: region.to_string(),
                    group: name.to_string(),
                },
                GroupState {
                    desired: count(group.desired_capacity()),
                    min: count(group.min_size()),
                    max: count(group.max_size()),
                    in_service,
                },
            ));
        }
        Ok(found)
    }

    /// AWS calls made so far, per `service:Operation`.
    pub fn api_calls(&self) -> BTreeMap<String, u64> {
        self.calls.counts()
    }
}

#[async_trait]
impl ScalingBackend for AwsScaling {
    async fn describe(
        &self,
        groups: &[GroupRef],
    ) -> Result<BTreeMap<GroupRef, GroupState>, BackendError> {
        let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for g in groups {
            let names = by_region.entry(g.region.as_str()).or_default();
            if !names.contains(&g.group.as_str()) {
                names.push(&g.group);
            }
        }
        let calls = by_region.iter().flat_map(|(region, names)| {
            names
                .chunks(NAMES_PER_CALL)
                .map(move |chunk| self.describe_some(region, chunk))
        });
        let found = all_ok(join_all(calls).await)?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn set_desired(&self, group: &GroupRef, desired: u32) -> Result<(), BackendError> {
        let client = self.client(&group.region).await;
        let target = group.to_string();
        let desired = i32::try_from(desired).map_err(|_| {
            BackendError::permanent(
                "SetDesiredCapacity",
                &target,
                format!("desired capacity {desired} is out of range"),
            )
        })?;
        self.calls
            .run(
                Call {
                    service: SERVICE,
                    operation: "SetDesiredCapacity",
                    target: &target,
                    dials: "",
                },
                client
                    .set_desired_capacity()
                    .auto_scaling_group_name(&group.group)
                    .desired_capacity(desired)
                    .honor_cooldown(false)
                    .send(),
            )
            .await?;
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
