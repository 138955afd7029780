//! Streaming reads of a json-file log and its rotated files, in bounded memory.
//!
//! `tail N` finds its starting point by reading the live file backwards in blocks (and
//! counting lines in the rotated files, newest first, only as far as needed); then every
//! selected file is read forward one line at a time, oldest first. `follow` keeps the live
//! file open and notices rotation (the path names a new inode: the old file is drained,
//! the new one read from its start) and truncation (`max-file=1`).

use monitor::logfile::{all_parts, LogPart};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Backward scan block size.
const BLOCK: usize = 64 * 1024;
/// A line longer than this (no json-file line the monitor writes comes close) is skipped.
const LINE_MAX: u64 = 1 << 20;
/// How often `follow` looks for new output.
const POLL: Duration = Duration::from_millis(100);

/// Receives the log's lines (without their `\n`); `false` stops the read.
pub trait Sink {
    /// One complete json-file line.
    fn line(&mut self, line: &[u8]) -> bool;
    /// Called when the reader has caught up (before waiting for more output).
    fn flush(&mut self) -> bool;
}

/// One file to read, opened, and where to start in it.
struct Start {
    file: File,
    gz: bool,
    live: bool,
    /// Byte offset (plain files).
    offset: u64,
    /// Lines to skip first (compressed files).
    skip: u64,
}

/// Counts `\n` backwards from the end of `f` until `n + 1` are seen: returns the offset
/// where the last `n` complete lines start and how many complete lines that is (fewer
/// than `n` if the file has fewer).
pub fn tail_offset(f: &mut File, n: u64) -> io::Result<(u64, u64)> {
    let mut pos = f.metadata()?.len();
    let mut buf = vec![0u8; BLOCK];
    let mut seen = 0u64;
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK as u64);
        let len = (pos - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..len])?;
        for i in (0..len).rev() {
            if buf[i] == b'\n' {
                seen += 1;
                if seen == n + 1 {
                    return Ok((start + i as u64 + 1, n));
                }
            }
        }
        pos = start;
    }
    Ok((0, seen))
}

fn count_lines(r: impl Read) -> io::Result<u64> {
    let mut r = BufReader::with_capacity(BLOCK, r);
    let mut n = 0u64;
    loop {
        let b = r.fill_buf()?;
        if b.is_empty() {
            return Ok(n);
        }
        n += b.iter().filter(|&&c| c == b'\n').count() as u64;
        let l = b.len();
        r.consume(l);
    }
}

fn gz(f: File) -> flate2::read::GzDecoder<File> {
    flate2::read::GzDecoder::new(f)
}

fn open_part(p: &LogPart, live: &Path) -> Option<Start> {
    let file = File::open(&p.path).ok()?;
    Some(Start {
        file,
        gz: p.gz,
        live: p.path == live,
        offset: 0,
        skip: 0,
    })
}

/// The files to read and where, oldest first, for `tail` (`None` = everything).
fn plan(live: &Path, tail: Option<u64>) -> Vec<Start> {
    let parts = all_parts(live);
    let Some(n) = tail else {
        return parts.iter().filter_map(|p| open_part(p, live)).collect();
    };
    let mut need = n;
    let mut out = Vec::new();
    for p in parts.iter().rev() {
        if need == 0 {
            break;
        }
        let Some(mut s) = open_part(p, live) else {
            continue;
        };
        if s.gz {
            let Ok(f) = s.file.try_clone() else { continue };
            let count = count_lines(gz(f)).unwrap_or(0);
            s.skip = count.saturating_sub(need);
            need -= count.min(need);
            // Reopen: the decoder consumed the clone's shared offset.
            let Some(fresh) = open_part(p, live) else {
                continue;
            };
            s.file = fresh.file;
        } else {
            let Ok((off, found)) = tail_offset(&mut s.file, need) else {
                continue;
            };
            s.offset = off;
            need -= found;
        }
        out.push(s);
    }
    out.reverse();
    out
}

/// Reads complete lines from `r` into the sink; a trailing partial line stays in `buf`
/// for the next call. Returns `false` if the sink stopped.
fn pump(r: &mut impl BufRead, buf: &mut Vec<u8>, skipping: &mut bool, sink: &mut dyn Sink) -> bool {
    loop {
        let room = LINE_MAX.saturating_sub(buf.len() as u64).max(1);
        match r.by_ref().take(room).read_until(b'\n', buf) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
        if buf.last() == Some(&b'\n') {
            if !*skipping {
                buf.pop();
                if !sink.line(buf) {
                    return false;
                }
            }
            *skipping = false;
            buf.clear();
        } else if buf.len() as u64 >= LINE_MAX {
            *skipping = true;
            buf.clear();
        }
    }
}

/// Streams a log: the `tail` last lines (or all), then with `follow` new lines until
/// `running()` turns false (checked before each catch-up, so the final output is read).
pub fn read(
    live: &Path,
    tail: Option<u64>,
    follow: bool,
    running: &mut dyn FnMut() -> bool,
    sink: &mut dyn Sink,
) {
    let starts = plan(live, tail);
    let mut cur: Option<(BufReader<File>, u64)> = None;
    for mut s in starts {
        let mut buf = Vec::new();
        let mut skipping = false;
        if s.gz {
            let mut r = BufReader::with_capacity(BLOCK, gz(s.file));
            let mut line = Vec::new();
            while s.skip > 0 {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => s.skip -= 1,
                }
            }
            if !pump(&mut r, &mut buf, &mut skipping, sink) {
                return;
            }
            continue;
        }
        if s.file.seek(SeekFrom::Start(s.offset)).is_err() {
            continue;
        }
        let ino = s.file.metadata().map(|m| m.ino()).unwrap_or(0);
        let mut r = BufReader::with_capacity(BLOCK, s.file);
        if !pump(&mut r, &mut buf, &mut skipping, sink) {
            return;
        }
        if s.live {
            cur = Some((r, ino));
        }
    }
    if !sink.flush() || !follow {
        return;
    }
    if tail == Some(0) || cur.is_none() {
        // Start following at the live file's end (tail 0) or wherever it appears.
        cur = File::open(live).ok().and_then(|mut f| {
            let ino = f.metadata().ok()?.ino();
            if tail == Some(0) {
                let (off, _) = tail_offset(&mut f, 0).ok()?;
                f.seek(SeekFrom::Start(off)).ok()?;
            }
            Some((BufReader::with_capacity(BLOCK, f), ino))
        });
    }
    follow_live(live.to_path_buf(), cur, running, sink);
}

fn follow_live(
    live: PathBuf,
    mut cur: Option<(BufReader<File>, u64)>,
    running: &mut dyn FnMut() -> bool,
    sink: &mut dyn Sink,
) {
    let mut buf = Vec::new();
    let mut skipping = false;
    loop {
        let still = running();
        if let Some((r, ino)) = cur.as_mut() {
            if !pump(r, &mut buf, &mut skipping, sink) {
                return;
            }
            match std::fs::metadata(&live) {
                Ok(m) if m.ino() != *ino => {
                    // Rotated: the monitor wrote its last lines to the old file before
                    // renaming it, so one more read gets them all; then the new file.
                    if !pump(r, &mut buf, &mut skipping, sink) {
                        return;
                    }
                    buf.clear();
                    skipping = false;
                    cur = File::open(&live).ok().and_then(|f| {
                        let ino = f.metadata().ok()?.ino();
                        Some((BufReader::with_capacity(BLOCK, f), ino))
                    });
                    if !sink.flush() {
                        return;
                    }
                    continue;
                }
                Ok(m) => {
                    if let Ok(pos) = r.stream_position() {
                        if m.len() < pos {
                            // Truncated (max-file=1): start over at its beginning.
                            buf.clear();
                            skipping = false;
                            let _ = r.seek(SeekFrom::Start(0));
                        }
                    }
                }
                Err(_) => {}
            }
        } else {
            cur = File::open(&live).ok().and_then(|f| {
                let ino = f.metadata().ok()?.ino();
                Some((BufReader::with_capacity(BLOCK, f), ino))
            });
            if cur.is_some() {
                continue;
            }
        }
        if !sink.flush() || !still {
            return;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor::logfile::{LogWriter, Rotation};

    struct Collect(Vec<String>);
    impl Sink for Collect {
        fn line(&mut self, l: &[u8]) -> bool {
            self.0.push(String::from_utf8_lossy(l).into_owned());
            true
        }
        fn flush(&mut self) -> bool {
            true
        }
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-logread-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn get(live: &Path, tail: Option<u64>) -> Vec<String> {
        let mut c = Collect(Vec::new());
        read(live, tail, false, &mut || false, &mut c);
        c.0
    }

    #[test]
    fn tail_across_rotated_and_compressed_files() {
        for compress in [false, true] {
            let d = tmpdir(if compress { "gz" } else { "plain" });
            let live = d.join("x-json.log");
            let rot = Rotation {
                max_size: 300,
                max_file: 4,
                compress,
            };
            let mut w = LogWriter::open(&live, rot).unwrap();
            for i in 0..100 {
                w.write(format!("line {i:04}\n").as_bytes()).unwrap();
            }
            w.write(b"partial").unwrap();
            w.finish();
            let all = get(&live, None);
            let first: u32 = all[0][5..].parse().unwrap();
            assert_eq!(all.len() as u32, 100 - first);
            for (k, l) in all.iter().enumerate() {
                assert_eq!(*l, format!("line {:04}", first + k as u32));
            }
            for n in [1u64, 5, 30, 70, 1000] {
                let t = get(&live, Some(n));
                let want = &all[all.len().saturating_sub(n as usize)..];
                assert_eq!(t, want, "tail {n} compress {compress}");
            }
            assert!(get(&live, Some(0)).is_empty());
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn tail_offset_counts_from_end() {
        let d = tmpdir("off");
        let p = d.join("f");
        let mut body = String::new();
        for i in 0..50_000 {
            body.push_str(&format!("{i}\n"));
        }
        std::fs::write(&p, &body).unwrap();
        let mut f = File::open(&p).unwrap();
        let (off, n) = tail_offset(&mut f, 2).unwrap();
        assert_eq!(n, 2);
        assert_eq!(&body[off as usize..], "49998\n49999\n");
        let (off, n) = tail_offset(&mut f, 60_000).unwrap();
        assert_eq!((off, n), (0, 50_000));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
