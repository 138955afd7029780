//! End-to-end suite for the `berth` CLI against a daemon.
//!
//! The daemon is `BERTH_TEST_SOCKET` (e.g. a running berthd) when set, else a private
//! reference dockerd started for the run (skipped with a message when it is not
//! installed, or when BERTH_TEST_SKIP_DOCKERD is set). Cases run in order on one daemon; the first imports the busybox image.
//! Filter with `cargo test -p berth --test cli -- NAME`.

mod support;

use std::time::{Duration, Instant};

use support::Daemon;

type Case = fn(&Daemon) -> Result<(), String>;

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn uniq(tag: &str) -> String {
    format!("bt-{}-{tag}", std::process::id())
}

/// Polls `f` until it returns true or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn import_from_stdin(d: &Daemon) -> Result<(), String> {
    let tar = d.busybox_tar()?;
    let data = std::fs::read(&tar).map_err(|e| e.to_string())?;
    let out = d
        .berth_in(
            &["import", "-m", "test import", "-", "busybox:latest"],
            Some(&data),
        )
        .ok()?;
    let id = out.stdout.trim();
    check!(
        id.starts_with("sha256:") && id.len() == 71,
        "import printed {out:?}"
    );
    let got = d
        .berth(&["inspect", "-f", "{{.Id}}", "busybox:latest"])
        .ok()?;
    check!(got.stdout.trim() == id, "inspect id {got:?} != {id}");
    // Import from a file path with a change, too.
    let path = tar.to_string_lossy().to_string();
    let name = uniq("imp");
    let out = d
        .berth(&[
            "import",
            "-c",
            "ENV IMPORTED=yes",
            &path,
            &format!("{name}:v1"),
        ])
        .ok()?;
    check!(out.stdout.trim().starts_with("sha256:"), "{out:?}");
    let env = d
        .berth(&[
            "inspect",
            "-f",
            "{{json .Config.Env}}",
            &format!("{name}:v1"),
        ])
        .ok()?;
    check!(env.stdout.contains("IMPORTED=yes"), "env {env:?}");
    d.berth(&["rmi", &format!("{name}:v1")]).ok()?;
    Ok(())
}

fn run_rm_echo(d: &Daemon) -> Result<(), String> {
    let name = uniq("echo");
    let out = d
        .berth(&[
            "run", "--rm", "--name", &name, "busybox", "echo", "hello", "world",
        ])
        .ok()?;
    check!(out.stdout == "hello world\n", "stdout {out:?}");
    let ok = eventually(10, || d.berth(&["inspect", &name]).code == 1);
    check!(ok, "--rm container {name} still exists");
    Ok(())
}

fn run_exit_code(d: &Daemon) -> Result<(), String> {
    let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    check!(out.code == 3, "want 3: {out:?}");
    let out = d.berth(&["run", "--rm", "busybox", "true"]);
    check!(out.code == 0, "want 0: {out:?}");
    Ok(())
}

fn run_stdout_stderr(d: &Daemon) -> Result<(), String> {
    let out = d
        .berth(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ])
        .ok()?;
    check!(out.stdout == "out\n", "stdout {out:?}");
    check!(out.stderr == "err\n", "stderr {out:?}");
    Ok(())
}

fn run_flags(d: &Daemon) -> Result<(), String> {
    let out = d
        .berth(&[
            "run",
            "--rm",
            "-e",
            "FOO=bar",
            "--env",
            "X=1 2",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "-h",
            "myhost",
            "--entrypoint",
            "/bin/sh",
            "busybox",
            "-c",
            "echo $FOO $X $(pwd) $(id -u) $(id -g) $(hostname)",
        ])
        .ok()?;
    check!(
        out.stdout == "bar 1 2 /tmp 1000 1000 myhost\n",
        "stdout {out:?}"
    );
    let out = d
        .berth(&["run", "--rm", "--user", "nobody", "busybox", "id", "-un"])
        .ok()?;
    check!(out.stdout == "nobody\n", "user {out:?}");
    Ok(())
}

fn run_resources(d: &Daemon) -> Result<(), String> {
    let name = uniq("res");
    d.berth(&[
        "create",
        "--name",
        &name,
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "100",
        "-l",
        "k=v",
        "busybox",
        "true",
    ])
    .ok()?;
    let out = d
        .berth(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.Config.Labels.k}}",
            &name,
        ])
        .ok()?;
    check!(
        out.stdout.trim() == "67108864 1500000000 100 v",
        "inspect {out:?}"
    );
    let out = d
        .berth(&[
            "inspect",
            "-f",
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}{{if .State.Running}}up{{else}}down{{end}}",
            &name,
        ])
        .ok()?;
    check!(out.stdout == "k=v;down\n", "range/if template {out:?}");
    d.berth(&["rm", &name]).ok()?;
    Ok(())
}

fn run_volumes_and_readonly(d: &Daemon) -> Result<(), String> {
    let dir = d.scratch.join(uniq("vol"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("f"), "from-host\n").map_err(|e| e.to_string())?;
    let bind = format!("{}:/data", dir.display());
    let out = d
        .berth(&[
            "run",
            "--rm",
            "-v",
            &bind,
            "busybox",
            "sh",
            "-c",
            "cat /data/f; echo from-ctr > /data/g",
        ])
        .ok()?;
    check!(out.stdout == "from-host\n", "bind read {out:?}");
    let g = std::fs::read_to_string(dir.join("g")).unwrap_or_default();
    check!(g == "from-ctr\n", "bind write-back {g:?}");
    let ro = format!("{bind}:ro");
    let out = d.berth(&["run", "--rm", "-v", &ro, "busybox", "touch", "/data/h"]);
    check!(out.code == 1, "ro bind must refuse writes: {out:?}");
    let out = d.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    check!(out.code == 1, "--read-only must refuse writes: {out:?}");
    let out = d.berth(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    check!(
        out.code == 125 && out.stderr.contains("Conflicting options"),
        "--restart with --rm {out:?}"
    );
    Ok(())
}

fn run_stdin_pipe(d: &Daemon) -> Result<(), String> {
    let out = d
        .berth_in(&["run", "-i", "--rm", "busybox", "cat"], Some(b"x\ny\n"))
        .ok()?;
    check!(out.stdout == "x\ny\n", "stdout {out:?}");
    // Output after stdin EOF still arrives.
    let out = d
        .berth_in(
            &[
                "run",
                "-i",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "wc -l; sleep 0.5; echo after",
            ],
            Some(b"1\n2\n3\n"),
        )
        .ok()?;
    check!(
        out.stdout.split_whitespace().collect::<Vec<_>>() == ["3", "after"],
        "{out:?}"
    );
    Ok(())
}

fn run_missing_image(d: &Daemon) -> Result<(), String> {
    // On a registry that is not there (loopback only: nothing leaves the machine).
    let image = format!("127.0.0.1:1/{}-nosuchimage", uniq("x"));
    let out = d.berth(&["run", "--rm", &image]);
    check!(out.code == 125, "want 125: {out:?}");
    check!(
        out.stderr
            .contains(&format!("Unable to find image '{image}:latest' locally")),
        "stderr {out:?}"
    );
    Ok(())
}

fn run_command_not_found(d: &Daemon) -> Result<(), String> {
    let out = d.berth(&["run", "--rm", "busybox", "/nonexistent"]);
    check!(out.code == 127, "want 127: {out:?}");
    let out = d.berth(&["run", "--rm", "busybox", "/etc/passwd"]);
    check!(out.code == 126, "want 126: {out:?}");
    Ok(())
}

fn detached_logs_stop_rm(d: &Daemon) -> Result<(), String> {
    let name = uniq("det");
    let out = d
        .berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo started; echo oops >&2; trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ])
        .ok()?;
    let id = out.stdout.trim().to_string();
    check!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "id {out:?}"
    );
    let ok = eventually(10, || d.berth(&["logs", &name]).stdout == "started\n");
    check!(
        ok,
        "logs never showed 'started': {:?}",
        d.berth(&["logs", &name])
    );
    let logs = d.berth(&["logs", &name]).ok()?;
    check!(logs.stderr == "oops\n", "logs stderr {logs:?}");
    let tail = d.berth(&["logs", "--tail", "1", "-t", &name]).ok()?;
    check!(
        tail.stdout.is_empty() || tail.stdout.contains("started"),
        "tail {tail:?}"
    );
    let ps = d.berth(&["ps"]).ok()?;
    let line = ps
        .stdout
        .lines()
        .find(|l| l.ends_with(&name))
        .ok_or(format!("ps misses {name}: {ps:?}"))?
        .to_string();
    check!(line.starts_with(&id[..12]), "ps line {line}");
    check!(line.contains("Up "), "ps status {line}");
    check!(
        ps.stdout.starts_with("CONTAINER ID   IMAGE"),
        "ps header {ps:?}"
    );
    let stop = d.berth(&["stop", "-t", "5", &name]).ok()?;
    check!(stop.stdout == format!("{name}\n"), "stop {stop:?}");
    let state = d
        .berth(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            &name,
        ])
        .ok()?;
    check!(state.stdout == "false 0\n", "state {state:?}");
    let psa = d.berth(&["ps", "-a"]).ok()?;
    check!(
        psa.stdout
            .lines()
            .any(|l| l.ends_with(&name) && l.contains("Exited (0)")),
        "ps -a {psa:?}"
    );
    let rm = d.berth(&["rm", &name]).ok()?;
    check!(rm.stdout == format!("{name}\n"), "rm {rm:?}");
    let gone = d.berth(&["inspect", &name]);
    check!(gone.code == 1, "inspect after rm {gone:?}");
    check!(
        gone.stderr.contains("No such object"),
        "inspect stderr {gone:?}"
    );
    Ok(())
}

fn kill_and_wait(d: &Daemon) -> Result<(), String> {
    let a = uniq("kill");
    let b = uniq("wait");
    d.berth(&["run", "-d", "--name", &a, "busybox", "sleep", "100"])
        .ok()?;
    d.berth(&["run", "-d", "--name", &b, "busybox", "sh", "-c", "exit 4"])
        .ok()?;
    let k = d.berth(&["kill", "-s", "KILL", &a]).ok()?;
    check!(k.stdout == format!("{a}\n"), "kill {k:?}");
    let w = d.berth(&["wait", &a, &b]).ok()?;
    check!(w.stdout == "137\n4\n", "wait {w:?}");
    let rm = d.berth(&["rm", &a, &b]).ok()?;
    check!(rm.stdout == format!("{a}\n{b}\n"), "rm {rm:?}");
    let rm = d.berth(&["rm", &a]);
    check!(
        rm.code == 1 && rm.stderr.contains("Error response from daemon"),
        "rm missing {rm:?}"
    );
    Ok(())
}

fn exec_cases(d: &Daemon) -> Result<(), String> {
    let name = uniq("exec");
    d.berth(&["run", "-d", "--name", &name, "busybox", "sleep", "100"])
        .ok()?;
    let r = (|| {
        let out = d.berth(&["exec", &name, "echo", "hi"]).ok()?;
        check!(out.stdout == "hi\n", "exec echo {out:?}");
        let out = d.berth(&["exec", &name, "sh", "-c", "exit 5"]);
        check!(out.code == 5, "exec exit {out:?}");
        let out = d
            .berth_in(&["exec", "-i", &name, "cat"], Some(b"piped\n"))
            .ok()?;
        check!(out.stdout == "piped\n", "exec -i {out:?}");
        let out = d
            .berth(&[
                "exec",
                "-e",
                "A=b",
                "-w",
                "/tmp",
                "-u",
                "65534",
                &name,
                "sh",
                "-c",
                "echo $A $(pwd) $(id -u); echo e >&2",
            ])
            .ok()?;
        check!(out.stdout == "b /tmp 65534\n", "exec flags {out:?}");
        check!(out.stderr == "e\n", "exec stderr {out:?}");
        d.berth(&["exec", "-d", &name, "touch", "/tmp/flag"]).ok()?;
        let ok = eventually(10, || {
            d.berth(&["exec", &name, "test", "-f", "/tmp/flag"]).code == 0
        });
        check!(ok, "exec -d did not run");
        let out = d.berth(&["exec", &name, "nope-not-here"]);
        check!(out.code == 126 || out.code == 127, "exec missing {out:?}");
        Ok(())
    })();
    let _ = d.berth(&["rm", "-f", &name]);
    r
}

fn create_start_attach(d: &Daemon) -> Result<(), String> {
    let name = uniq("csa");
    let out = d
        .berth(&[
            "create",
            "--name",
            &name,
            "--hostname",
            "hn1",
            "busybox",
            "sh",
            "-c",
            "echo from-start; exit 7",
        ])
        .ok()?;
    let id = out.stdout.trim().to_string();
    check!(id.len() == 64, "create {out:?}");
    let f = d.berth(&["inspect", "-f", "{{.Id}}", &name]).ok()?;
    check!(f.stdout.trim() == id, "inspect id {f:?}");
    let f = d
        .berth(&["inspect", "-f", "{{.Config.Hostname}}", &name])
        .ok()?;
    check!(f.stdout == "hn1\n", "hostname {f:?}");
    let f = d
        .berth(&["inspect", "-f", "{{json .Config.Cmd}}", &name])
        .ok()?;
    check!(
        f.stdout.trim() == r#"["sh","-c","echo from-start; exit 7"]"#,
        "json cmd {f:?}"
    );
    let s = d.berth(&["start", "-a", &name]);
    check!(s.code == 7 && s.stdout == "from-start\n", "start -a {s:?}");
    let f = d
        .berth(&["inspect", "-f", "{{.State.ExitCode}}", &name])
        .ok()?;
    check!(f.stdout == "7\n", "exit code {f:?}");
    let s = d.berth(&["start", &name]).ok()?;
    check!(s.stdout == format!("{name}\n"), "start {s:?}");
    let all = d.berth(&["inspect", &name]).ok()?;
    check!(
        all.stdout.starts_with("[\n    {\n        \"Id\": "),
        "inspect json {all:?}"
    );
    d.berth(&["rm", "-f", &name]).ok()?;
    Ok(())
}

fn ps_all_quiet(d: &Daemon) -> Result<(), String> {
    let name = uniq("ps");
    let id = d
        .berth(&["create", "--name", &name, "busybox", "true"])
        .ok()?
        .stdout
        .trim()
        .to_string();
    let q = d.berth(&["ps", "-q"]).ok()?;
    check!(!q.stdout.contains(&id[..12]), "ps -q lists created {q:?}");
    let qa = d.berth(&["ps", "-a", "-q"]).ok()?;
    check!(qa.stdout.lines().any(|l| l == &id[..12]), "ps -aq {qa:?}");
    let full = d.berth(&["ps", "-aq", "--no-trunc"]).ok()?;
    check!(
        full.stdout.lines().any(|l| l == id),
        "ps --no-trunc {full:?}"
    );
    let table = d.berth(&["ps", "-a"]).ok()?;
    let line = table
        .stdout
        .lines()
        .find(|l| l.ends_with(&name))
        .ok_or(format!("ps -a {table:?}"))?;
    check!(
        line.contains("\"true\"") && line.contains("Created"),
        "ps line {line}"
    );
    let f = d
        .berth(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}|{{.State}}|{{.Command}}",
        ])
        .ok()?;
    check!(
        f.stdout == format!("{name}|created|\"true\"\n"),
        "ps --format {f:?}"
    );
    d.berth(&["rm", &name]).ok()?;
    Ok(())
}

fn images_tag_rmi(d: &Daemon) -> Result<(), String> {
    let tag = format!("{}-img:v1", uniq("t"));
    d.berth(&["tag", "busybox", &tag]).ok()?;
    let imgs = d.berth(&["images"]).ok()?;
    check!(
        imgs.stdout.lines().next().is_some_and(|h| {
            let cols: Vec<&str> = h
                .split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            cols == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
        }),
        "header {imgs:?}"
    );
    let repo = tag.trim_end_matches(":v1");
    check!(
        imgs.stdout
            .lines()
            .any(|l| l.starts_with(repo) && l.contains(" v1 ")),
        "images {imgs:?}"
    );
    let busybox_id = d
        .berth(&["inspect", "-f", "{{.Id}}", "busybox"])
        .ok()?
        .stdout
        .trim()
        .to_string();
    let q = d.berth(&["images", "-q"]).ok()?;
    let short = &busybox_id["sha256:".len().."sha256:".len() + 12];
    check!(q.stdout.lines().any(|l| l == short), "images -q {q:?}");
    let nt = d.berth(&["images", "-q", "--no-trunc"]).ok()?;
    check!(
        nt.stdout.lines().any(|l| l == busybox_id),
        "images --no-trunc {nt:?}"
    );
    let f = d
        .berth(&["images", "--format", "{{.Repository}}:{{.Tag}}", repo])
        .ok()?;
    check!(f.stdout == format!("{tag}\n"), "images --format {f:?}");
    let rmi = d.berth(&["rmi", &tag]).ok()?;
    check!(rmi.stdout == format!("Untagged: {tag}\n"), "rmi {rmi:?}");
    let again = d.berth(&["rmi", &tag]);
    check!(
        again.code == 1 && again.stderr.contains("Error response from daemon"),
        "rmi missing {again:?}"
    );
    Ok(())
}

fn version_and_info(d: &Daemon) -> Result<(), String> {
    let v = d.berth(&["version"]).ok()?;
    check!(
        v.stdout.starts_with("Client:\n")
            && v.stdout.contains("\nServer:")
            && v.stdout.contains("API version"),
        "version {v:?}"
    );
    let i = d.berth(&["info"]).ok()?;
    check!(i.stdout.contains("Server Version:"), "info {i:?}");
    Ok(())
}

fn connection_errors(d: &Daemon) -> Result<(), String> {
    let sock = d.scratch.join("nobody-here.sock");
    let host = format!("unix://{}", sock.display());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    let out = cmd
        .args(["-H", &host, "ps"])
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    check!(out.status.code() == Some(1), "ps code {out:?}");
    check!(
        stderr.contains(&format!(
            "Cannot connect to the berth daemon at {host}. Is berthd running?"
        )),
        "stderr {stderr}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &host, "run", "busybox"])
        .output()
        .map_err(|e| e.to_string())?;
    check!(out.status.code() == Some(125), "run code {out:?}");
    // BERTH_HOST is honoured when -H is absent.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["version"])
        .env("BERTH_HOST", &d.host)
        .env("DOCKER_HOST", &host)
        .output()
        .map_err(|e| e.to_string())?;
    check!(out.status.success(), "BERTH_HOST {out:?}");
    Ok(())
}

fn usage_errors(d: &Daemon) -> Result<(), String> {
    let out = d.berth(&["run", "--no-such-flag", "busybox"]);
    check!(
        out.code == 125 && out.stderr.contains("--no-such-flag"),
        "bad flag {out:?}"
    );
    let out = d.berth(&["rm"]);
    check!(out.code == 1, "missing argument {out:?}");
    // Flags after the image belong to the command.
    let out = d
        .berth(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo $0 $1",
            "-x",
            "--y",
        ])
        .ok()?;
    check!(out.stdout == "-x --y\n", "command flags {out:?}");
    // rm -f of a missing container is not an error (like docker).
    let out = d.berth(&["rm", "-f", &uniq("never-existed")]);
    check!(
        out.code == 0 && out.stdout.is_empty(),
        "rm -f missing {out:?}"
    );
    Ok(())
}

fn run_sigint_proxy(d: &Daemon) -> Result<(), String> {
    let name = uniq("sig");
    let child = d
        .spawn(&[
            "run",
            "--rm",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-int; exit 9' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .map_err(|e| e.to_string())?;
    let pid = child.id() as libc::pid_t;
    let running = eventually(20, || d.berth(&["logs", &name]).stdout.contains("ready"));
    if running {
        // SAFETY: signalling the berth child we spawned.
        unsafe { libc::kill(pid, libc::SIGINT) };
    }
    let out = Daemon::finish(child, Duration::from_secs(30));
    check!(running, "container never got ready: {out:?}");
    check!(out.code == 9, "want 9: {out:?}");
    check!(out.stdout.contains("got-int"), "stdout {out:?}");
    Ok(())
}

fn have_script() -> bool {
    std::path::Path::new("/usr/bin/script").exists()
}

fn run_tty(d: &Daemon) -> Result<(), String> {
    if !have_script() {
        println!("  (skipped: util-linux `script` is needed for a pty)");
        return Ok(());
    }
    let bin = support::berth_bin();
    let line = format!(
        "script -qec \"stty rows 33 cols 101; {bin} -H {} run -t --rm busybox sh -c 'sleep 0.5; stty size; test -t 1 && echo is-tty; exit 4'\" /dev/null",
        d.host
    );
    let out = d.shell(&line);
    check!(out.code == 4, "want 4: {out:?}");
    check!(out.stdout.contains("33 101"), "size not sent: {out:?}");
    check!(out.stdout.contains("is-tty"), "no tty: {out:?}");
    Ok(())
}

fn exec_tty(d: &Daemon) -> Result<(), String> {
    if !have_script() {
        println!("  (skipped: util-linux `script` is needed for a pty)");
        return Ok(());
    }
    let name = uniq("etty");
    d.berth(&["run", "-d", "--name", &name, "busybox", "sleep", "100"])
        .ok()?;
    let bin = support::berth_bin();
    let line = format!(
        "script -qec \"stty rows 20 cols 70; {bin} -H {} exec -t {name} sh -c 'sleep 0.3; stty size; exit 3'\" /dev/null",
        d.host
    );
    let out = d.shell(&line);
    let _ = d.berth(&["rm", "-f", &name]);
    check!(out.code == 3, "want 3: {out:?}");
    check!(out.stdout.contains("20 70"), "size not sent: {out:?}");
    Ok(())
}

fn logs_follow(d: &Daemon) -> Result<(), String> {
    let name = uniq("follow");
    d.berth(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.3; done",
    ])
    .ok()?;
    let out = d.berth(&["logs", "-f", &name]).ok()?;
    let _ = d.berth(&["rm", "-f", &name]);
    check!(out.stdout == "line1\nline2\nline3\n", "logs -f {out:?}");
    Ok(())
}

fn extra_verbs(d: &Daemon) -> Result<(), String> {
    let name = uniq("xv");
    let renamed = uniq("xv2");
    d.berth(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' TERM; while true; do echo tick; sleep 0.1; done",
    ])
    .ok()?;
    let r = (|| {
        let top = d.berth(&["top", &name]).ok()?;
        check!(
            top.stdout.starts_with("UID") && top.stdout.contains("PID"),
            "top {top:?}"
        );
        d.berth(&["pause", &name]).ok()?;
        let st = d
            .berth(&["inspect", "-f", "{{.State.Paused}}", &name])
            .ok()?;
        check!(st.stdout == "true\n", "paused {st:?}");
        d.berth(&["unpause", &name]).ok()?;
        d.berth(&["rename", &name, &renamed]).ok()?;
        let n = d.berth(&["inspect", "-f", "{{.Name}}", &renamed]).ok()?;
        check!(n.stdout == format!("/{renamed}\n"), "rename {n:?}");
        let r = d.berth(&["restart", "-t", "5", &renamed]).ok()?;
        check!(r.stdout == format!("{renamed}\n"), "restart {r:?}");
        let att = d
            .spawn(&["attach", "--no-stdin", &renamed])
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(700));
        d.berth(&["stop", &renamed]).ok()?;
        let out = Daemon::finish(att, Duration::from_secs(30));
        check!(
            out.code == 3 && out.stdout.contains("tick"),
            "attach {out:?}"
        );
        Ok(())
    })();
    let _ = d.berth(&["rm", "-f", &name, &renamed]);
    r
}

const CASES: &[(&str, Case)] = &[
    ("import_from_stdin", import_from_stdin),
    ("run_rm_echo", run_rm_echo),
    ("run_exit_code", run_exit_code),
    ("run_stdout_stderr", run_stdout_stderr),
    ("run_flags", run_flags),
    ("run_resources", run_resources),
    ("run_stdin_pipe", run_stdin_pipe),
    ("run_volumes_and_readonly", run_volumes_and_readonly),
    ("run_missing_image", run_missing_image),
    ("run_command_not_found", run_command_not_found),
    ("detached_logs_stop_rm", detached_logs_stop_rm),
    ("kill_and_wait", kill_and_wait),
    ("exec_cases", exec_cases),
    ("exec_tty", exec_tty),
    ("run_sigint_proxy", run_sigint_proxy),
    ("run_tty", run_tty),
    ("logs_follow", logs_follow),
    ("create_start_attach", create_start_attach),
    ("ps_all_quiet", ps_all_quiet),
    ("images_tag_rmi", images_tag_rmi),
    ("extra_verbs", extra_verbs),
    ("version_and_info", version_and_info),
    ("connection_errors", connection_errors),
    ("usage_errors", usage_errors),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in CASES {
            println!("{name}: test");
        }
        return;
    }
    // libtest-style arguments: NAME filters, `--skip NAME`, `--exact`; other flags ignored.
    let mut filters: Vec<String> = Vec::new();
    let mut skips: Vec<String> = Vec::new();
    let mut exact = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--skip" => skips.extend(it.next().cloned()),
            "--exact" => exact = true,
            "--test-threads" | "--logfile" | "--format" | "--color" | "-Z" | "--shuffle-seed" => {
                it.next();
            }
            f if f.starts_with('-') => {}
            f => filters.push(f.to_string()),
        }
    }
    let matches = |n: &str, f: &str| if exact { n == f } else { n.contains(f) };
    let selected: Vec<&(&str, Case)> = CASES
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| matches(n, f)))
        .filter(|(n, _)| !skips.iter().any(|f| matches(n, f)))
        .collect();
    let filtered_out = CASES.len() - selected.len();
    let start = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let daemon = match Daemon::get() {
        Ok(d) => d,
        Err(reason) => {
            println!("SKIP: no daemon to test against: {reason}");
            println!("(set BERTH_TEST_SOCKET=/path/to/berthd.sock, or install docker.io)");
            for (name, _) in &selected {
                println!("test {name} ... ignored");
            }
            println!(
                "\ntest result: ok. 0 passed; 0 failed; {} ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
                selected.len(),
                start.elapsed().as_secs_f64()
            );
            return;
        }
    };
    println!(
        "daemon: {} ({})",
        daemon.host,
        if daemon.is_private_dockerd() {
            "private reference dockerd"
        } else {
            "BERTH_TEST_SOCKET"
        }
    );
    // Every case needs busybox:latest; import it first when the import case is filtered out.
    let mut setup_error = None;
    if !selected.iter().any(|(n, _)| *n == "import_from_stdin") {
        if let Err(e) = import_from_stdin(&daemon) {
            setup_error = Some(format!("setup (importing busybox) failed: {e}"));
        }
    }
    let mut failed = Vec::new();
    for (name, case) in &selected {
        let t = Instant::now();
        let result = match &setup_error {
            Some(e) => Err(e.clone()),
            None => case(&daemon),
        };
        match result {
            Ok(()) => println!("test {name} ... ok ({:.2}s)", t.elapsed().as_secs_f64()),
            Err(e) => {
                println!("test {name} ... FAILED");
                failed.push((name, e));
            }
        }
    }
    drop(daemon);
    if !failed.is_empty() {
        println!("\nfailures:");
        for (name, e) in &failed {
            println!("---- {name} ----\n{e}\n");
        }
    }
    let passed = selected.len() - failed.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        start.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
