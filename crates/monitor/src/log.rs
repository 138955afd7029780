//! Docker's json-file log format, one JSON object per line:
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-30T01:02:03.123456789Z"}`.
//!
//! The monitor writes one line per newline-terminated piece of output (a trailing partial
//! piece gets a line of its own, without `\n`). The engine reads them back with
//! [`parse_line`] / [`read_log`] for `docker logs`.

use crate::error::{MonitorError, Result};
use std::io::BufRead;
use std::path::Path;
use std::time::SystemTime;

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The output text (lossy UTF-8), including its trailing `\n` if it had one.
    pub log: String,
    /// `"stdout"` or `"stderr"`.
    pub stream: String,
    /// RFC 3339 UTC timestamp with nanoseconds.
    pub time: String,
}

impl LogEntry {
    /// The timestamp as a `SystemTime` (`None` if unparsable).
    pub fn timestamp(&self) -> Option<SystemTime> {
        crate::timefmt::parse_rfc3339(&self.time)
    }

    /// Whether this entry came from stderr.
    pub fn is_stderr(&self) -> bool {
        self.stream == "stderr"
    }

    /// The entry as one json-file line, newline included.
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(self.log.len() + 64);
        push_line(&mut out, self.log.as_bytes(), &self.stream, &self.time);
        out
    }
}

/// Escapes bytes for a JSON string the way Go's encoder does: lossy UTF-8, `"`/`\\`,
/// control characters, and `<`, `>`, `&` as `\u003c` etc.
pub fn escape_json(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out
}

fn push_line(out: &mut String, piece: &[u8], stream: &str, time: &str) {
    out.push_str("{\"log\":\"");
    out.push_str(&escape_json(piece));
    out.push_str("\",\"stream\":\"");
    out.push_str(stream);
    out.push_str("\",\"time\":\"");
    out.push_str(time);
    out.push_str("\"}\n");
}

/// Formats a chunk of output as json-file lines: one per newline-terminated piece, plus
/// one for a trailing partial piece. Empty input gives an empty string.
pub fn format_lines(stream: &str, chunk: &[u8], time: &str) -> String {
    let mut out = String::with_capacity(chunk.len() + 80);
    let mut rest = chunk;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        push_line(&mut out, &rest[..end], stream, time);
        rest = &rest[end..];
    }
    out
}

/// Parses one json-file line.
pub fn parse_line(line: &str) -> Result<LogEntry> {
    let v: serde_json::Value = serde_json::from_str(line.trim_end())
        .map_err(|e| MonitorError::Format(format!("log line: {e}")))?;
    let field = |k: &str| -> Result<String> {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| MonitorError::Format(format!("log line: no {k:?}")))
    };
    Ok(LogEntry {
        log: field("log")?,
        stream: field("stream")?,
        time: field("time")?,
    })
}

/// Reads every parsable entry of a json-file log (a missing file is an empty log;
/// unparsable lines, e.g. a torn last line, are skipped).
pub fn read_log(path: &Path) -> Result<Vec<LogEntry>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if let Ok(e) = parse_line(&line) {
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_round_trip() {
        let t = "2026-11-30T01:02:03.123456789Z";
        let s = format_lines("stdout", b"a\"<b>\nsecond\npart", t);
        let lines: Vec<_> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            r#"{"log":"a\"\u003cb\u003e\n","stream":"stdout","time":"2026-11-30T01:02:03.123456789Z"}"#
        );
        let e = parse_line(lines[2]).unwrap();
        assert_eq!(e.log, "part");
        assert_eq!(e.stream, "stdout");
        assert_eq!(parse_line(lines[0]).unwrap().log, "a\"<b>\n");
        assert_eq!(parse_line(&e.to_line()).unwrap(), e);
        assert!(e.timestamp().is_some());
        assert!(parse_line("{").is_err());
    }
}
