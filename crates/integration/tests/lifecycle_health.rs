//! Healthchecks (and the lifecycle around them) as Docker runs them: the check is an exec on
//! schedule, `State.Health`, `health_status` events, `ps` status and `--filter health=`.
//! Test names contain `health` so `-- health` selects them.

use std::time::{Duration, Instant};

use integration::daemon::unique;
use integration::Daemon;

/// Poll `inspect -f FMT` until it prints `want` (a compose-like wait); panics after `secs`.
fn wait_for(d: &Daemon, name: &str, fmt: &str, want: &str, secs: u64) -> Duration {
    let t0 = Instant::now();
    loop {
        let o = d.berth(["inspect", "-f", fmt, name]);
        if o.stdout.trim() == want {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{name}: {fmt} is {:?}, wanted {want}",
            o.stdout.trim()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Host pids whose command line is exactly `args`.
fn host_pids_running(args: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read(format!("/proc/{pid}/cmdline"))
            .ok()
            .as_deref()
            == Some(&want[..])
        {
            out.push(pid);
        }
    }
    out
}

#[test]
fn health_starting_healthy_unhealthy_log_ps_and_filter() {
    let d = Daemon::with_busybox();
    let n = unique("hc");
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "--health-cmd",
        "cat /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo fine > /tmp/ok; sleep 1000",
    ])
    .ok();
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Health.Status}}", &n])
            .ok(),
        "starting"
    );
    let ps = d.berth(["ps", "--filter", &format!("name={n}")]).ok();
    assert!(ps.contains("(health: starting)"), "{ps}");
    // Failures before the file exists: streak 1, then unhealthy at 2 (no start period).
    wait_for(&d, &n, "{{.State.Health.Status}}", "unhealthy", 10);
    wait_for(&d, &n, "{{.State.Health.Status}}", "healthy", 10);
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Health.FailingStreak}}", &n])
            .ok(),
        "0"
    );
    let log = d
        .berth(["inspect", "-f", "{{json .State.Health.Log}}", &n])
        .ok();
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let entries = log.as_array().unwrap();
    assert!(!entries.is_empty() && entries.len() <= 5, "{log}");
    let newest = entries.last().unwrap();
    assert_eq!(newest["ExitCode"], 0, "{log}");
    assert_eq!(newest["Output"], "fine\n", "{log}");
    assert!(newest["Start"].as_str().unwrap() <= newest["End"].as_str().unwrap());
    assert!(entries.iter().any(|e| e["ExitCode"] == 1), "{log}");
    // ps shows it and filters on it.
    let ps = d.berth(["ps", "--filter", &format!("name={n}")]).ok();
    assert!(ps.contains("(healthy)"), "{ps}");
    let f = d.berth(["ps", "-q", "--filter", "health=healthy"]).ok();
    let id = d.berth(["inspect", "-f", "{{.Id}}", &n]).ok();
    assert!(f.contains(&id[..12]), "{f}");
    assert!(!d
        .berth(["ps", "-q", "--filter", "health=unhealthy"])
        .ok()
        .contains(&id[..12]));
    let bad = d.berth(["ps", "--filter", "health=fine"]).err();
    assert!(
        bad.contains("Unrecognised filter value for health: fine"),
        "{bad}"
    );
    // Five log entries at most, and ExecIDs stays clean.
    std::thread::sleep(Duration::from_millis(1500));
    let len = d
        .berth(["inspect", "-f", "{{len .State.Health.Log}}", &n])
        .ok();
    assert_eq!(len, "5");
    // A check in flight is listed (as moby lists its health execs) and leaves the list when
    // it ends: sampled over several intervals, the list is never longer than one and empty
    // at least once.
    let mut seen_empty = false;
    for _ in 0..20 {
        let ids = d.berth(["inspect", "-f", "{{json .ExecIDs}}", &n]).ok();
        let ids: serde_json::Value = serde_json::from_str(&ids).unwrap();
        let len = ids.as_array().map_or(0, Vec::len);
        assert!(len <= 1, "health execs pile up: {ids}");
        seen_empty |= len == 0;
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(seen_empty, "a health exec never left ExecIDs");
    // The file goes: unhealthy after 2 failures.
    d.berth(["exec", &n, "rm", "/tmp/ok"]).ok();
    wait_for(&d, &n, "{{.State.Health.Status}}", "unhealthy", 10);
    let ps = d.berth(["ps", "--filter", &format!("name={n}")]).ok();
    assert!(ps.contains("(unhealthy)"), "{ps}");
    // Stopping ends the checks; a stopped container reads unhealthy (moby's compatibility).
    d.berth(["rm", "-f", &n]).ok();
}

#[test]
fn health_timeout_kills_the_check_and_counts_as_failure() {
    let d = Daemon::with_busybox();
    let n = unique("hct");
    let secs = format!("{}", 4000 + (std::process::id() % 1000));
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "--health-cmd",
        &format!("sleep {secs}"),
        "--health-timeout",
        "300ms",
        "--health-interval",
        "400ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    wait_for(&d, &n, "{{.State.Health.Status}}", "unhealthy", 10);
    let log = d
        .berth(["inspect", "-f", "{{json .State.Health.Log}}", &n])
        .ok();
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let first = &log[0];
    assert_eq!(first["ExitCode"], -1, "{log}");
    assert_eq!(
        first["Output"], "Health check exceeded timeout (300ms)",
        "{log}"
    );
    // The hanging check was killed: no `sleep N` outlives its timeout (a new one may be
    // running, so look right after a result).
    d.berth(["stop", "-t", "0", &n]).ok();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        host_pids_running(&["sleep", &secs]).is_empty(),
        "a timed-out check is still running"
    );
    // Stopped: no more checks, status unhealthy.
    let before = d
        .berth(["inspect", "-f", "{{json .State.Health.Log}}", &n])
        .ok();
    std::thread::sleep(Duration::from_millis(1000));
    let after = d
        .berth(["inspect", "-f", "{{json .State.Health.Log}}", &n])
        .ok();
    assert_eq!(before, after);
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Health.Status}}", &n])
            .ok(),
        "unhealthy"
    );
    d.berth(["rm", "-f", &n]).ok();
}

#[test]
fn health_start_period_and_start_interval() {
    let d = Daemon::with_busybox();
    let n = unique("hsp");
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "--health-cmd",
        "false",
        "--health-interval",
        "10s",
        "--health-start-period",
        "60s",
        "--health-start-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    // Checks run every 200 ms in the start period, and failures do not count.
    std::thread::sleep(Duration::from_millis(1500));
    let len: usize = d
        .berth(["inspect", "-f", "{{len .State.Health.Log}}", &n])
        .ok()
        .parse()
        .unwrap();
    assert!(
        len >= 3,
        "only {len} checks in 1.5 s with a 200ms start interval"
    );
    assert_eq!(
        d.berth([
            "inspect",
            "-f",
            "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
            &n
        ])
        .ok(),
        "starting 0"
    );
    d.berth(["rm", "-f", &n]).ok();
}

#[test]
fn health_bad_input_and_no_healthcheck() {
    let d = Daemon::with_busybox();
    let e = d
        .berth([
            "create",
            "--health-cmd",
            "true",
            "--health-interval",
            "100us",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        e.contains("Interval in Healthcheck cannot be less than 1ms"),
        "{e}"
    );
    let e = d
        .berth([
            "create",
            "--health-retries",
            "-1",
            "--health-cmd",
            "true",
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("--health-retries cannot be negative"), "{e}");
    let e = d
        .berth([
            "create",
            "--no-healthcheck",
            "--health-cmd",
            "true",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        e.contains("--no-healthcheck conflicts with --health-* options"),
        "{e}"
    );
    let e = d
        .berth([
            "create",
            "--health-interval",
            "often",
            "--health-cmd",
            "true",
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("invalid argument"), "{e}");
    let n = unique("hnone");
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "--no-healthcheck",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert_eq!(
        d.berth(["inspect", "-f", "{{json .Config.Healthcheck.Test}}", &n])
            .ok(),
        "[\"NONE\"]"
    );
    assert_eq!(
        d.berth(["inspect", "-f", "{{json .State.Health}}", &n])
            .ok(),
        "null"
    );
    let f = d.berth(["ps", "-q", "--filter", "health=none"]).ok();
    assert!(!f.is_empty());
    d.berth(["rm", "-f", &n]).ok();
}

#[test]
fn health_checks_survive_a_daemon_restart() {
    let mut d = Daemon::with_busybox();
    let n = unique("hlr");
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    wait_for(&d, &n, "{{.State.Health.Status}}", "healthy", 10);
    d.kill9();
    d.restart();
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Health.Status}}", &n])
            .ok(),
        "healthy"
    );
    let end1 = d
        .berth(["inspect", "-f", "{{(index .State.Health.Log 0).End}}", &n])
        .ok();
    std::thread::sleep(Duration::from_millis(1500));
    let end2 = d
        .berth(["inspect", "-f", "{{(index .State.Health.Log 0).End}}", &n])
        .ok();
    assert_ne!(end1, end2, "no checks ran after the daemon restart");
    d.berth(["rm", "-f", &n]).ok();
}

#[test]
fn health_through_the_docker_cli_with_events() {
    let d = Daemon::with_busybox();
    if d.docker_cmd().is_none() {
        eprintln!("docker CLI not found; skipping");
        return;
    }
    let n = unique("hdk");
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    d.docker([
        "run",
        "-d",
        "--name",
        &n,
        "--health-cmd",
        "echo ok",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    wait_for(&d, &n, "{{.State.Health.Status}}", "healthy", 10);
    let ps = d.docker(["ps", "--filter", &format!("name={n}")]).ok();
    assert!(ps.contains("(healthy)"), "{ps}");
    let f = d
        .docker(["ps", "--filter", "health=healthy", "--format", "{{.Names}}"])
        .ok();
    assert!(f.lines().any(|l| l == n), "{f}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    std::thread::sleep(Duration::from_millis(1100));
    let ev = d
        .docker([
            "events",
            "--since",
            &since,
            "--until",
            &now.to_string(),
            "--filter",
            &format!("container={n}"),
            "--format",
            "{{.Action}}",
        ])
        .ok();
    assert!(ev.lines().any(|l| l == "health_status: healthy"), "{ev}");
    assert!(
        ev.lines().any(|l| l == "exec_create: /bin/sh -c echo ok"),
        "{ev}"
    );
    assert!(
        ev.lines().any(|l| l == "exec_start: /bin/sh -c echo ok"),
        "{ev}"
    );
    assert!(ev.lines().any(|l| l == "exec_die"), "{ev}");
    d.docker(["rm", "-f", &n]).ok();
}

#[test]
fn health_restart_policy_on_failure_backoff_and_count() {
    let d = Daemon::with_busybox();
    let n = unique("rof");
    let t0 = Instant::now();
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])
    .ok();
    // Tries after 100, 200, 400 ms (plus start times), then it stays exited.
    wait_for(
        &d,
        &n,
        "{{.State.Status}} {{.RestartCount}}",
        "exited 3",
        20,
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(700),
        "back-off too short: {took:?}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        d.berth([
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
            &n
        ])
        .ok(),
        "exited 3 3"
    );
    // A user start resets the count (Docker's ResetRestartManager).
    d.berth(["start", &n]).ok();
    wait_for(
        &d,
        &n,
        "{{.State.Status}} {{.RestartCount}}",
        "exited 3",
        20,
    );
    d.berth(["rm", "-f", &n]).ok();
    let e = d
        .berth(["create", "--restart", "always:3", "busybox", "true"])
        .err();
    assert!(
        e.contains("maximum retry count can only be used with 'on-failure'"),
        "{e}"
    );
}

#[test]
fn health_restart_always_restarting_state_rm_refused_and_stop_ends_loop() {
    let d = Daemon::with_busybox();
    let n = unique("ral");
    // Each run lasts ~0 s, so the delay doubles: after a few tries it is long enough to
    // catch the restarting state.
    d.berth([
        "run",
        "-d",
        "--name",
        &n,
        "--restart",
        "always",
        "busybox",
        "false",
    ])
    .ok();
    wait_for(&d, &n, "{{.State.Restarting}}", "true", 20);
    let st = d
        .berth(["inspect", "-f", "{{.State.Status}} {{.State.Running}}", &n])
        .ok();
    assert!(st == "restarting true" || st == "running true", "{st}");
    wait_for(&d, &n, "{{ge .RestartCount 4}}", "true", 20);
    wait_for(&d, &n, "{{.State.Status}}", "restarting", 20);
    let e = d.berth(["rm", &n]).err();
    assert!(
        e.contains("You cannot remove a restarting container"),
        "{e}"
    );
    let ps = d.berth(["ps", "--filter", &format!("name={n}")]).ok();
    assert!(ps.contains("Restarting (1)"), "{ps}");
    d.berth(["stop", &n]).ok();
    let count = d.berth(["inspect", "-f", "{{.RestartCount}}", &n]).ok();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", &n])
            .ok(),
        format!("exited {count}")
    );
    d.berth(["rm", &n]).ok();
}

#[test]
fn health_restart_policies_after_a_daemon_restart() {
    let mut d = Daemon::with_busybox();
    let us = unique("rus");
    let al = unique("ral");
    let usr = unique("rusr");
    for (n, p) in [
        (&us, "unless-stopped"),
        (&al, "always"),
        (&usr, "unless-stopped"),
    ] {
        d.berth([
            "run",
            "-d",
            "--name",
            n,
            "--restart",
            p,
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    }
    d.berth(["stop", "-t", "0", &usr]).ok();
    // Containers die while the daemon is down (like a host reboot, seen by the daemon).
    let pids: Vec<i32> = [&us, &al]
        .iter()
        .map(|n| {
            d.berth(["inspect", "-f", "{{.State.Pid}}", n])
                .ok()
                .parse()
                .unwrap()
        })
        .collect();
    d.kill9();
    for p in pids {
        // SAFETY: kill(2) of the init of a container this test started.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(500));
    d.restart();
    // Both policies bring them back; the stopped unless-stopped one stays stopped.
    wait_for(&d, &us, "{{.State.Running}}", "true", 20);
    wait_for(&d, &al, "{{.State.Running}}", "true", 20);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Status}}", &usr]).ok(),
        "exited"
    );
    d.berth(["stop", "-t", "0", &al]).ok();
    d.kill9();
    d.restart();
    // `always` comes back after a daemon start even when it was stopped by the user.
    wait_for(&d, &al, "{{.State.Running}}", "true", 20);
    for n in [&us, &al, &usr] {
        d.berth(["rm", "-f", n]).ok();
    }
}

/// `--init` is implemented now (tests/init.rs): a healthcheck runs beside berth-init as PID 1.
#[test]
fn health_with_init_runs_under_berth_init() {
    let d = Daemon::with_busybox();
    let n = unique("hcinit");
    d.berth([
        "run",
        "-d",
        "--init",
        "--name",
        &n,
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    wait_for(&d, &n, "{{.State.Health.Status}}", "healthy", 10);
    let init = d.berth(["exec", &n, "cat", "/proc/1/cmdline"]).ok();
    assert!(init.starts_with("/sbin/docker-init"), "{init:?}");
}
