//! Traffic backends: where dial weights are read and written.
//!
//! Each provider (the simulator, Route 53, ELBv2) lives in its own module behind
//! [`TrafficBackend`]; the executor only sees the trait. Batching is decided here, once, from
//! the dial's coordinates: one batch per Route 53 hosted zone, one per ALB listener or rule,
//! one per simulator dial, so that a step costs as few API calls as the providers allow.

pub mod aws;
mod dispatch;
mod rules;
pub mod scaling;
pub mod sim;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::{AlbTarget, DialKind, Topology, Weights};
use crate::retry::RetryPolicy;

pub use dispatch::Backends;
pub use rules::validate_batch;

/// Member weights of one dial (defined in `model`, re-exported for the paths in use).
pub use crate::model::DialWeights;

/// The unit a provider applies atomically in one call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BatchKey {
    /// One `ChangeResourceRecordSets` call per hosted zone.
    HostedZone(String),
    /// One `ModifyListener` call per listener.
    Listener(String),
    /// One `ModifyRule` call per rule.
    Rule(String),
    /// One simulator call per simulated dial (`service/dial`).
    SimDial(String),
}

impl std::fmt::Display for BatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchKey::HostedZone(z) => write!(f, "hosted zone {z}"),
            BatchKey::Listener(l) => write!(f, "listener {l}"),
            BatchKey::Rule(r) => write!(f, "rule {r}"),
            BatchKey::SimDial(d) => write!(f, "sim dial {d}"),
        }
    }
}

/// Desired weights for a set of dials that one provider call applies together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// What the batch is applied to.
    pub key: BatchKey,
    /// `service/dial` -> member -> desired weight (complete for each dial listed).
    pub weights: Weights,
}

/// Proof that a batch was accepted, to wait on for propagation (e.g. a Route 53 change id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The batch applied.
    pub key: BatchKey,
    /// The provider's change id, when it has one.
    pub change_id: Option<String>,
}

/// What went wrong talking to a provider.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The call may succeed if retried (throttling, 5xx, timeouts, injected faults).
    #[error("{operation} on {target} failed (transient): {message}")]
    Transient {
        /// The provider operation, e.g. `ChangeResourceRecordSets`.
        operation: String,
        /// What it was applied to.
        target: String,
        /// The provider's message.
        message: String,
    },
    /// Retrying will not help (missing resource, access denied, invalid request).
    #[error("{operation} on {target} failed: {message}")]
    Permanent {
        /// The provider operation.
        operation: String,
        /// What it was applied to.
        target: String,
        /// The provider's message.
        message: String,
    },
}

impl BackendError {
    /// An error a retry may clear.
    pub fn transient(operation: &str, target: &str, message: impl Into<String>) -> Self {
        BackendError::Transient {
            operation: operation.to_string(),
            target: target.to_string(),
            message: message.into(),
        }
    }

    /// An error retrying cannot clear.
    pub fn permanent(operation: &str, target: &str, message: impl Into<String>) -> Self {
        BackendError::Permanent {
            operation: operation.to_string(),
            target: target.to_string(),
            message: message.into(),
        }
    }

    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Transient { .. })
    }
}

/// A provider of traffic dials.
///
/// Guarantees asked of implementations: `apply` sets absolute weights (idempotent: applying
/// the same batch twice leaves the same state), `read` returns what the provider really holds
/// now, and neither retries internally beyond what its SDK already does: callers retry
/// transient errors with one policy (the executor for its calls, [`read_all`] for reads of
/// every dial).
#[async_trait]
pub trait TrafficBackend: Send + Sync {
    /// `sim` or `aws`, printed in every command's first line.
    fn name(&self) -> &'static str;

    /// Reads the live weights of the named dials (`service/dial`).
    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError>;

    /// Applies one batch.
    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError>;

    /// Waits until the provider reports the change in sync (Route 53 `INSYNC`).
    async fn wait_propagated(&self, receipt: &Receipt) -> Result<(), BackendError>;
}

#[async_trait]
impl<T: TrafficBackend + ?Sized> TrafficBackend for std::sync::Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError> {
        (**self).read(dials).await
    }

    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError> {
        (**self).apply(batch).await
    }

    async fn wait_propagated(&self, receipt: &Receipt) -> Result<(), BackendError> {
        (**self).wait_propagated(receipt).await
    }
}

/// Every dial of every service, as `service/dial`.
pub fn all_dials(topology: &Topology) -> Vec<String> {
    topology
        .services
        .values()
        .flat_map(|s| {
            s.dials
                .iter()
                .map(move |d| crate::model::dial_ref(&s.name, &d.id))
        })
        .collect()
}

/// Reads the live weights of every dial of `topology`, retrying transient errors (a
/// throttled or dropped call) with the default [`RetryPolicy`], the executor's.
pub async fn read_all(
    backend: &dyn TrafficBackend,
    topology: &Topology,
) -> Result<Weights, BackendError> {
    let dials = all_dials(topology);
    RetryPolicy::default()
        .call("reading live weights", || backend.read(&dials))
        .await
}

/// Groups desired dial weights (`service/dial` -> member -> weight) into provider batches,
/// in a stable order.
pub fn batches(topology: &Topology, desired: &Weights) -> Vec<Batch> {
    let mut by_key: BTreeMap<BatchKey, Weights> = BTreeMap::new();
    for (dial_ref, weights) in desired {
        let key = batch_key(topology, dial_ref);
        by_key
            .entry(key)
            .or_default()
            .insert(dial_ref.clone(), weights.clone());
    }
    by_key
        .into_iter()
        .map(|(key, weights)| Batch { key, weights })
        .collect()
}

/// The batch a dial belongs to. An unknown dial gets its own simulator batch.
pub fn batch_key(topology: &Topology, dial_ref: &str) -> BatchKey {
    match topology.find_dial(dial_ref).map(|(_, d)| &d.kind) {
        Some(DialKind::Route53 { hosted_zone_id, .. }) => {
            BatchKey::HostedZone(hosted_zone_id.clone())
        }
        Some(DialKind::Alb { target, .. }) => match target {
            AlbTarget::Listener(listener) => BatchKey::Listener(listener.clone()),
            AlbTarget::Rule(rule) => BatchKey::Rule(rule.clone()),
        },
        _ => BatchKey::SimDial(dial_ref.to_string()),
    }
}
