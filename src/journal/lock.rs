//! The run lock: one active run per topology and state dir.
//!
//! An OS file lock (`File::try_lock`) on `locks/<topology>.lock` is held for the life of
//! the run, so a process killed with SIGKILL releases it; beside it, `<topology>.owner.json`
//! names the holder (host, pid, run id, start time, lease expiry) for `kong status` and for
//! the refusal message, and is renewed while the run is alive.
//!
//! The OS lock decides on one host. The lease covers a state dir shared between hosts, where
//! a lock taken on one host may not be seen on another: an owner file naming another host
//! whose lease has not expired is honoured even when the OS lock is free. The `.lock` file
//! itself is never deleted (deleting a lock file lets two processes lock two different files).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JournalError;
use super::fsutil::{create_dir_durable, io_at};

/// How long a lease lasts after it is written or renewed.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often a live run renews its lease (well within [`LEASE`]).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// How many times `acquire` tries a busy OS lock: `holder()` (e.g. `kong status`) holds it
/// for an instant, and must not make a starting run fail.
const LOCK_ATTEMPTS: u32 = 5;
/// Pause between those attempts.
const LOCK_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// The directory of lock files, under the state dir.
const LOCKS_DIR: &str = "locks";

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockOwner {
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// The run holding it.
    pub run_id: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339; renewed while alive.
    pub lease_expires_at: String,
}

impl LockOwner {
    /// This process (host, pid) as the owner of `run_id`, starting now; the lease is set
    /// by [`RunLock::acquire`].
    pub fn for_this_process(run_id: &str) -> LockOwner {
        let now = jiff::Timestamp::now();
        LockOwner {
            host: this_host(),
            pid: std::process::id(),
            run_id: run_id.to_string(),
            started_at: now.to_string(),
            lease_expires_at: now.to_string(),
        }
    }

    /// Whether the lease has expired at `now` (an unreadable expiry counts as expired).
    pub fn lease_expired_at(&self, now: jiff::Timestamp) -> bool {
        match self.lease_expires_at.parse::<jiff::Timestamp>() {
            Ok(expiry) => expiry <= now,
            Err(_) => true,
        }
    }

    /// Whether the lease has expired now.
    pub fn lease_expired(&self) -> bool {
        self.lease_expired_at(jiff::Timestamp::now())
    }

    /// The owner shown when the lock is held but its owner file cannot be read (written an
    /// instant later, or damaged).
    fn unknown() -> LockOwner {
        let unknown = "unknown".to_string();
        LockOwner {
            host: unknown.clone(),
            pid: 0,
            run_id: unknown.clone(),
            started_at: unknown.clone(),
            lease_expires_at: unknown,
        }
    }
}

/// This machine's host name, as recorded in lock owners and run headers.
pub fn this_host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown-host".to_string())
}

/// Why the lock was not acquired.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("the lock for topology `{topology}` is held by run {} on {} (pid {}) since {}", .owner.run_id, .owner.host, .owner.pid, .owner.started_at)]
    Held {
        /// The topology.
        topology: String,
        /// The holder (boxed: the error stays small on the happy path).
        owner: Box<LockOwner>,
    },
    /// The state dir could not be used.
    #[error(transparent)]
    Io(#[from] JournalError),
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    /// The locked file; closing it releases the OS lock.
    file: File,
    owner_path: PathBuf,
    owner: LockOwner,
}

/// `<locks>/<topology>.lock` and `<locks>/<topology>.owner.json`; characters that cannot be
/// in a file name are replaced with `_`.
fn lock_paths(state_dir: &Path, topology: &str) -> (PathBuf, PathBuf, PathBuf) {
    let mut stem: String = topology
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        stem.insert(0, '_');
    }
    let dir = state_dir.join(LOCKS_DIR);
    let lock = dir.join(format!("{stem}.lock"));
    let owner = dir.join(format!("{stem}.owner.json"));
    (dir, lock, owner)
}

/// The owner file's contents, or `None` if it is missing or unreadable.
fn read_owner(path: &Path) -> Option<LockOwner> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(owner) => Some(owner),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "unreadable lock owner file");
            None
        }
    }
}

/// Whether `owner` is a live holder on another host (a shared state dir): the OS lock on
/// this host says nothing about it, its lease does.
fn live_on_other_host(owner: &LockOwner, host: &str, now: jiff::Timestamp) -> bool {
    owner.host != host && !owner.lease_expired_at(now)
}

impl RunLock {
    /// Acquires the lock for `topology`, or says who holds it. Takes over a lock whose
    /// holder is dead (the OS lock is free) even if its lease has not expired.
    ///
    /// The owner is written with a lease of [`LEASE`] from now (its `lease_expires_at` is
    /// replaced). An owner file of another host with a live lease is honoured (`Held`).
    /// Blocking: may sleep up to ~100 ms while the OS lock is briefly busy.
    // `LockError::Held` carries the owner by value, as declared for the executor and CLI;
    // acquiring happens once per run, so the size of the error does not matter.
    #[allow(clippy::result_large_err)]
    pub fn acquire(
        state_dir: &Path,
        topology: &str,
        owner: LockOwner,
    ) -> Result<RunLock, LockError> {
        let (dir, lock_path, owner_path) = lock_paths(state_dir, topology);
        create_dir_durable(&dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        let held = |owner: Option<LockOwner>| LockError::Held {
            topology: topology.to_string(),
            owner: Box::new(owner.unwrap_or_else(LockOwner::unknown)),
        };
        if !try_lock_exclusive(&file, &lock_path)? {
            return Err(held(read_owner(&owner_path)));
        }
        // The OS lock is ours: an owner file left is from a process that died on this host,
        // or from another host sharing this state dir.
        let now = jiff::Timestamp::now();
        if let Some(previous) = read_owner(&owner_path) {
            if live_on_other_host(&previous, &owner.host, now) {
                let _ = file.unlock();
                return Err(held(Some(previous)));
            }
            tracing::warn!(
                run = %previous.run_id,
                pid = previous.pid,
                host = %previous.host,
                "the lock of run {} (pid {} on {}) was taken over: {}",
                previous.run_id,
                previous.pid,
                previous.host,
                if previous.host == owner.host {
                    "its process is gone"
                } else {
                    "its lease expired"
                },
            );
        }
        let mut lock = RunLock {
            file,
            owner_path,
            owner,
        };
        // On error the drop releases the OS lock again.
        lock.write_owner(now)?;
        Ok(lock)
    }

    /// Renews the lease (call periodically while the run is alive).
    pub fn renew(&mut self) -> Result<(), JournalError> {
        self.write_owner(jiff::Timestamp::now())
    }

    /// The owner as last written (with its current lease).
    pub fn owner(&self) -> &LockOwner {
        &self.owner
    }

    fn write_owner(&mut self, now: jiff::Timestamp) -> Result<(), JournalError> {
        let expiry = now.checked_add(LEASE).unwrap_or(jiff::Timestamp::MAX);
        self.owner.lease_expires_at = expiry.to_string();
        let json = serde_json::to_vec_pretty(&self.owner).map_err(|e| JournalError::Io {
            path: self.owner_path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        crate::fsutil::write_atomic(&self.owner_path, &json).map_err(io_at(&self.owner_path))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Remove the owner file while still holding the lock: after the unlock it may be
        // the next holder's.
        let _ = std::fs::remove_file(&self.owner_path);
        let _ = self.file.unlock();
    }
}

/// Tries the exclusive OS lock a few times; `Ok(false)` if another holder keeps it.
fn try_lock_exclusive(file: &File, path: &Path) -> Result<bool, JournalError> {
    for attempt in 1..=LOCK_ATTEMPTS {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(io_at(path)(e)),
        }
        if attempt < LOCK_ATTEMPTS {
            std::thread::sleep(LOCK_RETRY_PAUSE);
        }
    }
    Ok(false)
}

/// The current holder, if the lock is held by a live process.
///
/// Probes with a shared OS lock, released at once, so concurrent probes do not disturb each
/// other (and `acquire` retries past one). An owner file of another host with a live lease
/// counts as held, as in `acquire`. Never creates the lock file.
pub fn holder(state_dir: &Path, topology: &str) -> Result<Option<LockOwner>, JournalError> {
    let (_, lock_path, owner_path) = lock_paths(state_dir, topology);
    let file = match File::open(&lock_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(&lock_path)(e)),
    };
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Ok(Some(
            read_owner(&owner_path).unwrap_or_else(LockOwner::unknown),
        )),
        Err(TryLockError::Error(e)) => Err(io_at(&lock_path)(e)),
        Ok(()) => {
            let _ = file.unlock();
            let now = jiff::Timestamp::now();
            Ok(read_owner(&owner_path).filter(|o| live_on_other_host(o, &this_host(), now)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(run: &str) -> LockOwner {
        LockOwner::for_this_process(run)
    }

    fn owner_file(state_dir: &Path) -> PathBuf {
        lock_paths(state_dir, "demo").2
    }

    fn write_owner_file(state_dir: &Path, owner: &LockOwner) {
        std::fs::create_dir_all(state_dir.join(LOCKS_DIR)).unwrap();
        std::fs::write(owner_file(state_dir), serde_json::to_vec(owner).unwrap()).unwrap();
    }

    fn expect_held(result: Result<RunLock, LockError>) -> LockOwner {
        match result {
            Err(LockError::Held { topology, owner }) => {
                assert_eq!(topology, "demo");
                *owner
            }
            Err(e) => panic!("expected Held, got {e}"),
            Ok(_) => panic!("expected Held, got the lock"),
        }
    }

    #[test]
    fn second_acquire_while_held_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), "demo", owner("run-1")).unwrap();

        // flock locks belong to the open file description: a second open in the same
        // process conflicts, as a second process would.
        let err = RunLock::acquire(dir.path(), "demo", owner("run-2")).unwrap_err();
        let message = err.to_string();
        let held = expect_held(Err(err));
        assert_eq!(held.run_id, "run-1");
        assert_eq!(held.host, this_host());
        assert_eq!(held.pid, std::process::id());
        assert!(
            message.contains("run-1") && message.contains(&this_host()),
            "{message}"
        );

        // Another topology is another lock.
        let _other = RunLock::acquire(dir.path(), "other", owner("run-3")).unwrap();
        drop(first);
    }

    #[test]
    fn lock_is_released_and_owner_file_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path(), "demo", owner("run-1")).unwrap();
        assert!(owner_file(dir.path()).exists());
        drop(lock);
        assert!(!owner_file(dir.path()).exists());

        let again = RunLock::acquire(dir.path(), "demo", owner("run-2")).unwrap();
        assert_eq!(again.owner().run_id, "run-2");
    }

    #[test]
    fn acquire_writes_the_owner_with_a_fresh_lease_and_renew_extends_it() {
        let dir = tempfile::tempdir().unwrap();
        let before = jiff::Timestamp::now();
        let mut lock = RunLock::acquire(dir.path(), "demo", owner("run-1")).unwrap();
        let written: LockOwner =
            serde_json::from_slice(&std::fs::read(owner_file(dir.path())).unwrap()).unwrap();
        assert_eq!(&written, lock.owner());
        let expiry: jiff::Timestamp = written.lease_expires_at.parse().unwrap();
        assert!(expiry >= before.checked_add(LEASE).unwrap());
        assert!(!written.lease_expired());

        std::thread::sleep(Duration::from_millis(5));
        lock.renew().unwrap();
        let renewed: LockOwner =
            serde_json::from_slice(&std::fs::read(owner_file(dir.path())).unwrap()).unwrap();
        assert!(renewed.lease_expires_at.parse::<jiff::Timestamp>().unwrap() > expiry);
        assert_eq!(renewed.started_at, written.started_at);
    }

    #[test]
    fn dead_holder_on_this_host_is_taken_over_despite_its_live_lease() {
        let dir = tempfile::tempdir().unwrap();
        // What a SIGKILLed run leaves: an owner file, and no OS lock.
        let mut dead = owner("run-dead");
        dead.pid = 999_999;
        dead.lease_expires_at = jiff::Timestamp::now()
            .checked_add(LEASE)
            .unwrap()
            .to_string();
        write_owner_file(dir.path(), &dead);

        let lock = RunLock::acquire(dir.path(), "demo", owner("run-new")).unwrap();
        assert_eq!(lock.owner().run_id, "run-new");
        let written: LockOwner =
            serde_json::from_slice(&std::fs::read(owner_file(dir.path())).unwrap()).unwrap();
        assert_eq!(written.run_id, "run-new");
    }

    #[test]
    fn live_lease_of_another_host_is_honoured_and_an_expired_one_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut remote = owner("run-remote");
        remote.host = format!("not-{}", this_host());
        remote.lease_expires_at = jiff::Timestamp::now()
            .checked_add(LEASE)
            .unwrap()
            .to_string();
        write_owner_file(dir.path(), &remote);

        let held = expect_held(RunLock::acquire(dir.path(), "demo", owner("run-new")));
        assert_eq!(held, remote);
        assert_eq!(holder(dir.path(), "demo").unwrap(), Some(remote.clone()));
        // The refusal released the OS lock and left the remote owner file alone.
        assert!(owner_file(dir.path()).exists());

        remote.lease_expires_at = "2020-01-01T00:00:00Z".to_string();
        write_owner_file(dir.path(), &remote);
        assert_eq!(holder(dir.path(), "demo").unwrap(), None);
        let lock = RunLock::acquire(dir.path(), "demo", owner("run-new")).unwrap();
        assert_eq!(lock.owner().run_id, "run-new");
    }

    #[test]
    fn held_lock_without_owner_file_names_an_unknown_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _lock = RunLock::acquire(dir.path(), "demo", owner("run-1")).unwrap();
        std::fs::remove_file(owner_file(dir.path())).unwrap();

        let held = expect_held(RunLock::acquire(dir.path(), "demo", owner("run-2")));
        assert_eq!(held.host, "unknown");
        assert_eq!(held.run_id, "unknown");
        assert_eq!(held.pid, 0);
    }

    #[test]
    fn holder_names_the_owner_while_held_and_none_after() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path(), "demo").unwrap(), None);
        // Probing never creates the lock.
        assert!(!dir.path().join(LOCKS_DIR).exists());

        let lock = RunLock::acquire(dir.path(), "demo", owner("run-1")).unwrap();
        assert_eq!(
            holder(dir.path(), "demo").unwrap().as_ref(),
            Some(lock.owner())
        );
        // Probing does not keep the lock from its holder's perspective, nor block others.
        assert_eq!(
            holder(dir.path(), "demo").unwrap().as_ref(),
            Some(lock.owner())
        );
        drop(lock);

        assert_eq!(holder(dir.path(), "demo").unwrap(), None);
        let _lock = RunLock::acquire(dir.path(), "demo", owner("run-2")).unwrap();
    }

    #[test]
    fn topology_names_are_made_safe_file_names() {
        let dir = Path::new("/state");
        let (_, lock, owner) = lock_paths(dir, "../team a/prod");
        assert_eq!(lock, Path::new("/state/locks/_.._team_a_prod.lock"));
        assert_eq!(owner, Path::new("/state/locks/_.._team_a_prod.owner.json"));
    }
}
