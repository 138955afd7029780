//! Preparing the container's stdio and running `runtime create`.

use crate::args::Args;
use crate::{runtime, sys};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;

/// The created container's stdio as the monitor holds it.
pub struct Created {
    /// The container init's pid.
    pub pid: i32,
    /// Read end of the stdout pipe, or the pty master (tty).
    pub out: OwnedFd,
    /// Read end of the stderr pipe (none with a tty).
    pub err: Option<OwnedFd>,
    /// Where stdin bytes go: the stdin pipe's write end, or a dup of the pty master.
    pub stdin: Option<OwnedFd>,
    /// Whether `out` is a pty master.
    pub tty: bool,
}

/// Reads whatever is buffered in a pipe without waiting (the writers have exited).
fn slurp(fd: &OwnedFd) -> Vec<u8> {
    let _ = sys::set_nonblock(fd.as_raw_fd());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sys::read(fd.as_raw_fd(), &mut buf) {
        if n == 0 || out.len() > 64 * 1024 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn read_pid(a: &Args) -> Result<i32, String> {
    let p = a.socket_dir.join("pid");
    let s = std::fs::read_to_string(&p).map_err(|e| format!("reading {}: {e}", p.display()))?;
    s.trim()
        .parse::<i32>()
        .map_err(|_| format!("bad pid file {}: {s:?}", p.display()))
}

/// Runs `runtime create` with fresh stdio; `Err(message)` when it fails.
pub fn create(a: &Args) -> Result<Created, String> {
    let io = |e: std::io::Error| e.to_string();
    let pid_file = a.socket_dir.join("pid");
    let mut cmd = runtime::cmd(a);
    cmd.arg("create").arg("--bundle").arg(&a.bundle);
    cmd.arg("--pid-file").arg(&pid_file);
    if a.tty {
        let console = a.socket_dir.join("console.sock");
        let _ = std::fs::remove_file(&console);
        let listener = UnixListener::bind(&console).map_err(io)?;
        let (er, ew) = sys::pipe().map_err(io)?;
        let ew2 = ew.try_clone().map_err(io)?;
        cmd.arg("--console-socket").arg(&console).arg(&a.id);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(ew))
            .stderr(Stdio::from(ew2));
        let status = cmd.status();
        drop(cmd);
        let status = status.map_err(|e| format!("running {}: {e}", a.runtime.display()))?;
        let _ = std::fs::remove_file(&console);
        let chatter = slurp(&er);
        if !status.success() {
            return Err(runtime::error_message(&chatter, "runtime create failed"));
        }
        let master = receive_console(&listener)?;
        sys::set_nonblock(master.as_raw_fd()).map_err(io)?;
        let stdin = if a.stdin {
            Some(master.try_clone().map_err(io)?)
        } else {
            None
        };
        return Ok(Created {
            pid: read_pid(a)?,
            out: master,
            err: None,
            stdin,
            tty: true,
        });
    }
    let (or, ow) = sys::pipe().map_err(io)?;
    let (er, ew) = sys::pipe().map_err(io)?;
    let mut stdin_w = None;
    if a.stdin {
        let (ir, iw) = sys::pipe().map_err(io)?;
        cmd.stdin(Stdio::from(ir));
        stdin_w = Some(iw);
    } else {
        cmd.stdin(Stdio::null());
    }
    cmd.arg(&a.id)
        .stdout(Stdio::from(ow))
        .stderr(Stdio::from(ew));
    let status = cmd.status();
    drop(cmd); // closes our copies of the container's ends
    let status = status.map_err(|e| format!("running {}: {e}", a.runtime.display()))?;
    // The container has not exec'd yet: anything in the pipes is the runtime's.
    let err_text = slurp(&er);
    let out_text = slurp(&or);
    if !status.success() {
        let text = if err_text.iter().any(|b| !b.is_ascii_whitespace()) {
            err_text
        } else {
            out_text
        };
        return Err(runtime::error_message(&text, "runtime create failed"));
    }
    if let Some(w) = &stdin_w {
        sys::set_nonblock(w.as_raw_fd()).map_err(io)?;
    }
    Ok(Created {
        pid: read_pid(a)?,
        out: or,
        err: Some(er),
        stdin: stdin_w,
        tty: false,
    })
}

/// Accepts the runtime's connection on the console socket and takes the pty master.
fn receive_console(listener: &UnixListener) -> Result<OwnedFd, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                return sys::recv_fd(&s).map_err(|e| format!("console socket: {e}"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    return Err("runtime sent no console (is process.terminal true?)".into());
                }
                let mut p = [libc::pollfd {
                    fd: listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                let _ = sys::poll(&mut p, 100);
            }
            Err(e) => return Err(format!("console socket: {e}")),
        }
    }
}
