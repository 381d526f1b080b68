//! The command context: opened once at the start of every command, the one way a command
//! starts.
//!
//! [`Context::open`] loads and validates the files the command needs (none, the topology, or
//! the topology and the playbook: the type parameter says which), decides the backend, prints
//! the backend line SPEC requires first (on stderr when stdout carries JSON), and builds the
//! command's runtime. From there [`Context::backends`] opens the traffic and scaling
//! backends and [`Context::sources`] the metric sources. Every access to run history,
//! journals and the lock goes through [`Context::state`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::TrafficBackend;
use crate::backend::scaling::ScalingBackend;
use crate::checks::{SimSource, Sources};
use crate::journal::lock::LockOwner;
use crate::journal::{self, JournalError, Lease, RunJournal, RunLog, RunSummary, StateStore};
use crate::model::{BackendKind, Operation, Topology};
use crate::prepare::{self, Loaded};

use super::{CliError, Common, backend, files};

/// Where the backend line goes: stdout, or stderr when stdout carries JSON (or DOT...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// The command's text output is on stdout.
    Stdout,
    /// Stdout carries a machine format and stays pure.
    Stderr,
    /// Not yet: the command decides where once it knows what it prints
    /// ([`Context::print_line`]; `kong drill --if-due` prints only `not due: ...` on stdout
    /// when it does not run).
    Deferred,
}

/// What a command loads before it starts.
pub trait Files: Sized {
    /// Loads and validates for `command` (the playbook of `<dir>/<command>.yaml`).
    fn load(common: &Common, command: &str) -> Result<Self, CliError>;
    /// The topology loaded, if any (it may name the backend).
    fn topology(&self) -> Option<&Topology>;
}

/// Nothing: the command works on the state alone (`kong runs`, `kong report`). The backend
/// line then follows `--backend`, else the topology's `backend:` when the topology file
/// loads, else sim.
impl Files for () {
    fn load(_: &Common, _: &str) -> Result<(), CliError> {
        Ok(())
    }
    fn topology(&self) -> Option<&Topology> {
        None
    }
}

/// The topology alone (`kong status`, `kong graph`, `kong sim serve`), shared with the
/// backends and sources the command opens.
impl Files for Arc<Topology> {
    fn load(common: &Common, _: &str) -> Result<Arc<Topology>, CliError> {
        let path = files::topology_file(common)?;
        let text = files::read(&path)?;
        Ok(Arc::new(crate::model::parse_topology(
            &path.display().to_string(),
            &text,
        )?))
    }
    fn topology(&self) -> Option<&Topology> {
        Some(self.as_ref())
    }
}

/// The topology and the command's playbook, hashed (`kong plan` and every run).
impl Files for Loaded {
    fn load(common: &Common, command: &str) -> Result<Loaded, CliError> {
        files::load(common, command)
    }
    fn topology(&self) -> Option<&Topology> {
        Some(self.topology.as_ref())
    }
}

/// A command's context.
pub struct Context<F = Loaded> {
    /// The options every command takes.
    pub common: Common,
    /// The files loaded.
    pub files: F,
    /// The traffic backend in use.
    pub kind: BackendKind,
    /// Run history, journals and the lock.
    pub state: State,
    /// The backend line, while it waits for [`Context::print_line`] ([`Line::Deferred`]).
    held_line: Option<String>,
    runtime: tokio::runtime::Runtime,
}

/// The traffic backend and the scaling backend next to it.
pub struct Backends {
    /// Route 53, ELBv2, the simulator.
    pub traffic: Arc<dyn TrafficBackend>,
    /// Auto Scaling (the simulator's groups on the simulator).
    pub scaling: Box<dyn ScalingBackend>,
}

impl<F: Files> Context<F> {
    /// Opens the context of `command`: loads its files, prints the backend line to `line`.
    pub fn open(common: &Common, command: &str, line: Line) -> Result<Context<F>, CliError> {
        let files = F::load(common, command)?;
        let kind = match files.topology() {
            Some(topology) => files::backend_kind(common, Some(topology)),
            None => files::backend_kind(common, peek_topology(common).as_deref()),
        };
        Context::start(common, files, kind, line)
    }

    /// Starts a context on files loaded and a backend decided by the caller (`kong
    /// validate` loads every file itself; `kong report` names the run's backend).
    pub fn start(
        common: &Common,
        files: F,
        kind: BackendKind,
        line: Line,
    ) -> Result<Context<F>, CliError> {
        // A command without a topology file of its own (`runs`, `report`) takes the state
        // from the topology when it loads.
        let peeked;
        let topology = match files.topology() {
            Some(topology) => Some(topology),
            None => {
                peeked = backend::topology_if_present(common).ok().flatten();
                peeked.as_ref()
            }
        };
        let text = format!(
            "{}{}",
            files::backend_line(kind, common),
            backend::state_note(common, topology)?
        );
        let mut held_line = None;
        match line {
            Line::Stdout => println!("{text}"),
            Line::Stderr => eprintln!("{text}"),
            Line::Deferred => held_line = Some(text),
        }
        let runtime = backend::runtime()?;
        let state = runtime.block_on(State::open(common, topology))?;
        Ok(Context {
            state,
            common: common.clone(),
            files,
            kind,
            held_line,
            runtime,
        })
    }

    /// Prints the backend line held by [`Line::Deferred`] on `line` (once; later calls and
    /// other contexts print nothing).
    pub fn print_line(&mut self, line: Line) {
        if let Some(text) = self.held_line.take() {
            match line {
                Line::Stderr => eprintln!("{text}"),
                Line::Stdout | Line::Deferred => println!("{text}"),
            }
        }
    }

    /// Runs a future to completion on the command's runtime.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }
}

/// The topology of `--topology` when it loads, for the backend line of a command that
/// needs no file.
fn peek_topology(common: &Common) -> Option<Arc<Topology>> {
    common.backend.is_none().then_some(())?;
    <Arc<Topology> as Files>::load(common, "").ok()
}

/// A context whose files include a topology, loaded once and shared (backends and sources
/// hold the same `Arc`, never a copy).
pub trait HasTopology {
    /// The topology.
    fn topology(&self) -> &Arc<Topology>;
}

impl HasTopology for Arc<Topology> {
    fn topology(&self) -> &Arc<Topology> {
        self
    }
}

impl HasTopology for Loaded {
    fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }
}

impl<F: HasTopology> Context<F> {
    /// The topology.
    pub fn topology(&self) -> &Topology {
        self.files.topology()
    }

    /// The topology, shared.
    pub fn shared_topology(&self) -> &Arc<Topology> {
        self.files.topology()
    }

    /// A bad invocation unless the topology declares `region` (the planner's words).
    pub fn check_region(&self, region: &str) -> Result<(), CliError> {
        let topology = self.topology();
        if topology.regions.iter().any(|r| r == region) {
            return Ok(());
        }
        Err(crate::plan::PlanError::UnknownRegion {
            region: region.into(),
            topology: topology.name.clone(),
            known: topology.regions.clone(),
        }
        .into())
    }

    /// Opens the traffic backend and the scaling backend next to it: one simulator world
    /// for both (two would overwrite each other's file), or Route 53 / ELBv2 and Auto
    /// Scaling.
    pub fn backends(&self) -> Result<Backends, CliError> {
        let (traffic, scaling) = backend::open_with_scaling(&self.common, self.shared_topology())?;
        Ok(Backends {
            traffic: traffic.into(),
            scaling,
        })
    }

    /// The metric sources of the topology's checks and `load_query`s. CloudWatch uses the
    /// AWS flags whatever the traffic backend; under aws, `sim` checks and the guards model
    /// the traffic of the dials kong really moves (`traffic`).
    pub fn sources(&self, traffic: &Arc<dyn TrafficBackend>) -> Result<Sources, CliError> {
        let aws = backend::aws_settings(&self.common)?;
        let sources = Sources::for_topology(self.shared_topology(), &self.common.state_dir, &aws)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(match self.kind {
            BackendKind::Aws => sources.replace_sim(SimSource::live(
                self.shared_topology().clone(),
                traffic.clone(),
            )),
            BackendKind::Sim => sources,
        })
    }
}

/// Run history, journals and the lock: every access the CLI makes to them goes through
/// here: local files in the state dir, or the shared DynamoDB table (`--state`, the
/// topology's `state:`).
#[derive(Debug, Clone)]
pub struct State {
    store: StateStore,
    dir: PathBuf,
    lease: Duration,
}

impl State {
    /// The state the flags or `topology` name, opened inside the runtime that uses it (a
    /// DynamoDB client keeps its connections there). Commands reach it through
    /// [`Context::state`]; only `kong resume` and `kong rollback` read their run before
    /// opening the context (the run's own files decide what the context loads).
    pub async fn open(common: &Common, topology: Option<&Topology>) -> Result<State, CliError> {
        Ok(State {
            store: backend::open_state(common, topology).await?,
            dir: common.state_dir.clone(),
            lease: common.lock_lease,
        })
    }

    /// Where the state is, for messages: the state dir, or `dynamodb kong-state (us-east-1)`.
    pub fn describe(&self) -> String {
        match &self.store {
            StateStore::Local(dir) => dir.display().to_string(),
            shared => shared.describe(),
        }
    }

    /// The store itself (`kong state`).
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// Every run, oldest first.
    pub async fn list_runs(&self) -> Result<Vec<RunLog>, CliError> {
        self.store.list_runs().await.map_err(unexpected)
    }

    /// Every run's header and state, oldest first (without reading each run whole).
    pub async fn list_summaries(&self) -> Result<Vec<RunSummary>, CliError> {
        self.store.list_summaries().await.map_err(unexpected)
    }

    /// A restore of `region` of `topology`: the evacuation it undoes in `history` (see
    /// [`prepare::undone_evacuation`]), read whole; `None` for an evacuation or when none
    /// is recorded.
    pub async fn undone_evacuation(
        &self,
        history: &[RunSummary],
        topology: &str,
        operation: Operation,
        region: &str,
    ) -> Result<Option<RunLog>, CliError> {
        match prepare::undone_evacuation(history, topology, operation, region) {
            Some(run) => self
                .store
                .read_run(&run.header.id)
                .await
                .map(Some)
                .map_err(unexpected),
            None => Ok(None),
        }
    }

    /// One run; an unknown id is a bad invocation.
    pub async fn read_run(&self, id: &str) -> Result<RunLog, CliError> {
        self.store
            .read_run(&id.to_string())
            .await
            .map_err(|e| match e {
                JournalError::UnknownRun(_) => CliError::Usage(e.to_string()),
                other => unexpected(other),
            })
    }

    /// The holder of the topology's lock, if any.
    pub async fn lock_holder(&self, topology: &str) -> Result<Option<LockOwner>, CliError> {
        self.store.holder(topology).await.map_err(unexpected)
    }

    /// Takes the topology's lock for `run_id` (lease: `--lock-lease`) or refuses naming its
    /// holder, then reads the run history once and refuses while an earlier run of the
    /// topology is unfinished (paused or interrupted; `allow_unfinished`: the run being
    /// resumed), so that two runs never interleave on the same dials. Returns the lock and
    /// the history (each run's header and state); a refusal releases the lock.
    pub async fn lock(
        &self,
        topology: &str,
        run_id: &str,
        allow_unfinished: Option<&str>,
    ) -> Result<(Lease, Vec<RunSummary>), CliError> {
        let owner = LockOwner::for_this_process(run_id);
        let lock = self.store.acquire(topology, owner, self.lease).await?;
        let runs = match self.list_summaries().await {
            Ok(runs) => runs,
            Err(e) => {
                lock.release().await;
                return Err(e);
            }
        };
        if let Some(unfinished) = runs.iter().rev().find(|log| {
            log.header.topology == topology
                && !log.state.is_final()
                && Some(log.header.id.as_str()) != allow_unfinished
        }) {
            lock.release().await;
            let id = &unfinished.header.id;
            return Err(CliError::Refused(format!(
                "run {id} ({} {}) is {}: finish it first with `kong resume {id}` or `kong rollback {id}`",
                unfinished.header.operation,
                unfinished.header.region,
                unfinished.state.describe(),
            )));
        }
        Ok((lock, runs))
    }

    /// A new journal for run `id`, written under `lease`.
    pub async fn create_journal(&self, id: &str, lease: &Lease) -> Result<RunJournal, CliError> {
        self.store
            .create_journal(&id.to_string(), lease)
            .await
            .map_err(unexpected)
    }

    /// The journal of run `id`, to append to under `lease`.
    pub async fn open_journal(&self, id: &str, lease: &Lease) -> Result<RunJournal, CliError> {
        self.store
            .open_journal(&id.to_string(), lease)
            .await
            .map_err(unexpected)
    }

    /// Where a file written next to run `id`'s journal goes (`report.md`; in the local
    /// state dir whatever the state: the directory is created).
    pub fn run_file(&self, id: &str, name: &str) -> PathBuf {
        let dir = journal::run_dir(&self.dir, id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot create the run's directory");
        }
        dir.join(name)
    }

    /// The local directory of run `id` (created) where its reports and charts are written,
    /// whatever the state.
    pub fn report_dir(&self, id: &str) -> PathBuf {
        let dir = journal::run_dir(&self.dir, id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot create the run's directory");
        }
        dir
    }

    /// Where run `id`'s journal is, for messages.
    pub fn run_dir(&self, id: &str) -> String {
        match &self.store {
            StateStore::Local(_) => journal::run_dir(&self.dir, id).display().to_string(),
            shared => format!("{} (run {id})", shared.describe()),
        }
    }

    /// The state dir itself (the simulator's world is kept there too).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> CliError {
    CliError::Unexpected(e.into())
}
