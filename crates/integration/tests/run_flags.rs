//! The `run`/`create` flags of issue 13 item 9 the berth CLI gained: `--group-add`,
//! `--sysctl`, `--oom-score-adj`, `--domainname`, `--pid/--ipc/--uts/--userns/--cgroupns`,
//! `--memory-swappiness`, `--oom-kill-disable` — applied, or refused by name by berthd.
//! Names contain `run_flag`.

use integration::daemon::unique;
use integration::Daemon;

fn run(d: &Daemon, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    d.berth(a).ok()
}

#[test]
fn run_flags_are_applied() {
    let d = Daemon::with_busybox();
    let ids = run(
        &d,
        &[
            "--group-add",
            "1234",
            "--group-add",
            "nogroup",
            "busybox",
            "id",
            "-G",
        ],
    );
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert!(ids.contains(&"1234") && ids.contains(&"65534"), "{ids:?}");
    assert_eq!(
        run(
            &d,
            &[
                "--sysctl",
                "net.ipv4.ip_forward=1",
                "busybox",
                "cat",
                "/proc/sys/net/ipv4/ip_forward"
            ]
        ),
        "1"
    );
    assert_eq!(
        run(
            &d,
            &[
                "--oom-score-adj",
                "500",
                "busybox",
                "cat",
                "/proc/self/oom_score_adj"
            ]
        ),
        "500"
    );
    assert_eq!(
        run(
            &d,
            &[
                "--domainname",
                "example.org",
                "busybox",
                "cat",
                "/proc/sys/kernel/domainname"
            ]
        ),
        "example.org"
    );
    let host_pidns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_eq!(
        run(
            &d,
            &["--pid", "host", "busybox", "readlink", "/proc/self/ns/pid"]
        ),
        host_pidns.to_string_lossy()
    );
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_eq!(
        run(
            &d,
            &["--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"]
        ),
        host_ipc.to_string_lossy()
    );
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let n = unique("rf");
        d.berth([
            "run",
            "-d",
            "--name",
            &n,
            "-m",
            "64m",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
        let pid = d.berth(["inspect", "-f", "{{.State.Pid}}", &n]).ok();
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let rel = cg
            .lines()
            .find_map(|l| {
                let mut p = l.splitn(3, ':');
                let (_, c, path) = (p.next()?, p.next()?, p.next()?);
                c.split(',')
                    .any(|x| x == "memory")
                    .then(|| path.trim_start_matches('/').to_string())
            })
            .unwrap();
        let dir = std::path::Path::new("/sys/fs/cgroup/memory").join(rel);
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.swappiness"))
                .unwrap()
                .trim(),
            "10"
        );
        let oom = std::fs::read_to_string(dir.join("memory.oom_control")).unwrap();
        assert!(oom.contains("oom_kill_disable 1"), "{oom}");
    }
}

#[test]
fn run_flags_not_implemented_are_refused_by_name() {
    let d = Daemon::with_busybox();
    for (flag, val, field) in [
        ("--ipc", "container:other", "IpcMode"),
        ("--pid", "container:other", "PidMode"),
        ("--userns", "remap", "UsernsMode"),
        ("--cgroupns", "bogus", "CgroupnsMode"),
    ] {
        let e = d.berth(["create", flag, val, "busybox", "true"]).err();
        assert!(e.contains(&format!("HostConfig.{field}")), "{flag}: {e}");
    }
    let e = d
        .berth([
            "run",
            "--rm",
            "--group-add",
            "nosuchgroup",
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("nosuchgroup"), "{e}");
    let e = d
        .berth(["create", "--oom-score-adj", "5000", "busybox", "true"])
        .err();
    assert!(e.contains("oom score adj"), "{e}");
    assert!(d.container_ids().is_empty(), "nothing half-made");
}

#[test]
fn run_flag_exec_env_file() {
    let d = Daemon::with_busybox();
    let n = unique("rfe");
    d.berth(["run", "-d", "--name", &n, "busybox", "sleep", "1000"])
        .ok();
    let f = std::path::PathBuf::from(format!("/tmp/{}", unique("envf")));
    std::fs::write(&f, "A=1\n# a comment\n\nB=two\n").unwrap();
    let out = d.berth([
        "exec",
        "--env-file",
        f.to_str().unwrap(),
        "-e",
        "C=3",
        &n,
        "sh",
        "-c",
        "echo $A $B $C",
    ]);
    let _ = std::fs::remove_file(&f);
    assert_eq!(out.ok(), "1 two 3");
    let e = d
        .berth(["exec", "--env-file", "/nonexistent/envfile", &n, "true"])
        .err();
    assert!(e.contains("/nonexistent/envfile"), "{e}");
}
