//! Docker stream framing (8-byte headers) and the stdio pump of hijacked connections.

use std::io::{Read, Write};

use anyhow::Result;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::client::Hijacked;

/// Which local stream a framed chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Standard output (stream 0 or 1).
    Stdout,
    /// Standard error (stream 2, and 3 = system error).
    Stderr,
}

/// Push parser for docker's multiplexed stream framing.
#[derive(Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    /// Feeds bytes; calls `out` for each complete (or partial, for big frames) payload.
    pub fn feed(&mut self, data: &[u8], out: &mut dyn FnMut(Target, &[u8])) {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        while self.buf.len() - pos >= 8 {
            let header = &self.buf[pos..pos + 8];
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if self.buf.len() - pos - 8 < len {
                break;
            }
            let target = match header[0] {
                2 | 3 => Target::Stderr,
                _ => Target::Stdout,
            };
            out(target, &self.buf[pos + 8..pos + 8 + len]);
            pos += 8 + len;
        }
        self.buf.drain(..pos);
    }
}

/// Writes bytes to the local stdout or stderr and flushes.
pub fn emit(target: Target, data: &[u8]) {
    let _ = match target {
        Target::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(data).and_then(|_| out.flush())
        }
        Target::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(data).and_then(|_| err.flush())
        }
    };
}

/// Reads local stdin on a thread, forwarding chunks; `None` marks EOF.
pub fn stdin_channel() -> mpsc::Receiver<Option<Bytes>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if tx
                        .blocking_send(Some(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Docker's default detach sequence: ctrl-p, ctrl-q.
const DETACH: [u8; 2] = [0x10, 0x11];

/// Watches keyboard input for the detach sequence (ctrl-p ctrl-q), holding back a
/// trailing ctrl-p until the next byte shows whether it starts the sequence.
#[derive(Default)]
pub struct EscapeProxy {
    held: bool,
}

impl EscapeProxy {
    /// Filters one chunk: returns the bytes to forward and whether to detach.
    pub fn filter(&mut self, chunk: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(chunk.len() + 1);
        for &b in chunk {
            if self.held {
                self.held = false;
                if b == DETACH[1] {
                    return (out, true);
                }
                out.push(DETACH[0]);
            }
            if b == DETACH[0] {
                self.held = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// How an attached session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The output stream ended (the process exited or closed its outputs).
    Eof,
    /// The user typed the detach sequence.
    Detached,
}

/// Copies a hijacked connection's output to stdout/stderr (demuxed unless `tty`), and
/// local stdin into it when `stdin` is set (half-closing at EOF). Returns when the
/// output ends, or when the user detaches (ctrl-p ctrl-q typed on a terminal).
pub async fn pump(conn: Hijacked, tty: bool, stdin: bool) -> Result<Ended> {
    let (mut rd, mut wr) = tokio::io::split(conn.stream);
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = if stdin {
        let mut rx = stdin_channel();
        let mut proxy = crate::term::is_tty(0).then(EscapeProxy::default);
        Some(tokio::spawn(async move {
            while let Some(Some(chunk)) = rx.recv().await {
                let (data, detach) = match proxy.as_mut() {
                    Some(p) => p.filter(&chunk),
                    None => (chunk.to_vec(), false),
                };
                if !data.is_empty() && wr.write_all(&data).await.is_err() {
                    return None;
                }
                if detach {
                    let _ = detach_tx.send(());
                    return Some(wr);
                }
            }
            let _ = wr.shutdown().await;
            Some(wr)
        }))
    } else {
        // Keep the write half open (not shut down) while no stdin is attached.
        drop(detach_tx);
        None
    };
    let mut demux = Demuxer::default();
    let mut write = |data: &[u8]| {
        if tty {
            emit(Target::Stdout, data);
        } else {
            demux.feed(data, &mut |t, d| emit(t, d));
        }
    };
    if !conn.leftover.is_empty() {
        write(&conn.leftover);
    }
    let mut buf = vec![0u8; 32 * 1024];
    let mut detach_open = stdin;
    let ended = loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break Ended::Eof,
                Ok(n) => write(&buf[..n]),
            },
            d = &mut detach_rx, if detach_open => match d {
                Ok(()) => break Ended::Detached,
                Err(_) => detach_open = false,
            },
        }
    };
    if let Some(task) = input {
        task.abort();
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_proxy_detaches() {
        let mut p = EscapeProxy::default();
        assert_eq!(p.filter(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(p.filter(b"zz"), (Vec::new(), true));
        let mut p = EscapeProxy::default();
        assert_eq!(p.filter(b"x"), (b"x".to_vec(), false));
    }

    #[test]
    fn demuxes_split_frames() {
        let mut frames = Vec::new();
        frames.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 3]);
        frames.extend_from_slice(b"abc");
        frames.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2]);
        frames.extend_from_slice(b"de");
        let mut got = Vec::new();
        let mut d = Demuxer::default();
        for b in &frames {
            d.feed(std::slice::from_ref(b), &mut |t, p| {
                got.push((t, p.to_vec()))
            });
        }
        assert_eq!(
            got,
            vec![
                (Target::Stdout, b"abc".to_vec()),
                (Target::Stderr, b"de".to_vec())
            ]
        );
    }
}
