//! How numbers, durations and times read on screen. Pure functions, shared so they are
//! tested natively.

/// `12.4k`, `3.1M`, `950`.
pub fn human_count(n: f64) -> String {
    let a = n.abs();
    if a >= 1e9 {
        format!("{:.1}B", n / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else if a >= 100.0 || n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// A count that is part of another, named: `400 cached`, `1.2k reasoning`; None when absent
/// or zero.
pub fn part(n: Option<u64>, what: &str) -> Option<String> {
    n.filter(|n| *n > 0)
        .map(|n| format!("{} {what}", human_count(n as f64)))
}

/// `850 ms`, `12.3 s`, `4m 05s`, `2h 10m`.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "–".into();
    }
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        let s = (ms / 1000.0) as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = (ms / 60_000.0) as u64;
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

/// `3 s ago`, `5 min ago`, `2 h ago`, `4 d ago`; `just now` under a second.
pub fn relative(then_ms: i64, now_ms: i64) -> String {
    let d = (now_ms - then_ms).max(0) / 1000;
    if d < 1 {
        "just now".into()
    } else if d < 60 {
        format!("{d} s ago")
    } else if d < 3600 {
        format!("{} min ago", d / 60)
    } else if d < 86_400 {
        format!("{} h ago", d / 3600)
    } else {
        format!("{} d ago", d / 86_400)
    }
}

/// `$0.0042`, `$1.23`, `$1,234`.
pub fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v < 0.01 {
        format!("${v:.4}")
    } else if v < 1000.0 {
        format!("${v:.2}")
    } else {
        format!("${}", human_count(v))
    }
}

/// `1.5 GiB`, `512 MiB`, `12 KiB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// `98.5%`.
pub fn percent(v: f64) -> String {
    if v >= 99.95 || v == 0.0 {
        format!("{v:.0}%")
    } else {
        format!("{v:.1}%")
    }
}

/// `2026-11-22 03:48:41 UTC` from epoch milliseconds (civil-from-days, no time zone data).
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-22T03:48:41.123Z`, as RFC 3339 wants it.
pub fn rfc3339(ms: i64) -> String {
    let date = utc(ms);
    format!("{}T{}.{:03}Z", &date[..10], &date[11..19], ms.rem_euclid(1000))
}

/// `03:48:41.123` (UTC) for log lines.
pub fn clock_ms(ms: i64) -> String {
    let rem = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem % 3_600_000 / 60_000,
        rem % 60_000 / 1000,
        rem % 1000
    )
}

/// Lowercase hex of bytes (trace and span ids, digests, ETags).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(human_count(950.0), "950");
        assert_eq!(human_count(12_400.0), "12.4k");
        assert_eq!(human_count(3_100_000.0), "3.1M");
        assert_eq!(human_count(2.5), "2.5");
        assert_eq!(part(Some(12_400), "cached").as_deref(), Some("12.4k cached"));
        assert_eq!((part(Some(0), "cached"), part(None, "cached")), (None, None));
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms(850.0), "850 ms");
        assert_eq!(duration_ms(12_340.0), "12.3 s");
        assert_eq!(duration_ms(245_000.0), "4m 05s");
        assert_eq!(duration_ms(7_800_000.0), "2h 10m");
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(0, 500), "just now");
        assert_eq!(relative(0, 3_000), "3 s ago");
        assert_eq!(relative(0, 300_000), "5 min ago");
        assert_eq!(relative(0, 2 * 86_400_000), "2 d ago");
    }

    #[test]
    fn money_bytes_percent() {
        assert_eq!(usd(0.0042), "$0.0042");
        assert_eq!(usd(1.234), "$1.23");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(percent(98.54), "98.5%");
        assert_eq!(percent(100.0), "100%");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_319_321_000), "2026-11-22 03:48:41 UTC");
        assert_eq!(clock_ms(1_795_319_321_123), "03:48:41.123");
        assert_eq!(rfc3339(1_795_319_321_123), "2026-11-22T03:48:41.123Z");
    }
}
