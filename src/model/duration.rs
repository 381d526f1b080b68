//! Durations as users write them: `90s`, `2m`, `1h30m`, `500ms`, `0s`.

use std::time::Duration;

/// What a duration looks like, for error messages.
pub(crate) const EXPECTED: &str = "expected a duration like 90s, 2m or 1h30m";

/// Parses `<n><unit>` groups, units `h`, `m`, `s`, `ms`, each at most once, largest first.
/// A bare number is rejected: `90` could mean seconds or minutes, and a safety wait must not
/// be guessed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid duration `{}`: {EXPECTED}",
            super::node::shorten(text)
        )
    };
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0; // milliseconds
    let mut last_rank = usize::MAX;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let number: u64 = text[start..i].parse().map_err(|_| invalid())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        // Rank: larger units first; each unit at most once.
        let (rank, millis) = match &text[unit_start..i] {
            "h" => (3, 3_600_000),
            "m" => (2, 60_000),
            "s" => (1, 1_000),
            "ms" => (0, 1),
            _ => return Err(invalid()),
        };
        if rank >= last_rank {
            return Err(invalid());
        }
        last_rank = rank;
        total = number
            .checked_mul(millis)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
    }
    Ok(Duration::from_millis(total))
}

/// Like [`parse_duration`], with whole days first (`7d`, `1d12h`), for spans between drills.
pub fn parse_duration_with_days(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid duration `{}`: expected a duration like 7d, 36h or 1d12h",
            super::node::shorten(text)
        )
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (days, rest) = match text[digits..].strip_prefix('d') {
        Some(rest) if digits > 0 => {
            let days: u64 = text[..digits].parse().map_err(|_| invalid())?;
            (days, rest)
        }
        _ => (0, text),
    };
    let rest = if rest.is_empty() && days > 0 {
        Duration::ZERO
    } else {
        parse_duration(rest).map_err(|_| invalid())?
    };
    days.checked_mul(86_400)
        .map(Duration::from_secs)
        .and_then(|d| d.checked_add(rest))
        .ok_or_else(invalid)
}

/// A duration as a person writes it, the inverse of [`parse_duration`]: `120ms`, `1.5s`,
/// `45s`, `2m`, `2m30s`, `1h30m`, `1h02m05s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return if secs.fract() == 0.0 {
            format!("{}s", secs as u64)
        } else {
            format!("{secs:.1}s")
        };
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    match (h, s) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{m}m{s:02}s"),
        (_, 0) => format!("{h}h{m:02}m"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_come_first_and_combine_with_other_units() {
        let ok = |s: &str| parse_duration_with_days(s).unwrap();
        assert_eq!(ok("7d"), Duration::from_secs(7 * 86_400));
        assert_eq!(ok("1d12h"), Duration::from_secs(36 * 3_600));
        assert_eq!(ok("36h"), Duration::from_secs(36 * 3_600));
        for bad in ["", "d", "7", "7dd", "1h1d", "7 d", "-1d"] {
            assert!(parse_duration_with_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_single_and_combined_units() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1h30m15s"), Duration::from_secs(5415));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1s500ms"), Duration::from_millis(1500));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
    }

    #[test]
    fn rejects_bare_numbers_unknown_units_and_disorder() {
        for bad in [
            "",
            "90",
            "1.5s",
            "1d",
            "s",
            "m5",
            "30m1h",
            "1s1s",
            "1 s",
            " 1s",
            "-1s",
            "1sx",
            "99999999999999999999h",
            "6000000000000h",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.ends_with(EXPECTED), "{bad}: {err}");
        }
        assert_eq!(
            parse_duration("90").unwrap_err(),
            "invalid duration `90`: expected a duration like 90s, 2m or 1h30m"
        );
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(format_duration(Duration::from_millis(120)), "120ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h02m05s");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(200)), "3m20s");
    }
}
