//! Drives a program on a real pseudo-terminal, the way a user types into `docker run -it`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;

/// A child process whose stdin/stdout/stderr are the slave side of a pty.
pub struct PtySession {
    master: OwnedFd,
    /// The child (the CLI under test).
    pub child: Child,
    /// Everything read from the terminal so far.
    pub transcript: String,
}

impl PtySession {
    /// Spawns `cmd` as the session leader of a new pty (80x24).
    pub fn spawn(mut cmd: Command) -> PtySession {
        let ws = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&ws), None).expect("openpty");
        let slave = pty.slave;
        let s_in = slave.try_clone().expect("dup");
        let s_out = slave.try_clone().expect("dup");
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .stdin(Stdio::from(s_in))
            .stdout(Stdio::from(s_out))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("spawn on pty");
        PtySession {
            master: pty.master,
            child,
            transcript: String::new(),
        }
    }

    /// Types `text` into the terminal.
    pub fn send(&mut self, text: &str) {
        nix::unistd::write(&self.master, text.as_bytes()).expect("write pty");
    }

    /// Reads until `needle` shows up in the transcript (true) or `timeout` passes (false).
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.transcript.contains(needle) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ms = left.as_millis().min(1000) as u16;
            let mut fds = [PollFd::new(
                unsafe { std::os::fd::BorrowedFd::borrow_raw(self.master.as_raw_fd()) },
                PollFlags::POLLIN,
            )];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(n) if n > 0 => {
                    let mut buf = [0u8; 4096];
                    match nix::unistd::read(self.master.as_raw_fd(), &mut buf) {
                        Ok(0) | Err(_) => return self.transcript.contains(needle),
                        Ok(n) => self
                            .transcript
                            .push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
                _ => {}
            }
        }
    }

    /// Waits for the child to exit (at most `timeout`), returning its exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            // Keep draining so the child never blocks on a full terminal.
            let _ = self.expect("\u{0}never\u{0}", Duration::from_millis(50));
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
        }
    }
}
