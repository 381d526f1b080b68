//! The planning input: everything live a plan is made from, gathered in one step before the
//! pure planner runs (omicron calls this the planning input).
//!
//! [`gather`] reads the live weights of every dial, the live load and Auto Scaling figures,
//! and, from the run history the caller read once, the baseline a restore returns to and the
//! groups the evacuation it undoes pre-scaled. [`make_plan`] plans on that value;
//! [`saved`] reads a plan saved by `kong plan --out` and executes it only as reviewed:
//! planned again, identical, and passing pre-flight with the live figures of now. Nothing here prints, exits or knows the command line: the CLI maps
//! a [`PrepareError`] to its exit code.

pub mod live;
pub mod saved;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::TrafficBackend;
use crate::backend::scaling::{GroupRef, ScalingBackend};
use crate::checks::MetricSource;
use crate::journal::{CapacityChange, RunLog, RunState, RunSummary};
use crate::model::{BackendKind, Playbook, Topology};
use crate::plan::{self, Figures, Operation, Plan, PlanError, PlanInput, Weights};

/// A topology and playbook loaded, validated and hashed.
#[derive(Debug)]
pub struct Loaded {
    /// The validated topology, shared with the backends and sources opened on it (never
    /// copied: at 10,000 services a copy costs more than planning).
    pub topology: Arc<Topology>,
    /// The validated playbook.
    pub playbook: Playbook,
    /// The topology file used.
    pub topology_path: PathBuf,
    /// The playbook file used.
    pub playbook_path: PathBuf,
    /// SHA-256 of the topology file.
    pub topology_hash: String,
    /// SHA-256 of the playbook file.
    pub playbook_hash: String,
}

/// Why the planning input could not be gathered, or a saved plan cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A bad request: a plan file that is not one, or for another operation (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Refused before any change: a live figure unreadable, the world moved (exit 3).
    #[error("{0}")]
    Refused(String),
    /// The planner refused.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// What the planning input is gathered for.
pub struct Request<'a> {
    /// The files.
    pub loaded: &'a Loaded,
    /// The backend kind (a restore on the simulator without a recorded evacuation returns to
    /// the simulator's start state).
    pub kind: BackendKind,
    /// Evacuate or restore.
    pub operation: Operation,
    /// The region.
    pub region: &'a str,
    /// Plan on the declared load and capacity, not on `load_query` and Auto Scaling.
    pub declared_load: bool,
    /// A restore: the evacuation it undoes ([`undone_evacuation`] of the run history the
    /// caller read once), read whole; `None` when none is recorded, and for an evacuation.
    pub undone: Option<&'a RunLog>,
    /// Where the history is kept, for messages.
    pub history_at: &'a str,
    /// The traffic backend the live weights are read from.
    pub traffic: &'a dyn TrafficBackend,
    /// The Auto Scaling backend.
    pub scaling: &'a dyn ScalingBackend,
    /// The metric sources `load_query` reads.
    pub source: &'a dyn MetricSource,
}

/// Every live input of one plan.
#[derive(Debug, Clone)]
pub struct PlanningInput {
    /// Evacuate or restore.
    pub operation: Operation,
    /// The region.
    pub region: String,
    /// The live weights of every dial.
    pub observed: Weights,
    /// Live load and capacity (empty with `declared_load`).
    pub figures: Figures,
    /// Planned on the declared figures although some are live (the plan says so).
    pub declared_load: bool,
    /// A restore: the baseline it returns to.
    pub restore_to: Option<Weights>,
    /// A restore: the Auto Scaling groups the evacuation it undoes pre-scaled, with their
    /// original desired capacity.
    pub prescaled: Vec<CapacityChange>,
}

/// Gathers the planning input: live weights, live figures, and what the history says.
pub async fn gather(req: &Request<'_>) -> Result<PlanningInput, PrepareError> {
    let observed = read_weights(req.traffic, &req.loaded.topology).await?;
    let figures = if req.declared_load {
        Figures::default()
    } else {
        let prescaled = prescaled_region(&req.loaded.playbook, req.operation, req.region);
        live::resolve(&req.loaded.topology, req.source, req.scaling, prescaled)
            .await
            .map_err(|e| PrepareError::Refused(e.to_string()))?
    };
    let restore_to = match req.operation {
        Operation::Evacuate => None,
        Operation::Restore => Some(restore_baseline(req)?),
    };
    Ok(PlanningInput {
        operation: req.operation,
        region: req.region.to_string(),
        observed,
        figures,
        declared_load: req.declared_load,
        restore_to,
        prescaled: prescaled_groups(req),
    })
}

/// The plan a run executes and its input: a fresh plan on [`gather`]ed input, or the plan
/// saved in `saved` (`--plan FILE`) once [`saved::verify`] found it to be exactly the plan
/// kong computes now (planned again on the figures it records) and its pre-flight to pass
/// with the live figures of now.
pub async fn plan_run(
    req: &Request<'_>,
    saved: Option<&Path>,
) -> Result<(Plan, PlanningInput), PrepareError> {
    match saved {
        None => {
            let input = gather(req).await?;
            Ok((make_plan(req.loaded, &input)?, input))
        }
        Some(path) => saved::verify(req, path).await,
    }
}

/// Reads the live weights of every dial of the topology (see [`crate::backend::read_all`]);
/// a failure refuses the command.
pub async fn read_weights(
    traffic: &dyn TrafficBackend,
    topology: &Topology,
) -> Result<Weights, PrepareError> {
    crate::backend::read_all(traffic, topology)
        .await
        .map_err(|e| PrepareError::Refused(format!("cannot read live weights: {e}")))
}

/// The region whose evacuation pre-scales the others (`prescale` in the playbook), if any.
pub(crate) fn prescaled_region<'r>(
    playbook: &Playbook,
    operation: Operation,
    region: &'r str,
) -> Option<&'r str> {
    (operation == Operation::Evacuate && playbook.prescale.is_some()).then_some(region)
}

/// Plans on `input` with the live figures in place of the declared ones (and marked as
/// live), with the files' hashes filled in.
pub fn make_plan(loaded: &Loaded, input: &PlanningInput) -> Result<Plan, PlanError> {
    let live_topology;
    let topology = if input.figures.is_empty() {
        &loaded.topology
    } else {
        live_topology = input.figures.apply(&loaded.topology);
        &live_topology
    };
    let mut plan = plan::plan(&PlanInput {
        topology,
        playbook: &loaded.playbook,
        operation: input.operation,
        region: &input.region,
        observed: &input.observed,
        restore_to: input.restore_to.as_ref(),
    })?;
    plan::annotate(&mut plan, &input.figures);
    plan.figures.declared_load = input.declared_load;
    plan.topology_hash = loaded.topology_hash.clone();
    plan.playbook_hash = loaded.playbook_hash.clone();
    if input.declared_load {
        let services = || loaded.topology.services.values();
        for (live, what) in [
            (
                services().any(|s| s.load_query.is_some()),
                "load, not on the services' load_query",
            ),
            (
                services().any(|s| !s.autoscaling.is_empty()),
                "capacity, not on the services' Auto Scaling groups",
            ),
        ] {
            if live {
                plan.notes
                    .push(format!("--declared-load: planned on the declared {what}"));
            }
        }
    }
    Ok(plan)
}

/// The baseline a restore returns to: that of the last evacuation of the region that left
/// traffic moved; on the simulator without one, its start state.
pub(crate) fn restore_baseline(req: &Request<'_>) -> Result<Weights, PrepareError> {
    let topology = &req.loaded.topology;
    if let Some(log) = req.undone {
        return Ok(log.baseline().clone());
    }
    match req.kind {
        BackendKind::Sim => Ok(plan::initial_weights(topology)),
        BackendKind::Aws => Err(PrepareError::Refused(format!(
            "no evacuation of {} is recorded in {}: there is no baseline to restore to",
            req.region, req.history_at
        ))),
    }
}

/// The run a restore of `region` undoes: the last evacuation of the region of `topology` in
/// `history` (oldest first) that left traffic moved; `None` for an evacuation. The caller
/// reads it whole (its baseline and pre-scaled groups) for [`Request::undone`].
pub fn undone_evacuation<'h>(
    history: &'h [RunSummary],
    topology: &str,
    operation: Operation,
    region: &str,
) -> Option<&'h RunSummary> {
    if operation != Operation::Restore {
        return None;
    }
    history.iter().rev().find(|run| {
        run.header.operation == Operation::Evacuate
            && run.header.region == region
            && run.header.topology == topology
            && !run.header.dry_run
            && !matches!(run.state, RunState::Refused | RunState::RolledBack)
    })
}

/// A restore: the Auto Scaling groups the evacuation it undoes pre-scaled.
pub(crate) fn prescaled_groups(req: &Request<'_>) -> Vec<CapacityChange> {
    match (req.operation, req.undone) {
        (Operation::Restore, Some(undone)) => undone.prescaled(),
        _ => Vec::new(),
    }
}

/// The groups of `raised` whose desired capacity is still above the original.
pub async fn still_raised(
    scaling: &dyn ScalingBackend,
    raised: &[CapacityChange],
) -> Result<Vec<CapacityChange>, PrepareError> {
    let groups: Vec<GroupRef> = raised
        .iter()
        .map(|c| GroupRef {
            region: c.region.clone(),
            group: c.group.clone(),
        })
        .collect();
    let states = scaling.describe(&groups).await.map_err(|e| {
        PrepareError::Refused(format!(
            "cannot read the Auto Scaling groups to return: {e}"
        ))
    })?;
    Ok(raised
        .iter()
        .zip(&groups)
        .filter(|(c, g)| states.get(*g).is_some_and(|s| s.desired > c.from))
        .map(|(c, _)| c.clone())
        .collect())
}
