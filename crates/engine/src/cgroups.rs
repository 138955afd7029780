//! Where a container's cgroup lives on this host (v1 controllers or the v2 unified tree)
//! and what the host's cgroups can limit. Read-only: the OCI runtime writes the limits.

use std::path::{Path, PathBuf};

/// Root of the cgroup mounts.
const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup layout of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1 (legacy or hybrid): one hierarchy per controller.
    V1,
    /// cgroup v2 only: one unified hierarchy at `/sys/fs/cgroup`.
    V2,
}

/// Detects the layout: v2 when `/sys/fs/cgroup` itself is the unified hierarchy.
pub fn layout() -> Layout {
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        Layout::V2
    } else {
        Layout::V1
    }
}

/// The cgroup directories of one process, read from `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, Default)]
pub struct ProcCgroups {
    /// v1: (controller, directory) for every controller hierarchy the process is in.
    pub v1: Vec<(String, PathBuf)>,
    /// v2: the unified directory (on a v2 host; on a hybrid host the `unified` mount).
    pub unified: Option<PathBuf>,
}

impl ProcCgroups {
    /// The cgroups of process `pid` (empty when it is gone).
    pub fn of_pid(pid: i64) -> ProcCgroups {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        Self::parse(&text, layout())
    }

    /// Parses `/proc/<pid>/cgroup` text for a host with layout `l`.
    pub fn parse(text: &str, l: Layout) -> ProcCgroups {
        let mut out = ProcCgroups::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            if ctrls.is_empty() {
                out.unified = Some(match l {
                    Layout::V2 => PathBuf::from(ROOT).join(rel),
                    Layout::V1 => PathBuf::from(ROOT).join("unified").join(rel),
                });
                continue;
            }
            let mount = PathBuf::from(ROOT).join(ctrls.trim_start_matches("name="));
            for ctrl in ctrls.split(',').filter(|c| !c.is_empty()) {
                let base = if mount.exists() {
                    mount.clone()
                } else {
                    PathBuf::from(ROOT).join(ctrl)
                };
                out.v1.push((ctrl.to_string(), base.join(rel)));
            }
        }
        out
    }

    /// The v1 directory of `controller`.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, p)| p.as_path())
    }
}

/// The directory a runtime puts the cgroup of container `id` in for `controller`
/// (`cgroupsPath` is `/berth/<id>`): `/sys/fs/cgroup/<controller>/berth/<id>` on v1,
/// `/sys/fs/cgroup/berth/<id>` on v2 (where `controller` is ignored).
pub fn container_dir(id: &str, controller: &str) -> PathBuf {
    match layout() {
        Layout::V1 => {
            let base = PathBuf::from(ROOT).join(controller);
            // `cpu` and `cpuacct` are often co-mounted as `cpu,cpuacct` with symlinks.
            base.join("berth").join(id)
        }
        Layout::V2 => PathBuf::from(ROOT).join("berth").join(id),
    }
}

/// Whether the host can set a block I/O weight (`blkio.weight` / `blkio.bfq.weight` on v1,
/// `io.weight` / `io.bfq.weight` on v2).
pub fn blkio_weight_supported() -> bool {
    match layout() {
        Layout::V1 => {
            let b = Path::new(ROOT).join("blkio");
            b.join("blkio.weight").exists() || b.join("blkio.bfq.weight").exists()
        }
        Layout::V2 => {
            let ctrls = std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
                .unwrap_or_default();
            ctrls.split_whitespace().any(|c| c == "io")
        }
    }
}

/// The CPUs this host has online (`/sys/devices/system/cpu/online`), as a list.
pub fn online_cpus() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_list(s.trim()))
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            (0..n as u32).collect()
        })
}

/// The memory nodes this host has online.
pub fn online_mems() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/node/online")
        .ok()
        .and_then(|s| parse_list(s.trim()))
        .unwrap_or_else(|| vec![0])
}

/// Parses a kernel list such as `0-3,5` (None when malformed or empty).
pub fn parse_list(s: &str) -> Option<Vec<u32>> {
    if s.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = a.trim().parse().ok()?;
        let b: u32 = b.trim().parse().ok()?;
        if a > b || b - a > 4096 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_proc_cgroup() {
        assert_eq!(parse_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list("3"), Some(vec![3]));
        assert_eq!(parse_list("a"), None);
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list(""), None);
        let v2 = ProcCgroups::parse("0::/berth/abc\n", Layout::V2);
        assert_eq!(v2.unified, Some(PathBuf::from("/sys/fs/cgroup/berth/abc")));
        assert!(v2.v1.is_empty());
        let v1 = ProcCgroups::parse("4:memory:/berth/abc\n0::/\n", Layout::V1);
        assert_eq!(
            v1.v1_dir("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/berth/abc"))
        );
        assert_eq!(v1.unified, Some(PathBuf::from("/sys/fs/cgroup/unified/")));
    }
}
