//! The `aws` backend: Route 53 and ALB dials through the official AWS SDK. The `sim` dials of
//! the same topology reach the simulator through [`crate::backend::Backends`], which sends
//! each dial to the backend of its kind.
//!
//! [`AwsBackend`] routes each dial by its provider and each batch by its [`BatchKey`]. SDK clients are built on first use, inside the
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

use crate::backend::{BackendError, Batch, BatchKey, Receipt, TrafficBackend, validate_batch};
use crate::model::{Dial, DialKind, Topology, Weights};

use alb::{AlbDials, ForwardDial};
use calls::CallLog;
pub use config::AwsSettings;
use route53::{RecordDial, Route53Dials};

/// Route 53 and ELBv2 dials on AWS (or an emulator).
pub struct AwsBackend {
    topology: Arc<Topology>,
    settings: AwsSettings,
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
}

impl AwsBackend {
    /// The backend of the Route 53 and ALB dials of `topology` (shared, not copied).
    pub fn new(topology: Arc<Topology>, settings: AwsSettings) -> AwsBackend {
        let calls = Arc::new(CallLog::new(settings.credentials_hint()));
        AwsBackend {
            topology,
            settings,
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

    /// The dials `dial_refs`, sorted by provider: Route 53 records and ALB forwards.
    fn sorted<'a>(
        &'a self,
        operation: &str,
        dial_refs: impl IntoIterator<Item = &'a String>,
    ) -> Result<(Vec<RecordDial<'a>>, Vec<ForwardDial<'a>>), BackendError> {
        let mut records = Vec::new();
        let mut forwards = Vec::new();
        for dial_ref in dial_refs {
            match self.find(operation, dial_ref)? {
                Routed::Route53(d) => records.push(d),
                Routed::Alb(d) => forwards.push(d),
            }
        }
        Ok((records, forwards))
    }

    fn find<'a>(&'a self, operation: &str, dial_ref: &'a str) -> Result<Routed<'a>, BackendError> {
        let (_, dial): (_, &Dial) = self.topology.find_dial(dial_ref).ok_or_else(|| {
            BackendError::permanent(operation, dial_ref, "no such dial in the topology")
        })?;
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
            DialKind::Alb { region, target } => Routed::Alb(ForwardDial {
                dial_ref,
                region,
                target,
                members: &dial.members,
            }),
            DialKind::Sim => {
                return Err(BackendError::permanent(
                    operation,
                    dial_ref,
                    "a sim dial is not served by the aws backend",
                ));
            }
        })
    }
}

#[async_trait]
impl TrafficBackend for AwsBackend {
    fn name(&self) -> &'static str {
        "aws"
    }

    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError> {
        let (records, forwards) = self.sorted("read", dials)?;
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
        let (route53, alb) = tokio::join!(route53, alb);
        let mut weights = route53?;
        weights.extend(alb?);
        Ok(weights)
    }

    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError> {
        validate_batch(&self.topology, batch)?;
        // One batch key: every dial is of the provider the key names.
        let (records, forwards) = self.sorted("apply", batch.weights.keys())?;
        let change_id = match &batch.key {
            BatchKey::HostedZone(zone) => {
                let ids = self
                    .clients()
                    .await
                    .route53
                    .apply(route53::zone_id(zone), &batch.weights, &records)
                    .await?;
                Some(ids.join(" "))
            }
            BatchKey::Listener(_) | BatchKey::Rule(_) => {
                self.clients()
                    .await
                    .alb
                    .apply(&batch.weights, &forwards)
                    .await?;
                None
            }
            BatchKey::SimDial(d) => {
                return Err(BackendError::permanent(
                    "apply",
                    d,
                    "a sim dial is not served by the aws backend",
                ));
            }
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
