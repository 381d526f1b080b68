//! Waits that an abort can cut short: Ctrl-C (the interrupt counter increased) or the
//! playbook's deadline. Tokio's clock, so paused tests take no time.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Interrupts and the deadline of one executor call.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    interrupts: watch::Receiver<u32>,
    /// Ctrl-C presses seen when the call began: only later ones abort.
    seen: u32,
    /// When the deadline passes, and its length for messages.
    deadline: Option<(Instant, Duration)>,
    /// Divides waits (at least 1).
    scale: f64,
}

impl Clock {
    /// Starts now.
    pub fn new(interrupts: watch::Receiver<u32>, deadline: Option<Duration>, scale: f64) -> Clock {
        let seen = *interrupts.borrow();
        Clock {
            interrupts,
            seen,
            deadline: deadline.map(|d| (Instant::now() + d, d)),
            scale: if scale.is_finite() && scale > 1.0 {
                scale
            } else {
                1.0
            },
        }
    }

    /// A playbook wait divided by the time scale.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.scale)
    }

    /// Ctrl-C presses since the call began.
    pub fn presses(&self) -> u32 {
        self.interrupts.borrow().saturating_sub(self.seen)
    }

    /// Why the run must stop now, if it must.
    pub fn check(&self) -> Result<(), String> {
        if self.presses() > 0 {
            return Err("interrupted (Ctrl-C)".to_string());
        }
        if let Some((at, len)) = self.deadline
            && Instant::now() >= at
        {
            return Err(format!(
                "deadline of {} passed",
                crate::model::format_duration(len)
            ));
        }
        Ok(())
    }

    /// Resolves when the run must stop (Ctrl-C or the deadline), with the reason; never
    /// otherwise.
    pub async fn stopped(&self) -> String {
        let mut rx = self.interrupts.clone();
        let seen = self.seen;
        let interrupted = async move {
            loop {
                if *rx.borrow_and_update() > seen {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The CLI dropped its sender: no more Ctrl-C can come.
                    std::future::pending::<()>().await;
                }
            }
        };
        let deadline = async {
            match self.deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = interrupted => "interrupted (Ctrl-C)".to_string(),
            () = deadline => self
                .check()
                .err()
                .unwrap_or_else(|| "deadline passed".to_string()),
        }
    }

    /// Sleeps `d` (already scaled), unless Ctrl-C or the deadline comes first.
    pub async fn sleep(&self, d: Duration) -> Result<(), String> {
        self.check()?;
        tokio::select! {
            biased;
            reason = self.stopped() => Err(reason),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// Resolves when Ctrl-C is pressed again (for progress during a rollback); never when
    /// the sender is gone.
    pub async fn next_press(rx: &mut watch::Receiver<u32>) {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// A receiver for [`Clock::next_press`], marked as having seen the current value.
    pub fn subscribe(&self) -> watch::Receiver<u32> {
        let mut rx = self.interrupts.clone();
        rx.mark_unchanged();
        rx
    }
}
