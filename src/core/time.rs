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

#[cfg(test)]
mod tests {
    use super::*;

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
