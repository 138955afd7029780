//! A private berthd for one test.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The directory holding the workspace's built binaries (`target/<profile>`), found from the
/// test executable's own path (`target/<profile>/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Path of one of the workspace's binaries; panics with a hint when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release --workspace` first",
        p.display()
    );
    p
}

/// The real docker CLI: /usr/local/bin/docker (v28) when present, else `docker` on PATH.
pub fn docker_cli() -> Option<PathBuf> {
    for p in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    None
}

/// A busybox rootfs tarball made once per test process by `scripts/mk-busybox-rootfs.sh`.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-bb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let out = dir.join("busybox.tar");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mk-busybox-rootfs.sh");
        let st = Command::new(script)
            .arg(&out)
            .status()
            .expect("run mk-busybox-rootfs.sh");
        assert!(st.success(), "mk-busybox-rootfs.sh failed");
        out
    })
    .clone()
}

/// Output of a CLI call, with helpers for assertions.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

impl Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    /// Asserts success and returns trimmed stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self.stdout.trim().to_string()
    }
    /// Asserts failure and returns stderr.
    #[track_caller]
    pub fn err(&self) -> String {
        assert_ne!(self.code, 0, "command unexpectedly succeeded: {self:?}");
        self.stderr.clone()
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique short name for containers, images and dirs of one test.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}x{n}x{:x}", std::process::id(), nanos & 0xffff)
}

/// A berthd with its own roots and socket, stopped and cleaned when dropped.
pub struct Daemon {
    /// Temp dir holding data root, exec root and socket.
    pub root: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// Extra berthd flags used at (re)start.
    pub extra_args: Vec<String>,
    /// This daemon's network name tag (`--network-prefix`): bridge `<tag>0`, veths
    /// `<tag>v…`, user bridges `<tag>-…`, nft table `berth-<tag>`.
    pub net_tag: String,
    /// Subnet of this daemon's default bridge network (`--bip`).
    pub bip: String,
    child: Option<Child>,
}

impl Daemon {
    /// Starts a daemon with fresh roots; waits until its socket answers.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Starts a daemon with fresh roots and `busybox:latest` imported.
    pub fn with_busybox() -> Daemon {
        let d = Self::start();
        d.import_busybox();
        d
    }

    /// Starts a daemon with extra flags (e.g. `--runtime /usr/sbin/runc`).
    pub fn start_with(extra: &[&str]) -> Daemon {
        let root = PathBuf::from(format!("/tmp/{}", unique("bt")));
        std::fs::create_dir_all(&root).expect("mkdir root");
        let socket = root.join("api.sock");
        let (net_tag, bip) = crate::netcfg::pick();
        let mut d = Daemon {
            root,
            socket,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            net_tag,
            bip,
            child: None,
        };
        d.spawn();
        d
    }

    /// One raw HTTP/1.1 request over this daemon's socket; returns (status, body).
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        use std::io::Read;
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket).expect("connect");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        let status = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    /// Data root of this daemon.
    pub fn data_root(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Exec root of this daemon.
    pub fn exec_root(&self) -> PathBuf {
        self.root.join("exec")
    }

    /// `unix://` address of the socket.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// PID of the running berthd.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn spawn_child(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("berthd.log"))
            .expect("open log");
        let child = Command::new(bin("berthd"))
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("-H")
            .arg(self.host())
            .arg("--pidfile")
            .arg(self.root.join("berthd.pid"))
            .args(["--network-prefix", &self.net_tag, "--bip", &self.bip])
            .arg("--network-cleanup-on-exit")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
    }

    fn spawn(&mut self) {
        self.spawn_child();
        self.wait_ready();
    }

    /// Waits until this daemon's child answers `version` (panics if it exits or times out).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.socket.exists() && self.berth(["version"]).code == 0 {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("berthd exited at start: {st}\n{}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("berthd.log")).unwrap_or_default()
    }

    /// Kills berthd with SIGKILL (containers must survive) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts berthd again on the same roots (after `kill9` or `stop`).
    /// Sends SIGTERM and starts the next berthd at once, without waiting for the old one to
    /// exit (as an init system's restart does); returns when the new one serves.
    pub fn restart_at_once(&mut self) {
        let mut old = self.child.take().expect("daemon running");
        let _ = kill(Pid::from_raw(old.id() as i32), Signal::SIGTERM);
        self.spawn_child();
        let _ = old.wait();
        self.wait_ready();
    }

    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let _ = std::fs::remove_file(&self.socket);
        self.spawn();
    }

    /// Stops berthd with SIGTERM (SIGKILL after 10 s) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Out::from(
            Command::new(bin("berth"))
                .arg("-H")
                .arg(self.host())
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("run berth"),
        )
    }

    /// Runs the berth CLI with `input` on its stdin.
    pub fn berth_stdin<I, S>(&self, args: I, input: &[u8]) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_stdin(
            Command::new(bin("berth"))
                .arg("-H")
                .arg(self.host())
                .args(args),
            input,
        )
    }

    /// A `Command` for the real docker CLI pointed at this daemon (None when not installed).
    pub fn docker_cmd(&self) -> Option<Command> {
        let cli = docker_cli()?;
        let mut c = Command::new(cli);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.root.join("docker-config"))
            .env_remove("DOCKER_CONTEXT");
        Some(c)
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = self.docker_cmd().expect("docker CLI not installed");
        Out::from(
            c.args(args)
                .stdin(Stdio::null())
                .output()
                .expect("run docker"),
        )
    }

    /// Runs the real docker CLI with `input` on its stdin.
    pub fn docker_stdin<I, S>(&self, args: I, input: &[u8]) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = self.docker_cmd().expect("docker CLI not installed");
        run_with_stdin(c.args(args), input)
    }

    /// Imports the busybox rootfs as `busybox:latest` (CMD ["sh"]).
    pub fn import_busybox(&self) -> String {
        self.import_busybox_as("busybox:latest")
    }

    /// Imports the busybox rootfs under the given reference.
    pub fn import_busybox_as(&self, reference: &str) -> String {
        let tar = std::fs::read(busybox_tar()).expect("read busybox tar");
        self.berth_stdin(["import", "--change", "CMD [\"sh\"]", "-", reference], &tar)
            .ok()
    }

    /// Full ids of every container this daemon knows.
    pub fn container_ids(&self) -> Vec<String> {
        self.berth(["ps", "-a", "-q", "--no-trunc"])
            .stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Removes every container (`rm -f`), stops the daemon and asserts that nothing of its
    /// networking is left on the host (bridges, veths, netns, nft tables).
    pub fn finish(mut self) {
        let ids = self.container_ids();
        if !ids.is_empty() {
            let mut args = vec!["rm".to_string(), "-f".to_string()];
            args.extend(ids);
            self.berth(args).ok();
        }
        self.stop();
        let left = crate::netcfg::leftovers(&self.net_tag, &self.exec_root());
        assert!(left.is_empty(), "left behind: {left:?}\n{}", self.log());
    }
}

/// Runs `cmd` with no stdin and captures its output.
pub fn capture(cmd: &mut Command) -> Out {
    Out::from(
        cmd.stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {cmd:?}: {e}")),
    )
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    Out::from(out)
}

/// Unmounts (lazily) every mount at or below `root`, deepest first.
pub fn unmount_below(root: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = root.to_string_lossy().to_string();
    let mut targets: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|s| s.replace("\\040", " ")))
        .filter(|t| t == &prefix || t.starts_with(&format!("{prefix}/")))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = nix::mount::umount2(t.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.container_ids();
            if !ids.is_empty() {
                let mut args = vec!["rm".to_string(), "-f".to_string(), "-v".to_string()];
                args.extend(ids);
                let _ = self.berth(args);
            }
            self.stop();
        }
        unmount_below(&self.root);
        if std::env::var_os("BERTH_KEEP_TEST_ROOT").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
