//! `kong schedule [--region R]`: the next opening of the drill playbook's schedule and the
//! last completed drill of each region.

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common};

/// Prints the schedule, then one line per region (or only `region`).
pub fn run(common: &Common, region: Option<&str>) -> Result<Done, CliError> {
    let ctx: Context = Context::open(common, "drill", Line::Stdout)?;
    let regions: Vec<String> = ctx
        .files
        .topology
        .regions
        .iter()
        .filter(|name| region.is_none_or(|wanted| wanted == name.as_str()))
        .cloned()
        .collect();
    if let Some(wanted) = region
        && regions.is_empty()
    {
        return Err(CliError::Usage(format!(
            "--region {wanted}: not a region of topology `{}`",
            ctx.files.topology.name
        )));
    }
    let logs = ctx.block_on(ctx.state.list_runs())?;
    let last = crate::schedule::last_completed_drills(&logs);
    let now = jiff::Timestamp::now();
    let playbook = &ctx.files.playbook;
    let schedule = playbook.schedule.as_ref();
    let rows = crate::schedule::overview(schedule, &regions, &last, now);
    print!(
        "{}",
        crate::schedule::render_text(&playbook.name, schedule, &rows, now)
    );
    Ok(Done::Ok)
}
