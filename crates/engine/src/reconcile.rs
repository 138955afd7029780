//! Crash recovery: at start, reconcile what really exists (processes, runtime state, cgroups,
//! mounts, netns, endpoints, snapshots, build leftovers) against the container records, so a
//! daemon killed at any point of a multi-step change leaks nothing after its next start.
//!
//! Evidence of a container id is only taken from this daemon's own roots (`E/runtime/<id>`,
//! `E/m/<id12>`, `E/netns/<id>`, `D/containers/<id>`, `D/build/run/<id>`, snapshots, the
//! network store): the cgroup parent `berth/` is shared with other daemons, so a cgroup is
//! only touched for an id found that way.

use crate::engine::{blocking, Engine};
use crate::types::Status;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Mount points of every cgroup hierarchy (v1 controllers and the v2 mount), as the kernel
/// lists them in `/proc/self/mountinfo` (detected, not assumed).
fn cgroup_mounts() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mp) = left.split(' ').nth(4) {
            let p = PathBuf::from(mp.replace("\\040", " "));
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The `berth/<id>` cgroup directories of `id` that exist, in every hierarchy.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.join("berth").join(id))
        .filter(|p| p.is_dir())
        .collect()
}

/// Removes a cgroup directory and its children (deepest first); a cgroup with live tasks
/// stays (EBUSY) and is reported as false.
fn remove_cgroup(dir: &Path) -> bool {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&e.path());
            }
        }
    }
    std::fs::remove_dir(dir).is_ok() || !dir.exists()
}

/// Pids of processes that belong to container `id`: its monitor (started with
/// `--socket-dir <socket_dir>`) and every task of a `berth/<id>` cgroup.
fn processes_of(id: &str, socket_dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let cg = format!("/berth/{id}");
    let cg_child = format!("/berth/{id}/");
    let sd = socket_dir.as_os_str().as_encoded_bytes();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = e.path();
        let in_cgroup = std::fs::read_to_string(dir.join("cgroup"))
            .map(|s| {
                s.lines().any(|l| {
                    let p = l.splitn(3, ':').nth(2).unwrap_or("");
                    p == cg || p.starts_with(&cg_child)
                })
            })
            .unwrap_or(false);
        let is_monitor = !in_cgroup
            && std::fs::read(dir.join("cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|a| a == sd))
                .unwrap_or(false);
        if in_cgroup || is_monitor {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` is gone or a zombie.
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
            .unwrap_or(true),
        Err(_) => true,
    }
}

impl Engine {
    /// Whether anything of container `id` outside its record may still be alive: its monitor
    /// socket dir, runtime state or a cgroup. Cheap (a few stat calls).
    pub(crate) fn has_leftovers(&self, id: &str) -> bool {
        self.paths.socket_dir(id).exists()
            || self.paths.runtime_root().join(id).exists()
            || !cgroup_dirs(id).is_empty()
    }

    /// Blocking: end every process of container `id` (monitor, init, anything in its
    /// cgroup), delete its runtime state and cgroups, unmount its rootfs. The record, files,
    /// snapshot and network stay (the caller decides). Only for a container that is not
    /// running as far as the records know (a crash between spawning the monitor and saving
    /// the record leaves a "Created" container with a live monitor and a blocked init).
    pub(crate) fn reap_leftovers(&self, id: &str) {
        let sd = self.paths.socket_dir(id);
        let pids = processes_of(id, &sd);
        if !pids.is_empty() {
            tracing::info!("{id}: killing {} leftover process(es)", pids.len());
        }
        for &p in &pids {
            // SAFETY: kill(2) on pids just found in this daemon's monitor/cgroup of `id`.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && !pids.iter().all(|&p| dead(p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.paths.runtime_root().join(id).exists() {
            let _ = std::process::Command::new(&self.cfg.runtime)
                .arg("--root")
                .arg(self.paths.runtime_root())
                .args(["delete", "--force", id])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(self.paths.runtime_root().join(id));
        }
        for dir in cgroup_dirs(id) {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !remove_cgroup(&dir) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&sd);
        if let Err(e) = self.images.unmount(id) {
            tracing::warn!("{id}: unmounting leftover rootfs: {e}");
        }
    }

    /// Blocking: everything of a container id that has no record (a crash during create or
    /// rm): processes, runtime state, cgroups, endpoints and netns, snapshot, directories.
    fn remove_orphan(&self, id: &str) {
        tracing::info!("removing leftovers of container {id}");
        self.reap_leftovers(id);
        self.net_release(id);
        if let Err(e) = self.images.remove(id) {
            tracing::warn!("{id}: removing leftover snapshot: {e}");
        }
        crate::shared_ns::unmount_shm(&self.paths.container_dir(id));
        let _ = std::fs::remove_dir_all(self.paths.container_dir(id));
    }

    /// Container ids this daemon's roots hold evidence of (see the module doc).
    fn ids_on_disk(&self) -> HashSet<String> {
        let mut ids = HashSet::new();
        let is_id = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let dirs = [
            self.paths.data_root.join("containers"),
            self.paths.runtime_root(),
            self.network.config().netns_path("x").with_file_name(""),
        ];
        for d in dirs {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if is_id(&n) {
                    ids.insert(n);
                }
            }
        }
        if let Ok(p) = self.images.snapshots.path("x") {
            if let Some(dir) = p.parent() {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if is_id(&n) {
                        ids.insert(n);
                    }
                }
            }
        }
        if let Ok(nets) = self.network.list() {
            for n in nets {
                for e in self.network.endpoints(&n.id).unwrap_or_default() {
                    ids.insert(e.container_id);
                }
            }
        }
        ids
    }

    /// Blocking: what builds of a daemon that died mid-build left: RUN containers (their
    /// process is killed, runtime state, cgroup and bundle removed) under `D/build/run`, and
    /// `build-*` snapshots (no build runs while the engine opens).
    fn reap_build_leftovers(&self) {
        let run = self.paths.data_root.join("build").join("run");
        for e in std::fs::read_dir(&run).into_iter().flatten().flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            tracing::info!("removing leftovers of build RUN container {id}");
            self.reap_leftovers(&id);
            let _ = std::fs::remove_dir_all(e.path());
        }
        if let Ok(p) = self.images.snapshots.path("x") {
            if let Some(dir) = p.parent() {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let key = e.file_name().to_string_lossy().into_owned();
                    if key.starts_with("build-") {
                        if let Err(err) = self.images.remove(&key) {
                            tracing::warn!("removing build snapshot {key}: {err}");
                        }
                    }
                }
            }
        }
    }

    /// At start, after [`Engine::recover`] and before the networks are restored: reap what
    /// a crash left (see the module doc). Containers still running (reconnected monitors)
    /// are not touched; a not-running record loses any live process, runtime state, cgroup,
    /// rootfs mount and published ports; an id without a record loses everything.
    pub(crate) async fn reconcile(self: &std::sync::Arc<Self>) {
        let this = self.clone();
        let _ = blocking(move || {
            let (known, stopped): (HashSet<String>, Vec<String>) = {
                let inner = this.lock();
                let known = inner.containers.keys().cloned().collect();
                let stopped = inner
                    .containers
                    .values()
                    .filter(|c| !c.state.running && !inner.live.contains_key(&c.id))
                    .map(|c| c.id.clone())
                    .collect();
                (known, stopped)
            };
            for id in this.ids_on_disk() {
                if !known.contains(&id) {
                    this.remove_orphan(&id);
                }
            }
            for id in stopped {
                if this.has_leftovers(&id) {
                    tracing::info!("{id}: not running, cleaning what a crash left");
                    this.reap_leftovers(&id);
                    this.net_stopped(&id);
                    if let Ok(mut c) = this.get(&id) {
                        c.mounted = false;
                        if c.state.status == Status::Running {
                            c.state.status = Status::Exited;
                        }
                        let _ = this.save(&c);
                    }
                }
            }
            this.reap_build_leftovers();
            Ok(())
        })
        .await;
    }
}
