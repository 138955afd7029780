//! `docker update` / `berth update` (`POST /containers/{id}/update`): live on a running
//! container through the OCI runtime's `update` (runc here), kept for the next start on a
//! stopped one, refused with the old value kept when the kernel says no; and the resource
//! flags of `run`/`create` reaching the cgroup. Names contain `update` (`-- update`).

use std::path::PathBuf;

use integration::daemon::unique;
use integration::Daemon;

const RUNC: &str = "/usr/sbin/runc";

fn runc_daemon() -> Daemon {
    let d = Daemon::start_with(&["--runtime", RUNC]);
    d.import_busybox();
    d
}

fn v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup directory of `controller` of the container's init (v2: the unified dir).
fn cg_dir(d: &Daemon, name: &str, controller: &str) -> PathBuf {
    let pid = d.berth(["inspect", "-f", "{{.State.Pid}}", name]).ok();
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("proc cgroup");
    for line in text.lines() {
        let mut p = line.splitn(3, ':');
        let (_, ctrls, path) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
        let rel = path.trim_start_matches('/');
        if v2() && ctrls.is_empty() {
            return PathBuf::from("/sys/fs/cgroup").join(rel);
        }
        if !v2() && ctrls.split(',').any(|c| c == controller) {
            return PathBuf::from("/sys/fs/cgroup").join(ctrls).join(rel);
        }
    }
    panic!("no {controller} cgroup for {name}: {text}");
}

/// One limit file of the container, by its v1 name (mapped to v2's file on a v2 host).
fn limit(d: &Daemon, name: &str, v1_ctrl: &str, v1_file: &str) -> String {
    let file = if v2() {
        match v1_file {
            "memory.limit_in_bytes" => "memory.max",
            "memory.soft_limit_in_bytes" => "memory.low",
            "cpu.cfs_quota_us" => "cpu.max",
            "cpu.shares" => "cpu.weight",
            f => f,
        }
    } else {
        v1_file
    };
    let p = cg_dir(d, name, v1_ctrl).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn mib(n: u64) -> String {
    (n << 20).to_string()
}

#[test]
fn update_running_container_live_with_runc_and_berth_cli() {
    let d = runc_daemon();
    let n = unique("upd");
    d.berth([
        "run", "-d", "--name", &n, "-m", "64m", "busybox", "sleep", "1000",
    ])
    .ok();
    assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(64));
    d.berth([
        "update",
        "-m",
        "96m",
        "--memory-swap",
        "192m",
        "--memory-reservation",
        "32m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "50",
        "--restart",
        "on-failure:3",
        &n,
    ])
    .ok();
    assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(96));
    assert_eq!(limit(&d, &n, "pids", "pids.max"), "50");
    assert_eq!(limit(&d, &n, "cpuset", "cpuset.cpus"), "0");
    if v2() {
        assert_eq!(limit(&d, &n, "cpu", "cpu.cfs_quota_us"), "50000 100000");
    } else {
        assert_eq!(limit(&d, &n, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(limit(&d, &n, "cpu", "cpu.shares"), "512");
        assert_eq!(
            limit(&d, &n, "memory", "memory.soft_limit_in_bytes"),
            mib(32)
        );
        if std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
            assert_eq!(
                limit(&d, &n, "memory", "memory.memsw.limit_in_bytes"),
                mib(192)
            );
        }
    }
    let fmt = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}";
    assert_eq!(
        d.berth(["inspect", "-f", fmt, &n]).ok(),
        format!(
            "{} {} {} 500000000 512 0 50 on-failure:3",
            mib(96),
            mib(192),
            mib(32)
        )
    );
    // Still running, and the limits hold for what runs inside.
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Running}}", &n]).ok(),
        "true"
    );
}

#[test]
fn update_kernel_rejection_keeps_the_old_value() {
    let d = runc_daemon();
    let n = unique("updk");
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "-m",
        "64m",
        "--memory-swap",
        "64m",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    // 40 MiB of shmem the kernel cannot reclaim (no swap allowed): a 16 MiB limit is EBUSY.
    d.berth([
        "exec",
        &n,
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/fill",
        "bs=1M",
        "count=40",
    ])
    .ok();
    let err = d
        .berth(["update", "-m", "16m", "--memory-swap", "16m", &n])
        .err();
    assert!(err.contains("Cannot update container"), "{err}");
    assert_eq!(
        d.berth([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
            &n
        ])
        .ok(),
        format!("{} {}", mib(64), mib(64))
    );
    assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(64));
    // The same container takes a value the kernel accepts.
    d.berth(["update", "-m", "80m", "--memory-swap", "80m", &n])
        .ok();
    assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(80));
}

#[test]
fn update_stopped_container_is_kept_for_the_next_start() {
    // The default runtime (berth-runtime): a stopped container needs no runtime call.
    let d = Daemon::with_busybox();
    let n = unique("upds");
    d.berth([
        "create", "--name", &n, "-m", "64m", "busybox", "sleep", "1000",
    ])
    .ok();
    d.berth([
        "update",
        "-m",
        "80m",
        "--pids-limit",
        "20",
        "--cpuset-cpus",
        "0",
        &n,
    ])
    .ok();
    assert_eq!(
        d.berth([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            &n
        ])
        .ok(),
        format!("{} 20", mib(80))
    );
    d.berth(["start", &n]).ok();
    assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(80));
    assert_eq!(limit(&d, &n, "pids", "pids.max"), "20");
    assert_eq!(limit(&d, &n, "cpuset", "cpuset.cpus"), "0");
    // Live on berth-runtime: either it implements `update` (the value changes) or the
    // error says the runtime lacks it, and nothing changed.
    let o = d.berth(["update", "-m", "96m", &n]);
    if o.code == 0 {
        assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(96));
    } else {
        assert!(o.stderr.contains("does not implement `update`"), "{o:?}");
        assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(80));
        assert_eq!(
            d.berth(["inspect", "-f", "{{.HostConfig.Memory}}", &n])
                .ok(),
            mib(80)
        );
    }
}

#[test]
fn update_bad_values_are_refused_by_name() {
    let d = Daemon::with_busybox();
    let n = unique("updb");
    d.berth(["create", "--name", &n, "-m", "64m", "busybox", "true"])
        .ok();
    let e = d.berth(["update", "--cpuset-cpus", "999", &n]).err();
    assert!(e.contains("Requested CPUs are not available"), "{e}");
    let e = d.berth(["update", "-m", "1m", &n]).err();
    assert!(e.contains("Minimum memory limit allowed is 6MB"), "{e}");
    let e = d.berth(["update", "-m", "200m", &n]).err();
    assert!(e.contains("memoryswap"), "{e}");
    let e = d.berth(["update", "--cpu-quota", "500", &n]).err();
    assert!(e.contains("CPU cfs quota"), "{e}");
    let e = d.berth(["update", "--restart", "sometimes", &n]).err();
    assert!(e.contains("invalid restart policy"), "{e}");
    let blkio = d.berth(["update", "--blkio-weight", "500", &n]);
    let supported = std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
        || std::path::Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists()
        || v2();
    if !supported {
        assert!(blkio.err().contains("Block I/O weight"), "{blkio:?}");
    }
    let e = d.berth(["update", "nosuch", "-m", "64m"]).err();
    assert!(e.contains("No such container"), "{e}");
    assert_eq!(
        d.berth([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}}/{{.HostConfig.CpusetCpus}}",
            &n
        ])
        .ok(),
        format!("{}/", mib(64))
    );
    // Unimplemented resource fields are refused at create, not ignored.
    if integration::docker_cli().is_some() {
        let e = d
            .docker(["create", "--cpu-rt-runtime", "950000", "busybox", "true"])
            .err();
        assert!(e.contains("HostConfig.CpuRealtimeRuntime"), "{e}");
    }
}

#[test]
fn update_with_the_docker_cli() {
    if integration::docker_cli().is_none() {
        eprintln!("docker CLI not installed: skipped");
        return;
    }
    let d = runc_daemon();
    let n = unique("updd");
    d.docker([
        "run", "-d", "--name", &n, "-m", "64m", "busybox", "sleep", "1000",
    ])
    .ok();
    assert_eq!(
        d.docker([
            "update",
            "-m",
            "100m",
            "--cpus",
            "0.25",
            "--restart",
            "always",
            &n
        ])
        .ok(),
        n
    );
    assert_eq!(
        d.docker([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}",
            &n
        ])
        .ok(),
        format!("{} 250000000 always", mib(100))
    );
    assert_eq!(limit(&d, &n, "memory", "memory.limit_in_bytes"), mib(100));
    let e = d.docker(["update", "--cpuset-cpus", "999", &n]).err();
    assert!(e.contains("Requested CPUs are not available"), "{e}");
}

#[test]
fn update_run_resource_flags_reach_the_cgroup() {
    let d = Daemon::with_busybox();
    let n = unique("updr");
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "256",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(limit(&d, &n, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(limit(&d, &n, "cpuset", "cpuset.mems"), "0");
    if v2() {
        assert_eq!(limit(&d, &n, "cpu", "cpu.cfs_quota_us"), "25000 50000");
    } else {
        assert_eq!(limit(&d, &n, "cpu", "cpu.cfs_quota_us"), "25000");
        assert_eq!(limit(&d, &n, "cpu", "cpu.cfs_period_us"), "50000");
        assert_eq!(limit(&d, &n, "cpu", "cpu.shares"), "256");
        assert_eq!(
            limit(&d, &n, "memory", "memory.soft_limit_in_bytes"),
            mib(32)
        );
    }
    assert_eq!(
        d.berth(["inspect", "-f", "{{.HostConfig.MemorySwap}}", &n])
            .ok(),
        if std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
            mib(128)
        } else {
            "0".to_string()
        }
    );
}
