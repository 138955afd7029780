//! Attach protocol constants and docker's multiplexed stream framing.
//!
//! Without a TTY each chunk is an 8-byte header (byte 0: stream — 0 stdin, 1 stdout,
//! 2 stderr, 3 system error; three zero bytes; big-endian u32 payload length) then the
//! payload. With a TTY bytes are sent raw.

use std::io::{self, Read};

/// Attach flag: the client sends stdin.
pub const ATTACH_STDIN: u8 = 1;
/// Attach flag: the client wants stdout.
pub const ATTACH_STDOUT: u8 = 2;
/// Attach flag: the client wants stderr.
pub const ATTACH_STDERR: u8 = 4;

/// Stream byte for stdin frames.
pub const STREAM_STDIN: u8 = 0;
/// Stream byte for stdout frames.
pub const STREAM_STDOUT: u8 = 1;
/// Stream byte for stderr frames.
pub const STREAM_STDERR: u8 = 2;
/// Stream byte for system-error frames.
pub const STREAM_SYSTEM: u8 = 3;

/// The 8-byte header of a frame of `len` payload bytes on `stream`.
pub fn header(stream: u8, len: u32) -> [u8; 8] {
    let l = len.to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Reads one frame; `Ok(None)` at a clean end of stream (EOF before a header).
pub fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((h[0], payload)))
}
