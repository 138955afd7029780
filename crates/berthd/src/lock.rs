//! The data root's owner lock: `D/berthd.lock`, held with `flock` for the daemon's whole life
//! and holding its pid, so that a second daemon on the same data root is told who owns it and a
//! daemon started right after the previous one got SIGTERM waits for it to finish instead of
//! failing on the databases' locks.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the lock file inside the data root.
pub const LOCK_FILE: &str = "berthd.lock";

/// Why the data root could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live daemon holds the lock.
    #[error("data root {root} is in use by another berthd (pid {pid}); stop it first or use another --data-root")]
    Busy {
        /// The data root.
        root: PathBuf,
        /// The other daemon's pid as written in the lock file ("unknown" if unreadable).
        pid: String,
    },
    /// The lock file could not be opened or written.
    #[error("lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The held lock; released when the process exits (or when dropped).
#[derive(Debug)]
pub struct DataRootLock {
    _file: File,
}

fn try_flock(f: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a valid, owned descriptor.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Locks `data_root`, waiting up to `wait` for a daemon that is shutting down, then writes
/// our pid into the lock file.
pub fn acquire(data_root: &Path, wait: Duration) -> Result<DataRootLock, LockError> {
    let path = data_root.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(io)?;
    let deadline = Instant::now() + wait;
    loop {
        if try_flock(&file).map_err(io)? {
            break;
        }
        if Instant::now() >= deadline {
            let mut s = String::new();
            let _ = file.read_to_string(&mut s);
            let pid = match s.trim() {
                "" => "unknown".to_string(),
                p => p.to_string(),
            };
            return Err(LockError::Busy {
                root: data_root.to_path_buf(),
                pid,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(io)?;
    file.flush().map_err(io)?;
    Ok(DataRootLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder() {
        let dir = std::env::temp_dir().join(format!("berthd-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = acquire(&dir, Duration::ZERO).unwrap();
        // flock locks belong to the open file description: a second open conflicts.
        let err = acquire(&dir, Duration::from_millis(120)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        assert!(acquire(&dir, Duration::ZERO).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
