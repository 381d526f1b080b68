//! `kong plan evacuate|restore REGION`: the plan from live weights; changes nothing.

use std::path::Path;

use super::{CliError, Common, OperationArg, PlanFormat, backend, files};
use crate::backend::scaling::ScalingBackend;
use crate::checks::{MetricSource, Sources};
use crate::journal::{CapacityChange, RunLog, RunState};
use crate::live;
use crate::model::{BackendKind, Playbook, Topology};
use crate::plan::{self, Figures, Operation, Plan, PlanError, PlanInput, Weights, render};

/// Plans and prints; exit 3 when pre-flight fails, so CI on a pull request notices.
pub fn run(
    common: &Common,
    operation: OperationArg,
    region: &str,
    format: PlanFormat,
    out: Option<&Path>,
    declared_load: bool,
) -> Result<i32, CliError> {
    let operation = match operation {
        OperationArg::Evacuate => Operation::Evacuate,
        OperationArg::Restore => Operation::Restore,
    };
    let loaded = files::load(common, operation.as_str())?;
    let kind = files::backend_kind(common, Some(&loaded.topology));
    let line = format!(
        "{}{}",
        files::backend_line(kind, common),
        backend::state_note(common, Some(&loaded.topology))?
    );
    match format {
        PlanFormat::Json => eprintln!("{line}"),
        PlanFormat::Text | PlanFormat::Markdown => println!("{line}"),
    }
    let rt = backend::runtime()?;
    let (backend, scaling) = backend::open_with_scaling(common, &loaded.topology)?;
    let observed = rt.block_on(backend::read_all(backend.as_ref(), &loaded.topology))?;
    let figures = if declared_load {
        Figures::default()
    } else {
        let aws = backend::aws_settings(common)?;
        let sources = Sources::for_topology(&loaded.topology, &common.state_dir, &aws)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let prescaled = prescaled_region(&loaded.playbook, operation, region);
        rt.block_on(live_figures(
            &loaded.topology,
            &sources,
            scaling.as_ref(),
            prescaled,
        ))?
    };
    let runs = match operation {
        Operation::Restore => rt.block_on(async {
            backend::open_state(common, Some(&loaded.topology))
                .await?
                .list_runs()
                .await
                .map_err(|e| CliError::Unexpected(e.into()))
        })?,
        Operation::Evacuate => Vec::new(),
    };
    let mut plan = make_plan(&runs, &loaded, kind, operation, region, &observed, &figures)?;
    if declared_load {
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
    let rendered = match format {
        PlanFormat::Text => render::text(&plan),
        PlanFormat::Markdown => render::markdown(&plan),
        PlanFormat::Json => render::json(&plan),
    };
    print!("{rendered}");
    if let Some(path) = out {
        std::fs::write(path, render::json(&plan)).map_err(|e| {
            CliError::Usage(format!("cannot write the plan to {}: {e}", path.display()))
        })?;
        eprintln!("plan saved to {}", path.display());
    }
    let code = if plan.preflight_ok() {
        0
    } else {
        eprintln!("pre-flight fails: {}", preflight_failures(&plan).join("; "));
        3
    };
    // The process exits next: freeing a big plan and topology piece by piece would only
    // cost time (about a tenth of `kong plan` on a 10,000-service topology).
    std::mem::forget(plan);
    std::mem::forget(observed);
    std::mem::forget(loaded);
    Ok(code)
}

/// The live figures of `topology` (load from `load_query`, capacity from Auto Scaling), or
/// a refusal naming what could not be read.
pub async fn live_figures(
    topology: &Topology,
    source: &dyn MetricSource,
    scaling: &dyn ScalingBackend,
    prescaled: Option<&str>,
) -> Result<Figures, CliError> {
    live::resolve(topology, source, scaling, prescaled)
        .await
        .map_err(|e| CliError::Refused(e.to_string()))
}

/// The region whose evacuation pre-scales the others (`prescale` in the playbook), if any.
pub fn prescaled_region<'r>(
    playbook: &Playbook,
    operation: Operation,
    region: &'r str,
) -> Option<&'r str> {
    (operation == Operation::Evacuate && playbook.prescale.is_some()).then_some(region)
}

/// Plans `operation region` from `observed` with the live `figures` in place of the
/// declared ones (and marked as live), with hashes filled in.
pub fn make_plan(
    runs: &[RunLog],
    loaded: &files::Loaded,
    kind: BackendKind,
    operation: Operation,
    region: &str,
    observed: &Weights,
    figures: &Figures,
) -> Result<Plan, CliError> {
    let live_topology;
    let topology = if figures.is_empty() {
        &loaded.topology
    } else {
        live_topology = figures.apply(&loaded.topology);
        &live_topology
    };
    let restore_to = match operation {
        Operation::Evacuate => None,
        Operation::Restore => Some(restore_baseline(runs, &loaded.topology, kind, region)?),
    };
    let mut plan = plan::plan(&PlanInput {
        topology,
        playbook: &loaded.playbook,
        operation,
        region,
        observed,
        restore_to: restore_to.as_ref(),
    })
    .map_err(plan_error)?;
    plan::annotate(&mut plan, figures);
    plan.topology_hash = loaded.topology_hash.clone();
    plan.playbook_hash = loaded.playbook_hash.clone();
    Ok(plan)
}

/// The baseline to restore `region` to: that of the last evacuation of `region` that left
/// traffic moved (among `runs`, the state's history); on the simulator without one, its
/// start state.
pub fn restore_baseline(
    runs: &[RunLog],
    topology: &Topology,
    kind: BackendKind,
    region: &str,
) -> Result<Weights, CliError> {
    if let Some(log) = last_evacuation(runs, topology, region) {
        return Ok(log.baseline().clone());
    }
    match kind {
        BackendKind::Sim => Ok(plan::initial_weights(topology)),
        BackendKind::Aws => Err(CliError::Refused(format!(
            "no evacuation of {region} is recorded in the state: there is no baseline to restore to"
        ))),
    }
}

/// The last evacuation of `region` that left traffic moved (the one a restore undoes).
fn last_evacuation<'r>(
    runs: &'r [RunLog],
    topology: &Topology,
    region: &str,
) -> Option<&'r RunLog> {
    runs.iter().rev().find(|log| {
        log.header.operation == Operation::Evacuate
            && log.header.region == region
            && log.header.topology == topology.name
            && !log.header.dry_run
            && !matches!(log.state, RunState::Refused | RunState::RolledBack)
    })
}

/// The Auto Scaling groups the evacuation a restore of `region` undoes pre-scaled, with
/// their original desired capacity; none when there is no such evacuation.
pub fn prescaled_groups(runs: &[RunLog], topology: &Topology, region: &str) -> Vec<CapacityChange> {
    last_evacuation(runs, topology, region)
        .map(|log| log.prescaled())
        .unwrap_or_default()
}

/// Maps a planner refusal to an exit code: a region the topology lacks is a bad
/// invocation; a topology that cannot be drained is a pre-flight refusal.
pub fn plan_error(err: PlanError) -> CliError {
    match err {
        PlanError::UnknownRegion { .. } => CliError::Usage(err.to_string()),
        PlanError::Cycle { .. } | PlanError::InvalidSchedule { .. } => {
            CliError::Usage(err.to_string())
        }
        _ => CliError::Refused(err.to_string()),
    }
}

/// One sentence per failing pre-flight row.
pub fn preflight_failures(plan: &Plan) -> Vec<String> {
    plan.preflight
        .iter()
        .filter(|r| !r.ok)
        .map(|r| {
            format!(
                "{} in {}: projected {:.0} req/s on capacity {:.0} is {:.1}% > {:.1}% allowed",
                r.service,
                r.region,
                r.projected_load,
                r.capacity,
                r.utilization * 100.0,
                r.max_utilization * 100.0
            )
        })
        .collect()
}
