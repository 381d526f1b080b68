//! The `sim` metric source: reads the simulator's current weights and computes the metric
//! a check names, with the traffic model of [`crate::backend::sim::traffic`].
//!
//! With `service:` the value is that service's; without, the region's total. Globally (no
//! region) requests/s are summed over regions and every other metric is the worst region's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::TrafficBackend;
use crate::backend::sim::{SimBackend, SimWorld, traffic};
use crate::model::Weights;
use crate::model::{Check, CheckSource, Topology};

use super::{MetricSource, Scope, SourceError};

/// Reads `sim` checks from the simulator's world.
#[derive(Clone)]
pub struct SimSource {
    world: WorldRef,
    /// The last read modelled and its metrics.
    memo: Memo,
}

/// One read of the world: the topology as it serves (Auto Scaling groups change
/// capacities) and the weights of every dial. `id` numbers the reads of one source, so
/// that the many checks of a round sharing one read reuse its model without comparing
/// the weights again.
#[derive(Clone)]
struct Read {
    id: u64,
    topology: Arc<Topology>,
    weights: Arc<Weights>,
    /// When known: the read this one follows, and the dials that changed since (the
    /// topology did not), so its model is the previous one with those services updated.
    delta: Option<(u64, Arc<std::collections::BTreeSet<String>>)>,
}

/// The last read modelled: its id, its weights, the capacities it was modelled with and the
/// metrics. The weights are kept to compare a new read with, but not after an update by
/// delta: keeping them would make the reader copy every dial's weights at its next change.
type Memo = Arc<
    std::sync::Mutex<
        Option<(
            u64,
            Option<Arc<Weights>>,
            Capacities,
            Arc<traffic::SimMetrics>,
        )>,
    >,
>;
/// Capacities of the services bound to Auto Scaling groups, by service.
type Capacities = std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>;

/// The read a round of fetches shares, with the instant it started.
type Shared = Arc<tokio::sync::Mutex<Option<(std::time::Instant, Read)>>>;

#[derive(Clone)]
enum WorldRef {
    /// The backend the executor moves, shared in this process.
    Backend {
        backend: Arc<SimBackend>,
        topology: Arc<Topology>,
    },
    /// The world persisted in a state dir: the simulator writes every apply through before
    /// it returns, so the file is always current. The checks of one evaluation round share
    /// one read (as for `Live`), and a file whose bytes have not changed since the last read
    /// is not parsed again.
    StateDir {
        topology: Arc<Topology>,
        state_dir: PathBuf,
        last: Shared,
        parsed: Arc<std::sync::Mutex<world::Parsed>>,
    },
    /// The traffic model over the live weights of another backend (Route 53 and ELBv2 under
    /// `--backend aws`). The checks of one evaluation round, fetched at once, share one read:
    /// a fetch reuses the last read only if that read started after the fetch was asked for,
    /// so a value never predates the fetch (never the weights before a step).
    Live {
        topology: Arc<Topology>,
        backend: Arc<dyn TrafficBackend>,
        last: Shared,
    },
}

/// Numbers reads (unique in the process, so a memo never confuses two sources' reads).
fn next_read_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl SimSource {
    /// A source over the world `backend` holds (the same one the executor moves).
    pub fn new(backend: Arc<SimBackend>) -> SimSource {
        SimSource {
            world: WorldRef::Backend {
                topology: backend.topology().clone(),
                backend,
            },
            memo: Memo::default(),
        }
    }

    /// A source over the world of `topology` persisted under `state_dir` (the topology's
    /// initial weights while there is no file), whichever process or backend instance moves it.
    pub fn from_state_dir(topology: Arc<Topology>, state_dir: &Path) -> SimSource {
        SimSource {
            world: WorldRef::StateDir {
                topology,
                state_dir: state_dir.to_path_buf(),
                last: Shared::default(),
                parsed: Arc::default(),
            },
            memo: Memo::default(),
        }
    }

    /// A source computing the traffic model over the live weights `backend` reads (so `sim`
    /// checks and the built-in guards follow real moves under `--backend aws`).
    pub fn live(topology: Arc<Topology>, backend: Arc<dyn TrafficBackend>) -> SimSource {
        SimSource {
            world: WorldRef::Live {
                topology,
                backend,
                last: Shared::default(),
            },
            memo: Memo::default(),
        }
    }

    /// Every metric of the world as it is now. The model is computed once per distinct set
    /// of weights: an evaluation round asks for it once per check, region and service.
    /// `asked`: when the round this belongs to was asked for (see [`Scope::asked`]).
    pub async fn metrics(
        &self,
        asked: Option<std::time::Instant>,
    ) -> Result<Arc<traffic::SimMetrics>, SourceError> {
        let read = self
            .read(asked.unwrap_or_else(std::time::Instant::now))
            .await?;
        let mut memo = self.memo.lock().expect("memo lock");
        if let Some((seen_id, _, _, metrics)) = memo.as_ref()
            && *seen_id == read.id
        {
            return Ok(metrics.clone());
        }
        if let Some((seen_id, seen, _, metrics)) = memo.as_mut()
            && let Some((base, dials)) = &read.delta
            && *base == *seen_id
        {
            let services = dials
                .iter()
                .filter_map(|d| d.split_once('/').map(|(s, _)| s));
            Arc::make_mut(metrics).update(&read.topology, &read.weights, services);
            *seen_id = read.id;
            *seen = None;
            return Ok(metrics.clone());
        }
        // Auto Scaling groups change capacities without changing weights.
        let capacities: Capacities = read
            .topology
            .services
            .values()
            .filter(|s| !s.autoscaling.is_empty())
            .map(|s| (s.name.clone(), s.capacity.clone()))
            .collect();
        if let Some((seen_id, seen, seen_capacities, metrics)) = memo.as_mut()
            && seen.as_deref() == Some(&*read.weights)
            && *seen_capacities == capacities
        {
            *seen_id = read.id;
            return Ok(metrics.clone());
        }
        let metrics = Arc::new(traffic::metrics(&read.topology, &read.weights));
        *memo = Some((read.id, Some(read.weights), capacities, metrics.clone()));
        Ok(metrics)
    }

    /// The topology and the current weights of every dial, from a read started at or
    /// after `asked`.
    async fn read(&self, asked: std::time::Instant) -> Result<Read, SourceError> {
        match &self.world {
            WorldRef::Live {
                topology,
                backend,
                last,
            } => {
                shared(last, asked, || async {
                    // Transient errors (throttling, a dropped connection) are retried as the
                    // executor retries its own reads: a guard must not abort on one.
                    let weights = crate::backend::read_all(backend.as_ref(), topology)
                        .await
                        .map_err(|e| {
                            SourceError::new(format!(
                                "reading live weights for the traffic model: {e}"
                            ))
                        })?;
                    Ok(Read {
                        id: next_read_id(),
                        topology: topology.clone(),
                        weights: Arc::new(weights),
                        delta: None,
                    })
                })
                .await
            }
            WorldRef::Backend { backend, topology } => {
                let (serving, weights) = backend.serving_weights().await;
                Ok(Read {
                    id: next_read_id(),
                    topology: serving.map_or_else(|| topology.clone(), Arc::new),
                    weights: Arc::new(weights),
                    delta: None,
                })
            }
            WorldRef::StateDir {
                topology,
                state_dir,
                last,
                parsed,
            } => {
                shared(last, asked, || async {
                    let topology = topology.clone();
                    let path = SimWorld::path(state_dir, &topology.name);
                    let parsed = parsed.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut parsed = parsed.lock().expect("parsed lock");
                        world::read_world(&path, &topology, &mut parsed)
                            .map_err(|e| SourceError::new(e.to_string()))
                    })
                    .await
                    .map_err(|e| SourceError::new(format!("reading the simulator world: {e}")))?
                })
                .await
            }
        }
    }
}

/// The read `last` holds if it started at or after `asked` (so it is not older than the
/// fetch's round), else a new one from `read`, kept for the fetches that follow.
async fn shared<F, Fut>(
    last: &Shared,
    asked: std::time::Instant,
    read: F,
) -> Result<Read, SourceError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Read, SourceError>>,
{
    let mut last = last.lock().await;
    if let Some((started, read)) = last.as_ref()
        && *started >= asked
    {
        return Ok(read.clone());
    }
    // Dropped first: the reader may then update what it read in place (no other copy).
    *last = None;
    let started = std::time::Instant::now();
    let fresh = read().await?;
    *last = Some((started, fresh.clone()));
    Ok(fresh)
}

mod world {
    //! Reading the state dir's world for [`super::SimSource`]: a world that has not changed
    //! since the last read gives the same read, and a grown change log is parsed only
    //! from where the last read stopped.

    use std::path::Path;
    use std::sync::Arc;

    use crate::backend::sim::{Delta, SimWorld, WorldError, WorldReader};
    use crate::model::Topology;

    use super::Read;

    /// The reader and the read it gave last (its weights reconciled with the topology).
    #[derive(Default)]
    pub(super) struct Parsed {
        reader: WorldReader,
        last: Option<Read>,
    }

    /// The world at `path` (the topology's initial world while there is no file), reconciled
    /// quietly with the topology: the backend that opened it already said what changed.
    /// Changes appended to the log since the last read update only the dials they set.
    pub(super) fn read_world(
        path: &Path,
        topology: &Arc<Topology>,
        parsed: &mut Parsed,
    ) -> Result<Read, WorldError> {
        let (world, delta) = parsed.reader.read(path, topology)?;
        match (delta, parsed.last.as_mut()) {
            (Delta::Unchanged, Some(read)) => return Ok(read.clone()),
            (Delta::Appended(dials), Some(read)) => {
                let world = world.expect("a log is read over a snapshot");
                // In place when no fetch holds the last read any more (the usual case).
                let weights = Arc::make_mut(&mut read.weights);
                for dial in &dials {
                    if let (Some(slot), Some(now)) =
                        (weights.get_mut(dial), world.weights.get(dial))
                    {
                        slot.clone_from(now);
                    }
                }
                read.delta = Some((read.id, Arc::new(dials)));
                read.id = super::next_read_id();
                return Ok(read.clone());
            }
            _ => {}
        }
        let mut world = world
            .cloned()
            .unwrap_or_else(|| SimWorld::initial(topology));
        world.reconcile(topology);
        let serving = match world.serving(topology) {
            std::borrow::Cow::Borrowed(_) => topology.clone(),
            std::borrow::Cow::Owned(t) => Arc::new(t),
        };
        let read = Read {
            id: super::next_read_id(),
            topology: serving,
            weights: Arc::new(world.weights),
            delta: None,
        };
        parsed.last = Some(read.clone());
        Ok(read)
    }
}

#[async_trait]
impl MetricSource for SimSource {
    async fn fetch(&self, check: &Check, scope: &Scope<'_>) -> Result<f64, SourceError> {
        let CheckSource::Sim { metric } = &check.source else {
            return Err(SourceError::new(format!(
                "check `{}` reads {}, not the simulator",
                check.name,
                source_name(&check.source)
            )));
        };
        let metrics = self.metrics(scope.asked).await?;
        let value = metrics
            .value(scope.service, scope.region, *metric)
            .map_err(|e| SourceError::new(format!("check `{}`: {e}", check.name)))?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(SourceError::new(format!(
                "check `{}`: the simulator computed {value} for {}",
                check.name,
                metric.name()
            )))
        }
    }
}

/// The source kind a check reads, as written in playbooks.
pub(crate) fn source_name(source: &CheckSource) -> &'static str {
    match source {
        CheckSource::Prometheus { .. } => "prometheus",
        CheckSource::Cloudwatch { .. } => "cloudwatch",
        CheckSource::Sim { .. } => "sim",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backend::TrafficBackend;
    use crate::backend::sim::SimFaults;
    use crate::backend::{Batch, BatchKey};
    use crate::checks::evaluate;
    use crate::model::{Per, SimMetric, Threshold};
    use crate::testing::streaming;

    fn at<'a>(check: &'a Check, region: Option<&'a str>) -> Scope<'a> {
        Scope {
            region,
            service: check.service.as_deref(),
            asked: None,
        }
    }

    fn sim_check(metric: SimMetric, service: Option<&str>, max: f64) -> Check {
        Check {
            name: "simulated".to_string(),
            source: CheckSource::Sim { metric },
            service: service.map(str::to_string),
            per: Per::Destination,
            threshold: Threshold {
                max: Some(max),
                ..Threshold::default()
            },
            consecutive: 1,
            interval: Duration::from_secs(10),
            timeout: std::time::Duration::from_secs(10),
        }
    }

    fn source() -> (Arc<SimBackend>, SimSource) {
        let backend = Arc::new(SimBackend::in_memory(streaming(), SimFaults::default()));
        let source = SimSource::new(backend.clone());
        (backend, source)
    }

    /// Sends all of edge-api's DNS traffic to the smallest region.
    async fn everything_to_eu_west_1(backend: &SimBackend) {
        let batch = Batch {
            key: BatchKey::HostedZone("Z0000000EXAMPLE".into()),
            weights: [(
                "edge-api/dns".to_string(),
                [("use1", 0), ("usw2", 0), ("euw1", 100)]
                    .into_iter()
                    .map(|(m, w)| (m.to_string(), w))
                    .collect(),
            )]
            .into(),
        };
        backend.apply(&batch).await.unwrap();
    }

    #[tokio::test]
    async fn healthy_world_passes_p99_check_in_every_region() {
        let (_, source) = source();
        for service in [None, Some("edge-api")] {
            let check = sim_check(SimMetric::P99LatencyMs, service, 250.0);
            for region in ["us-east-1", "us-west-2", "eu-west-1"] {
                let value = source.fetch(&check, &at(&check, Some(region))).await;
                let result = evaluate(&check, &at(&check, Some(region)), value, None);
                assert!(result.ok, "{result:?}");
            }
            assert!(
                evaluate(
                    &check,
                    &at(&check, None),
                    source.fetch(&check, &at(&check, None)).await,
                    None
                )
                .ok
            );
        }
    }

    #[tokio::test]
    async fn moving_a_big_region_onto_a_small_one_fails_p99_check() {
        let (backend, source) = source();
        everything_to_eu_west_1(&backend).await;
        for service in [None, Some("edge-api")] {
            let check = sim_check(SimMetric::P99LatencyMs, service, 250.0);
            let value = source.fetch(&check, &at(&check, Some("eu-west-1"))).await;
            let result = evaluate(&check, &at(&check, Some("eu-west-1")), value, None);
            assert!(!result.ok, "{result:?}");
            // Globally, the worst region decides.
            assert!(
                !evaluate(
                    &check,
                    &at(&check, None),
                    source.fetch(&check, &at(&check, None)).await,
                    None
                )
                .ok
            );
            // The emptied region is healthy.
            let value = source.fetch(&check, &at(&check, Some("us-east-1"))).await;
            assert!(evaluate(&check, &at(&check, Some("us-east-1")), value, None).ok);
        }
        let errors = sim_check(SimMetric::ErrorRate, Some("edge-api"), 0.01);
        let value = source
            .fetch(&errors, &at(&errors, Some("eu-west-1")))
            .await
            .unwrap();
        assert!(value > 0.1, "{value}");
    }

    #[tokio::test]
    async fn reads_requests_per_second_and_utilization() {
        let (_, source) = source();
        let rps = sim_check(SimMetric::RequestsPerSecond, Some("edge-api"), 1e9);
        assert_eq!(
            source
                .fetch(&rps, &at(&rps, Some("us-east-1")))
                .await
                .unwrap(),
            5000.0
        );
        assert_eq!(source.fetch(&rps, &at(&rps, None)).await.unwrap(), 10000.0);
        let util = sim_check(SimMetric::Utilization, None, 1.0);
        let us_west = source
            .fetch(&util, &at(&util, Some("us-west-2")))
            .await
            .unwrap();
        // Load over capacity summed over the region's services (initial weights are
        // rounded, so the served load is only close to the declared one).
        let expected = (3000.0 + 2000.0 + 900.0 + 1500.0) / (10000.0 + 7000.0 + 4000.0 + 6000.0);
        assert!((us_west - expected).abs() < 1e-3, "{us_west}");
    }

    #[tokio::test]
    async fn state_dir_source_sees_what_another_backend_instance_applied() {
        let dir = tempfile::tempdir().unwrap();
        let topology = Arc::new(streaming());
        let source = SimSource::from_state_dir(topology.clone(), dir.path());
        let check = sim_check(SimMetric::P99LatencyMs, Some("edge-api"), 250.0);
        // No file yet: the initial, healthy world.
        let value = source.fetch(&check, &at(&check, Some("eu-west-1"))).await;
        assert!(evaluate(&check, &at(&check, Some("eu-west-1")), value, None).ok);
        let backend = SimBackend::open(dir.path(), topology, SimFaults::default()).unwrap();
        everything_to_eu_west_1(&backend).await;
        let value = source.fetch(&check, &at(&check, Some("eu-west-1"))).await;
        assert!(!evaluate(&check, &at(&check, Some("eu-west-1")), value, None).ok);
    }

    #[tokio::test]
    async fn non_sim_check_and_unknown_names_are_errors() {
        let (_, source) = source();
        let mut prometheus = sim_check(SimMetric::P99LatencyMs, None, 250.0);
        prometheus.source = CheckSource::Prometheus { query: "up".into() };
        let err = source
            .fetch(&prometheus, &at(&prometheus, None))
            .await
            .unwrap_err();
        assert!(err.message.contains("prometheus"), "{err}");
        let unknown = sim_check(SimMetric::P99LatencyMs, Some("nope"), 250.0);
        assert!(
            source
                .fetch(&unknown, &at(&unknown, Some("us-east-1")))
                .await
                .is_err()
        );
        let check = sim_check(SimMetric::P99LatencyMs, None, 250.0);
        assert!(
            source
                .fetch(&check, &at(&check, Some("mars-1")))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn live_source_shares_one_read_per_round_and_never_serves_older_weights() {
        let topology = streaming();
        // Reads take time, as a provider's do: the fetches of a round overlap.
        let faults = SimFaults {
            read_latency: Duration::from_millis(20),
            ..SimFaults::default()
        };
        let backend = Arc::new(SimBackend::in_memory(topology, faults));
        let source = SimSource::live(backend.topology().clone(), backend.clone());
        let util = sim_check(SimMetric::Utilization, Some("edge-api"), 1.0);
        let scope = at(&util, Some("eu-west-1"));
        // Fetches asked one by one share reads: the first fetch's, and one that starts
        // after all the others asked (a read older than a fetch is never used).
        let round = futures::future::join_all((0..20).map(|_| source.fetch(&util, &scope))).await;
        let before = *round[0].as_ref().unwrap();
        assert!(round.iter().all(|v| *v.as_ref().unwrap() == before));
        let reads = backend.stats().await.reads;
        assert!(reads <= 2, "{reads} reads for 20 fetches");
        // A round asked for at one instant shares its first read.
        let round_scope = Scope {
            asked: Some(std::time::Instant::now()),
            ..scope
        };
        let round =
            futures::future::join_all((0..20).map(|_| source.fetch(&util, &round_scope))).await;
        assert!(round.iter().all(|v| *v.as_ref().unwrap() == before));
        let more = backend.stats().await.reads - reads;
        assert_eq!(more, 1, "{more} reads for one round of 20 fetches");
        // A fetch after a move sees the move, however soon it comes.
        everything_to_eu_west_1(&backend).await;
        let after = source.fetch(&util, &scope).await.unwrap();
        assert!(after > before * 2.0, "{before} -> {after}");
    }
}
