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
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo oops >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "oops\n");
    // --rm containers are gone once `docker run` returns.
    assert!(d.all_ids().is_empty(), "left: {:?}", d.all_ids());
    // A missing executable fails the run with a clear message.
    let out = d.docker(&["run", "--rm", "busybox", "nope-not-here"]);
    assert!(!out.status.success());
    // The image's defaults apply; a named user resolves through /etc/passwd.
    let out = d.docker(&["run", "--rm", "-u", "nobody", "-w", "/tmp", "-e", "A=b", "busybox", "sh", "-c", "id -u; pwd; echo $A; hostname"]);
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
        "run", "-d", "--name", "web", "busybox", "sh", "-c",
        "trap 'exit 0' TERM; echo started; echo err >&2; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64);
    assert!(eventually(Duration::from_secs(5), || stdout(&d.docker(&["logs", "web"])) == "started\n"));
    let out = d.docker(&["logs", "web"]);
    assert_eq!(stderr(&out), "err\n");
    let out = d.docker(&["logs", "--tail", "1", "-t", "web"]);
    assert!(stderr(&out).ends_with(" err\n"), "{}", stderr(&out));
    let ps = stdout(&d.docker(&["ps"]));
    assert!(ps.contains("web") && ps.contains("Up "), "{ps}");
    let inspect = stdout(&d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Name}}", "web"]));
    assert_eq!(inspect.trim(), "running true /web");
    // rm without force refuses a running container.
    let out = d.docker(&["rm", "web"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Stop the container before attempting removal or force remove"));
    let t0 = std::time::Instant::now();
    let out = d.docker(&["stop", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(t0.elapsed() < Duration::from_secs(5), "SIGTERM trap should stop it quickly");
    let st = stdout(&d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"]));
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
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "wc", "-c"], Some(&vec![b'a'; 100_000]));
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
    let out = d.docker(&["exec", "-u", "nobody", "-w", "/tmp", "box", "sh", "-c", "id -u; pwd"]);
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
    assert!(imgs.contains("busybox") && imgs.contains("latest"), "{imgs}");
    let tar = d.dir.join("busybox.tar");
    let out = d.docker(&[
        "import", "-c", "CMD [\"echo\",\"from-cmd\"]", "-c", "ENV FOO=bar", "-m", "hello",
        tar.to_str().unwrap(), "mybb:v1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("sha256:"));
    let out = d.docker(&["run", "--rm", "mybb:v1"]);
    assert_eq!(stdout(&out), "from-cmd\n");
    let out = d.docker(&["run", "--rm", "mybb:v1", "sh", "-c", "echo $FOO"]);
    assert_eq!(stdout(&out), "bar\n");
    let f = stdout(&d.docker(&["image", "inspect", "-f", "{{.Comment}} {{json .Config.Cmd}}", "mybb:v1"]));
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
    let out = d.docker(&["run", "--rm", "nosuchimage"]);
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
    assert!(h.contains("api-version: 1.44") && h.contains("builder-version: 1") && h.contains("ostype: linux"), "{head}");
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
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"].as_str().unwrap().to_string();
    for f in [r#"{"label":["a=b"]}"#, r#"{"label":{"a=b":true}}"#, r#"{"name":["lbl"]}"#] {
        let q: String = url_encode(f);
        let (_, _, body) = d.http("GET", &format!("/containers/json?all=True&filters={q}"), None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v.as_array().map(|a| a.len()), Some(1), "{f}: {body}");
    }
    let (_, _, body) = d.http("GET", &format!("/containers/json?all=1&filters={}", url_encode(r#"{"label":["a=c"]}"#)), None);
    assert_eq!(body.trim(), "[]");
    // /wait must answer its headers before the container is started.
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /v1.44/containers/{id}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).expect("wait headers must arrive before start");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (st, _, _) = d.http("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(st, 204);
    let mut rest = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&rest).contains("StatusCode") && std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
        }
    }
    assert!(String::from_utf8_lossy(&rest).contains("\"StatusCode\":5"), "{}", String::from_utf8_lossy(&rest));
    // Attach answers 101 with the hijack headers.
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /containers/{id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: tcp") && head.contains("application/vnd.docker.multiplexed-stream"), "{head}");
    drop(s);
    let (st, _, _) = d.http("POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(st, 409);
    let (st, _, _) = d.http("DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(st, 204);
    let (st, _, _) = d.http("POST", "/images/create?fromImage=busybox&tag=latest", None);
    assert_eq!(st, 404);
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
    let out = d.docker(&["run", "-d", "--name", "long", "busybox", "sh", "-c", "trap 'exit 0' TERM; echo alive; while true; do sleep 0.1; done"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&["run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 4"]);
    assert!(out.status.success());
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    let ps = stdout(&d.docker(&["ps"]));
    assert!(ps.contains("long") && !ps.contains("short"), "{ps}");
    assert!(eventually(Duration::from_secs(5), || stdout(&d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "short"])).trim() == "exited 4"));
    assert_eq!(stdout(&d.docker(&["logs", "long"])), "alive\n");
    let out = d.docker(&["exec", "long", "echo", "still-here"]);
    assert_eq!(stdout(&out), "still-here\n", "{}", stderr(&out));
    let out = d.docker(&["stop", "long"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = stdout(&d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "long"]));
    assert_eq!(st.trim(), "exited 0");
    assert!(d.docker(&["rm", "long", "short"]).status.success());
}
