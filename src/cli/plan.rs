//! `kong plan evacuate|restore REGION`: the plan from live weights; changes nothing.

use std::path::Path;

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, OperationArg, PlanFormat};
use crate::plan::{self, Operation, Plan, render};
use crate::prepare::{self, Request};

/// Plans and prints; pre-flight failing is [`Done::PreflightFails`] (exit 3), so CI on a
/// pull request notices.
pub fn run(
    common: &Common,
    operation: OperationArg,
    region: &str,
    format: PlanFormat,
    max_chars: Option<usize>,
    out: Option<&Path>,
    declared_load: bool,
) -> Result<Done, CliError> {
    let operation = match operation {
        OperationArg::Evacuate => Operation::Evacuate,
        OperationArg::Restore => Operation::Restore,
    };
    // A size-limited Markdown is posted as is: only the plan on stdout.
    let line = match format {
        PlanFormat::Json => Line::Stderr,
        PlanFormat::Markdown if max_chars.is_some() => Line::Stderr,
        PlanFormat::Text | PlanFormat::Markdown => Line::Stdout,
    };
    if max_chars.is_some() && format != PlanFormat::Markdown {
        return Err(CliError::Usage(
            "--max-chars applies to --format markdown only".to_string(),
        ));
    }
    let ctx = Context::open(common, operation.as_str(), line)?;
    let backends = ctx.backends()?;
    let sources = ctx.sources(&backends.traffic)?;
    // Only a restore looks at the history (the evacuation it undoes).
    let undone = match operation {
        Operation::Restore => ctx.block_on(async {
            let history = ctx.state.list_summaries().await?;
            let name = &ctx.topology().name;
            ctx.state
                .undone_evacuation(&history, name, operation, region)
                .await
        })?,
        Operation::Evacuate => None,
    };
    let input = ctx.block_on(prepare::gather(&Request {
        loaded: &ctx.files,
        kind: ctx.kind,
        operation,
        region,
        declared_load,
        undone: undone.as_ref(),
        history_at: &ctx.state.describe(),
        traffic: backends.traffic.as_ref(),
        scaling: backends.scaling.as_ref(),
        source: &sources,
    }))?;
    let plan = prepare::make_plan(&ctx.files, &input)?;
    print_plan(&plan, format, max_chars)?;
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
    let done = if plan.preflight_ok() {
        Done::Ok
    } else {
        eprintln!(
            "pre-flight fails: {}",
            plan::preflight_failures(&plan.preflight).join("; ")
        );
        Done::PreflightFails
    };
    // The process exits next: freeing a big plan and topology piece by piece would only
    // cost time (about a tenth of `kong plan` on a 10,000-service topology).
    std::mem::forget(plan);
    std::mem::forget(input);
    std::mem::forget(undone);
    std::mem::forget(sources);
    std::mem::forget(backends);
    std::mem::forget(ctx);
    Ok(done)
}

/// Prints `plan` on stdout in `format`, JSON as it is produced.
fn print_plan(plan: &Plan, format: PlanFormat, max_chars: Option<usize>) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match format {
        PlanFormat::Text => out.write_all(render::text(plan).as_bytes()),
        PlanFormat::Markdown => match max_chars {
            Some(max) => out.write_all(render::markdown_within(plan, max).as_bytes()),
            None => out.write_all(render::markdown(plan).as_bytes()),
        },
        PlanFormat::Json => render::write_json(plan, &mut out),
    }
    .and_then(|()| out.flush())
    .map_err(|e| CliError::Unexpected(anyhow::anyhow!("cannot print the plan: {e}")))
}
