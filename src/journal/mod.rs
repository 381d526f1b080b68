//! The run journal and the run lock, both local files in the state dir.
//!
//! Layout under the state dir (default `.kong/`):
//! - `runs/<run-id>/journal.jsonl`: one JSON [`Record`] per line. Every record that precedes
//!   an action (the run and its baseline, a step's intent, a rollback's intent) is fsynced
//!   before the action is taken; results of actions already done (`StepApplied`,
//!   `StepChecked`) are made durable by the next fsync. A torn last line (crash mid-write) is
//!   dropped on read.
//! - `locks/<topology>.lock`: the run lock (see [`lock`]).
//!
//! The journal never decides anything: the executor writes intents and results, and
//! recovery (resume, rollback) reads them back and reconciles against live weights.

mod fsutil;
pub mod lock;
mod records;
mod runlog;
mod store;
#[cfg(test)]
pub(crate) mod testing;

pub use records::*;
pub use runlog::*;
pub use store::*;
