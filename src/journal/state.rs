//! Where the lock and the journal live: the local state dir (the embedded default), or a
//! DynamoDB table shared by every machine that runs kong (see [`super::dynamo`]).
//!
//! [`StateStore`] is what commands use: take and renew the lock, create or open a run's
//! journal, read one run or all of them. Both kinds keep the same guarantees: one run per
//! topology at a time, and a record that precedes an action is durable before it returns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backon::ExponentialBuilder;

use crate::backend::aws::AwsSettings;
use crate::model::SharedState;

use super::dynamo::{DynamoJournal, DynamoLease, DynamoState};
use super::lock::{self, LockError, LockOwner, RunLock};
use super::store::encode;
use super::{Journal, JournalError, Record, RunId, RunLog, RunSummary};

/// Where the lock and the journal are kept.
#[derive(Debug, Clone)]
pub enum StateStore {
    /// Files in the state dir.
    Local(PathBuf),
    /// A DynamoDB table.
    Dynamo(DynamoState),
}

impl StateStore {
    /// The table `shared` through the AWS settings (endpoint, profile, region when the
    /// table names none); calls retried with `retry` (the executor's policy).
    pub async fn dynamo(
        settings: &AwsSettings,
        shared: &SharedState,
        retry: ExponentialBuilder,
    ) -> StateStore {
        let sdk = crate::backend::aws::config::load(settings).await;
        let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk);
        if let Some(region) = &shared.region {
            config = config.region(aws_sdk_dynamodb::config::Region::new(region.clone()));
        }
        let config = config.build();
        let region = config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| settings.default_region.clone());
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        StateStore::Dynamo(DynamoState::new(
            client,
            shared.table.clone(),
            region,
            retry,
            settings.credentials_hint(),
        ))
    }

    /// `dynamodb kong-state (us-east-1)`, or `local .kong`.
    pub fn describe(&self) -> String {
        match self {
            StateStore::Local(dir) => format!("local {}", dir.display()),
            StateStore::Dynamo(d) => format!("dynamodb {} ({})", d.table(), d.region()),
        }
    }

    /// Whether the state is shared between machines.
    pub fn is_shared(&self) -> bool {
        matches!(self, StateStore::Dynamo(_))
    }

    /// Takes `topology`'s lock for `owner` with a lease of `lease`, or says who holds it.
    #[allow(clippy::result_large_err)]
    pub async fn acquire(
        &self,
        topology: &str,
        owner: LockOwner,
        lease: Duration,
    ) -> Result<Lease, LockError> {
        match self {
            StateStore::Local(dir) => {
                RunLock::acquire_for(dir, topology, owner, lease).map(|l| Lease::Local(l, lease))
            }
            StateStore::Dynamo(d) => d.acquire(topology, owner, lease).await.map(Lease::Dynamo),
        }
    }

    /// The live holder of `topology`'s lock, if any.
    pub async fn holder(&self, topology: &str) -> Result<Option<LockOwner>, JournalError> {
        match self {
            StateStore::Local(dir) => lock::holder(dir, topology),
            StateStore::Dynamo(d) => d.holder(topology).await,
        }
    }

    /// The journal of new run `id`, written under `lease`.
    pub async fn create_journal(
        &self,
        id: &RunId,
        lease: &Lease,
    ) -> Result<RunJournal, JournalError> {
        match (self, lease) {
            (StateStore::Local(dir), _) => Journal::create(dir, id).map(RunJournal::Local),
            (StateStore::Dynamo(d), Lease::Dynamo(l)) => {
                d.create_journal(id, l).await.map(RunJournal::Dynamo)
            }
            (StateStore::Dynamo(_), Lease::Local(..)) => Err(mismatch()),
        }
    }

    /// The journal of run `id`, appended to under `lease` (resume, rollback).
    pub async fn open_journal(
        &self,
        id: &RunId,
        lease: &Lease,
    ) -> Result<RunJournal, JournalError> {
        match (self, lease) {
            (StateStore::Local(dir), _) => Journal::open(dir, id).map(RunJournal::Local),
            (StateStore::Dynamo(d), Lease::Dynamo(l)) => {
                d.open_journal(id, l).await.map(RunJournal::Dynamo)
            }
            (StateStore::Dynamo(_), Lease::Local(..)) => Err(mismatch()),
        }
    }

    /// Reads run `id`.
    pub async fn read_run(&self, id: &RunId) -> Result<RunLog, JournalError> {
        match self {
            StateStore::Local(dir) => super::read_run(dir, id),
            StateStore::Dynamo(d) => d.read_run(id).await,
        }
    }

    /// Every run, oldest first.
    pub async fn list_runs(&self) -> Result<Vec<RunLog>, JournalError> {
        match self {
            StateStore::Local(dir) => super::list_runs(dir),
            StateStore::Dynamo(d) => d.list_runs().await,
        }
    }

    /// Every run as the history lists it (header and state), oldest first: in the state
    /// dir without reading the records that do not change a run's state.
    pub async fn list_summaries(&self) -> Result<Vec<RunSummary>, JournalError> {
        match self {
            StateStore::Local(dir) => super::list_summaries(dir),
            StateStore::Dynamo(d) => {
                Ok(d.list_runs().await?.iter().map(RunSummary::from).collect())
            }
        }
    }

    /// Writes the records of an exported run (`kong state import`) as a new run, without
    /// the lock; refused if a run with its id exists.
    pub async fn import(&self, records: &[Record]) -> Result<RunId, JournalError> {
        match self {
            StateStore::Local(dir) => {
                let Some(Record::RunStarted { run, .. }) = records.first() else {
                    return Err(JournalError::Store(
                        "the first record must be `run_started`".to_string(),
                    ));
                };
                let mut journal = Journal::create(dir, &run.id)?;
                for record in records {
                    journal.append(record)?;
                }
                Ok(run.id.clone())
            }
            StateStore::Dynamo(d) => d.import(records).await,
        }
    }

    /// The state dir of a local state.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            StateStore::Local(dir) => Some(dir),
            StateStore::Dynamo(_) => None,
        }
    }
}

fn mismatch() -> JournalError {
    JournalError::Store("a lock of one state cannot guard the journal of another".to_string())
}

/// A run's records as JSON lines, exactly as the local journal holds them
/// (`kong state export`).
pub fn export_lines(log: &RunLog) -> Result<String, JournalError> {
    let mut out = String::new();
    for record in &log.records {
        let line = encode(record).map_err(JournalError::Store)?;
        out.push_str(&String::from_utf8_lossy(&line));
        out.push('\n');
    }
    Ok(out)
}

/// Parses exported JSON lines (`kong state import`): every line a record, the first
/// `run_started` and only the first. Empty lines are skipped.
pub fn parse_export(name: &str, text: &str) -> Result<Vec<Record>, JournalError> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| JournalError::Corrupt {
            path: name.into(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if records.is_empty() != matches!(record, Record::RunStarted { .. }) {
            return Err(JournalError::Corrupt {
                path: name.into(),
                line: i + 1,
                message: "`run_started` must be the first record, and only the first".to_string(),
            });
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(JournalError::Corrupt {
            path: name.into(),
            line: 1,
            message: "no record".to_string(),
        });
    }
    Ok(records)
}

/// A held run lock.
#[derive(Debug)]
pub enum Lease {
    /// The local lock file, and its lease's length.
    Local(RunLock, Duration),
    /// The lock item of the table.
    Dynamo(DynamoLease),
}

impl Lease {
    /// Who holds it (this process).
    pub fn owner(&self) -> &LockOwner {
        match self {
            Lease::Local(l, _) => l.owner(),
            Lease::Dynamo(l) => l.owner(),
        }
    }

    /// How often to renew it: a third of the lease.
    pub fn renew_interval(&self) -> Duration {
        let lease = match self {
            Lease::Local(_, lease) => *lease,
            Lease::Dynamo(l) => l.lease(),
        };
        lease / 3
    }

    /// Extends the lease; [`JournalError::LostLock`] when another process took it over.
    pub async fn renew(&mut self) -> Result<(), JournalError> {
        match self {
            Lease::Local(l, _) => l.renew(),
            Lease::Dynamo(l) => l.renew().await,
        }
    }

    /// Frees the lock.
    pub async fn release(self) {
        match self {
            Lease::Local(l, _) => drop(l),
            Lease::Dynamo(l) => {
                if let Err(e) = l.release().await {
                    tracing::warn!("could not release the run lock: {e}");
                }
            }
        }
    }
}

/// The journal of one run, as the executor appends to it.
#[derive(Debug)]
pub enum RunJournal {
    /// `runs/<id>/journal.jsonl` in the state dir.
    Local(Journal),
    /// The run's items in the table.
    Dynamo(DynamoJournal),
}

impl RunJournal {
    /// Appends one record, durable when this returns `Ok` (see [`Journal::append`]).
    pub async fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        match self {
            RunJournal::Local(j) => j.append(record),
            RunJournal::Dynamo(j) => j.append(record).await,
        }
    }

    /// Appends a record of something already done; locally it may wait for the next
    /// [`RunJournal::append`] to be durable (see [`Journal::append_result`]).
    pub async fn append_result(&mut self, record: &Record) -> Result<(), JournalError> {
        match self {
            RunJournal::Local(j) => j.append_result(record),
            RunJournal::Dynamo(j) => j.append(record).await,
        }
    }

    /// Where the journal is, for people.
    pub fn location(&self) -> String {
        match self {
            RunJournal::Local(j) => j.path().display().to_string(),
            RunJournal::Dynamo(j) => j.location(),
        }
    }
}
