//! A client-side request-rate ceiling (Route 53 allows 5 requests per second per account).
//!
//! Requests are spaced evenly, `1 / rate` apart, on tokio's clock: no burst, so that several
//! kong processes or other tools sharing the account keep some headroom, and paused tests
//! take no time.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces calls at most `rate` per second.
#[derive(Debug)]
pub struct RateLimiter {
    spacing: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `rate` calls per second; a rate of 0 or less, or not finite,
    /// does not limit.
    pub fn new(rate: f64) -> RateLimiter {
        let spacing = if rate.is_finite() && rate > 0.0 {
            Duration::from_secs_f64(1.0 / rate)
        } else {
            Duration::ZERO
        };
        RateLimiter {
            spacing,
            next: Mutex::new(None),
        }
    }

    /// Waits for the next free slot and takes it.
    pub async fn acquire(&self) {
        if self.spacing.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = match *next {
                Some(n) if n > now => n,
                _ => now,
            };
            *next = Some(slot + self.spacing);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long `calls` calls in a row take at `rate` per second.
    async fn time_of(rate: f64, calls: usize) -> Duration {
        let limiter = RateLimiter::new(rate);
        let start = Instant::now();
        for _ in 0..calls {
            limiter.acquire().await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn spaces_calls_at_the_rate() {
        // The first call goes at once, the next ten 200 ms apart.
        assert_eq!(time_of(5.0, 11).await, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_the_rate() {
        let limiter = std::sync::Arc::new(RateLimiter::new(10.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move { l.acquire().await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_does_not_limit() {
        assert_eq!(time_of(0.0, 100).await, Duration::ZERO);
    }
}
