//! Test support: a daemon to talk to (BERTH_TEST_SOCKET, or a private dockerd started
//! here), a runner for the `berth` binary, and a busybox rootfs tarball.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Result of one `berth` invocation.
#[derive(Debug)]
pub struct Out {
    /// Exit status (-1 when killed by a signal or timed out).
    pub code: i32,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

impl Out {
    /// Fails unless the exit status is 0.
    pub fn ok(self) -> Result<Out, String> {
        if self.code == 0 {
            Ok(self)
        } else {
            Err(format!("berth failed: {self:?}"))
        }
    }
}

/// Processes and dirs of a dockerd started by the tests.
struct Owned {
    dir: PathBuf,
    containerd: Child,
    dockerd: Child,
    cgroup_parent: String,
    /// Host paths dockerd creates on its own that did not exist before we started it.
    created_host_paths: Vec<PathBuf>,
}

/// The daemon under test.
pub struct Daemon {
    /// `unix:///…` address passed with `-H`.
    pub host: String,
    /// Scratch directory for the tests (removed at the end).
    pub scratch: PathBuf,
    owned: Option<Owned>,
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| Path::new(d).join(name))
        .chain([
            Path::new("/usr/sbin").join(name),
            Path::new("/usr/bin").join(name),
        ])
        .find(|p| p.is_file())
}

fn wait_for_socket(path: &Path, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} exited early: {status}", path.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("timed out waiting for {}", path.display()))
}

/// Sends SIGTERM to `pid`, waits up to `grace`, then SIGKILL.
fn stop_child(child: &mut Child, grace: Duration) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling a child we spawned and have not reaped yet.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// PIDs whose command line mentions `needle` (shims started by our containerd).
fn pids_mentioning(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    let me = std::process::id() as i32;
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().to_string();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(String::from)
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}

fn remove_cgroup_tree(path: &Path) {
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(path);
}

impl Daemon {
    /// Uses BERTH_TEST_SOCKET if set, else starts a private containerd + dockerd.
    /// `Err` carries the reason to skip.
    pub fn get() -> Result<Daemon, String> {
        let scratch = std::env::temp_dir().join(format!("berth-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
        if let Ok(sock) = std::env::var("BERTH_TEST_SOCKET") {
            let host = if sock.starts_with("unix://") {
                sock
            } else {
                format!("unix://{sock}")
            };
            return Ok(Daemon {
                host,
                scratch,
                owned: None,
            });
        }
        let _ = std::fs::remove_dir(&scratch);
        if std::env::var_os("BERTH_TEST_SKIP_DOCKERD").is_some() {
            return Err("BERTH_TEST_SKIP_DOCKERD is set".into());
        }
        let dockerd = which("dockerd").ok_or("dockerd is not installed (package docker.io)")?;
        let containerd = which("containerd").ok_or("containerd is not installed")?;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("dockerd needs root".into());
        }
        // Short path: unix socket paths must stay under 108 bytes.
        let dir = PathBuf::from(format!("/tmp/bct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let d = dir.display();
        let config = format!(
            "version = 2\nroot = \"{d}/ctd-root\"\nstate = \"{d}/ctd-state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/ctd.sock\"\n[ttrpc]\n  address = \"{d}/ctd.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/ctd-debug.sock\"\n"
        );
        std::fs::write(dir.join("containerd.toml"), config).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("daemon.json"), "{}\n").map_err(|e| e.to_string())?;
        let log = |name: &str| {
            std::fs::File::create(dir.join(name))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        };
        let mut ctd = Command::new(containerd)
            .arg("--config")
            .arg(dir.join("containerd.toml"))
            .stdin(Stdio::null())
            .stdout(log("containerd.log"))
            .stderr(log("containerd.err"))
            .spawn()
            .map_err(|e| format!("start containerd: {e}"))?;
        if let Err(e) = wait_for_socket(&dir.join("ctd.sock"), &mut ctd, Duration::from_secs(30)) {
            stop_child(&mut ctd, Duration::from_secs(5));
            return Err(format!("containerd did not come up: {e}"));
        }
        let cgroup_parent = format!("berth-test-cli-{}", std::process::id());
        // dockerd creates these outside its roots; remove them afterwards if they are new.
        let created_host_paths: Vec<PathBuf> = [
            "/etc/docker/key.json",
            "/etc/docker",
            "/run/docker/plugins",
            "/run/docker",
            "/run/containerd/s",
            "/run/containerd",
        ]
        .iter()
        .map(PathBuf::from)
        .filter(|p| !p.exists())
        .collect();
        let mut dkd = match Command::new(dockerd)
            .arg(format!("--config-file={d}/daemon.json"))
            .arg(format!("--containerd={d}/ctd.sock"))
            .arg(format!("--data-root={d}/data"))
            .arg(format!("--exec-root={d}/exec"))
            .arg(format!("--pidfile={d}/dockerd.pid"))
            .arg(format!("-H=unix://{d}/docker.sock"))
            .arg("--storage-driver=overlay2")
            .arg("--iptables=false")
            .arg("--ip6tables=false")
            .arg("--bridge=none")
            .arg(format!("--cgroup-parent=/{cgroup_parent}"))
            .stdin(Stdio::null())
            .stdout(log("dockerd.log"))
            .stderr(log("dockerd.err"))
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                stop_child(&mut ctd, Duration::from_secs(5));
                return Err(format!("start dockerd: {e}"));
            }
        };
        let mut daemon = Daemon {
            host: format!("unix://{d}/docker.sock"),
            scratch: dir.join("scratch"),
            owned: None,
        };
        let up = wait_for_socket(&dir.join("docker.sock"), &mut dkd, Duration::from_secs(60));
        daemon.owned = Some(Owned {
            dir: dir.clone(),
            containerd: ctd,
            dockerd: dkd,
            cgroup_parent,
            created_host_paths,
        });
        std::fs::create_dir_all(&daemon.scratch).map_err(|e| e.to_string())?;
        if let Err(e) = up {
            let err = std::fs::read_to_string(dir.join("dockerd.err")).unwrap_or_default();
            return Err(format!("dockerd did not come up: {e}\n{err}"));
        }
        Ok(daemon)
    }

    /// True when the daemon was started by the tests (a reference dockerd).
    pub fn is_private_dockerd(&self) -> bool {
        self.owned.is_some()
    }

    /// Runs `berth -H host ARGS` with stdin from /dev/null.
    pub fn berth(&self, args: &[&str]) -> Out {
        self.berth_in(args, None)
    }

    /// Runs `berth -H host ARGS` feeding `input` on stdin (then closing it).
    pub fn berth_in(&self, args: &[&str], input: Option<&[u8]>) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("-H")
            .arg(&self.host)
            .args(args)
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_timeout(cmd, input, Duration::from_secs(90))
    }

    /// Starts `berth -H host ARGS` in the background (stdin /dev/null, output piped).
    pub fn spawn(&self, args: &[&str]) -> std::io::Result<Child> {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// Runs a shell command line (`sh -c`) with a timeout, e.g. under `script` for a pty.
    pub fn shell(&self, line: &str) -> Out {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_timeout(cmd, None, Duration::from_secs(60))
    }

    /// Waits for a spawned child with a timeout (killing it on expiry).
    pub fn finish(child: Child, timeout: Duration) -> Out {
        finish_child(child, timeout)
    }

    /// Writes a busybox rootfs tarball (static /bin/busybox plus applet links) and
    /// returns its path.
    pub fn busybox_tar(&self) -> Result<PathBuf, String> {
        let root = self.scratch.join("rootfs");
        let tar = self.scratch.join("busybox.tar");
        if tar.exists() {
            return Ok(tar);
        }
        let bin = root.join("bin");
        for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).map_err(|e| e.to_string())?;
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .map_err(|e| e.to_string())?;
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let link = bin.join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", &link).map_err(|e| e.to_string())?;
            }
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
            .map_err(|e| e.to_string())?;
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("tar failed: {status}"));
        }
        Ok(tar)
    }
}

/// Path of the `berth` binary under test.
pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

fn run_with_timeout(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Out {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Out {
                code: -1,
                stdout: String::new(),
                stderr: format!("spawn berth: {e}"),
            }
        }
    };
    if let (Some(data), Some(mut stdin)) = (input.map(<[u8]>::to_vec), child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    finish_child(child, timeout)
}

fn finish_child(mut child: Child, timeout: Duration) -> Out {
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = so.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = se.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        s
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).to_string();
    let mut stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).to_string();
    if timed_out {
        stderr.push_str("\n[berth timed out]");
    }
    Out {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout,
        stderr,
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(mut owned) = self.owned.take() else {
            let _ = std::fs::remove_dir_all(&self.scratch);
            return;
        };
        // Remove every container first so that the shims go away.
        let ids = self.berth(&["ps", "-aq", "--no-trunc"]).stdout;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.berth(&args);
        }
        stop_child(&mut owned.dockerd, Duration::from_secs(20));
        let dir = owned.dir.to_string_lossy().to_string();
        for pid in pids_mentioning(&dir) {
            if pid == owned.containerd.id() as i32 {
                continue;
            }
            // SAFETY: these are shims started by our own containerd (their command line
            // names our private directory).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        stop_child(&mut owned.containerd, Duration::from_secs(10));
        for m in mounts_under(&owned.dir) {
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: a valid NUL-terminated path; MNT_DETACH never blocks.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = std::fs::remove_dir_all(&owned.dir);
        for p in &owned.created_host_paths {
            // Directories only when empty: another daemon may have started meanwhile.
            if p.is_dir() {
                let _ = std::fs::remove_dir(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                remove_cgroup_tree(&e.path().join(&owned.cgroup_parent));
            }
        }
    }
}
