//! Noticing a container's exit record the moment the monitor writes it.
//!
//! The monitor writes `exit.json` (temp file + rename), closes its clients and only then runs
//! `runtime delete` and exits. Waiting for the monitor's own exit would put that delete on the
//! critical path of every `run --rm`; watching the file with inotify takes it off.
//! Written on raw inotify (a handful of syscalls) rather than a crate: all we need is one
//! directory watch per running container, driven by tokio's `AsyncFd`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tokio::io::unix::AsyncFd;

/// Resolves once `path` exists (created or renamed into place). Never resolves when the
/// directory cannot be watched; callers race it against the monitor's exit.
pub async fn appears(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return std::future::pending().await;
    };
    let Some(fd) = watch_dir(dir) else {
        return std::future::pending().await;
    };
    // The watch is in place before this check, so a file that lands in between is not missed.
    if path.exists() {
        return;
    }
    // SAFETY: we own `fd` and hand it over; nothing else closes it while registered.
    let Ok(afd) = (unsafe { AsyncFd::register(fd) }) else {
        return std::future::pending().await;
    };
    let name = name.as_bytes().to_vec();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return std::future::pending().await;
        };
        // SAFETY: reading into a buffer we own from an inotify fd we own.
        let n = unsafe {
            libc::read(
                afd.get_ref().as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n <= 0 {
            guard.clear_ready();
            if path.exists() {
                return;
            }
            continue;
        }
        if event_names(&buf[..n as usize]).any(|n| n == name.as_slice()) && path.exists() {
            return;
        }
    }
}

/// A non-blocking inotify fd watching `dir` for files created, written or moved in.
fn watch_dir(dir: &Path) -> Option<OwnedFd> {
    let cdir = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: plain syscalls; the fd is owned right away.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mask = libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE | libc::IN_CREATE;
        if libc::inotify_add_watch(fd.as_raw_fd(), cdir.as_ptr(), mask) < 0 {
            return None;
        }
        Some(fd)
    }
}

/// The file names carried by a buffer of inotify events.
fn event_names(mut buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let header = std::mem::size_of::<libc::inotify_event>();
    std::iter::from_fn(move || {
        if buf.len() < header {
            return None;
        }
        let len = u32::from_ne_bytes([buf[12], buf[13], buf[14], buf[15]]) as usize;
        let end = (header + len).min(buf.len());
        let raw = &buf[header..end];
        buf = &buf[end..];
        let name_len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Some(&raw[..name_len])
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sees_a_renamed_file() {
        let dir = std::env::temp_dir().join(format!("berth-exitwatch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("exit.json");
        let t2 = target.clone();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let tmp = t2.with_extension("tmp");
            std::fs::write(&tmp, b"{}").unwrap();
            std::fs::rename(&tmp, &t2).unwrap();
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), super::appears(&target))
            .await
            .expect("exit file noticed");
        writer.await.unwrap();
        // Already there: resolves at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), super::appears(&target))
            .await
            .expect("existing file noticed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
