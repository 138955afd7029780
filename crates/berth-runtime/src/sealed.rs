//! Protection against CVE-2019-5736: the runtime re-executes itself from a sealed memfd copy
//! before it forks anything that enters a container.
//!
//! Why memfd and not runc's newer read-only overlay/bind mount of the binary: the overlay
//! trick needs a private mount namespace, overlayfs support and careful cleanup for every
//! invocation, and it still leaves `/proc/<pid>/exe` pointing at a file on a host
//! filesystem. A memfd sealed with `F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL`
//! is an anonymous in-memory file that nobody — not even root on the host — can modify, so a
//! container process that reaches it through `/proc/<pid>/exe` (or an fd it opened there)
//! can at worst read it. The price is one copy of the binary (a few MB, ~1 ms) per
//! `create`/`run`/`exec`; the other commands never enter a container and skip it.

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Set across the re-exec so that a kernel without working seals cannot loop forever.
const GUARD: &str = "_BERTH_RUNTIME_SEALED";

/// True when the running executable is a memfd carrying all of [`SEALS`].
pub fn running_sealed() -> bool {
    let Ok(f) = File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: fcntl on a valid fd.
    let s = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    s >= 0 && s & SEALS == SEALS
}

/// Makes sure the process runs from a sealed memfd copy of its executable: returns `Ok` when it
/// already does, otherwise copies `/proc/self/exe` into a memfd, seals it and `execveat`s it with
/// the same arguments and environment (does not return on success).
pub fn ensure_sealed() -> Result<()> {
    let again = std::env::var_os(GUARD).is_some();
    if again {
        // SAFETY (of the program): still single-threaded here.
        std::env::remove_var(GUARD);
    }
    if running_sealed() {
        // The kernel names the re-executed process after the fd number; restore the name.
        // SAFETY: prctl with a NUL-terminated name.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-runtime".as_ptr(), 0, 0, 0) };
        return Ok(());
    }
    if again {
        bail!("re-executed from a memfd but /proc/self/exe is not sealed");
    }
    let src = File::open("/proc/self/exe").context("open /proc/self/exe")?;
    let len = src.metadata().context("stat /proc/self/exe")?.len();
    // SAFETY: memfd_create with a constant name.
    let fd = unsafe {
        libc::memfd_create(
            c"berth-runtime".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create");
    }
    // SAFETY: fd is fresh and owned here.
    let mem = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut left = len;
    while left > 0 {
        // SAFETY: sendfile between two valid fds, kernel-managed offsets.
        let n = unsafe {
            libc::sendfile(
                mem.as_raw_fd(),
                src.as_raw_fd(),
                std::ptr::null_mut(),
                left.min(1 << 30) as usize,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("copy the runtime into a memfd");
        }
        if n == 0 {
            bail!("copy the runtime into a memfd: short read");
        }
        left -= n as u64;
    }
    drop(src);
    // SAFETY: fcntl on a valid fd.
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return Err(std::io::Error::last_os_error()).context("seal the runtime memfd");
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()
        .context("argument with a NUL byte")?;
    let env: Vec<CString> = std::env::vars_os()
        .chain([(GUARD.into(), "1".into())])
        .map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend_from_slice(&v.into_encoded_bytes());
            CString::new(b)
        })
        .collect::<Result<_, _>>()
        .context("environment with a NUL byte")?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NUL-terminated argv/envp that outlive the call; AT_EMPTY_PATH executes the fd
    // itself (close-on-exec is fine for an ELF binary).
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            mem.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(std::io::Error::last_os_error()).context("re-execute the runtime from its sealed memfd")
}
