//! The last steps in the container process: rlimits, user, capabilities, cwd, executable
//! lookup, and execve.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, Process};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

fn rlimit_resource(name: &str) -> Option<u32> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// Applies process.rlimits.
pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().iter().flatten() {
        let name = r.typ().to_string();
        let res = rlimit_resource(&name)
            .ok_or_else(|| Error::Config(format!("unknown rlimit {name}")))?;
        let l = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(res, &l) } != 0 {
            return Err(Error::last(format!(
                "setrlimit {name} {}:{}",
                r.soft(),
                r.hard()
            )));
        }
    }
    Ok(())
}

fn to_caps(set: &Option<Capabilities>) -> Result<Option<caps::CapsHashSet>> {
    let Some(set) = set else { return Ok(None) };
    let mut out = caps::CapsHashSet::new();
    for c in set {
        let v = serde_json::to_value(c).map_err(|e| Error::Config(e.to_string()))?;
        let name = v.as_str().unwrap_or_default().to_string();
        match caps::Capability::from_str(&name) {
            Ok(cap) => {
                out.insert(cap);
            }
            Err(_) => return Err(Error::Unsupported(format!("capability {name}"))),
        }
    }
    Ok(Some(out))
}

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Child(format!("{what}: {e}"))
}

/// Switches user and groups and applies the five capability sets. As runc: a set that is
/// absent (`"capabilities": {}`) is empty, and so is every set when the process has no
/// capabilities object at all — "drop ALL" drops all, the bounding set included.
pub fn set_user_and_caps(p: &Process) -> Result<()> {
    let c: Option<&LinuxCapabilities> = p.capabilities().as_ref();
    let set = |f: fn(&LinuxCapabilities) -> &Option<Capabilities>| -> Result<caps::CapsHashSet> {
        Ok(c.map(|c| to_caps(f(c)))
            .transpose()?
            .flatten()
            .unwrap_or_default())
    };
    let bounding = Some(set(LinuxCapabilities::bounding)?);
    let effective = set(LinuxCapabilities::effective)?;
    let permitted = set(LinuxCapabilities::permitted)?;
    let inheritable = set(LinuxCapabilities::inheritable)?;
    let ambient = set(LinuxCapabilities::ambient)?;
    if let Some(b) = &bounding {
        for cap in caps::all() {
            if !b.contains(&cap) {
                if let Err(e) = caps::drop(None, caps::CapSet::Bounding, cap) {
                    // Capabilities newer than the kernel cannot be dropped: they do not exist.
                    if caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(false) {
                        return Err(caps_err("drop bounding capability", e));
                    }
                }
            }
        }
    }
    let u = p.user();
    // SAFETY: prctl/setgroups/setres[ug]id with valid arguments.
    unsafe {
        libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
        let groups: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
            return Err(Error::last("setgroups"));
        }
        if libc::setresgid(u.gid(), u.gid(), u.gid()) != 0 {
            return Err(Error::last(format!("setgid {}", u.gid())));
        }
        if libc::setresuid(u.uid(), u.uid(), u.uid()) != 0 {
            return Err(Error::last(format!("setuid {}", u.uid())));
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    caps::set(None, caps::CapSet::Inheritable, &inheritable)
        .map_err(|e| caps_err("set inheritable capabilities", e))?;
    caps::set(
        None,
        caps::CapSet::Effective,
        &effective
            .intersection(&caps::read(None, caps::CapSet::Permitted).unwrap_or_default())
            .copied()
            .collect(),
    )
    .map_err(|e| caps_err("set effective capabilities", e))?;
    caps::set(None, caps::CapSet::Permitted, &permitted)
        .map_err(|e| caps_err("set permitted capabilities", e))?;
    caps::set(None, caps::CapSet::Effective, &effective)
        .map_err(|e| caps_err("set effective capabilities", e))?;
    caps::clear(None, caps::CapSet::Ambient).ok();
    for cap in ambient {
        // Like runc: an ambient capability that is not also permitted and inheritable
        // cannot be raised; that is not fatal.
        let _ = caps::raise(None, caps::CapSet::Ambient, cap);
    }
    if let Some(m) = u.umask() {
        // SAFETY: umask never fails.
        unsafe { libc::umask(m as libc::mode_t) };
    }
    Ok(())
}

/// chdir to process.cwd and make sure it is inside the (new) root.
pub fn enter_cwd(p: &Process) -> Result<()> {
    let cwd = p.cwd();
    if !cwd.is_absolute() {
        return Err(Error::Config(format!(
            "cwd {:?} is not absolute",
            cwd.display().to_string()
        )));
    }
    std::env::set_current_dir(cwd).map_err(|e| {
        Error::Child(format!(
            "chdir to cwd (\"{}\") set in config.json failed: {}",
            cwd.display(),
            e
        ))
    })?;
    // CVE-2024-21626: a cwd reached through a leaked fd shows up as "(unreachable)/...".
    let inside = match std::env::current_dir() {
        Ok(d) => d.is_absolute() && !d.to_string_lossy().starts_with("(unreachable)"),
        // getcwd itself may be denied (a seccomp profile): walk up through ".." instead.
        Err(_) => cwd_reaches_root(),
    };
    if inside {
        Ok(())
    } else {
        Err(Error::Child(format!(
            "cwd {} is outside the container root",
            cwd.display()
        )))
    }
}

/// True when following ".." from the current directory reaches "/" (the container root).
fn cwd_reaches_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let Some(root) = id(std::path::Path::new("/")) else {
        return false;
    };
    let mut cur = PathBuf::from(".");
    for _ in 0..4096 {
        let Some(here) = id(&cur) else {
            return false;
        };
        if here == root {
            return true;
        }
        let up = cur.join("..");
        if id(&up) == Some(here) {
            return false; // a root that is not ours
        }
        cur = up;
    }
    false
}

/// Finds the executable for args[0] using PATH from the process env (inside the new root).
pub fn lookup(p: &Process) -> Result<PathBuf> {
    let args = p
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::Config("process.args is empty".into()))?;
    let prog = &args[0];
    let check = |path: &Path| -> std::io::Result<()> {
        let m = std::fs::metadata(path)?;
        if m.is_dir() || m.permissions().mode() & 0o111 == 0 {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(())
    };
    if prog.contains('/') {
        let path = PathBuf::from(prog);
        return match check(&path) {
            Ok(()) => Ok(path),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(Error::Child(format!(
                "exec: \"{prog}\": stat {prog}: no such file or directory"
            ))),
            Err(e) => Err(Error::Child(format!("exec: \"{prog}\": {}", strip_os(&e)))),
        };
    }
    let env_path = p
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut denied = false;
    for dir in env_path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(prog);
        match check(&cand) {
            Ok(()) => return Ok(cand),
            Err(e) if e.raw_os_error() == Some(libc::EACCES) && cand.exists() => denied = true,
            Err(_) => {}
        }
    }
    if denied {
        return Err(Error::Child(format!("exec: \"{prog}\": permission denied")));
    }
    Err(Error::Child(format!(
        "exec: \"{prog}\": executable file not found in $PATH"
    )))
}

fn strip_os(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

/// Marks every fd >= 3 + preserve close-on-exec.
pub fn cloexec_fds(preserve: u32) -> Result<()> {
    let first = 3 + preserve;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    // A seccomp profile may deny close_range (EPERM) or the kernel may lack it (ENOSYS):
    // fall back to walking /proc/self/fd.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error::io("read /proc/self/fd", e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|fd| *fd >= first as i32)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on an fd (EBADF for the closed directory fd is harmless).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Prepared execve arguments (built before blocking so exec cannot fail on allocation).
pub struct ExecArgs {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

impl ExecArgs {
    /// Builds the argument vectors.
    pub fn new(path: &Path, p: &Process) -> Result<ExecArgs> {
        let c = |s: &str| CString::new(s).map_err(|_| Error::Config("NUL byte in args/env".into()));
        Ok(ExecArgs {
            path: CString::new(path.as_os_str().as_bytes())
                .map_err(|_| Error::Config("NUL in path".into()))?,
            args: p
                .args()
                .iter()
                .flatten()
                .map(|a| c(a))
                .collect::<Result<_>>()?,
            env: p
                .env()
                .iter()
                .flatten()
                .map(|a| c(a))
                .collect::<Result<_>>()?,
        })
    }

    /// execve; returns only on failure.
    pub fn exec(&self) -> Error {
        let mut a: Vec<*const libc::c_char> = self.args.iter().map(|s| s.as_ptr()).collect();
        a.push(std::ptr::null());
        let mut e: Vec<*const libc::c_char> = self.env.iter().map(|s| s.as_ptr()).collect();
        e.push(std::ptr::null());
        reset_signals();
        // SAFETY: NULL-terminated arrays of valid C strings.
        unsafe { libc::execve(self.path.as_ptr(), a.as_ptr(), e.as_ptr()) };
        let err = std::io::Error::last_os_error();
        Error::Child(format!(
            "exec {}: {}",
            self.path.to_string_lossy(),
            strip_os(&err)
        ))
    }
}

/// Sets no_new_privs when asked.
pub fn no_new_privs(p: &Process) -> Result<()> {
    if p.no_new_privileges().unwrap_or(false) {
        // SAFETY: prctl with constant arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(Error::last("set no_new_privs"));
        }
    }
    Ok(())
}

/// Writes oom_score_adj of the calling process.
pub fn set_oom_score_adj(p: &Process) -> Result<()> {
    if let Some(v) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", v.to_string())
            .ctx(|| format!("set oom_score_adj {v}"))?;
    }
    Ok(())
}

/// Gives the container process a clean signal state, as runc does: every signal back to its
/// default disposition (ignored signals survive execve, and Rust ignores SIGPIPE) and an empty
/// signal mask (the caller — a monitor with a signalfd — may have blocked TERM, INT, CHLD…).
/// Only async-signal-safe calls: this runs between fork and execve.
fn reset_signals() {
    // SAFETY: plain libc calls on valid arguments; failures (SIGKILL, SIGSTOP, reserved
    // real-time signals) are harmless and ignored.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}
