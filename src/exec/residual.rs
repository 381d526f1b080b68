//! Residual traffic: what each moved service still serves in the evacuated region after the
//! last evacuation step (and, for drills, at the end of the hold). Clients that ignore DNS
//! (hard-coded regional endpoints) are the hidden dependencies an evacuation reveals.
//!
//! Each service is measured with the playbook's `drain.query`, else its `load_query`, else
//! (on the simulator) the simulator's `requests_per_second`; a service with none of these is
//! not measured. The share is the measured requests/s over the region's declared load.

use futures::stream::{self, StreamExt};

use crate::checks::Scope;
use crate::journal::{Record, ResidualTraffic};
use crate::model::{Check, CheckSource, SimMetric};
use crate::plan::Plan;

use super::{Executor, now};

/// Measurements in flight at once.
const CONCURRENCY: usize = 16;

impl Executor<'_> {
    /// Measures the residual traffic of every service `plan` moves, in its region; `None`
    /// when no service can be measured. `when` is `after evacuation` or `end of hold`.
    pub async fn residual(&self, plan: &Plan, when: &str) -> Option<Record> {
        let drain = &self.playbook.drain;
        let sim = self.backend.name() == "sim";
        let region = plan.region.as_str();
        let mut sources = Vec::new();
        let mut used = Vec::new();
        for service in plan.waves.iter().flatten() {
            let Some(svc) = self.topology.services.get(service) else {
                continue;
            };
            let (source, label) = match (&drain.query, &svc.load_query) {
                (Some(q), _) => (q.clone(), "drain query"),
                (None, Some(q)) => (q.clone(), "load_query"),
                (None, None) if sim => (
                    CheckSource::Sim {
                        metric: SimMetric::RequestsPerSecond,
                    },
                    "sim",
                ),
                (None, None) => continue,
            };
            let before = svc.load.get(region).copied().unwrap_or(0.0);
            if before <= 0.0 {
                continue;
            }
            if !used.contains(&label) {
                used.push(label);
            }
            sources.push((service.clone(), source, before));
        }
        if sources.is_empty() {
            return None;
        }
        // One round: the fetches may share one read started after this instant.
        let asked = std::time::Instant::now();
        let services: Vec<ResidualTraffic> = stream::iter(sources)
            .map(|(service, source, before)| async move {
                let check =
                    Check::reading(format!("residual traffic of {service}"), source, &service);
                let scope = Scope::of(Some(region), Some(&service), asked);
                let fetched =
                    tokio::time::timeout(check.timeout, self.source.fetch(&check, &scope))
                        .await
                        .map_err(|_| "timed out".to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()));
                match fetched {
                    Ok(rps) => ResidualTraffic {
                        service,
                        rps: Some(rps),
                        share: Some(rps / before),
                        error: None,
                    },
                    Err(error) => ResidualTraffic {
                        service,
                        rps: None,
                        share: None,
                        error: Some(error),
                    },
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        Some(Record::Residual {
            at: now(),
            when: when.to_string(),
            region: region.to_string(),
            source: used.join(", "),
            max_residual: drain.max_residual,
            services,
        })
    }
}
