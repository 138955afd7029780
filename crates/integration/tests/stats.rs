//! `GET /containers/{id}/stats` (stream, `stream=false`, `one-shot`), `docker stats
//! --no-stream` and `berth stats` (live table, `--no-stream`, `--format`, `-a`).
//! Names contain `stats`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration::daemon::{bin, unique};
use integration::Daemon;
use serde_json::Value;

fn curl(d: &Daemon, path: &str, max_secs: u32) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", &max_secs.to_string(), "--unix-socket"])
        .arg(&d.socket)
        .arg(format!("http://localhost/v1.44{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_mem() -> u64 {
    let t = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = t
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb * 1024
}

/// A container that burns CPU and has sent a few packets (ping of its gateway).
fn busy(d: &Daemon, extra: &[&str]) -> String {
    let n = unique("st");
    let mut args = vec!["run", "-d", "--name", &n];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", "while :; do :; done"]);
    d.berth(args).ok();
    let gw = d
        .berth(["inspect", "-f", "{{.NetworkSettings.Gateway}}", &n])
        .ok();
    d.berth(["exec", &n, "ping", "-c", "2", "-W", "1", &gw]);
    n
}

#[test]
fn stats_api_shape_stream_false_one_shot_and_stream() {
    let d = Daemon::with_busybox();
    let n = busy(&d, &["-m", "64m", "--pids-limit", "30"]);
    let v: Value = serde_json::from_str(&curl(
        &d,
        &format!("/containers/{n}/stats?stream=false"),
        10,
    ))
    .expect("stats JSON");
    assert_eq!(v["name"], format!("/{n}"));
    assert!(v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert!(
        v["precpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap()
            > v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap()
    );
    assert!(v["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert_eq!(v["memory_stats"]["limit"], 64u64 << 20);
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0);
    assert!(v["memory_stats"]["stats"]
        .as_object()
        .unwrap()
        .contains_key(
            if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                "file"
            } else {
                "cache"
            }
        ));
    assert_eq!(v["pids_stats"]["limit"], 30);
    assert!(v["pids_stats"]["current"].as_u64().unwrap() >= 1);
    assert!(
        v["networks"]["eth0"]["tx_packets"].as_u64().unwrap() >= 2,
        "{}",
        v["networks"]
    );
    assert!(v["networks"]["eth0"]["rx_bytes"].as_u64().unwrap() > 0);
    assert!(v["blkio_stats"].get("io_service_bytes_recursive").is_some());
    assert_ne!(v["preread"], "0001-01-01T00:00:00Z");
    // one-shot: at once, no previous sample.
    let t0 = Instant::now();
    let v: Value = serde_json::from_str(&curl(
        &d,
        &format!("/containers/{n}/stats?stream=false&one-shot=true"),
        10,
    ))
    .unwrap();
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(v["preread"], "0001-01-01T00:00:00Z");
    // stream: one object a second.
    let text = curl(&d, &format!("/containers/{n}/stats"), 3);
    let objs: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(objs.len() >= 2, "{text}");
    assert_eq!(objs[1]["precpu_stats"], objs[0]["cpu_stats"]);
    // Unlimited memory: the limit is the host's memory, not 8 EiB.
    let free = unique("st");
    d.berth(["run", "-d", "--name", &free, "busybox", "sleep", "1000"])
        .ok();
    let v: Value = serde_json::from_str(&curl(
        &d,
        &format!("/containers/{free}/stats?stream=false&one-shot=true"),
        10,
    ))
    .unwrap();
    assert_eq!(v["memory_stats"]["limit"].as_u64().unwrap(), host_mem());
    let e = curl(
        &d,
        &format!("/containers/{free}/stats?stream=true&one-shot=true"),
        5,
    );
    assert!(e.contains("one-shot"), "{e}");
}

#[test]
fn stats_docker_cli_no_stream_is_sane() {
    if integration::docker_cli().is_none() {
        eprintln!("docker CLI not installed: skipped");
        return;
    }
    let d = Daemon::with_busybox();
    let n = busy(&d, &["-m", "64m"]);
    let out = d
        .docker([
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}",
            &n,
        ])
        .ok();
    let f: Vec<&str> = out.split('|').collect();
    assert_eq!(f[0], n, "{out}");
    let cpu: f64 = f[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 20.0 && cpu < 250.0, "CPU {cpu}: {out}");
    assert!(f[2].ends_with("/ 64MiB"), "{out}");
    assert!(!f[3].starts_with("0B / 0B"), "{out}");
    assert_eq!(f[5], "1", "{out}");
    let table = d.docker(["stats", "--no-stream", &n]).ok();
    assert!(table.starts_with("CONTAINER ID"), "{table}");
    assert!(!table.contains("EiB"), "{table}");
}

#[test]
fn stats_berth_cli_no_stream_format_all_and_live() {
    let d = Daemon::with_busybox();
    let n = busy(&d, &[]);
    let stopped = unique("st");
    d.berth(["run", "--name", &stopped, "busybox", "true"]).ok();
    let out = d
        .berth([
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
            &n,
        ])
        .ok();
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0], n);
    let cpu: f64 = f[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 20.0, "{out}");
    assert!(!out.contains("EiB"), "{out}");
    let running = d.berth(["stats", "--no-stream"]).ok();
    assert!(running.starts_with("CONTAINER ID"), "{running}");
    assert!(
        running.contains(&n) && !running.contains(&stopped),
        "{running}"
    );
    let all = d
        .berth(["stats", "--no-stream", "-a", "--format", "{{.Name}}"])
        .ok();
    assert!(
        all.lines().any(|l| l == n) && all.lines().any(|l| l == stopped),
        "{all}"
    );
    let e = d.berth(["stats", "--no-stream", "nosuch"]).err();
    assert!(e.contains("No such container"), "{e}");
    // Live: the table is redrawn (screen cleared) about every second.
    let mut child = Command::new(bin("berth"))
        .arg("-H")
        .arg(d.host())
        .args(["stats", &n])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let _ = child.wait();
    assert!(text.matches("\x1b[2J").count() >= 2, "{text:?}");
    assert!(text.matches(n.as_str()).count() >= 2, "{text:?}");
}
