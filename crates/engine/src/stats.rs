//! `docker stats`: one sample of a running container's cgroup (v1) counters.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The cgroup (v1) directory of each controller of process `pid`.
fn cgroup_dirs(pid: i64) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        for ctrl in ctrls.split(',').filter(|c| !c.is_empty()) {
            let mount = PathBuf::from("/sys/fs/cgroup").join(ctrls);
            let base = if mount.exists() {
                mount
            } else {
                PathBuf::from("/sys/fs/cgroup").join(ctrl)
            };
            out.insert(ctrl.to_string(), base.join(path.trim_start_matches('/')));
        }
    }
    out
}

fn read_u64(p: PathBuf) -> u64 {
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

/// One sample: (`cpu_stats`, `memory_stats`, `pids_stats`) in Docker's shape.
pub fn sample(pid: i64) -> (Value, Value, Value) {
    let dirs = cgroup_dirs(pid);
    let cpu = dirs.get("cpuacct").cloned().unwrap_or_default();
    let percpu: Vec<u64> = std::fs::read_to_string(cpu.join("cpuacct.usage_percpu"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let mut user = 0;
    let mut system = 0;
    for l in std::fs::read_to_string(cpu.join("cpuacct.stat"))
        .unwrap_or_default()
        .lines()
    {
        let mut it = l.split_whitespace();
        match (it.next(), it.next().and_then(|v| v.parse::<u64>().ok())) {
            (Some("user"), Some(v)) => user = v * 10_000_000,
            (Some("system"), Some(v)) => system = v * 10_000_000,
            _ => {}
        }
    }
    let online = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu_stats = json!({
        "cpu_usage": {
            "total_usage": read_u64(cpu.join("cpuacct.usage")),
            "percpu_usage": percpu,
            "usage_in_kernelmode": system,
            "usage_in_usermode": user,
        },
        "system_cpu_usage": system_cpu_ns(),
        "online_cpus": online,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    });
    let mem = dirs.get("memory").cloned().unwrap_or_default();
    let mut stat = serde_json::Map::new();
    for l in std::fs::read_to_string(mem.join("memory.stat"))
        .unwrap_or_default()
        .lines()
    {
        if let Some((k, v)) = l.split_once(' ') {
            if let Ok(n) = v.trim().parse::<u64>() {
                stat.insert(k.to_string(), json!(n));
            }
        }
    }
    let memory_stats = json!({
        "usage": read_u64(mem.join("memory.usage_in_bytes")),
        "max_usage": read_u64(mem.join("memory.max_usage_in_bytes")),
        "limit": read_u64(mem.join("memory.limit_in_bytes")),
        "stats": stat,
    });
    let pids = dirs.get("pids").cloned().unwrap_or_default();
    let max = std::fs::read_to_string(pids.join("pids.max")).unwrap_or_default();
    let mut pids_stats = json!({"current": read_u64(pids.join("pids.current"))});
    if let Ok(m) = max.trim().parse::<u64>() {
        pids_stats["limit"] = json!(m);
    }
    (cpu_stats, memory_stats, pids_stats)
}
