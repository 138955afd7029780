//! Running iproute2 / nftables.
//!
//! The per-container link work (veths, addresses, routes, loopback) is in-process netlink
//! (`crate::netlink`); the `ip` command remains for rare operations (bridge creation once
//! per network, macvlan/ipvlan creation, host route queries). Firewall rules go through
//! `nft -f -` scripts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{NetworkError, Result};

/// Run `prog args...`, return stdout; a non-zero exit becomes [`NetworkError::Command`].
pub(crate) fn run(prog: &str, args: &[&str]) -> Result<String> {
    run_input(prog, args, None)
}

/// Like [`run`], feeding `input` on stdin.
pub(crate) fn run_input(prog: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let line = format!("{prog} {}", args.join(" "));
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetworkError::Command {
            cmd: line.clone(),
            stderr: e.to_string(),
        })?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(data.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::Command {
            cmd: line.clone(),
            stderr: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(NetworkError::Command {
            cmd: line,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip args...` in the host's netns.
pub(crate) fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// Whether a link named `name` exists in the host netns.
pub(crate) fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Write a sysctl under /proc/sys (`key` with dots), ignoring a missing key.
pub(crate) fn sysctl(key: &str, value: &str) -> Result<()> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    match std::fs::write(&path, value) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetworkError::io("write sysctl", path, e)),
    }
}
