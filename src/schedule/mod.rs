//! Drill windows, freezes and cadence: when a scheduled drill may run.
//!
//! Everything here is a pure function of a [`Schedule`] and an instant given as a value:
//! nothing reads the clock, so tests pass any "now" and production passes
//! `Timestamp::now()` once, at the top of a command. No environment variable changes the
//! time.
//!
//! Time zones come from the IANA database bundled into the binary ([`zone`]): a minimal
//! container without `/usr/share/zoneinfo` gives the same answers as a workstation, and
//! `TZDIR` is never read.
//!
//! A window is a set of weekdays and a span of local wall-clock time (`10:00-16:00`) in one
//! time zone. Each day it is open from the first instant whose local time is the start to the
//! first instant whose local time is the end: across a DST change the span keeps its wall-clock
//! bounds (a 10:00-16:00 window is open 10:00-16:00 local on the day clocks change); a bound
//! that falls in a gap (a time skipped by a spring-forward) moves forward by the gap's length
//! (02:30 becomes 03:30, as RFC 5545 and Temporal do), and a bound that occurs twice
//! (fall-back) is its first occurrence. A freeze is closed from its
//! start to its end (dates are whole days: `to` included) whatever the windows say.

mod history;
mod overview;
mod render;

use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use crate::model::{Freeze, Schedule, Window, Zone};

pub use crate::model::{parse_hours, weekday, zone};
pub use history::{LastDrill, last_completed_drills};
pub use overview::{LastDrillJson, RegionSchedule, overview, render_text};
pub use render::{describe_due, describe_instant};

/// Whether the schedule allows a drill at an instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Allowed; `window` is the window open (`None` when the schedule declares none), and
    /// `until` the first instant it is not (`None`: never again).
    Open {
        /// Index into [`Schedule::windows`].
        window: Option<usize>,
        /// When the opening ends.
        until: Option<Timestamp>,
    },
    /// Not allowed.
    Closed {
        /// Why.
        why: Closed,
        /// The next instant it is allowed (`None` when none is found within a year).
        next: Option<Timestamp>,
    },
}

/// Why the schedule does not allow a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Inside freeze `index` of [`Schedule::freezes`].
    Frozen(usize),
    /// Outside every window.
    OutsideWindows,
}

/// Whether a scheduled drill (`--if-due`) should run now.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// Run it: the schedule is open and the region's last completed drill is old enough.
    Now {
        /// Index of the open window, if the schedule declares windows.
        window: Option<usize>,
        /// When the opening ends (`None`: never).
        until: Option<Timestamp>,
    },
    /// Not now.
    NotDue {
        /// The first reason found (freeze, then window, then interval).
        why: NotDue,
        /// The first instant it would be due (`None` when none is found within a year).
        next: Option<Timestamp>,
    },
}

/// Why a scheduled drill is not due.
#[derive(Debug, Clone, PartialEq)]
pub enum NotDue {
    /// The schedule is closed.
    Closed(Closed),
    /// The region's last completed drill is younger than `min_interval`.
    TooRecent {
        /// When that drill completed.
        last: Timestamp,
        /// When `min_interval` has passed since.
        eligible: Timestamp,
    },
}

/// How long a drill's hold may last before the window closes (see [`Schedule::hold_cut`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HoldCut {
    /// When the opening ends.
    pub closes: Timestamp,
    /// The hold that fits before it (zero when it has already closed).
    pub allowed: Duration,
    /// The window that closes (`None`: a freeze begins, or it was already closed).
    pub window: Option<usize>,
}

/// Bounds the search for openings: a schedule that is closed for over a year is reported as
/// having no next opening.
const HORIZON_DAYS: i64 = 400;

/// The last instant a search from `t` looks at.
fn horizon(t: Timestamp) -> Option<Timestamp> {
    t.checked_add(SignedDuration::from_hours(HORIZON_DAYS * 24))
        .ok()
}

impl Schedule {
    /// Whether the schedule allows a drill at `t`, and until or from when.
    pub fn verdict(&self, t: Timestamp) -> Verdict {
        if let Some((index, _)) = self.freeze_at(t) {
            return Verdict::Closed {
                why: Closed::Frozen(index),
                next: self.next_opening(t),
            };
        }
        if self.windows.is_empty() {
            return Verdict::Open {
                window: None,
                until: self.closing_after(t),
            };
        }
        match self.window_at(t) {
            Some((index, _)) => Verdict::Open {
                window: Some(index),
                until: self.closing_after(t),
            },
            None => Verdict::Closed {
                why: Closed::OutsideWindows,
                next: self.next_opening(t),
            },
        }
    }

    /// Whether the schedule allows a drill at `t`.
    pub fn is_open(&self, t: Timestamp) -> bool {
        matches!(self.verdict(t), Verdict::Open { .. })
    }

    /// The first instant at or after `t` when the schedule allows a drill.
    pub fn next_opening(&self, t: Timestamp) -> Option<Timestamp> {
        let horizon = horizon(t)?;
        let mut c = t;
        while c <= horizon {
            if let Some((_, end)) = self.freeze_at(c) {
                c = end;
                continue;
            }
            if self.windows.is_empty() || self.window_at(c).is_some() {
                return Some(c);
            }
            c = self.next_window_start(c)?;
        }
        None
    }

    /// The first instant at or after `t` when the schedule no longer allows a drill, if `t`
    /// is allowed and it ever closes; `t` itself when `t` is not allowed.
    pub fn closing_after(&self, t: Timestamp) -> Option<Timestamp> {
        let horizon = horizon(t)?;
        let mut c = t;
        while c <= horizon {
            if self.freeze_at(c).is_some() {
                return Some(c);
            }
            let freeze = self.next_freeze_start(c);
            if self.windows.is_empty() {
                return freeze;
            }
            let Some((_, end)) = self.window_at(c) else {
                return Some(c);
            };
            if let Some(f) = freeze
                && f < end
            {
                return Some(f);
            }
            // Another window may open exactly where this one ends: keep walking.
            c = end;
        }
        None
    }

    /// Whether a scheduled drill is due at `now`, given when the region's last drill
    /// completed.
    pub fn due(&self, now: Timestamp, last_completed: Option<Timestamp>) -> Due {
        let eligible = match (self.min_interval, last_completed) {
            (Some(interval), Some(last)) => Some((last, add(last, interval))),
            _ => None,
        };
        let verdict = self.verdict(now);
        let too_recent = eligible.filter(|(_, e)| *e > now);
        match (verdict, too_recent) {
            (Verdict::Open { window, until }, None) => Due::Now { window, until },
            (Verdict::Closed { why, next }, None) => Due::NotDue {
                why: NotDue::Closed(why),
                next,
            },
            (verdict, Some((last, eligible))) => {
                let next = self.next_opening(eligible);
                let why = match verdict {
                    Verdict::Closed { why, .. } => NotDue::Closed(why),
                    Verdict::Open { .. } => NotDue::TooRecent { last, eligible },
                };
                Due::NotDue { why, next }
            }
        }
    }

    /// For a drill about to hold from `now` for `hold`: `Some` when the opening it runs in
    /// ends first, with the hold that fits (a drill is never abandoned half-moved: only its
    /// hold is shortened, so that the restore starts).
    pub fn hold_cut(&self, now: Timestamp, hold: Duration) -> Option<HoldCut> {
        let closes = match self.verdict(now) {
            Verdict::Open { until, .. } => until?,
            Verdict::Closed { .. } => now,
        };
        let allowed = closes
            .duration_since(now)
            .try_into()
            .unwrap_or(Duration::ZERO);
        if allowed >= hold {
            return None;
        }
        // The window that ends at `closes`, if a window (not a freeze) closes it.
        let window = self.windows.iter().enumerate().find_map(|(i, w)| {
            w.intervals_around(now)
                .any(|(open, close)| open <= now && close == closes)
                .then_some(i)
        });
        Some(HoldCut {
            closes,
            allowed,
            window,
        })
    }

    /// A window open at `t`: its index and when that opening ends.
    fn window_at(&self, t: Timestamp) -> Option<(usize, Timestamp)> {
        self.windows
            .iter()
            .enumerate()
            .flat_map(|(i, w)| {
                w.intervals_around(t)
                    .filter(move |(open, close)| *open <= t && t < *close)
                    .map(move |(_, close)| (i, close))
            })
            .max_by_key(|(_, close)| *close)
    }

    /// The first window opening strictly after `t`.
    fn next_window_start(&self, t: Timestamp) -> Option<Timestamp> {
        self.windows
            .iter()
            .flat_map(|w| w.intervals_around(t))
            .map(|(open, _)| open)
            .filter(|open| *open > t)
            .min()
    }

    /// A freeze in force at `t`: its index and end (the latest end among those in force).
    fn freeze_at(&self, t: Timestamp) -> Option<(usize, Timestamp)> {
        self.freezes
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let (from, to) = f.interval();
                (from <= t && t < to).then_some((i, to))
            })
            .max_by_key(|(_, to)| *to)
    }

    /// The first freeze start strictly after `t`.
    fn next_freeze_start(&self, t: Timestamp) -> Option<Timestamp> {
        self.freezes
            .iter()
            .map(|f| f.interval().0)
            .filter(|from| *from > t)
            .min()
    }

    /// The zone to show instants in: the windows' zone when they share one, else UTC.
    pub fn display_zone(&self) -> Zone {
        match self.windows.first() {
            Some(first) if self.windows.iter().all(|w| w.timezone == first.timezone) => {
                first.timezone.clone()
            }
            _ => Zone::utc(),
        }
    }
}

impl Window {
    /// The openings of this window on the local dates around `t`: from the day before
    /// `t`'s local date to a week after it (every opening that contains `t`, and the next
    /// one after it).
    fn intervals_around(&self, t: Timestamp) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        let today = t.to_zoned(self.timezone.time_zone().clone()).date();
        (-1..=8i64).filter_map(move |offset| {
            let day = today
                .checked_add(SignedDuration::from_hours(offset * 24))
                .ok()?;
            if !self.days.contains(&day.weekday()) {
                return None;
            }
            let open = local(self.timezone.time_zone(), day, self.start)?;
            let close = local(self.timezone.time_zone(), day, self.end)?;
            Some((open, close))
        })
    }
}

impl Freeze {
    /// `[from, to)` as instants.
    fn interval(&self) -> (Timestamp, Timestamp) {
        let resolve = |dt: DateTime| {
            self.timezone
                .time_zone()
                .to_ambiguous_timestamp(dt)
                .compatible()
                .unwrap_or(Timestamp::MAX)
        };
        (resolve(self.from), resolve(self.to))
    }
}

/// The instant of local time `minutes` after midnight on `day` (1440: the next midnight): a
/// time skipped by a DST gap moves forward by the gap, a repeated time is its first occurrence.
fn local(tz: &TimeZone, day: Date, minutes: u16) -> Option<Timestamp> {
    let (day, minutes) = if minutes >= 1440 {
        (day.tomorrow().ok()?, 0)
    } else {
        (day, minutes)
    };
    let hour = i8::try_from(minutes / 60).ok()?;
    let minute = i8::try_from(minutes % 60).ok()?;
    let dt = day.at(hour, minute, 0, 0);
    tz.to_ambiguous_timestamp(dt).compatible().ok()
}

/// `t + d`, saturating at the largest instant.
fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests;
