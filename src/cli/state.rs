//! `kong state init | check | export RUN | import FILE`: the shared state's table, and moving
//! runs between states.

use std::path::Path;

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common};
use crate::journal::{self, StateStore, dynamo::DynamoState};

/// The DynamoDB table of the context's state; refused for the local state.
fn table<'c>(ctx: &'c Context<()>, command: &str) -> Result<&'c DynamoState, CliError> {
    match ctx.state.store() {
        StateStore::Dynamo(d) => Ok(d),
        StateStore::Local(_) => Err(CliError::Usage(format!(
            "kong state {command} works on shared state: pass --state dynamodb://TABLE[?region=R] \
             or set the topology's `state: {{dynamodb: {{table, region}}}}`"
        ))),
    }
}

/// `kong state init [--point-in-time-recovery]`.
pub fn init(common: &Common, point_in_time_recovery: bool) -> Result<Done, CliError> {
    let ctx = Context::<()>::open(common, "state", Line::Stdout)?;
    let table = table(&ctx, "init")?;
    let said = ctx
        .block_on(table.init(point_in_time_recovery))
        .map_err(|e| CliError::Unexpected(e.into()))?;
    println!("state: {said}");
    Ok(Done::Ok)
}

/// `kong state check`: every step passed, or an error naming the missing permission.
pub fn check(common: &Common) -> Result<Done, CliError> {
    let ctx = Context::<()>::open(common, "state", Line::Stdout)?;
    let table = table(&ctx, "check")?;
    let passed = ctx
        .block_on(table.check())
        .map_err(|e| CliError::Unexpected(e.into()))?;
    for line in passed {
        println!("ok  {line}");
    }
    Ok(Done::Ok)
}

/// `kong state export RUN`: the run's records as JSON lines on stdout (the local journal's
/// format, byte for byte).
pub fn export(common: &Common, run: &str) -> Result<Done, CliError> {
    let ctx = Context::<()>::open(common, "state", Line::Stderr)?;
    let log = ctx.block_on(ctx.state.read_run(run))?;
    let lines = journal::export_lines(&log).map_err(|e| CliError::Unexpected(e.into()))?;
    print!("{lines}");
    Ok(Done::Ok)
}

/// `kong state import FILE`: writes an exported run into the state as a new run.
pub fn import(common: &Common, file: &Path) -> Result<Done, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let records = journal::parse_export(&file.display().to_string(), &text)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let ctx = Context::<()>::open(common, "state", Line::Stdout)?;
    let id = ctx
        .block_on(ctx.state.store().import(&records))
        .map_err(|e| CliError::Refused(e.to_string()))?;
    println!(
        "imported run {id} ({} records) into {}",
        records.len(),
        ctx.state.describe()
    );
    Ok(Done::Ok)
}
