//! `kong evacuate | restore | drill | resume | rollback`: commands that move traffic.
//!
//! The CLI's part: pick the plan, take the lock (and renew its lease), open the journal,
//! confirm with a human, wire Ctrl-C, then hand over to the executor and map its outcome to
//! an exit code. Every decision about traffic is the executor's.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::progress::LineProgress;
use super::{CliError, Common, RunFlags, backend, files, plan as plan_cmd};
use crate::backend::TrafficBackend;
use crate::backend::scaling::{GroupRef, ScalingBackend};
use crate::checks::{SimSource, Sources};
use crate::exec::{ExecOptions, Executor, Outcome, Prompter};
use crate::journal::lock::{LockOwner, RENEW_INTERVAL, RunLock, this_host};
use crate::journal::{self, CapacityChange, Journal, RunHeader, RunLog, RunState};
use crate::model::BackendKind;
use crate::plan::{Operation, Plan, render};

/// Asks y/N on the terminal.
struct TtyPrompter;

#[async_trait]
impl Prompter for TtyPrompter {
    async fn confirm(&self, question: &str) -> bool {
        let question = question.to_string();
        tokio::task::spawn_blocking(move || ask(&question))
            .await
            .unwrap_or(false)
    }
}

fn ask(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// Everything a run needs once the files are loaded and the backend open.
pub struct Session {
    pub loaded: files::Loaded,
    pub kind: BackendKind,
    pub backend: Arc<dyn TrafficBackend>,
    pub scaling: Box<dyn ScalingBackend>,
    pub sources: Sources,
    pub options: ExecOptions,
    pub interactive: bool,
}

impl Session {
    /// Loads files, opens the backend and the metric sources, resolves the flags.
    pub fn open(common: &Common, flags: &RunFlags, command: &str) -> Result<Session, CliError> {
        let loaded = files::load(common, command)?;
        let kind = files::backend_kind(common, Some(&loaded.topology));
        println!("{}", files::backend_line(kind, common));
        let RunFlags {
            yes: _,
            approve,
            dry_run,
            time_scale,
        } = *flags;
        if !(time_scale.is_finite() && time_scale >= 1.0) {
            return Err(CliError::Usage(format!(
                "--time-scale {time_scale}: expected a number >= 1"
            )));
        }
        if time_scale != 1.0 && kind != BackendKind::Sim {
            return Err(CliError::Usage(
                "--time-scale only applies to the simulator: real traffic bakes for real"
                    .to_string(),
            ));
        }
        let (backend, scaling) = backend::open_with_scaling(common, &loaded.topology)?;
        let backend: Arc<dyn TrafficBackend> = backend.into();
        // CloudWatch checks use the AWS flags whatever the traffic backend.
        let aws = backend::aws_settings(common)?;
        let mut sources = Sources::for_topology(&loaded.topology, &common.state_dir, &aws)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        if kind == BackendKind::Aws {
            // `sim` checks and the guards model the traffic of the dials kong really moves.
            sources = sources.replace_sim(SimSource::live(&loaded.topology, backend.clone()));
        }
        let interactive = std::io::stdin().is_terminal();
        let options = ExecOptions {
            time_scale,
            dry_run,
            approve,
            interactive,
            ..ExecOptions::default()
        };
        Ok(Session {
            loaded,
            kind,
            backend,
            scaling,
            sources,
            options,
            interactive,
        })
    }

    fn executor<'a>(
        &'a self,
        progress: &'a LineProgress,
        prompter: &'a TtyPrompter,
        interrupts: tokio::sync::watch::Receiver<u32>,
        restore_capacity: &'a [CapacityChange],
    ) -> Executor<'a> {
        Executor {
            topology: &self.loaded.topology,
            playbook: &self.loaded.playbook,
            backend: self.backend.as_ref(),
            scaling: Some(self.scaling.as_ref()),
            restore_capacity,
            source: &self.sources,
            progress,
            prompter,
            options: self.options.clone(),
            interrupts,
        }
    }
}

/// Counts Ctrl-C presses into a watch channel the executor listens to.
fn watch_interrupts() -> tokio::sync::watch::Receiver<u32> {
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        let mut count = 0u32;
        while tokio::signal::ctrl_c().await.is_ok() {
            count += 1;
            if count == 1 {
                eprintln!("\ninterrupted: aborting (traffic will be rolled back to baseline)");
            } else {
                eprintln!("\ninterrupted again: the rollback continues; it is not safe to stop it");
            }
            if tx.send(count).is_err() {
                break;
            }
        }
    });
    rx
}

/// Takes the topology's lock or refuses naming its holder; refuses while an earlier run is
/// unfinished (paused or interrupted) so that two runs never interleave on the same dials.
fn lock(
    common: &Common,
    topology: &str,
    run_id: &str,
    allow_unfinished: Option<&str>,
) -> Result<RunLock, CliError> {
    let owner = LockOwner::for_this_process(run_id);
    let lock = RunLock::acquire(&common.state_dir, topology, owner).map_err(|e| match e {
        journal::lock::LockError::Held { .. } => {
            CliError::Refused(format!("{e}; wait for it to finish (kong status shows it)"))
        }
        other => CliError::Unexpected(anyhow::anyhow!(other)),
    })?;
    let runs = journal::list_runs(&common.state_dir).map_err(|e| CliError::Unexpected(e.into()))?;
    if let Some(unfinished) = runs.iter().rev().find(|log| {
        log.header.topology == topology
            && !log.state.is_final()
            && Some(log.header.id.as_str()) != allow_unfinished
    }) {
        return Err(CliError::Refused(format!(
            "run {} ({} {}) is {}: finish it first with `kong resume {}` or `kong rollback {}`",
            unfinished.header.id,
            unfinished.header.operation,
            unfinished.header.region,
            state_name(unfinished.state),
            unfinished.header.id,
            unfinished.header.id
        )));
    }
    Ok(lock)
}

/// Renews the lease while the run is alive.
fn renew_lease(mut lock: RunLock) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RENEW_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = lock.renew() {
                tracing::warn!("cannot renew the run lock's lease: {e}");
            }
        }
    })
}

/// Human name of a run state.
pub fn state_name(state: RunState) -> &'static str {
    match state {
        RunState::Running => "running (or interrupted)",
        RunState::Paused => "paused",
        RunState::RollingBack => "rolling back (or interrupted)",
        RunState::Completed => "completed",
        RunState::RolledBack => "rolled back",
        RunState::RollbackFailed => "rollback failed",
        RunState::Refused => "refused",
    }
}

/// The plan to execute: a saved one (`--plan FILE`), checked against the files, or a fresh one.
async fn choose_plan(
    common: &Common,
    session: &Session,
    operation: Operation,
    region: &str,
    saved: Option<&Path>,
    observed: &crate::plan::Weights,
) -> Result<Plan, CliError> {
    let Some(path) = saved else {
        let prescaled = plan_cmd::prescaled_region(&session.loaded.playbook, operation, region);
        let figures = plan_cmd::live_figures(
            &session.loaded.topology,
            &session.sources,
            session.scaling.as_ref(),
            prescaled,
        )
        .await?;
        return plan_cmd::make_plan(
            common,
            &session.loaded,
            session.kind,
            operation,
            region,
            observed,
            &figures,
        );
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read plan {}: {e}", path.display())))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{}: not a kong plan (JSON from `kong plan --out`): {e}",
            path.display()
        ))
    })?;
    if plan.operation != operation || plan.region != region {
        return Err(CliError::Usage(format!(
            "{} is a plan to {} {}, not to {operation} {region}",
            path.display(),
            plan.operation,
            plan.region
        )));
    }
    if plan.topology_hash != session.loaded.topology_hash {
        return Err(CliError::Refused(format!(
            "{} changed since the plan {} was made: plan again and have it reviewed",
            session.loaded.topology_path.display(),
            path.display()
        )));
    }
    if plan.playbook_hash != session.loaded.playbook_hash {
        return Err(CliError::Refused(format!(
            "{} changed since the plan {} was made: plan again and have it reviewed",
            session.loaded.playbook_path.display(),
            path.display()
        )));
    }
    for (dial, weights) in &plan.baseline {
        let live = observed.get(dial);
        if live != Some(weights) {
            return Err(CliError::Refused(format!(
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

/// The result of one phase (evacuate or restore) of a command.
pub struct PhaseResult {
    pub run_id: Option<String>,
    pub outcome: Outcome,
}

/// Plans (or loads) and executes one operation as one run.
#[allow(clippy::too_many_arguments)]
async fn phase(
    common: &Common,
    session: &Session,
    flags: &RunFlags,
    command: &str,
    operation: Operation,
    region: &str,
    saved: Option<&Path>,
    interrupts: tokio::sync::watch::Receiver<u32>,
    confirm: bool,
) -> Result<PhaseResult, CliError> {
    let topology = &session.loaded.topology;
    let run_id = journal::new_run_id(operation.as_str(), region);
    let lock = lock(common, &topology.name, &run_id, None)?;
    let observed = backend::read_all(session.backend.as_ref(), topology).await?;
    let plan = choose_plan(common, session, operation, region, saved, &observed).await?;
    print!("{}", render::text(&plan));
    let raised = match operation {
        Operation::Restore => plan_cmd::prescaled_groups(common, topology, region)?,
        Operation::Evacuate => Vec::new(),
    };
    // Traffic already back, but groups the evacuation raised still above their original
    // desired capacity: the run returns them (it has no step to apply).
    let still_raised = if plan.is_empty() && !raised.is_empty() {
        still_raised(session, &raised).await?
    } else {
        Vec::new()
    };
    if plan.is_empty() && !flags.dry_run && still_raised.is_empty() {
        println!(
            "nothing to do: {region} is already {}",
            match operation {
                Operation::Evacuate => "evacuated",
                Operation::Restore => "at its baseline",
            }
        );
        return Ok(PhaseResult {
            run_id: None,
            outcome: Outcome::Completed,
        });
    }
    if confirm && !flags.yes && !flags.dry_run {
        if !session.interactive {
            return Err(CliError::Refused(
                "stdin is not a terminal: pass --yes to confirm the run".to_string(),
            ));
        }
        let question = format!(
            "{operation} {region} on backend {} ({} steps)?",
            session.backend.name(),
            plan.steps.len()
        );
        if !ask(&question) {
            return Err(CliError::Refused("not confirmed".to_string()));
        }
    }
    let header = RunHeader {
        id: run_id.clone(),
        operation,
        region: region.to_string(),
        command: command.to_string(),
        topology: topology.name.clone(),
        topology_path: session.loaded.topology_path.display().to_string(),
        playbook_path: session.loaded.playbook_path.display().to_string(),
        backend: session.backend.name().to_string(),
        host: this_host(),
        pid: std::process::id(),
        started_at: jiff::Timestamp::now().to_string(),
        dry_run: flags.dry_run,
        operator: Some(crate::notify::operator()),
        forced: None,
    };
    let mut journal =
        Journal::create(&common.state_dir, &run_id).map_err(|e| CliError::Unexpected(e.into()))?;
    println!("run {run_id}: journal {}", journal.path().display());
    let renew = renew_lease(lock);
    let progress = LineProgress::new(std::io::stdout().is_terminal());
    let prompter = TtyPrompter;
    if !still_raised.is_empty() {
        println!(
            "traffic is already at its baseline; returning {} Auto Scaling group(s) to their original desired capacity",
            still_raised.len()
        );
    }
    let executor = session.executor(&progress, &prompter, interrupts, &raised);
    let outcome = executor.run(&plan, header, &mut journal).await;
    renew.abort();
    let _ = renew.await; // drops the lock
    Ok(PhaseResult {
        run_id: Some(run_id),
        outcome,
    })
}

/// The groups of `raised` whose desired capacity is still above the original.
async fn still_raised(
    session: &Session,
    raised: &[CapacityChange],
) -> Result<Vec<CapacityChange>, CliError> {
    let groups: Vec<GroupRef> = raised
        .iter()
        .map(|c| GroupRef {
            region: c.region.clone(),
            group: c.group.clone(),
        })
        .collect();
    let states = session.scaling.describe(&groups).await.map_err(|e| {
        CliError::Refused(format!(
            "cannot read the Auto Scaling groups to return: {e}"
        ))
    })?;
    Ok(raised
        .iter()
        .zip(&groups)
        .filter(|(c, g)| states.get(*g).is_some_and(|s| s.desired > c.from))
        .map(|(c, _)| c.clone())
        .collect())
}

/// Prints the outcome of a run and returns its exit code.
fn finish(common: &Common, session: &Session, result: &PhaseResult) -> i32 {
    let code = result.outcome.exit_code();
    let run = result.run_id.as_deref().unwrap_or("-");
    match &result.outcome {
        Outcome::Completed => println!("done: run {run} completed"),
        Outcome::DryRun { results } => {
            let failed = results.iter().filter(|r| !r.ok).count();
            println!(
                "dry run: {} check evaluations, {failed} failed; no weight was changed",
                results.len()
            );
        }
        Outcome::Refused { reason } => eprintln!("refused: {reason}; nothing was changed"),
        Outcome::RolledBack { reason } => {
            eprintln!("aborted: {reason}\nrolled back: traffic is back at its baseline (run {run})")
        }
        Outcome::RollbackFailed { reason, left } => eprintln!(
            "aborted and the ROLLBACK DID NOT COMPLETE: {reason}\nnot at baseline: {}\nretry with `kong rollback {run}`; the journal is in {}",
            left.join(", "),
            common.state_dir.join("runs").join(run).display()
        ),
        Outcome::Paused { reason } => eprintln!(
            "paused: {reason}\ntraffic stays where it is; continue with `kong resume {run}` or return to baseline with `kong rollback {run}`"
        ),
    }
    if let Some(id) = &result.run_id
        && let Ok(log) = journal::read_run(&common.state_dir, id)
    {
        let report = super::report::markdown(&[log], Some(&session.loaded.topology));
        let path = common.state_dir.join("runs").join(id).join("report.md");
        if std::fs::write(&path, report).is_ok() {
            println!("report: {}", path.display());
        }
    }
    code
}

/// `kong evacuate REGION` / `kong restore REGION`.
pub fn evacuate_or_restore(
    common: &Common,
    flags: &RunFlags,
    operation: Operation,
    region: &str,
    saved: Option<&Path>,
) -> Result<i32, CliError> {
    let session = Session::open(common, flags, operation.as_str())?;
    let rt = backend::runtime()?;
    rt.block_on(async {
        let interrupts = watch_interrupts();
        let result = phase(
            common,
            &session,
            flags,
            operation.as_str(),
            operation,
            region,
            saved,
            interrupts,
            true,
        )
        .await?;
        Ok(finish(common, &session, &result))
    })
}

/// `kong drill REGION`: evacuate, hold, restore; the exit code of the worst phase.
pub fn drill(
    common: &Common,
    flags: &RunFlags,
    region: &str,
    hold: Option<Duration>,
) -> Result<i32, CliError> {
    let session = Session::open(common, flags, "drill")?;
    let rt = backend::runtime()?;
    rt.block_on(async {
        let interrupts = watch_interrupts();
        let evacuation = phase(
            common,
            &session,
            flags,
            "drill",
            Operation::Evacuate,
            region,
            None,
            interrupts.clone(),
            true,
        )
        .await?;
        let code = finish(common, &session, &evacuation);
        if code != 0 || flags.dry_run {
            return Ok(code);
        }
        let mut playbook = session.loaded.playbook.clone();
        if let Some(hold) = hold {
            playbook.hold = hold;
        }
        println!(
            "holding {region} evacuated for {}",
            super::progress::fmt_duration(playbook.hold)
        );
        let progress = LineProgress::new(std::io::stdout().is_terminal());
        let prompter = TtyPrompter;
        let holder = Executor {
            playbook: &playbook,
            ..session.executor(&progress, &prompter, interrupts.clone(), &[])
        };
        if let Err(reason) = holder.hold().await {
            println!("hold cut short ({reason}): restoring {region} now");
        }
        let restore = phase(
            common,
            &session,
            flags,
            "drill",
            Operation::Restore,
            region,
            None,
            interrupts,
            false,
        )
        .await?;
        let restore_code = finish(common, &session, &restore);
        let mut logs = Vec::new();
        for id in [&evacuation.run_id, &restore.run_id].into_iter().flatten() {
            if let Ok(log) = journal::read_run(&common.state_dir, id) {
                logs.push(log);
            }
        }
        if let Some(first) = evacuation.run_id.as_ref() {
            let path = common
                .state_dir
                .join("runs")
                .join(first)
                .join("drill-report.md");
            let report = super::report::markdown(&logs, Some(&session.loaded.topology));
            if std::fs::write(&path, &report).is_ok() {
                println!("drill report: {}", path.display());
            }
            print!("\n{report}");
        }
        Ok(code.max(restore_code))
    })
}

/// `kong resume RUN` / `kong rollback RUN`: continue or undo a paused or interrupted run.
pub fn recover(
    common: &Common,
    flags: &RunFlags,
    run_id: &str,
    rollback: bool,
) -> Result<i32, CliError> {
    let log: RunLog =
        journal::read_run(&common.state_dir, &run_id.to_string()).map_err(|e| match e {
            journal::JournalError::UnknownRun(_) => CliError::Usage(e.to_string()),
            other => CliError::Unexpected(other.into()),
        })?;
    // The run's own files, not whatever --topology says now, describe the dials it touched.
    let mut common = common.clone();
    common.topology = log.header.topology_path.clone().into();
    common.playbook = log.header.playbook_path.clone().into();
    let session = Session::open(&common, flags, log.header.operation.as_str())?;
    let rt = backend::runtime()?;
    rt.block_on(async {
        let lock = lock(&common, &log.header.topology, run_id, Some(run_id))?;
        let mut journal = Journal::open(&common.state_dir, &run_id.to_string())
            .map_err(|e| CliError::Unexpected(e.into()))?;
        let renew = renew_lease(lock);
        let interrupts = watch_interrupts();
        let progress = LineProgress::new(std::io::stdout().is_terminal());
        let prompter = TtyPrompter;
        let raised = match log.header.operation {
            Operation::Restore => {
                plan_cmd::prescaled_groups(&common, &session.loaded.topology, &log.header.region)?
            }
            Operation::Evacuate => Vec::new(),
        };
        let executor = session.executor(&progress, &prompter, interrupts, &raised);
        let outcome = if rollback {
            executor.rollback(&log, &mut journal).await
        } else {
            executor.resume(&log, &mut journal).await
        };
        renew.abort();
        let _ = renew.await;
        let code = finish(
            &common,
            &session,
            &PhaseResult {
                run_id: Some(run_id.to_string()),
                outcome: outcome.clone(),
            },
        );
        // `kong rollback RUN` asked for the baseline: reaching it is "done as asked".
        Ok(
            if rollback && matches!(outcome, Outcome::RolledBack { .. }) {
                0
            } else {
                code
            },
        )
    })
}
