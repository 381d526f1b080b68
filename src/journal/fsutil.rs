//! Small durable-file helpers shared by the journal and the lock.
//!
//! A file is durable once its data is fsynced *and* the directory entry naming it is
//! fsynced: a new file in an un-synced directory can vanish in a crash.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::JournalError;

/// Maps an I/O error to [`JournalError::Io`] naming `path`.
pub(crate) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fsyncs a directory so the entries created or renamed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    // `Path::new("x").parent()` is `""`, which is the current directory.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

/// Creates `dir` and any missing ancestors, fsyncing the parent of each directory created.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        cursor = d.parent();
    }
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    // Deepest first: each new directory's entry lives in its parent.
    for d in &missing {
        sync_dir(d.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}
