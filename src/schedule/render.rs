//! Schedule values for people: windows, freezes, instants and the `not due` line.

use std::fmt;

use jiff::Timestamp;

use super::{Closed, Due, Freeze, NotDue, Schedule, Window, Zone};
use crate::model::{day_name, fmt_minutes};

/// `Tue 2026-12-01 10:00 PST` in `zone`.
pub fn describe_instant(t: Timestamp, zone: &Zone) -> String {
    t.to_zoned(zone.time_zone().clone())
        .strftime("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<&str> = self.days.iter().map(|d| day_name(*d)).collect();
        write!(
            f,
            "{} {}-{} {}",
            days.join(","),
            fmt_minutes(self.start),
            fmt_minutes(self.end),
            self.timezone.name
        )
    }
}

impl fmt::Display for Freeze {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "freeze `{}` ({} to {} {})",
            self.reason, self.from_text, self.to_text, self.timezone.name
        )
    }
}

impl Schedule {
    /// Why the schedule is closed, in words: `outside every drill window (mon,tue 10:00-16:00
    /// UTC)` or `in freeze `holiday` (2026-12-18 to 2027-01-04 UTC)`.
    pub fn describe_closed(&self, why: Closed) -> String {
        match why {
            Closed::Frozen(i) => match self.freezes.get(i) {
                Some(freeze) => format!("in {freeze}"),
                None => "in a freeze".to_string(),
            },
            Closed::OutsideWindows => {
                let windows: Vec<String> = self.windows.iter().map(ToString::to_string).collect();
                format!("outside every drill window ({})", windows.join("; "))
            }
        }
    }

    /// `next opening Tue 2026-12-01 10:00 PST (2026-12-01T18:00:00Z)`, or that none was found.
    pub fn describe_next(&self, next: Option<Timestamp>) -> String {
        match next {
            Some(t) => format!(
                "next opening {} ({t})",
                describe_instant(t, &self.display_zone())
            ),
            None => "no opening within the next year".to_string(),
        }
    }
}

/// The `not due: ...; next opening ...` line for a verdict that is not due, else `None`.
pub fn describe_due(schedule: &Schedule, due: &Due) -> Option<String> {
    let Due::NotDue { why, next } = due else {
        return None;
    };
    let zone = schedule.display_zone();
    let why = match why {
        NotDue::Closed(closed) => schedule.describe_closed(*closed),
        NotDue::TooRecent { last, eligible } => format!(
            "the last completed drill ended {} and min_interval runs until {}",
            describe_instant(*last, &zone),
            describe_instant(*eligible, &zone)
        ),
    };
    Some(format!("not due: {why}; {}", schedule.describe_next(*next)))
}
