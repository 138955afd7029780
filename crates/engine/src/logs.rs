//! Reading a container's json-file log for `GET /containers/{id}/logs`.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Options of a logs request.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Keep streaming until the container stops.
    pub follow: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only the last N lines (`None` = all).
    pub tail: Option<usize>,
    /// Only entries at or after this time.
    pub since: Option<SystemTime>,
    /// Only entries before this time.
    pub until: Option<SystemTime>,
}

/// Docker's 8-byte stream frame header.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let l = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Parse a `since`/`until` value: unix seconds (with optional fraction) or RFC 3339.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    if s.is_empty() {
        return None;
    }
    if let Ok(f) = s.parse::<f64>() {
        if f <= 0.0 {
            return None;
        }
        return Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(f));
    }
    monitor::timefmt::parse_rfc3339(s)
}

fn render(e: &monitor::log::LogEntry, opts: &LogOptions, tty: bool) -> Option<Vec<u8>> {
    let stderr = e.is_stderr();
    if (stderr && !opts.stderr) || (!stderr && !opts.stdout) {
        return None;
    }
    if opts.since.is_some() || opts.until.is_some() {
        let t = e.timestamp()?;
        if opts.since.is_some_and(|s| t < s) || opts.until.is_some_and(|u| t >= u) {
            return None;
        }
    }
    let mut payload = Vec::new();
    if opts.timestamps {
        payload.extend_from_slice(e.time.as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(e.log.as_bytes());
    if tty {
        Some(payload)
    } else {
        let mut out = frame_header(if stderr { 2 } else { 1 }, payload.len()).to_vec();
        out.extend_from_slice(&payload);
        Some(out)
    }
}

/// Rendered output is sent in chunks of about this size.
const BATCH: usize = 32 * 1024;

/// Parses, filters and frames lines, and sends them down the response channel in batches.
struct ChannelSink<'a> {
    tx: mpsc::Sender<Vec<u8>>,
    opts: &'a LogOptions,
    tty: bool,
    batch: Vec<u8>,
}

impl crate::logread::Sink for ChannelSink<'_> {
    fn line(&mut self, line: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(line) else {
            return true;
        };
        let Ok(e) = monitor::log::parse_line(text) else {
            return true;
        };
        if let Some(b) = render(&e, self.opts, self.tty) {
            self.batch.extend_from_slice(&b);
            if self.batch.len() >= BATCH {
                return self.flush();
            }
        }
        true
    }

    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return !self.tx.is_closed();
        }
        let b = std::mem::take(&mut self.batch);
        self.tx.blocking_send(b).is_ok()
    }
}

impl Engine {
    /// Stream a container's log as ready-to-send chunks (framed unless the container has a
    /// TTY). The channel closes at the end (with `follow`, once the container stops).
    pub fn logs(
        self: &Arc<Self>,
        name_or_id: &str,
        opts: LogOptions,
    ) -> Result<mpsc::Receiver<Vec<u8>>> {
        let c = self.get(name_or_id)?;
        let log_config =
            crate::logconfig::LogConfig::from_value(c.host_config.extra.get("LogConfig"))
                .unwrap_or_default();
        if log_config.driver == crate::logconfig::NONE {
            return Err(EngineError::NotImplemented(
                "configured logging driver does not support reading".into(),
            ));
        }
        let path = self.paths.log(&c.id);
        let tty = c.config.tty;
        let (tx, rx) = mpsc::channel(64);
        let this = self.clone();
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let mut running = || {
                this.get(&id)
                    .map(|c| c.state.running || this.lock().busy.contains(&id))
                    .unwrap_or(false)
            };
            let mut sink = ChannelSink {
                tx,
                opts: &opts,
                tty,
                batch: Vec::new(),
            };
            crate::logread::read(
                &path,
                opts.tail.map(|n| n as u64),
                opts.follow,
                &mut running,
                &mut sink,
            );
        });
        Ok(rx)
    }
}
