//! Root filesystem preparation inside the container's mount namespace: mounts, device nodes,
//! pivot_root, masked and read-only paths.

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::fsutil::{parse_options, propagation_flag, secure_join};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Config(format!("NUL in path {}", p.display())))
}

/// mount(2) with paths; `None` for absent arguments.
pub fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let s = src.map(cstr).transpose()?;
    let t = cstr(target)?;
    let f = fstype.map(|x| CString::new(x).unwrap_or_default());
    let d = data
        .filter(|d| !d.is_empty())
        .map(|x| CString::new(x).unwrap_or_default());
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let r = unsafe {
        libc::mount(
            s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            t.as_ptr(),
            f.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            flags,
            d.as_ref().map_or(std::ptr::null(), |c| c.as_ptr().cast()),
        )
    };
    if r != 0 {
        return Err(Error::last(format!(
            "mount {} on {} ({})",
            src.map(|p| p.display().to_string()).unwrap_or_default(),
            target.display(),
            fstype.unwrap_or("")
        )));
    }
    Ok(())
}

fn mkdir_all(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).ctx(|| format!("mkdir {}", p.display()))
}

fn ensure_file(p: &Path) -> Result<()> {
    if let Some(parent) = p.parent() {
        mkdir_all(parent)?;
    }
    if std::fs::symlink_metadata(p).is_err() {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p)
            .ctx(|| format!("create {}", p.display()))?;
    }
    Ok(())
}

/// Flags of the mount containing `p` (for bind remounts that must keep them).
fn mount_flags(p: &Path) -> libc::c_ulong {
    let Ok(c) = cstr(p) else { return 0 };
    // SAFETY: statvfs writes into a zeroed struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return 0;
    }
    let mut f = 0;
    for (st, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if s.f_flag & st != 0 {
            f |= ms;
        }
    }
    f
}

/// Everything needed to build the rootfs.
pub struct RootfsCtx<'a> {
    /// The parsed config.
    pub spec: &'a Spec,
    /// Absolute bundle dir (relative bind sources resolve against it).
    pub bundle: &'a Path,
    /// Absolute rootfs path.
    pub rootfs: &'a Path,
    /// The container's cgroups (for `cgroup` mounts).
    pub cgroup: Option<&'a Cgroup>,
    /// Whether the container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Whether the container has its own network namespace (sysfs mounts).
    pub terminal: bool,
}

/// Prepares mounts and devices under the rootfs (before pivot_root).
pub fn prepare(ctx: &RootfsCtx) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let pflag = root_propagation_flag(ctx.spec)?;
    // As runc: the requested propagation (rslave by default) straight away, so mounts the
    // host makes later under a shared source still reach the container; the rootfs's parent
    // mount is made private so that binding the rootfs (and pivot_root) leaks nothing.
    mount(None, Path::new("/"), None, pflag, None)?;
    parent_mount_private(ctx.rootfs)?;
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        Some("bind"),
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    let mut dev_bound = false;
    for m in ctx.spec.mounts().iter().flatten() {
        if m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("bind") {
            dev_bound = true;
        }
        mount_one(ctx, m)?;
    }
    if !dev_bound {
        default_devices(ctx.rootfs)?;
    }
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        create_device(ctx.rootfs, d)?;
    }
    if ctx.terminal {
        ensure_file(&ctx.rootfs.join("dev/console"))?;
    }
    Ok(())
}

/// The mount flags of `linux.rootfsPropagation`; runc's default when unset is rslave.
fn root_propagation_flag(spec: &Spec) -> Result<libc::c_ulong> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
    {
        None => Ok(libc::MS_SLAVE | libc::MS_REC),
        Some(p) => propagation_flag(p)
            .filter(|f| f & (libc::MS_SHARED | libc::MS_SLAVE | libc::MS_PRIVATE) != 0)
            .ok_or_else(|| Error::Config(format!("bad rootfsPropagation {p}"))),
    }
}

/// Makes the mount holding `rootfs` private when it is shared (only that mount): the bind
/// of the rootfs then joins no peer group of the host, and pivot_root accepts it.
fn parent_mount_private(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo".into())?;
    let mut best: Option<(PathBuf, bool)> = None;
    for line in info.lines() {
        let Some((pre, _)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = pre.split(' ').collect();
        if f.len() < 6 {
            continue;
        }
        let mp = PathBuf::from(unescape_mountinfo(f[4]));
        if !rootfs.starts_with(&mp) {
            continue;
        }
        let shared = f[6..].iter().any(|o| o.starts_with("shared:"));
        // Later lines stack over earlier ones at the same mountpoint.
        if best
            .as_ref()
            .is_none_or(|(b, _)| mp.as_os_str().len() >= b.as_os_str().len())
        {
            best = Some((mp, shared));
        }
    }
    match best {
        Some((mp, true)) => mount(None, &mp, None, libc::MS_PRIVATE, None),
        _ => Ok(()),
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mount_one(ctx: &RootfsCtx, m: &Mount) -> Result<()> {
    let dest_rel = m.destination();
    if !dest_rel.is_absolute() {
        return Err(Error::Config(format!(
            "mount destination {} is not absolute",
            dest_rel.display()
        )));
    }
    let dest = secure_join(ctx.rootfs, dest_rel)?;
    let o = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if o.bind { "bind" } else { "none" });
    let data = o.data.join(",");
    if o.bind || typ == "bind" {
        let src = m.source().clone().ok_or_else(|| {
            Error::Config(format!("bind mount {} without source", dest_rel.display()))
        })?;
        let src = if src.is_absolute() {
            src
        } else {
            ctx.bundle.join(src)
        };
        let meta = std::fs::metadata(&src).ctx(|| format!("bind source {}", src.display()))?;
        if meta.is_dir() {
            mkdir_all(&dest)?;
        } else {
            ensure_file(&dest)?;
        }
        mount(
            Some(&src),
            &dest,
            Some("bind"),
            libc::MS_BIND | (o.flags & libc::MS_REC),
            None,
        )?;
        let extra = o.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
        if extra != 0 {
            mount(
                None,
                &dest,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | extra | mount_flags(&dest),
                None,
            )?;
        }
    } else {
        match typ {
            "cgroup" | "cgroup2" => return mount_cgroup(ctx, &dest, o.flags),
            "sysfs" => {
                mkdir_all(&dest)?;
                if let Err(e) = mount(
                    Some(Path::new("sysfs")),
                    &dest,
                    Some("sysfs"),
                    o.flags,
                    Some(&data),
                ) {
                    // Without a private net namespace sysfs cannot be mounted: bind the host's.
                    mount(
                        Some(Path::new("/sys")),
                        &dest,
                        Some("bind"),
                        libc::MS_BIND | libc::MS_REC,
                        None,
                    )
                    .map_err(|_| e)?;
                    mount(
                        None,
                        &dest,
                        None,
                        libc::MS_BIND | libc::MS_REMOUNT | o.flags | mount_flags(&dest),
                        None,
                    )?;
                }
            }
            _ => {
                mkdir_all(&dest)?;
                let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
                mount(Some(&src), &dest, Some(typ), o.flags, Some(&data))?;
            }
        }
    }
    for p in &o.propagation {
        mount(None, &dest, None, *p, None)?;
    }
    Ok(())
}

/// A read-only view of the container's own cgroups.
fn mount_cgroup(ctx: &RootfsCtx, dest: &Path, flags: libc::c_ulong) -> Result<()> {
    mkdir_all(dest)?;
    let Some(cg) = ctx.cgroup else { return Ok(()) };
    let base = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if let Some((dir, _)) = &cg.v2 {
        if ctx.cgroupns {
            return mount(
                Some(Path::new("cgroup2")),
                dest,
                Some("cgroup2"),
                flags | base,
                None,
            );
        }
        mount(Some(dir), dest, Some("bind"), libc::MS_BIND, None)?;
        return mount(
            None,
            dest,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | flags | base,
            None,
        );
    }
    mount(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )?;
    for (ctrls, dir, mp) in cg.v1_dirs() {
        let name = mp
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(ctrls.join(",")));
        let target = dest.join(&name);
        mkdir_all(&target)?;
        mount(Some(dir), &target, Some("bind"), libc::MS_BIND, None)?;
        mount(
            None,
            &target,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | base,
            None,
        )?;
        if ctrls.len() > 1 {
            for c in ctrls {
                let l = dest.join(c);
                if Path::new(c) != name && std::fs::symlink_metadata(&l).is_err() {
                    std::os::unix::fs::symlink(&name, &l)
                        .ctx(|| format!("symlink {}", l.display()))?;
                }
            }
        }
    }
    if flags & libc::MS_RDONLY != 0 {
        mount(
            None,
            dest,
            None,
            libc::MS_REMOUNT | libc::MS_RDONLY | base,
            None,
        )?;
    }
    Ok(())
}

const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn mknod_or_bind(
    rootfs: &Path,
    rel: &Path,
    kind: libc::mode_t,
    major: u32,
    minor: u32,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let dest = secure_join(rootfs, rel)?;
    if let Some(p) = dest.parent() {
        mkdir_all(p)?;
    }
    let _ = std::fs::remove_file(&dest);
    let c = cstr(&dest)?;
    // SAFETY: valid path; mknod creates a node.
    let r = unsafe {
        libc::mknod(
            c.as_ptr(),
            kind | (mode & 0o7777),
            libc::makedev(major, minor),
        )
    };
    if r != 0 {
        let err = std::io::Error::last_os_error();
        if kind == libc::S_IFIFO {
            return Err(Error::io(format!("mkfifo {}", dest.display()), err));
        }
        // No CAP_MKNOD (or nodev): bind the host's node instead.
        ensure_file(&dest)?;
        let host = Path::new("/").join(rel);
        return mount(Some(&host), &dest, Some("bind"), libc::MS_BIND, None);
    }
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o7777))
        .ctx(|| format!("chmod {}", dest.display()))?;
    if let Some((u, g)) = owner {
        std::os::unix::fs::chown(&dest, Some(u), Some(g))
            .ctx(|| format!("chown {}", dest.display()))?;
    }
    Ok(())
}

fn default_devices(rootfs: &Path) -> Result<()> {
    for (name, ma, mi) in DEFAULT_DEVICES {
        mknod_or_bind(
            rootfs,
            &Path::new("dev").join(name),
            libc::S_IFCHR,
            ma,
            mi,
            0o666,
            None,
        )?;
    }
    let dev = secure_join(rootfs, Path::new("/dev"))?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let l = dev.join(link);
        if link == "ptmx" {
            let _ = std::fs::remove_file(&l);
        }
        if std::fs::symlink_metadata(&l).is_err() {
            std::os::unix::fs::symlink(target, &l).ctx(|| format!("symlink {}", l.display()))?;
        }
    }
    if Path::new("/proc/kcore").exists() {
        let l = dev.join("core");
        if std::fs::symlink_metadata(&l).is_err() {
            let _ = std::os::unix::fs::symlink("/proc/kcore", &l);
        }
    }
    Ok(())
}

fn create_device(rootfs: &Path, d: &LinuxDevice) -> Result<()> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::Config(format!(
                "device {} has type a",
                d.path().display()
            )))
        }
    };
    let owner = match (d.uid(), d.gid()) {
        (None, None) => None,
        (u, g) => Some((u.unwrap_or(0), g.unwrap_or(0))),
    };
    mknod_or_bind(
        rootfs,
        d.path(),
        kind,
        d.major() as u32,
        d.minor() as u32,
        d.file_mode().unwrap_or(0o666),
        owner,
    )
}

/// pivot_root into `rootfs` and detach the old root.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let c = cstr(rootfs)?;
    let dot = CString::new(".").unwrap_or_default();
    // SAFETY: plain syscalls on valid paths.
    unsafe {
        if libc::chdir(c.as_ptr()) != 0 {
            return Err(Error::last(format!("chdir {}", rootfs.display())));
        }
        if libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0 {
            return Err(Error::last("pivot_root"));
        }
    }
    mount(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )?;
    // SAFETY: detach the old root stacked on "."
    if unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(Error::last("unmount old root"));
    }
    std::env::set_current_dir("/").ctx(|| "chdir /".into())
}

/// After pivot_root: applies `linux.rootfsPropagation` again to the new root (the old
/// root was made rslave to detach it), as runc does.
pub fn root_propagation(spec: &Spec) -> Result<()> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
    {
        Some(_) => mount(
            None,
            Path::new("/"),
            None,
            root_propagation_flag(spec)?,
            None,
        ),
        None => Ok(()),
    }
}

/// After pivot_root: masked paths, read-only paths and a read-only root.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                libc::MS_RDONLY,
                None,
            )?,
            Ok(_) => mount(
                Some(Path::new("/dev/null")),
                path,
                Some("bind"),
                libc::MS_BIND,
                None,
            )?,
            Err(_) => {}
        }
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount(
            Some(path),
            path,
            Some("bind"),
            libc::MS_BIND | libc::MS_REC,
            None,
        )?;
        mount(
            None,
            path,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | mount_flags(path),
            None,
        )?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let root = Path::new("/");
        mount(
            None,
            root,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | mount_flags(root),
            None,
        )?;
    }
    Ok(())
}
