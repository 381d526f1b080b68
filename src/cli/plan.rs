//! `kong plan evacuate|restore REGION`: the plan from live weights; changes nothing.

use std::path::Path;

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, OperationArg, PlanFormat};
use crate::plan::{Operation, Plan, render};
use crate::prepare::{self, Request};

/// Plans and prints; pre-flight failing is [`Done::PreflightFails`] (exit 3), so CI on a
/// pull request notices.
pub fn run(
    common: &Common,
    operation: OperationArg,
    region: &str,
    format: PlanFormat,
    out: Option<&Path>,
    declared_load: bool,
) -> Result<Done, CliError> {
    let operation = match operation {
        OperationArg::Evacuate => Operation::Evacuate,
        OperationArg::Restore => Operation::Restore,
    };
    let line = match format {
        PlanFormat::Json => Line::Stderr,
        PlanFormat::Text | PlanFormat::Markdown => Line::Stdout,
    };
    let ctx = Context::open(common, operation.as_str(), line)?;
    let backends = ctx.backends()?;
    let sources = ctx.sources(&backends.traffic)?;
    // Only a restore looks at the history (the evacuation it undoes).
    let history = match operation {
        Operation::Restore => ctx.state.list_runs()?,
        Operation::Evacuate => Vec::new(),
    };
    let input = ctx.block_on(prepare::gather(&Request {
        loaded: &ctx.files,
        kind: ctx.kind,
        operation,
        region,
        declared_load,
        history: &history,
        history_at: &ctx.state.describe(),
        traffic: backends.traffic.as_ref(),
        scaling: backends.scaling.as_ref(),
        source: &sources,
    }))?;
    let plan = prepare::make_plan(&ctx.files, &input)?;
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
    let done = if plan.preflight_ok() {
        Done::Ok
    } else {
        eprintln!("pre-flight fails: {}", preflight_failures(&plan).join("; "));
        Done::PreflightFails
    };
    // The process exits next: freeing a big plan and topology piece by piece would only
    // cost time (about a tenth of `kong plan` on a 10,000-service topology).
    std::mem::forget(plan);
    std::mem::forget(input);
    std::mem::forget(ctx);
    Ok(done)
}

/// One sentence per failing pre-flight row.
fn preflight_failures(plan: &Plan) -> Vec<String> {
    plan.preflight
        .iter()
        .filter(|r| !r.fits())
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
