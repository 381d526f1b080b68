//! Appending to and reading back journals.
//!
//! A journal is append-only. The only repair ever made is dropping a torn or invalid *last*
//! line: [`Journal::append`] returns only after its line is fsynced, so a last line that is
//! incomplete was never acknowledged and no caller can have acted on it. Any other invalid
//! line is corruption and is reported, never skipped: recovery must not guess.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::fsutil::{create_dir_durable, io_at, sync_dir};
use super::{Record, RunId, RunLog};

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

/// The directory holding every run, under the state dir.
const RUNS_DIR: &str = "runs";
/// The journal's file name inside a run's directory.
const JOURNAL_FILE: &str = "journal.jsonl";

/// The directory of one run: `<state_dir>/runs/<id>` (reports and other per-run files go here).
pub fn run_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join(RUNS_DIR).join(id)
}

/// The journal file of one run: `<state_dir>/runs/<id>/journal.jsonl`.
pub fn journal_path(state_dir: &Path, id: &str) -> PathBuf {
    run_dir(state_dir, id).join(JOURNAL_FILE)
}

/// Whether `id` can name a run directory: ASCII letters, digits, `-`, `_`, `.`, not starting
/// with `.`. Guards against a user-given RUN such as `../../etc`.
fn is_valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An open journal of one run, appended to with one fsync per record.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Length of the file up to the end of the last complete record, to undo a failed append.
    len: u64,
}

impl Journal {
    /// Creates `runs/<id>/journal.jsonl` under `state_dir` (fails if it exists).
    ///
    /// The new file and every directory entry leading to it are fsynced before this returns.
    pub fn create(state_dir: &Path, id: &RunId) -> Result<Journal, JournalError> {
        let dir = run_dir(state_dir, id);
        let path = dir.join(JOURNAL_FILE);
        if !is_valid_run_id(id) {
            return Err(JournalError::Io {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("`{id}` is not a valid run id"),
                ),
            });
        }
        create_dir_durable(&dir)?;
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io_at(&path))?;
        file.sync_all().map_err(io_at(&path))?;
        sync_dir(&dir)?;
        Ok(Journal { path, file, len: 0 })
    }

    /// Opens an existing journal for appending (resume, rollback).
    ///
    /// A torn or invalid last line (crash mid-append) is cut off first, so that the next
    /// record starts on a line of its own; the journal must otherwise read back cleanly.
    pub fn open(state_dir: &Path, id: &RunId) -> Result<Journal, JournalError> {
        if !is_valid_run_id(id) {
            return Err(JournalError::UnknownRun(id.clone()));
        }
        let path = journal_path(state_dir, id);
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(JournalError::UnknownRun(id.clone()));
            }
            Err(e) => return Err(io_at(&path)(e)),
        };
        let bytes = fs::read(&path).map_err(io_at(&path))?;
        let parsed = parse(&path, &bytes)?;
        let len = parsed.valid_len as u64;
        if parsed.valid_len < bytes.len() {
            tracing::warn!(
                journal = %path.display(),
                dropped_bytes = bytes.len() - parsed.valid_len,
                "dropping the torn last line of the journal (the process died while writing it)"
            );
            file.set_len(len).map_err(io_at(&path))?;
            file.sync_all().map_err(io_at(&path))?;
        }
        Ok(Journal { path, file, len })
    }

    /// Appends one record and fsyncs it before returning.
    ///
    /// Guarantees: when this returns `Ok`, the record is durable and will be read back.
    /// When it returns `Err`, the caller must not take the action the record describes.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).map_err(|e| self.invalid(e.to_string()))?;
        // serde_json writes a NaN as `null`, which does not read back as an f64: such a
        // line would turn into corruption the moment another record follows it.
        if let Err(e) = serde_json::from_slice::<Record>(&line) {
            return Err(self.invalid(format!("record would not read back: {e}")));
        }
        line.push(b'\n');
        // One write of the whole line: a crash leaves at most a torn last line.
        if let Err(e) = self.file.write_all(&line) {
            // Cut a partial write off so the next append starts on a fresh line.
            let _ = self.file.set_len(self.len);
            return Err(io_at(&self.path)(e));
        }
        self.file.sync_data().map_err(io_at(&self.path))?;
        self.len += line.len() as u64;
        Ok(())
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn invalid(&self, message: String) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        }
    }
}

/// A journal's valid records and where they end.
struct Parsed {
    records: Vec<Record>,
    /// Bytes up to the end of the last complete, valid line.
    valid_len: usize,
}

/// Parses a journal: every complete line must be a record, the first a `run_started`; a torn
/// or invalid last line is left out of `valid_len`.
fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed, JournalError> {
    let corrupt = |line: usize, message: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut records = Vec::new();
    let mut pos = 0;
    let mut line_no = 0;
    while pos < bytes.len() {
        line_no += 1;
        let (end, next) = match bytes[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (pos + i, pos + i + 1),
            None => (bytes.len(), bytes.len()),
        };
        let complete = end < bytes.len();
        let is_last = next >= bytes.len();
        match (serde_json::from_slice::<Record>(&bytes[pos..end]), complete) {
            (Ok(record), true) => {
                if line_no > 1 && matches!(record, Record::RunStarted { .. }) {
                    return Err(corrupt(
                        line_no,
                        "`run_started` may only be the first record".to_string(),
                    ));
                }
                records.push(record);
                pos = next;
            }
            (Err(e), true) if !is_last => return Err(corrupt(line_no, e.to_string())),
            // An incomplete or invalid last line: the append writing it never returned.
            _ => break,
        }
    }
    match records.first() {
        Some(Record::RunStarted { .. }) => {}
        Some(_) => {
            return Err(corrupt(
                1,
                "the first record must be `run_started`".to_string(),
            ));
        }
        None => {
            return Err(corrupt(
                1,
                "empty journal: the run died before its start was recorded (nothing was changed)"
                    .to_string(),
            ));
        }
    }
    Ok(Parsed {
        records,
        valid_len: pos,
    })
}

/// Reads one run's journal.
pub fn read_run(state_dir: &Path, id: &RunId) -> Result<RunLog, JournalError> {
    if !is_valid_run_id(id) {
        return Err(JournalError::UnknownRun(id.clone()));
    }
    let path = journal_path(state_dir, id);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(JournalError::UnknownRun(id.clone()));
        }
        Err(e) => return Err(io_at(&path)(e)),
    };
    let parsed = parse(&path, &bytes)?;
    Ok(RunLog::from_records(parsed.records).expect("parse checked the first record"))
}

/// Every run in the state dir, oldest first.
///
/// A run whose journal cannot be read (corrupt, empty after a crash before its first
/// record, unreadable) is skipped with a warning, so that one broken run does not hide the
/// history; `read_run` on its id reports the error. Runs are ordered by start time, then id.
pub fn list_runs(state_dir: &Path) -> Result<Vec<RunLog>, JournalError> {
    let runs_dir = state_dir.join(RUNS_DIR);
    let entries = match fs::read_dir(&runs_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_at(&runs_dir)(e)),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_at(&runs_dir))?;
        if !entry.file_type().map_err(io_at(&entry.path()))?.is_dir() {
            continue;
        }
        let Some(id) = entry.file_name().to_str().map(str::to_string) else {
            tracing::warn!(dir = %entry.path().display(), "skipping a run directory whose name is not UTF-8");
            continue;
        };
        match read_run(state_dir, &id) {
            Ok(run) => runs.push(run),
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "skipping a run whose journal cannot be read")
            }
        }
    }
    runs.sort_by_cached_key(|run| {
        (
            run.header.started_at.parse::<jiff::Timestamp>().ok(),
            run.header.id.clone(),
        )
    });
    Ok(runs)
}

/// A new run id for `operation region` started now:
/// `YYYYMMDD-HHMMSS-<operation>-<region>-<4 hex>` in UTC, e.g.
/// `20261123-090312-evacuate-us-east-1-3f9a`.
pub fn new_run_id(operation: &str, region: &str) -> RunId {
    let now = jiff::Timestamp::now();
    format!(
        "{}-{operation}-{region}-{:04x}",
        now.strftime("%Y%m%d-%H%M%S"),
        rand::random::<u16>()
    )
}

/// The current time as RFC 3339 (UTC), the format of every `at` in the journal.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}
