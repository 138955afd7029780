//! The real docker CLI pointed at berthd (`DOCKER_HOST=unix://…`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use integration::daemon::unique;
use integration::pty::PtySession;
use integration::{docker_cli, Daemon};

/// A daemon with busybox imported, or None (test skipped, said loudly) without a docker CLI.
fn daemon() -> Option<Daemon> {
    if docker_cli().is_none() {
        eprintln!("SKIP: no docker CLI installed (apt-get install docker.io)");
        return None;
    }
    let d = Daemon::start();
    d.import_busybox();
    Some(d)
}

#[test]
fn docker_run_rm_echo_and_exit_code() {
    let Some(d) = daemon() else { return };
    assert_eq!(
        d.docker(["run", "--rm", "busybox", "echo", "hi"]).ok(),
        "hi"
    );
    let out = d.docker(["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(d.container_ids().is_empty());
    let out = d.docker_stdin(["run", "-i", "--rm", "busybox", "cat"], b"through docker\n");
    assert_eq!(out.ok(), "through docker");
    let out = d.docker([
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!((out.stdout.trim(), out.stderr.trim()), ("out", "err"));
}

#[test]
fn docker_detached_ps_logs_stop_rm() {
    let Some(d) = daemon() else { return };
    let name = unique("dk");
    let id = d
        .docker([
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
        ])
        .ok();
    assert_eq!(id.len(), 64);
    let ps = d.docker(["ps", "-a"]).ok();
    assert!(ps.contains(&name) && ps.contains("Up"), "{ps}");
    // logs -f streams until interrupted: read a few lines then kill the CLI.
    let mut cmd = d.docker_cmd().expect("docker");
    let mut child = cmd
        .args(["logs", "-f", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker logs -f");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = vec![0u8; 4096];
        let mut got = String::new();
        let t0 = Instant::now();
        while !got.contains("tick 5") && t0.elapsed() < Duration::from_secs(10) {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        got
    });
    let got = reader.join().expect("reader");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        got.contains("tick 0") && got.contains("tick 5"),
        "logs -f: {got}"
    );
    let tail = d.docker(["logs", "--tail", "1", &name]).ok();
    assert_eq!(tail.lines().count(), 1, "{tail}");
    d.docker(["stop", "-t", "1", &name]).ok();
    let ps = d
        .docker(["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .ok();
    assert!(ps.contains(&format!("{name} Exited")), "{ps}");
    d.docker(["rm", &name]).ok();
    assert!(!d.docker(["ps", "-a"]).ok().contains(&name));
    // rm -f of a running one.
    let id = d.docker(["run", "-d", "busybox", "sleep", "1000"]).ok();
    d.docker(["rm", "-f", &id]).ok();
    assert!(d.container_ids().is_empty());
}

#[test]
fn docker_inspect_images_rmi_import() {
    let Some(d) = daemon() else { return };
    let name = unique("insp");
    d.docker([
        "create", "--name", &name, "-e", "A=b", "busybox", "echo", "x",
    ])
    .ok();
    let v: serde_json::Value =
        serde_json::from_str(&d.docker(["inspect", &name]).ok()).expect("inspect is JSON");
    assert_eq!(v[0]["Name"], format!("/{name}"));
    assert_eq!(v[0]["State"]["Status"], "created");
    assert!(v[0]["Config"]["Env"].to_string().contains("A=b"));
    assert_eq!(
        d.docker(["inspect", "-f", "{{.Config.Image}}", &name]).ok(),
        "busybox"
    );
    let imgs = d.docker(["images"]).ok();
    assert!(imgs.contains("busybox"), "{imgs}");
    let img: serde_json::Value =
        serde_json::from_str(&d.docker(["inspect", "busybox"]).ok()).expect("image inspect");
    assert!(
        img[0]["Id"].as_str().unwrap_or("").starts_with("sha256:"),
        "{img}"
    );
    // docker import from stdin, then run it, then rmi.
    let tag = unique("imp");
    let tar = std::fs::read(integration::busybox_tar()).expect("tar");
    let out = d.docker_stdin(["import", "-", &format!("{tag}:latest")], &tar);
    assert!(out.ok().starts_with("sha256:"), "{out:?}");
    assert_eq!(
        d.docker(["run", "--rm", &tag, "echo", "imported"]).ok(),
        "imported"
    );
    let out = d.docker(["rmi", &tag]).ok();
    assert!(out.contains("Untagged"), "{out}");
    assert!(!d.docker(["images"]).ok().contains(&tag));
    d.docker(["rm", &name]).ok();
}

#[test]
fn docker_exec() {
    let Some(d) = daemon() else { return };
    let id = d.docker(["run", "-d", "busybox", "sleep", "1000"]).ok();
    assert_eq!(d.docker(["exec", &id, "echo", "in-exec"]).ok(), "in-exec");
    assert_eq!(d.docker(["exec", &id, "sh", "-c", "exit 4"]).code, 4);
    assert_eq!(
        d.docker_stdin(["exec", "-i", &id, "cat"], b"exec in\n")
            .ok(),
        "exec in"
    );
    d.docker(["rm", "-f", &id]).ok();
}

#[test]
fn docker_run_it_is_a_real_tty_session() {
    let Some(d) = daemon() else { return };
    let mut cmd = d.docker_cmd().expect("docker");
    cmd.args(["run", "-it", "--rm", "busybox", "sh"]);
    let mut s = PtySession::spawn(cmd);
    assert!(
        s.expect("# ", Duration::from_secs(15)),
        "no prompt: {:?}",
        s.transcript
    );
    s.send("tty; echo sum=$((40+2))\r");
    assert!(
        s.expect("sum=42", Duration::from_secs(10)),
        "{:?}",
        s.transcript
    );
    assert!(
        s.transcript.contains("/dev/pts/") || s.transcript.contains("/dev/console"),
        "{:?}",
        s.transcript
    );
    s.send("stty size\r");
    assert!(
        s.expect("24 80", Duration::from_secs(10)),
        "terminal size not forwarded: {:?}",
        s.transcript
    );
    s.send("exit 6\r");
    assert_eq!(
        s.wait(Duration::from_secs(15)),
        Some(6),
        "{:?}",
        s.transcript
    );
}

#[test]
fn docker_exec_it_is_a_real_tty_session() {
    let Some(d) = daemon() else { return };
    let id = d.docker(["run", "-d", "busybox", "sleep", "1000"]).ok();
    let mut cmd = d.docker_cmd().expect("docker");
    cmd.args(["exec", "-it", &id, "sh"]);
    let mut s = PtySession::spawn(cmd);
    assert!(
        s.expect("# ", Duration::from_secs(15)),
        "no prompt: {:?}",
        s.transcript
    );
    s.send("echo exec=$((2*21)); tty\r");
    assert!(
        s.expect("exec=42", Duration::from_secs(10)),
        "{:?}",
        s.transcript
    );
    assert!(
        s.expect("/dev/pts/", Duration::from_secs(5)),
        "{:?}",
        s.transcript
    );
    s.send("exit\r");
    assert_eq!(
        s.wait(Duration::from_secs(15)),
        Some(0),
        "{:?}",
        s.transcript
    );
    d.docker(["rm", "-f", &id]).ok();
}
