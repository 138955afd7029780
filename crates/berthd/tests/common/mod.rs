//! Shared test harness: a berthd with private roots, a busybox image, the docker CLI.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The docker CLI used as a judge.
pub const DOCKER: &str = "/usr/local/bin/docker";

/// Whether the environment can run these tests (root, docker CLI, a runtime).
pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !Path::new(DOCKER).exists() || !Path::new(&runtime()).exists() {
        eprintln!("skipping: needs root, {DOCKER} and an OCI runtime");
        return false;
    }
    true
}

/// The OCI runtime to test with: $BERTH_TEST_RUNTIME (the test script runs this suite a
/// second time with runc, so both runtimes pass the same suite), else berth-runtime next to
/// berthd.
pub fn runtime() -> PathBuf {
    std::env::var_os("BERTH_TEST_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            berthd_bin()
                .parent()
                .map(|d| d.join("berth-runtime"))
                .unwrap_or_default()
        })
}

fn berthd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
}

/// berth-monitor: $BERTH_MONITOR, else next to berthd (built on demand with cargo).
pub fn monitor_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_MONITOR") {
        return PathBuf::from(p);
    }
    let dir = berthd_bin()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let m = dir.join("berth-monitor");
    if !m.exists() {
        static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = BUILD.lock().unwrap_or_else(|p| p.into_inner());
        if !m.exists() {
            let target = dir.parent().map(Path::to_path_buf).unwrap_or_default();
            let profile = dir
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or("debug")
                .to_string();
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.args(["build", "-p", "monitor", "--bin", "berth-monitor"])
                .env("CARGO_TARGET_DIR", &target);
            if profile == "release" {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("running cargo to build berth-monitor");
            assert!(st.success(), "building berth-monitor failed");
        }
    }
    m
}

/// Build a busybox rootfs tar from the host's static busybox and its applets.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("bbroot");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "home"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if a != "busybox" && !a.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(a));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let tar = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

/// A running berthd with private roots and socket.
pub struct Daemon {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub exec: PathBuf,
    pub sock: PathBuf,
    pub child: Option<Child>,
    pub log: PathBuf,
    /// `--network-prefix` tag and `--bip` subnet of this daemon (see [`net_flags`]).
    pub net: (String, String),
}

/// A network tag and default subnet for one test daemon, unique per (process, daemon) and
/// not routed on the host (a /24 in 10.216.0.0/13): parallel daemons never share a bridge, veth name or nft table.
pub fn net_flags(n: u32) -> (String, String) {
    let v = (std::process::id() as u64 * 1024 + (n as u64 % 1024)) % 36u64.pow(6);
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut tag = vec![b'0'; 6];
    let mut x = v;
    for slot in tag.iter_mut().rev() {
        *slot = digits[(x % 36) as usize];
        x /= 36;
    }
    let routes = Command::new("ip")
        .args(["-4", "-o", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let start = (std::process::id() as u64 * 131 + n as u64 * 7) % 2048;
    let mut subnet = String::from("10.231.255.0/24");
    for i in 0..2048u64 {
        let k = (start + i) % 2048;
        let s = format!("10.{}.{}.", 216 + k / 256, k % 256);
        if !routes.lines().any(|l| l.contains(&s)) {
            subnet = format!("{s}0/24");
            break;
        }
    }
    (String::from_utf8_lossy(&tag).into_owned(), subnet)
}

impl Daemon {
    /// Start a daemon and import busybox:latest into it.
    pub fn start() -> Daemon {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/berthd-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = Daemon {
            data: dir.join("data"),
            exec: dir.join("exec"),
            sock: dir.join("api.sock"),
            log: dir.join("berthd.log"),
            dir,
            child: None,
            net: net_flags(n),
        };
        d.spawn();
        let tar = busybox_tar(&d.dir);
        let out = d.docker(&["import", tar.to_str().unwrap(), "busybox:latest"]);
        assert!(out.status.success(), "import failed: {}", stderr(&out));
        d
    }

    /// (Re)start the berthd process on the same roots.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(berthd_bin())
            .arg("--data-root")
            .arg(&self.data)
            .arg("--exec-root")
            .arg(&self.exec)
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--runtime")
            .arg(runtime())
            .arg("--monitor")
            .arg(monitor_bin())
            .arg("--debug")
            .args(["--network-prefix", &self.net.0, "--bip", &self.net.1])
            .arg("--network-cleanup-on-exit")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if UnixStream::connect(&self.sock).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "berthd did not come up: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL the daemon (containers must survive).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Run the docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_stdin(args, None)
    }

    /// Run the docker CLI with bytes on stdin.
    pub fn docker_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(DOCKER);
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().expect("running docker");
        if let Some(i) = input {
            let mut sin = child.stdin.take().unwrap();
            sin.write_all(i).unwrap();
            drop(sin);
        }
        child.wait_with_output().unwrap()
    }

    /// One raw HTTP/1.1 request over the socket; returns (status, headers, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        parse_response(&raw)
    }

    /// Ids of every container (docker ps -aq --no-trunc).
    pub fn all_ids(&self) -> Vec<String> {
        let out = self.docker(&["ps", "-aq", "--no-trunc"]);
        stdout(&out).lines().map(str::to_string).collect()
    }
}

/// Split a raw HTTP response; decodes chunked bodies.
pub fn parse_response(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((len, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    (status, head.to_string(), body)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            for id in self.all_ids() {
                let _ = self.docker(&["rm", "-f", &id]);
            }
        }
        let ids: Vec<String> = std::fs::read_dir(self.data.join("containers"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(mut c) = self.child.take() {
            // SAFETY: SIGTERM to the daemon we spawned.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Unmount anything left under our directory (deepest first).
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = format!("{}/", self.dir.display());
        let mut points: Vec<String> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            if let Ok(c) = std::ffi::CString::new(p) {
                // SAFETY: umount2 on a path string we own.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        // Leftover cgroups of our containers (runc leaves the empty `berth` parent).
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for ctrl in rd.filter_map(|e| e.ok()) {
                let parent = ctrl.path().join("berth");
                for id in &ids {
                    let _ = std::fs::remove_dir(parent.join(id));
                }
                let _ = std::fs::remove_dir(&parent);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// stdout as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Poll `f` until true or timeout.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
