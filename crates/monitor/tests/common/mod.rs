//! Test fixture: a busybox bundle run by runc under a real monitor, cleaned up on drop.
#![allow(dead_code)]

use monitor::{ExitRecord, MonitorConfig, Spawned};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const RUNC: &str = "/usr/sbin/runc";
static SEQ: AtomicUsize = AtomicUsize::new(0);

/// One container's worth of temp dirs and config.
pub struct Fixture {
    pub id: String,
    pub dir: PathBuf,
    pub sock_dir: PathBuf,
    pub cfg: MonitorConfig,
    pub spawned: Option<Spawned>,
}

fn json_str(s: &str) -> String {
    format!("\"{}\"", monitor::log::escape_json(s.as_bytes()))
}

impl Fixture {
    /// A fresh bundle running `args` (busybox applets on PATH).
    pub fn new(args: &[&str], tty: bool, stdin: bool) -> Fixture {
        Fixture::build(args, tty, stdin, None)
    }

    /// Like [`Fixture::new`], with an optional memory limit in bytes.
    pub fn build(args: &[&str], tty: bool, stdin: bool, memory: Option<u64>) -> Fixture {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let id = format!("berth-test-mon-{pid}-{n}");
        let dir = std::env::temp_dir().join(format!("berth-test-mon-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("bundle/rootfs");
        for d in ["bin", "proc", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "cat", "echo", "sleep", "true", "stty", "printf", "head", "yes", "kill", "tr",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let args_json: Vec<String> = args.iter().map(|a| json_str(a)).collect();
        let config = format!(
            r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": {tty},
    "user": {{"uid": 0, "gid": 0}},
    "args": [{args}],
    "env": ["PATH=/bin", "TERM=xterm"],
    "cwd": "/"
  }},
  "root": {{"path": "rootfs", "readonly": false}},
  "hostname": "mon",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}}
  ],
  "linux": {{
    "namespaces": [{{"type": "pid"}}, {{"type": "mount"}}, {{"type": "uts"}}, {{"type": "ipc"}}, {{"type": "network"}}],
    "cgroupsPath": "/{id}"{resources}
  }}
}}"#,
            args = args_json.join(", "),
            resources = memory
                .map(|m| format!(r#", "resources": {{"memory": {{"limit": {m}}}}}"#))
                .unwrap_or_default()
        );
        std::fs::write(dir.join("bundle/config.json"), config).unwrap();
        // Short socket dir: unix socket paths must stay under 108 bytes.
        let sock_dir = PathBuf::from(format!("/tmp/bm-{pid}-{n}"));
        let cfg = MonitorConfig {
            // BERTH_MONITOR_BIN lets the RSS test measure a release build.
            monitor_bin: std::env::var_os("BERTH_MONITOR_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth-monitor"))),
            id: id.clone(),
            runtime: PathBuf::from(RUNC),
            runtime_root: dir.join("runc-root"),
            bundle: dir.join("bundle"),
            socket_dir: sock_dir.clone(),
            log_file: dir.join("ctr-json.log"),
            exit_file: dir.join("exit.json"),
            tty,
            stdin,
            log_rotation: Default::default(),
            log_none: false,
        };
        Fixture {
            id,
            dir,
            sock_dir,
            cfg,
            spawned: None,
        }
    }

    /// Spawns the monitor (runc create) and remembers the pids for cleanup.
    pub fn spawn(&mut self) -> Result<Spawned, monitor::MonitorError> {
        let s = monitor::spawn(&self.cfg)?;
        self.spawned = Some(s);
        Ok(s)
    }

    /// Waits for the exit record.
    pub fn wait_exit(&self, timeout: Duration) -> ExitRecord {
        let end = Instant::now() + timeout;
        loop {
            if let Some(r) = monitor::read_exit(&self.cfg.exit_file).unwrap() {
                return r;
            }
            assert!(Instant::now() < end, "no exit record after {timeout:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the monitor process is gone.
    pub fn wait_monitor_gone(&self, timeout: Duration) {
        let Some(s) = self.spawned else { return };
        let end = Instant::now() + timeout;
        while alive(s.monitor_pid) {
            assert!(
                Instant::now() < end,
                "monitor {} still running",
                s.monitor_pid
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self) -> Vec<monitor::log::LogEntry> {
        monitor::log::read_log(&self.cfg.log_file).unwrap()
    }
}

/// Whether a pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: plain syscall on a pid this test started.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(s) = self.spawned {
            if alive(s.container_pid) {
                kill(s.container_pid, libc::SIGKILL);
            }
            // The monitor notices, records the exit, deletes the container and leaves.
            let end = Instant::now() + Duration::from_secs(5);
            while alive(s.monitor_pid) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(10));
            }
            if alive(s.monitor_pid) {
                kill(s.monitor_pid, libc::SIGKILL);
            }
        }
        let _ = std::process::Command::new(RUNC)
            .arg("--root")
            .arg(&self.cfg.runtime_root)
            .args(["delete", "--force", &self.id])
            .stderr(std::process::Stdio::null())
            .status();
        for ctrl in [
            "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd",
            "unified",
        ] {
            let p = Path::new("/sys/fs/cgroup").join(ctrl).join(&self.id);
            if p.exists() {
                let _ = std::fs::remove_dir(&p);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.sock_dir);
    }
}

/// Reads docker-framed output until EOF: (stdout bytes, stderr bytes).
pub fn read_frames(s: &mut impl Read) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        let (stream, payload) = match monitor::frame::read_frame(s) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => panic!("read_frame: {e} after out={out:?} err={err:?}"),
        };
        assert!(!payload.is_empty(), "empty frame");
        match stream {
            1 => out.extend_from_slice(&payload),
            2 => err.extend_from_slice(&payload),
            other => panic!("unexpected stream byte {other}"),
        }
    }
    (out, err)
}
