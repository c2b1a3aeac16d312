//! RFC 3339 timestamps in UTC, without a calendar crate: only the proleptic
//! Gregorian date of a Unix time is needed. The clock itself is read in
//! `io::clock`: the core only formats the times it is given.

pub fn format_micros(secs: u64, micros: u32) -> String {
    stamp(secs, micros, 6)
}

/// The kernel's audit stamp has millisecond precision.
pub fn format_millis(secs: u64, millis: u32) -> String {
    stamp(secs, millis, 3)
}

/// `YYYY-MM-DDTHH:MM:SS.FFFZ` with `digits` of fraction. Two of these are made
/// per finding, so the digits are placed by hand rather than through `format!`.
fn stamp(secs: u64, frac: u32, digits: usize) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) || u64::from(frac) >= 10u64.pow(digits as u32) {
        // Out of the common shape (a stamp from a fuzzer or a broken record):
        // the general form, every digit kept.
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:0digits$}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        );
    }
    let mut b = [0u8; 40];
    let mut n = 0;
    let y = y as u64;
    let parts: [(u64, usize, u8); 7] = [
        (y, 4, b'-'),
        (u64::from(m), 2, b'-'),
        (u64::from(d), 2, b'T'),
        (rem / 3600, 2, b':'),
        (rem / 60 % 60, 2, b':'),
        (rem % 60, 2, b'.'),
        (u64::from(frac), digits, b'Z'),
    ];
    for (v, width, sep) in parts {
        let mut v = v;
        for i in (0..width).rev() {
            b[n + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        n += width;
        b[n] = sep;
        n += 1;
    }
    // Only ASCII digits and separators were written.
    String::from_utf8(b[..n].to_vec()).expect("ASCII")
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Howard Hinnant's days-from-civil algorithm, the inverse of `civil_from_days`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What `--since` and `--until` accept, for their help and errors.
pub const INSTANT_FORMS: &str = "YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS[.FFF]] (UTC), RFC 3339 \
(2026-12-02T06:00:00Z, 2026-12-02T07:00:00+01:00) or @UNIX_SECONDS";

/// A point in time as milliseconds since the epoch, the unit of the audit stamp
/// (`sec * 1000 + msec`), so that a window is two integer comparisons a record.
/// A date and time without an offset is UTC, as the audit stamp is: the result
/// does not depend on the machine the scan runs on.
pub fn parse_instant(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?}: expected {INSTANT_FORMS}");
    if let Some(secs) = s.strip_prefix('@') {
        if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || secs.len() > 12 {
            return Err(bad());
        }
        return secs.parse::<u64>().map(|v| v * 1000).map_err(|_| bad());
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
    };
    let (Some(y), Some(mo), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(bad());
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(bad());
    }
    let days_in = [
        31,
        if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d == 0 || d > days_in[mo as usize - 1] {
        return Err(bad());
    }
    let (mut h, mut mi, mut sec, mut ms) = (0, 0, 0u32, 0u32);
    let mut rest = &b[10..];
    let mut offset: i64 = 0;
    if let [b'T' | b't' | b' ', time @ ..] = rest {
        let t = |i: usize| time.get(i).copied();
        let two = |i: usize| -> Option<u32> {
            let (a, c) = (t(i)?, t(i + 1)?);
            (a.is_ascii_digit() && c.is_ascii_digit())
                .then(|| u32::from(a - b'0') * 10 + u32::from(c - b'0'))
        };
        (h, mi) = (two(0).ok_or_else(bad)?, two(3).ok_or_else(bad)?);
        if t(2) != Some(b':') {
            return Err(bad());
        }
        let mut i = 5;
        if t(5) == Some(b':') {
            sec = two(6).ok_or_else(bad)?;
            i = 8;
            if t(8) == Some(b'.') {
                i = 9;
                let (mut digits, mut frac) = (0, 0u32);
                while let Some(c) = t(i).filter(u8::is_ascii_digit) {
                    if digits < 3 {
                        frac = frac * 10 + u32::from(c - b'0');
                    }
                    digits += 1;
                    i += 1;
                }
                if digits == 0 {
                    return Err(bad());
                }
                ms = frac * 10u32.pow(3u32.saturating_sub(digits));
            }
        }
        if h > 23 || mi > 59 || sec > 60 {
            return Err(bad());
        }
        rest = &time[i..];
        match rest {
            [] => {}
            [b'Z' | b'z'] => rest = &[],
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
                let digits = [*oh1, *oh2, *om1, *om2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                let v = |a: u8, c: u8| i64::from(a - b'0') * 10 + i64::from(c - b'0');
                let (h, m) = (v(digits[0], digits[1]), v(digits[2], digits[3]));
                if h > 23 || m > 59 {
                    return Err(bad());
                }
                let mins = h * 60 + m;
                offset = if *sign == b'+' { mins } else { -mins } * 60;
                rest = &[];
            }
            _ => return Err(bad()),
        }
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    let secs = days_from_civil(i64::from(y), mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec)
        - offset;
    u64::try_from(secs).map(|s| s * 1000 + u64::from(ms)).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        for (s, want) in [
            ("@1733100000", Ok(1_733_100_000_000)),
            ("1970-01-01", Ok(0)),
            ("2000-02-29", Ok(951_782_400_000)),
            ("2026-11-28 10:52", Ok(1_795_863_120_000)),
            ("2026-11-28 10:52:42", Ok(1_795_863_162_000)),
            ("2026-11-28T10:52:42Z", Ok(1_795_863_162_000)),
            ("2026-11-28T10:52:42.123Z", Ok(1_795_863_162_123)),
            ("2026-11-28T10:52:42.1234567Z", Ok(1_795_863_162_123)),
            ("2026-11-28T10:52:42.5Z", Ok(1_795_863_162_500)),
            ("2026-11-28T11:52:42+01:00", Ok(1_795_863_162_000)),
            ("2026-11-28T09:52:42-01:00", Ok(1_795_863_162_000)),
        ] {
            assert_eq!(parse_instant(s).map_err(|_| ()), want, "{s}");
        }
        for bad in [
            "",
            "@",
            "@-1",
            "@1.5",
            "2026-13-01",
            "2026-02-29",
            "2026-11-28 24:00",
            "2026-11-28T10:52:42+0100",
            "2026-11-28T10:52:42+24:00",
            "2026-11-28T10:52:42-01:60",
            "2026-11-28 10",
            "2026/11/28",
            "yesterday",
            "2026-11-28T10:52:42.Z",
            "1969-12-31",
        ] {
            let err = parse_instant(bad).unwrap_err();
            assert!(err.contains("@UNIX_SECONDS"), "{bad}: {err}");
        }
        // The inverse of the formatter.
        for secs in [0u64, 951_782_400, 1_795_863_162, 4_102_444_799] {
            assert_eq!(parse_instant(&format_millis(secs, 7)), Ok(secs * 1000 + 7));
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(format_micros(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_millis(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(format_micros(1_795_863_162, 123_456), "2026-11-28T10:52:42.123456Z");
        assert_eq!(format_millis(4_102_444_799, 999), "2099-12-31T23:59:59.999Z");
        // Out of the common shape: every digit is kept.
        assert_eq!(format_millis(253_402_300_800, 1234), "10000-01-01T00:00:00.1234Z");
    }
}
