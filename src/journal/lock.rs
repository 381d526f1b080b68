//! The run lock: one active run per topology and state dir.
//!
//! An OS file lock (`File::try_lock`) on `locks/<topology>.lock` is held for the life of
//! the run, so a process killed with SIGKILL releases it; beside it, `<topology>.owner.json`
//! names the holder (host, pid, run id, start time, lease expiry) for `kong status` and for
//! the refusal message, and is renewed while the run is alive.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::JournalError;

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

/// Why the lock was not acquired.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("the lock for topology `{topology}` is held by run {} on {} (pid {}) since {}", .owner.run_id, .owner.host, .owner.pid, .owner.started_at)]
    Held {
        /// The topology.
        topology: String,
        /// The holder.
        owner: LockOwner,
    },
    /// The state dir could not be used.
    #[error(transparent)]
    Io(#[from] JournalError),
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    // implementation detail
}

impl RunLock {
    /// Acquires the lock for `topology`, or says who holds it. Takes over a lock whose
    /// holder is dead (the OS lock is free) even if its lease has not expired.
    pub fn acquire(
        state_dir: &Path,
        topology: &str,
        owner: LockOwner,
    ) -> Result<RunLock, LockError> {
        let _ = (state_dir, topology, owner);
        todo!("lock")
    }

    /// Renews the lease (call periodically while the run is alive).
    pub fn renew(&mut self) -> Result<(), JournalError> {
        todo!("lock")
    }
}

/// The current holder, if the lock is held by a live process.
pub fn holder(state_dir: &Path, topology: &str) -> Result<Option<LockOwner>, JournalError> {
    let _ = (state_dir, topology);
    todo!("lock")
}
