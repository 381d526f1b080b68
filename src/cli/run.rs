//! `kong evacuate | restore | drill | resume | rollback`: commands that move traffic.
//!
//! The CLI's part: open the context, take the lock (and renew its lease), gather the planning
//! input, open the journal, confirm with a human, wire Ctrl-C, then hand over to the executor
//! and return its outcome. Every decision about traffic is the executor's.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use super::context::{Backends, Context, Line, State};
use super::exit::Done;
use super::progress::LineProgress;
use super::{CliError, Common, RunFlags, ScheduleFlags, run_report};
use crate::checks::Sources;
use crate::exec::{ExecOptions, Executor, Outcome, Progress, Prompter};
use crate::journal::lock::this_host;
use crate::journal::{self, CapacityChange, Forced, Lease, RunHeader, RunJournal, RunLog};
use crate::model::BackendKind;
use crate::notify::{Announcer, Notifier, RunInfo};
use crate::plan::{Operation, render};
use crate::prepare::{self, Request};

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

/// Everything a run needs once the context is open.
struct Session {
    ctx: Context,
    backends: Backends,
    sources: Sources,
    options: ExecOptions,
    interactive: bool,
    /// Why a drill runs although its schedule does not allow it (`--force --reason`).
    forced: Option<Forced>,
    /// The webhooks of `notify:` (playbook and topology) the command's runs are announced to.
    notifier: Notifier,
}

impl Session {
    /// Opens the context, the backends and the metric sources; resolves the flags.
    fn open(
        common: &Common,
        flags: &RunFlags,
        command: &str,
        line: Line,
    ) -> Result<Session, CliError> {
        let ctx: Context = Context::open(common, command, line)?;
        let RunFlags {
            yes: _,
            approve,
            dry_run,
            time_scale,
            verbose: _,
        } = *flags;
        if !(time_scale.is_finite() && time_scale >= 1.0) {
            return Err(CliError::Usage(format!(
                "--time-scale {time_scale}: expected a number >= 1"
            )));
        }
        if time_scale != 1.0 && ctx.kind != BackendKind::Sim {
            return Err(CliError::Usage(
                "--time-scale only applies to the simulator: real traffic bakes for real"
                    .to_string(),
            ));
        }
        let backends = ctx.backends()?;
        let sources = ctx.sources(&backends.traffic)?;
        let interactive = std::io::stdin().is_terminal();
        let webhooks: Vec<_> = (ctx.files.playbook.notify.iter())
            .chain(&ctx.files.topology.notify)
            .cloned()
            .collect();
        // Each webhook's delivery task runs on the command's runtime.
        let notifier =
            ctx.block_on(async { Notifier::start(&webhooks, |var| std::env::var(var).ok()) });
        let options = ExecOptions {
            time_scale,
            dry_run,
            approve,
            interactive,
            ..ExecOptions::default()
        };
        Ok(Session {
            ctx,
            backends,
            sources,
            options,
            interactive,
            forced: None,
            notifier,
        })
    }

    fn executor<'a>(
        &'a self,
        progress: &'a dyn Progress,
        prompter: &'a TtyPrompter,
        interrupts: tokio::sync::watch::Receiver<u32>,
        restore_capacity: &'a [CapacityChange],
    ) -> Executor<'a> {
        Executor {
            topology: &self.ctx.files.topology,
            playbook: &self.ctx.files.playbook,
            backend: self.backends.traffic.as_ref(),
            scaling: Some(self.backends.scaling.as_ref()),
            restore_capacity,
            source: &self.sources,
            progress,
            prompter,
            options: self.options.clone(),
            interrupts,
        }
    }
}

impl Session {
    /// Announces the events of run `run` (of `command`, whose report is `report`) as they
    /// pass on to `inner`.
    fn announcer<'a>(
        &'a self,
        inner: &'a dyn Progress,
        run: &str,
        operation: Operation,
        command: &str,
        region: &str,
        report: &Path,
    ) -> Announcer<'a> {
        let info = RunInfo {
            run: run.to_string(),
            operation: operation.as_str().to_string(),
            command: command.to_string(),
            region: region.to_string(),
            operator: crate::notify::operator(),
            host: this_host(),
            report: report.display().to_string(),
        };
        Announcer::new(inner, &self.notifier, info)
    }

    /// Journals in run `run`'s journal, as notes for its report, the webhooks that could
    /// not be set up and the announcements not delivered so far (of this run or an earlier
    /// one of the command), and says them on stderr. Webhooks are named by host only.
    async fn note_undelivered(&self, journal: &mut RunJournal, run: &str) {
        let mut texts: Vec<String> = self.notifier.setup_problems().to_vec();
        texts.extend(self.notifier.take_failures().into_iter().map(|f| {
            if f.run == run {
                f.text
            } else {
                format!("run {}: {}", f.run, f.text)
            }
        }));
        for text in texts {
            eprintln!("notify: {text}");
            let note = journal::Record::Note {
                at: jiff::Timestamp::now().to_string(),
                text,
            };
            if let Err(e) = journal.append(&note).await {
                eprintln!("could not journal an undelivered announcement: {e}");
            }
        }
    }

    /// At the end of the command: waits for what each webhook still has queued at most its
    /// timeout, then notes what was not delivered in the journal of `last` (the command's
    /// last run) and says it on stderr.
    async fn settle_announcements(&self, last: Option<&str>) {
        for failure in self.notifier.finish().await {
            eprintln!("notify: {}", failure.text);
            if let Some(run) = last {
                let note = journal::Record::Note {
                    at: jiff::Timestamp::now().to_string(),
                    text: failure.text,
                };
                append_after_run(&self.ctx.state, run, &note, "an undelivered announcement").await;
            }
        }
    }
}

/// Counts Ctrl-C presses and SIGTERMs (a Kubernetes pod or systemd stopping kong) into a
/// watch channel the executor listens to: the first aborts and rolls back, later ones only
/// say that the rollback continues.
fn watch_interrupts() -> tokio::sync::watch::Receiver<u32> {
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        let mut terminate = terminate_signals();
        let mut count = 0u32;
        loop {
            let signal = tokio::select! {
                pressed = tokio::signal::ctrl_c() => match pressed {
                    Ok(()) => "interrupted",
                    Err(_) => break,
                },
                Some(()) = next_terminate(&mut terminate) => "terminated (SIGTERM)",
            };
            count += 1;
            if count == 1 {
                eprintln!("\n{signal}: aborting (traffic will be rolled back to baseline)");
            } else {
                eprintln!("\n{signal} again: the rollback continues; it is not safe to stop it");
            }
            if tx.send(count).is_err() {
                break;
            }
        }
    });
    rx
}

/// SIGTERM's stream, where the platform has one.
#[cfg(unix)]
fn terminate_signals() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(not(unix))]
fn terminate_signals() -> Option<()> {
    None
}

/// The next SIGTERM; never, without a stream.
#[cfg(unix)]
async fn next_terminate(signals: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signals {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_terminate(_: &mut Option<()>) -> Option<()> {
    std::future::pending().await
}

/// The lease's heartbeat: renews it every third of its length until told to stop, then
/// releases the lock.
struct Heartbeat {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    fn start(mut lease: Lease) -> Heartbeat {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease.renew_interval());
            tick.tick().await;
            let mut lost = false;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick(), if !lost => {
                        if let Err(e) = lease.renew().await {
                            // Fencing refuses every later journal write, and with it every
                            // change: the run stops at its next step.
                            lost = e.is_lost_lock();
                            tracing::warn!("cannot renew the run lock's lease: {e}");
                        }
                    }
                }
            }
            if !lost {
                lease.release().await;
            }
        });
        Heartbeat { stop, task }
    }

    /// Stops renewing and releases the lock.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The result of one phase (evacuate or restore) of a command.
struct PhaseResult {
    run_id: Option<String>,
    outcome: Outcome,
}

/// Where the report of run `run` will be: its `report.md`, or for a drill the
/// `drill-report.md` beside the journal of the drill's evacuation (`evacuation`, `None` for
/// the evacuation itself).
fn report_path(state: &State, command: &str, run: &str, evacuation: Option<&str>) -> PathBuf {
    if command == "drill" {
        journal::run_dir(state.dir(), evacuation.unwrap_or(run)).join("drill-report.md")
    } else {
        journal::run_dir(state.dir(), run).join("report.md")
    }
}

/// Plans (or loads) and executes one operation as one run (`evacuation`: the run id of a
/// drill's evacuation, for its restore).
#[allow(clippy::too_many_arguments)]
async fn phase(
    session: &Session,
    flags: &RunFlags,
    command: &str,
    operation: Operation,
    region: &str,
    saved: Option<&Path>,
    interrupts: tokio::sync::watch::Receiver<u32>,
    confirm: bool,
    evacuation: Option<&str>,
) -> Result<PhaseResult, CliError> {
    let ctx = &session.ctx;
    let topology = &ctx.files.topology;
    let run_id = journal::new_run_id(operation.as_str(), region);
    let (lock, history) = ctx.state.lock(&topology.name, &run_id, None).await?;
    // Until the journal exists, any way out releases the lock.
    let prepared = async {
        let undone = ctx
            .state
            .undone_evacuation(&history, &topology.name, operation, region)
            .await?;
        let request = Request {
            loaded: &ctx.files,
            kind: ctx.kind,
            operation,
            region,
            declared_load: false,
            undone: undone.as_ref(),
            history_at: &ctx.state.describe(),
            traffic: session.backends.traffic.as_ref(),
            scaling: session.backends.scaling.as_ref(),
            source: &session.sources,
        };
        let (plan, input) = prepare::plan_run(&request, saved).await?;
        print!("{}", render::text(&plan));
        let raised = input.prescaled;
        // Traffic already back, but groups the evacuation raised still above their original
        // desired capacity: the run returns them (it has no step to apply).
        let still_raised = if plan.is_empty() && !raised.is_empty() {
            prepare::still_raised(session.backends.scaling.as_ref(), &raised).await?
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
            return Ok(None);
        }
        if confirm && !flags.yes && !flags.dry_run {
            if !session.interactive {
                return Err(CliError::Refused(
                    "stdin is not a terminal: pass --yes to confirm the run".to_string(),
                ));
            }
            let question = format!(
                "{operation} {region} on backend {} ({} steps)?",
                session.backends.traffic.name(),
                plan.steps.len()
            );
            if !ask(&question) {
                return Err(CliError::Refused("not confirmed".to_string()));
            }
        }
        let journal = ctx.state.create_journal(&run_id, &lock).await?;
        Ok(Some((plan, raised, still_raised, journal)))
    }
    .await;
    let (plan, raised, still_raised, mut journal) = match prepared {
        Ok(Some(prepared)) => prepared,
        Ok(None) => {
            lock.release().await;
            return Ok(PhaseResult {
                run_id: None,
                outcome: Outcome::Completed,
            });
        }
        Err(e) => {
            lock.release().await;
            return Err(e);
        }
    };
    let header = RunHeader {
        id: run_id.clone(),
        operation,
        region: region.to_string(),
        command: command.to_string(),
        topology: topology.name.clone(),
        topology_path: ctx.files.topology_path.display().to_string(),
        playbook_path: ctx.files.playbook_path.display().to_string(),
        backend: session.backends.traffic.name().to_string(),
        host: this_host(),
        pid: std::process::id(),
        started_at: jiff::Timestamp::now().to_string(),
        dry_run: flags.dry_run,
        operator: Some(crate::notify::operator()),
        forced: session.forced.clone(),
    };
    println!("run {run_id}: journal {}", journal.location());
    let heartbeat = Heartbeat::start(lock);
    let progress = LineProgress::new(std::io::stdout().is_terminal())
        .verbose(flags.verbose)
        .with_shares(topology, &plan);
    let prompter = TtyPrompter;
    if !still_raised.is_empty() {
        println!(
            "traffic is already at its baseline; returning {} Auto Scaling group(s) to their original desired capacity",
            still_raised.len()
        );
    }
    let report = report_path(&ctx.state, command, &run_id, evacuation);
    let announcer = session.announcer(&progress, &run_id, operation, command, region, &report);
    let executor = session.executor(&announcer, &prompter, interrupts, &raised);
    let outcome = executor.run(&plan, header, &mut journal).await;
    session.note_undelivered(&mut journal, &run_id).await;
    heartbeat.stop().await;
    Ok(PhaseResult {
        run_id: Some(run_id),
        outcome,
    })
}

/// Prints the outcome of a run and writes its report next to its journal; the command's
/// `last` run first settles the announcements, so that the report notes every one lost.
async fn finish(session: &Session, result: &PhaseResult, last: bool) {
    let state = &session.ctx.state;
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
        Outcome::Refused { abort } => eprintln!("refused: {abort}; nothing was changed"),
        Outcome::RolledBack { abort } => eprintln!(
            "aborted ({}): {abort}\nrolled back: traffic is back at its baseline (run {run})",
            abort.kind
        ),
        Outcome::RollbackFailed { abort, left } => eprintln!(
            "aborted ({}) and the ROLLBACK DID NOT COMPLETE: {abort}\nnot at baseline: {}\nretry with `kong rollback {run}`; the journal is in {}",
            abort.kind,
            left.join(", "),
            state.run_dir(run)
        ),
        Outcome::Paused { abort } => eprintln!(
            "paused ({}): {abort}\ntraffic stays where it is; continue with `kong resume {run}` or return to baseline with `kong rollback {run}`",
            abort.kind
        ),
    }
    if last {
        session.settle_announcements(result.run_id.as_deref()).await;
    }
    if let Some(id) = &result.run_id
        && let Ok(log) = state.read_run(id).await
    {
        let dir = state.report_dir(id);
        let files = &session.ctx.files;
        if let Ok(written) =
            run_report::write_report(&dir, "report", &[log], &files.topology, &files.playbook)
        {
            println!(
                "report: {} (HTML: {})",
                written.markdown.display(),
                written.html.display()
            );
        }
    }
}

/// `kong evacuate REGION` / `kong restore REGION`.
pub fn evacuate_or_restore(
    common: &Common,
    flags: &RunFlags,
    operation: Operation,
    region: &str,
    saved: Option<&Path>,
) -> Result<Done, CliError> {
    let session = Session::open(common, flags, operation.as_str(), Line::Stdout)?;
    session.ctx.block_on(async {
        let interrupts = watch_interrupts();
        let result = phase(
            &session,
            flags,
            operation.as_str(),
            operation,
            region,
            saved,
            interrupts,
            true,
            None,
        )
        .await?;
        finish(&session, &result, true).await;
        Ok(Done::Run(result.outcome))
    })
}

/// `kong drill REGION`: evacuate, hold, restore; the exit code of the worst phase.
pub fn drill(
    common: &Common,
    flags: &RunFlags,
    region: &str,
    hold: Option<Duration>,
    schedule: &ScheduleFlags,
) -> Result<Done, CliError> {
    // `--if-due` prints only `not due: ...` on stdout when it does not run: the backend line
    // waits until the decision.
    let mut session = Session::open(common, flags, "drill", Line::Deferred)?;
    session.ctx.check_region(region)?;
    if let Some(allowed) = session.ctx.files.playbook.schedule.clone() {
        let now = jiff::Timestamp::now();
        if schedule.if_due {
            let logs = session.ctx.block_on(session.ctx.state.list_runs())?;
            let last = crate::schedule::last_completed_drills(&logs)
                .get(region)
                .map(|l| l.finished_at);
            let due = allowed.due(now, last);
            if let Some(not_due) = crate::schedule::describe_due(&allowed, &due) {
                session.ctx.print_line(Line::Stderr);
                println!("{not_due}");
                return Ok(Done::Ok);
            }
        } else if let crate::schedule::Verdict::Closed { why, next } = allowed.verdict(now) {
            session.ctx.print_line(Line::Stdout);
            let closed = allowed.describe_closed(why);
            match &schedule.reason {
                Some(reason) if schedule.force => {
                    println!("forced: drilling {region} {closed} (reason: {reason})");
                    session.forced = Some(Forced {
                        reason: reason.clone(),
                        overrode: closed,
                    });
                }
                _ => {
                    return Err(CliError::Refused(format!(
                        "drill {region} refused: {closed}; {}; to drill anyway pass --force --reason \"...\"",
                        allowed.describe_next(next)
                    )));
                }
            }
        }
    }
    session.ctx.print_line(Line::Stdout);
    let session = session;
    session.ctx.block_on(async {
        let interrupts = watch_interrupts();
        let evacuation = phase(
            &session,
            flags,
            "drill",
            Operation::Evacuate,
            region,
            None,
            interrupts.clone(),
            true,
            None,
        )
        .await?;
        let ends = evacuation.outcome != Outcome::Completed || flags.dry_run;
        finish(&session, &evacuation, ends).await;
        if ends {
            return Ok(Done::Drill(vec![evacuation.outcome]));
        }
        let mut playbook = session.ctx.files.playbook.clone();
        if let Some(hold) = hold {
            playbook.hold = hold;
        }
        // A drill the schedule allowed restores when its window closes (a forced one was
        // outside its schedule from the start: it holds as asked).
        let mut cut_note = None;
        if session.forced.is_none()
            && let Some(allowed) = &playbook.schedule
            && let Some(cut) = allowed.hold_cut(jiff::Timestamp::now(), playbook.hold)
        {
            let text = format!(
                "hold cut short from {} to {}: the drill window closes at {}",
                crate::model::format_duration(playbook.hold),
                crate::model::format_duration(cut.allowed),
                crate::schedule::describe_instant(cut.closes, &allowed.display_zone())
            );
            println!("{text}");
            playbook.hold = cut.allowed;
            cut_note = Some(journal::Record::Note {
                at: jiff::Timestamp::now().to_string(),
                text,
            });
        }
        if let (Some(note), Some(id)) = (cut_note, &evacuation.run_id) {
            append_after_run(&session.ctx.state, id, &note, "the hold cut short").await;
        }
        println!(
            "holding {region} evacuated for {}",
            crate::model::format_duration(playbook.hold)
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
        if let Some(id) = &evacuation.run_id {
            residual_at_end_of_hold(&session.ctx.state, &holder, id).await;
        }
        let restore = phase(
            &session,
            flags,
            "drill",
            Operation::Restore,
            region,
            None,
            interrupts,
            false,
            evacuation.run_id.as_deref(),
        )
        .await?;
        finish(&session, &restore, true).await;
        let state = &session.ctx.state;
        let mut logs = Vec::new();
        for id in [&evacuation.run_id, &restore.run_id].into_iter().flatten() {
            if let Ok(log) = state.read_run(id).await {
                logs.push(log);
            }
        }
        if let Some(first) = evacuation.run_id.as_ref() {
            let dir = state.report_dir(first);
            let files = &session.ctx.files;
            match run_report::write_report(
                &dir,
                "drill-report",
                &logs,
                &files.topology,
                &files.playbook,
            ) {
                Ok(written) => println!(
                    "drill report: {} (HTML: {})",
                    written.markdown.display(),
                    written.html.display()
                ),
                Err(e) => eprintln!("could not write the drill report in {}: {e}", dir.display()),
            }
        }
        Ok(Done::Drill(vec![evacuation.outcome, restore.outcome]))
    })
}

/// Measures the residual traffic at the end of a drill's hold and journals it in the
/// evacuation's journal (for the report); a failure to do so is said, and changes nothing.
async fn residual_at_end_of_hold(state: &State, holder: &Executor<'_>, evacuation: &str) {
    let Ok(log) = state.read_run(evacuation).await else {
        return;
    };
    let Some(record) = holder.residual(log.plan(), "end of hold").await else {
        return;
    };
    if let journal::Record::Residual {
        when,
        region,
        max_residual,
        services,
        ..
    } = &record
    {
        let over = journal::residual_over(*max_residual, services);
        println!(
            "{}",
            super::progress::describe(&crate::exec::ProgressEvent::Residual {
                when: when.clone(),
                region: region.clone(),
                measured: services.len(),
                max_residual: *max_residual,
                over,
            })
        );
    }
    append_after_run(
        state,
        evacuation,
        &record,
        "the residual traffic at the end of the hold",
    )
    .await;
}

/// Appends `record` to the journal of finished run `run` (a drill's evacuation), under the
/// lock as every journal write is (with shared state the lease's token fences the write); a
/// failure is said (`what` names the record), and changes nothing.
async fn append_after_run(state: &State, run: &str, record: &journal::Record, what: &str) {
    let appended = async {
        let log = state.read_run(run).await?;
        let (lease, _) = state.lock(&log.header.topology, run, Some(run)).await?;
        let result = async {
            let mut journal = state.open_journal(run, &lease).await?;
            journal
                .append(record)
                .await
                .map_err(|e| CliError::Unexpected(e.into()))
        }
        .await;
        lease.release().await;
        result
    }
    .await;
    if let Err(e) = appended {
        eprintln!("could not journal {what}: {e}");
    }
}

/// `kong resume RUN` / `kong rollback RUN`: continue or undo a paused or interrupted run.
pub fn recover(
    common: &Common,
    flags: &RunFlags,
    run_id: &str,
    rollback: bool,
) -> Result<Done, CliError> {
    // The state is the one the flags or the topology given now name (the run's own
    // topology file may be a path on another machine).
    let given = super::backend::topology_if_present(common).ok().flatten();
    let log = super::backend::runtime()?.block_on(async {
        State::open(common, given.as_ref())
            .await?
            .read_run(run_id)
            .await
    })?;
    // The run's own files, not whatever --topology says now, describe the dials it touched
    // (when they are on this machine).
    let mut common = common.clone();
    if Path::new(&log.header.topology_path).exists() {
        common.topology = log.header.topology_path.clone().into();
        common.playbook = log.header.playbook_path.clone().into();
    }
    // Keep the table the given topology named, whatever the run's own file says.
    if common.state.is_none()
        && let Some(shared) = given.as_ref().and_then(|t| t.state.as_ref())
    {
        common.state = Some(shared.url());
    }
    let session = Session::open(&common, flags, log.header.operation.as_str(), Line::Stdout)?;
    let ctx = &session.ctx;
    if ctx.files.topology.name != log.header.topology {
        return Err(CliError::Usage(format!(
            "run {run_id} is of topology `{}`, not `{}`: pass its topology file with --topology",
            log.header.topology, ctx.files.topology.name
        )));
    }
    ctx.block_on(async {
        let (lock, history) = ctx
            .state
            .lock(&log.header.topology, run_id, Some(run_id))
            .await?;
        // Read again under the lock: the run may have moved since.
        let opened = async {
            let log = ctx.state.read_run(run_id).await?;
            let journal = ctx.state.open_journal(run_id, &lock).await?;
            // A restore returns the groups the evacuation it undoes pre-scaled.
            let undone = ctx
                .state
                .undone_evacuation(
                    &history,
                    &log.header.topology,
                    log.header.operation,
                    &log.header.region,
                )
                .await?;
            Ok::<_, CliError>((log, journal, undone))
        }
        .await;
        let (log, mut journal, undone) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                lock.release().await;
                return Err(e);
            }
        };
        let heartbeat = Heartbeat::start(lock);
        let interrupts = watch_interrupts();
        let progress = LineProgress::new(std::io::stdout().is_terminal())
            .verbose(flags.verbose)
            .with_shares(&ctx.files.topology, log.plan());
        let prompter = TtyPrompter;
        let raised = undone.as_ref().map(RunLog::prescaled).unwrap_or_default();
        let command = if rollback { "rollback" } else { "resume" };
        let report = report_path(&ctx.state, command, run_id, None);
        let announcer = session.announcer(
            &progress,
            run_id,
            log.header.operation,
            command,
            &log.header.region,
            &report,
        );
        let executor = session.executor(&announcer, &prompter, interrupts, &raised);
        let outcome = if rollback {
            executor.rollback(&log, &mut journal).await
        } else {
            executor.resume(&log, &mut journal).await
        };
        session.note_undelivered(&mut journal, run_id).await;
        heartbeat.stop().await;
        let result = PhaseResult {
            run_id: Some(run_id.to_string()),
            outcome,
        };
        finish(&session, &result, true).await;
        Ok(if rollback {
            Done::Rollback(result.outcome)
        } else {
            Done::Run(result.outcome)
        })
    })
}
