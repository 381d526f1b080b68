//! Appending to and reading back journals.

use std::path::{Path, PathBuf};

use super::{Record, RunHeader, RunId, RunState};

/// Errors reading or writing the state dir.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A journal line (not the last) is not a valid record.
    #[error("{path}:{line}: corrupt journal record: {message}")]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parse error.
        message: String,
    },
    /// No run with this id.
    #[error("no run `{0}` in the state dir; `kong runs` lists them")]
    UnknownRun(RunId),
}

/// An open journal of one run, appended to with one fsync per record.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    // implementation detail (file handle)
}

impl Journal {
    /// Creates `runs/<id>/journal.jsonl` under `state_dir` (fails if it exists).
    pub fn create(state_dir: &Path, id: &RunId) -> Result<Journal, JournalError> {
        let _ = (state_dir, id);
        todo!("journal")
    }

    /// Opens an existing journal for appending (resume, rollback).
    pub fn open(state_dir: &Path, id: &RunId) -> Result<Journal, JournalError> {
        let _ = (state_dir, id);
        todo!("journal")
    }

    /// Appends one record and fsyncs it before returning.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let _ = record;
        todo!("journal")
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A journal read back: its records (a torn last line dropped) and the state they imply.
#[derive(Debug, Clone)]
pub struct RunLog {
    /// The header of the `RunStarted` record.
    pub header: RunHeader,
    /// Every record, in order.
    pub records: Vec<Record>,
    /// Where the run stands.
    pub state: RunState,
}

/// Reads one run's journal.
pub fn read_run(state_dir: &Path, id: &RunId) -> Result<RunLog, JournalError> {
    let _ = (state_dir, id);
    todo!("journal")
}

/// Every run in the state dir, oldest first.
pub fn list_runs(state_dir: &Path) -> Result<Vec<RunLog>, JournalError> {
    let _ = state_dir;
    todo!("journal")
}

/// A new run id for `operation region` started now.
pub fn new_run_id(operation: &str, region: &str) -> RunId {
    let _ = (operation, region);
    todo!("journal")
}
