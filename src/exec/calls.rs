//! Provider calls with the executor's retry policy, counted for the journal.
//!
//! Transient errors ([`BackendError::is_transient`]) are retried by the one retry helper,
//! [`crate::retry::RetryPolicy`] built from `ExecOptions::retry_*`; permanent errors are
//! returned at once. Every attempt counts as one API call.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::future::join_all;

use std::collections::BTreeMap;

use crate::backend::scaling::{GroupRef, GroupState, ScalingBackend};
use crate::backend::{BackendError, Batch, Receipt};
use crate::model::{Abort, AbortKind};
use crate::plan::Weights;

use super::{Executor, ProgressEvent};

/// Provider calls made by one step (or rollback batch), for the journal.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    made: AtomicU32,
    retried: AtomicU32,
}

impl Calls {
    /// Every attempt, retries included.
    pub fn made(&self) -> u32 {
        self.made.load(Ordering::Relaxed)
    }

    /// The attempts that repeated a failed call.
    pub fn retried(&self) -> u32 {
        self.retried.load(Ordering::Relaxed)
    }
}

/// Calls `f` until it succeeds, fails permanently, or `retry_attempts` calls were made.
/// The error says how many attempts were made; its kind is `retries_exhausted` when the
/// last error was transient (the policy gave up), `provider` when it was permanent.
async fn retrying<T, F, Fut>(
    ex: &Executor<'_>,
    operation: &str,
    calls: &Calls,
    f: F,
) -> Result<T, Abort>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    let (result, attempts) = ex
        .options
        .retry_policy()
        .run(f, |error, delay| {
            tracing::warn!(%error, ?delay, operation, "retrying");
            ex.progress.event(&ProgressEvent::Retrying {
                operation: operation.to_string(),
                error: error.to_string(),
                delay,
            });
        })
        .await;
    calls.made.fetch_add(attempts, Ordering::Relaxed);
    calls
        .retried
        .fetch_add(attempts.saturating_sub(1), Ordering::Relaxed);
    result.map_err(|error| {
        let kind = if error.is_transient() {
            AbortKind::RetriesExhausted
        } else {
            AbortKind::Provider
        };
        let message = match attempts {
            1 => error.to_string(),
            n => format!("{error} (gave up after {n} attempts)"),
        };
        Abort::new(kind, message)
    })
}

/// Reads the live weights of `dials`, retried.
pub(crate) async fn read(
    ex: &Executor<'_>,
    dials: &[String],
    calls: &Calls,
) -> Result<Weights, Abort> {
    if dials.is_empty() {
        return Ok(Weights::new());
    }
    retrying(ex, "read weights", calls, || ex.backend.read(dials)).await
}

/// Applies every batch concurrently (each retried), then waits for each to propagate
/// (each retried). Every batch is attempted even when another fails; the error names each
/// batch that failed (the kind is the first failure's).
pub(crate) async fn apply_all(
    ex: &Executor<'_>,
    batches: &[Batch],
    calls: &Calls,
) -> Result<(), Abort> {
    let applied = join_all(batches.iter().map(|batch| async move {
        let operation = format!("apply {}", batch.key);
        retrying(ex, &operation, calls, || ex.backend.apply(batch)).await
    }))
    .await;
    let mut errors = Vec::new();
    let mut receipts: Vec<Receipt> = Vec::new();
    for result in applied {
        match result {
            Ok(receipt) => receipts.push(receipt),
            Err(e) => errors.push(e),
        }
    }
    let waited = join_all(receipts.iter().map(|receipt| async move {
        let operation = format!("wait for {}", receipt.key);
        retrying(ex, &operation, calls, || {
            ex.backend.wait_propagated(receipt)
        })
        .await
    }))
    .await;
    errors.extend(waited.into_iter().filter_map(Result::err));
    match errors.first() {
        None => Ok(()),
        Some(first) => {
            let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
            Err(Abort::new(first.kind, messages.join("; ")))
        }
    }
}

/// Describes Auto Scaling groups, retried.
pub(crate) async fn describe_groups(
    ex: &Executor<'_>,
    scaling: &dyn ScalingBackend,
    groups: &[GroupRef],
) -> Result<BTreeMap<GroupRef, GroupState>, Abort> {
    if groups.is_empty() {
        return Ok(BTreeMap::new());
    }
    let calls = Calls::default();
    retrying(ex, "describe Auto Scaling groups", &calls, || {
        scaling.describe(groups)
    })
    .await
}

/// Sets a group's desired capacity, retried.
pub(crate) async fn set_desired(
    ex: &Executor<'_>,
    scaling: &dyn ScalingBackend,
    group: &GroupRef,
    desired: u32,
) -> Result<(), Abort> {
    let calls = Calls::default();
    let operation = format!("set desired capacity of {group}");
    retrying(ex, &operation, &calls, || {
        scaling.set_desired(group, desired)
    })
    .await
}
