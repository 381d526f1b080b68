//! The `aws` backend: Route 53 and ALB dials through the official AWS SDK, `sim` dials of
//! the same topology in the embedded simulator.
//!
//! [`AwsBackend`] routes each dial by its kind and each batch by its [`BatchKey`]; the executor
//! sees one [`TrafficBackend`] named `aws`. SDK clients are built on first use, inside the
//! runtime that makes the calls (credentials and region are resolved then, not when the
//! command starts). It never retries: every call is one attempt, classified transient or
//! permanent for the executor's back-off (see [`config`] for why the SDK's own retries are off).

pub mod alb;
pub mod autoscaling;
pub mod calls;
pub mod config;
pub mod limiter;
pub mod route53;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::backend::sim::SimBackend;
use crate::backend::{BackendError, Batch, BatchKey, Receipt, TrafficBackend, batch_key};
use crate::model::{Dial, DialKind, Topology, Weights};

use alb::{AlbDials, ForwardDial, Target};
use calls::CallLog;
pub use config::AwsSettings;
use route53::{RecordDial, Route53Dials};

/// Route 53 and ELBv2 dials on AWS (or an emulator), simulator dials in the simulator.
pub struct AwsBackend {
    topology: Topology,
    settings: AwsSettings,
    sim: Option<SimBackend>,
    calls: Arc<CallLog>,
    clients: OnceCell<Clients>,
}

struct Clients {
    route53: Route53Dials,
    alb: AlbDials,
}

/// One dial of a read or apply, sorted by provider.
enum Routed<'a> {
    Route53(RecordDial<'a>),
    Alb(ForwardDial<'a>),
    Sim,
}

impl AwsBackend {
    /// The backend for `topology`; `sim` serves its `sim` dials (`None` when it has none).
    pub fn new(topology: &Topology, settings: AwsSettings, sim: Option<SimBackend>) -> AwsBackend {
        let calls = Arc::new(CallLog::new(settings.credentials_hint()));
        AwsBackend {
            topology: topology.clone(),
            settings,
            sim,
            calls,
            clients: OnceCell::new(),
        }
    }

    /// AWS calls made so far, per `service:Operation` (every attempt counts).
    pub fn api_calls(&self) -> BTreeMap<String, u64> {
        self.calls.counts()
    }

    async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async {
                let sdk = config::load(&self.settings).await;
                let route53 = aws_sdk_route53::Client::from_conf(
                    aws_sdk_route53::config::Builder::from(&sdk)
                        .region(aws_config::Region::new(config::ROUTE53_REGION))
                        .build(),
                );
                Clients {
                    route53: Route53Dials::new(
                        route53,
                        self.settings.route53_rate,
                        self.calls.clone(),
                        self.settings.sync_timeout,
                    ),
                    alb: AlbDials::new(sdk, self.calls.clone()),
                }
            })
            .await
    }

    fn find<'a>(&'a self, operation: &str, dial_ref: &'a str) -> Result<Routed<'a>, BackendError> {
        let (_, dial): (_, &Dial) = self
            .topology
            .find_dial(dial_ref)
            .ok_or_else(|| permanent(operation, dial_ref, "no such dial in the topology"))?;
        Ok(match &dial.kind {
            DialKind::Route53 {
                hosted_zone_id,
                record,
                record_type,
            } => Routed::Route53(RecordDial {
                dial_ref,
                zone: route53::zone_id(hosted_zone_id),
                record,
                record_type,
                members: &dial.members,
            }),
            DialKind::Alb {
                region,
                listener_arn,
                rule_arn,
            } => {
                let target = match (rule_arn, listener_arn) {
                    (Some(rule), _) => Target::Rule(rule),
                    (None, Some(listener)) => Target::Listener(listener),
                    (None, None) => {
                        return Err(permanent(
                            operation,
                            dial_ref,
                            "an alb dial needs a listener_arn or a rule_arn",
                        ));
                    }
                };
                Routed::Alb(ForwardDial {
                    dial_ref,
                    region,
                    target,
                    members: &dial.members,
                })
            }
            DialKind::Sim => Routed::Sim,
        })
    }

    fn sim(&self, operation: &str, target: &str) -> Result<&SimBackend, BackendError> {
        self.sim
            .as_ref()
            .ok_or_else(|| permanent(operation, target, "no simulator for the sim dials"))
    }

    /// Refuses what no provider should be asked: weights out of range, or every member of a
    /// dial at 0 (Route 53 then spreads traffic evenly, which would undo an evacuation).
    fn check(&self, batch: &Batch) -> Result<(), BackendError> {
        let target = batch.key.to_string();
        for (dial_ref, weights) in &batch.weights {
            let key = batch_key(&self.topology, dial_ref);
            if key != batch.key {
                return Err(permanent(
                    "apply",
                    &target,
                    format!("dial {dial_ref} belongs to {key}, not to this batch"),
                ));
            }
            if !weights.is_empty() && weights.values().all(|w| *w == 0) {
                return Err(permanent(
                    "apply",
                    &target,
                    format!(
                        "every member of dial {dial_ref} would be 0, which spreads traffic evenly"
                    ),
                ));
            }
            let dial = self.topology.find_dial(dial_ref).map(|(_, d)| d);
            if let Some(dial) = dial
                && let Some((member, w)) = weights.iter().find(|(_, w)| **w > dial.max_weight())
            {
                return Err(permanent(
                    "apply",
                    &target,
                    format!(
                        "weight {w} of {dial_ref} member {member} is out of range 0..={}",
                        dial.max_weight()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TrafficBackend for AwsBackend {
    fn name(&self) -> &'static str {
        "aws"
    }

    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError> {
        let mut records = Vec::new();
        let mut forwards = Vec::new();
        let mut sims = Vec::new();
        for dial_ref in dials {
            match self.find("read", dial_ref)? {
                Routed::Route53(d) => records.push(d),
                Routed::Alb(d) => forwards.push(d),
                Routed::Sim => sims.push(dial_ref.clone()),
            }
        }
        let route53 = async {
            if records.is_empty() {
                Ok(Weights::new())
            } else {
                self.clients().await.route53.read(&records).await
            }
        };
        let alb = async {
            if forwards.is_empty() {
                Ok(Weights::new())
            } else {
                self.clients().await.alb.read(&forwards).await
            }
        };
        let sim = async {
            if sims.is_empty() {
                Ok(Weights::new())
            } else {
                self.sim("read", &sims.join(","))?.read(&sims).await
            }
        };
        let (route53, alb, sim) = tokio::join!(route53, alb, sim);
        let mut weights = route53?;
        weights.extend(alb?);
        weights.extend(sim?);
        Ok(weights)
    }

    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError> {
        self.check(batch)?;
        let dials = batch
            .weights
            .keys()
            .map(|d| self.find("apply", d))
            .collect::<Result<Vec<_>, _>>()?;
        let change_id = match &batch.key {
            BatchKey::HostedZone(zone) => {
                let records: Vec<RecordDial<'_>> = dials
                    .into_iter()
                    .filter_map(|d| match d {
                        Routed::Route53(r) => Some(r),
                        _ => None,
                    })
                    .collect();
                let ids = self
                    .clients()
                    .await
                    .route53
                    .apply(route53::zone_id(zone), &batch.weights, &records)
                    .await?;
                Some(ids.join(" "))
            }
            BatchKey::Listener(_) | BatchKey::Rule(_) => {
                let forwards: Vec<ForwardDial<'_>> = dials
                    .into_iter()
                    .filter_map(|d| match d {
                        Routed::Alb(f) => Some(f),
                        _ => None,
                    })
                    .collect();
                self.clients()
                    .await
                    .alb
                    .apply(&batch.weights, &forwards)
                    .await?;
                None
            }
            BatchKey::SimDial(d) => return self.sim("apply", d)?.apply(batch).await,
        };
        Ok(Receipt {
            key: batch.key.clone(),
            change_id,
        })
    }

    async fn wait_propagated(&self, receipt: &Receipt) -> Result<(), BackendError> {
        match (&receipt.key, &receipt.change_id) {
            (BatchKey::HostedZone(zone), Some(ids)) => {
                let ids: Vec<String> = ids.split_whitespace().map(str::to_string).collect();
                self.clients()
                    .await
                    .route53
                    .wait(route53::zone_id(zone), &ids)
                    .await
            }
            (BatchKey::SimDial(d), _) => self.sim("wait", d)?.wait_propagated(receipt).await,
            // ELBv2 has no change status: a modify call that returned is in effect.
            _ => Ok(()),
        }
    }
}

/// Members a dial declares that the provider does not have (`missing`), and members the
/// provider has that the dial does not declare (`undeclared`), each in id order: the two ways
/// a provider's dial and the topology's can disagree.
fn member_mismatch<'a, V, W>(
    declared: &'a BTreeMap<String, V>,
    found: &'a BTreeMap<String, W>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let missing = declared
        .keys()
        .filter(|m| !found.contains_key(*m))
        .map(String::as_str)
        .collect();
    let undeclared = found
        .keys()
        .filter(|m| !declared.contains_key(*m))
        .map(String::as_str)
        .collect();
    (missing, undeclared)
}

fn permanent(operation: &str, target: &str, message: impl Into<String>) -> BackendError {
    BackendError::Permanent {
        operation: operation.to_string(),
        target: target.to_string(),
        message: message.into(),
    }
}
