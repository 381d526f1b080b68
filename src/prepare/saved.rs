//! `--plan FILE`: a plan saved by `kong plan --out` is executed exactly as reviewed, or not
//! at all.
//!
//! No field of the file that kong can compute is trusted (pre-flight `ok`, projections,
//! final shares, even the weights of each step): [`verify`] plans again from the same files,
//! the live weights and the load and capacity figures recorded in the plan, and refuses
//! unless the two plans are identical, naming the first difference. A plan edited after
//! review, however consistently, is refused. It then projects the plan's pre-flight again on
//! the live figures of now (a `load_query` may have moved since the review) and refuses if a
//! destination would be over its limit. What runs is the plan computed now, which is the
//! reviewed one. Reads only; prints nothing.

use std::path::Path;

use serde::Deserialize;

use crate::plan::{self, Figures, Operation, Plan, PlanDiff, Weights, render};

use super::{
    Loaded, PlanningInput, PrepareError, Request, live, make_plan, prescaled_groups,
    prescaled_region, read_weights, restore_baseline,
};

/// What the run executes when given `--plan path`: the plan computed now, once found
/// identical to the saved one and passing pre-flight with the live figures of now; with the
/// input it was planned on (the figures recorded in the plan).
///
/// The usual case, a file that is exactly what `kong plan --format json` wrote, is decided
/// without building the saved plan (see [`unchanged`]); any other file is read whole and
/// compared field by field, and the first difference named.
pub async fn verify(req: &Request<'_>, path: &Path) -> Result<(Plan, PlanningInput), PrepareError> {
    let observed = read_weights(req.traffic, &req.loaded.topology).await?;
    let bytes = read_bytes(path)?;
    let (computed, input) = match unchanged(req, &bytes, &observed) {
        Some(same) => same,
        None => {
            let saved = load_saved_from(
                path,
                &bytes,
                req.loaded,
                req.operation,
                req.region,
                &observed,
            )?;
            let input = planning_input(req, observed, &saved.figures)?;
            let computed = make_plan(req.loaded, &input)?;
            refuse_differences(req, path, &saved, &computed)?;
            (computed, input)
        }
    };
    // Pre-flight again, on the live figures of now.
    let topology = &req.loaded.topology;
    let prescaled = prescaled_region(&req.loaded.playbook, req.operation, req.region);
    let now = live::resolve(topology, req.source, req.scaling, prescaled)
        .await
        .map_err(|e| PrepareError::Refused(e.to_string()))?;
    let reprojected;
    let rows = if now.load == input.figures.load && now.capacity == input.figures.capacity {
        &computed.preflight
    } else {
        let mut rows = plan::reproject(&computed, &now.apply(topology));
        plan::mark_sources(&mut rows, &now);
        reprojected = rows;
        &reprojected
    };
    let failures = plan::preflight_failures(rows);
    if !failures.is_empty() {
        return Err(PrepareError::Refused(format!(
            "the pre-flight of {} fails with the live figures of now: {}. Plan again and have it reviewed",
            path.display(),
            failures.join("; ")
        )));
    }
    Ok((computed, input))
}

/// The input a saved plan is planned again on: the live weights, the figures it records,
/// and what the history says.
fn planning_input(
    req: &Request<'_>,
    observed: Weights,
    figures: &Figures,
) -> Result<PlanningInput, PrepareError> {
    Ok(PlanningInput {
        operation: req.operation,
        region: req.region.to_string(),
        observed,
        figures: figures.clone(),
        declared_load: figures.declared_load,
        restore_to: match req.operation {
            Operation::Evacuate => None,
            Operation::Restore => Some(restore_baseline(req)?),
        },
        prescaled: prescaled_groups(req),
    })
}

/// What planning a saved plan again takes from its file: the figures it records. The rest
/// of the file (steps, shares, weights: nearly all of its bytes) is skipped unparsed.
#[derive(Deserialize)]
struct Recorded {
    #[serde(default)]
    figures: Figures,
}

/// The plan computed now and its input when the saved file is byte for byte the JSON
/// `kong plan --format json` (or `--out`) writes for that plan, and the plan passes the
/// checks a saved plan must pass; `None` otherwise (a file edited, reformatted, or for other
/// files or weights), and the caller reads the file whole.
///
/// The JSON of a plan is deterministic (ordered maps and lists, shortest round-trip floats),
/// so a file equal to it holds exactly the computed plan: building the saved plan to compare
/// it field by field (most of the cost of `--plan` at 10,000 services) would find nothing.
fn unchanged(req: &Request<'_>, bytes: &[u8], observed: &Weights) -> Option<(Plan, PlanningInput)> {
    let recorded: Recorded = serde_json::from_slice(bytes).ok()?;
    let input = planning_input(req, observed.clone(), &recorded.figures).ok()?;
    let computed = make_plan(req.loaded, &input).ok()?;
    let fits = check_saved(
        &computed,
        Path::new(""),
        req.loaded,
        req.operation,
        req.region,
        observed,
    );
    (fits.is_ok() && render::same_json(&computed, bytes)).then_some((computed, input))
}

/// Refuses unless `saved` is the plan computed now, naming the first difference.
fn refuse_differences(
    req: &Request<'_>,
    path: &Path,
    saved: &Plan,
    computed: &Plan,
) -> Result<(), PrepareError> {
    let diff = PlanDiff::new(saved, computed);
    match diff.first() {
        None => Ok(()),
        Some(first) => Err(PrepareError::Refused(format!(
            "{} is not the plan kong computes now from the same files, the live weights and the figures it records ({} difference{}); the first: {}. Plan again (`kong plan {} {} --out NEW.json`; `kong plan diff {} NEW.json` shows every difference) and have it reviewed",
            path.display(),
            diff.differences.len(),
            if diff.differences.len() == 1 { "" } else { "s" },
            first.describe("the file", "the plan computed now"),
            req.operation,
            req.region,
            path.display(),
        ))),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, PrepareError> {
    std::fs::read(path)
        .map_err(|e| PrepareError::Usage(format!("cannot read plan {}: {e}", path.display())))
}

fn parse_plan(path: &Path, bytes: &[u8]) -> Result<Plan, PrepareError> {
    serde_json::from_slice(bytes).map_err(|e| {
        PrepareError::Usage(format!(
            "{}: not a kong plan (JSON from `kong plan --out`): {e}",
            path.display()
        ))
    })
}

/// The plan saved in `path` by `kong plan --out`; a file that is not one is a bad request.
pub fn read_plan(path: &Path) -> Result<Plan, PrepareError> {
    parse_plan(path, &read_bytes(path)?)
}

/// A plan saved by `kong plan --out`, for `operation region`, checked against the files
/// (their hashes) and the live weights (`observed`, its baseline).
pub fn load_saved(
    path: &Path,
    loaded: &Loaded,
    operation: Operation,
    region: &str,
    observed: &Weights,
) -> Result<Plan, PrepareError> {
    load_saved_from(
        path,
        &read_bytes(path)?,
        loaded,
        operation,
        region,
        observed,
    )
}

/// [`load_saved`] of the file's `bytes`, read already.
fn load_saved_from(
    path: &Path,
    bytes: &[u8],
    loaded: &Loaded,
    operation: Operation,
    region: &str,
    observed: &Weights,
) -> Result<Plan, PrepareError> {
    let plan = parse_plan(path, bytes)?;
    check_saved(&plan, path, loaded, operation, region, observed)?;
    Ok(plan)
}

/// Refuses a saved `plan` (from `path`) made for another operation or region, from other
/// files (their hashes), or on other weights than the live ones (`observed`, its baseline).
fn check_saved(
    plan: &Plan,
    path: &Path,
    loaded: &Loaded,
    operation: Operation,
    region: &str,
    observed: &Weights,
) -> Result<(), PrepareError> {
    if plan.operation != operation || plan.region != region {
        return Err(PrepareError::Usage(format!(
            "{} is a plan to {} {}, not to {operation} {region}",
            path.display(),
            plan.operation,
            plan.region
        )));
    }
    for (changed, file, hash) in [
        (
            &plan.topology_hash,
            &loaded.topology_path,
            &loaded.topology_hash,
        ),
        (
            &plan.playbook_hash,
            &loaded.playbook_path,
            &loaded.playbook_hash,
        ),
    ] {
        if changed != hash {
            return Err(PrepareError::Refused(format!(
                "{} changed since the plan {} was made: plan again and have it reviewed",
                file.display(),
                path.display()
            )));
        }
    }
    for (dial, weights) in &plan.baseline {
        let live = observed.get(dial);
        if live != Some(weights) {
            return Err(PrepareError::Refused(format!(
                "live weights of {dial} ({}) differ from the baseline of plan {} ({}): the world moved since the plan was made",
                fmt_weights(live),
                path.display(),
                fmt_weights(Some(weights))
            )));
        }
    }
    Ok(())
}

fn fmt_weights(w: Option<&std::collections::BTreeMap<String, u32>>) -> String {
    match w {
        None => "missing".to_string(),
        Some(w) => w
            .iter()
            .map(|(m, v)| format!("{m}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}
