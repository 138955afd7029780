//! Cgroup management for v1, hybrid and pure v2 layouts (detected from /proc/self/mountinfo).

use crate::devfilter::{self, Rule};
use crate::error::{Context, Error, Result};
use crate::util::write_file;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone)]
struct Hierarchy {
    mountpoint: PathBuf,
    /// The cgroup this mount shows at its mountpoint (`/` unless mounted from a namespace).
    root: PathBuf,
    /// v1 controllers (empty for cgroup2).
    controllers: Vec<String>,
    v2: bool,
}

fn hierarchies() -> Result<Vec<Hierarchy>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo".into())?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let mp = PathBuf::from(pre[4].replace("\\040", " "));
        let root = PathBuf::from(pre[3].replace("\\040", " "));
        match post[0] {
            "cgroup2" => out.push(Hierarchy {
                mountpoint: mp,
                root,
                controllers: vec![],
                v2: true,
            }),
            "cgroup" => {
                let ctrls: Vec<String> = post[2]
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                                | "clone_children"
                                | "xattr"
                                | "noprefix"
                        ) && !o.starts_with("name=")
                            && !o.starts_with("release_agent=")
                    })
                    .map(String::from)
                    .collect();
                if !ctrls.is_empty() && !out.iter().any(|h: &Hierarchy| h.controllers == ctrls) {
                    out.push(Hierarchy {
                        mountpoint: mp,
                        root,
                        controllers: ctrls,
                        v2: false,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The calling process's own cgroup directory in hierarchy `h` (from /proc/self/cgroup):
/// where runc's cgroupfs driver puts a relative cgroupsPath.
fn own_dir(h: &Hierarchy, own: &str) -> Result<PathBuf> {
    let mut want: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
    want.sort_unstable();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let mut have: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
        have.sort_unstable();
        if have != want {
            continue;
        }
        let rel = Path::new(path)
            .strip_prefix(&h.root)
            .map_err(|_| {
                Error::Unsupported(format!(
                    "own cgroup {path} is outside the cgroup mount at {}",
                    h.mountpoint.display()
                ))
            })?
            .to_path_buf();
        return Ok(h.mountpoint.join(rel));
    }
    Err(Error::Unsupported(format!(
        "relative cgroupsPath: no own cgroup for the hierarchy at {}",
        h.mountpoint.display()
    )))
}

/// The cgroup directories of one container, persisted in its state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cgroup {
    /// The configured path, e.g. `/berth/<id>`.
    pub path: PathBuf,
    /// v1 directories: (controllers, dir, mountpoint).
    pub v1: Vec<(Vec<String>, PathBuf, PathBuf)>,
    /// The v2 directory and its mountpoint (pure v2 only).
    pub v2: Option<(PathBuf, PathBuf)>,
    /// Hybrid hosts with [`DEVICE_BPF_ENV`] set: the container's directory in the cgroup2
    /// mount (and that mountpoint), used only to attach the eBPF device filter.
    #[serde(default)]
    pub unified: Option<(PathBuf, PathBuf)>,
}

/// Hidden switch (value `1`): on a hybrid host, enforce the device rules with the cgroup v2
/// eBPF filter on the container's cgroup in the cgroup2 mount *instead of* v1
/// `devices.allow/deny` — exactly the pure v2 code path, testable on hybrid machines.
pub const DEVICE_BPF_ENV: &str = "BERTH_RUNTIME_CGROUP_DEVICE_BPF";

fn clean_rel(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::RootDir | std::path::Component::CurDir => {}
            _ => return Err(Error::Config(format!("bad cgroupsPath {}", path.display()))),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Error::Config("empty cgroupsPath".into()));
    }
    Ok(out)
}

/// Device rules appended after the config's own (v1 `devices.allow` lines).
pub const DEFAULT_ALLOWED_DEVICES: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

impl Cgroup {
    /// Maps `path` under every mounted hierarchy (v1 controllers, or the cgroup2 root when
    /// no v1 controller is mounted). Nothing is created yet.
    ///
    /// As runc's cgroupfs driver, an absolute path is taken from each hierarchy's root and a
    /// relative one (such as the `slice:prefix:name` containerd hands over even without the
    /// systemd driver) from the calling process's own cgroup — on pure cgroup v2 from its
    /// parent, whose subtree can enable controllers.
    pub fn new(path: &Path) -> Result<Cgroup> {
        let rel = clean_rel(path)?;
        let relative = !path.is_absolute();
        let hs = hierarchies()?;
        let own = if relative {
            std::fs::read_to_string("/proc/self/cgroup").ctx(|| "read /proc/self/cgroup".into())?
        } else {
            String::new()
        };
        let base = |h: &Hierarchy, v2_leaf: bool| -> Result<PathBuf> {
            if !relative {
                return Ok(h.mountpoint.clone());
            }
            let d = own_dir(h, &own)?;
            Ok(match d.parent() {
                Some(p) if v2_leaf && d != h.mountpoint => p.to_path_buf(),
                _ => d,
            })
        };
        let mut cg = Cgroup {
            path: if relative {
                rel.clone()
            } else {
                PathBuf::from("/").join(&rel)
            },
            ..Default::default()
        };
        let any_v1 = hs.iter().any(|h| !h.v2);
        let force_bpf = std::env::var_os(DEVICE_BPF_ENV).is_some_and(|v| v == "1");
        for h in &hs {
            if h.v2 {
                if !any_v1 {
                    cg.v2 = Some((base(h, true)?.join(&rel), h.mountpoint.clone()));
                } else if force_bpf && cg.unified.is_none() {
                    cg.unified = Some((base(h, false)?.join(&rel), h.mountpoint.clone()));
                }
            } else {
                cg.v1.push((
                    h.controllers.clone(),
                    base(h, false)?.join(&rel),
                    h.mountpoint.clone(),
                ));
            }
        }
        if cg.v1.is_empty() && cg.v2.is_none() {
            return Err(Error::Unsupported("no cgroup hierarchy mounted".into()));
        }
        Ok(cg)
    }

    /// The v1 directory of controller `ctrl`, when that controller is mounted.
    pub fn controller_dir(&self, ctrl: &str) -> Option<&Path> {
        self.dir(ctrl)
    }

    fn dir(&self, ctrl: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(c, _, _)| c.iter().any(|x| x == ctrl))
            .map(|(_, d, _)| d.as_path())
    }

    /// All directories (leaf) of this container.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.v1.iter().map(|(_, d, _)| d.clone()).collect();
        if let Some((d, _)) = &self.v2 {
            v.push(d.clone());
        }
        if let Some((d, _)) = &self.unified {
            v.push(d.clone());
        }
        v
    }

    /// Creates the directories (and prepares cpuset / v2 subtree control on the way).
    pub fn create(&self) -> Result<()> {
        for (ctrls, dir, mp) in &self.v1 {
            mkdir_retry(dir)?;
            if ctrls.iter().any(|c| c == "cpuset") {
                init_cpuset(mp, dir)?;
            }
        }
        if let Some((dir, mp)) = &self.v2 {
            let avail = std::fs::read_to_string(mp.join("cgroup.controllers")).unwrap_or_default();
            let mut cur = mp.clone();
            let rel = dir.strip_prefix(mp).unwrap_or(Path::new(""));
            for comp in rel.components() {
                enable_controllers(&cur, &avail)?;
                cur.push(comp);
                if !cur.exists() {
                    std::fs::create_dir(&cur).ctx(|| format!("create cgroup {}", cur.display()))?;
                }
            }
        }
        if let Some((dir, _)) = &self.unified {
            // No controllers there: the directory only carries the device filter.
            mkdir_retry(dir)?;
        }
        Ok(())
    }

    /// Moves `pid` into every directory.
    pub fn add(&self, pid: i32) -> Result<()> {
        for d in self.dirs() {
            write_file(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Processes currently in the container's cgroup.
    pub fn procs(&self) -> Vec<i32> {
        let d = ["pids", "freezer", "memory", "cpu"]
            .iter()
            .find_map(|c| self.dir(c).map(Path::to_path_buf))
            .or_else(|| self.v2.as_ref().map(|(d, _)| d.clone()))
            .or_else(|| self.v1.first().map(|(_, d, _)| d.clone()));
        let Some(d) = d else { return vec![] };
        std::fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Freezes (true) or thaws (false) the container.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        if let Some(d) = self.dir("freezer") {
            write_file(
                &d.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            )?;
            for _ in 0..1000 {
                let s = std::fs::read_to_string(d.join("freezer.state")).unwrap_or_default();
                if s.trim() == if frozen { "FROZEN" } else { "THAWED" } {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            return Err(Error::State("freezer did not settle".into()));
        }
        if let Some((d, _)) = &self.v2 {
            return write_file(&d.join("cgroup.freeze"), if frozen { "1" } else { "0" });
        }
        Err(Error::Unsupported("no freezer cgroup".into()))
    }

    /// True when the freezer reports the container frozen.
    pub fn is_frozen(&self) -> bool {
        if let Some(d) = self.dir("freezer") {
            return std::fs::read_to_string(d.join("freezer.state"))
                .map(|s| s.trim() == "FROZEN")
                .unwrap_or(false);
        }
        if let Some((d, _)) = &self.v2 {
            return std::fs::read_to_string(d.join("cgroup.freeze"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false);
        }
        false
    }

    /// Kills every process left in the cgroup and waits (bounded) for them to go.
    pub fn kill_all(&self) {
        let frozen = self.is_frozen();
        for i in 0..400 {
            let procs = self.procs();
            if procs.is_empty() {
                return;
            }
            for p in &procs {
                // SAFETY: plain kill(2).
                unsafe { libc::kill(*p, libc::SIGKILL) };
            }
            if i == 0 && frozen {
                let _ = self.freeze(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(if i < 20 {
                1
            } else {
                10
            }));
        }
    }

    /// Removes the container's directories, then its now-empty parents below the first
    /// component of the configured path (relative paths: below the cgroup they were resolved
    /// from) (EBUSY/ENOTEMPTY on a parent means another container:
    /// left alone). The first component (`berth/` for berthd) is a parent shared with other
    /// runtimes and daemons: removing it would race their `mkdir -p` of a sibling (runc's
    /// MkdirAll fails with ENOENT), so it stays, as runc and crun leave theirs.
    pub fn destroy(&self) -> Result<()> {
        // The configured path hangs below `base` (the hierarchy's root, or for a relative
        // path the cgroup it was resolved from): nothing at or above it is ours.
        let depth = self
            .path
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count();
        let mut last_err = None;
        for dir in self.dirs() {
            if !dir.exists() {
                continue;
            }
            let Some(base) = dir.ancestors().nth(depth).map(Path::to_path_buf) else {
                continue;
            };
            let mut ok = false;
            for i in 0..200 {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        ok = true;
                        break;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && i < 199 => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(e) => {
                        last_err = Some(Error::io(format!("remove cgroup {}", dir.display()), e));
                        break;
                    }
                }
            }
            if ok {
                let shared_top = dir
                    .strip_prefix(&base)
                    .ok()
                    .and_then(|rel| rel.components().next())
                    .map(|first| base.join(first));
                let mut p = dir.parent().map(Path::to_path_buf);
                while let Some(d) = p {
                    if d == base || !d.starts_with(&base) || Some(&d) == shared_top.as_ref() {
                        break;
                    }
                    if std::fs::remove_dir(&d).is_err() {
                        break;
                    }
                    p = d.parent().map(Path::to_path_buf);
                }
            }
        }
        match last_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Where each controller's directory is (controller name, dir) — for the cgroup mount.
    pub fn v1_dirs(&self) -> &[(Vec<String>, PathBuf, PathBuf)] {
        &self.v1
    }

    /// Applies `linux.resources`.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        if self.v2.is_some() {
            return self.apply_v2(r);
        }
        self.apply_v1(r)?;
        if let (Some((d, _)), Some(devs)) = (&self.unified, r.devices()) {
            apply_device_filter(d, devs)?;
        }
        Ok(())
    }

    fn need(&self, ctrl: &str) -> Result<&Path> {
        self.dir(ctrl)
            .ok_or_else(|| Error::Unsupported(format!("cgroup controller {ctrl} not mounted")))
    }

    fn apply_v1(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            let d = self.need("memory")?;
            if m.kernel().is_some() || m.kernel_tcp().is_some() {
                return Err(Error::Unsupported("linux.resources.memory.kernel".into()));
            }
            let memsw = d.join("memory.memsw.limit_in_bytes");
            let mut swap = m.swap();
            // As runc: an unlimited memory without a swap value makes swap unlimited too.
            if m.limit() == Some(-1) && swap.is_none() && memsw.exists() {
                swap = Some(-1);
            }
            if let Some(s) = swap {
                if !memsw.exists() && s != -1 && Some(s) != m.limit() {
                    return Err(Error::Unsupported(
                        "memory swap limit (no swap accounting)".into(),
                    ));
                }
            }
            let write_limit = || -> Result<()> {
                match m.limit() {
                    Some(l) => write_file(&d.join("memory.limit_in_bytes"), &l.to_string()),
                    None => Ok(()),
                }
            };
            let write_swap = || -> Result<()> {
                match swap.filter(|_| memsw.exists()) {
                    Some(s) => write_file(&memsw, &s.to_string()),
                    None => Ok(()),
                }
            };
            // memory+swap may never be below memory: raise it first when it grows (as runc).
            let cur: u64 = std::fs::read_to_string(d.join("memory.limit_in_bytes"))
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(u64::MAX);
            let swap_first =
                m.limit().is_some() && swap.is_some_and(|s| s == -1 || (s > 0 && cur < s as u64));
            if swap_first {
                write_swap()?;
                write_limit()?;
            } else {
                write_limit()?;
                write_swap()?;
            }
            if let Some(v) = m.reservation() {
                write_file(&d.join("memory.soft_limit_in_bytes"), &v.to_string())?;
            }
            if let Some(v) = m.swappiness() {
                if v <= 100 {
                    write_file(&d.join("memory.swappiness"), &v.to_string())?;
                }
            }
            if m.disable_oom_killer() == Some(true) {
                write_file(&d.join("memory.oom_control"), "1")?;
            }
        }
        if let Some(c) = r.cpu() {
            if c.burst().is_some() || c.idle().is_some() {
                return Err(Error::Unsupported(
                    "linux.resources.cpu.burst/idle on cgroup v1".into(),
                ));
            }
            if c.shares().is_some()
                || c.quota().is_some()
                || c.period().is_some()
                || c.realtime_runtime().is_some()
            {
                let d = self.need("cpu")?;
                if let Some(v) = c.shares() {
                    write_file(&d.join("cpu.shares"), &v.to_string())?;
                }
                if let Some(v) = c.period() {
                    write_file(&d.join("cpu.cfs_period_us"), &v.to_string())?;
                }
                if let Some(v) = c.quota() {
                    write_file(&d.join("cpu.cfs_quota_us"), &v.to_string())?;
                }
                if let Some(v) = c.realtime_period() {
                    write_file(&d.join("cpu.rt_period_us"), &v.to_string())?;
                }
                if let Some(v) = c.realtime_runtime() {
                    write_file(&d.join("cpu.rt_runtime_us"), &v.to_string())?;
                }
            }
            if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                write_file(&self.need("cpuset")?.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                write_file(&self.need("cpuset")?.join("cpuset.mems"), v)?;
            }
        }
        if let Some(p) = r.pids() {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            write_file(&self.need("pids")?.join("pids.max"), &v)?;
        }
        if let Some(b) = r.block_io() {
            let d = self.need("blkio")?;
            // 0 means "not set" (docker always sends weight 0), as in runc.
            if b.leaf_weight().is_some_and(|w| w != 0) {
                return Err(Error::Unsupported(
                    "linux.resources.blockIO.leafWeight".into(),
                ));
            }
            if let Some(w) = b.weight().filter(|w| *w != 0) {
                let f = [d.join("blkio.weight"), d.join("blkio.bfq.weight")]
                    .into_iter()
                    .find(|f| f.exists());
                match f {
                    Some(f) => write_file(&f, &w.to_string())?,
                    None => {
                        return Err(Error::Unsupported(
                            "blkio weight (kernel has no blkio.weight)".into(),
                        ))
                    }
                }
            }
            if let Some(wd) = b.weight_device() {
                for w in wd {
                    let f = [
                        d.join("blkio.weight_device"),
                        d.join("blkio.bfq.weight_device"),
                    ]
                    .into_iter()
                    .find(|f| f.exists());
                    match (f, w.weight()) {
                        (Some(f), Some(wt)) => {
                            write_file(&f, &format!("{}:{} {}", w.major(), w.minor(), wt))?
                        }
                        (None, _) => return Err(Error::Unsupported("blkio weight_device".into())),
                        _ => {}
                    }
                }
            }
            let th = [
                (
                    b.throttle_read_bps_device(),
                    "blkio.throttle.read_bps_device",
                ),
                (
                    b.throttle_write_bps_device(),
                    "blkio.throttle.write_bps_device",
                ),
                (
                    b.throttle_read_iops_device(),
                    "blkio.throttle.read_iops_device",
                ),
                (
                    b.throttle_write_iops_device(),
                    "blkio.throttle.write_iops_device",
                ),
            ];
            for (list, file) in th {
                for t in list.iter().flatten() {
                    write_file(
                        &d.join(file),
                        &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                    )?;
                }
            }
        }
        if let Some(devs) = r.devices().as_ref().filter(|_| self.unified.is_none()) {
            if let Some(d) = self.dir("devices") {
                for rule in devs {
                    let t = match rule.typ() {
                        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
                        Some(LinuxDeviceType::B) => "b",
                        Some(LinuxDeviceType::P) => "p",
                        Some(LinuxDeviceType::A) | None => "a",
                    };
                    let num = |v: Option<i64>| {
                        v.filter(|x| *x >= 0)
                            .map(|x| x.to_string())
                            .unwrap_or_else(|| "*".into())
                    };
                    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
                    let line = if t == "a" && rule.major().is_none() && rule.minor().is_none() {
                        "a".to_string()
                    } else {
                        format!("{t} {}:{} {access}", num(rule.major()), num(rule.minor()))
                    };
                    let f = if rule.allow() {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    write_file(&d.join(f), &line)?;
                }
                // Like runc, always allow the devices every container gets (the standard
                // nodes, the pty master and slaves, tun) whatever the config's list says:
                // engines such as dockerd rely on it.
                for line in DEFAULT_ALLOWED_DEVICES {
                    write_file(&d.join("devices.allow"), line)?;
                }
            }
        }
        if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(Error::Unsupported("linux.resources.hugepageLimits".into()));
        }
        if r.network().is_some() {
            return Err(Error::Unsupported("linux.resources.network".into()));
        }
        if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(Error::Unsupported("linux.resources.rdma".into()));
        }
        if r.unified().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(Error::Unsupported(
                "linux.resources.unified on cgroup v1".into(),
            ));
        }
        Ok(())
    }

    fn apply_v2(&self, r: &LinuxResources) -> Result<()> {
        let Some((d, _)) = &self.v2 else {
            return Ok(());
        };
        if let Some(m) = r.memory() {
            let lim = m.limit().unwrap_or(0);
            if let Some(l) = m.limit() {
                write_file(
                    &d.join("memory.max"),
                    &if l > 0 { l.to_string() } else { "max".into() },
                )?;
            }
            if let Some(s) = m.swap() {
                let v = if s < 0 {
                    "max".to_string()
                } else {
                    (s - lim).max(0).to_string()
                };
                if d.join("memory.swap.max").exists() {
                    write_file(&d.join("memory.swap.max"), &v)?;
                }
            }
            if let Some(v) = m.reservation() {
                write_file(&d.join("memory.low"), &v.to_string())?;
            }
        }
        if let Some(c) = r.cpu() {
            if let Some(s) = c.shares() {
                let w = if s == 0 {
                    100
                } else {
                    1 + ((s.clamp(2, 262_144) - 2) * 9999) / 262_142
                };
                write_file(&d.join("cpu.weight"), &w.to_string())?;
            }
            if c.quota().is_some() || c.period().is_some() {
                let q = match c.quota() {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".into(),
                };
                write_file(
                    &d.join("cpu.max"),
                    &format!("{q} {}", c.period().unwrap_or(100_000)),
                )?;
            }
            if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                write_file(&d.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                write_file(&d.join("cpuset.mems"), v)?;
            }
        }
        if let Some(p) = r.pids() {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            write_file(&d.join("pids.max"), &v)?;
        }
        if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
            let v = 1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990;
            write_file(&d.join("io.weight"), &format!("default {v}"))?;
        }
        if let Some(u) = r.unified() {
            for (k, v) in u {
                if k.contains('/') {
                    return Err(Error::Config(format!("bad unified key {k}")));
                }
                write_file(&d.join(k), v)?;
            }
        }
        if let Some(devs) = r.devices() {
            apply_device_filter(d, devs)?;
        }
        Ok(())
    }
}

/// The cgroup v2 device controller: compiles the config's rules followed by
/// [`DEFAULT_ALLOWED_DEVICES`] into an eBPF program and attaches it to `dir`, replacing the
/// program attached there before.
fn apply_device_filter(dir: &Path, devs: &[LinuxDeviceCgroup]) -> Result<()> {
    let rules: Vec<Rule> = devs
        .iter()
        .filter_map(Rule::from_oci)
        .chain(
            DEFAULT_ALLOWED_DEVICES
                .iter()
                .filter_map(|l| Rule::from_line(l, true)),
        )
        .collect();
    let prog = crate::bpf::load_device_program(&devfilter::compile(&rules))?;
    crate::bpf::attach_device_program(dir, &prog)
}

/// create_dir_all that survives a concurrent delete removing an empty shared parent.
fn mkdir_retry(dir: &Path) -> Result<()> {
    let mut last = None;
    for _ in 0..5 {
        match std::fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last = Some(e),
            Err(e) => return Err(Error::io(format!("create cgroup {}", dir.display()), e)),
        }
    }
    Err(Error::io(
        format!("create cgroup {}", dir.display()),
        last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT)),
    ))
}

fn init_cpuset(mp: &Path, dir: &Path) -> Result<()> {
    let rel = dir.strip_prefix(mp).unwrap_or(Path::new(""));
    let mut parent = mp.to_path_buf();
    let mut cur = mp.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let mine = std::fs::read_to_string(cur.join(f)).unwrap_or_default();
            if mine.trim().is_empty() {
                let p = std::fs::read_to_string(parent.join(f))
                    .ctx(|| format!("read {}", parent.join(f).display()))?;
                write_file(&cur.join(f), p.trim())?;
            }
        }
        parent = cur.clone();
    }
    Ok(())
}

fn enable_controllers(dir: &Path, avail: &str) -> Result<()> {
    let cur = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let want: Vec<String> = avail
        .split_whitespace()
        .filter(|c| !cur.split_whitespace().any(|x| x == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if !want.is_empty() {
        write_file(&dir.join("cgroup.subtree_control"), &want.join(" "))?;
    }
    Ok(())
}
