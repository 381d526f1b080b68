//! `kong state init | check | export RUN | import FILE`: the shared state's table, and moving
//! runs between states.

use std::path::Path;

use super::{CliError, Common, backend};
use crate::journal::{self, StateStore};

/// The DynamoDB state the flags or the topology name; refused for the local state.
async fn shared(common: &Common, command: &str) -> Result<journal::dynamo::DynamoState, CliError> {
    let topology = backend::topology_if_present(common)?;
    match backend::open_state(common, topology.as_ref()).await? {
        StateStore::Dynamo(d) => Ok(d),
        StateStore::Local(_) => Err(CliError::Usage(format!(
            "kong state {command} works on shared state: pass --state dynamodb://TABLE[?region=R] \
             or set the topology's `state: {{dynamodb: {{table, region}}}}`"
        ))),
    }
}

/// Any state: the flags', the topology's, or the local state dir.
async fn any(common: &Common) -> Result<StateStore, CliError> {
    let topology = backend::topology_if_present(common)?;
    backend::open_state(common, topology.as_ref()).await
}

/// `kong state init [--point-in-time-recovery]`.
pub fn init(common: &Common, point_in_time_recovery: bool) -> Result<i32, CliError> {
    backend::runtime()?.block_on(async {
        let table = shared(common, "init").await?;
        let said = table
            .init(point_in_time_recovery)
            .await
            .map_err(|e| CliError::Unexpected(e.into()))?;
        println!("state: {said}");
        Ok(0)
    })
}

/// `kong state check`: exit 0 when every step passes, 1 naming the missing permission.
pub fn check(common: &Common) -> Result<i32, CliError> {
    backend::runtime()?.block_on(async {
        let table = shared(common, "check").await?;
        println!("state: dynamodb {} ({})", table.table(), table.region());
        let passed = table
            .check()
            .await
            .map_err(|e| CliError::Unexpected(e.into()))?;
        for line in passed {
            println!("ok  {line}");
        }
        Ok(0)
    })
}

/// `kong state export RUN`: the run's records as JSON lines on stdout.
pub fn export(common: &Common, run: &str) -> Result<i32, CliError> {
    backend::runtime()?.block_on(async {
        let state = any(common).await?;
        eprintln!("state: {}", state.describe());
        let log = state
            .read_run(&run.to_string())
            .await
            .map_err(backend::state_error)?;
        let lines = journal::export_lines(&log).map_err(|e| CliError::Unexpected(e.into()))?;
        print!("{lines}");
        Ok(0)
    })
}

/// `kong state import FILE`: writes an exported run into the state.
pub fn import(common: &Common, file: &Path) -> Result<i32, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let records = journal::parse_export(&file.display().to_string(), &text)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    backend::runtime()?.block_on(async {
        let state = any(common).await?;
        println!("state: {}", state.describe());
        let id = state.import(&records).await.map_err(|e| match e {
            journal::JournalError::Corrupt { .. } => CliError::Usage(e.to_string()),
            other => CliError::Refused(other.to_string()),
        })?;
        println!("imported run {id} ({} records)", records.len());
        Ok(0)
    })
}
