use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn window(days: &[Weekday], hours: &str, tz: &str) -> Window {
    let (start, end) = parse_hours(hours).unwrap();
    Window {
        days: days.to_vec(),
        start,
        end,
        timezone: zone(tz).unwrap(),
    }
}

fn freeze(from: &str, to: &str, reason: &str, tz: &str) -> Freeze {
    let bound = |s: &str, end: bool| -> DateTime {
        match s.parse::<Date>() {
            Ok(d) if s.len() == 10 && end => d.tomorrow().unwrap().at(0, 0, 0, 0),
            Ok(d) if s.len() == 10 => d.at(0, 0, 0, 0),
            _ => s.parse().unwrap(),
        }
    };
    Freeze {
        from: bound(from, false),
        to: bound(to, true),
        from_text: from.to_string(),
        to_text: to.to_string(),
        reason: reason.to_string(),
        timezone: zone(tz).unwrap(),
    }
}

const LA: &str = "America/Los_Angeles";
const MON_THU: &[Weekday] = &[
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
];

/// The example: mon-thu 10:00-16:00 in Los Angeles, a holiday freeze, 7 days apart.
fn example() -> Schedule {
    Schedule {
        windows: vec![window(MON_THU, "10:00-16:00", LA)],
        freezes: vec![freeze("2026-12-18", "2027-01-04", "holiday freeze", LA)],
        min_interval: Some(Duration::from_secs(7 * 86_400)),
    }
}

#[test]
fn open_inside_a_window_until_its_local_end() {
    let s = example();
    // Monday 2026-11-30 10:30 PST.
    let v = s.verdict(ts("2026-11-30T18:30:00Z"));
    assert_eq!(
        v,
        Verdict::Open {
            window: Some(0),
            until: Some(ts("2026-12-01T00:00:00Z")),
        }
    );
    // 16:00 PST is the first instant outside.
    assert!(!s.is_open(ts("2026-12-01T00:00:00Z")));
    assert!(s.is_open(ts("2026-11-30T23:59:59Z")));
}

#[test]
fn closed_outside_every_window_names_the_next_opening() {
    let s = example();
    // Sunday 2026-11-29 12:00 PST: next is Monday 10:00 PST.
    let v = s.verdict(ts("2026-11-29T20:00:00Z"));
    assert_eq!(
        v,
        Verdict::Closed {
            why: Closed::OutsideWindows,
            next: Some(ts("2026-11-30T18:00:00Z")),
        }
    );
    // Thursday 17:00 PST: next is the following Monday.
    assert_eq!(
        s.next_opening(ts("2026-12-04T01:00:00Z")),
        Some(ts("2026-12-07T18:00:00Z"))
    );
    // Inside a window the next opening is now.
    let now = ts("2026-11-30T19:00:00Z");
    assert_eq!(s.next_opening(now), Some(now));
}

#[test]
fn a_freeze_closes_windows_and_includes_its_last_day() {
    let s = example();
    // Monday 2026-12-21 11:00 PST is inside the window and inside the freeze.
    let v = s.verdict(ts("2026-12-21T19:00:00Z"));
    // 2027-01-04 (a Monday) is still frozen: the next opening is Tuesday 2027-01-05.
    assert_eq!(
        v,
        Verdict::Closed {
            why: Closed::Frozen(0),
            next: Some(ts("2027-01-05T18:00:00Z")),
        }
    );
    assert!(!s.is_open(ts("2027-01-04T19:00:00Z")));
    // The window open on Thursday 2026-12-17 ends at 16:00, before the freeze.
    assert_eq!(
        s.closing_after(ts("2026-12-17T19:00:00Z")),
        Some(ts("2026-12-18T00:00:00Z"))
    );
}

#[test]
fn a_freeze_starting_inside_a_window_closes_it_early() {
    let mut s = example();
    s.freezes = vec![freeze(
        "2026-11-30T12:00",
        "2026-11-30T13:00",
        "lunch release",
        LA,
    )];
    let v = s.verdict(ts("2026-11-30T18:30:00Z"));
    assert_eq!(
        v,
        Verdict::Open {
            window: Some(0),
            until: Some(ts("2026-11-30T20:00:00Z")),
        }
    );
    // After the freeze ends the window is open again.
    assert_eq!(
        s.next_opening(ts("2026-11-30T20:30:00Z")),
        Some(ts("2026-11-30T21:00:00Z"))
    );
}

#[test]
fn a_window_keeps_its_local_hours_across_a_dst_change() {
    let s = Schedule {
        windows: vec![window(&[Weekday::Monday], "10:00-16:00", LA)],
        freezes: vec![],
        min_interval: None,
    };
    // Saturday 2026-03-07 (PST, UTC-8); clocks spring forward on Sunday 2026-03-08.
    // Monday 10:00 is now PDT (UTC-7): 17:00Z, not 18:00Z.
    assert_eq!(
        s.next_opening(ts("2026-03-07T20:00:00Z")),
        Some(ts("2026-03-09T17:00:00Z"))
    );
    assert_eq!(
        s.closing_after(ts("2026-03-09T17:00:00Z")),
        Some(ts("2026-03-09T23:00:00Z"))
    );
    // And back on Monday 2026-11-02, after the fall-back on Sunday: 18:00Z again.
    assert_eq!(
        s.next_opening(ts("2026-10-31T12:00:00Z")),
        Some(ts("2026-11-02T18:00:00Z"))
    );
}

#[test]
fn a_window_spanning_the_dst_change_is_shorter_or_longer_that_day() {
    let s = Schedule {
        windows: vec![window(&[Weekday::Sunday], "01:00-04:00", LA)],
        freezes: vec![],
        min_interval: None,
    };
    // Sunday 2026-03-08: 01:00 PST (09:00Z) to 04:00 PDT (11:00Z): two hours.
    assert_eq!(
        s.verdict(ts("2026-03-08T09:30:00Z")),
        Verdict::Open {
            window: Some(0),
            until: Some(ts("2026-03-08T11:00:00Z")),
        }
    );
    // Sunday 2026-11-01: 01:00 PDT (08:00Z) to 04:00 PST (12:00Z): four hours.
    assert_eq!(
        s.next_opening(ts("2026-10-31T00:00:00Z")),
        Some(ts("2026-11-01T08:00:00Z"))
    );
    assert_eq!(
        s.closing_after(ts("2026-11-01T08:00:00Z")),
        Some(ts("2026-11-01T12:00:00Z"))
    );
}

#[test]
fn a_window_start_in_the_dst_gap_moves_forward_by_the_gap() {
    let s = Schedule {
        windows: vec![window(&[Weekday::Sunday], "02:30-05:00", LA)],
        freezes: vec![],
        min_interval: None,
    };
    // 02:30 does not exist on 2026-03-08: the window opens at 03:30 PDT (10:30Z).
    assert_eq!(
        s.next_opening(ts("2026-03-08T00:00:00Z")),
        Some(ts("2026-03-08T10:30:00Z"))
    );
}

#[test]
fn min_interval_defers_a_drill_until_it_has_passed() {
    let s = example();
    let now = ts("2026-12-01T19:00:00Z"); // Tuesday 11:00 PST, inside the window
    // Last drill completed 3 days ago: eligible Sunday 2026-12-05 19:00Z (Saturday PST),
    // next window Monday 2026-12-07 10:00 PST.
    let last = ts("2026-11-28T19:00:00Z");
    assert_eq!(
        s.due(now, Some(last)),
        Due::NotDue {
            why: NotDue::TooRecent {
                last,
                eligible: ts("2026-12-05T19:00:00Z"),
            },
            next: Some(ts("2026-12-07T18:00:00Z")),
        }
    );
    // Eight days ago: due now.
    assert_eq!(
        s.due(now, Some(ts("2026-11-23T19:00:00Z"))),
        Due::Now {
            window: Some(0),
            until: Some(ts("2026-12-02T00:00:00Z")),
        }
    );
    // Never drilled: due now.
    assert!(matches!(s.due(now, None), Due::Now { .. }));
}

#[test]
fn not_due_outside_a_window_or_in_a_freeze_names_why_and_when() {
    let s = example();
    let due = s.due(ts("2026-11-29T20:00:00Z"), None);
    assert_eq!(
        describe_due(&s, &due).unwrap(),
        "not due: outside every drill window (mon,tue,wed,thu 10:00-16:00 America/Los_Angeles); \
         next opening Mon 2026-11-30 10:00 PST (2026-11-30T18:00:00Z)"
    );
    let due = s.due(ts("2026-12-21T19:00:00Z"), None);
    assert_eq!(
        describe_due(&s, &due).unwrap(),
        "not due: in freeze `holiday freeze` (2026-12-18 to 2027-01-04 America/Los_Angeles); \
         next opening Tue 2027-01-05 10:00 PST (2027-01-05T18:00:00Z)"
    );
    // Closed and too recent: the closure is named, the next opening accounts for both.
    let due = s.due(ts("2026-11-29T20:00:00Z"), Some(ts("2026-11-27T20:00:00Z")));
    assert_eq!(
        due,
        Due::NotDue {
            why: NotDue::Closed(Closed::OutsideWindows),
            next: Some(ts("2026-12-07T18:00:00Z")),
        }
    );
}

#[test]
fn without_windows_every_time_outside_a_freeze_is_open() {
    let s = Schedule {
        windows: vec![],
        freezes: vec![freeze("2026-12-24", "2026-12-26", "xmas", "UTC")],
        min_interval: None,
    };
    assert_eq!(
        s.verdict(ts("2026-12-01T03:00:00Z")),
        Verdict::Open {
            window: None,
            until: Some(ts("2026-12-24T00:00:00Z")),
        }
    );
    assert_eq!(
        s.next_opening(ts("2026-12-25T00:00:00Z")),
        Some(ts("2026-12-27T00:00:00Z"))
    );
    assert_eq!(s.closing_after(ts("2027-01-01T00:00:00Z")), None);
}

#[test]
fn the_hold_is_cut_to_what_fits_before_the_window_ends() {
    let s = example();
    // Monday 15:50 PST: 10 minutes left.
    let now = ts("2026-11-30T23:50:00Z");
    assert_eq!(
        s.hold_cut(now, Duration::from_secs(1800)),
        Some(HoldCut {
            closes: ts("2026-12-01T00:00:00Z"),
            allowed: Duration::from_secs(600),
            window: Some(0),
        })
    );
    assert_eq!(s.hold_cut(now, Duration::from_secs(300)), None);
    // Already closed (the evacuation outlasted the window): no hold at all.
    let late = ts("2026-12-01T00:05:00Z");
    assert_eq!(
        s.hold_cut(late, Duration::from_secs(60)).unwrap().allowed,
        Duration::ZERO
    );
}

#[test]
fn adjacent_windows_chain_into_one_opening() {
    let s = Schedule {
        windows: vec![
            window(&[Weekday::Monday], "20:00-24:00", "UTC"),
            window(&[Weekday::Tuesday], "00:00-02:00", "UTC"),
        ],
        freezes: vec![],
        min_interval: None,
    };
    assert_eq!(
        s.closing_after(ts("2026-11-30T21:00:00Z")),
        Some(ts("2026-12-01T02:00:00Z"))
    );
}

#[test]
fn hours_and_days_parse_and_refuse_what_they_cannot_mean() {
    assert_eq!(parse_hours("10:00-16:00"), Ok((600, 960)));
    assert_eq!(parse_hours("0:00-24:00"), Ok((0, 1440)));
    for bad in [
        "10-16",
        "10:00",
        "25:00-26:00",
        "10:60-11:00",
        "24:00-24:00",
        "ab:cd-10:00",
    ] {
        assert!(
            parse_hours(bad).unwrap_err().contains("invalid hours"),
            "{bad}"
        );
    }
    assert!(
        parse_hours("22:00-06:00")
            .unwrap_err()
            .contains("may not cross midnight")
    );
    assert_eq!(weekday("Mon"), Some(Weekday::Monday));
    assert_eq!(weekday("sunday"), Some(Weekday::Sunday));
    assert_eq!(weekday("mo"), None);
}

#[test]
fn time_zones_come_from_the_bundled_database() {
    assert!(zone("America/Los_Angeles").is_some());
    assert!(zone("Europe/Paris").is_some());
    assert!(zone("UTC").is_some());
    assert!(zone("Mars/Olympus_Mons").is_none());
}
