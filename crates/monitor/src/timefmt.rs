//! RFC 3339 timestamps in UTC with nanoseconds (`2026-11-30T01:02:03.123456789Z`), the form
//! docker uses in json-file logs and exit records. No time-zone database needed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats `t` as RFC 3339 UTC with exactly nine fractional digits.
pub fn format_rfc3339_nano(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => (0, 0),
    };
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// The current time formatted by [`format_rfc3339_nano`].
pub fn now_rfc3339_nano() -> String {
    format_rfc3339_nano(SystemTime::now())
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an RFC 3339 timestamp (any number of fractional digits, `Z` or `±hh:mm`).
/// Returns `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if s.len() < 20 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut dp = date.split('-');
    let y = num(dp.next()?)?;
    let mo = num(dp.next()?)? as u32;
    let d = num(dp.next()?)? as u32;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (hms, mut rest) = rest.split_at(8);
    let mut tp = hms.split(':');
    let h = num(tp.next()?)?;
    let mi = num(tp.next()?)?;
    let se = num(tp.next()?)?;
    let mut nanos: u32 = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        let digits = &r[..end];
        if digits.is_empty() {
            return None;
        }
        let mut n: u32 = 0;
        for (i, b) in digits.bytes().enumerate() {
            if i < 9 {
                n = n * 10 + u32::from(b - b'0');
            }
        }
        for _ in digits.len()..9 {
            n *= 10;
        }
        nanos = n;
        rest = &r[end..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let oh = num(&o[1..3])?;
            let om = num(&o[4..6])?;
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    if secs >= 0 {
        Some(UNIX_EPOCH + Duration::new(secs as u64, nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::new((-secs) as u64, 0))?
            .checked_add(Duration::new(0, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_796_000_523, 123_456_789);
        let s = format_rfc3339_nano(t);
        assert_eq!(parse_rfc3339(&s), Some(t));
        assert_eq!(
            format_rfc3339_nano(UNIX_EPOCH + Duration::new(951_782_400, 5)),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T01:00:00+01:00"),
            Some(UNIX_EPOCH + Duration::new(951_782_400, 0))
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }
}
