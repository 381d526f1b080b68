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

use crate::plan::{self, Operation, Plan, PlanDiff, Weights};

use super::{
    Loaded, PlanningInput, PrepareError, Request, live, make_plan, prescaled_groups,
    prescaled_region, read_weights, restore_baseline,
};

/// What the run executes when given `--plan path`: the plan computed now, once found
/// identical to the saved one and passing pre-flight with the live figures of now; with the
/// input it was planned on (the figures recorded in the plan).
pub async fn verify(req: &Request<'_>, path: &Path) -> Result<(Plan, PlanningInput), PrepareError> {
    let observed = read_weights(req.traffic, &req.loaded.topology).await?;
    let saved = load_saved(path, req.loaded, req.operation, req.region, &observed)?;
    let input = PlanningInput {
        operation: req.operation,
        region: req.region.to_string(),
        observed,
        figures: saved.figures.clone(),
        declared_load: saved.figures.declared_load,
        restore_to: match req.operation {
            Operation::Evacuate => None,
            Operation::Restore => Some(restore_baseline(req)?),
        },
        prescaled: prescaled_groups(req),
    };
    let computed = make_plan(req.loaded, &input)?;
    let diff = PlanDiff::new(&saved, &computed);
    if let Some(first) = diff.first() {
        return Err(PrepareError::Refused(format!(
            "{} is not the plan kong computes now from the same files, the live weights and the figures it records ({} difference{}); the first: {}. Plan again (`kong plan {} {} --out NEW.json`; `kong plan diff {} NEW.json` shows every difference) and have it reviewed",
            path.display(),
            diff.differences.len(),
            if diff.differences.len() == 1 { "" } else { "s" },
            first.describe("the file", "the plan computed now"),
            req.operation,
            req.region,
            path.display(),
        )));
    }
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

/// The plan saved in `path` by `kong plan --out`; a file that is not one is a bad request.
pub fn read_plan(path: &Path) -> Result<Plan, PrepareError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PrepareError::Usage(format!("cannot read plan {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        PrepareError::Usage(format!(
            "{}: not a kong plan (JSON from `kong plan --out`): {e}",
            path.display()
        ))
    })
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
    let plan = read_plan(path)?;
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
    Ok(plan)
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
