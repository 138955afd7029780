//! Logs (issue 11, holes 3 and 4): streamed reads in bounded daemon memory, json-file
//! rotation and compression done by the monitor, the `none` driver, refused drivers and
//! options, daemon-wide defaults, and the docker CLI against berthd.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::daemon::{docker_cli, unique};
use integration::Daemon;

fn container_dir(d: &Daemon, id: &str) -> PathBuf {
    d.data_root().join("containers").join(id)
}

fn id_of(d: &Daemon, name: &str) -> String {
    d.berth(["inspect", "-f", "{{.Id}}", name]).ok()
}

/// Peak RSS (VmHWM) of a process in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The log files of a container on disk (name, size).
fn log_files(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
                .map(|e| {
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    (e.file_name().to_string_lossy().into_owned(), len)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Lines `lineN` must be consecutive and end at `last`.
#[track_caller]
fn assert_consecutive(out: &str, last: u64) -> u64 {
    let nums: Vec<u64> = out
        .lines()
        .map(|l| {
            l.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("bad line {l:?}"))
        })
        .collect();
    assert!(!nums.is_empty(), "no lines");
    for w in nums.windows(2) {
        assert_eq!(w[0] + 1, w[1], "lines out of order or missing");
    }
    assert_eq!(*nums.last().unwrap(), last);
    nums.len() as u64
}

#[test]
fn logs_tail_of_a_big_log_streams_in_bounded_daemon_memory() {
    let d = Daemon::with_busybox();
    let name = unique("biglog");
    d.berth(["run", "--name", &name, "busybox", "echo", "first"])
        .ok();
    let id = id_of(&d, &name);
    let log = container_dir(&d, &id).join(format!("{id}-json.log"));
    // ~200 MB of json-file lines, written directly (the container has exited).
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let mut block = String::new();
        for i in 0..10_000 {
            block.push_str(&format!(
                "{{\"log\":\"filler line {i:05} ................................................................\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.000000000Z\"}}\n"
            ));
        }
        let mut total = 0usize;
        while total < 200 << 20 {
            f.write_all(block.as_bytes()).unwrap();
            total += block.len();
        }
        writeln!(
            f,
            "{{\"log\":\"the very last line\\n\",\"stream\":\"stderr\",\"time\":\"2026-06-01T00:00:00.000000000Z\"}}"
        )
        .unwrap();
    }
    let pid = d.pid().expect("berthd pid");
    let before = vm_hwm_kib(pid);
    let t = std::time::Instant::now();
    let out = d.berth(["logs", "--tail", "1", &name]);
    let tail_time = t.elapsed();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr.trim(), "the very last line");
    assert!(out.stdout.trim().is_empty(), "{out:?}");
    // since/until skip lines without buffering them.
    let out = d.berth(["logs", "--since", "2026-03-01T00:00:00Z", &name]);
    assert_eq!(out.stderr.trim(), "the very last line", "{out:?}");
    let out = d.berth([
        "logs",
        "--until",
        "2025-01-01T00:00:00Z",
        "--tail",
        "5",
        &name,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let after = vm_hwm_kib(pid);
    eprintln!("berthd VmHWM {before} KiB -> {after} KiB; tail 1 of 200 MiB took {tail_time:?}");
    assert!(
        after.saturating_sub(before) < 60 * 1024,
        "berthd peak RSS grew by {} KiB serving logs",
        after - before
    );
    assert!(
        tail_time < Duration::from_secs(5),
        "tail took {tail_time:?}"
    );
}

#[test]
fn rotation_bounds_files_on_disk_and_logs_returns_the_newest_lines_in_order() {
    let d = Daemon::with_busybox();
    let name = unique("rot");
    d.berth([
        "run",
        "--name",
        &name,
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=2",
        "busybox",
        "seq",
        "1",
        "300000",
    ])
    .ok();
    let id = id_of(&d, &name);
    let files = log_files(&container_dir(&d, &id));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [format!("{id}-json.log"), format!("{id}-json.log.1")],
        "{files:?}"
    );
    for (n, len) in &files {
        assert!(*len <= 1 << 20, "{n} is {len} bytes");
    }
    assert_eq!(
        d.berth(["logs", "--tail", "3", &name]).ok(),
        "299998\n299999\n300000"
    );
    let all = d.berth(["logs", &name]).ok();
    let n = assert_consecutive(&all, 300000);
    assert!(n > 10_000 && n < 40_000, "{n} lines kept");
    let lc = d
        .berth(["inspect", "-f", "{{json .HostConfig.LogConfig}}", &name])
        .ok();
    assert_eq!(
        lc,
        r#"{"Type":"json-file","Config":{"max-file":"2","max-size":"1m"}}"#
    );
}

#[test]
fn compress_gzips_rotated_files_and_logs_reads_them() {
    let d = Daemon::with_busybox();
    let name = unique("gz");
    d.berth([
        "run",
        "--name",
        &name,
        "--log-opt",
        "max-size=100k",
        "--log-opt",
        "max-file=3",
        "--log-opt",
        "compress=true",
        "busybox",
        "seq",
        "1",
        "50000",
    ])
    .ok();
    let id = id_of(&d, &name);
    let files = log_files(&container_dir(&d, &id));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("{id}-json.log"),
            format!("{id}-json.log.1.gz"),
            format!("{id}-json.log.2.gz")
        ],
        "{files:?}"
    );
    let all = d.berth(["logs", &name]).ok();
    let n = assert_consecutive(&all, 50000);
    assert!(n > 2_000, "{n} lines");
    let t = d
        .berth(["logs", "--tail", &(n - 5).to_string(), &name])
        .ok();
    assert_eq!(assert_consecutive(&t, 50000), n - 5);
}

#[test]
fn follow_reads_across_rotation() {
    let d = Daemon::with_busybox();
    let name = unique("fol");
    d.berth([
        "run",
        "-d",
        "--name",
        &name,
        "--log-opt",
        "max-size=50k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "sleep 1; i=1; while [ $i -le 3000 ]; do echo $i; \
         [ $((i % 100)) = 0 ] && sleep 0.05; i=$((i+1)); done; sleep 0.3",
    ])
    .ok();
    let out = d.berth(["logs", "-f", &name]).ok();
    assert_eq!(assert_consecutive(&out, 3000), 3000);
    let id = id_of(&d, &name);
    assert_eq!(log_files(&container_dir(&d, &id)).len(), 3);
}

#[test]
fn none_driver_writes_nothing_and_logs_answers_dockers_error() {
    let d = Daemon::with_busybox();
    let name = unique("none");
    d.berth([
        "run",
        "--name",
        &name,
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ])
    .ok();
    let id = id_of(&d, &name);
    assert!(log_files(&container_dir(&d, &id)).is_empty());
    let e = d.berth(["logs", &name]).err();
    assert!(
        e.contains("configured logging driver does not support reading"),
        "{e}"
    );
    assert_eq!(
        d.berth(["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", &name])
            .ok(),
        "none"
    );
    if docker_cli().is_some() {
        let e = d.docker(["logs", &name]).err();
        assert!(
            e.contains("configured logging driver does not support reading"),
            "{e}"
        );
    }
}

#[test]
fn unknown_drivers_and_options_are_refused_at_create() {
    let d = Daemon::with_busybox();
    for (args, want) in [
        (vec!["--log-driver", "syslog"], "syslog"),
        (vec!["--log-driver", "asdf"], "asdf"),
        (vec!["--log-driver", "local"], "local"),
        (vec!["--log-opt", "labels=a"], "labels"),
        (vec!["--log-opt", "max-size=lots"], "max-size"),
        (vec!["--log-opt", "max-file=0"], "max-file"),
        (
            vec!["--log-driver", "none", "--log-opt", "max-size=1m"],
            "max-size",
        ),
    ] {
        let mut a = vec!["create"];
        a.extend(args.iter().copied());
        a.extend(["busybox", "true"]);
        let e = d.berth(&a).err();
        assert!(e.contains(want), "{args:?}: {e}");
    }
    assert_eq!(d.berth(["ps", "-a", "-q"]).ok(), "");
    // An empty Type means the daemon's default.
    let name = unique("empty");
    d.berth([
        "create",
        "--name",
        &name,
        "--log-opt",
        "max-size=2m",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(
        d.berth(["inspect", "-f", "{{json .HostConfig.LogConfig}}", &name])
            .ok(),
        r#"{"Type":"json-file","Config":{"max-size":"2m"}}"#
    );
}

#[test]
fn daemon_wide_defaults_apply_and_show_in_info() {
    let d = Daemon::start_with(&["--log-opt", "max-size=1m", "--log-opt", "max-file=2"]);
    d.import_busybox();
    assert_eq!(
        d.docker(["info", "-f", "{{.LoggingDriver}}"]).ok(),
        "json-file"
    );
    let name = unique("dflt");
    d.berth(["run", "--name", &name, "busybox", "seq", "1", "100000"])
        .ok();
    let id = id_of(&d, &name);
    let files = log_files(&container_dir(&d, &id));
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        d.berth(["inspect", "-f", "{{json .HostConfig.LogConfig}}", &name])
            .ok(),
        r#"{"Type":"json-file","Config":{"max-file":"2","max-size":"1m"}}"#
    );
    drop(d);

    let d = Daemon::start_with(&["--log-driver", "none"]);
    d.import_busybox();
    assert_eq!(d.docker(["info", "-f", "{{.LoggingDriver}}"]).ok(), "none");
    let quiet = unique("quiet");
    d.berth(["run", "--name", &quiet, "busybox", "echo", "x"])
        .ok();
    assert!(d
        .berth(["logs", &quiet])
        .err()
        .contains("does not support reading"));
    let loud = unique("loud");
    d.berth([
        "run",
        "--name",
        &loud,
        "--log-driver",
        "json-file",
        "busybox",
        "echo",
        "x",
    ])
    .ok();
    assert_eq!(d.berth(["logs", &loud]).ok(), "x");
    drop(d);

    // A bad daemon default stops berthd at start with a clear message.
    let root = PathBuf::from(format!("/tmp/{}", unique("btbad")));
    let out = std::process::Command::new(integration::daemon::bin("berthd"))
        .arg("--data-root")
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", root.join("s.sock").display()))
        .args(["--log-driver", "syslog"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&root);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("syslog"),
        "{out:?}"
    );
}

#[test]
fn docker_cli_logs_tail_and_log_opts_against_berthd() {
    if docker_cli().is_none() {
        eprintln!("docker CLI not installed; skipped");
        return;
    }
    let d = Daemon::with_busybox();
    let name = unique("dk");
    d.docker([
        "run",
        "--name",
        &name,
        "--log-opt",
        "max-size=200k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "seq",
        "1",
        "40000",
    ])
    .ok();
    assert_eq!(d.docker(["logs", "--tail", "1", &name]).ok(), "40000");
    let id = id_of(&d, &name);
    assert_eq!(log_files(&container_dir(&d, &id)).len(), 2);
    let e = d
        .docker(["create", "--log-driver", "syslog", "busybox", "true"])
        .err();
    assert!(e.contains("syslog"), "{e}");
    assert_eq!(
        d.docker(["inspect", "-f", "{{.HostConfig.LogConfig.Config}}", &name])
            .ok(),
        "map[max-file:2 max-size:200k]"
    );
}
