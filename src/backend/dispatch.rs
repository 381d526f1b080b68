//! The traffic backend of a run: one [`TrafficBackend`] that sends each dial to the backend
//! of its kind, as [`crate::checks::Sources`] sends each check to the source its `source:`
//! names. Route 53 and ALB dials go to the `aws` backend, `sim` dials to the simulator;
//! adding a provider touches this file and the provider's own module, nothing in the
//! executor.

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{DialKind, Topology, Weights};

use super::{BackendError, Batch, BatchKey, Receipt, TrafficBackend};

/// The backends of a run, dispatched by each dial's kind.
pub struct Backends {
    topology: Arc<Topology>,
    /// Route 53 and ALB dials (`None` under `--backend sim`).
    aws: Option<Box<dyn TrafficBackend>>,
    /// `sim` dials (`None` when the topology has none under `--backend aws`).
    sim: Option<Box<dyn TrafficBackend>>,
}

/// Which backend serves a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Aws,
    Sim,
}

impl Backends {
    /// The backends of `topology`: `aws` for its Route 53 and ALB dials, `sim` for its `sim`
    /// dials. Named `aws` when `aws` is given, `sim` otherwise.
    pub fn new(
        topology: Arc<Topology>,
        aws: Option<Box<dyn TrafficBackend>>,
        sim: Option<Box<dyn TrafficBackend>>,
    ) -> Backends {
        Backends { topology, aws, sim }
    }

    fn kind_of_dial(&self, operation: &str, dial_ref: &str) -> Result<Kind, BackendError> {
        match self.topology.find_dial(dial_ref) {
            Some((_, dial)) => Ok(match dial.kind {
                DialKind::Sim => Kind::Sim,
                DialKind::Route53 { .. } | DialKind::Alb { .. } => Kind::Aws,
            }),
            None => Err(BackendError::permanent(
                operation,
                dial_ref,
                "no such dial in the topology",
            )),
        }
    }

    fn backend(
        &self,
        kind: Kind,
        operation: &str,
        target: &str,
    ) -> Result<&dyn TrafficBackend, BackendError> {
        let (backend, what) = match kind {
            Kind::Aws => (&self.aws, "no aws backend for the route53 and alb dials"),
            Kind::Sim => (&self.sim, "no simulator for the sim dials"),
        };
        backend
            .as_deref()
            .ok_or_else(|| BackendError::permanent(operation, target, what))
    }

    fn for_key(
        &self,
        operation: &str,
        key: &BatchKey,
    ) -> Result<&dyn TrafficBackend, BackendError> {
        let kind = match key {
            BatchKey::SimDial(_) => Kind::Sim,
            BatchKey::HostedZone(_) | BatchKey::Listener(_) | BatchKey::Rule(_) => Kind::Aws,
        };
        self.backend(kind, operation, &key.to_string())
    }
}

#[async_trait]
impl TrafficBackend for Backends {
    fn name(&self) -> &'static str {
        if self.aws.is_some() { "aws" } else { "sim" }
    }

    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError> {
        let mut aws = Vec::new();
        let mut sim = Vec::new();
        for dial_ref in dials {
            match self.kind_of_dial("read", dial_ref)? {
                Kind::Aws => aws.push(dial_ref.clone()),
                Kind::Sim => sim.push(dial_ref.clone()),
            }
        }
        let read = |kind: Kind, dials: Vec<String>| async move {
            if dials.is_empty() {
                return Ok(Weights::new());
            }
            self.backend(kind, "read", &dials.join(","))?
                .read(&dials)
                .await
        };
        let (aws, sim) = tokio::join!(read(Kind::Aws, aws), read(Kind::Sim, sim));
        let mut weights = aws?;
        weights.extend(sim?);
        Ok(weights)
    }

    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError> {
        self.for_key("apply", &batch.key)?.apply(batch).await
    }

    async fn wait_propagated(&self, receipt: &Receipt) -> Result<(), BackendError> {
        self.for_key("wait", &receipt.key)?
            .wait_propagated(receipt)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{SimBackend, SimFaults};
    use crate::backend::{batches, rules};
    use crate::model::{Weights, parse_topology};

    fn topology() -> Topology {
        parse_topology("t.yaml", rules::tests::TOPOLOGY).unwrap()
    }

    #[tokio::test]
    async fn each_dial_goes_to_the_backend_of_its_kind() {
        let t = Arc::new(topology());
        // Two simulators stand in for the two kinds: each sees only its own dials' writes.
        let aws = Arc::new(SimBackend::in_memory(t.clone(), SimFaults::default()));
        let sim = Arc::new(SimBackend::in_memory(t.clone(), SimFaults::default()));
        let backends = Backends::new(
            t.clone(),
            Some(Box::new(aws.clone())),
            Some(Box::new(sim.clone())),
        );
        assert_eq!(backends.name(), "aws");
        let desired: Weights = [
            (
                "svc/dns".to_string(),
                [("a".to_string(), 0), ("b".to_string(), 7)].into(),
            ),
            (
                "svc/sim".to_string(),
                [("a".to_string(), 0), ("b".to_string(), 9)].into(),
            ),
        ]
        .into();
        for batch in batches(&t, &desired) {
            let receipt = backends.apply(&batch).await.unwrap();
            backends.wait_propagated(&receipt).await.unwrap();
        }
        let dials = ["svc/dns".to_string(), "svc/sim".to_string()];
        let read = backends.read(&dials).await.unwrap();
        assert_eq!(read, desired);
        let on_aws = aws.read(&dials).await.unwrap();
        assert_eq!(on_aws["svc/dns"], desired["svc/dns"]);
        assert_ne!(on_aws["svc/sim"], desired["svc/sim"]);
        let on_sim = sim.read(&dials).await.unwrap();
        assert_eq!(on_sim["svc/sim"], desired["svc/sim"]);
        assert_ne!(on_sim["svc/dns"], desired["svc/dns"]);
    }

    #[tokio::test]
    async fn a_kind_without_its_backend_is_a_permanent_error() {
        let backends = Backends::new(Arc::new(topology()), None, None);
        assert_eq!(backends.name(), "sim");
        let err = backends.read(&["svc/sim".to_string()]).await.unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("no simulator"), "{err}");
        let err = backends.read(&["svc/nope".to_string()]).await.unwrap_err();
        assert!(err.to_string().contains("no such dial"), "{err}");
    }
}
