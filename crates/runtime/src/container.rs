//! The container lifecycle: create, start, run, kill, delete, exec, list, pause/resume.

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::init::{self, ExecCtx, InitCtx};
use crate::state::{self, OciState, Saved, Status};
use crate::{hooks, sync, terminal, timens, userns, util};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

/// Options of `create` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Bundle directory holding config.json.
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master.
    pub console_socket: Option<PathBuf>,
    /// File that receives the init pid.
    pub pid_file: Option<PathBuf>,
    /// Number of extra fds (from 3) to pass to the container.
    pub preserve_fds: u32,
}

/// Options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The process to start.
    pub process: Process,
    /// Unix socket that receives the pty master.
    pub console_socket: Option<PathBuf>,
    /// File that receives the pid.
    pub pid_file: Option<PathBuf>,
    /// Return after the process started.
    pub detach: bool,
    /// Extra fds to pass.
    pub preserve_fds: u32,
}

fn check_supported(spec: &Spec) -> Result<()> {
    let un = |s: &str| Err(Error::Unsupported(s.into()));
    for k in [
        hooks::Kind::Prestart,
        hooks::Kind::CreateRuntime,
        hooks::Kind::CreateContainer,
        hooks::Kind::StartContainer,
        hooks::Kind::Poststart,
        hooks::Kind::Poststop,
    ] {
        for h in hooks::list(spec, k) {
            if !h.path().is_absolute() {
                return Err(Error::Config(format!(
                    "hook path {} is not absolute",
                    h.path().display()
                )));
            }
        }
    }
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("no process in config".into()))?;
    if p.apparmor_profile().as_ref().is_some_and(|s| !s.is_empty()) {
        return un("process.apparmorProfile");
    }
    if p.selinux_label().as_ref().is_some_and(|s| !s.is_empty()) {
        return un("process.selinuxLabel");
    }
    if p.scheduler().is_some() {
        return un("process.scheduler");
    }
    if p.io_priority().is_some() {
        return un("process.ioPriority");
    }
    if p.exec_cpu_affinity().is_some() {
        return un("process.execCPUAffinity");
    }
    if let Some(l) = spec.linux() {
        if l.mount_label().as_ref().is_some_and(|s| !s.is_empty()) {
            return un("linux.mountLabel");
        }
        if l.intel_rdt().is_some() {
            return un("linux.intelRdt");
        }
        if l.personality().is_some() {
            return un("linux.personality");
        }
    }
    Ok(())
}

fn ns_flag(t: LinuxNamespaceType) -> Result<libc::c_int> {
    Ok(match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    })
}

fn open_ro(p: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(p).ctx(|| format!("open {}", p.display()))?;
    Ok(OwnedFd::from(f))
}

/// clone(2) with fork semantics plus `flags`.
fn clone_fork(flags: libc::c_int) -> Result<i32> {
    // SAFETY: raw clone without a new stack behaves like fork; the runtime is single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err(Error::last("clone"));
    }
    Ok(r as i32)
}

/// Like `clone_fork(flags)`, but the child is created inside the user namespace `user` (so
/// its new namespaces are owned by it): an intermediate process joins it and clones the init
/// as our child (`CLONE_PARENT`), reports its pid and exits. Returns 0 in the init.
fn clone_in_userns(user: &OwnedFd, flags: libc::c_int) -> Result<i32> {
    let (rx, tx) = sync::pair()?;
    let mid = clone_fork(0)?;
    if mid == 0 {
        drop(rx);
        // SAFETY: setns on a namespace fd in our single-threaded fresh child.
        let r = if unsafe { libc::setns(user.as_raw_fd(), libc::CLONE_NEWUSER) } != 0 {
            Err(Error::last("join user namespace"))
        } else {
            clone_fork(flags | libc::CLONE_PARENT)
        };
        match r {
            Ok(0) => {
                drop(tx);
                return Ok(0);
            }
            Ok(p) => {
                let _ = tx.send(p.to_string().as_bytes());
            }
            Err(e) => {
                tx.send_error(&e.to_string());
            }
        }
        // SAFETY: leave the intermediate process without running destructors.
        unsafe { libc::_exit(0) }
    }
    drop(tx);
    let msg = rx.recv();
    // SAFETY: reap our intermediate child.
    unsafe { libc::waitpid(mid, std::ptr::null_mut(), 0) };
    match msg? {
        Some(m) if m.first() == Some(&b'E') => {
            Err(Error::Child(String::from_utf8_lossy(&m[1..]).into_owned()))
        }
        Some(m) => String::from_utf8_lossy(&m)
            .parse()
            .map_err(|_| Error::Child("bad pid from the user namespace helper".into())),
        None => Err(Error::Child("user namespace helper exited".into())),
    }
}

/// Cleans up a half-created container on failure.
struct Undo<'a> {
    dir: &'a Path,
    cgroup: Option<Cgroup>,
    pid: i32,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.pid > 0 {
            // SAFETY: kill and reap our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
            let _ = cg.destroy();
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

fn mkfifo(p: &Path) -> Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Config("bad path".into()))?;
    // SAFETY: valid path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o622) } != 0 {
        return Err(Error::last(format!("mkfifo {}", p.display())));
    }
    // umask may have cleared bits.
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .ctx(|| "chmod fifo".into())
}

/// Creates the container: everything is set up and the init waits on the exec fifo.
/// Returns the init's pid (a child of the calling process).
pub fn create(root: &Path, id: &str, o: &CreateOptions) -> Result<i32> {
    state::check_id(id)?;
    let bundle =
        std::fs::canonicalize(&o.bundle).ctx(|| format!("bundle {}", o.bundle.display()))?;
    let (spec, time_offsets) = timens::load_spec(&bundle.join("config.json"))?;
    check_supported(&spec)?;
    let rootp = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Config("no root in config".into()))?
        .path()
        .clone();
    let rootfs =
        std::fs::canonicalize(bundle.join(&rootp)).ctx(|| format!("rootfs {}", rootp.display()))?;
    let proc_ = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("no process".into()))?;
    let terminal = proc_.terminal().unwrap_or(false);
    if terminal && o.console_socket.is_none() {
        return Err(Error::Config(
            "process.terminal is true but no --console-socket was given".into(),
        ));
    }
    // Namespaces.
    let mut new_ns = 0;
    let mut new_cgroupns = false;
    let mut join = Vec::new();
    let mut pid_join = None;
    let mut have_mnt = false;
    let mut new_time = false;
    let mut time_join = None;
    let mut user_join = None;
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if ns.typ() == LinuxNamespaceType::Time {
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => time_join = Some(open_ro(p)?),
                _ => new_time = true,
            }
            continue;
        }
        let f = ns_flag(ns.typ())?;
        if f == libc::CLONE_NEWUSER {
            if let Some(p) = ns.path().as_ref().filter(|p| !p.as_os_str().is_empty()) {
                user_join = Some(open_ro(p)?);
                continue;
            }
        }
        if f == libc::CLONE_NEWNS {
            have_mnt = true;
        }
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                let fd = open_ro(p)?;
                if f == libc::CLONE_NEWPID {
                    pid_join = Some(fd);
                } else {
                    join.push((fd, f));
                }
            }
            _ if f == libc::CLONE_NEWCGROUP => new_cgroupns = true,
            _ => new_ns |= f,
        }
    }
    if !have_mnt {
        return Err(Error::Unsupported(
            "running without a mount namespace".into(),
        ));
    }
    let id_maps = match user_join {
        // A joined user namespace already has its maps (the config's are not used).
        Some(_) => None,
        None => userns::Maps::from_spec(&spec, new_ns & libc::CLONE_NEWUSER != 0)?,
    };
    if !time_offsets.is_empty() && !new_time {
        return Err(Error::Config(
            "linux.timeOffsets needs a new time namespace (a \"time\" entry without a path)".into(),
        ));
    }
    if !root.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .ctx(|| format!("create root {}", root.display()))?;
    }
    let dir = state::dir(root, id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(id.into()))
        }
        Err(e) => return Err(Error::io(format!("create {}", dir.display()), e)),
    }
    let mut undo = Undo {
        dir: &dir,
        cgroup: None,
        pid: 0,
        armed: true,
    };
    let cg_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| PathBuf::from(format!("/berth/{id}")));
    let cg = Cgroup::new(&cg_path)?;
    undo.cgroup = Some(cg.clone());
    cg.create()?;
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        cg.apply(r)?;
    }
    let fifo_path = Saved::fifo(root, id);
    mkfifo(&fifo_path)?;
    let fifo = {
        let c = std::ffi::CString::new(fifo_path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Config("bad path".into()))?;
        // SAFETY: O_PATH open of the fifo we just made.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last("open exec fifo"));
        }
        // SAFETY: fd is fresh.
        unsafe { OwnedFd::from_raw_fd(fd) }
    };
    let console = o
        .console_socket
        .as_deref()
        .filter(|_| terminal)
        .map(terminal::connect)
        .transpose()?;
    if let Some(fd) = &pid_join {
        // SAFETY: affects only children created from now on.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
            return Err(Error::last("join pid namespace"));
        }
    }
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(crate::seccomp::Filter::compile)
        .transpose()?;
    let hook_sync = hooks::any(
        &spec,
        &[
            hooks::Kind::Prestart,
            hooks::Kind::CreateRuntime,
            hooks::Kind::CreateContainer,
            hooks::Kind::StartContainer,
        ],
    );
    let (parent, child) = sync::pair()?;
    let time_switch = timens::prepare(new_time, time_join.as_ref(), &time_offsets)?;
    let pid = match &user_join {
        Some(u) => clone_in_userns(u, new_ns)?,
        None => clone_fork(new_ns)?,
    };
    if pid == 0 {
        drop(parent);
        init::container_init(InitCtx {
            spec: &spec,
            bundle: &bundle,
            rootfs: &rootfs,
            cgroup: Some(&cg),
            join,
            // In a joined user namespace the init also waits for "go" and becomes its root.
            new_ns: new_ns | user_join.as_ref().map_or(0, |_| libc::CLONE_NEWUSER),
            new_cgroupns,
            console,
            fifo,
            chan: child,
            preserve_fds: o.preserve_fds,
            seccomp: seccomp.as_ref(),
            hook_sync,
        });
    }
    drop(time_switch);
    undo.pid = pid;
    if let Some(m) = &id_maps {
        m.write(pid)?;
    }
    if id_maps.is_some() || user_join.is_some() {
        userns::write_oom_score_adj(pid, proc_)?;
    }
    drop(child);
    drop(console);
    cg.add(pid)?;
    // The child may already have failed (its message is waiting): read it below.
    let _ = parent.send(b"go");
    loop {
        match parent.recv()? {
            Some(m) if m == b"R" => break,
            Some(m) if m == b"H" => {
                // The namespaces exist and the rootfs is mounted, pivot_root is next.
                let st = hooks::state_json(&spec, id, "creating", pid, &bundle);
                hooks::run(&spec, hooks::Kind::Prestart, &st)?;
                hooks::run(&spec, hooks::Kind::CreateRuntime, &st)?;
                parent.send(&[b"h", st.as_bytes()].concat())?;
            }
            Some(m) if m.first() == Some(&b'E') => {
                return Err(Error::Child(String::from_utf8_lossy(&m[1..]).into_owned()))
            }
            _ => return Err(Error::Child("container init exited during setup".into())),
        }
    }
    let saved = Saved {
        id: id.to_string(),
        pid,
        pid_start: util::proc_stat(pid).map(|s| s.0).unwrap_or(0),
        bundle,
        rootfs,
        created: util::now_rfc3339(),
        cgroup: Some(cg),
        config: spec,
    };
    saved.save(root)?;
    if let Some(pf) = &o.pid_file {
        util::write_atomic(pf, pid.to_string().as_bytes())?;
    }
    undo.armed = false;
    Ok(pid)
}

/// Releases the init blocked on the exec fifo.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let s = Saved::load(root, id)?;
    match s.status(root) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::State(
                "cannot start a container that has stopped".into(),
            ))
        }
        st => {
            return Err(Error::State(format!(
                "cannot start an already {st} container"
            )))
        }
    }
    let fifo = Saved::fifo(root, id);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .ctx(|| format!("open {}", fifo.display()))?;
    loop {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid fd.
        let r = unsafe { libc::poll(&mut pfd, 1, 50) };
        if r > 0 && pfd.revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            // SAFETY: read into a valid buffer.
            let n = unsafe { libc::read(f.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            if n == 1 {
                break;
            }
        }
        if !util::alive(s.pid, s.pid_start) {
            return Err(Error::State("container init exited before start".into()));
        }
    }
    let _ = std::fs::remove_file(&fifo);
    if hooks::any(&s.config, &[hooks::Kind::Poststart]) {
        let st = hooks::state_json(&s.config, id, "running", s.pid, &s.bundle);
        if let Err(e) = hooks::run(&s.config, hooks::Kind::Poststart, &st) {
            // The spec makes a failed poststart hook a warning only.
            eprintln!("berth-runtime: warning: {e}");
        }
    }
    Ok(())
}

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

/// The OCI state of a container.
pub fn state(root: &Path, id: &str) -> Result<OciState> {
    Ok(Saved::load(root, id)?.oci(root))
}

/// Sends `sig` to the init (or to every process of the container with `all`).
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let s = Saved::load(root, id)?;
    let st = s.status(root);
    if st == Status::Stopped && !all {
        return Err(Error::State("container not running".into()));
    }
    if all {
        if let Some(cg) = &s.cgroup {
            for p in cg.procs() {
                // SAFETY: kill(2).
                unsafe { libc::kill(p, sig) };
            }
            if st == Status::Paused {
                let _ = cg.freeze(false);
            }
            return Ok(());
        }
    }
    // SAFETY: kill(2).
    if unsafe { libc::kill(s.pid, sig) } != 0 {
        return Err(Error::last(format!("kill {}", s.pid)));
    }
    Ok(())
}

/// Deletes a container: kills what is left, removes its cgroups and state.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    state::check_id(id)?;
    let dir = state::dir(root, id);
    let s = match Saved::load(root, id) {
        Ok(s) => s,
        Err(Error::NotFound(_)) if dir.exists() => {
            // Half-created (create crashed): nothing but the directory.
            return std::fs::remove_dir_all(&dir).ctx(|| format!("remove {}", dir.display()));
        }
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = s.status(root);
    if matches!(st, Status::Running | Status::Paused) && !force {
        return Err(Error::State(format!(
            "cannot delete container {id} that is not stopped: {st}"
        )));
    }
    if st != Status::Stopped {
        // SAFETY: kill(2) on the verified init pid.
        unsafe { libc::kill(s.pid, libc::SIGKILL) };
    }
    if let Some(cg) = &s.cgroup {
        cg.kill_all();
    }
    for _ in 0..2000 {
        if !util::alive(s.pid, s.pid_start) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    if let Some(cg) = &s.cgroup {
        cg.destroy()?;
    }
    if hooks::any(&s.config, &[hooks::Kind::Poststop]) {
        let st = hooks::state_json(&s.config, id, "stopped", 0, &s.bundle);
        if let Err(e) = hooks::run(&s.config, hooks::Kind::Poststop, &st) {
            // The spec makes a failed poststop hook a warning only.
            eprintln!("berth-runtime: warning: {e}");
        }
    }
    std::fs::remove_dir_all(&dir).ctx(|| format!("remove {}", dir.display()))
}

/// One-shot cgroup statistics of a running (or paused/created) container.
pub fn stats(root: &Path, id: &str) -> Result<serde_json::Value> {
    let s = Saved::load(root, id)?;
    if s.status(root) == Status::Stopped {
        return Err(Error::State(format!("container {id} is not running")));
    }
    let cg = s
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::State(format!("container {id} has no cgroup")))?;
    Ok(crate::stats::collect(id, cg))
}

/// Freezes a running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let s = Saved::load(root, id)?;
    if s.status(root) != Status::Running {
        return Err(Error::State("container not running".into()));
    }
    s.cgroup
        .as_ref()
        .ok_or_else(|| Error::Unsupported("pause without cgroups".into()))?
        .freeze(true)
}

/// Thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let s = Saved::load(root, id)?;
    if s.status(root) != Status::Paused {
        return Err(Error::State("container not paused".into()));
    }
    s.cgroup
        .as_ref()
        .ok_or_else(|| Error::Unsupported("resume without cgroups".into()))?
        .freeze(false)
}

/// Pids of the container's processes.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let s = Saved::load(root, id)?;
    Ok(s.cgroup.as_ref().map(|c| c.procs()).unwrap_or_default())
}

/// Every container's state under `root`.
pub fn list(root: &Path) -> Result<Vec<OciState>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(format!("read {}", root.display()), e)),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(s) = Saved::load(root, &name) {
            out.push(s.oci(root));
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created));
    Ok(out)
}

/// The config a container was created with (for building exec processes).
pub fn config(root: &Path, id: &str) -> Result<Spec> {
    Ok(Saved::load(root, id)?.config)
}

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let p = FORWARD_TO.load(Ordering::Relaxed);
    if p > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(p, sig) };
    }
}

/// Forwards common signals received by the runtime to `pid`.
pub fn forward_signals(pid: i32) {
    FORWARD_TO.store(pid, Ordering::Relaxed);
    for s in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ] {
        // SAFETY: installing a simple async-signal-safe handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(s, &sa, std::ptr::null_mut());
        }
    }
}

/// Waits for our child `pid`; returns its exit code (128+signal when killed).
pub fn wait_exit(pid: i32) -> Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(Error::last("waitpid"));
        }
    }
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    })
}

/// create + start + wait + delete; returns the container's exit code (0 with `detach`).
pub fn run(root: &Path, id: &str, o: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    let pid = create(root, id, o)?;
    if let Err(e) = start(root, id) {
        let _ = delete(root, id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    forward_signals(pid);
    let code = wait_exit(pid)?;
    if !keep {
        delete(root, id, true)?;
    }
    Ok(code)
}

/// Starts an extra process inside a running container. Returns the exit code (foreground)
/// or 0 (detached).
pub fn exec(root: &Path, id: &str, o: &ExecOptions) -> Result<i32> {
    let s = Saved::load(root, id)?;
    match s.status(root) {
        Status::Running | Status::Created => {}
        st => return Err(Error::State(format!("cannot exec in a {st} container"))),
    }
    // As runc: an exec process without a capabilities object gets the container's; an
    // empty object (`{}`) means no capabilities at all.
    let mut process = o.process.clone();
    if process.capabilities().is_none() {
        let caps = s
            .config
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().clone());
        process.set_capabilities(caps);
    }
    let terminal = process.terminal().unwrap_or(false);
    if terminal && o.console_socket.is_none() {
        return Err(Error::Config("terminal requires --console-socket".into()));
    }
    let mut join = Vec::new();
    for (name, flag) in [
        ("user", libc::CLONE_NEWUSER),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("net", libc::CLONE_NEWNET),
        ("pid", libc::CLONE_NEWPID),
        ("cgroup", libc::CLONE_NEWCGROUP),
        ("time", libc::CLONE_NEWTIME),
        ("mnt", libc::CLONE_NEWNS),
    ] {
        if name == "time" && !Path::new("/proc/self/ns/time").exists() {
            continue; // kernel without time namespaces
        }
        let theirs = std::fs::metadata(format!("/proc/{}/ns/{name}", s.pid));
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
        use std::os::unix::fs::MetadataExt;
        match (theirs, ours) {
            (Ok(t), Ok(m)) if t.ino() == m.ino() && t.dev() == m.dev() => {}
            (Ok(_), _) => join.push((
                open_ro(Path::new(&format!("/proc/{}/ns/{name}", s.pid)))?,
                flag,
            )),
            (Err(e), _) => return Err(Error::io(format!("open namespace {name} of {}", s.pid), e)),
        }
    }
    if !util::alive(s.pid, s.pid_start) {
        return Err(Error::State("container not running".into()));
    }
    let seccomp = s
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(crate::seccomp::Filter::compile)
        .transpose()?;
    let console = o
        .console_socket
        .as_deref()
        .filter(|_| terminal)
        .map(terminal::connect)
        .transpose()?;
    let (parent, child) = sync::pair()?;
    let c1 = clone_fork(0)?;
    if c1 == 0 {
        drop(parent);
        let r = (|| -> Result<()> {
            init::wait_for_go(&child)?;
            // Keep container processes away from /proc/<us>/exe (CVE-2019-5736).
            // SAFETY: prctl with constant arguments.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
            init::join_all(&join)?;
            let c2 = clone_fork(libc::CLONE_PARENT)?;
            if c2 == 0 {
                init::exec_process(ExecCtx {
                    process: &process,
                    console,
                    chan: &child,
                    preserve_fds: o.preserve_fds,
                    seccomp: seccomp.as_ref(),
                });
            }
            child.send(format!("P{c2}").as_bytes())
        })();
        if let Err(e) = r {
            let _ = child.send_error(&e.to_string());
        }
        // SAFETY: leave the intermediate child.
        unsafe { libc::_exit(0) };
    }
    drop(child);
    drop(console);
    let reap_c1 = || {
        // SAFETY: reap the intermediate child.
        unsafe { libc::waitpid(c1, std::ptr::null_mut(), 0) };
    };
    if let Some(cg) = &s.cgroup {
        if let Err(e) = cg.add(c1) {
            // SAFETY: kill our own child.
            unsafe { libc::kill(c1, libc::SIGKILL) };
            reap_c1();
            return Err(e);
        }
    }
    parent.send(b"go")?;
    let mut pid = 0;
    let mut ready = false;
    while !(ready && pid > 0) {
        match parent.recv()? {
            Some(m) if m.first() == Some(&b'P') => {
                pid = String::from_utf8_lossy(&m[1..]).parse().unwrap_or(0)
            }
            Some(m) if m == b"R" => ready = true,
            Some(m) if m.first() == Some(&b'E') => {
                reap_c1();
                if pid > 0 {
                    let _ = wait_exit(pid);
                }
                return Err(Error::Child(String::from_utf8_lossy(&m[1..]).into_owned()));
            }
            _ => {
                reap_c1();
                return Err(Error::Child("exec process exited during setup".into()));
            }
        }
    }
    reap_c1();
    if let Some(pf) = &o.pid_file {
        util::write_atomic(pf, pid.to_string().as_bytes())?;
    }
    if o.detach {
        return Ok(0);
    }
    forward_signals(pid);
    wait_exit(pid)
}
