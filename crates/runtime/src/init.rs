//! Code that runs in the forked container processes (init and exec) up to execve.

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::sync::Channel;
use crate::{hooks, process, rootfs, terminal};
use oci_spec::runtime::{Process, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Everything the container init needs (inherited across clone).
pub struct InitCtx<'a> {
    /// The config.
    pub spec: &'a Spec,
    /// Bundle dir.
    pub bundle: &'a Path,
    /// Rootfs dir.
    pub rootfs: &'a Path,
    /// Container cgroups.
    pub cgroup: Option<&'a Cgroup>,
    /// Namespaces to join: (fd, CLONE_NEW* flag).
    pub join: Vec<(OwnedFd, libc::c_int)>,
    /// Namespaces created by clone.
    pub new_ns: libc::c_int,
    /// Whether to unshare a cgroup namespace after being moved into the cgroup.
    pub new_cgroupns: bool,
    /// Console socket (terminal mode).
    pub console: Option<OwnedFd>,
    /// O_PATH fd of the exec fifo.
    pub fifo: OwnedFd,
    /// Child end of the sync channel.
    pub chan: Channel,
    /// Extra fds to keep (3..3+n).
    pub preserve_fds: u32,
    /// Compiled seccomp filter.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    /// Stop before pivot_root so the runtime can run prestart/createRuntime hooks (then run
    /// createContainer hooks here and keep the state for startContainer hooks).
    pub hook_sync: bool,
}

/// Runs the container init setup; never returns.
pub fn container_init(ctx: InitCtx) -> ! {
    let err = match init_inner(&ctx) {
        Ok(e) | Err(e) => e,
    };
    if !ctx.chan.send_error(&err.to_string()) {
        eprintln!("berth-runtime init: {err}");
    }
    // SAFETY: terminate the child without running parent's destructors.
    unsafe { libc::_exit(127) }
}

fn wait_go(chan: &Channel) -> Result<()> {
    match chan.recv()? {
        Some(m) if m == b"go" => Ok(()),
        _ => Err(Error::Child("runtime went away".into())),
    }
}

fn setns(fd: &OwnedFd, flag: libc::c_int) -> Result<()> {
    // SAFETY: setns on a namespace fd.
    if unsafe { libc::setns(fd.as_raw_fd(), flag) } != 0 {
        return Err(Error::last(format!("setns {flag:#x}")));
    }
    Ok(())
}

fn lo_up() -> Result<()> {
    // SAFETY: ioctl on a fresh socket with a zeroed ifreq.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(Error::last("socket"));
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let r = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr);
        if r == 0 {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) != 0 {
                let e = Error::last("bring lo up");
                libc::close(s);
                return Err(e);
            }
        }
        libc::close(s);
    }
    Ok(())
}

fn unshare_cgroupns() -> Result<()> {
    // SAFETY: unshare with a constant flag.
    if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
        return Err(Error::last("unshare cgroup namespace"));
    }
    Ok(())
}

fn set_hostname(spec: &Spec, uts_new: bool) -> Result<()> {
    for (val, set) in [(spec.hostname(), true), (spec.domainname(), false)] {
        let Some(v) = val.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        if !uts_new {
            return Err(Error::Config(
                "unable to set hostname without a private UTS namespace".into(),
            ));
        }
        // SAFETY: valid buffer and length.
        let r = unsafe {
            if set {
                libc::sethostname(v.as_ptr().cast(), v.len())
            } else {
                libc::setdomainname(v.as_ptr().cast(), v.len())
            }
        };
        if r != 0 {
            return Err(Error::last("sethostname"));
        }
    }
    Ok(())
}

fn sysctls(spec: &Spec) -> Result<()> {
    for (k, v) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        if k.contains("..") || k.contains('/') && k.contains('.') {
            return Err(Error::Config(format!("bad sysctl {k}")));
        }
        let p = Path::new("/proc/sys").join(k.replace('.', "/"));
        crate::util::write_file(&p, v)?;
    }
    Ok(())
}

/// Sets up a terminal inside the (already entered) root and sends the master.
fn setup_terminal(p: &Process, console: &OwnedFd, bind_console: bool) -> Result<()> {
    let size = p
        .console_size()
        .as_ref()
        .map(|b| (b.height() as u16, b.width() as u16));
    let pty = terminal::open_pty(size)?;
    if bind_console {
        rootfs::mount(
            Some(&pty.path),
            Path::new("/dev/console"),
            Some("bind"),
            libc::MS_BIND,
            None,
        )?;
    }
    terminal::send_fd(
        console.as_raw_fd(),
        pty.master.as_raw_fd(),
        &pty.path.to_string_lossy(),
    )?;
    drop(pty.master);
    terminal::make_controlling(&pty.slave)
}

fn init_inner(ctx: &InitCtx) -> Result<Error> {
    // The runtime moves us into the cgroups while we set up (a v1 cgroup.procs write can
    // take a whole RCU grace period): we only wait for its "go" where the cgroup matters.
    let mut waited = false;
    // SAFETY: new session for the container init.
    unsafe { libc::setsid() };
    // Keep other container processes (joined pid namespace) away from /proc/<us>/exe.
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let proc_ = ctx
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("no process".into()))?;
    if ctx.new_ns & libc::CLONE_NEWUSER != 0 {
        // The runtime writes our id maps (and oom_score_adj) before its "go".
        wait_go(&ctx.chan)?;
        waited = true;
        crate::userns::become_root()?;
    } else {
        process::set_oom_score_adj(proc_)?;
    }
    let mut mnt_join = None;
    for (fd, flag) in &ctx.join {
        if *flag == libc::CLONE_NEWNS {
            mnt_join = Some(fd);
        } else {
            setns(fd, *flag)?;
        }
    }
    if let Some(fd) = mnt_join {
        setns(fd, libc::CLONE_NEWNS)?;
    }
    let early_cgroupns = ctx.new_cgroupns && ctx.cgroup.is_some_and(|c| c.v2.is_some());
    if early_cgroupns {
        if !waited {
            wait_go(&ctx.chan)?;
            waited = true;
        }
        unshare_cgroupns()?;
    }
    if ctx.new_ns & libc::CLONE_NEWNET != 0 {
        lo_up()?;
    }
    // A UTS namespace joined by path is just as private as a new one.
    let own_uts = ctx.new_ns & libc::CLONE_NEWUTS != 0
        || ctx.join.iter().any(|(_, f)| *f == libc::CLONE_NEWUTS);
    set_hostname(ctx.spec, own_uts)?;
    let terminal = proc_.terminal().unwrap_or(false);
    rootfs::prepare(&rootfs::RootfsCtx {
        spec: ctx.spec,
        bundle: ctx.bundle,
        rootfs: ctx.rootfs,
        cgroup: ctx.cgroup,
        cgroupns: ctx.new_cgroupns,
        terminal,
    })?;
    let mut hook_state = None;
    if ctx.hook_sync {
        if !waited {
            wait_go(&ctx.chan)?;
            waited = true;
        }
        ctx.chan.send(b"H")?;
        let st = match ctx.chan.recv()? {
            Some(m) if m.first() == Some(&b'h') => String::from_utf8_lossy(&m[1..]).into_owned(),
            _ => return Err(Error::Child("runtime went away".into())),
        };
        hooks::run(ctx.spec, hooks::Kind::CreateContainer, &st)?;
        hook_state = Some(st);
    }
    rootfs::pivot(ctx.rootfs)?;
    rootfs::root_propagation(ctx.spec)?;
    if terminal {
        let c = ctx
            .console
            .as_ref()
            .ok_or_else(|| Error::Config("terminal requires --console-socket".into()))?;
        setup_terminal(proc_, c, true)?;
    }
    sysctls(ctx.spec)?;
    rootfs::finish(ctx.spec)?;
    if !waited {
        wait_go(&ctx.chan)?;
    }
    if ctx.new_cgroupns && !early_cgroupns {
        unshare_cgroupns()?;
    }
    let start_hooks = hook_state
        .filter(|_| hooks::any(ctx.spec, &[hooks::Kind::StartContainer]))
        .map(|st| {
            let mut v: serde_json::Value = serde_json::from_str(&st).unwrap_or_default();
            v["status"] = "created".into();
            (ctx.spec, v.to_string())
        });
    drop_to_exec(
        proc_,
        &ctx.chan,
        ctx.preserve_fds,
        Some(&ctx.fifo),
        ctx.seccomp,
        start_hooks,
    )
}

/// Common tail of init and exec: rlimits, user, caps, cwd, lookup, then (init) wait on the
/// fifo and execve. Returns only an error.
fn drop_to_exec(
    p: &Process,
    chan: &Channel,
    preserve: u32,
    fifo: Option<&OwnedFd>,
    seccomp: Option<&crate::seccomp::Filter>,
    start_hooks: Option<(&Spec, String)>,
) -> Result<Error> {
    let nnp = p.no_new_privileges().unwrap_or(false);
    process::set_rlimits(p)?;
    if let Some(f) = seccomp.filter(|_| !nnp) {
        // Without no_new_privs the filter needs CAP_SYS_ADMIN: load it before dropping it.
        f.load()?;
    }
    process::set_user_and_caps(p)?;
    process::enter_cwd(p)?;
    let path = process::lookup(p)?;
    let args = process::ExecArgs::new(&path, p)?;
    process::no_new_privs(p)?;
    process::cloexec_fds(preserve)?;
    if let Some(f) = seccomp.filter(|_| nnp) {
        f.load()?;
    }
    let fifo_path = fifo.map(|f| {
        std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap_or_default()
    });
    chan.send(b"R")?;
    if let Some(fp) = fifo_path {
        // SAFETY: opening the fifo for writing blocks until `start` opens it.
        let fd = unsafe { libc::open(fp.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Ok(Error::last("open exec fifo"));
        }
        // SAFETY: write one byte to a valid fd.
        unsafe {
            libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
        }
    }
    if let Some((spec, st)) = start_hooks {
        if let Err(e) = hooks::run(spec, hooks::Kind::StartContainer, &st) {
            // The runtime has already returned from `start`: report on the container's stderr.
            eprintln!("berth-runtime: {e}");
            // SAFETY: terminate the init without running the user process.
            unsafe { libc::_exit(127) }
        }
    }
    Ok(args.exec())
}

/// Context of an exec'd process (second fork, already inside the namespaces).
pub struct ExecCtx<'a> {
    /// The process to run.
    pub process: &'a Process,
    /// Console socket when process.terminal.
    pub console: Option<OwnedFd>,
    /// Sync channel.
    pub chan: &'a Channel,
    /// Extra fds to keep.
    pub preserve_fds: u32,
    /// Compiled seccomp filter.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
}

/// Runs in the exec'd process; never returns.
pub fn exec_process(ctx: ExecCtx) -> ! {
    let r = (|| -> Result<Error> {
        // SAFETY: new session.
        unsafe { libc::setsid() };
        if ctx.process.terminal().unwrap_or(false) {
            let c = ctx
                .console
                .as_ref()
                .ok_or_else(|| Error::Config("terminal requires --console-socket".into()))?;
            setup_terminal(ctx.process, c, false)?;
        }
        drop_to_exec(
            ctx.process,
            ctx.chan,
            ctx.preserve_fds,
            None,
            ctx.seccomp,
            None,
        )
    })();
    let err = match r {
        Ok(e) | Err(e) => e,
    };
    if !ctx.chan.send_error(&err.to_string()) {
        eprintln!("berth-runtime exec: {err}");
    }
    // SAFETY: terminate the child.
    unsafe { libc::_exit(127) }
}

/// Joins namespaces in a safe order: time (owned by the host's user namespace, so joined
/// while we still have host capabilities), user, the others, mount last.
pub fn join_all(join: &[(OwnedFd, libc::c_int)]) -> Result<()> {
    for first in [libc::CLONE_NEWTIME, libc::CLONE_NEWUSER] {
        for (fd, flag) in join.iter().filter(|(_, f)| *f == first) {
            setns(fd, *flag)?;
        }
    }
    for (fd, flag) in join.iter().filter(|(_, f)| {
        *f != libc::CLONE_NEWNS && *f != libc::CLONE_NEWUSER && *f != libc::CLONE_NEWTIME
    }) {
        setns(fd, *flag)?;
    }
    for (fd, flag) in join.iter().filter(|(_, f)| *f == libc::CLONE_NEWNS) {
        setns(fd, *flag)?;
    }
    Ok(())
}

/// Waits for the runtime's "go".
pub fn wait_for_go(chan: &Channel) -> Result<()> {
    wait_go(chan)
}
