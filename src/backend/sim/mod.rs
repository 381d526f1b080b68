//! The embedded simulator: a world of dials, capacities and loads persisted in the state dir.
//!
//! [`SimBackend`] is a [`TrafficBackend`] like Route 53 or ELBv2, with the strictest of their
//! rules (a batch must be complete for every dial it names, weights within the provider's
//! range, never every member of a dial at 0), so an executor that works here does not rely
//! on leniency. [`traffic`] turns the weights into the metrics `sim` checks read, and
//! [`SimFaults`] injects latency, failures and a competing writer.
//!
//! One process owns a world at a time (the run lock guarantees it): the world is read from
//! disk when the backend opens, then held in memory and written through on every change.

pub mod exposition;
mod faults;
mod scaling;
pub mod traffic;
mod world;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::model::{DialWeights, Topology, Weights};

use super::{BackendError, Batch, Receipt, TrafficBackend, validate_batch};

pub use faults::{
    ENV_API_LATENCY_MS, ENV_FAIL_APPLIES, ENV_FAILURE_RATE, ENV_IN_SERVICE_DELAY_MS,
    ENV_READ_LATENCY_MS, ENV_SEED, ENV_VARS, FaultsError, SimFaults, Tamper,
};
pub use traffic::{MetricValues, SimMetrics, metrics};
pub use world::{
    Delta, SimGroup, SimWorld, WORLD_FORMAT, WorldError, WorldReader, append_change, group_key,
    write_snapshot,
};

/// Calls the simulator has served since it was opened (in this process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// `apply` calls that changed the world.
    pub applies: u64,
    /// `apply` calls that failed (injected faults and rejected batches).
    pub failed_applies: u64,
    /// `read` calls.
    pub reads: u64,
    /// `wait_propagated` calls.
    pub waits: u64,
}

/// The simulator as a traffic backend.
pub struct SimBackend {
    /// Shared with the command that loaded it (and the sources over this world): never copied.
    topology: Arc<Topology>,
    /// Where the world is written through; `None` in memory.
    path: Option<PathBuf>,
    api_latency: Duration,
    read_latency: Duration,
    /// How long a raised group takes to bring its new instances in service.
    in_service_delay: Duration,
    state: Mutex<State>,
}

struct State {
    world: SimWorld,
    failure_rate: f64,
    fails_left: u32,
    rng: StdRng,
    tamper: Option<Tamper>,
    stats: SimStats,
    /// `region/group` -> when the instances it was raised to are in service (in memory: a
    /// world reopened later finds them in service).
    pending: std::collections::HashMap<String, tokio::time::Instant>,
    /// What is on disk: the snapshot's size and the bytes appended to its change log since.
    /// `None` until this backend wrote a snapshot (its first change writes one).
    persisted: Option<(u64, u64)>,
}

/// The change log is folded into a new snapshot once it outgrows the snapshot (and at least
/// this size), so reading stays proportional to the world.
const MIN_LOG_BYTES: u64 = 1 << 20;

impl SimBackend {
    /// Opens the world of `topology` persisted under `state_dir` (or a fresh one; nothing is
    /// written until the first change), reconciled with the topology. The topology is
    /// shared, not copied: pass the `Arc` the command loaded (or an owned topology).
    pub fn open(
        state_dir: &Path,
        topology: impl Into<Arc<Topology>>,
        faults: SimFaults,
    ) -> Result<SimBackend, WorldError> {
        let topology = topology.into();
        let world = SimWorld::load_or_init(state_dir, &topology)?;
        let path = SimWorld::path(state_dir, &topology.name);
        Ok(SimBackend::new(topology, Some(path), world, faults))
    }

    /// A world that lives only in this process (tests, benches).
    pub fn in_memory(topology: impl Into<Arc<Topology>>, faults: SimFaults) -> SimBackend {
        let topology = topology.into();
        let world = SimWorld::in_memory(&topology);
        SimBackend::new(topology, None, world, faults)
    }

    fn new(
        topology: Arc<Topology>,
        path: Option<PathBuf>,
        mut world: SimWorld,
        faults: SimFaults,
    ) -> SimBackend {
        // Instances pending when the world was written came in service since.
        for group in world.groups.values_mut() {
            group.in_service = group.in_service.max(group.desired);
        }
        let SimFaults {
            api_latency,
            read_latency,
            failure_rate,
            fail_first_n_applies,
            seed,
            tamper_after_apply,
            in_service_delay,
        } = faults;
        SimBackend {
            topology,
            path,
            api_latency,
            read_latency,
            in_service_delay,
            state: Mutex::new(State {
                world,
                failure_rate: failure_rate.clamp(0.0, 1.0),
                fails_left: fail_first_n_applies,
                rng: StdRng::seed_from_u64(seed),
                tamper: tamper_after_apply,
                stats: SimStats::default(),
                pending: Default::default(),
                persisted: None,
            }),
        }
    }

    /// Raised groups bring their new instances in service after `delay` (tokio's clock);
    /// the default is at once.
    pub fn with_in_service_delay(mut self, delay: Duration) -> SimBackend {
        self.in_service_delay = delay;
        self
    }

    /// The topology simulated (shared).
    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    /// The state file written through, `None` in memory.
    pub fn state_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A copy of the world as it is now.
    pub async fn world_snapshot(&self) -> SimWorld {
        self.state.lock().await.world.clone()
    }

    /// The weights of every dial now.
    pub async fn weights(&self) -> Weights {
        self.state.lock().await.world.weights.clone()
    }

    /// The topology as the world serves it (`Some` when Auto Scaling groups change a
    /// capacity) and the current weights.
    pub async fn serving_weights(&self) -> (Option<Topology>, Weights) {
        let state = self.state.lock().await;
        let serving = match state.world.serving(&self.topology) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(t) => Some(t),
        };
        (serving, state.world.weights.clone())
    }

    /// Every metric of the world as it is now.
    pub async fn metrics(&self) -> SimMetrics {
        let state = self.state.lock().await;
        traffic::metrics(&state.world.serving(&self.topology), &state.world.weights)
    }

    /// Calls served so far.
    pub async fn stats(&self) -> SimStats {
        self.state.lock().await.stats
    }

    /// Test hook: sets the weights of the dials given, bypassing the provider rules (any
    /// weight, all-zero allowed) and the fault injection; persisted like an apply, not
    /// counted as one. Unknown dials are refused.
    pub async fn set_weights(&self, weights: Weights) -> Result<(), BackendError> {
        let mut state = self.state.lock().await;
        for dial in weights.keys() {
            if !state.world.weights.contains_key(dial) {
                return Err(BackendError::permanent(
                    "set_weights",
                    dial,
                    "no such dial in the topology",
                ));
            }
        }
        let previous = snapshot_dials(&state.world, weights.keys());
        state.world.weights.extend(weights);
        self.persist_or_revert(&mut state, previous, "set_weights", "world")
            .await
    }

    /// Test hook: sets an Auto Scaling group as given (adding it if the world lacks it),
    /// persisted, not counted as an apply.
    pub async fn set_group(
        &self,
        region: &str,
        group: &str,
        value: SimGroup,
    ) -> Result<(), BackendError> {
        let mut state = self.state.lock().await;
        let key = group_key(region, group);
        let previous = state.world.groups.insert(key.clone(), value);
        state.pending.remove(&key);
        if let Err(e) = self.write(&mut state, &[]).await {
            match previous {
                Some(p) => state.world.groups.insert(key, p),
                None => state.world.groups.remove(&key),
            };
            return Err(BackendError::transient("set_group", group, e.to_string()));
        }
        Ok(())
    }

    /// Checks a batch against the provider rules without changing anything.
    fn validate(&self, batch: &Batch) -> Result<(), BackendError> {
        validate_batch(&self.topology, batch)
    }

    /// Persists a change of `dials` (and of the groups) that `state.world` holds already
    /// (nothing in memory): one line appended to the change log, or a new snapshot when
    /// this backend has written none yet or the log outgrew it. See [`world`]'s docs.
    async fn write(&self, state: &mut State, dials: &[String]) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        state.world.changes += 1;
        let result = match state.persisted {
            Some((snapshot, log)) if log < snapshot.max(MIN_LOG_BYTES) => {
                let line = state.world.change_line(dials);
                let len = line.len() as u64;
                let appended = tokio::task::spawn_blocking(move || append_change(&path, &line))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                appended.map(|()| Some((snapshot, log + len)))
            }
            _ => match serde_json::to_vec_pretty(&state.world) {
                Ok(bytes) => {
                    let len = bytes.len() as u64;
                    tokio::task::spawn_blocking(move || write_snapshot(&path, &bytes))
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
                        .map(|()| Some((len, 0)))
                }
                Err(e) => Err(std::io::Error::other(e)),
            },
        };
        match result {
            Ok(persisted) => {
                state.persisted = persisted;
                Ok(())
            }
            Err(e) => {
                state.world.changes -= 1;
                // What reached the disk is unknown: the next change writes a snapshot.
                state.persisted = None;
                Err(e)
            }
        }
    }

    /// Writes the world through to disk; on failure puts the dials back as they were, so
    /// memory never runs ahead of the file.
    async fn persist_or_revert(
        &self,
        state: &mut State,
        previous: Previous,
        operation: &str,
        target: &str,
    ) -> Result<(), BackendError> {
        let dials: Vec<String> = previous.dials.iter().map(|(d, _)| d.clone()).collect();
        match self.write(state, &dials).await {
            Ok(()) => Ok(()),
            Err(e) => {
                state.world.api_calls = previous.api_calls;
                for (dial, weights) in previous.dials {
                    match weights {
                        Some(w) => state.world.weights.insert(dial, w),
                        None => state.world.weights.remove(&dial),
                    };
                }
                let file = self.path.as_deref().unwrap_or(Path::new("")).display();
                Err(BackendError::Transient {
                    operation: operation.to_string(),
                    target: target.to_string(),
                    message: format!("cannot write simulator state {file}: {e}"),
                })
            }
        }
    }
}

impl Drop for SimBackend {
    /// Folds the change log into the snapshot, so that a world left by a process that ended
    /// normally is one complete file (a process killed leaves the log, which readers apply).
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let (Some(path), Some((_, log))) = (&self.path, state.persisted)
            && log > 0
            && let Err(e) = state.world.save(path)
        {
            tracing::warn!(error = %e, "simulator: could not fold the change log into the snapshot");
        }
    }
}

/// What a change overwrote, to undo it if it cannot be persisted.
struct Previous {
    api_calls: u64,
    dials: Vec<(String, Option<DialWeights>)>,
}

fn snapshot_dials<'a>(world: &SimWorld, dials: impl Iterator<Item = &'a String>) -> Previous {
    Previous {
        api_calls: world.api_calls,
        dials: dials
            .map(|d| (d.clone(), world.weights.get(d).cloned()))
            .collect(),
    }
}

#[async_trait]
impl TrafficBackend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }

    async fn read(&self, dials: &[String]) -> Result<Weights, BackendError> {
        if !self.read_latency.is_zero() {
            tokio::time::sleep(self.read_latency).await;
        }
        let mut state = self.state.lock().await;
        state.stats.reads += 1;
        dials
            .iter()
            .map(|dial| {
                state
                    .world
                    .weights
                    .get(dial)
                    .map(|w| (dial.clone(), w.clone()))
                    .ok_or_else(|| {
                        BackendError::permanent("read", dial, "no such dial in the topology")
                    })
            })
            .collect()
    }

    /// Guarantees: either the whole batch is applied and persisted before `Ok` is returned,
    /// or nothing changed (injected failures, rejected batches, a failed write).
    async fn apply(&self, batch: &Batch) -> Result<Receipt, BackendError> {
        // Sleep outside the lock so that concurrent applies overlap, as real calls do.
        if !self.api_latency.is_zero() {
            tokio::time::sleep(self.api_latency).await;
        }
        let target = batch.key.to_string();
        let mut state = self.state.lock().await;
        if state.fails_left > 0 {
            state.fails_left -= 1;
            state.stats.failed_applies += 1;
            return Err(BackendError::transient(
                "apply",
                &target,
                format!(
                    "injected failure ({ENV_FAIL_APPLIES}; {} more to fail)",
                    state.fails_left
                ),
            ));
        }
        if state.failure_rate > 0.0 && state.rng.random::<f64>() < state.failure_rate {
            state.stats.failed_applies += 1;
            return Err(BackendError::transient(
                "apply",
                &target,
                format!(
                    "injected failure ({ENV_FAILURE_RATE}={})",
                    state.failure_rate
                ),
            ));
        }
        if let Err(e) = self.validate(batch) {
            state.stats.failed_applies += 1;
            return Err(e);
        }

        let previous = snapshot_dials(&state.world, batch.weights.keys());
        for (dial, desired) in &batch.weights {
            state.world.weights.insert(dial.clone(), desired.clone());
        }
        state.world.api_calls += 1;
        let state = &mut *state;
        if let Some(tamper) = state.tamper.as_mut()
            && tamper.times > 0
            && batch.weights.contains_key(&tamper.dial)
        {
            tamper.times -= 1;
            if let Some(weights) = state.world.weights.get_mut(&tamper.dial) {
                weights.insert(tamper.member.clone(), tamper.weight);
            }
        }
        if let Err(e) = self
            .persist_or_revert(state, previous, "apply", &target)
            .await
        {
            state.stats.failed_applies += 1;
            return Err(e);
        }
        state.stats.applies += 1;
        Ok(Receipt {
            key: batch.key.clone(),
            change_id: Some(format!("sim-{}", state.world.api_calls)),
        })
    }

    async fn wait_propagated(&self, _receipt: &Receipt) -> Result<(), BackendError> {
        if !self.read_latency.is_zero() {
            tokio::time::sleep(self.read_latency).await;
        }
        self.state.lock().await.stats.waits += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
