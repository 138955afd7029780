//! Local terminal handling: raw mode and window size.

use std::os::fd::BorrowedFd;

use nix::sys::termios::{self, SetArg, Termios};

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

/// True when `fd` is a terminal.
pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// The terminal size (rows, cols) of stdout, else stdin; `None` when neither is a tty.
pub fn size() -> Option<(u16, u16)> {
    for fd in [1, 0] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes into the winsize struct we own.
        if unsafe { tiocgwinsz(fd, &mut ws) }.is_ok() && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Puts stdin into raw mode while alive; restores it on drop.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Enters raw mode on stdin when it is a terminal.
    pub fn enter() -> Option<RawMode> {
        if !is_tty(0) {
            return None;
        }
        // SAFETY: fd 0 stays open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(0) };
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: fd 0 stays open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(0) };
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &self.saved);
    }
}
