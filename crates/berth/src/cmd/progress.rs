//! Rendering of docker's JSON progress stream (pull, push, load) the way the docker CLI
//! does: on a terminal one line per layer, updated in place with a progress bar; otherwise
//! plain `id: status` lines without the byte-by-byte updates.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{anyhow, Result};
use serde_json::Value;

use crate::format::human_size;

/// A renderer writing to stdout or stderr.
pub struct Renderer {
    tty: bool,
    to_stderr: bool,
    /// Line number of each id on a terminal.
    lines: HashMap<String, usize>,
    /// Lines printed so far (terminal mode).
    total: usize,
    buf: Vec<u8>,
    /// The first error message seen.
    pub error: Option<String>,
    /// `aux` payloads seen.
    pub aux: Vec<Value>,
}

/// docker's progress bar: `[=====>        ]  12.3MB/45.6MB`.
fn bar(current: u64, total: u64) -> String {
    if total == 0 {
        return human_size(current as f64);
    }
    let width = 50usize;
    let filled = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
    let mut s = String::from("[");
    for i in 0..width {
        s.push(if i < filled {
            '='
        } else if i == filled {
            '>'
        } else {
            ' '
        });
    }
    s.push(']');
    format!(
        "{s} {:>8}/{}",
        human_size(current as f64),
        human_size(total as f64)
    )
}

impl Renderer {
    /// A renderer for stdout (`to_stderr` false) or stderr; terminal mode when that stream is
    /// a terminal.
    pub fn new(to_stderr: bool) -> Renderer {
        let fd = if to_stderr { 2 } else { 1 };
        Renderer {
            tty: crate::term::is_tty(fd),
            to_stderr,
            lines: HashMap::new(),
            total: 0,
            buf: Vec::new(),
            error: None,
            aux: Vec::new(),
        }
    }

    fn out(&self, s: &str) {
        if self.to_stderr {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(s.as_bytes());
            let _ = e.flush();
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(s.as_bytes());
            let _ = o.flush();
        }
    }

    /// Feeds raw bytes of the stream (split across chunks anywhere).
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                self.message(&v);
            }
        }
    }

    /// Handles the unterminated tail at the end of the stream.
    pub fn finish(&mut self) {
        let rest = std::mem::take(&mut self.buf);
        if let Ok(v) = serde_json::from_slice::<Value>(&rest) {
            self.message(&v);
        }
    }

    fn message(&mut self, v: &Value) {
        if let Some(e) = v
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
        {
            if self.error.is_none() {
                self.error = Some(e.to_string());
            }
            return;
        }
        if let Some(a) = v.get("aux") {
            self.aux.push(a.clone());
            return;
        }
        if let Some(s) = v.get("stream").and_then(Value::as_str) {
            self.out(s);
            return;
        }
        let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
        let id = v.get("id").and_then(Value::as_str);
        let detail = v.get("progressDetail");
        let cur = detail
            .and_then(|d| d.get("current"))
            .and_then(Value::as_u64);
        let tot = detail.and_then(|d| d.get("total")).and_then(Value::as_u64);
        let text = match id {
            Some(id) => format!("{id}: {status}"),
            None => status.to_string(),
        };
        if !self.tty {
            // Like docker without a terminal: no byte-level updates.
            if cur.is_none() {
                self.out(&format!("{text}\n"));
            }
            return;
        }
        let text = match cur {
            Some(c) => format!("{text} {}", bar(c, tot.unwrap_or(0))),
            None => text,
        };
        match id.and_then(|i| self.lines.get(i).copied()) {
            Some(line) => {
                let up = self.total - line;
                self.out(&format!("\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B"));
            }
            None => {
                if let Some(i) = id {
                    self.lines.insert(i.to_string(), self.total);
                }
                self.total += 1;
                self.out(&format!("{text}\n"));
            }
        }
    }

    /// The error of the stream, if any, as an `Err`.
    pub fn result(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(anyhow!("{e}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars() {
        assert!(bar(5, 10).starts_with("[=========================>"));
        assert!(bar(10, 10).contains("10B/10B"));
    }

    #[test]
    fn errors_and_aux() {
        let mut r = Renderer::new(true);
        r.feed(b"{\"aux\":{\"Digest\":\"sha256:x\"}}\n{\"errorDetail\":{\"message\":\"bo");
        r.feed(b"om\"},\"error\":\"boom\"}");
        r.finish();
        assert_eq!(r.error.as_deref(), Some("boom"));
        assert_eq!(r.aux.len(), 1);
        assert!(r.result().is_err());
    }
}
