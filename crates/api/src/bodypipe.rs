//! Hands a streamed request body (tarballs of import, load and build) from the async side
//! to a blocking reader, chunk by chunk, with backpressure (a bounded channel).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Chunks a bounded pipe holds before the body pump waits for the reader.
const PIPE_CHUNKS: usize = 16;

/// The blocking end of a body pipe: reads the chunks in order; EOF once the pump is done.
pub struct BodyReader {
    rx: Receiver<Bytes>,
    cur: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// A new pipe: give the sender to [`pump`] and the reader to a blocking job.
pub fn pipe() -> (SyncSender<Bytes>, BodyReader) {
    let (tx, rx) = sync_channel::<Bytes>(PIPE_CHUNKS);
    (
        tx,
        BodyReader {
            rx,
            cur: Bytes::new(),
        },
    )
}

/// Forwards `body`'s data frames into `tx` until the body ends or the reader hangs up; then
/// drops `tx` (the reader sees EOF). Returns the body's error, if reading it failed.
pub async fn pump(body: Incoming, tx: SyncSender<Bytes>) -> Option<String> {
    let mut body = body;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    let tx2 = tx.clone();
                    // The channel is bounded: send from the blocking pool.
                    let sent = tokio::task::spawn_blocking(move || tx2.send(d).is_ok())
                        .await
                        .unwrap_or(false);
                    if !sent {
                        break;
                    }
                }
            }
            Err(e) => return Some(e.to_string()),
        }
    }
    None
}
