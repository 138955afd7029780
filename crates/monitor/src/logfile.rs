//! The json-file log on disk: the writer with Docker's rotation (`max-size`, `max-file`,
//! `compress`) and the naming of the rotated files, shared with the engine's reader.
//!
//! Layout, as Docker's json-file driver: the live file `<id>-json.log`, then the rotated
//! files `<id>-json.log.1` (newest) … `<id>-json.log.<max-file - 1>` (oldest), each with a
//! `.gz` suffix when `compress` is set. Compression of a freshly rotated file runs on a
//! background thread, so the container's output never waits on gzip (the next rotation
//! waits only if the previous file is still being compressed).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Rotation settings (Docker's `--log-opt max-size/max-file/compress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate when the live file would pass this many bytes (0 = never).
    pub max_size: u64,
    /// Files kept, the live one included (0 or 1 = the live file only, truncated at
    /// `max_size`).
    pub max_file: u32,
    /// Gzip rotated files (`.N.gz`).
    pub compress: bool,
}

/// The path of the `n`th rotated file (`n` ≥ 1), with `.gz` if `gz`.
pub fn rotated_path(live: &Path, n: u32, gz: bool) -> PathBuf {
    let mut s = live.as_os_str().to_owned();
    s.push(format!(".{n}"));
    if gz {
        s.push(".gz");
    }
    PathBuf::from(s)
}

/// One file of a log, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPart {
    /// Its path.
    pub path: PathBuf,
    /// Whether it is gzip-compressed.
    pub gz: bool,
}

/// The rotated files of a log that exist now, oldest first (the live file excluded).
/// When both `.N` and `.N.gz` exist (compression just finishing) the plain one is used.
pub fn rotated_parts(live: &Path) -> Vec<LogPart> {
    let mut out = Vec::new();
    for n in 1..=10_000u32 {
        let plain = rotated_path(live, n, false);
        let gz = rotated_path(live, n, true);
        if plain.exists() {
            out.push(LogPart {
                path: plain,
                gz: false,
            });
        } else if gz.exists() {
            out.push(LogPart { path: gz, gz: true });
        } else {
            break;
        }
    }
    out.reverse();
    out
}

/// Every file of a log, the rotated ones and the live one last (if each exists).
pub fn all_parts(live: &Path) -> Vec<LogPart> {
    let mut v = rotated_parts(live);
    if live.exists() {
        v.push(LogPart {
            path: live.to_path_buf(),
            gz: false,
        });
    }
    v
}

fn open_live(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600) // container output may hold secrets: root only
        .open(path)
}

/// Gzips `src` into `dst` (through `dst.tmp`, renamed when complete), then removes `src`.
pub fn compress_file(src: &Path, dst: &Path) -> io::Result<()> {
    let mut tmp = dst.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut input = File::open(src)?;
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600) // container output may hold secrets: root only
        .open(&tmp)?;
    let mut enc =
        flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::fast());
    io::copy(&mut input, &mut enc)?;
    enc.finish()?.flush()?;
    std::fs::rename(&tmp, dst)?;
    std::fs::remove_file(src)
}

/// Appends json-file lines to the live file, rotating as Docker does.
pub struct LogWriter {
    path: PathBuf,
    rot: Rotation,
    file: File,
    size: u64,
    compressor: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Opens (creates, appends to) the live file.
    pub fn open(path: &Path, rot: Rotation) -> io::Result<LogWriter> {
        let file = open_live(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            rot,
            file,
            size,
            compressor: None,
        })
    }

    /// Writes whole lines; rotates first when they would take the live file past
    /// `max_size` (a file always gets at least one write, so a long line never loops).
    pub fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.rot.max_size > 0
            && self.size > 0
            && self.size + buf.len() as u64 > self.rot.max_size
        {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Flushes the live file's data to disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.rot.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        if let Some(h) = self.compressor.take() {
            let _ = h.join();
        }
        let gz = self.rot.compress;
        let last = self.rot.max_file - 1;
        let _ = std::fs::remove_file(rotated_path(&self.path, last, gz));
        for n in (1..last).rev() {
            let from = rotated_path(&self.path, n, gz);
            if from.exists() {
                std::fs::rename(&from, rotated_path(&self.path, n + 1, gz))?;
            }
        }
        let first = rotated_path(&self.path, 1, false);
        std::fs::rename(&self.path, &first)?;
        self.file = open_live(&self.path)?;
        self.size = 0;
        if gz {
            let dst = rotated_path(&self.path, 1, true);
            self.compressor = Some(std::thread::spawn(move || {
                let _ = compress_file(&first, &dst);
            }));
        }
        Ok(())
    }

    /// Waits for a compression still running (call before exiting).
    pub fn finish(&mut self) {
        if let Some(h) = self.compressor.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-logfile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rotates_and_keeps_max_file() {
        let d = tmpdir("plain");
        let live = d.join("x-json.log");
        let rot = Rotation {
            max_size: 100,
            max_file: 3,
            compress: false,
        };
        let mut w = LogWriter::open(&live, rot).unwrap();
        for i in 0..50 {
            w.write(format!("line {i:04} padding padding\n").as_bytes())
                .unwrap();
        }
        w.finish();
        let parts = all_parts(&live);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(!rotated_path(&live, 3, false).exists());
        for p in &parts {
            assert!(std::fs::metadata(&p.path).unwrap().len() <= 100);
        }
        let last = std::fs::read_to_string(&live).unwrap();
        assert!(last.ends_with("line 0049 padding padding\n"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn compresses_rotated_files() {
        let d = tmpdir("gz");
        let live = d.join("x-json.log");
        let rot = Rotation {
            max_size: 200,
            max_file: 3,
            compress: true,
        };
        let mut w = LogWriter::open(&live, rot).unwrap();
        for i in 0..60 {
            w.write(format!("line {i:04} padding padding\n").as_bytes())
                .unwrap();
        }
        w.finish();
        let parts = rotated_parts(&live);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(parts.iter().all(|p| p.gz));
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(&parts[1].path).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert!(s.starts_with("line "), "{s}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn max_file_one_truncates() {
        let d = tmpdir("one");
        let live = d.join("x-json.log");
        let rot = Rotation {
            max_size: 50,
            max_file: 1,
            compress: false,
        };
        let mut w = LogWriter::open(&live, rot).unwrap();
        for _ in 0..20 {
            w.write(b"0123456789\n").unwrap();
        }
        assert!(std::fs::metadata(&live).unwrap().len() <= 50);
        assert!(rotated_parts(&live).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
