//! `kong schedule [--region R]`: the next opening of the drill playbook's schedule and the
//! last completed drill of each region.

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, OutputFormat};

/// Prints the schedule, then one line per region (or only `region`); as JSON, one object per
/// region (`region`, `last_drill`, `due`, `next_opening`, `not_due`).
pub fn run(common: &Common, region: Option<&str>, format: OutputFormat) -> Result<Done, CliError> {
    let line = match format {
        OutputFormat::Text => Line::Stdout,
        OutputFormat::Json => Line::Stderr,
    };
    let ctx: Context = Context::open(common, "drill", line)?;
    let regions: Vec<String> = ctx
        .files
        .topology
        .regions
        .iter()
        .filter(|name| region.is_none_or(|wanted| wanted == name.as_str()))
        .cloned()
        .collect();
    if let Some(wanted) = region {
        ctx.check_region(wanted)?;
    }
    let logs = ctx.block_on(ctx.state.list_runs())?;
    let last = crate::schedule::last_completed_drills(&logs);
    let now = jiff::Timestamp::now();
    let playbook = &ctx.files.playbook;
    let schedule = playbook.schedule.as_ref();
    let rows = crate::schedule::overview(schedule, &regions, &last, now);
    match format {
        OutputFormat::Text => print!(
            "{}",
            crate::schedule::render_text(&playbook.name, schedule, &rows, now)
        ),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Unexpected(e.into()))?
        ),
    }
    Ok(Done::Ok)
}
