//! Opening the traffic and scaling backends a command uses, and reading weights through them.

use super::{CliError, Common, files};

use std::sync::Arc;

use crate::backend::TrafficBackend;
use crate::backend::aws::autoscaling::AwsScaling;
use crate::backend::aws::{AwsBackend, AwsSettings};
use crate::backend::scaling::ScalingBackend;
use crate::backend::sim::{SimBackend, SimFaults};
use crate::exec::ExecOptions;
use crate::journal::StateStore;
use crate::model::{BackendKind, DialKind, SharedState, Topology};

/// Opens the backend: the simulator's world in the state dir, or AWS.
pub fn open(
    common: &Common,
    topology: &Arc<Topology>,
) -> Result<Box<dyn TrafficBackend>, CliError> {
    open_with_scaling(common, topology).map(|(traffic, _)| traffic)
}

/// A traffic backend and the scaling backend next to it.
pub type Backends = (Box<dyn TrafficBackend>, Box<dyn ScalingBackend>);

/// Opens the traffic backend and the scaling backend next to it: one simulator world for
/// both (two would overwrite each other's file), or Route 53 / ELBv2 and Auto Scaling. Every
/// backend shares `topology`; none copies it.
pub fn open_with_scaling(common: &Common, topology: &Arc<Topology>) -> Result<Backends, CliError> {
    match files::backend_kind(common, Some(topology)) {
        BackendKind::Sim => {
            let faults = SimFaults::from_env().map_err(|e| CliError::Usage(e.to_string()))?;
            let sim = Arc::new(open_sim(common, topology, faults)?);
            Ok((Box::new(sim.clone()), Box::new(sim)))
        }
        BackendKind::Aws => {
            let settings = aws_settings(common)?;
            // Sim dials of the topology stay in the simulator's world in the state dir.
            let has_sim_dials = topology
                .services
                .values()
                .any(|s| s.dials.iter().any(|d| matches!(d.kind, DialKind::Sim)));
            let sim = if has_sim_dials {
                let faults = SimFaults::from_env().map_err(|e| CliError::Usage(e.to_string()))?;
                Some(open_sim(common, topology, faults)?)
            } else {
                None
            };
            Ok((
                Box::new(crate::backend::Backends::new(
                    topology.clone(),
                    Some(Box::new(AwsBackend::new(
                        topology.clone(),
                        settings.clone(),
                    ))),
                    sim.map(|s| Box::new(s) as Box<dyn TrafficBackend>),
                )),
                Box::new(AwsScaling::new(settings)),
            ))
        }
    }
}

/// The AWS settings of the command line.
pub fn aws_settings(common: &Common) -> Result<AwsSettings, CliError> {
    let Common {
        topology: _,
        playbook: _,
        state_dir: _,
        state: _,
        lock_lease: _,
        backend: _,
        endpoint_url,
        profile,
        aws_region,
        route53_rate,
        aws_call_timeout,
        route53_sync_timeout,
    } = common;
    if !(route53_rate.is_finite() && *route53_rate > 0.0) {
        return Err(CliError::Usage(format!(
            "--route53-rate {route53_rate}: expected a positive number of requests per second"
        )));
    }
    if aws_call_timeout.is_zero() {
        return Err(CliError::Usage(
            "--aws-call-timeout: expected a duration above 0".to_string(),
        ));
    }
    Ok(AwsSettings {
        endpoint_url: endpoint_url.clone(),
        profile: profile.clone(),
        default_region: aws_region.clone(),
        route53_rate: *route53_rate,
        call_timeout: *aws_call_timeout,
        sync_timeout: *route53_sync_timeout,
    })
}

/// Opens the simulator's world in the state dir, writing its start state on first use so
/// that successive commands see the same world.
pub fn open_sim(
    common: &Common,
    topology: &Arc<Topology>,
    faults: SimFaults,
) -> Result<SimBackend, CliError> {
    let sim = SimBackend::open(&common.state_dir, topology.clone(), faults)
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

/// The shared state the command line (`--state`, which wins) or the topology chooses;
/// `None`: the local state dir.
pub fn shared_state(
    common: &Common,
    topology: Option<&Topology>,
) -> Result<Option<SharedState>, CliError> {
    match &common.state {
        Some(url) => SharedState::parse_url(url)
            .map(Some)
            .map_err(|e| CliError::Usage(format!("--state {e}"))),
        None => Ok(topology.and_then(|t| t.state.clone())),
    }
}

/// The table's region: its own, else `AWS_REGION`, else `--aws-region`.
fn state_region(common: &Common, shared: &SharedState) -> String {
    shared
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| common.aws_region.clone())
}

/// `; state: dynamodb kong-state (us-east-1)` for the first line, when the state is shared.
pub fn state_note(common: &Common, topology: Option<&Topology>) -> Result<String, CliError> {
    Ok(match shared_state(common, topology)? {
        Some(shared) => format!(
            "; state: dynamodb {} ({})",
            shared.table,
            state_region(common, &shared)
        ),
        None => String::new(),
    })
}

/// Opens the state (inside the command's runtime: the SDK client keeps its connections
/// there). Shared state is reached with the AWS flags and retried with the executor's policy.
pub async fn open_state(
    common: &Common,
    topology: Option<&Topology>,
) -> Result<StateStore, CliError> {
    if common.lock_lease < std::time::Duration::from_secs(1) {
        return Err(CliError::Usage(
            "--lock-lease: expected a duration of at least 1s".to_string(),
        ));
    }
    match shared_state(common, topology)? {
        None => Ok(StateStore::Local(common.state_dir.clone())),
        Some(mut shared) => {
            shared.region = Some(state_region(common, &shared));
            let settings = aws_settings(common)?;
            Ok(StateStore::dynamo(
                &settings,
                &shared,
                ExecOptions::default().retry_policy().backoff(),
            )
            .await)
        }
    }
}

/// The topology, for the `state:` key of commands that need no topology otherwise (`runs`,
/// `report`, `state`): `None` when no topology file is there; an invalid one is an error.
pub fn topology_if_present(common: &Common) -> Result<Option<Topology>, CliError> {
    if common.state.is_some() || !common.topology.exists() {
        return Ok(None);
    }
    let path = files::topology_file(common)?;
    let text = files::read(&path)?;
    Ok(Some(crate::model::parse_topology(
        &path.display().to_string(),
        &text,
    )?))
}

/// A runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Unexpected(e.into()))
}
