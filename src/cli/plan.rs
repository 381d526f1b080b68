//! `kong plan evacuate|restore REGION`: the plan from live weights; changes nothing.

use std::path::Path;

use super::{CliError, Common, OperationArg, PlanFormat, backend, files};
use crate::backend::scaling::ScalingBackend;
use crate::checks::{MetricSource, Sources};
use crate::journal::{self, CapacityChange, RunLog, RunState};
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
    let line = files::backend_line(kind, common);
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
    let mut plan = make_plan(
        common, &loaded, kind, operation, region, &observed, &figures,
    )?;
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
    print_plan(&plan, format)?;
    if let Some(path) = out {
        std::fs::File::create(path)
            .and_then(|file| {
                let mut file = std::io::BufWriter::new(file);
                render::write_json(&plan, &mut file)?;
                std::io::Write::flush(&mut file)
            })
            .map_err(|e| {
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

/// Prints `plan` on stdout in `format`, JSON as it is produced.
fn print_plan(plan: &Plan, format: PlanFormat) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match format {
        PlanFormat::Text => out.write_all(render::text(plan).as_bytes()),
        PlanFormat::Markdown => out.write_all(render::markdown(plan).as_bytes()),
        PlanFormat::Json => render::write_json(plan, &mut out),
    }
    .and_then(|()| out.flush())
    .map_err(|e| CliError::Unexpected(anyhow::anyhow!("cannot print the plan: {e}")))
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
    common: &Common,
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
        Operation::Restore => Some(restore_baseline(common, &loaded.topology, kind, region)?),
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
/// traffic moved; on the simulator without one, its start state.
pub fn restore_baseline(
    common: &Common,
    topology: &Topology,
    kind: BackendKind,
    region: &str,
) -> Result<Weights, CliError> {
    if let Some(log) = last_evacuation(common, topology, region)? {
        return Ok(log.baseline().clone());
    }
    match kind {
        BackendKind::Sim => Ok(plan::initial_weights(topology)),
        BackendKind::Aws => Err(CliError::Refused(format!(
            "no evacuation of {region} is recorded in {}: there is no baseline to restore to",
            common.state_dir.display()
        ))),
    }
}

/// The last evacuation of `region` that left traffic moved (the one a restore undoes).
fn last_evacuation(
    common: &Common,
    topology: &Topology,
    region: &str,
) -> Result<Option<RunLog>, CliError> {
    let runs = journal::list_runs(&common.state_dir)
        .map_err(|e| CliError::Unexpected(anyhow::anyhow!(e)))?;
    Ok(runs.into_iter().rev().find(|log| {
        log.header.operation == Operation::Evacuate
            && log.header.region == region
            && log.header.topology == topology.name
            && !log.header.dry_run
            && !matches!(log.state, RunState::Refused | RunState::RolledBack)
    }))
}

/// The Auto Scaling groups the evacuation a restore of `region` undoes pre-scaled, with
/// their original desired capacity; none when there is no such evacuation.
pub fn prescaled_groups(
    common: &Common,
    topology: &Topology,
    region: &str,
) -> Result<Vec<CapacityChange>, CliError> {
    Ok(last_evacuation(common, topology, region)?
        .map(|log| log.prescaled())
        .unwrap_or_default())
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
