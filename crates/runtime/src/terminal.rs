//! Pseudo-terminals: open inside the container, send the master over the console socket.

use crate::error::{Context, Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Connects to the console socket (in the runtime, before entering the container).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("connect console socket {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// A pty opened from the container's /dev/ptmx.
pub struct Pty {
    /// The master side.
    pub master: OwnedFd,
    /// The slave side.
    pub slave: OwnedFd,
    /// The slave's path (/dev/pts/N).
    pub path: PathBuf,
}

/// Opens a new pty through /dev/ptmx (must be the container's devpts).
pub fn open_pty(size: Option<(u16, u16)>) -> Result<Pty> {
    // SAFETY: open/ioctl on fds we own.
    unsafe {
        let m = libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if m < 0 {
            return Err(Error::last("open /dev/ptmx"));
        }
        let master = OwnedFd::from_raw_fd(m);
        let mut unlock: libc::c_int = 0;
        if libc::ioctl(m, libc::TIOCSPTLCK, &mut unlock) != 0 {
            return Err(Error::last("unlock pty"));
        }
        let mut n: libc::c_uint = 0;
        if libc::ioctl(m, libc::TIOCGPTN, &mut n) != 0 {
            return Err(Error::last("get pty number"));
        }
        let s = libc::ioctl(
            m,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        let slave = if s >= 0 {
            OwnedFd::from_raw_fd(s)
        } else {
            let p = std::ffi::CString::new(format!("/dev/pts/{n}")).unwrap_or_default();
            let s = libc::open(p.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            if s < 0 {
                return Err(Error::last("open pty slave"));
            }
            OwnedFd::from_raw_fd(s)
        };
        if let Some((rows, cols)) = size {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
        Ok(Pty {
            master,
            slave,
            path: PathBuf::from(format!("/dev/pts/{n}")),
        })
    }
}

/// Sends `fd` over the unix socket `sock` with SCM_RIGHTS (payload: the pty name).
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .ctx(|| "send pty master over console socket".into())?;
    Ok(())
}

/// Makes `slave` the controlling terminal and stdio of the calling process (after setsid).
pub fn make_controlling(slave: &OwnedFd) -> Result<()> {
    // SAFETY: ioctl/dup2 on a valid fd.
    unsafe {
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            return Err(Error::last("set controlling terminal"));
        }
        for t in 0..3 {
            if libc::dup2(slave.as_raw_fd(), t) < 0 {
                return Err(Error::last("dup2 pty slave"));
            }
        }
    }
    Ok(())
}
