//! Waiting for a process that is not our child to end, with a pidfd.

use std::os::fd::{FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// Open a pidfd for `pid`; `None` when the process is already gone.
pub fn open(pid: i32) -> Option<OwnedFd> {
    if pid <= 0 {
        return None;
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh descriptor we own.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Wait until the process behind `fd` has exited (the pidfd becomes readable).
pub async fn wait(fd: OwnedFd) {
    // SAFETY: we own `fd` and hand it over; nothing else closes it while registered.
    match unsafe { AsyncFd::register(fd) } {
        Ok(afd) => {
            if let Ok(mut guard) = afd.readable().await {
                guard.retain_ready();
            }
        }
        Err(e) => tracing::warn!("pidfd registration failed: {}", e.into_parts().1),
    }
}

/// Whether a process with this pid exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}
