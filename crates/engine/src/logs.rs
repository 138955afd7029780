//! Reading a container's json-file log for `GET /containers/{id}/logs`.

use crate::engine::Engine;
use crate::error::Result;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
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

impl Engine {
    /// Stream a container's log as ready-to-send chunks (framed unless the container has a
    /// TTY). The channel closes at the end (with `follow`, once the container stops).
    pub fn logs(
        self: &Arc<Self>,
        name_or_id: &str,
        opts: LogOptions,
    ) -> Result<mpsc::Receiver<Vec<u8>>> {
        let c = self.get(name_or_id)?;
        let path = self.paths.log(&c.id);
        let tty = c.config.tty;
        let (tx, rx) = mpsc::channel(64);
        let this = self.clone();
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path).ok();
            let mut pos = 0u64;
            if let Some(f) = file {
                let mut reader = BufReader::new(f);
                let mut entries = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if !line.ends_with('\n') {
                                break;
                            }
                            pos += n as u64;
                            if let Ok(e) = monitor::log::parse_line(line.trim_end_matches('\n')) {
                                entries.push(e);
                            }
                        }
                    }
                }
                let skip = match opts.tail {
                    Some(n) => entries.len().saturating_sub(n),
                    None => 0,
                };
                for e in &entries[skip..] {
                    if let Some(b) = render(e, &opts, tty) {
                        if tx.blocking_send(b).is_err() {
                            return;
                        }
                    }
                }
            }
            if !opts.follow {
                return;
            }
            let mut rx_changed = this.changed.subscribe();
            let _ = &mut rx_changed;
            loop {
                let running = this
                    .get(&id)
                    .map(|c| c.state.running || this.lock().busy.contains(&id))
                    .unwrap_or(false);
                // Read whatever has been appended.
                if let Ok(mut f) = std::fs::File::open(&path) {
                    if f.seek(SeekFrom::Start(pos)).is_ok() {
                        let mut reader = BufReader::new(f);
                        let mut line = String::new();
                        loop {
                            line.clear();
                            match reader.read_line(&mut line) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if !line.ends_with('\n') {
                                        break;
                                    }
                                    pos += n as u64;
                                    if let Ok(e) =
                                        monitor::log::parse_line(line.trim_end_matches('\n'))
                                    {
                                        if let Some(b) = render(&e, &opts, tty) {
                                            if tx.blocking_send(b).is_err() {
                                                return;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                if !running || tx.is_closed() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Ok(rx)
    }
}
