//! Appending to and reading back journals.
//!
//! A journal is append-only. The only repair ever made is dropping a torn or invalid *last*
//! line: [`Journal::append`] returns only after its line is fsynced, so a last line that is
//! incomplete was never acknowledged and no caller can have acted on it. Any other invalid
//! line is corruption and is reported, never skipped: recovery must not guess.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::fsutil::{create_dir_durable, io_at, sync_dir};
use super::{Record, RunHeader, RunId, RunLog, RunState, RunSummary, next_state};

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
    #[error("no run `{0}` in the state; `kong runs` lists them")]
    UnknownRun(RunId),
    /// The shared state refused or failed a call (after retrying what may pass on retry).
    #[error("{0}")]
    Store(String),
    /// Another process took the run lock over (its lease had expired): this one must act no
    /// further, not even write a record.
    #[error("{}", lost_lock_message(.topology, .holder.as_deref()))]
    LostLock {
        /// The topology whose lock was lost.
        topology: String,
        /// Who holds it now, if known.
        holder: Option<Box<super::lock::LockOwner>>,
    },
}

impl JournalError {
    /// Whether the writer lost its lock (fencing refused the write).
    pub fn is_lost_lock(&self) -> bool {
        matches!(self, JournalError::LostLock { .. })
    }
}

fn lost_lock_message(topology: &str, holder: Option<&super::lock::LockOwner>) -> String {
    let who = match holder {
        Some(h) => format!(
            "run {} on {} (pid {}) took it over (lease until {})",
            h.run_id, h.host, h.pid, h.lease_expires_at
        ),
        None => "another process took it over".to_string(),
    };
    format!(
        "lost the lock of topology `{topology}`: this process stalled past its lease and {who}; this process writes and changes nothing more"
    )
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
pub(crate) fn is_valid_run_id(id: &str) -> bool {
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
        let parsed = parse::<Record>(&path, &bytes)?;
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
        self.write_record(record, true)
    }

    /// Appends a record that reports something already done (a step's result, its checks)
    /// without its own fsync: the next [`Journal::append`] makes it durable with everything
    /// before it.
    ///
    /// Why this is safe: no action waits on such a record. If a crash loses it, recovery sees
    /// an intent without a result and reconciles it against live weights, exactly as after a
    /// crash between applying and journaling. It saves two fsyncs per step group, which on a
    /// busy disk were most of the executor's overhead over the provider calls themselves.
    pub fn append_result(&mut self, record: &Record) -> Result<(), JournalError> {
        self.write_record(record, false)
    }

    fn write_record(&mut self, record: &Record, sync: bool) -> Result<(), JournalError> {
        let mut line = encode(record).map_err(|e| self.invalid(e))?;
        line.push(b'\n');
        // One write of the whole line: a crash leaves at most a torn last line.
        if let Err(e) = self.file.write_all(&line) {
            // Cut a partial write off so the next append starts on a fresh line.
            let _ = self.file.set_len(self.len);
            return Err(io_at(&self.path)(e));
        }
        if sync {
            self.file.sync_data().map_err(io_at(&self.path))?;
        }
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

/// One record as one JSON line (without its newline), refused when it would not read back
/// (a NaN or an infinity, see [`Record::non_finite`]).
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, String> {
    if let Some(place) = record.non_finite() {
        return Err(format!(
            "record would not read back: {place} is not a finite number"
        ));
    }
    serde_json::to_vec(record).map_err(|e| e.to_string())
}

/// A journal line, read whole ([`Record`]) or only as far as a reader needs ([`Outline`]).
trait Line: Sized {
    fn parse(line: &[u8]) -> Result<Self, serde_json::Error>;
    /// Whether it is a `run_started`.
    fn is_start(&self) -> bool;
}

impl Line for Record {
    fn parse(line: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(line)
    }
    fn is_start(&self) -> bool {
        matches!(self, Record::RunStarted { .. })
    }
}

/// A journal line as the run history needs it: the run's header and what its state follows
/// from. The records that never change a run's state and hold most of a journal's bytes (a
/// 10,000-service run's plan in `run_started`, the weights of its intents, its check
/// results) are read only as far as their `event`; every other record is read whole. A
/// skipped line is still checked to be a JSON object naming its event (else the journal is
/// corrupt, as for [`read_run`]); its fields are checked when the run is read whole.
enum Outline {
    /// `run_started`: its header; the plan and the baseline are skipped unparsed.
    Started(RunHeader),
    /// A record that may change the state.
    Whole(Record),
    /// A record that never changes the state ([`SKIPPED`]).
    Skipped,
}

/// The events an [`Outline`] skips: none of them changes a run's state (see
/// [`super::derive_state`]; a test holds the two together).
const SKIPPED: [&str; 4] = ["step_intent", "step_checked", "checks_baseline", "residual"];

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
}

/// `run_started` without its plan and baseline (present, not parsed).
#[derive(Deserialize)]
struct StartedHeader {
    #[serde(rename = "at")]
    _at: IgnoredAny,
    run: RunHeader,
    #[serde(rename = "plan")]
    _plan: IgnoredAny,
    #[serde(rename = "baseline")]
    _baseline: IgnoredAny,
}

impl Line for Outline {
    fn parse(line: &[u8]) -> Result<Outline, serde_json::Error> {
        let event: Event = serde_json::from_slice(line)?;
        Ok(match event.event.as_ref() {
            "run_started" => Outline::Started(serde_json::from_slice::<StartedHeader>(line)?.run),
            skipped if SKIPPED.contains(&skipped) => Outline::Skipped,
            _ => Outline::Whole(serde_json::from_slice(line)?),
        })
    }
    fn is_start(&self) -> bool {
        matches!(self, Outline::Started(_))
    }
}

/// A journal's valid lines and where they end.
struct Parsed<L> {
    records: Vec<L>,
    /// Bytes up to the end of the last complete, valid line.
    valid_len: usize,
}

/// Parses a journal: every complete line must be a record, the first a `run_started`; a torn
/// or invalid last line is left out of `valid_len`.
fn parse<L: Line>(path: &Path, bytes: &[u8]) -> Result<Parsed<L>, JournalError> {
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
        match (L::parse(&bytes[pos..end]), complete) {
            (Ok(record), true) => {
                if line_no > 1 && record.is_start() {
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
        Some(first) if first.is_start() => {}
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

/// The journal of run `id` and its bytes.
fn read_journal(state_dir: &Path, id: &RunId) -> Result<(PathBuf, Vec<u8>), JournalError> {
    if !is_valid_run_id(id) {
        return Err(JournalError::UnknownRun(id.clone()));
    }
    let path = journal_path(state_dir, id);
    match fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(JournalError::UnknownRun(id.clone()))
        }
        Err(e) => Err(io_at(&path)(e)),
    }
}

/// Reads one run's journal.
pub fn read_run(state_dir: &Path, id: &RunId) -> Result<RunLog, JournalError> {
    let (path, bytes) = read_journal(state_dir, id)?;
    let parsed = parse::<Record>(&path, &bytes)?;
    Ok(RunLog::from_records(parsed.records).expect("parse checked the first record"))
}

/// Reads one run's journal as the history lists it: its header and state, the same as
/// [`read_run`]'s, without reading the records that do not change the state.
pub fn read_summary(state_dir: &Path, id: &RunId) -> Result<RunSummary, JournalError> {
    let (path, bytes) = read_journal(state_dir, id)?;
    let mut lines = parse::<Outline>(&path, &bytes)?.records.into_iter();
    let Some(Outline::Started(header)) = lines.next() else {
        unreachable!("parse checked the first record");
    };
    let state = lines.fold(RunState::Running, |state, line| match line {
        Outline::Whole(record) => next_state(state, &record),
        Outline::Started(_) | Outline::Skipped => state,
    });
    Ok(RunSummary { header, state })
}

/// Every run in the state dir, oldest first.
///
/// A run whose journal cannot be read (corrupt, empty after a crash before its first
/// record, unreadable) is skipped with a warning, so that one broken run does not hide the
/// history; `read_run` on its id reports the error. Runs are ordered by start time, then id.
pub fn list_runs(state_dir: &Path) -> Result<Vec<RunLog>, JournalError> {
    let mut runs = list(state_dir, read_run)?;
    sort_runs(&mut runs);
    Ok(runs)
}

/// Every run in the state dir as the history lists it, oldest first: the runs of
/// [`list_runs`], in its order, with the same headers and states, read without the records
/// that do not change a run's state (see [`read_summary`]).
pub fn list_summaries(state_dir: &Path) -> Result<Vec<RunSummary>, JournalError> {
    let mut runs = list(state_dir, read_summary)?;
    sort_by_start(&mut runs, |run| &run.header);
    Ok(runs)
}

/// Every run `read` reads in the state dir, in no order; a run it cannot read is skipped
/// with a warning.
fn list<T>(
    state_dir: &Path,
    read: impl Fn(&Path, &RunId) -> Result<T, JournalError>,
) -> Result<Vec<T>, JournalError> {
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
        match read(state_dir, &id) {
            Ok(run) => runs.push(run),
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "skipping a run whose journal cannot be read")
            }
        }
    }
    Ok(runs)
}

/// Orders runs by start time, then id (oldest first).
pub(crate) fn sort_runs(runs: &mut [RunLog]) {
    sort_by_start(runs, |run| &run.header);
}

fn sort_by_start<T>(runs: &mut [T], header: impl Fn(&T) -> &RunHeader) {
    runs.sort_by_cached_key(|run| {
        let header = header(run);
        (
            header.started_at.parse::<jiff::Timestamp>().ok(),
            header.id.clone(),
        )
    });
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::journal::RunState;
    use crate::journal::testing::{
        applied, at, every_record, finished, intent, rollback_intent, run_started, write_run,
    };

    fn id(s: &str) -> RunId {
        s.to_string()
    }

    fn append_raw(state_dir: &Path, run: &str, bytes: &[u8]) {
        let mut file = OpenOptions::new()
            .append(true)
            .open(journal_path(state_dir, run))
            .unwrap();
        file.write_all(bytes).unwrap();
    }

    #[test]
    fn every_record_variant_round_trips_one_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let records = every_record("r1");
        let journal = write_run(dir.path(), "r1", &records);
        assert_eq!(journal.path(), journal_path(dir.path(), "r1"));

        let text = fs::read_to_string(journal.path()).unwrap();
        assert_eq!(text.lines().count(), records.len());
        assert!(text.ends_with('\n'));

        let log = read_run(dir.path(), &id("r1")).unwrap();
        assert_eq!(log.records, records);
        assert_eq!(log.header.id, "r1");
        assert_eq!(log.state, RunState::RolledBack);
    }

    #[test]
    fn results_appended_without_their_own_fsync_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = write_run(
            dir.path(),
            "r1",
            &[run_started("r1", "2026-11-23T09:03:12Z"), intent(0)],
        );
        let applied = Record::StepApplied {
            at: "2026-11-23T09:03:13Z".to_string(),
            index: 0,
            api_calls: 4,
            retries: 0,
        };
        journal.append_result(&applied).unwrap();
        journal.append(&intent(1)).unwrap();

        let log = read_run(dir.path(), &id("r1")).unwrap();
        assert_eq!(log.records.len(), 4);
        assert_eq!(log.records[2], applied);
        assert!(log.is_step_applied(0));
        assert_eq!(log.pending_intent().map(|(i, _)| i), Some(1));
    }

    /// Run `r1` journaled up to `run_started` (and `intent(0)` with `intent_0`), then `tail`
    /// written raw (a torn or bad end).
    fn started_then(intent_0: bool, tail: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut records = vec![run_started("r1", "2026-11-23T09:03:12Z")];
        if intent_0 {
            records.push(intent(0));
        }
        write_run(dir.path(), "r1", &records);
        append_raw(dir.path(), "r1", tail);
        dir
    }

    #[test]
    fn torn_last_line_without_newline_is_dropped() {
        let dir = started_then(true, br#"{"event":"step_applied","at":"2026-11-2"#);

        let log = read_run(dir.path(), &id("r1")).unwrap();
        assert_eq!(log.records.len(), 2);
        assert_eq!(log.pending_intent().map(|(i, _)| i), Some(0));
    }

    #[test]
    fn complete_record_without_newline_is_dropped_as_unacknowledged() {
        let dir = started_then(true, br#"{"event":"paused","at":"2026-11-23T09:03:12Z"}"#);

        let log = read_run(dir.path(), &id("r1")).unwrap();
        assert_eq!(log.records.len(), 2);
        assert_eq!(log.state, RunState::Running);
    }

    #[test]
    fn invalid_last_line_with_newline_is_dropped() {
        let dir = started_then(false, b"\0\0\0\0\n");

        assert_eq!(read_run(dir.path(), &id("r1")).unwrap().records.len(), 1);
    }

    #[test]
    fn corrupt_middle_line_is_reported_with_its_line_number() {
        let dir = started_then(false, b"{\"event\":\"nonsense\"}\n");
        append_raw(dir.path(), "r1", b"{\"event\":\"paused\",\"at\":\"x\"}\n");

        match read_run(dir.path(), &id("r1")) {
            Err(JournalError::Corrupt { line, path, .. }) => {
                assert_eq!(line, 2);
                assert_eq!(path, journal_path(dir.path(), "r1"));
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Opening for append does not paper over it either.
        assert!(matches!(
            Journal::open(dir.path(), &id("r1")),
            Err(JournalError::Corrupt { line: 2, .. })
        ));
    }

    #[test]
    fn first_record_must_be_run_started() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), "r1", &[intent(0), intent(1)]);
        assert!(matches!(
            read_run(dir.path(), &id("r1")),
            Err(JournalError::Corrupt { line: 1, .. })
        ));

        write_run(dir.path(), "empty", &[]);
        assert!(matches!(
            read_run(dir.path(), &id("empty")),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }

    #[test]
    fn run_started_twice_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let start = run_started("r1", "2026-11-23T09:03:12Z");
        write_run(dir.path(), "r1", &[start.clone(), start, intent(0)]);
        assert!(matches!(
            read_run(dir.path(), &id("r1")),
            Err(JournalError::Corrupt { line: 2, .. })
        ));
    }

    #[test]
    fn open_cuts_a_torn_tail_so_the_next_append_reads_back() {
        let dir = started_then(true, br#"{"event":"step_appl"#);

        let mut journal = Journal::open(dir.path(), &id("r1")).unwrap();
        journal.append(&intent(1)).unwrap();

        let log = read_run(dir.path(), &id("r1")).unwrap();
        assert_eq!(log.records.len(), 3);
        assert_eq!(log.last_intent().map(|(i, _)| i), Some(1));
    }

    #[test]
    fn create_refuses_an_existing_run() {
        let dir = tempfile::tempdir().unwrap();
        write_run(
            dir.path(),
            "r1",
            &[run_started("r1", "2026-11-23T09:03:12Z")],
        );
        assert!(matches!(
            Journal::create(dir.path(), &id("r1")),
            Err(JournalError::Io { .. })
        ));
    }

    #[test]
    fn create_makes_the_state_dir_and_its_parents() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/b/.kong");
        write_run(&state, "r1", &[run_started("r1", "2026-11-23T09:03:12Z")]);
        assert_eq!(read_run(&state, &id("r1")).unwrap().records.len(), 1);
    }

    #[test]
    fn unknown_and_malformed_run_ids_are_unknown_runs() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["nope", "../etc", "", ".hidden", "a/b"] {
            assert!(
                matches!(
                    read_run(dir.path(), &id(bad)),
                    Err(JournalError::UnknownRun(_))
                ),
                "{bad}"
            );
            assert!(
                matches!(
                    Journal::open(dir.path(), &id(bad)),
                    Err(JournalError::UnknownRun(_))
                ),
                "{bad}"
            );
        }
        assert!(Journal::create(dir.path(), &id("../escape")).is_err());
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn append_refuses_a_record_that_would_not_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = write_run(
            dir.path(),
            "r1",
            &[run_started("r1", "2026-11-23T09:03:12Z")],
        );
        let nan = Record::ChecksBaseline {
            at: "t".to_string(),
            values: [("c".to_string(), [(String::new(), f64::NAN)].into())].into(),
        };
        assert!(journal.append(&nan).is_err());
        journal.append(&intent(0)).unwrap();
        assert_eq!(read_run(dir.path(), &id("r1")).unwrap().records.len(), 2);
    }

    #[test]
    fn list_runs_is_oldest_first_and_skips_broken_runs() {
        let dir = tempfile::tempdir().unwrap();
        // Same second: ordered by the precise start time, not by the random suffix.
        write_run(
            dir.path(),
            "20261123-090312-evacuate-x-ffff",
            &[run_started(
                "20261123-090312-evacuate-x-ffff",
                "2026-11-23T09:03:12.1Z",
            )],
        );
        write_run(
            dir.path(),
            "20261123-090312-evacuate-x-0000",
            &[run_started(
                "20261123-090312-evacuate-x-0000",
                "2026-11-23T09:03:12.25Z",
            )],
        );
        write_run(
            dir.path(),
            "20261122-235959-restore-x-aaaa",
            &[run_started(
                "20261122-235959-restore-x-aaaa",
                "2026-11-22T23:59:59Z",
            )],
        );
        write_run(dir.path(), "20261124-000000-evacuate-x-dead", &[]);
        fs::write(dir.path().join("runs/stray-file"), "x").unwrap();

        let ids: Vec<String> = list_runs(dir.path())
            .unwrap()
            .into_iter()
            .map(|r| r.header.id)
            .collect();
        assert_eq!(
            ids,
            [
                "20261122-235959-restore-x-aaaa",
                "20261123-090312-evacuate-x-ffff",
                "20261123-090312-evacuate-x-0000",
            ]
        );
    }

    /// The summaries the history lists, beside the runs read whole.
    fn summaries_and_runs(state_dir: &Path) -> (Vec<RunSummary>, Vec<RunSummary>) {
        let whole = list_runs(state_dir)
            .unwrap()
            .iter()
            .map(RunSummary::from)
            .collect();
        (list_summaries(state_dir).unwrap(), whole)
    }

    #[test]
    fn summaries_list_the_runs_of_list_runs_with_their_headers_and_states() {
        let dir = tempfile::tempdir().unwrap();
        let started = |id: &str, at: &str| run_started(id, at);
        // Every record kind, ending rolled back (started at 09:03:12, as `d`: then by id).
        write_run(dir.path(), "a", &every_record("a"));
        // Ends completed after intents, results and checks.
        let mut completed = vec![started("b", "2026-11-23T09:03:10Z")];
        completed.extend([intent(0), applied(0, 4), intent(1), applied(1, 4)]);
        completed.push(finished(RunState::Completed));
        write_run(dir.path(), "b", &completed);
        // Paused, then resumed and still running (interrupted).
        write_run(
            dir.path(),
            "c",
            &[
                started("c", "2026-11-23T09:03:11Z"),
                intent(0),
                Record::Paused { at: at() },
                Record::Resumed {
                    at: at(),
                    host: "h".to_string(),
                    pid: 1,
                },
                intent(1),
            ],
        );
        // Rolling back when it died, with a torn last line.
        write_run(
            dir.path(),
            "d",
            &[
                started("d", "2026-11-23T09:03:12Z"),
                intent(0),
                rollback_intent(),
            ],
        );
        append_raw(dir.path(), "d", br#"{"event":"rollback_done","at":"2026-"#);
        // Paused, then a complete last line without its newline (never acknowledged).
        write_run(
            dir.path(),
            "e",
            &[
                started("e", "2026-11-23T09:03:13Z"),
                Record::Paused { at: at() },
            ],
        );
        append_raw(
            dir.path(),
            "e",
            br#"{"event":"resumed","at":"x","host":"h","pid":1}"#,
        );
        // Skipped by both: a corrupt middle line, an empty journal, no run_started first.
        write_run(dir.path(), "f", &[started("f", "2026-11-23T09:03:14Z")]);
        append_raw(dir.path(), "f", b"{\"event\":\"nonsense\"}\n");
        append_raw(dir.path(), "f", b"{\"event\":\"paused\",\"at\":\"x\"}\n");
        write_run(dir.path(), "g", &[]);
        write_run(dir.path(), "h", &[intent(0)]);
        // A step intent that is not JSON, in the middle: corrupt for both.
        write_run(dir.path(), "i", &[started("i", "2026-11-23T09:03:15Z")]);
        append_raw(dir.path(), "i", b"{\"event\":\"step_intent\",\n");
        append_raw(dir.path(), "i", b"{\"event\":\"paused\",\"at\":\"x\"}\n");

        let (summaries, whole) = summaries_and_runs(dir.path());
        assert_eq!(summaries, whole);
        let states: Vec<(&str, RunState)> = summaries
            .iter()
            .map(|s| (s.header.id.as_str(), s.state))
            .collect();
        assert_eq!(
            states,
            [
                ("b", RunState::Completed),
                ("c", RunState::Running),
                ("a", RunState::RolledBack),
                ("d", RunState::RollingBack),
                ("e", RunState::Paused),
            ]
        );
    }

    #[test]
    fn the_records_summaries_skip_never_change_a_state() {
        let mut records = every_record("r1");
        records.push(Record::Residual {
            at: at(),
            when: "after evacuation".to_string(),
            region: "us-east-1".to_string(),
            source: "sim".to_string(),
            max_residual: 0.01,
            services: Vec::new(),
        });
        for name in SKIPPED {
            let of_kind: Vec<&Record> = records
                .iter()
                .filter(|r| serde_json::to_value(r).unwrap()["event"] == name)
                .collect();
            assert!(!of_kind.is_empty(), "no `{name}` record: not an event name");
            for record in of_kind {
                for state in RunState::ALL {
                    assert_eq!(next_state(state, record), state, "{name}");
                }
            }
        }
    }

    #[test]
    fn list_runs_of_a_fresh_state_dir_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list_runs(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn new_run_id_is_utc_time_operation_region_and_four_hex() {
        let before = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        let run = new_run_id("evacuate", "us-east-1");
        let after = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();

        let (time, rest) = run.split_at(15);
        assert!(before.as_str() <= time && time <= after.as_str(), "{run}");
        let suffix = rest.strip_prefix("-evacuate-us-east-1-").expect(&run);
        assert_eq!(suffix.len(), 4);
        assert!(
            suffix
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(is_valid_run_id(&run));
    }
}
