//! Opening the traffic backend a command uses, and reading weights through it.

use super::{files, CliError, Common};
use crate::backend::TrafficBackend;
use crate::backend::sim::{SimBackend, SimFaults};
use crate::model::{BackendKind, Topology, dial_ref};
use crate::plan::Weights;

/// Opens the backend: the simulator's world in the state dir, or AWS.
pub fn open(common: &Common, topology: &Topology) -> Result<Box<dyn TrafficBackend>, CliError> {
    match files::backend_kind(common, Some(topology)) {
        BackendKind::Sim => {
            let faults = SimFaults::from_env().map_err(|e| CliError::Usage(e.to_string()))?;
            Ok(Box::new(open_sim(common, topology, faults)?))
        }
        BackendKind::Aws => Err(CliError::Usage(
            "the aws backend is not available in this build yet; use --backend sim".to_string(),
        )),
    }
}

/// Opens the simulator's world in the state dir, writing its start state on first use so
/// that successive commands see the same world.
pub fn open_sim(common: &Common, topology: &Topology, faults: SimFaults) -> Result<SimBackend, CliError> {
    let sim = SimBackend::open(&common.state_dir, topology, faults)
        .map_err(|e| CliError::Unexpected(anyhow::anyhow!(e)))?;
    if let Some(path) = sim.state_path()
        && !path.exists()
    {
        let world = runtime()?.block_on(sim.world_snapshot());
        world
            .save(path)
            .map_err(|e| CliError::Unexpected(anyhow::anyhow!(e)))?;
    }
    Ok(sim)
}

/// Every dial of every service, as `service/dial`.
pub fn all_dials(topology: &Topology) -> Vec<String> {
    topology
        .services
        .values()
        .flat_map(|s| s.dials.iter().map(move |d| dial_ref(&s.name, &d.id)))
        .collect()
}

/// Reads the live weights of every dial of the topology.
pub async fn read_all(backend: &dyn TrafficBackend, topology: &Topology) -> Result<Weights, CliError> {
    backend
        .read(&all_dials(topology))
        .await
        .map_err(|e| CliError::Refused(format!("cannot read live weights: {e}")))
}

/// A runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Unexpected(e.into()))
}
