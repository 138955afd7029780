//! `--init` (`HostConfig.Init`, `berthd --init`, `--init-path`): berth-init as PID 1 forwards
//! signals, reaps zombies and exits with the command's status. Names contain `init`.

use std::time::{Duration, Instant};

use integration::daemon::{bin, unique};
use integration::Daemon;

/// Children of host pid `ppid` that are zombies.
fn zombie_children(ppid: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{name}/status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        if field("PPid:") == ppid && field("State:").starts_with('Z') {
            out.push(name);
        }
    }
    out
}

#[test]
fn init_binary_is_static() {
    let out = std::process::Command::new("ldd")
        .arg(bin("berth-init"))
        .output()
        .expect("ldd");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("not a dynamic executable") || text.contains("statically linked"),
        "berth-init is dynamic: {text}"
    );
}

#[test]
fn init_stop_is_immediate_for_a_command_without_a_term_handler() {
    let d = Daemon::with_busybox();
    // Without an init, `sleep` is PID 1 and the kernel drops the SIGTERM: stop waits for
    // its timeout and kills.
    let plain = unique("noinit");
    d.berth(["run", "-d", "--name", &plain, "busybox", "sleep", "1000"])
        .ok();
    let t0 = Instant::now();
    d.berth(["stop", "-t", "2", &plain]).ok();
    let without = t0.elapsed();
    assert!(without >= Duration::from_secs(2), "{without:?}");
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.ExitCode}}", &plain])
            .ok(),
        "137"
    );
    // With --init the init forwards SIGTERM to sleep (not PID 1), which dies at once.
    let n = unique("init");
    d.berth([
        "run", "-d", "--init", "--name", &n, "busybox", "sleep", "1000",
    ])
    .ok();
    let t0 = Instant::now();
    d.berth(["stop", "-t", "10", &n]).ok();
    let with = t0.elapsed();
    assert!(
        with < Duration::from_secs(3),
        "stop with --init took {with:?}"
    );
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.ExitCode}}", &n]).ok(),
        "143"
    );
    assert_eq!(
        d.berth(["inspect", "-f", "{{.HostConfig.Init}} {{.Path}}", &n])
            .ok(),
        "true sleep"
    );
}

#[test]
fn init_reaps_zombies() {
    let d = Daemon::with_busybox();
    // The subshell leaves `sleep 0.2` orphaned: it is re-parented to PID 1 and, when it
    // ends, only PID 1 can reap it.
    let script = "(sleep 0.2 &); exec sleep 1000";
    let n = unique("reap");
    d.berth([
        "run", "-d", "--init", "--name", &n, "busybox", "sh", "-c", script,
    ])
    .ok();
    let plain = unique("noreap");
    d.berth(["run", "-d", "--name", &plain, "busybox", "sh", "-c", script])
        .ok();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = d.berth(["inspect", "-f", "{{.State.Pid}}", &n]).ok();
    assert!(zombie_children(&pid).is_empty(), "zombies under berth-init");
    // The control: PID 1 `sleep` never waits, so the zombie stays.
    let pid = d.berth(["inspect", "-f", "{{.State.Pid}}", &plain]).ok();
    assert_eq!(
        zombie_children(&pid).len(),
        1,
        "expected one zombie without --init"
    );
}

#[test]
fn init_exit_code_pid1_and_signals() {
    let d = Daemon::with_busybox();
    let o = d.berth(["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"]);
    assert_eq!(o.code, 7, "{o:?}");
    let out = d
        .berth(["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"])
        .ok();
    assert!(out.starts_with("/sbin/docker-init\0--\0cat"), "{out:?}");
    // A child killed by a signal: 128+N, as tini.
    let o = d.berth(["run", "--rm", "--init", "busybox", "sh", "-c", "kill -9 $$"]);
    assert_eq!(o.code, 137, "{o:?}");
    // The init is read-only inside.
    let o = d.berth([
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "echo x > /sbin/docker-init",
    ]);
    assert_ne!(o.code, 0, "{o:?}");
}

#[test]
fn init_daemon_default_and_init_path() {
    let d = Daemon::start_with(&["--init"]);
    d.import_busybox();
    let out = d
        .berth(["run", "--rm", "busybox", "cat", "/proc/1/cmdline"])
        .ok();
    assert!(out.starts_with("/sbin/docker-init"), "{out:?}");
    let info = d.berth(["info"]).ok();
    assert!(!info.is_empty());
    drop(d);
    // A missing --init-path is refused at start.
    let root = std::path::PathBuf::from(format!("/tmp/{}", unique("bi")));
    let bad = std::process::Command::new(bin("berthd"))
        .args(["--init-path", "/nonexistent/init", "--data-root"])
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", root.join("s.sock").display()))
        .output()
        .expect("berthd");
    let _ = std::fs::remove_dir_all(&root);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--init-path"),
        "{bad:?}"
    );
}

#[test]
fn init_with_the_docker_cli() {
    if integration::docker_cli().is_none() {
        eprintln!("docker CLI not installed: skipped");
        return;
    }
    let d = Daemon::with_busybox();
    let o = d.docker(["run", "--rm", "--init", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.code, 3, "{o:?}");
    let n = unique("dinit");
    d.docker([
        "run", "-d", "--init", "--name", &n, "busybox", "sleep", "1000",
    ])
    .ok();
    assert_eq!(
        d.docker(["inspect", "-f", "{{.HostConfig.Init}}", &n]).ok(),
        "true"
    );
    let t0 = Instant::now();
    d.docker(["stop", &n]).ok();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}
