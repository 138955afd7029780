//! The engine's side of the monitor: start one, and talk to its sockets.
//!
//! `S` below is [`MonitorConfig::socket_dir`]: `S/ctl.sock` takes one-line commands
//! (`start`, `resize ROWS COLS`, `ping`; answers `ok [...]` or `error MESSAGE`), and
//! `S/attach.sock` streams the container's stdio (see [`attach`]).

use crate::error::{MonitorError, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Everything a monitor needs to create and watch one container.
#[derive(Debug, Clone, Default)]
pub struct MonitorConfig {
    /// Path of the `berth-monitor` executable.
    pub monitor_bin: PathBuf,
    /// Container id (passed to the runtime).
    pub id: String,
    /// The OCI runtime executable (berth-runtime, runc, ...).
    pub runtime: PathBuf,
    /// The runtime's `--root`.
    pub runtime_root: PathBuf,
    /// The OCI bundle directory (holding `config.json`).
    pub bundle: PathBuf,
    /// Directory for `ctl.sock` / `attach.sock` (created by the monitor, removed at exit;
    /// keep it short: unix socket paths must stay under 108 bytes).
    pub socket_dir: PathBuf,
    /// The docker json-file log (appended to).
    pub log_file: PathBuf,
    /// Where the exit record goes (written atomically at container exit).
    pub exit_file: PathBuf,
    /// Run the container's process on a pty (`process.terminal` must be true in the bundle).
    pub tty: bool,
    /// Give the container a stdin pipe fed by attach clients (else /dev/null).
    pub stdin: bool,
    /// Rotation of the json-file log (`--log-opt max-size/max-file/compress`).
    pub log_rotation: crate::logfile::Rotation,
    /// Write no log at all (`--log-driver none`; `log_file` is then unused).
    pub log_none: bool,
}

impl MonitorConfig {
    /// The `berth-monitor` command line for this config (without the executable).
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = Vec::new();
        let mut push = |k: &str, v: &std::ffi::OsStr| {
            a.push(k.into());
            a.push(v.to_owned());
        };
        push("--id", self.id.as_ref());
        push("--runtime", self.runtime.as_os_str());
        push("--runtime-root", self.runtime_root.as_os_str());
        push("--bundle", self.bundle.as_os_str());
        push("--socket-dir", self.socket_dir.as_os_str());
        push("--log-file", self.log_file.as_os_str());
        push("--exit-file", self.exit_file.as_os_str());
        let r = self.log_rotation;
        if r.max_size > 0 {
            push("--log-max-size", r.max_size.to_string().as_ref());
            push("--log-max-file", r.max_file.max(1).to_string().as_ref());
        }
        if self.tty {
            a.push("--tty".into());
        }
        if self.stdin {
            a.push("--stdin".into());
        }
        if r.compress {
            a.push("--log-compress".into());
        }
        if self.log_none {
            a.push("--no-log".into());
        }
        a
    }
}

/// A monitor that has created its container (not started yet: call [`start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    /// The monitor's pid (not a child of the caller).
    pub monitor_pid: i32,
    /// The container init's pid (in the host pid namespace).
    pub container_pid: i32,
}

/// Starts a detached monitor, which runs `runtime create`. Returns once the container is
/// created; a runtime failure comes back as [`MonitorError::Runtime`] with the runtime's
/// message (the monitor has then cleaned up and exited).
pub fn spawn(cfg: &MonitorConfig) -> Result<Spawned> {
    let mut child = Command::new(&cfg.monitor_bin)
        .args(cfg.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    let read = match child.stdout.take() {
        Some(out) => BufReader::new(out).read_line(&mut line),
        None => Ok(0),
    };
    // The first process forks the real monitor and exits at once: reap it.
    let status = child.wait()?;
    read?;
    parse_report(line.trim_end(), status)
}

fn parse_report(line: &str, status: std::process::ExitStatus) -> Result<Spawned> {
    if let Some(rest) = line.strip_prefix("ready ") {
        let mut it = rest.split_whitespace().map(str::parse::<i32>);
        if let (Some(Ok(m)), Some(Ok(c))) = (it.next(), it.next()) {
            return Ok(Spawned {
                monitor_pid: m,
                container_pid: c,
            });
        }
    } else if let Some(msg) = line.strip_prefix("error ") {
        return Err(MonitorError::Runtime(msg.to_string()));
    } else if line.is_empty() {
        return Err(MonitorError::Protocol(format!(
            "monitor exited without a report ({status})"
        )));
    }
    Err(MonitorError::Protocol(format!("bad report {line:?}")))
}

/// `S/ctl.sock`.
pub fn ctl_path(socket_dir: &Path) -> PathBuf {
    socket_dir.join("ctl.sock")
}

/// `S/attach.sock`.
pub fn attach_path(socket_dir: &Path) -> PathBuf {
    socket_dir.join("attach.sock")
}

/// Sends one ctl command and returns the text after `ok` (trimmed).
fn ctl(socket_dir: &Path, cmd: &str, timeout: Duration) -> Result<String> {
    let mut s = UnixStream::connect(ctl_path(socket_dir))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(cmd.as_bytes())?;
    s.write_all(b"\n")?;
    let mut answer = String::new();
    BufReader::new(s.take(64 * 1024)).read_line(&mut answer)?;
    let answer = answer.trim_end();
    if answer == "ok" {
        Ok(String::new())
    } else if let Some(rest) = answer.strip_prefix("ok ") {
        Ok(rest.to_string())
    } else if let Some(msg) = answer.strip_prefix("error ") {
        Err(MonitorError::Runtime(msg.to_string()))
    } else {
        Err(MonitorError::Protocol(format!(
            "bad answer to {cmd:?}: {answer:?}"
        )))
    }
}

/// Starts the created container (`runtime start`).
pub fn start(socket_dir: &Path) -> Result<()> {
    ctl(socket_dir, "start", Duration::from_secs(60)).map(|_| ())
}

/// Sets the pty window size (TIOCSWINSZ on the master). An error without a TTY.
pub fn resize(socket_dir: &Path, rows: u16, cols: u16) -> Result<()> {
    ctl(
        socket_dir,
        &format!("resize {rows} {cols}"),
        Duration::from_secs(5),
    )
    .map(|_| ())
}

/// Checks the monitor is alive; returns the container's pid.
pub fn ping(socket_dir: &Path) -> Result<i32> {
    let rest = ctl(socket_dir, "ping", Duration::from_secs(5))?;
    rest.trim()
        .parse()
        .map_err(|_| MonitorError::Protocol(format!("bad ping answer {rest:?}")))
}

/// Connects to `S/attach.sock` and sends `flags` (`ATTACH_STDIN|ATTACH_STDOUT|ATTACH_STDERR`).
/// Read output from the stream (docker framing without a TTY, raw bytes with one); write
/// stdin to it; `shutdown(Write)` closes the container's stdin.
pub fn attach(socket_dir: &Path, flags: u8) -> Result<UnixStream> {
    let mut s = UnixStream::connect(attach_path(socket_dir))?;
    s.write_all(&[flags])?;
    Ok(s)
}
