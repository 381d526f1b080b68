//! Live weights read again on every request, for the servers (`kong sim serve`, `kong
//! dashboard`) that show what another kong process moves.
//!
//! The simulator's world is opened again from the state dir on every read (a backend
//! holds its world in memory, so one opened at start would never see another process's
//! moves), and so is an aws backend whose topology has sim dials; an aws-only topology is
//! read through one backend for the process (its clients are reused).

use std::sync::Arc;

use super::context::Context;
use super::{CliError, Common, backend};
use crate::backend::TrafficBackend;
use crate::model::{BackendKind, DialKind, Topology, Weights};

/// Where the weights are read on each request.
pub enum LiveWeights {
    /// Open the backend again for every read (the world is in the state dir).
    Reopen {
        /// The flags to open it with.
        common: Box<Common>,
        /// The topology.
        topology: Arc<Topology>,
    },
    /// One backend for the process.
    Keep {
        /// The backend.
        backend: Arc<dyn TrafficBackend>,
        /// The topology.
        topology: Arc<Topology>,
    },
}

impl LiveWeights {
    /// The reader of `ctx`'s topology. Opens the backend once here (outside the runtime) so
    /// that flags are checked before listening and the simulator's world file exists from
    /// the start.
    pub fn open(ctx: &Context<Arc<Topology>>) -> Result<LiveWeights, CliError> {
        let first = ctx.backends()?.traffic;
        let topology = ctx.shared_topology().clone();
        let has_sim_dials = topology
            .services
            .values()
            .any(|s| s.dials.iter().any(|d| matches!(d.kind, DialKind::Sim)));
        Ok(if ctx.kind == BackendKind::Sim || has_sim_dials {
            LiveWeights::Reopen {
                common: Box::new(ctx.common.clone()),
                topology,
            }
        } else {
            LiveWeights::Keep {
                backend: first,
                topology,
            }
        })
    }

    /// The topology read.
    pub fn topology(&self) -> &Topology {
        match self {
            LiveWeights::Reopen { topology, .. } | LiveWeights::Keep { topology, .. } => topology,
        }
    }

    /// Every dial's live weights, read once (one attempt: the caller asks again soon, and a
    /// slow answer only delays it), or why they could not be read.
    pub async fn read(&self) -> Result<Weights, String> {
        match self {
            LiveWeights::Reopen { common, topology } => {
                let (common, t) = (common.clone(), topology.clone());
                let opened = tokio::task::spawn_blocking(move || backend::open(&common, &t))
                    .await
                    .map_err(|e| format!("opening the backend: {e}"))?
                    .map_err(|e| {
                        let e = e.to_string();
                        format!("opening the backend: {}", e.trim_start_matches("error: "))
                    })?;
                read_once(opened.as_ref(), topology).await
            }
            LiveWeights::Keep { backend, topology } => read_once(backend.as_ref(), topology).await,
        }
    }
}

async fn read_once(backend: &dyn TrafficBackend, topology: &Topology) -> Result<Weights, String> {
    backend
        .read(&crate::backend::all_dials(topology))
        .await
        .map_err(|e| format!("reading the live weights: {e}"))
}
