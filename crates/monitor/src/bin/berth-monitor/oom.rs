//! Best-effort OOM detection: the container's memory cgroup counts OOM kills
//! (`oom_kill N` in v1 `memory.oom_control` and in v2 `memory.events`).

use std::path::PathBuf;

/// The counter file of `pid`'s memory cgroup, if one can be found.
pub fn counter_file(pid: i32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let root = PathBuf::from("/sys/fs/cgroup");
    let mut candidates = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if ctrls.split(',').any(|c| c == "memory") {
            candidates.push(root.join(ctrls).join(rel).join("memory.oom_control"));
            candidates.push(root.join("memory").join(rel).join("memory.oom_control"));
        } else if ctrls.is_empty() {
            candidates.push(root.join(rel).join("memory.events"));
            candidates.push(root.join("unified").join(rel).join("memory.events"));
        }
    }
    candidates.into_iter().find(|p| p.exists())
}

/// The current OOM-kill count in `file` (0 when unreadable).
pub fn kills(file: &std::path::Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(file) else {
        return 0;
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
