//! Output helpers shaped like the docker CLI's: durations, sizes, tables, truncation.

use std::time::{SystemTime, UNIX_EPOCH};

/// Docker's `units.HumanDuration` for a number of seconds.
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
}

/// "N units ago" for a unix timestamp.
pub fn ago(unix: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    format!("{} ago", human_duration((now - unix as f64).max(0.0)))
}

/// Docker's `units.HumanSizeWithPrecision(size, 3)` (decimal units).
pub fn human_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = size;
    let mut i = 0;
    while value >= 1000.0 && i < UNITS.len() - 1 {
        value /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig3(value), UNITS[i])
}

/// Formats like Go's `%.3g` for values below 1000.
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `Ellipsis`: at most `max` characters, ending with "…" when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = chars[..max - 1].iter().collect();
    out.push('…');
    out
}

/// A unix timestamp as Go prints a UTC `time.Time`: "2026-11-30 01:09:14 +0000 UTC".
pub fn utc_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000 UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Renders rows with a user `--format`: `table ...` gets a header row and tabwriter
/// alignment; otherwise one rendered line per row. `\t`/`\n` escapes are expanded.
pub fn render_rows(
    format: &str,
    headers: &serde_json::Value,
    rows: &[serde_json::Value],
) -> anyhow::Result<String> {
    let expanded = format.replace("\\t", "\t").replace("\\n", "\n");
    if let Some(rest) = expanded.strip_prefix("table") {
        let tmpl = rest.trim_start_matches(' ');
        let mut lines = vec![crate::template::render(tmpl, headers)?];
        for r in rows {
            lines.push(crate::template::render(tmpl, r)?);
        }
        let cells: Vec<Vec<String>> = lines
            .iter()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        return Ok(table(&cells));
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&crate::template::render(&expanded, r)?);
        out.push('\n');
    }
    Ok(out)
}

/// Turns `-f key=value` flags into docker's `filters` JSON (map form), URL-encoded.
pub fn filters_query(filters: &[String]) -> Option<String> {
    if filters.is_empty() {
        return None;
    }
    let mut map = serde_json::Map::new();
    for f in filters {
        let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
        let entry = map
            .entry(k.trim().to_lowercase())
            .or_insert_with(|| serde_json::json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(v.to_string(), serde_json::Value::Bool(true));
        }
    }
    Some(crate::client::enc(
        &serde_json::Value::Object(map).to_string(),
    ))
}

/// Go's `strconv.Quote` for the common cases.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders rows like Go's tabwriter(minwidth 10, padding 3) used by docker's tables.
pub fn table(rows: &[Vec<String>]) -> String {
    table_min(rows, 10)
}

/// Like [`table`] with another minimum column width (`top` uses 20).
pub fn table_min(rows: &[Vec<String>], min_width: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max((cell.chars().count() + 3).max(min_width));
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Docker's `RAMInBytes`: "512m", "1g", "1.5GiB", "100000" (binary units).
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((value * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0.2), "Less than a second");
        assert_eq!(human_duration(5.0), "5 seconds");
        assert_eq!(human_duration(61.0), "About a minute");
        assert_eq!(human_duration(600.0), "10 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(5.0 * 86400.0), "5 days");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(1_234_567.0), "1.23MB");
        assert_eq!(human_size(4_260_000.0), "4.26MB");
        assert_eq!(human_size(123_000_000.0), "123MB");
        assert_eq!(human_size(12_300.0), "12.3kB");
        assert_eq!(human_size(2_000_000.0), "2MB");
    }

    #[test]
    fn ellipsis_cuts() {
        assert_eq!(ellipsis("abc", 5), "abc");
        assert_eq!(ellipsis("abcdefgh", 5), "abcd…");
    }

    #[test]
    fn table_pads_like_tabwriter() {
        let t = table(&[
            vec!["CONTAINER ID".into(), "IMAGE".into(), "NAMES".into()],
            vec!["0123456789ab".into(), "busybox".into(), "x".into()],
        ]);
        assert_eq!(
            t,
            "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   x\n"
        );
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
    }

    #[test]
    fn custom_formats() {
        let h = serde_json::json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        let rows = vec![serde_json::json!({"ID": "abc", "Names": "n1"})];
        assert_eq!(
            render_rows("{{.ID}} {{.Names}}", &h, &rows).unwrap(),
            "abc n1\n"
        );
        assert_eq!(
            render_rows("table {{.ID}}\\t{{.Names}}", &h, &rows).unwrap(),
            "CONTAINER ID   NAMES\nabc            n1\n"
        );
    }

    #[test]
    fn filters_json() {
        assert_eq!(
            filters_query(&["name=x".into()]).unwrap(),
            crate::client::enc(r#"{"name":{"x":true}}"#)
        );
        assert!(filters_query(&[]).is_none());
    }

    #[test]
    fn ram() {
        assert_eq!(ram_in_bytes("512m"), Some(512 * 1024 * 1024));
        assert_eq!(ram_in_bytes("1g"), Some(1024 * 1024 * 1024));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("4k"), Some(4096));
        assert_eq!(ram_in_bytes("1.5GiB"), Some(1536 * 1024 * 1024));
        assert_eq!(ram_in_bytes("x"), None);
    }
}
