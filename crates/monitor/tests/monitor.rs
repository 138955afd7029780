//! Real tests: runc + busybox containers under berth-monitor (run as root).

mod common;

use common::{alive, kill, read_frames, rss_kib, Fixture};
use monitor::{ATTACH_STDERR, ATTACH_STDIN, ATTACH_STDOUT};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

#[test]
fn output_reaches_log_and_attach_with_framing() {
    let mut f = Fixture::new(
        &["sh", "-c", "echo hello; echo oops >&2; printf 'two '; sleep 0.1; printf 'parts\\nand '; printf partial"],
        false,
        false,
    );
    let s = f.spawn().unwrap();
    assert!(s.monitor_pid > 0 && s.container_pid > 0);
    assert_eq!(monitor::ping(&f.sock_dir).unwrap(), s.container_pid);
    let mut a = monitor::attach(&f.sock_dir, ATTACH_STDOUT | ATTACH_STDERR).unwrap();
    let mut only_err = monitor::attach(&f.sock_dir, ATTACH_STDERR).unwrap();
    a.set_read_timeout(Some(T)).unwrap();
    only_err.set_read_timeout(Some(T)).unwrap();
    monitor::start(&f.sock_dir).unwrap();
    let (out, err) = read_frames(&mut a);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "hello\ntwo parts\nand partial"
    );
    assert_eq!(String::from_utf8_lossy(&err), "oops\n");
    let (out2, err2) = read_frames(&mut only_err);
    assert!(out2.is_empty());
    assert_eq!(err2, b"oops\n");
    let rec = f.wait_exit(T);
    assert_eq!(rec.exit_code, 0);
    assert!(!rec.oom_killed);
    assert!(monitor::timefmt::parse_rfc3339(&rec.finished_at).is_some());
    f.wait_monitor_gone(T);
    assert!(!f.sock_dir.exists(), "socket dir must be removed");
    let log = f.log();
    let outs: Vec<&str> = log
        .iter()
        .filter(|e| e.stream == "stdout")
        .map(|e| e.log.as_str())
        .collect();
    let errs: Vec<&str> = log
        .iter()
        .filter(|e| e.stream == "stderr")
        .map(|e| e.log.as_str())
        .collect();
    // A line written in pieces is one log entry; the unterminated tail is flushed at EOF.
    assert_eq!(outs, ["hello\n", "two parts\n", "and partial"]);
    assert_eq!(errs, ["oops\n"]);
    assert!(log.iter().all(|e| e.timestamp().is_some()));
    // runc state is gone (delete --force ran).
    assert!(!f.cfg.runtime_root.join(&f.id).exists());
}

#[test]
fn stdin_through_attach_with_half_close() {
    let mut f = Fixture::new(&["cat"], false, true);
    f.spawn().unwrap();
    let mut a = monitor::attach(&f.sock_dir, ATTACH_STDIN | ATTACH_STDOUT | ATTACH_STDERR).unwrap();
    a.set_read_timeout(Some(T)).unwrap();
    monitor::start(&f.sock_dir).unwrap();
    a.write_all(b"x\n").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let (out, err) = read_frames(&mut a);
    assert_eq!(out, b"x\n");
    assert!(err.is_empty());
    assert_eq!(f.wait_exit(T).exit_code, 0);
    assert_eq!(f.log()[0].log, "x\n");
}

#[test]
fn tty_mode_raw_output_and_resize() {
    let mut f = Fixture::new(&["sh", "-c", "read l; stty size; echo got $l"], true, true);
    f.spawn().unwrap();
    let mut a = monitor::attach(&f.sock_dir, ATTACH_STDIN | ATTACH_STDOUT).unwrap();
    a.set_read_timeout(Some(T)).unwrap();
    monitor::start(&f.sock_dir).unwrap();
    monitor::resize(&f.sock_dir, 40, 100).unwrap();
    a.write_all(b"hi\n").unwrap();
    let mut out = Vec::new();
    let _ = a.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("40 100"), "tty output: {text:?}");
    assert!(text.contains("got hi"), "tty output: {text:?}");
    assert!(
        out.first() != Some(&1) || !text.contains('\u{0}'),
        "no framing with a tty"
    );
    assert_eq!(f.wait_exit(T).exit_code, 0);
    let log: String = f.log().iter().map(|e| e.log.clone()).collect();
    assert!(log.contains("got hi"), "log: {log:?}");
    assert!(f.log().iter().all(|e| e.stream == "stdout"));
}

#[test]
fn resize_without_tty_is_an_error() {
    let mut f = Fixture::new(&["true"], false, false);
    f.spawn().unwrap();
    assert!(monitor::resize(&f.sock_dir, 10, 10).is_err());
    monitor::start(&f.sock_dir).unwrap();
    assert_eq!(f.wait_exit(T).exit_code, 0);
}

#[test]
fn exit_codes() {
    let mut f = Fixture::new(&["sh", "-c", "exit 3"], false, false);
    f.spawn().unwrap();
    monitor::start(&f.sock_dir).unwrap();
    assert_eq!(f.wait_exit(T).exit_code, 3);

    let mut k = Fixture::new(&["sleep", "100"], false, false);
    let s = k.spawn().unwrap();
    monitor::start(&k.sock_dir).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The monitor's blocked/ignored signals must not leak into the container.
    let st = std::fs::read_to_string(format!("/proc/{}/status", s.container_pid)).unwrap();
    let mask = |key: &str| -> u64 {
        let v = st.lines().find(|l| l.starts_with(key)).unwrap();
        u64::from_str_radix(v.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(
        mask("SigBlk:"),
        0,
        "blocked signals leaked into the container"
    );
    for sig in [
        libc::SIGPIPE,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGCHLD,
    ] {
        assert_eq!(
            mask("SigIgn:") & (1 << (sig - 1)),
            0,
            "signal {sig} ignored in the container"
        );
    }
    kill(s.container_pid, libc::SIGKILL);
    assert_eq!(k.wait_exit(T).exit_code, 137);
    k.wait_monitor_gone(T);
}

#[test]
fn bad_executable_reports_runtime_error() {
    let mut f = Fixture::new(&["/nope"], false, false);
    let e = f.spawn().unwrap_err();
    let msg = e.to_string();
    println!("spawn error: {msg}");
    assert!(matches!(e, monitor::MonitorError::Runtime(_)), "{e:?}");
    assert!(msg.contains("nope"), "{msg}");
    assert!(!msg.contains("level=error"), "{msg}");
    assert!(!f.sock_dir.exists());
    assert!(!f.cfg.exit_file.exists());
    assert!(!f.cfg.runtime_root.join(&f.id).exists());

    let mut g = Fixture::new(&["nope"], false, false);
    let msg = g.spawn().unwrap_err().to_string();
    println!("spawn error: {msg}");
    assert!(
        msg.contains("\"nope\": executable file not found in $PATH"),
        "{msg}"
    );
}

#[test]
fn many_clients_slow_client_never_blocks() {
    // ~6 MB of output; one client never reads, one reads everything.
    let mut f = Fixture::new(
        &[
            "sh",
            "-c",
            "head -c 6000000 /dev/zero | tr '\\0' a; echo; echo done",
        ],
        false,
        false,
    );
    f.spawn().unwrap();
    let _stuck = monitor::attach(&f.sock_dir, ATTACH_STDOUT).unwrap();
    // One that goes away at once, one that reads a little and then goes away.
    drop(monitor::attach(&f.sock_dir, ATTACH_STDOUT | ATTACH_STDERR).unwrap());
    let mut quitter = monitor::attach(&f.sock_dir, ATTACH_STDOUT).unwrap();
    let quit = std::thread::spawn(move || {
        let mut buf = [0u8; 1000];
        let _ = quitter.read_exact(&mut buf);
    });
    let mut a = monitor::attach(&f.sock_dir, ATTACH_STDOUT | ATTACH_STDERR).unwrap();
    a.set_read_timeout(Some(T)).unwrap();
    monitor::start(&f.sock_dir).unwrap();
    let (out, err) = read_frames(&mut a);
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    quit.join().unwrap();
    assert_eq!(out.len(), 6_000_000 + 1 + 5);
    assert!(out.ends_with(b"\ndone\n"));
    assert_eq!(f.wait_exit(T).exit_code, 0);
    let total: usize = f.log().iter().map(|e| e.log.len()).sum();
    assert_eq!(total, 6_000_006);
}

/// Re-executed as a child process by `survives_kill_9_of_spawner`: spawns a monitor from
/// the config in the environment, prints the pids, then waits to be killed.
#[test]
fn spawner_helper() {
    let Ok(dir) = std::env::var("BERTH_MON_HELPER_SOCKDIR") else {
        return;
    };
    let cfg = monitor::MonitorConfig {
        monitor_bin: env!("CARGO_BIN_EXE_berth-monitor").into(),
        id: std::env::var("BERTH_MON_HELPER_ID").unwrap(),
        runtime: common::RUNC.into(),
        runtime_root: std::env::var("BERTH_MON_HELPER_ROOT").unwrap().into(),
        bundle: std::env::var("BERTH_MON_HELPER_BUNDLE").unwrap().into(),
        socket_dir: dir.into(),
        log_file: std::env::var("BERTH_MON_HELPER_LOG").unwrap().into(),
        exit_file: std::env::var("BERTH_MON_HELPER_EXIT").unwrap().into(),
        tty: false,
        stdin: std::env::var_os("BERTH_MON_HELPER_STDIN").is_some(),
        log_rotation: Default::default(),
        log_none: false,
    };
    let s = monitor::spawn(&cfg).unwrap();
    println!("PIDS {} {}", s.monitor_pid, s.container_pid);
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn survives_kill_9_of_spawner() {
    let mut f = Fixture::new(&["sh", "-c", "read x; echo bye; exit 7"], false, true);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "spawner_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BERTH_MON_HELPER_SOCKDIR", &f.cfg.socket_dir)
        .env("BERTH_MON_HELPER_ID", &f.cfg.id)
        .env("BERTH_MON_HELPER_ROOT", &f.cfg.runtime_root)
        .env("BERTH_MON_HELPER_BUNDLE", &f.cfg.bundle)
        .env("BERTH_MON_HELPER_LOG", &f.cfg.log_file)
        .env("BERTH_MON_HELPER_EXIT", &f.cfg.exit_file)
        .env("BERTH_MON_HELPER_STDIN", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let end = Instant::now() + T;
    // libtest may print "test spawner_helper ... " on the same line first.
    while !line.contains("PIDS ") {
        line.clear();
        assert!(Instant::now() < end);
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "helper ended"
        );
    }
    let pids: Vec<i32> = line[line.find("PIDS ").unwrap() + 5..]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    f.spawned = Some(monitor::Spawned {
        monitor_pid: pids[0],
        container_pid: pids[1],
    });
    // kill -9 the spawner (and its whole process group would not matter either).
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(pids[0]), "monitor died with its spawner");
    assert!(alive(pids[1]), "container died with its spawner");
    // SIGTERM / SIGINT to the monitor do not stop it or the container.
    kill(pids[0], libc::SIGTERM);
    kill(pids[0], libc::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(pids[0]) && alive(pids[1]));
    // The monitor's parent is no longer the spawner.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pids[0])).unwrap();
    let ppid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, child.id() as i32);
    // A "restarted berthd" finds it again.
    assert_eq!(monitor::ping(&f.sock_dir).unwrap(), pids[1]);
    let mut a = monitor::attach(&f.sock_dir, ATTACH_STDIN | ATTACH_STDOUT).unwrap();
    a.set_read_timeout(Some(T)).unwrap();
    monitor::start(&f.sock_dir).unwrap();
    a.write_all(b"go\n").unwrap();
    let (o, _) = read_frames(&mut a);
    assert_eq!(o, b"bye\n");
    assert_eq!(f.wait_exit(T).exit_code, 7);
}

/// Private (unshared) memory of a process in KiB, from smaps_rollup.
fn private_kib(pid: i32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (
        field("Pss:"),
        field("Private_Clean:") + field("Private_Dirty:"),
    )
}

#[test]
fn monitor_rss_is_small() {
    // Several containers at once, as on a real host: text pages are shared between monitors.
    let mut fixtures: Vec<Fixture> = (0..4)
        .map(|_| Fixture::new(&["sleep", "100"], false, true))
        .collect();
    let mut pids = Vec::new();
    for f in &mut fixtures {
        let s = f.spawn().unwrap();
        monitor::start(&f.sock_dir).unwrap();
        pids.push(s);
    }
    let mut a = monitor::attach(
        &fixtures[0].sock_dir,
        ATTACH_STDIN | ATTACH_STDOUT | ATTACH_STDERR,
    )
    .unwrap();
    a.write_all(b"some input\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let s = pids[0];
    let rss = rss_kib(s.monitor_pid).unwrap();
    if std::env::var_os("BERTH_MON_SMAPS").is_some() {
        let sm = std::fs::read_to_string(format!("/proc/{}/smaps", s.monitor_pid)).unwrap();
        let mut name = String::new();
        for l in sm.lines() {
            if l.split_whitespace()
                .next()
                .is_some_and(|w| w.contains('-') && !w.ends_with(':'))
            {
                name = l.to_string();
            } else if l.starts_with("Rss:") {
                println!("{:>8}  {name}", l.split_whitespace().nth(1).unwrap());
            }
        }
    }
    println!("berth-monitor VmRSS with a running container: {rss} KiB");
    if let Ok(st) = std::fs::read_to_string(format!("/proc/{}/status", s.monitor_pid)) {
        for l in st
            .lines()
            .filter(|l| l.starts_with("Rss") || l.starts_with("VmHWM"))
        {
            println!("  {l}");
        }
    }
    for p in &pids {
        let (pss, private) = private_kib(p.monitor_pid);
        println!(
            "  monitor {}: VmRSS {} KiB, Pss {pss} KiB, private {private} KiB",
            p.monitor_pid,
            rss_kib(p.monitor_pid).unwrap_or(0)
        );
    }
    // Release builds stay under 1 MiB; the unoptimized test build is allowed more.
    let limit = if std::env::var_os("BERTH_MONITOR_BIN").is_some() {
        1024
    } else {
        3 * 1024
    };
    assert!(rss < limit, "monitor RSS {rss} KiB");
    for (f, p) in fixtures.iter().zip(&pids) {
        kill(p.container_pid, libc::SIGKILL);
        assert_eq!(f.wait_exit(T).exit_code, 137);
    }
}

#[test]
fn oom_kill_is_recorded() {
    let mut f = Fixture::build(
        &[
            "sh",
            "-c",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        ],
        false,
        false,
        Some(16 << 20),
    );
    f.spawn().unwrap();
    monitor::start(&f.sock_dir).unwrap();
    let rec = f.wait_exit(Duration::from_secs(60));
    assert!(rec.oom_killed, "{rec:?}");
    assert_ne!(rec.exit_code, 0);
}

#[test]
fn run_true_latency() {
    let t0 = Instant::now();
    let mut f = Fixture::new(&["true"], false, false);
    let t1 = Instant::now();
    f.spawn().unwrap();
    let t2 = Instant::now();
    monitor::start(&f.sock_dir).unwrap();
    let t3 = Instant::now();
    assert_eq!(f.wait_exit(T).exit_code, 0);
    let t4 = Instant::now();
    f.wait_monitor_gone(T);
    let t5 = Instant::now();
    println!(
        "latency: bundle {:?}, spawn(create) {:?}, start {:?}, exit record {:?}, monitor gone {:?}",
        t1 - t0,
        t2 - t1,
        t3 - t2,
        t4 - t3,
        t5 - t4
    );
}

#[test]
fn large_stdin_round_trip_without_loss() {
    let mut f = Fixture::new(&["cat"], false, true);
    f.spawn().unwrap();
    let mut a = monitor::attach(&f.sock_dir, ATTACH_STDIN | ATTACH_STDOUT).unwrap();
    a.set_read_timeout(Some(T)).unwrap();
    monitor::start(&f.sock_dir).unwrap();
    let input: Vec<u8> = (0..4_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut w = a.try_clone().unwrap();
    let data = input.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let (out, err) = read_frames(&mut a);
    writer.join().unwrap();
    assert!(err.is_empty());
    assert_eq!(out.len(), input.len());
    assert!(out == input, "stdin bytes came back altered");
    assert_eq!(f.wait_exit(T).exit_code, 0);
}

#[test]
fn ctl_on_missing_monitor_is_an_io_error() {
    let dir = std::path::Path::new("/tmp/bm-does-not-exist");
    assert!(matches!(
        monitor::ping(dir),
        Err(monitor::MonitorError::Io(_))
    ));
    assert!(monitor::start(dir).is_err());
}
