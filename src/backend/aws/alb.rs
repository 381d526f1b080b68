//! ALB listeners and listener rules as dials: one member per target group of the weighted
//! forward action.
//!
//! A read is `DescribeListeners` (the listener's default actions) or `DescribeRules` (the
//! rule's actions); an apply is `ModifyListener` / `ModifyRule` with the action list exactly
//! as last read but for the weights of the forward action's target groups: stickiness, other
//! actions (authentication, ...), their order and the rule's conditions are left as they are.
//! ELBv2 has no change status to wait on: a modify call that returned is in effect. Nothing
//! here retries an error: the executor does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_config::{Region as SdkRegion, SdkConfig};
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
};
use futures::future::join_all;

use super::calls::{Call, CallLog, all_ok};
use crate::backend::BackendError;
use crate::model::{AlbTarget, DialWeights, MemberId, Region, Weights};

const SERVICE: &str = "elasticloadbalancing";

/// An ALB dial of the topology.
#[derive(Debug, Clone)]
pub struct ForwardDial<'a> {
    /// `service/dial`.
    pub dial_ref: &'a str,
    /// The load balancer's region.
    pub region: &'a str,
    /// The listener or rule.
    pub target: &'a AlbTarget,
    /// Target group ARN -> the region serving it.
    pub members: &'a BTreeMap<MemberId, Region>,
}

/// Reads and writes weighted forward actions.
pub struct AlbDials {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
    calls: Arc<CallLog>,
    /// The action list of each listener or rule as last read or written, by ARN.
    actions: Mutex<HashMap<String, Vec<Action>>>,
}

impl AlbDials {
    /// ELBv2 with the shared SDK configuration; each dial's region gets its own client.
    pub fn new(sdk: SdkConfig, calls: Arc<CallLog>) -> AlbDials {
        AlbDials {
            sdk,
            clients: Mutex::new(HashMap::new()),
            calls,
            actions: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &str) -> Client {
        lock(&self.clients)
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(&self.sdk)
                    .region(SdkRegion::new(region.to_string()))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// Live weights of `dials`, one describe call each, concurrently.
    pub async fn read(&self, dials: &[ForwardDial<'_>]) -> Result<Weights, BackendError> {
        let read = all_ok(
            join_all(dials.iter().map(|d| async move {
                let actions = self.fetch(d).await?;
                let weights = forward_weights(d, &actions)?;
                Ok::<_, BackendError>((d.dial_ref.to_string(), weights))
            }))
            .await,
        )?;
        Ok(read.into_iter().collect())
    }

    /// The action list of a dial's listener or rule, remembered for the next apply.
    async fn fetch(&self, d: &ForwardDial<'_>) -> Result<Vec<Action>, BackendError> {
        let client = self.client(d.region);
        let target = d.target.to_string();
        let actions = match d.target {
            AlbTarget::Listener(arn) => {
                let out = self
                    .calls
                    .run(
                        Call {
                            service: SERVICE,
                            operation: "DescribeListeners",
                            target: &target,
                            dials: d.dial_ref,
                        },
                        client.describe_listeners().listener_arns(arn).send(),
                    )
                    .await?;
                out.listeners()
                    .iter()
                    .find(|l| l.listener_arn.as_deref() == Some(arn))
                    .map(|l| l.default_actions.clone().unwrap_or_default())
            }
            AlbTarget::Rule(arn) => {
                let out = self
                    .calls
                    .run(
                        Call {
                            service: SERVICE,
                            operation: "DescribeRules",
                            target: &target,
                            dials: d.dial_ref,
                        },
                        client.describe_rules().rule_arns(arn).send(),
                    )
                    .await?;
                out.rules()
                    .iter()
                    .find(|r| r.rule_arn.as_deref() == Some(arn))
                    .map(|r| r.actions.clone().unwrap_or_default())
            }
        };
        let actions = actions.ok_or_else(|| {
            BackendError::permanent(
                "Describe",
                &target,
                format!(
                    "{target} of dial {} does not exist in {}",
                    d.dial_ref, d.region
                ),
            )
        })?;
        lock(&self.actions).insert(d.target.arn().to_string(), actions.clone());
        Ok(actions)
    }

    /// Sets the target group weights of the forward action of one listener or rule (every
    /// dial of `desired` must be on it), leaving the rest of its actions as last read.
    ///
    /// Guarantees: one modify call; idempotent; nothing but weights changes.
    pub async fn apply(
        &self,
        desired: &Weights,
        dials: &[ForwardDial<'_>],
    ) -> Result<(), BackendError> {
        let Some(first) = dials.first() else {
            return Ok(());
        };
        let target = first.target.to_string();
        let arn = first.target.arn().to_string();
        let operation = match first.target {
            AlbTarget::Listener(_) => "ModifyListener",
            AlbTarget::Rule(_) => "ModifyRule",
        };
        let cached = lock(&self.actions).get(&arn).cloned();
        let actions = match cached {
            Some(a) => a,
            None => self.fetch(first).await?,
        };
        let mut weights: BTreeMap<&str, u32> = BTreeMap::new();
        for w in desired.values() {
            weights.extend(w.iter().map(|(m, w)| (m.as_str(), *w)));
        }
        let actions = with_weights(actions, &weights)
            .map_err(|message| BackendError::permanent(operation, &target, message))?;
        let client = self.client(first.region);
        let dial_names = desired.keys().cloned().collect::<Vec<_>>().join(",");
        let call = Call {
            service: SERVICE,
            operation,
            target: &target,
            dials: &dial_names,
        };
        let sent = match first.target {
            AlbTarget::Listener(arn) => self
                .calls
                .run(
                    call,
                    client
                        .modify_listener()
                        .listener_arn(arn)
                        .set_default_actions(Some(actions.clone()))
                        .send(),
                )
                .await
                .map(|_| ()),
            AlbTarget::Rule(arn) => self
                .calls
                .run(
                    call,
                    client
                        .modify_rule()
                        .rule_arn(arn)
                        .set_actions(Some(actions.clone()))
                        .send(),
                )
                .await
                .map(|_| ()),
        };
        let mut cache = lock(&self.actions);
        match sent {
            Ok(()) => {
                cache.insert(arn, actions);
                Ok(())
            }
            Err(e) => {
                // Applied or not is unknown: read again before the next attempt.
                cache.remove(&arn);
                Err(e)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The forward action of an action list (at most one: ELBv2 requires the routing action to be
/// the last and only one).
fn forward(actions: &[Action]) -> Option<&Action> {
    actions
        .iter()
        .find(|a| a.r#type.as_ref() == Some(&ActionTypeEnum::Forward))
}

/// Target group ARN -> weight of a forward action; a plain `TargetGroupArn` has weight 1.
fn action_weights(action: &Action) -> Vec<(String, u32)> {
    let tuples = action
        .forward_config
        .as_ref()
        .and_then(|f| f.target_groups.as_deref())
        .unwrap_or_default();
    if tuples.is_empty() {
        return action
            .target_group_arn
            .iter()
            .map(|arn| (arn.clone(), 1))
            .collect();
    }
    tuples
        .iter()
        .filter_map(|t| {
            let weight = t.weight.map_or(1, |w| u32::try_from(w).unwrap_or(0));
            t.target_group_arn.clone().map(|arn| (arn, weight))
        })
        .collect()
}

/// The member weights of a dial from its action list, or why they do not make the dial.
fn forward_weights(d: &ForwardDial<'_>, actions: &[Action]) -> Result<DialWeights, BackendError> {
    let target = d.target.to_string();
    let fail = |message: String| BackendError::permanent("Describe", &target, message);
    let Some(action) = forward(actions) else {
        return Err(fail(format!(
            "{target} of dial {} has no forward action",
            d.dial_ref
        )));
    };
    let weights: DialWeights = action_weights(action).into_iter().collect();
    let (missing, undeclared) = super::member_mismatch(d.members, &weights);
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "does not send to target group {} of dial {}",
            missing.join(", "),
            d.dial_ref
        ));
    }
    if !undeclared.is_empty() {
        problems.push(format!(
            "sends to target group {}, which dial {} does not declare (add it to the dial's \
             members: its traffic would be unaccounted for)",
            undeclared.join(", "),
            d.dial_ref
        ));
    }
    if !problems.is_empty() {
        return Err(fail(format!(
            "the forward action of {target} {}",
            problems.join(" and ")
        )));
    }
    Ok(weights)
}

/// `actions` with the forward action's target group weights set from `weights` (which must
/// name every target group it has); everything else as it was.
fn with_weights(
    mut actions: Vec<Action>,
    weights: &BTreeMap<&str, u32>,
) -> Result<Vec<Action>, String> {
    let Some(action) = actions
        .iter_mut()
        .find(|a| a.r#type.as_ref() == Some(&ActionTypeEnum::Forward))
    else {
        return Err("no forward action".to_string());
    };
    let weight_of = |arn: &str| {
        weights
            .get(arn)
            .map(|w| *w as i32)
            .ok_or_else(|| format!("no weight given for target group {arn}"))
    };
    let has_tuples = action
        .forward_config
        .as_ref()
        .and_then(|f| f.target_groups.as_ref())
        .is_some_and(|t| !t.is_empty());
    if has_tuples {
        if let Some(tuples) = action
            .forward_config
            .as_mut()
            .and_then(|f| f.target_groups.as_mut())
        {
            for tuple in tuples {
                if let Some(arn) = tuple.target_group_arn.clone() {
                    tuple.weight = Some(weight_of(&arn)?);
                }
            }
        }
    } else if let Some(arn) = action.target_group_arn.clone() {
        // A plain single-target-group forward: weights need a ForwardConfig.
        let tuple = TargetGroupTuple::builder()
            .target_group_arn(&arn)
            .weight(weight_of(&arn)?)
            .build();
        let config = ForwardActionConfig::builder().target_groups(tuple).build();
        action.forward_config = Some(config);
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticloadbalancingv2::types::{
        AuthenticateOidcActionConfig, TargetGroupStickinessConfig,
    };

    use super::*;

    fn actions() -> Vec<Action> {
        let oidc = Action::builder()
            .r#type(ActionTypeEnum::AuthenticateOidc)
            .order(1)
            .authenticate_oidc_config(
                AuthenticateOidcActionConfig::builder()
                    .issuer("https://idp")
                    .build(),
            )
            .build();
        let forward = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .order(2)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn("tg-a")
                            .weight(100)
                            .build(),
                    )
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn("tg-b")
                            .weight(0)
                            .build(),
                    )
                    .target_group_stickiness_config(
                        TargetGroupStickinessConfig::builder()
                            .enabled(true)
                            .duration_seconds(300)
                            .build(),
                    )
                    .build(),
            )
            .build();
        vec![oidc, forward]
    }

    #[test]
    fn only_the_weights_change() {
        let before = actions();
        let after = with_weights(before.clone(), &[("tg-a", 40), ("tg-b", 60)].into()).unwrap();
        assert_eq!(after[0], before[0], "other actions are kept");
        let mut expected = before[1].clone();
        if let Some(t) = expected
            .forward_config
            .as_mut()
            .and_then(|f| f.target_groups.as_mut())
        {
            t[0].weight = Some(40);
            t[1].weight = Some(60);
        }
        assert_eq!(after[1], expected, "stickiness and order are kept");
        assert_eq!(
            action_weights(&after[1]),
            [("tg-a".to_string(), 40), ("tg-b".to_string(), 60)]
        );
    }

    #[test]
    fn a_missing_weight_is_refused() {
        let err = with_weights(actions(), &[("tg-a", 40)].into()).unwrap_err();
        assert!(err.contains("tg-b"), "{err}");
    }

    #[test]
    fn undeclared_target_groups_are_refused_with_names() {
        let members: BTreeMap<String, String> =
            [("tg-a".to_string(), "us-east-1".to_string())].into();
        let d = ForwardDial {
            dial_ref: "svc/alb",
            region: "us-east-1",
            target: &AlbTarget::Listener("arn:l".to_string()),
            members: &members,
        };
        let err = forward_weights(&d, &actions()).unwrap_err().to_string();
        assert!(err.contains("tg-b") && err.contains("svc/alb"), "{err}");
        let err = forward_weights(&d, &actions()[..1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no forward action"), "{err}");
    }
}
