//! What must be true underneath: overlay roots, namespaces, /dev and friends, cgroups.

use std::path::Path;

use integration::Daemon;

#[test]
fn overlay_root_is_copy_on_write_and_layers_are_shared() {
    let d = Daemon::with_busybox();
    let a = d
        .berth([
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "echo secret > /bin/newfile; echo x >> /etc/passwd; sleep 1000",
        ])
        .ok();
    let b = d.berth(["run", "-d", "busybox", "sleep", "1000"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(d.berth(["exec", &a, "cat", "/bin/newfile"]).ok(), "secret");
    assert!(
        d.berth(["exec", &b, "cat", "/bin/newfile"]).code != 0,
        "b must not see a's file"
    );
    assert!(!d
        .berth(["exec", &b, "cat", "/etc/passwd"])
        .ok()
        .ends_with("\nx"));
    // The root is an overlay mount.
    let mounts = d.berth(["exec", &a, "cat", "/proc/mounts"]).ok();
    let first = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/"))
        .unwrap_or("");
    assert!(first.starts_with("overlay"), "root mount: {mounts}");
    // A fresh container of the image does not see the change either.
    assert!(
        d.berth(["run", "--rm", "busybox", "test", "-e", "/bin/newfile"])
            .code
            != 0
    );
    // The image's layer is on disk once: exactly one unpacked layer dir for one import,
    // and it never received the container's write.
    let layers = d.data_root().join("image/layers/sha256");
    let entries: Vec<_> = std::fs::read_dir(&layers)
        .expect("layers dir")
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1, "one layer on disk");
    assert!(!entries[0].path().join("bin/newfile").exists());
    // A second tag of the same content still shares the layer.
    d.import_busybox_as("again:1");
    assert_eq!(std::fs::read_dir(&layers).expect("layers dir").count(), 1);
    d.berth(["rm", "-f", &a, &b]).ok();
}

#[test]
fn namespaces_and_standard_mounts() {
    let d = Daemon::with_busybox();
    let script = "echo pid=$$; hostname; ls /dev; cat /proc/mounts; ls /proc/1/ns; ip link 2>/dev/null || cat /proc/net/dev";
    let out = d
        .berth([
            "run",
            "--rm",
            "--hostname",
            "nsbox",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .ok();
    assert!(out.contains("pid=1"), "{out}");
    assert!(out.contains("nsbox"), "{out}");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin",
        "stdout", "stderr", "mqueue",
    ] {
        assert!(
            out.lines().any(|l| l.trim() == dev),
            "/dev/{dev} missing:\n{out}"
        );
    }
    for m in [
        " /proc proc ",
        " /dev tmpfs ",
        " /dev/pts devpts ",
        " /dev/shm tmpfs ",
        " /sys sysfs ro",
        " /dev/mqueue mqueue ",
    ] {
        assert!(out.contains(m), "mount `{m}` missing:\n{out}");
    }
    // Only loopback in the network namespace.
    assert!(out.contains("lo"), "{out}");
    assert!(!out.contains("eth0"), "no host interfaces: {out}");
    // Host processes are invisible.
    let ps = d.berth(["run", "--rm", "busybox", "ps"]).ok();
    assert!(ps.lines().count() <= 3, "{ps}");
    // /dev/null really is the null device and writable.
    assert_eq!(
        d.berth([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo x > /dev/null && head -c 3 /dev/zero | wc -c"
        ])
        .ok(),
        "3"
    );
    // Different containers: different hostnames, uts namespaces.
    let h1 = d.berth(["run", "--rm", "busybox", "hostname"]).ok();
    let h2 = d.berth(["run", "--rm", "busybox", "hostname"]).ok();
    assert_ne!(h1, h2, "default hostname is the short id");
    assert_eq!(h1.len(), 12);
}

/// Where a controller file of a container lives on this machine (v1 or v2).
fn cgroup_file(id: &str, v1_ctrl: &str, v1_file: &str, v2_file: &str) -> std::path::PathBuf {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Path::new("/sys/fs/cgroup/berth").join(id).join(v2_file)
    } else {
        Path::new("/sys/fs/cgroup")
            .join(v1_ctrl)
            .join("berth")
            .join(id)
            .join(v1_file)
    }
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let d = Daemon::with_busybox();
    // `tail /dev/zero` buffers an endless line: unbounded memory.
    let out = d.berth([
        "run",
        "--rm",
        "--memory",
        "32m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(out.code, 137, "{out:?}");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let d = Daemon::with_busybox();
    // 12 background sleeps under a limit of 8 pids: a fork must fail inside the container.
    let out = d.berth([
        "run",
        "--rm",
        "--pids-limit",
        "8",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; echo all-forked",
    ]);
    assert!(
        !out.stdout.contains("all-forked"),
        "pids limit not enforced: {out:?}"
    );
    assert!(out.stderr.contains("can't fork"), "{out:?}");
    // Without the limit the same script runs through.
    let out = d.berth([
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 0.2 & done; wait; echo all-forked",
    ]);
    assert_eq!(out.ok(), "all-forked");
}

#[test]
fn cpus_memory_pids_reach_the_cgroup_and_cgroup_is_removed() {
    let d = Daemon::with_busybox();
    let id = d
        .berth([
            "run",
            "-d",
            "--cpus",
            "0.5",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        let cpu = std::fs::read_to_string(cgroup_file(&id, "", "", "cpu.max")).expect("cpu.max");
        assert_eq!(cpu.trim(), "50000 100000");
    } else {
        let q = std::fs::read_to_string(cgroup_file(&id, "cpu", "cpu.cfs_quota_us", ""))
            .expect("quota");
        let p = std::fs::read_to_string(cgroup_file(&id, "cpu", "cpu.cfs_period_us", ""))
            .expect("period");
        assert_eq!((q.trim(), p.trim()), ("50000", "100000"));
    }
    let mem = std::fs::read_to_string(cgroup_file(
        &id,
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
    ))
    .expect("memory");
    assert_eq!(mem.trim(), (64u64 << 20).to_string());
    let pids =
        std::fs::read_to_string(cgroup_file(&id, "pids", "pids.max", "pids.max")).expect("pids");
    assert_eq!(pids.trim(), "50");
    d.berth(["rm", "-f", &id]).ok();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !cgroup_file(&id, "memory", "", "").exists(),
        "cgroup removed with the container"
    );
}
