//! `docker stats`: one sample of a running container's counters in Docker's JSON shape —
//! CPU, memory, pids and block I/O from its cgroup (v1 controllers or the v2 unified
//! directory), and per-interface network counters from its network namespace.

use crate::cgroups::{layout, Layout, ProcCgroups};
use serde_json::{json, Map, Value};
use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn read_u64(p: &Path) -> u64 {
    read(p).trim().parse().unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat) as a map of numbers.
fn flat_keyed(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once(' ') {
            if let Ok(n) = v.trim().parse::<u64>() {
                m.insert(k.to_string(), json!(n));
            }
        }
    }
    m
}

fn get(m: &Map<String, Value>, k: &str) -> u64 {
    m.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// Host CPU time in nanoseconds (the sum of `/proc/stat`'s `cpu` line), as Docker reports
/// `system_cpu_usage`.
pub fn system_cpu_ns() -> u64 {
    let text = read(Path::new("/proc/stat"));
    let ticks: u64 = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

/// Total memory of the host in bytes.
pub fn host_memory() -> u64 {
    let text = read(Path::new("/proc/meminfo"));
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// What Docker sends for a container that is not running.
pub fn empty() -> Value {
    json!({
        "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                      "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {},
        "pids_stats": {},
        "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null,
                        "io_queue_recursive": null, "io_service_time_recursive": null,
                        "io_wait_time_recursive": null, "io_merged_recursive": null,
                        "io_time_recursive": null, "sectors_recursive": null},
        "networks": {},
    })
}

/// One sample of process `pid` (the container's init): the fields `cpu_stats`,
/// `memory_stats`, `pids_stats`, `blkio_stats` and `networks` of Docker's stats object.
pub fn sample(pid: i64) -> Value {
    let cg = ProcCgroups::of_pid(pid);
    let online = crate::cgroups::online_cpus().len().max(1);
    let mut v = match (layout(), &cg.unified) {
        (Layout::V2, Some(dir)) => sample_v2(dir),
        _ => sample_v1(&cg),
    };
    v["cpu_stats"]["system_cpu_usage"] = json!(system_cpu_ns());
    v["cpu_stats"]["online_cpus"] = json!(online);
    v["networks"] = networks(pid);
    v
}

fn sample_v1(cg: &ProcCgroups) -> Value {
    let dir = |c: &str| cg.v1_dir(c).map(Path::to_path_buf).unwrap_or_default();
    let cpu = dir("cpuacct");
    let percpu: Vec<u64> = read(&cpu.join("cpuacct.usage_percpu"))
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // cpuacct.stat counts USER_HZ ticks.
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let st = flat_keyed(&read(&cpu.join("cpuacct.stat")));
    let throttle = flat_keyed(&read(&dir("cpu").join("cpu.stat")));
    let cpu_stats = json!({
        "cpu_usage": {
            "total_usage": read_u64(&cpu.join("cpuacct.usage")),
            "percpu_usage": percpu,
            "usage_in_kernelmode": get(&st, "system") * (1_000_000_000 / hz),
            "usage_in_usermode": get(&st, "user") * (1_000_000_000 / hz),
        },
        "throttling_data": {
            "periods": get(&throttle, "nr_periods"),
            "throttled_periods": get(&throttle, "nr_throttled"),
            "throttled_time": get(&throttle, "throttled_time"),
        },
    });
    let mem = dir("memory");
    let stats = flat_keyed(&read(&mem.join("memory.stat")));
    let limit = read_u64(&mem.join("memory.limit_in_bytes"));
    let memory_stats = json!({
        "usage": read_u64(&mem.join("memory.usage_in_bytes")),
        "max_usage": read_u64(&mem.join("memory.max_usage_in_bytes")),
        "failcnt": read_u64(&mem.join("memory.failcnt")),
        "stats": stats,
        "limit": capped_limit(limit),
    });
    let pids = dir("pids");
    let blk = dir("blkio");
    let entries = |f: &str| {
        let mut e = blkio_v1(&read(&blk.join(format!("blkio.{f}"))));
        if e.is_empty() {
            e = blkio_v1(&read(&blk.join(format!("blkio.throttle.{f}"))));
        }
        e
    };
    json!({
        "cpu_stats": cpu_stats,
        "memory_stats": memory_stats,
        "pids_stats": pids_stats(&read(&pids.join("pids.current")), &read(&pids.join("pids.max"))),
        "blkio_stats": {
            "io_service_bytes_recursive": entries("io_service_bytes_recursive"),
            "io_serviced_recursive": entries("io_serviced_recursive"),
            "io_queue_recursive": [], "io_service_time_recursive": [],
            "io_wait_time_recursive": [], "io_merged_recursive": [],
            "io_time_recursive": [], "sectors_recursive": [],
        },
    })
}

fn sample_v2(dir: &Path) -> Value {
    let cpu = flat_keyed(&read(&dir.join("cpu.stat")));
    let cpu_stats = json!({
        "cpu_usage": {
            "total_usage": get(&cpu, "usage_usec") * 1000,
            "usage_in_kernelmode": get(&cpu, "system_usec") * 1000,
            "usage_in_usermode": get(&cpu, "user_usec") * 1000,
        },
        "throttling_data": {
            "periods": get(&cpu, "nr_periods"),
            "throttled_periods": get(&cpu, "nr_throttled"),
            "throttled_time": get(&cpu, "throttled_usec") * 1000,
        },
    });
    let max = read(&dir.join("memory.max"));
    let limit = max.trim().parse::<u64>().unwrap_or(u64::MAX);
    let memory_stats = json!({
        "usage": read_u64(&dir.join("memory.current")),
        "stats": flat_keyed(&read(&dir.join("memory.stat"))),
        "limit": capped_limit(limit),
    });
    let (bytes, ios) = io_v2(&read(&dir.join("io.stat")));
    json!({
        "cpu_stats": cpu_stats,
        "memory_stats": memory_stats,
        "pids_stats": pids_stats(&read(&dir.join("pids.current")), &read(&dir.join("pids.max"))),
        "blkio_stats": {
            "io_service_bytes_recursive": bytes, "io_serviced_recursive": ios,
            "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null,
            "io_time_recursive": null, "sectors_recursive": null,
        },
    })
}

/// A cgroup memory limit, or the host's memory when the cgroup is unlimited (Docker's rule,
/// so `docker stats` shows `… / 7.6GiB` and not `… / 8EiB`).
fn capped_limit(limit: u64) -> u64 {
    let host = host_memory();
    if host > 0 && (limit == 0 || limit > host) {
        host
    } else {
        limit
    }
}

fn pids_stats(current: &str, max: &str) -> Value {
    let mut v = json!({"current": current.trim().parse::<u64>().unwrap_or(0)});
    if let Ok(m) = max.trim().parse::<u64>() {
        v["limit"] = json!(m);
    }
    v
}

/// v1 `blkio.*` lines `MAJ:MIN Op value` (the `Total` line without a device is skipped).
fn blkio_v1(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (dev, op, val) = (it.next()?, it.next()?, it.next()?);
            let (maj, min) = dev.split_once(':')?;
            Some(
                json!({"major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?,
                        "op": op, "value": val.parse::<u64>().ok()?}),
            )
        })
        .collect()
}

/// v2 `io.stat` lines `MAJ:MIN rbytes=… wbytes=… rios=… wios=…` as Docker's two lists.
fn io_v2(text: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            let e = |op: &str| json!({"major": maj, "minor": min, "op": op, "value": v});
            match k {
                "rbytes" => bytes.push(e("read")),
                "wbytes" => bytes.push(e("write")),
                "rios" => ios.push(e("read")),
                "wios" => ios.push(e("write")),
                _ => {}
            }
        }
    }
    (bytes, ios)
}

/// Per-interface counters of the network namespace of `pid` (`/proc/<pid>/net/dev`),
/// without the loopback, as Docker reports them.
pub fn networks(pid: i64) -> Value {
    parse_net_dev(&read(Path::new(&format!("/proc/{pid}/net/dev"))))
}

fn parse_net_dev(text: &str) -> Value {
    let mut out = Map::new();
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let n: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if n.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2], "rx_dropped": n[3],
                "tx_bytes": n[8], "tx_packets": n[9], "tx_errors": n[10], "tx_dropped": n[11],
            }),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counter_files() {
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1500 12 0 1 0 0 0 0 900 8 0 0 0 0 0 0\n";
        let n = parse_net_dev(dev);
        assert_eq!(n["eth0"]["rx_bytes"], 1500);
        assert_eq!(n["eth0"]["tx_packets"], 8);
        assert_eq!(n["eth0"]["rx_dropped"], 1);
        assert!(n.get("lo").is_none());
        let b = blkio_v1("8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n");
        assert_eq!(b.len(), 2);
        assert_eq!(b[1]["op"], "Write");
        let (bytes, ios) = io_v2("8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0\n");
        assert_eq!(bytes[1]["value"], 200);
        assert_eq!(ios[0]["op"], "read");
        assert_eq!(pids_stats("3\n", "max\n"), json!({"current": 3}));
        assert_eq!(pids_stats("3\n", "50\n")["limit"], 50);
        assert!(capped_limit(u64::MAX) <= host_memory().max(1) || host_memory() == 0);
    }
}
