//! `kong status` and `kong runs`: live shares, the run in progress, the lock holder, history.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::context::{Context, Line};
use super::exit::Done;
use super::{CliError, Common, OutputFormat};
use crate::journal::lock;
use crate::model::Topology;
use crate::plan;

#[derive(Serialize)]
struct DialStatus {
    dial: String,
    weights: BTreeMap<String, u32>,
}

#[derive(Serialize)]
struct ActiveRun {
    id: String,
    operation: String,
    region: String,
    state: String,
    started_at: String,
    host: String,
    pid: u32,
    /// Whether a live process holds the lock for it (false: interrupted or paused).
    live: bool,
}

#[derive(Serialize)]
struct Status {
    backend: String,
    topology: String,
    shares: plan::Shares,
    dials: Vec<DialStatus>,
    active_run: Option<ActiveRun>,
    lock: Option<lock::LockOwner>,
}

/// Prints live shares per service and region, the active run and the lock holder.
pub fn status(common: &Common, format: OutputFormat) -> Result<Done, CliError> {
    let ctx = Context::<Arc<Topology>>::open(common, "status", line_for(format))?;
    let topology = ctx.topology();
    let backend = ctx.backends()?.traffic;
    let weights = ctx.block_on(crate::prepare::read_weights(backend.as_ref(), topology))?;
    let shares = plan::all_served_shares(topology, &weights);
    let holder = ctx.block_on(ctx.state.lock_holder(&topology.name))?;
    let runs = ctx.block_on(ctx.state.list_runs())?;
    let active_run = runs
        .iter()
        .rev()
        .find(|log| log.header.topology == topology.name && !log.state.is_final())
        .map(|log| ActiveRun {
            id: log.header.id.clone(),
            operation: log.header.operation.to_string(),
            region: log.header.region.clone(),
            state: log.state.key().to_string(),
            started_at: log.header.started_at.clone(),
            host: log.header.host.clone(),
            pid: log.header.pid,
            live: holder.as_ref().is_some_and(|h| h.run_id == log.header.id),
        });
    let status = Status {
        backend: backend.name().to_string(),
        topology: topology.name.clone(),
        shares,
        dials: weights
            .into_iter()
            .map(|(dial, weights)| DialStatus { dial, weights })
            .collect(),
        active_run,
        lock: holder,
    };
    match format {
        OutputFormat::Json => {
            let json = serde_json::to_string_pretty(&status)
                .map_err(|e| CliError::Unexpected(e.into()))?;
            println!("{json}");
        }
        OutputFormat::Text => print!("{}", status_text(&status)),
    }
    Ok(Done::Ok)
}

/// The backend line goes to stderr when stdout carries JSON.
fn line_for(format: OutputFormat) -> Line {
    match format {
        OutputFormat::Json => Line::Stderr,
        OutputFormat::Text => Line::Stdout,
    }
}

fn status_text(status: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let regions: std::collections::BTreeSet<&String> =
        status.shares.values().flat_map(|s| s.keys()).collect();
    let width = status
        .shares
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = write!(out, "{:width$}", "service");
    for r in &regions {
        let _ = write!(out, "  {r:>12}");
    }
    let _ = writeln!(out);
    for (service, shares) in &status.shares {
        let _ = write!(out, "{service:width$}");
        for r in &regions {
            match shares.get(*r) {
                Some(s) => {
                    let _ = write!(out, "  {:>11.1}%", s * 100.0);
                }
                None => {
                    let _ = write!(out, "  {:>12}", "-");
                }
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
    match &status.active_run {
        Some(run) => {
            let _ = writeln!(
                out,
                "active run: {} ({} {}), {}{}",
                run.id,
                run.operation,
                run.region,
                run.state,
                if run.live {
                    format!(", in progress on {} (pid {})", run.host, run.pid)
                } else {
                    format!(
                        ", no live process: `kong resume {}` or `kong rollback {}`",
                        run.id, run.id
                    )
                }
            );
        }
        None => {
            let _ = writeln!(out, "active run: none");
        }
    }
    match &status.lock {
        Some(owner) => {
            let _ = writeln!(
                out,
                "lock: held by run {} on {} (pid {}) since {}, lease until {}",
                owner.run_id, owner.host, owner.pid, owner.started_at, owner.lease_expires_at
            );
        }
        None => {
            let _ = writeln!(out, "lock: free");
        }
    }
    out
}

#[derive(Serialize)]
struct RunRow {
    id: String,
    operation: String,
    region: String,
    command: String,
    topology: String,
    backend: String,
    state: String,
    started_at: String,
    finished_at: Option<String>,
    abort_reason: Option<String>,
}

/// Prints the run history, oldest first.
pub fn runs(common: &Common, format: OutputFormat) -> Result<Done, CliError> {
    let ctx = Context::<()>::open(common, "runs", line_for(format))?;
    let runs = ctx.block_on(ctx.state.list_runs())?;
    let rows: Vec<RunRow> = runs
        .iter()
        .map(|log| RunRow {
            id: log.header.id.clone(),
            operation: log.header.operation.to_string(),
            region: log.header.region.clone(),
            command: log.header.command.clone(),
            topology: log.header.topology.clone(),
            backend: log.header.backend.clone(),
            state: log.state.key().to_string(),
            started_at: log.header.started_at.clone(),
            finished_at: log.finished_at().map(str::to_string),
            abort_reason: log.aborted_reason().map(str::to_string),
        })
        .collect();
    match format {
        OutputFormat::Json => {
            let json =
                serde_json::to_string_pretty(&rows).map_err(|e| CliError::Unexpected(e.into()))?;
            println!("{json}");
        }
        OutputFormat::Text => {
            if rows.is_empty() {
                println!("no runs in {}", ctx.state.describe());
            }
            for r in &rows {
                println!(
                    "{}  {:<16} {:<8} {:<9} {}{}",
                    r.id,
                    r.state,
                    r.command,
                    r.backend,
                    r.started_at,
                    r.abort_reason
                        .as_deref()
                        .map(|a| format!("  aborted: {a}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(Done::Ok)
}
