//! The one retry helper: provider calls retried on transient errors with exponential back-off
//! and jitter, on tokio's clock (paused tests take no time).
//!
//! Owned below the executor so that every layer that calls a provider uses it: the
//! executor's calls, the reads of every dial (`backend::read_all`), the Auto Scaling reads
//! and the live load (`load_query`) before planning, and the shared state. A permanent error
//! is returned at once.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::backend::BackendError;

/// An error that says whether another try may succeed.
pub trait Transient {
    /// Throttled, unreachable, timed out, 5xx: worth another try.
    fn is_transient(&self) -> bool;
}

impl Transient for BackendError {
    fn is_transient(&self) -> bool {
        BackendError::is_transient(self)
    }
}

/// How often and how long to retry one provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first one included (at least 1).
    pub attempts: usize,
    /// First back-off delay between attempts.
    pub min_delay: Duration,
    /// Largest back-off delay between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 calls, 200 ms to 5 s apart: the executor's default.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The back-off between attempts: exponential from `min_delay` to `max_delay`,
    /// `attempts` calls in all, with jitter.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter()
            // Without backon's `std` feature its jitter seed is a constant: seed it per call
            // so concurrent kong processes do not retry in lockstep.
            .with_jitter_seed(rand::random())
    }

    /// Calls `f` until it succeeds, fails permanently, or `attempts` calls were made.
    /// `notify` hears each transient error and the delay before the next attempt. Returns
    /// the result and the number of calls made.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut f: F,
        notify: impl Fn(&E, Duration),
    ) -> (Result<T, E>, u32)
    where
        E: Transient,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempts = 0u32;
        let result = (|| {
            attempts += 1;
            f()
        })
        .retry(self.backoff())
        .sleep(tokio::time::sleep)
        .when(|e: &E| e.is_transient())
        .notify(|error, delay| notify(error, delay))
        .await;
        (result, attempts)
    }

    /// [`RetryPolicy::run`], logging each retry as a warning about `operation`.
    pub async fn call<T, E, F, Fut>(&self, operation: &str, f: F) -> Result<T, E>
    where
        E: Transient + std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(f, |error, delay| {
            tracing::warn!(%error, ?delay, operation, "retrying");
        })
        .await
        .0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn error(transient: bool) -> BackendError {
        if transient {
            BackendError::transient("read", "dial", "throttled")
        } else {
            BackendError::permanent("read", "dial", "no such zone")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let (result, attempts) = RetryPolicy::default()
            .run(
                || async {
                    if calls.fetch_add(1, Ordering::Relaxed) < 2 {
                        Err(error(true))
                    } else {
                        Ok(7)
                    }
                },
                |_, _| {},
            )
            .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(attempts, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_is_returned_at_once() {
        let (result, attempts) = RetryPolicy::default()
            .run(|| async { Err::<(), _>(error(false)) }, |_, _| {})
            .await;
        assert!(!result.unwrap_err().is_transient());
        assert_eq!(attempts, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_stop_after_the_attempts() {
        let policy = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        };
        let (result, attempts) = policy
            .run(|| async { Err::<(), _>(error(true)) }, |_, _| {})
            .await;
        assert!(result.unwrap_err().is_transient());
        assert_eq!(attempts, 3);
    }
}
