//! End-to-end tests: a real berthd driven by the real docker CLI and raw HTTP (as root).

mod common;

use common::{can_run, eventually, stderr, stdout, Daemon};
use std::time::Duration;

#[test]
fn run_rm_echo_and_exit_codes() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo oops >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "oops\n");
    // --rm containers are gone once `docker run` returns.
    assert!(d.all_ids().is_empty(), "left: {:?}", d.all_ids());
    // A missing executable fails the run with a clear message.
    let out = d.docker(&["run", "--rm", "busybox", "nope-not-here"]);
    assert!(!out.status.success());
    // The image's defaults apply; a named user resolves through /etc/passwd.
    let out = d.docker(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "A=b",
        "busybox",
        "sh",
        "-c",
        "id -u; pwd; echo $A; hostname",
    ]);
    let s = stdout(&out);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(&lines[..3], &["65534", "/tmp", "b"], "{s} {}", stderr(&out));
}

#[test]
fn detached_logs_stop_rm() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started; echo err >&2; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64);
    assert!(eventually(Duration::from_secs(5), || stdout(
        &d.docker(&["logs", "web"])
    ) == "started\n"));
    let out = d.docker(&["logs", "web"]);
    assert_eq!(stderr(&out), "err\n");
    let out = d.docker(&["logs", "--tail", "1", "-t", "web"]);
    assert!(stderr(&out).ends_with(" err\n"), "{}", stderr(&out));
    let ps = stdout(&d.docker(&["ps"]));
    assert!(ps.contains("web") && ps.contains("Up "), "{ps}");
    let inspect = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Running}} {{.Name}}",
        "web",
    ]));
    assert_eq!(inspect.trim(), "running true /web");
    // rm without force refuses a running container.
    let out = d.docker(&["rm", "web"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Stop the container before attempting removal or force remove"));
    let t0 = std::time::Instant::now();
    let out = d.docker(&["stop", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "SIGTERM trap should stop it quickly"
    );
    let st = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]));
    assert_eq!(st.trim(), "exited 0");
    let ps = stdout(&d.docker(&["ps", "-a"]));
    assert!(ps.contains("Exited (0)"), "{ps}");
    // Restart and stop with the SIGKILL fallback (sh as pid 1 ignores TERM without a trap).
    let out = d.docker(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "100"]);
    assert!(out.status.success());
    let out = d.docker(&["stop", "-t", "1", "stubborn"]);
    assert!(out.status.success());
    let st = stdout(&d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]));
    assert_eq!(st.trim(), "137");
    let out = d.docker(&["rm", "web", "stubborn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.all_ids().is_empty());
    let out = d.docker(&["inspect", "web"]);
    assert!(!out.status.success());
}

#[test]
fn stdin_pipe_and_exec() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], Some(b"x\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "x\n");
    let out = d.docker_stdin(
        &["run", "-i", "--rm", "busybox", "wc", "-c"],
        Some(&vec![b'a'; 100_000]),
    );
    assert_eq!(stdout(&out).trim(), "100000");
    let out = d.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "100"]);
    assert!(out.status.success());
    let out = d.docker(&["exec", "box", "sh", "-c", "echo from-exec; echo e >&2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from-exec\n");
    assert_eq!(stderr(&out), "e\n");
    let out = d.docker(&["exec", "box", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = d.docker_stdin(&["exec", "-i", "box", "cat"], Some(b"piped\n"));
    assert_eq!(stdout(&out), "piped\n");
    let out = d.docker(&[
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "id -u; pwd",
    ]);
    assert_eq!(stdout(&out), "65534\n/tmp\n");
    let out = d.docker(&["exec", "-d", "box", "touch", "/tmp/detached"]);
    assert!(out.status.success());
    assert!(eventually(Duration::from_secs(5), || d
        .docker(&["exec", "box", "test", "-e", "/tmp/detached"])
        .status
        .success()));
    let out = d.docker(&["rm", "-f", "box"]);
    assert!(out.status.success());
    assert!(d.all_ids().is_empty());
}

#[test]
fn images_import_inspect_rmi() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let imgs = stdout(&d.docker(&["images"]));
    assert!(
        imgs.contains("busybox") && imgs.contains("latest"),
        "{imgs}"
    );
    let tar = d.dir.join("busybox.tar");
    let out = d.docker(&[
        "import",
        "-c",
        "CMD [\"echo\",\"from-cmd\"]",
        "-c",
        "ENV FOO=bar",
        "-m",
        "hello",
        tar.to_str().unwrap(),
        "mybb:v1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("sha256:"));
    let out = d.docker(&["run", "--rm", "mybb:v1"]);
    assert_eq!(stdout(&out), "from-cmd\n");
    let out = d.docker(&["run", "--rm", "mybb:v1", "sh", "-c", "echo $FOO"]);
    assert_eq!(stdout(&out), "bar\n");
    let f = stdout(&d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Comment}} {{json .Config.Cmd}}",
        "mybb:v1",
    ]));
    assert_eq!(f.trim(), "hello [\"echo\",\"from-cmd\"]");
    assert!(d.docker(&["tag", "mybb:v1", "other:tag"]).status.success());
    let out = d.docker(&["create", "--name", "user", "mybb:v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Untagging one of two tags is fine; the last one is protected by the container.
    assert!(d.docker(&["rmi", "other:tag"]).status.success());
    let out = d.docker(&["rmi", "mybb:v1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("conflict"), "{}", stderr(&out));
    assert!(d.docker(&["rm", "user"]).status.success());
    let out = d.docker(&["rmi", "mybb:v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Deleted: sha256:"));
    let out = d.docker(&["run", "--rm", "127.0.0.1:1/nosuchimage"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nosuchimage"), "{}", stderr(&out));
    let out = d.docker(&["history", "busybox"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn raw_http_protocol() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let (st, head, body) = d.http("GET", "/_ping", None);
    assert_eq!((st, body.as_str()), (200, "OK"));
    let h = head.to_ascii_lowercase();
    assert!(
        h.contains("api-version: 1.44")
            && h.contains("builder-version: 1")
            && h.contains("ostype: linux"),
        "{head}"
    );
    let (st, head, _) = d.http("HEAD", "/_ping", None);
    assert_eq!(st, 200);
    assert!(head.to_ascii_lowercase().contains("api-version"));
    let (st, _, body) = d.http("GET", "/version", None);
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ApiVersion"], "1.44");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(d.http("GET", "/v1.23/version", None).0, 400);
    assert_eq!(d.http("GET", "/v1.45/version", None).0, 400);
    assert_eq!(d.http("GET", "/v1.24/info", None).0, 200);
    let (st, _, body) = d.http("POST", "/v1.44/containers/create", Some("{not json"));
    assert_eq!(st, 400);
    assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"].is_string());
    let (st, _, body) = d.http("GET", "/v1.44/nope", None);
    assert_eq!((st, body.trim()), (404, "{\"message\":\"page not found\"}"));
    assert_eq!(d.http("POST", "/swarm/leave", None).0, 503);
    let (st, _, body) = d.http("GET", "/containers/nosuch/json", None);
    assert_eq!(st, 404);
    assert!(body.contains("No such container: nosuch"));
    let (st, _, body) = d.http("POST", "/containers/create", Some(r#"{"Image":"missing"}"#));
    assert_eq!(st, 404);
    assert!(body.contains("No such image: missing:latest"), "{body}");
    // Lenient create: only Image and Cmd; labels round-trip; filters in both forms.
    let (st, _, body) = d.http(
        "POST",
        "/v1.44/containers/create?name=lbl",
        Some(r#"{"Image":"busybox","Cmd":["sh","-c","exit 5"],"Labels":{"a":"b"}}"#),
    );
    assert_eq!(st, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    for f in [
        r#"{"label":["a=b"]}"#,
        r#"{"label":{"a=b":true}}"#,
        r#"{"name":["lbl"]}"#,
    ] {
        let q: String = url_encode(f);
        let (_, _, body) = d.http(
            "GET",
            &format!("/containers/json?all=True&filters={q}"),
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v.as_array().map(|a| a.len()), Some(1), "{f}: {body}");
    }
    let (_, _, body) = d.http(
        "GET",
        &format!(
            "/containers/json?all=1&filters={}",
            url_encode(r#"{"label":["a=c"]}"#)
        ),
        None,
    );
    assert_eq!(body.trim(), "[]");
    // /wait must answer its headers before the container is started.
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /v1.44/containers/{id}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = s
        .read(&mut buf)
        .expect("wait headers must arrive before start");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (st, _, _) = d.http("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(st, 204);
    let mut rest = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&rest).contains("StatusCode")
        && std::time::Instant::now() < deadline
    {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        String::from_utf8_lossy(&rest).contains("\"StatusCode\":5"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    // Attach answers 101 with the hijack headers.
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /containers/{id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("upgrade: tcp") && head.contains("application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    drop(s);
    let (st, _, _) = d.http("POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(st, 409);
    let (st, _, _) = d.http("DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(st, 204);
    // A pull from a registry that is not there (loopback only: nothing leaves the machine).
    let (st, _, body) = d.http(
        "POST",
        "/images/create?fromImage=127.0.0.1:1/busybox&tag=latest",
        None,
    );
    assert!(st >= 400, "{st} {body}");
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn kill9_daemon_and_recover() {
    if !can_run() {
        return;
    }
    let mut d = Daemon::start();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo alive; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 4",
    ]);
    assert!(out.status.success());
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    let ps = stdout(&d.docker(&["ps"]));
    assert!(ps.contains("long") && !ps.contains("short"), "{ps}");
    assert!(eventually(Duration::from_secs(5), || stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "short"
    ]))
    .trim()
        == "exited 4"));
    assert_eq!(stdout(&d.docker(&["logs", "long"])), "alive\n");
    let out = d.docker(&["exec", "long", "echo", "still-here"]);
    assert_eq!(stdout(&out), "still-here\n", "{}", stderr(&out));
    let out = d.docker(&["stop", "long"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "long",
    ]));
    assert_eq!(st.trim(), "exited 0");
    assert!(d.docker(&["rm", "long", "short"]).status.success());
}

/// Run the docker CLI on a pty (rows x cols), feeding `input` once the prompt shows.
fn docker_on_pty(d: &Daemon, args: &[&str], input: &[u8]) -> (String, Option<i32>) {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    let (mut m, mut s) = (-1, -1);
    let ws = libc::winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two fds we then own.
    let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(rc, 0);
    // SAFETY: fresh fds owned here.
    let (master, slave) = unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) };
    let mut cmd = std::process::Command::new(common::DOCKER);
    cmd.args(args)
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", d.dir.join("docker-config"))
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: setsid/ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let mut reader = master.try_clone().unwrap();
    let mut writer = master;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    let mut sent = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(b) => out.extend_from_slice(&b),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
        if !sent && String::from_utf8_lossy(&out).contains("# ") {
            writer.write_all(input).unwrap();
            sent = true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            // Collect what is left.
            while let Ok(b) = rx.recv_timeout(Duration::from_millis(200)) {
                out.extend_from_slice(&b);
            }
            break;
        }
    }
    let _ = child.kill();
    let code = child.wait().ok().and_then(|s| s.code());
    (String::from_utf8_lossy(&out).into_owned(), code)
}

#[test]
fn tty_run_and_exec() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let (out, code) = docker_on_pty(
        &d,
        &["run", "-it", "--rm", "busybox", "sh"],
        b"stty size; tty; exit 6\r",
    );
    assert_eq!(code, Some(6), "{out}");
    assert!(
        out.contains("30 100") && out.contains("/dev/pts/0"),
        "{out}"
    );
    assert!(d
        .docker(&["run", "-d", "--name", "tt", "busybox", "sleep", "100"])
        .status
        .success());
    let (out, code) = docker_on_pty(
        &d,
        &["exec", "-it", "tt", "sh"],
        b"stty size; tty; exit 9\r",
    );
    assert_eq!(code, Some(9), "{out}");
    assert!(out.contains("30 100") && out.contains("/dev/pts/"), "{out}");
    assert!(d.docker(&["rm", "-f", "tt"]).status.success());
}

#[test]
fn lifecycle_extras() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    // start -a replays nothing and streams the run; wait prints the code.
    assert!(d
        .docker(&[
            "create",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "echo hello-start; exit 2"
        ])
        .status
        .success());
    let out = d.docker(&["start", "-a", "c1"]);
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("hello-start\n", Some(2))
    );
    assert!(d.docker(&["start", "c1"]).status.success());
    assert_eq!(stdout(&d.docker(&["wait", "c1"])).trim(), "2");
    assert!(d.docker(&["rename", "c1", "c1x"]).status.success());
    assert!(!d.docker(&["inspect", "c1"]).status.success());
    // Resource limits reach the cgroup.
    let out = d.docker(&[
        "run", "--rm", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max",
    ]);
    assert_eq!(stdout(&out), "67108864\n50000\n50\n", "{}", stderr(&out));
    // Namespaces and process settings from HostConfig.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ip -o link | wc -l",
    ]);
    assert_eq!(stdout(&out).trim(), "1", "{}", stderr(&out));
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "ip -o link | wc -l",
    ]);
    assert!(
        stdout(&out).trim().parse::<u32>().unwrap_or(0) >= 1,
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=1024:2048",
        "--oom-score-adj",
        "100",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj",
    ]);
    assert_eq!(stdout(&out), "1024\n2048\n100\n", "{}", stderr(&out));
    // Default capabilities: Docker's 14.
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    assert!(
        stdout(&out).contains("00000000a80425fb"),
        "{}",
        stdout(&out)
    );
    // -d --rm removes itself on exit; restart policies restart.
    assert!(d
        .docker(&["run", "-d", "--rm", "--name", "auto", "busybox", "true"])
        .status
        .success());
    assert!(eventually(Duration::from_secs(5), || !d
        .docker(&["inspect", "auto"])
        .status
        .success()));
    assert!(d
        .docker(&[
            "run",
            "-d",
            "--name",
            "rs",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "echo run; exit 1"
        ])
        .status
        .success());
    assert!(eventually(Duration::from_secs(10), || stdout(
        &d.docker(&["logs", "rs"])
    )
        == "run\nrun\nrun\n"));
    assert!(eventually(Duration::from_secs(5), || stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.RestartCount}} {{.State.Status}}",
        "rs"
    ]))
    .trim()
        == "2 exited"));
    // logs -f follows until the container stops; restart and kill work.
    assert!(d
        .docker(&[
            "run",
            "-d",
            "--name",
            "fol",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3; do echo $i; sleep 0.2; done"
        ])
        .status
        .success());
    assert_eq!(stdout(&d.docker(&["logs", "-f", "fol"])), "1\n2\n3\n");
    assert!(d
        .docker(&["run", "-d", "--name", "kk", "busybox", "sleep", "100"])
        .status
        .success());
    let pid1 = stdout(&d.docker(&["inspect", "-f", "{{.State.Pid}}", "kk"]));
    assert!(d.docker(&["restart", "-t", "0", "kk"]).status.success());
    let pid2 = stdout(&d.docker(&["inspect", "-f", "{{.State.Pid}} {{.State.Running}}", "kk"]));
    assert!(
        pid2.trim().ends_with("true") && !pid2.starts_with(pid1.trim()),
        "{pid1} {pid2}"
    );
    assert!(d.docker(&["kill", "kk"]).status.success());
    assert_eq!(
        stdout(&d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "kk"])).trim(),
        "137"
    );
    let out = d.docker(&["kill", "kk"]);
    assert!(
        !out.status.success() && stderr(&out).contains("is not running"),
        "{}",
        stderr(&out)
    );
    // A missing executable: 127, and with --rm nothing is left.
    let out = d.docker(&["run", "--rm", "busybox", "nope-not-here"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("executable file not found"));
    let ps = stdout(&d.docker(&["ps", "-a", "--format", "{{.Names}}"]));
    let mut names: Vec<&str> = ps.lines().collect();
    names.sort();
    assert_eq!(names, vec!["c1x", "fol", "kk", "rs"]);
    assert!(d.docker(&["container", "prune", "-f"]).status.success());
    assert!(d.all_ids().is_empty());
}

#[test]
fn volumes_and_events() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let host = d.dir.join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "hostfile\n").unwrap();
    let bind = format!("{}:/h:ro", host.display());
    let out = d.docker(&[
        "run",
        "--rm",
        "--name",
        "vol1",
        "-v",
        &bind,
        "-v",
        "named:/v",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "cat /h/f; touch /h/x || echo ro; echo data > /v/d; grep -c ' /scratch ' /proc/mounts",
    ]);
    assert_eq!(stdout(&out), "hostfile\nro\n1\n", "{}", stderr(&out));
    let out = d.docker(&["run", "--rm", "-v", "named:/v", "busybox", "cat", "/v/d"]);
    assert_eq!(stdout(&out), "data\n");
    let out = d.docker(&["run", "--rm", "-v", "relative/path:/x", "busybox", "true"]);
    assert!(!out.status.success());
    let out = d.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!("{}", common_now() + 1),
        "--filter",
        "container=vol1",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        stdout(&out),
        "create\nstart\ndie\ndestroy\n",
        "{}",
        stderr(&out)
    );
}

fn common_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn pause_stats_top() {
    if !can_run() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.PIDs}}",
    ]);
    let s = stdout(&out);
    assert!(
        s.starts_with("busy ") && s.contains("64MiB") && s.trim().ends_with(" 1"),
        "{s} {}",
        stderr(&out)
    );
    let out = d.docker(&["top", "busy"]);
    assert!(stdout(&out).contains("while true"), "{}", stdout(&out));
    assert!(d.docker(&["pause", "busy"]).status.success());
    let st = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}}",
        "busy",
    ]));
    assert_eq!(st.trim(), "paused true");
    assert!(stdout(&d.docker(&["ps"])).contains("(Paused)"));
    assert!(!d.docker(&["pause", "busy"]).status.success());
    assert!(d.docker(&["unpause", "busy"]).status.success());
    assert!(d.docker(&["pause", "busy"]).status.success());
    // Stopping a paused container thaws it after the signal.
    let out = d.docker(&["stop", "-t", "1", "busy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}}",
        "busy",
    ]));
    assert_eq!(st.trim(), "exited false");
    assert!(d.docker(&["rm", "busy"]).status.success());
}
