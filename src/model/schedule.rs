//! The playbook's `schedule:` as validated values: windows, freezes, `min_interval`, and the
//! time zones they are written in (from the IANA database bundled into kong, never the
//! system's). What the schedule allows when is decided in `crate::schedule`.

use std::time::Duration;

use jiff::civil::{DateTime, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use serde::Serialize;

use super::decode::Ctx;
use super::duration::parse_duration_with_days;
use super::node::{Node, Pos, Value, shorten};

/// The playbook's `schedule:`: when a drill may run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    /// Times a drill may run; none declared means any time outside a freeze.
    pub windows: Vec<Window>,
    /// Times no drill may run, whatever the windows say.
    pub freezes: Vec<Freeze>,
    /// Least time between two completed drills of one region (`--if-due`); none: no limit.
    #[serde(with = "opt_secs")]
    pub min_interval: Option<Duration>,
}

/// An IANA time zone by name, resolved in the bundled database.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Zone {
    /// The name as written (`America/Los_Angeles`).
    pub name: String,
    #[serde(skip)]
    tz: TimeZone,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_string(),
            tz: TimeZone::UTC,
        }
    }

    /// The time zone itself.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}

/// Looks `name` up in the time zone database bundled into kong (never the system's).
pub fn zone(name: &str) -> Option<Zone> {
    static DB: std::sync::LazyLock<TimeZoneDatabase> =
        std::sync::LazyLock::new(TimeZoneDatabase::bundled);
    DB.get(name).ok().map(|tz| Zone {
        name: name.to_string(),
        tz,
    })
}

/// A recurring window: weekdays and a span of local time in one zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// The days it opens (by the local date of its start).
    #[serde(serialize_with = "day_names")]
    pub days: Vec<Weekday>,
    /// Local start, minutes after midnight (`0..1440`).
    pub start: u16,
    /// Local end, minutes after midnight (`start < end <= 1440`; 1440 is `24:00`).
    pub end: u16,
    /// The zone of `start` and `end`.
    pub timezone: Zone,
}

/// A period when no drill may run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freeze {
    /// Local start (inclusive).
    pub from: DateTime,
    /// Local end (exclusive: a `to` date is the midnight after it).
    pub to: DateTime,
    /// `from` as written, for messages.
    pub from_text: String,
    /// `to` as written, for messages.
    pub to_text: String,
    /// Why (`holiday freeze`).
    pub reason: String,
    /// The zone of `from` and `to`.
    pub timezone: Zone,
}

/// The weekday named `name` (`mon`, `Monday`, case-insensitive).
pub fn weekday(name: &str) -> Option<Weekday> {
    let lower = name.to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|(_, _, d)| *d)
}

/// Weekday names, Monday first.
pub const DAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Monday),
    ("tue", "tuesday", Weekday::Tuesday),
    ("wed", "wednesday", Weekday::Wednesday),
    ("thu", "thursday", Weekday::Thursday),
    ("fri", "friday", Weekday::Friday),
    ("sat", "saturday", Weekday::Saturday),
    ("sun", "sunday", Weekday::Sunday),
];

/// Parses `HH:MM-HH:MM` into minutes after midnight (`24:00` allowed as the end).
pub fn parse_hours(text: &str) -> Result<(u16, u16), String> {
    let expected =
        "expected local times like \"10:00-16:00\" (start before end, 24:00 allowed as the end)";
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("invalid hours `{text}`: {expected}"))?;
    let time = |s: &str, end: bool| -> Option<u16> {
        let (h, m) = s.trim().split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        let minutes = h * 60 + m;
        let ok = m < 60 && (h < 24 || (end && minutes == 1440));
        ok.then_some(minutes)
    };
    let (Some(start), Some(end)) = (time(a, false), time(b, true)) else {
        return Err(format!("invalid hours `{text}`: {expected}"));
    };
    if start >= end {
        return Err(format!(
            "hours `{text}` end before they start: a window may not cross midnight; split it in two (e.g. 22:00-24:00 on one day and 00:00-06:00 on the next)"
        ));
    }
    Ok((start, end))
}

/// `HH:MM`.
pub fn fmt_minutes(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The short name of `day` (`mon`).
pub fn day_name(day: Weekday) -> &'static str {
    DAYS.iter()
        .find(|(_, _, d)| *d == day)
        .map_or("?", |(short, _, _)| short)
}

fn day_names<S: serde::Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(days.iter().map(|d| day_name(*d)))
}

mod opt_secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

const SCHEDULE_KEYS: &[&str] = &["windows", "freezes", "min_interval"];
const WINDOW_KEYS: &[&str] = &["days", "hours", "timezone"];
const FREEZE_KEYS: &[&str] = &["from", "to", "reason", "timezone"];

/// Decodes `schedule: {windows, freezes, min_interval}`.
pub(crate) fn decode(ctx: &mut Ctx, key: Pos, node: &Node) -> Option<Schedule> {
    let fields = ctx.fields(node, key, "schedule", SCHEDULE_KEYS)?;
    let windows = match fields.get("windows") {
        Some(n) => ctx.list(n, "schedule.windows").and_then(|items| {
            let decoded: Vec<Option<Window>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| window(ctx, item, i))
                .collect();
            decoded.into_iter().collect::<Option<Vec<Window>>>()
        }),
        None => Some(Vec::new()),
    };
    // A freeze without a time zone is in the windows' zone when they share one, else UTC.
    let default_zone = match windows.as_deref() {
        Some([first, rest @ ..]) if rest.iter().all(|w| w.timezone == first.timezone) => {
            first.timezone.clone()
        }
        _ => Zone::utc(),
    };
    let freezes = match fields.get("freezes") {
        Some(n) => ctx.list(n, "schedule.freezes").and_then(|items| {
            let decoded: Vec<Option<Freeze>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| freeze(ctx, item, i, &default_zone))
                .collect();
            decoded.into_iter().collect::<Option<Vec<Freeze>>>()
        }),
        None => Some(Vec::new()),
    };
    let min_interval = match fields.get("min_interval") {
        Some(n) => match &n.value {
            Value::Scalar { text, .. } if !n.value.is_null() => {
                match parse_duration_with_days(text) {
                    Ok(d) if d.is_zero() => {
                        ctx.error(
                            n.pos,
                            "schedule.min_interval is 0s: expected a positive duration like 7d, or no `min_interval` key for none",
                        );
                        None
                    }
                    Ok(d) => Some(Some(d)),
                    Err(e) => {
                        ctx.error(n.pos, format!("schedule.min_interval: {e}"));
                        None
                    }
                }
            }
            other => {
                ctx.error(
                    n.pos,
                    format!(
                        "schedule.min_interval: expected a duration like 7d or 36h, found {}",
                        other.describe()
                    ),
                );
                None
            }
        },
        None => Some(None),
    };
    Some(Schedule {
        windows: windows?,
        freezes: freezes?,
        min_interval: min_interval?,
    })
}

fn window(ctx: &mut Ctx, node: &Node, index: usize) -> Option<Window> {
    let what = format!("schedule window #{}", index + 1);
    let fields = ctx.fields(node, node.pos, &what, WINDOW_KEYS)?;
    let days = fields.require(ctx, "days", &what).and_then(|n| {
        let items = ctx.list(n, &format!("days of {what}"))?;
        if items.is_empty() {
            ctx.error(
                n.pos,
                format!("days of {what} is empty: expected weekdays like [mon, tue, wed]"),
            );
            return None;
        }
        let mut days = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Some(text) = ctx.string(item, &format!("a day of {what}")) else {
                ok = false;
                continue;
            };
            match weekday(&text) {
                Some(d) if days.contains(&d) => {
                    ctx.error(item.pos, format!("day `{text}` is listed twice in {what}"));
                    ok = false;
                }
                Some(d) => days.push(d),
                None => {
                    let names: Vec<&str> = DAYS.iter().map(|(short, _, _)| *short).collect();
                    let candidates = DAYS.iter().flat_map(|(short, long, _)| [*short, *long]);
                    let hint = ctx.suggest(&text.to_ascii_lowercase(), candidates);
                    ctx.error(
                        item.pos,
                        format!(
                            "unknown day `{}` in {what}, expected one of: {}{hint}",
                            shorten(&text),
                            names.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
        }
        days.sort_by_key(|d| d.to_monday_zero_offset());
        ok.then_some(days)
    });
    let hours = fields.require(ctx, "hours", &what).and_then(|n| {
        let text = ctx.string(n, &format!("hours of {what}"))?;
        match parse_hours(&text) {
            Ok(h) => Some(h),
            Err(e) => {
                ctx.error(n.pos, format!("{e} ({what})"));
                None
            }
        }
    });
    let timezone = fields
        .require(ctx, "timezone", &what)
        .and_then(|n| time_zone(ctx, n, &what));
    let (start, end) = hours?;
    Some(Window {
        days: days?,
        start,
        end,
        timezone: timezone?,
    })
}

fn freeze(ctx: &mut Ctx, node: &Node, index: usize, default_zone: &Zone) -> Option<Freeze> {
    let fallback = format!("schedule freeze #{}", index + 1);
    let fields = ctx.fields(node, node.pos, &fallback, FREEZE_KEYS)?;
    let reason = fields
        .require(ctx, "reason", &fallback)
        .and_then(|n| ctx.non_empty(n, &format!("reason of {fallback}")));
    let what = match &reason {
        Some(r) => format!("freeze `{}`", shorten(r)),
        None => fallback,
    };
    let timezone = match fields.get("timezone") {
        Some(n) => time_zone(ctx, n, &what),
        None => Some(default_zone.clone()),
    };
    let bound = |ctx: &mut Ctx, key: &str, end: bool| -> Option<(DateTime, String, Pos)> {
        let n = fields.require(ctx, key, &what)?;
        let text = ctx.string(n, &format!("{key} of {what}"))?;
        let text = text.trim().to_string();
        // A date is a whole day: `from` its first instant, `to` up to the midnight after it.
        // (jiff reads a date out of a date-time too: tell them apart by length.)
        let parsed = if text.len() == 10 {
            match text.parse::<jiff::civil::Date>() {
                Ok(d) if end => d.tomorrow().ok().map(|d| d.at(0, 0, 0, 0)),
                Ok(d) => Some(d.at(0, 0, 0, 0)),
                Err(_) => None,
            }
        } else {
            text.parse::<DateTime>().ok()
        };
        match parsed {
            Some(dt) => Some((dt, text, n.pos)),
            None => {
                ctx.error(
                    n.pos,
                    format!(
                        "invalid {key} `{}` of {what}: expected a date like 2026-12-18 or a local time like 2026-12-18T17:00",
                        shorten(&text)
                    ),
                );
                None
            }
        }
    };
    let from = bound(ctx, "from", false);
    let to = bound(ctx, "to", true);
    let ((from, from_text, from_pos), (to, to_text, _)) = (from?, to?);
    if from >= to {
        ctx.error(
            from_pos,
            format!("{what} goes from {from_text} to {to_text}: `from` must come before `to`"),
        );
        return None;
    }
    Some(Freeze {
        from,
        to,
        from_text,
        to_text,
        reason: reason?,
        timezone: timezone?,
    })
}

fn time_zone(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Zone> {
    let name = ctx.non_empty(node, &format!("timezone of {what}"))?;
    match zone(&name) {
        Some(z) => Some(z),
        None => {
            ctx.error(
                node.pos,
                format!(
                    "unknown time zone `{}` in {what}: expected an IANA name like America/Los_Angeles, Europe/Paris or UTC",
                    shorten(&name)
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::civil::Weekday;

    use crate::model::parse_playbook;

    const BASE: &str = "name: p\nsteps: [50, 100]\n";

    fn read(extra: &str) -> Result<Option<super::Schedule>, Vec<String>> {
        parse_playbook("p.yaml", &format!("{BASE}{extra}"), None)
            .map(|p| p.schedule)
            .map_err(|d| d.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn the_issue_example_decodes() {
        let s = read(
            "schedule:
  windows:
    - {days: [mon, tue, wed, thu], hours: \"10:00-16:00\", timezone: America/Los_Angeles}
  freezes:
    - {from: 2026-12-18, to: 2027-01-04, reason: holiday freeze}
  min_interval: 7d
",
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.windows.len(), 1);
        let w = &s.windows[0];
        assert_eq!(
            w.days,
            [
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday
            ]
        );
        assert_eq!((w.start, w.end), (600, 960));
        assert_eq!(w.timezone.name, "America/Los_Angeles");
        let f = &s.freezes[0];
        assert_eq!(f.reason, "holiday freeze");
        // Dates are whole days: the freeze ends at the midnight after `to`.
        assert_eq!(f.to.to_string(), "2027-01-05T00:00:00");
        // A freeze without a zone takes the windows' one.
        assert_eq!(f.timezone.name, "America/Los_Angeles");
        assert_eq!(s.min_interval, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(read("").unwrap(), None);
    }

    #[test]
    fn bad_schedules_are_reported_at_their_line_and_column() {
        let errors = read(
            "schedule:
  windows:
    - {days: [mon, tuseday], hours: \"16:00-10:00\", timezone: Mars/Base}
    - {days: [fri], hours: \"9-17\", timezone: UTC, zone: UTC}
  freezes:
    - {from: 2027-01-04, to: 2026-12-18, reason: backwards}
    - {from: 2026-13-01, to: 2026-12-18, reason: bad month}
    - {from: \"2027-02-01T17:00\", to: \"2027-02-02T09:00\", reason: launch, timezone: UTC}
  min_interval: 7 days
",
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "p.yaml:5:20: unknown day `tuseday` in schedule window #1, expected one of: mon, tue, wed, thu, fri, sat, sun (did you mean `tuesday`?)",
                "p.yaml:5:37: hours `16:00-10:00` end before they start: a window may not cross midnight; split it in two (e.g. 22:00-24:00 on one day and 00:00-06:00 on the next) (schedule window #1)",
                "p.yaml:5:62: unknown time zone `Mars/Base` in schedule window #1: expected an IANA name like America/Los_Angeles, Europe/Paris or UTC",
                "p.yaml:6:28: invalid hours `9-17`: expected local times like \"10:00-16:00\" (start before end, 24:00 allowed as the end) (schedule window #2)",
                "p.yaml:6:51: unknown key `zone` in schedule window #2, expected one of: days, hours, timezone",
                "p.yaml:8:14: freeze `backwards` goes from 2027-01-04 to 2026-12-18: `from` must come before `to`",
                "p.yaml:9:14: invalid from `2026-13-01` of freeze `bad month`: expected a date like 2026-12-18 or a local time like 2026-12-18T17:00",
                "p.yaml:11:17: schedule.min_interval: invalid duration `7 days`: expected a duration like 7d, 36h or 1d12h",
            ]
        );
    }

    #[test]
    fn unknown_schedule_keys_are_errors() {
        let errors = read("schedule: {windows: [], freezes: [], min_intervall: 7d}\n").unwrap_err();
        assert_eq!(
            errors,
            [
                "p.yaml:3:38: unknown key `min_intervall` in schedule, expected one of: windows, freezes, min_interval (did you mean `min_interval`?)"
            ]
        );
    }
}
