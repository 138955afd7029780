//! Running the OCI runtime's subcommands.

use crate::args::Args;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// A command line `RUNTIME --root R <sub...>`.
pub fn cmd(a: &Args) -> Command {
    let mut c = Command::new(&a.runtime);
    c.arg("--root").arg(&a.runtime_root);
    // The monitor blocks TERM/INT/HUP/QUIT/CHLD for its signalfd; the runtime (and through
    // it the container) must start with an empty mask.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    c
}

/// Picks the message out of a runtime's stderr: the last non-empty line, and for a
/// logrus-style line (`time=... level=error msg="..."`) just the quoted message.
pub fn error_message(stderr: &[u8], fallback: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).rev().find(|l| !l.is_empty());
    let Some(line) = line else {
        return fallback.to_string();
    };
    let msg = match line.find("msg=\"") {
        Some(i) => {
            let mut out = String::new();
            let mut chars = line[i + 5..].chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => break,
                    c => out.push(c),
                }
            }
            out
        }
        None => line.to_string(),
    };
    msg.replace(['\n', '\r'], " ")
}

/// `runtime start ID`: `Ok(())` or the runtime's error message.
pub fn start(a: &Args) -> Result<(), String> {
    let out = cmd(a)
        .arg("start")
        .arg(&a.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running {}: {e}", a.runtime.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(error_message(&out.stderr, "runtime start failed"))
    }
}

/// `runtime delete --force ID`, errors ignored (the container may be gone already).
pub fn delete(a: &Args) {
    let _ = cmd(a)
        .arg("delete")
        .arg("--force")
        .arg(&a.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
