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
use crate::plan::Weights;

use super::{Executor, ProgressEvent};

/// Calls `f` until it succeeds, fails permanently, or `retry_attempts` calls were made.
/// The error says how many attempts were made.
async fn retrying<T, F, Fut>(
    ex: &Executor<'_>,
    operation: &str,
    calls: &AtomicU32,
    f: F,
) -> Result<T, String>
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
    calls.fetch_add(attempts, Ordering::Relaxed);
    result.map_err(|error| match attempts {
        1 => error.to_string(),
        n => format!("{error} (gave up after {n} attempts)"),
    })
}

/// Reads the live weights of `dials`, retried.
pub(crate) async fn read(
    ex: &Executor<'_>,
    dials: &[String],
    calls: &AtomicU32,
) -> Result<Weights, String> {
    if dials.is_empty() {
        return Ok(Weights::new());
    }
    retrying(ex, "read weights", calls, || ex.backend.read(dials)).await
}

/// Applies every batch concurrently (each retried), then waits for each to propagate
/// (each retried). Every batch is attempted even when another fails; the error names each
/// batch that failed.
pub(crate) async fn apply_all(
    ex: &Executor<'_>,
    batches: &[Batch],
    calls: &AtomicU32,
) -> Result<(), String> {
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
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Describes Auto Scaling groups, retried.
pub(crate) async fn describe_groups(
    ex: &Executor<'_>,
    scaling: &dyn ScalingBackend,
    groups: &[GroupRef],
) -> Result<BTreeMap<GroupRef, GroupState>, String> {
    if groups.is_empty() {
        return Ok(BTreeMap::new());
    }
    let calls = AtomicU32::new(0);
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
) -> Result<(), String> {
    let calls = AtomicU32::new(0);
    let operation = format!("set desired capacity of {group}");
    retrying(ex, &operation, &calls, || {
        scaling.set_desired(group, desired)
    })
    .await
}
