//! OCI runtime conformance suite, run against every runtime present: berth-runtime and,
//! when installed, runc (same test body, the implementation is a parameter).
//! Needs root (real namespaces, mounts and cgroups).

use serde_json::{json, Value};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An OCI runtime under test.
#[derive(Clone, Debug)]
struct Impl {
    name: &'static str,
    bin: PathBuf,
}

fn impls() -> Vec<Impl> {
    let mut v = vec![Impl {
        name: "berth",
        bin: PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime")),
    }];
    if Path::new("/usr/sbin/runc").exists() && std::env::var_os("BERTH_SKIP_RUNC").is_none() {
        v.push(Impl {
            name: "runc",
            bin: PathBuf::from("/usr/sbin/runc"),
        });
    }
    v
}

fn is_root() -> bool {
    // SAFETY: geteuid never fails.
    unsafe { libc::geteuid() == 0 }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A bundle (busybox rootfs + config.json), a private --root and a unique id and cgroup.
struct Bundle {
    imp: Impl,
    dir: PathBuf,
    root: PathBuf,
    id: String,
    cg_parent: String,
}

const CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn make_rootfs(rootfs: &Path) {
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if a != "busybox" && !a.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(a));
        }
    }
    for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
}

impl Bundle {
    fn new(imp: &Impl, tag: &str) -> Bundle {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let uniq = format!("{}{}{}", std::process::id(), n, imp.name);
        let dir = std::env::temp_dir().join(format!("berth-rt-{tag}-{uniq}"));
        let _ = std::fs::remove_dir_all(&dir);
        make_rootfs(&dir.join("rootfs"));
        Bundle {
            imp: imp.clone(),
            root: dir.join("state"),
            id: format!("{tag}-{uniq}"),
            cg_parent: format!("berth/test-rt{uniq}"),
            dir,
        }
    }

    /// Writes a Docker-like config.json running `args`, then lets `f` adjust it.
    fn config(&self, args: &[&str], f: impl FnOnce(&mut Value)) {
        let mut devs = vec![json!({"allow": false, "access": "rwm"})];
        for (t, ma, mi) in [
            ("c", Some(1), Some(3)),
            ("c", Some(1), Some(5)),
            ("c", Some(1), Some(7)),
            ("c", Some(1), Some(8)),
            ("c", Some(1), Some(9)),
            ("c", Some(5), Some(0)),
            ("c", Some(5), Some(1)),
            ("c", Some(5), Some(2)),
            ("c", Some(136), None),
        ] {
            devs.push(json!({"allow": true, "type": t, "major": ma, "minor": mi, "access": "rwm"}));
        }
        let mut c = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": false},
            "hostname": "testhost",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
            ],
            "linux": {
                "cgroupsPath": format!("/{}/{}", self.cg_parent, self.id),
                "resources": {"devices": devs},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
                "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        f(&mut c);
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.imp.bin);
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs a runtime command with captured output.
    fn rt(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// `run` in the foreground; returns (exit code, stdout, stderr).
    fn run(&self) -> (i32, String, String) {
        let o = self.rt(&["run", "-b", self.dir.to_str().unwrap(), &self.id]);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into(),
            String::from_utf8_lossy(&o.stderr).into(),
        )
    }

    /// `create` with the container's stdio going to files in the bundle.
    fn create(&self, extra: &[&str]) -> Output {
        let out = std::fs::File::create(self.dir.join("out.txt")).unwrap();
        let err = std::fs::File::create(self.dir.join("err.txt")).unwrap();
        let mut args = vec!["create", "-b", self.dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let mut c = self.cmd(&args);
        c.stdout(out).stderr(err);
        let st = c.status().unwrap();
        let stderr = std::fs::read(self.dir.join("err.txt")).unwrap_or_default();
        Output {
            status: st,
            stdout: vec![],
            stderr,
        }
    }

    fn out_file(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.txt")).unwrap_or_default()
    }

    fn state(&self) -> Option<Value> {
        let o = self.rt(&["state", &self.id]);
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    fn status(&self) -> String {
        self.state()
            .and_then(|s| s["status"].as_str().map(String::from))
            .unwrap_or_else(|| "gone".into())
    }

    fn wait_status(&self, want: &str) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.status() == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "[{}] container never reached {want} (now {})",
            self.imp.name,
            self.status()
        );
    }

    /// Cgroup dirs with our unique parent name, wherever the implementation put them.
    fn cgroup_parents(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        for e in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let base = e.path();
            let mut cands = vec![base.join(&self.cg_parent)];
            for l in own.lines() {
                if let Some(p) = l.splitn(3, ':').nth(2) {
                    cands.push(base.join(p.trim_start_matches('/')).join(&self.cg_parent));
                }
            }
            for c in cands {
                if c.exists() && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }

    fn state_entries(&self) -> usize {
        std::fs::read_dir(&self.root)
            .map(|r| r.flatten().filter(|e| e.path().is_dir()).count())
            .unwrap_or(0)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for p in self.cgroup_parents() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `body` against each implementation.
fn each(body: impl Fn(&Impl)) {
    if !is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    for imp in impls() {
        eprintln!("--- {}", imp.name);
        body(&imp);
    }
}

#[test]
fn exit_code_propagates() {
    each(|imp| {
        let b = Bundle::new(imp, "exit");
        b.config(&["sh", "-c", "exit 7"], |_| {});
        let (code, _, err) = b.run();
        assert_eq!(code, 7, "[{}] stderr: {err}", imp.name);
    });
}

#[test]
fn pid1_and_hostname() {
    each(|imp| {
        let b = Bundle::new(imp, "pid1");
        b.config(&["sh", "-c", "echo $$; hostname"], |_| {});
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(out, "1\ntesthost\n", "[{}]", imp.name);
    });
}

#[test]
fn env_cwd_user() {
    each(|imp| {
        let b = Bundle::new(imp, "user");
        b.config(&["sh", "-c", "echo $FOO; pwd; id -u; id -g; id -G"], |c| {
            c["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("FOO=bar"));
            c["process"]["cwd"] = json!("/tmp");
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
        });
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(out, "bar\n/tmp\n1000\n1000\n1000 5\n", "[{}]", imp.name);
    });
}

#[test]
fn mounts_and_devices() {
    each(|imp| {
        let b = Bundle::new(imp, "mnt");
        let script = "grep -q ' /proc proc ' /proc/mounts && echo proc; \
            echo hi > /dev/null && test -c /dev/null && echo null; \
            grep -q ' /dev/pts devpts ' /proc/mounts && test -c /dev/pts/ptmx && echo pts; \
            grep -q ' /dev/shm tmpfs ' /proc/mounts && echo x > /dev/shm/f && echo shm; \
            test -c /dev/zero && test -c /dev/urandom && test -c /dev/tty && test -L /dev/fd && echo devs; \
            touch /sys/x 2>/dev/null || echo sysro; \
            ip link show lo | grep -q UP && echo lo";
        b.config(&["sh", "-c", script], |_| {});
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(
            out, "proc\nnull\npts\nshm\ndevs\nsysro\nlo\n",
            "[{}] stderr: {err}",
            imp.name
        );
    });
}

#[test]
fn readonly_root() {
    each(|imp| {
        let b = Bundle::new(imp, "ro");
        b.config(
            &[
                "sh",
                "-c",
                "touch /x 2>/dev/null && echo rw || echo ro; touch /dev/shm/y && echo shm-ok",
            ],
            |c| {
                c["root"]["readonly"] = json!(true);
            },
        );
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(out, "ro\nshm-ok\n", "[{}]", imp.name);
    });
}

#[test]
fn masked_and_readonly_paths() {
    each(|imp| {
        let b = Bundle::new(imp, "mask");
        b.config(&["sh", "-c", "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/vm/overcommit_memory 2>/dev/null || echo sysro"], |_| {});
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["0", "0", "sysro"],
            "[{}]",
            imp.name
        );
    });
}

#[test]
fn memory_limit_oom_kills() {
    each(|imp| {
        let b = Bundle::new(imp, "oom");
        b.config(&["tail", "/dev/zero"], |c| {
            c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
        });
        let (code, _, err) = b.run();
        assert_eq!(code, 137, "[{}] {err}", imp.name);
    });
}

#[test]
fn pids_limit_stops_fork_bomb() {
    each(|imp| {
        let b = Bundle::new(imp, "pids");
        b.config(&["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max; i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done; echo done"], |c| {
            c["linux"]["resources"]["pids"] = json!({"limit": 10});
        });
        let (_, out, err) = b.run();
        assert!(out.starts_with("10\n"), "[{}] {out}", imp.name);
        assert!(
            err.contains("fork") || err.contains("Resource temporarily unavailable"),
            "[{}] {err}",
            imp.name
        );
    });
}

#[test]
fn cpu_quota_is_written() {
    each(|imp| {
        let b = Bundle::new(imp, "cpu");
        b.config(&["sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares"], |c| {
            c["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000, "shares": 512});
        });
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(out, "50000\n100000\n512\n", "[{}]", imp.name);
    });
}

#[test]
fn lifecycle_and_state_json() {
    each(|imp| {
        let b = Bundle::new(imp, "life");
        b.config(
            &[
                "sh",
                "-c",
                "trap 'echo got-term; exit 9' TERM; echo started; while true; do sleep 0.05; done",
            ],
            |_| {},
        );
        let pidfile = b.dir.join("pid");
        let o = b.create(&["--pid-file", pidfile.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let s = b.state().expect("state");
        assert_eq!(s["status"], "created", "[{}]", imp.name);
        assert_eq!(s["id"], b.id.as_str());
        assert!(s["ociVersion"].is_string());
        assert_eq!(
            Path::new(s["bundle"].as_str().unwrap()),
            std::fs::canonicalize(&b.dir).unwrap()
        );
        let pid: i64 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(s["pid"].as_i64(), Some(pid), "[{}]", imp.name);
        assert!(
            b.out_file().is_empty(),
            "[{}] output before start",
            imp.name
        );
        let o = b.rt(&["start", &b.id]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        b.wait_status("running");
        let t = Instant::now();
        while !b.out_file().contains("started") && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let o = b.rt(&["kill", &b.id, "TERM"]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        b.wait_status("stopped");
        assert!(
            b.out_file().contains("got-term"),
            "[{}] signal did not reach pid 1: {}",
            imp.name,
            b.out_file()
        );
        assert_eq!(
            b.state().unwrap()["pid"].as_i64().unwrap_or(0),
            0,
            "[{}] stopped pid",
            imp.name
        );
        let o = b.rt(&["delete", &b.id]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(b.state().is_none());
        assert_eq!(b.state_entries(), 0);
    });
}

#[test]
fn delete_running_needs_force_and_kill_by_number() {
    each(|imp| {
        let b = Bundle::new(imp, "force");
        b.config(&["sleep", "100"], |_| {});
        assert!(b.create(&[]).status.success());
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let o = b.rt(&["delete", &b.id]);
        assert!(
            !o.status.success(),
            "[{}] delete of a running container succeeded",
            imp.name
        );
        assert!(b.rt(&["kill", &b.id, "9"]).status.success());
        b.wait_status("stopped");
        assert!(b.rt(&["delete", &b.id]).status.success());
        assert_eq!(b.state_entries(), 0);
    });
}

#[test]
fn exec_into_running_container() {
    each(|imp| {
        let b = Bundle::new(imp, "exec");
        b.config(&["sleep", "100"], |_| {});
        assert!(b.create(&[]).status.success());
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let o = b.rt(&[
            "exec",
            "--env",
            "E1=v1",
            "--cwd",
            "/tmp",
            &b.id,
            "sh",
            "-c",
            "echo in-$E1; pwd; cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; exit 5",
        ]);
        assert_eq!(
            o.status.code(),
            Some(5),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "in-v1\n/tmp\nsleep 100 \ntesthost\n",
            "[{}]",
            imp.name
        );
        let o = b.rt(&["exec", "--user", "1000:1000", &b.id, "id", "-u"]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "1000\n",
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let o = b.rt(&["exec", &b.id, "nope"]);
        assert!(!o.status.success(), "[{}]", imp.name);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("executable file not found in $PATH"),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

fn recv_fd(sock: &std::os::unix::net::UnixStream) -> OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and is ours.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
}

/// Reads from a pty master until `needle` shows up, EOF/EIO, or `secs` pass.
fn read_until(f: &mut std::fs::File, needle: &str, secs: u64) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid fd.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&out).contains(needle) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn terminal_via_console_socket() {
    each(|imp| {
        let b = Bundle::new(imp, "tty");
        b.config(
            &["sh", "-c", "echo tty-ok; tty; test -c /dev/console && echo console-ok; test -t 0 && echo stdin-tty"],
            |c| {
                c["process"]["terminal"] = json!(true);
            },
        );
        let sock_path = b.dir.join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
        let th = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            recv_fd(&s)
        });
        let o = b.create(&["--console-socket", sock_path.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let master = th.join().unwrap();
        assert!(b.rt(&["start", &b.id]).status.success());
        let mut f = std::fs::File::from(master);
        let s = read_until(&mut f, "stdin-tty", 10);
        assert!(s.contains("tty-ok"), "[{}] {s}", imp.name);
        assert!(s.contains("/dev/pts/"), "[{}] {s}", imp.name);
        assert!(s.contains("stdin-tty"), "[{}] {s}", imp.name);
        assert!(s.contains("console-ok"), "[{}] {s}", imp.name);
        b.wait_status("stopped");
        assert!(b.rt(&["delete", &b.id]).status.success());
    });
}

#[test]
fn bad_executable_fails_create_and_leaves_nothing() {
    each(|imp| {
        let b = Bundle::new(imp, "bad");
        b.config(&["nope"], |_| {});
        let o = b.create(&[]);
        // runc logs the message JSON-escaped on stderr.
        let err = String::from_utf8_lossy(&o.stderr).replace("\\\"", "\"");
        assert!(!o.status.success(), "[{}]", imp.name);
        assert!(
            err.contains("exec: \"nope\": executable file not found in $PATH"),
            "[{}] {err}",
            imp.name
        );
        assert_eq!(b.state_entries(), 0, "[{}] state left behind", imp.name);
        if imp.name == "berth" {
            assert!(
                b.cgroup_parents().is_empty(),
                "cgroups left: {:?}",
                b.cgroup_parents()
            );
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        }
    });
}

#[test]
fn cleanup_after_run() {
    each(|imp| {
        let b = Bundle::new(imp, "clean");
        b.config(&["sh", "-c", "sleep 100 & sleep 100 & true"], |c| {
            c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        });
        let (code, _, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(b.state_entries(), 0, "[{}]", imp.name);
        if imp.name == "berth" {
            assert!(
                b.cgroup_parents().is_empty(),
                "cgroups left: {:?}",
                b.cgroup_parents()
            );
        }
    });
}

#[test]
fn pause_and_resume() {
    each(|imp| {
        let b = Bundle::new(imp, "pause");
        b.config(&["sleep", "100"], |_| {});
        assert!(b.create(&[]).status.success());
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        assert!(b.rt(&["pause", &b.id]).status.success());
        assert_eq!(b.status(), "paused", "[{}]", imp.name);
        assert!(b.rt(&["resume", &b.id]).status.success());
        assert_eq!(b.status(), "running", "[{}]", imp.name);
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

#[test]
fn missing_cwd_and_unsupported_fail_cleanly() {
    // runc creates a missing cwd; berth's contract (docs/INTERFACES.md) is to fail create.
    if is_root() {
        let imp = &impls()[0];
        let b = Bundle::new(imp, "cwd");
        b.config(&["true"], |c| {
            c["process"]["cwd"] = json!("/does/not/exist");
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        });
        let o = b.create(&[]);
        assert!(!o.status.success(), "[{}] missing cwd accepted", imp.name);
        assert!(String::from_utf8_lossy(&o.stderr).contains("/does/not/exist"));
        assert_eq!(b.state_entries(), 0);
        assert!(b.cgroup_parents().is_empty());
    }
    if is_root() {
        let imp = &impls()[0];
        let b = Bundle::new(imp, "unsup");
        b.config(&["true"], |c| {
            c["linux"]["intelRdt"] = json!({"closID": "x"});
        });
        let o = b.create(&[]);
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("unsupported: linux.intelRdt"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(b.state_entries(), 0);
        assert!(b.cgroup_parents().is_empty());
    }
}

#[test]
fn seccomp_filter_applies() {
    each(|imp| {
        let b = Bundle::new(imp, "scmp");
        b.config(&["sh", "-c", "mkdir /tmp/d 2>/dev/null && echo made || echo denied; touch /tmp/f && echo touched"], |c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
                ]
            });
        });
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(out, "denied\ntouched\n", "[{}] {err}", imp.name);
    });
}

#[test]
fn cwd_cannot_escape_through_leaked_fds() {
    // CVE-2024-21626: a cwd of /proc/self/fd/N must never land outside the rootfs.
    each(|imp| {
        for fd in 3..9 {
            let b = Bundle::new(imp, "leak");
            let cwd = format!("/proc/self/fd/{fd}");
            b.config(&["sh", "-c", "pwd; ls ../../.. | head -3"], |c| {
                c["process"]["cwd"] = json!(cwd);
            });
            let (code, out, _) = b.run();
            assert!(
                code != 0 || !out.contains("unreachable"),
                "[{}] fd {fd}: {out}",
                imp.name
            );
        }
    });
}

#[test]
fn kill_all_and_list() {
    each(|imp| {
        let b = Bundle::new(imp, "list");
        b.config(&["sh", "-c", "sleep 100 & sleep 100"], |_| {});
        assert!(b.create(&[]).status.success());
        let o = b.rt(&["list", "--format", "json"]);
        let l: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        assert_eq!(l[0]["id"], b.id.as_str(), "[{}] {l}", imp.name);
        assert_eq!(l[0]["status"], "created", "[{}] {l}", imp.name);
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let o = b.rt(&["kill", "--all", &b.id, "KILL"]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        b.wait_status("stopped");
        assert!(b.rt(&["delete", &b.id]).status.success());
        let o = b.rt(&["list", "-q"]);
        assert!(
            String::from_utf8_lossy(&o.stdout).trim().is_empty(),
            "[{}]",
            imp.name
        );
    });
}

#[test]
fn mount_targets_stay_inside_rootfs() {
    each(|imp| {
        let b = Bundle::new(imp, "escape");
        let host = b.dir.join("host-target");
        std::fs::create_dir_all(&host).unwrap();
        std::os::unix::fs::symlink(&host, b.dir.join("rootfs/evil")).unwrap();
        std::os::unix::fs::symlink("../../../../../..", b.dir.join("rootfs/up")).unwrap();
        b.config(&["sh", "-c", "echo x > /evil/sub/f && echo ok"], |c| {
            let m = c["mounts"].as_array_mut().unwrap();
            m.push(json!({"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
            m.push(json!({"destination": "/up/escaped", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
        });
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        assert_eq!(out, "ok\n", "[{}]", imp.name);
        assert!(
            !host.join("sub").exists(),
            "[{}] mkdir followed a symlink out of the rootfs",
            imp.name
        );
        assert!(
            b.dir
                .join("rootfs")
                .join(host.strip_prefix("/").unwrap())
                .join("sub")
                .is_dir(),
            "[{}]",
            imp.name
        );
        assert!(b.dir.join("rootfs/escaped").is_dir(), "[{}]", imp.name);
        assert!(!Path::new("/escaped").exists(), "[{}]", imp.name);
    });
}

#[test]
fn exec_with_terminal() {
    each(|imp| {
        let b = Bundle::new(imp, "exectty");
        b.config(&["sleep", "100"], |_| {});
        assert!(b.create(&[]).status.success());
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let sock_path = b.dir.join("exec.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
        let th = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            recv_fd(&s)
        });
        // runc hands the master over only with --detach (in the foreground it proxies the
        // pty itself); berth also hands it over in the foreground and reports the exit code.
        let detach = imp.name == "runc";
        let mut args = vec![
            "exec",
            "-t",
            "--console-socket",
            sock_path.to_str().unwrap(),
        ];
        if detach {
            args.push("-d");
        }
        args.extend_from_slice(&[
            &b.id,
            "sh",
            "-c",
            "test -t 1 && echo exec-tty; sleep 0.2; exit 3",
        ]);
        let mut child = b
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let master = th.join().unwrap();
        let mut f = std::fs::File::from(master);
        let mut out = read_until(&mut f, "exec-tty", 10);
        // Keep the master open until the process is gone (closing it would SIGHUP it).
        out.push_str(&read_until(&mut f, "\u{0}never", 3));
        drop(f);
        let t = Instant::now();
        let st = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
        let st = st.unwrap_or_else(|| {
            panic!(
                "[{}] exec -t did not exit; tty output {out:?}; stderr {err}",
                imp.name
            )
        });
        assert!(out.contains("exec-tty"), "[{}] {out}", imp.name);
        assert_eq!(
            st.code(),
            Some(if detach { 0 } else { 3 }),
            "[{}] {err}",
            imp.name
        );
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

#[test]
fn process_settings_sysctl_rlimits_caps() {
    each(|imp| {
        let b = Bundle::new(imp, "proc");
        let script = "cat /proc/sys/net/ipv4/ip_forward; cat /proc/self/oom_score_adj; ulimit -n; umask; \
            grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs)' /proc/self/status | tr -s '\\t ' ' '; ls /proc/self/fd | wc -l";
        b.config(&["sh", "-c", script], |c| {
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            c["process"]["oomScoreAdj"] = json!(100);
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
            c["process"]["user"]["umask"] = json!(0o077);
        });
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        let want = "1\n100\n256\n0077\nCapPrm: 00000000a80425fb\nCapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\nNoNewPrivs: 1\n";
        assert!(out.starts_with(want), "[{}] got:\n{out}", imp.name);
        // ls itself holds one fd (the /proc/self/fd dir): stdio + 1.
        assert_eq!(
            out[want.len()..].trim(),
            "4",
            "[{}] fds leaked into the container: {out}",
            imp.name
        );
    });
}

#[test]
fn concurrent_containers_share_a_parent_cgroup() {
    each(|imp| {
        let parent = format!("berth/test-rtshared{}{}", std::process::id(), imp.name);
        let bundles: Vec<Bundle> = (0..6).map(|_| Bundle::new(imp, "conc")).collect();
        for b in &bundles {
            let p = parent.clone();
            b.config(&["sh", "-c", "sleep 0.1; echo ok"], |c| {
                c["linux"]["cgroupsPath"] = json!(format!("/{p}/{}", b.id));
            });
        }
        std::thread::scope(|s| {
            for b in &bundles {
                s.spawn(move || {
                    let (code, out, err) = b.run();
                    assert_eq!(code, 0, "[{}] {err}", b.imp.name);
                    assert_eq!(out, "ok\n", "[{}]", b.imp.name);
                });
            }
        });
        for b in &bundles {
            assert_eq!(b.state_entries(), 0);
        }
        let left: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .flatten()
            .map(|e| e.path().join(&parent))
            .filter(|p| p.exists())
            .collect();
        if imp.name == "berth" {
            assert!(left.is_empty(), "shared parent left: {left:?}");
        }
        for p in left {
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&p);
        }
    });
}

#[test]
fn delete_kills_leftovers_without_pid_namespace() {
    each(|imp| {
        let b = Bundle::new(imp, "nopidns");
        b.config(&["sh", "-c", "sleep 100 >/dev/null 2>&1 & echo $!"], |c| {
            c["linux"]["namespaces"] =
                json!([{"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}]);
        });
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        let pid: i32 = out
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("[{}] {out:?}", imp.name));
        let gone = |pid: i32| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => s
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
        };
        let t = Instant::now();
        while !gone(pid) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            gone(pid),
            "[{}] leftover process {pid} survived the container",
            imp.name
        );
        assert_eq!(b.state_entries(), 0);
        if imp.name == "berth" {
            assert!(
                b.cgroup_parents().is_empty(),
                "cgroups left: {:?}",
                b.cgroup_parents()
            );
        }
    });
}

/// Removes a directory when dropped.
struct RmDir(PathBuf);

impl Drop for RmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads a whole file (a runtime binary) for before/after comparison.
fn file_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[test]
fn runtime_binary_cannot_be_overwritten_from_a_container() {
    // CVE-2019-5736. The attack runs against a private copy of the runtime binary so that a
    // regression cannot corrupt the build output.
    each(|imp| {
        let bindir =
            std::env::temp_dir().join(format!("berth-rt-bin-{}-{}", std::process::id(), imp.name));
        std::fs::create_dir_all(&bindir).unwrap();
        let _cleanup = RmDir(bindir.clone());
        let copy = bindir.join("runtime-copy");
        std::fs::copy(&imp.bin, &copy).unwrap();
        let before = file_bytes(&copy);
        let victim = Impl {
            name: imp.name,
            bin: copy.clone(),
        };
        let a = Bundle::new(&victim, "exeA");
        a.config(&["sleep", "100"], |_| {});
        let o = a.create(&[]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let pid = a.state().unwrap()["pid"].as_i64().unwrap();
        // The created init still runs runtime code: its exe must not be the file on disk.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_ne!(
            exe, copy,
            "[{}] init runs from the on-disk binary",
            imp.name
        );
        if imp.name == "berth" {
            assert!(
                exe.to_string_lossy().starts_with("/memfd:"),
                "[berth] init exe is {}",
                exe.display()
            );
        }
        // Even root on the host cannot write through /proc/<pid>/exe.
        let w = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/exe"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"pwned"));
        assert!(
            w.is_err(),
            "[{}] host write through /proc/pid/exe succeeded",
            imp.name
        );
        // A second container in the first one's pid namespace sees the runtime as pid 1: it
        // keeps an fd on /proc/1/exe, waits until the runtime is gone (start), then writes.
        let b = Bundle::new(&victim, "exeB");
        b.config(
            &[
                "sh",
                "-c",
                "(echo pwned >>/proc/1/exe) 2>/dev/null && echo WROTE1; \
                 (exec 3</proc/1/exe && echo opened; \
                 while [ ! -e /tmp/go ]; do sleep 0.05; done; sleep 0.3; \
                 (echo pwned >>/proc/self/fd/3) && echo WROTE2; (echo pwned >/proc/self/fd/3) && echo WROTE3); \
                 echo done",
            ],
            |c| {
                c["linux"]["namespaces"] = json!([
                    {"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
                    {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
                ]);
            },
        );
        let o = b.create(&[]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(b.rt(&["start", &b.id]).status.success());
        std::thread::sleep(Duration::from_millis(300));
        assert!(a.rt(&["start", &a.id]).status.success());
        a.wait_status("running");
        std::fs::write(b.dir.join("rootfs/tmp/go"), "").unwrap();
        let t = Instant::now();
        while !b.out_file().contains("done") && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = b.out_file();
        let err = std::fs::read_to_string(b.dir.join("err.txt")).unwrap_or_default();
        assert!(
            out.contains("done"),
            "[{}] probe did not finish: {out} {err}",
            imp.name
        );
        assert!(
            !out.contains("WROTE"),
            "[{}] container wrote the runtime: {out}",
            imp.name
        );
        assert!(
            file_bytes(&copy) == before,
            "[{}] runtime binary changed",
            imp.name
        );
    });
}

/// Spawns `cmd` with a host directory fd leaked (not close-on-exec) at fd 7, as a careless
/// caller would.
fn with_leaked_fd(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls (open, dup2, close) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let fd = libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            if fd < 0 || libc::dup2(fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
}

/// Runs a runtime command whose container outlives it (stdio not captured through pipes, or
/// the wait would never end) and asserts success.
fn quiet_ok(imp: &Impl, b: &Bundle, mut c: Command) {
    let errf = b.dir.join("cmd-err.txt");
    let st = c
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&errf).unwrap())
        .status()
        .unwrap();
    assert!(
        st.success(),
        "[{}] {}",
        imp.name,
        std::fs::read_to_string(&errf).unwrap_or_default()
    );
}

#[test]
fn no_runtime_fd_leaks_into_the_container() {
    // The container processes' fds are listed from the host (a shell listing its own fds
    // races with its pipelines): only 0, 1, 2 and the preserved ones may be open.
    fn fds_of(pid: &str, want_exe: &str) -> String {
        let t = Instant::now();
        loop {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if exe.to_string_lossy().contains(want_exe) || t.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        v.sort();
        v.iter().map(|f| format!("{f} ")).collect()
    }
    each(|imp| {
        let b = Bundle::new(imp, "fdleak");
        b.config(&["sleep", "100"], |_| {});
        let mut c = b.cmd(&["create", "-b", b.dir.to_str().unwrap(), &b.id]);
        with_leaked_fd(&mut c);
        quiet_ok(imp, &b, c);
        assert!(b.rt(&["start", &b.id]).status.success());
        let pid = b.state().unwrap()["pid"].as_i64().unwrap().to_string();
        assert_eq!(fds_of(&pid, "busybox"), "0 1 2 ", "[{}] init fds", imp.name);

        let pidf = b.dir.join("exec.pid");
        let mut c = b.cmd(&[
            "exec",
            "-d",
            "--pid-file",
            pidf.to_str().unwrap(),
            &b.id,
            "sleep",
            "50",
        ]);
        with_leaked_fd(&mut c);
        quiet_ok(imp, &b, c);
        let epid = std::fs::read_to_string(&pidf).unwrap();
        assert_eq!(
            fds_of(epid.trim(), "busybox"),
            "0 1 2 ",
            "[{}] exec fds",
            imp.name
        );

        // A preserved fd is passed, the leaked one still is not.
        let mut c = b.cmd(&[
            "exec",
            "-d",
            "--preserve-fds",
            "1",
            "--pid-file",
            pidf.to_str().unwrap(),
            &b.id,
            "sleep",
            "50",
        ]);
        with_leaked_fd(&mut c);
        let f = std::fs::File::open(b.dir.join("config.json")).unwrap();
        use std::os::unix::process::CommandExt;
        let raw = f.as_raw_fd();
        // SAFETY: dup2/fcntl only, between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        quiet_ok(imp, &b, c);
        let epid = std::fs::read_to_string(&pidf).unwrap();
        assert_eq!(
            fds_of(epid.trim(), "busybox"),
            "0 1 2 3 ",
            "[{}] preserved",
            imp.name
        );
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    each(|imp| {
        let b = Bundle::new(imp, "hooks");
        let d = b.dir.display().to_string();
        let host = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("/bin/cat > {d}/{name}.json; echo {name} >> {d}/order")], "timeout": 30});
        b.config(&["sh", "-c", "echo ran; cat /tmp/start.json > /tmp/start.copy"], |c| {
            c["hooks"] = json!({
                "prestart": [host("prestart")],
                "createRuntime": [host("createRuntime")],
                "createContainer": [host("createContainer")],
                "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "/bin/cat > /tmp/start.json"]}],
                "poststart": [host("poststart")],
                "poststop": [host("poststop")]
            });
        });
        let o = b.create(&[]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let pid = b.state().unwrap()["pid"].as_i64().unwrap();
        let order = std::fs::read_to_string(b.dir.join("order")).unwrap_or_default();
        // runc 1.1 runs poststart already at create (fixed in runc 1.2); berth waits for start.
        assert!(
            order.starts_with("prestart\ncreateRuntime\ncreateContainer\n"),
            "[{}] {order}",
            imp.name
        );
        if imp.name == "berth" {
            assert_eq!(order, "prestart\ncreateRuntime\ncreateContainer\n");
        }
        for n in ["prestart", "createRuntime", "createContainer"] {
            let v: Value =
                serde_json::from_slice(&std::fs::read(b.dir.join(format!("{n}.json"))).unwrap())
                    .unwrap_or(Value::Null);
            assert_eq!(v["id"], b.id.as_str(), "[{}] {n}: {v}", imp.name);
            // runc reports createContainer's pid as seen inside the container (1).
            if n != "createContainer" {
                assert_eq!(v["pid"].as_i64(), Some(pid), "[{}] {n}: {v}", imp.name);
            }
            assert_eq!(v["status"], "creating", "[{}] {n}: {v}", imp.name);
            assert_eq!(v["bundle"], d.as_str(), "[{}] {n}: {v}", imp.name);
        }
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("stopped");
        assert!(b.out_file().contains("ran"), "[{}]", imp.name);
        let v: Value = serde_json::from_slice(
            &std::fs::read(b.dir.join("rootfs/tmp/start.copy")).unwrap_or_default(),
        )
        .unwrap_or(Value::Null);
        assert_eq!(v["id"], b.id.as_str(), "[{}] startContainer: {v}", imp.name);
        let v: Value =
            serde_json::from_slice(&std::fs::read(b.dir.join("poststart.json")).unwrap())
                .unwrap_or(Value::Null);
        assert_eq!(v["id"], b.id.as_str(), "[{}] poststart: {v}", imp.name);
        assert!(b.rt(&["delete", &b.id]).status.success());
        let order = std::fs::read_to_string(b.dir.join("order")).unwrap_or_default();
        assert!(
            order.ends_with("poststart\npoststop\n"),
            "[{}] {order}",
            imp.name
        );
        let v: Value = serde_json::from_slice(&std::fs::read(b.dir.join("poststop.json")).unwrap())
            .unwrap_or(Value::Null);
        assert_eq!(v["id"], b.id.as_str(), "[{}] poststop: {v}", imp.name);
    });
}

#[test]
fn failing_and_slow_hooks_fail_create_cleanly() {
    each(|imp| {
        for (name, hook) in [
            (
                "fail",
                json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}),
            ),
            (
                "slow",
                json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}),
            ),
        ] {
            let b = Bundle::new(imp, "hookfail");
            b.config(&["true"], |c| {
                c["hooks"] = json!({ "createRuntime": [hook] });
            });
            let t = Instant::now();
            let o = b.create(&[]);
            assert!(!o.status.success(), "[{}] {name} hook accepted", imp.name);
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "[{}] {name}",
                imp.name
            );
            if imp.name == "berth" {
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(err.contains("createRuntime hook"), "[berth] {name}: {err}");
                assert_eq!(b.state_entries(), 0, "[berth] {name}");
                assert!(b.cgroup_parents().is_empty(), "[berth] {name}");
            }
        }
    });
}

#[test]
fn events_stats_ps_json_and_user_names() {
    each(|imp| {
        let b = Bundle::new(imp, "stats");
        b.config(&["sh", "-c", "sleep 100 & sleep 100"], |c| {
            c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
            c["linux"]["resources"]["pids"] = json!({"limit": 50});
        });
        assert!(b.create(&[]).status.success());
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        // ps --format json: the init (sh exec'd the last sleep) and its child.
        let t = Instant::now();
        let pids = loop {
            let o = b.rt(&["ps", "--format", "json", &b.id]);
            let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
            let n = v.as_array().map(|a| a.len()).unwrap_or(0);
            if n == 2 || t.elapsed() > Duration::from_secs(10) {
                break v;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let pid = b.state().unwrap()["pid"].as_i64().unwrap();
        assert!(
            pids.as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().any(|p| p.as_i64() == Some(pid))),
            "[{}] ps: {pids}",
            imp.name
        );
        // events --stats: one JSON document with the cgroup's numbers.
        let o = b.rt(&["events", "--stats", &b.id]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "[{}] {err}", imp.name);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        assert_eq!(v["type"], "stats", "[{}] {v}", imp.name);
        assert_eq!(v["id"], b.id.as_str(), "[{}] {v}", imp.name);
        assert_eq!(
            v["data"]["pids"]["current"].as_u64(),
            Some(2),
            "[{}] {v}",
            imp.name
        );
        assert_eq!(
            v["data"]["pids"]["limit"].as_u64(),
            Some(50),
            "[{}] {v}",
            imp.name
        );
        assert_eq!(
            v["data"]["memory"]["usage"]["limit"].as_u64(),
            Some(64 << 20),
            "[{}] {v}",
            imp.name
        );
        assert!(
            v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
            "[{}] {v}",
            imp.name
        );
        // exec --user with names from the container's /etc/passwd and /etc/group (runc 1.1
        // takes numbers only).
        if imp.name != "berth" {
            assert!(b.rt(&["delete", "--force", &b.id]).status.success());
            return;
        }
        let o = b.rt(&["exec", "--user", "user", &b.id, "id"]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "uid=1000(user) gid=1000(user) groups=1000(user)",
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let o = b.rt(&["exec", "--user", "user:root", &b.id, "id", "-g"]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "0",
            "[{}]",
            imp.name
        );
        let o = b.rt(&["exec", "--user", "nosuchuser", &b.id, "id"]);
        assert!(!o.status.success(), "[{}] unknown user accepted", imp.name);
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

#[test]
fn features_and_unsupported_requests_are_explicit() {
    if !is_root() {
        return;
    }
    let imp = &impls()[0];
    let b = Bundle::new(imp, "feat");
    let o = b.rt(&["features"]);
    let f: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let hooks = f["hooks"].as_array().cloned().unwrap_or_default();
    assert_eq!(hooks.len(), 6, "{f}");
    assert_eq!(f["linux"]["seccomp"]["enabled"], true, "{f}");
    let ns = f["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for n in ["user", "time"] {
        assert!(ns.contains(&json!(n)), "features lacks {n}: {f}");
    }
    // Each of these must fail create with a clear message and leave nothing behind.
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "a user namespace needs linux.uidMappings and linux.gidMappings",
            Box::new(|c: &mut Value| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
            }),
        ),
        (
            // Overlapping ranges: the kernel refuses the map after the clone.
            "write uid_map",
            Box::new(|c: &mut Value| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                c["linux"]["uidMappings"] = json!([
                    {"containerID": 0, "hostID": 100000, "size": 10},
                    {"containerID": 5, "hostID": 200000, "size": 10}
                ]);
                c["linux"]["gidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            }),
        ),
        (
            "linux.uidMappings/gidMappings need a new user namespace",
            Box::new(|c: &mut Value| {
                c["linux"]["uidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                c["linux"]["gidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            }),
        ),
        (
            "linux.timeOffsets needs a new time namespace",
            Box::new(|c: &mut Value| {
                c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 5, "nanosecs": 0}});
            }),
        ),
        (
            "linux.timeOffsets: unknown clock \"realtime\"",
            Box::new(|c: &mut Value| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "time"}));
                c["linux"]["timeOffsets"] = json!({"realtime": {"secs": 5, "nanosecs": 0}});
            }),
        ),
        (
            "unsupported: linux.resources.network",
            Box::new(|c: &mut Value| {
                c["linux"]["resources"]["network"] = json!({"classID": 1048577});
            }),
        ),
        (
            "unsupported: process.apparmorProfile",
            Box::new(|c: &mut Value| {
                c["process"]["apparmorProfile"] = json!("docker-default");
            }),
        ),
    ];
    for (want, f) in cases {
        let b = Bundle::new(imp, "unsup2");
        b.config(&["true"], |c| f(c));
        let o = b.create(&[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{want}: accepted");
        assert!(err.contains(want), "{want}: {err}");
        assert_eq!(b.state_entries(), 0, "{want}");
        assert!(b.cgroup_parents().is_empty(), "{want}");
    }
    let o = b.rt(&["--systemd-cgroup", "list"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unsupported: --systemd-cgroup"));
}

/// Hidden switch of berth-runtime: enforce the device rules with the cgroup v2 eBPF filter
/// (on the container's cgroup in the cgroup2 mount) even on a hybrid host.
const DEVICE_BPF_ENV: &str = "BERTH_RUNTIME_CGROUP_DEVICE_BPF";

/// Runs `body` for berth-runtime only (runc has no switch to force its eBPF device filter
/// on a hybrid host), printing why runc is skipped.
fn each_berth_with_device_bpf(body: impl Fn(&Impl)) {
    each(|imp| {
        if imp.name != "berth" {
            eprintln!(
                "[{}] skipped: cannot force the cgroup v2 eBPF device filter",
                imp.name
            );
            return;
        }
        let has_v2 = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(" - cgroup2 "));
        if !has_v2 {
            eprintln!("[{}] skipped: no cgroup2 mount", imp.name);
            return;
        }
        body(imp)
    });
}

/// `create` with the eBPF device filter forced; on a host with a v1 devices hierarchy it
/// also checks that the v1 controller was left open ("a *:* rwm"), so any denial the
/// container sees comes from the eBPF program.
fn create_with_device_bpf(b: &Bundle, extra: &[&str]) {
    let out = std::fs::File::create(b.dir.join("out.txt")).unwrap();
    let err = std::fs::File::create(b.dir.join("err.txt")).unwrap();
    let mut args = vec!["create", "-b", b.dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(&b.id);
    let st = b
        .cmd(&args)
        .env(DEVICE_BPF_ENV, "1")
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "create: {}",
        std::fs::read_to_string(b.dir.join("err.txt")).unwrap_or_default()
    );
    let v1 = Path::new("/sys/fs/cgroup/devices")
        .join(&b.cg_parent)
        .join(&b.id)
        .join("devices.list");
    if v1.exists() {
        let list = std::fs::read_to_string(&v1).unwrap();
        assert_eq!(list.trim(), "a *:* rwm", "v1 devices cgroup was written");
        let uni = Path::new("/sys/fs/cgroup/unified")
            .join(&b.cg_parent)
            .join(&b.id)
            .join("cgroup.procs");
        let procs = std::fs::read_to_string(&uni).unwrap_or_default();
        assert!(
            !procs.trim().is_empty(),
            "container not in {}",
            uni.display()
        );
    }
}

/// Creates, starts and waits for the container; returns what it printed (stdout+stderr).
fn run_with_device_bpf(b: &Bundle) -> String {
    create_with_device_bpf(b, &[]);
    assert!(b.rt(&["start", &b.id]).status.success());
    b.wait_status("stopped");
    let err = std::fs::read_to_string(b.dir.join("err.txt")).unwrap_or_default();
    format!("{}{err}", b.out_file())
}

#[test]
fn device_bpf_filter_enforces_the_rules() {
    each_berth_with_device_bpf(|imp| {
        // (extra rules after the Docker-like list, whether writing 1:11 must work)
        let cases: [(Vec<Value>, bool); 3] = [
            (vec![], false),
            (
                vec![json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"})],
                true,
            ),
            (
                vec![
                    json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}),
                    json!({"allow": false, "type": "c", "major": 1, "minor": 11, "access": "w"}),
                ],
                false,
            ),
        ];
        // Writing /dev/kmsg needs no capability unless the host turned it off.
        let kmsg_on = std::fs::read_to_string("/proc/sys/kernel/printk_devkmsg")
            .map(|s| s.trim() != "off")
            .unwrap_or(true);
        for (i, (extra, kmsg_w)) in cases.into_iter().enumerate() {
            let b = Bundle::new(imp, &format!("devbpf{i}"));
            let script = "mknod /dev/xkmsg c 1 11 && echo mknod-ok; \
                echo x > /dev/null && echo null-ok; \
                mknod /dev/xnull c 1 3 && echo x > /dev/xnull && echo xnull-ok; \
                test \"$(head -c 3 /dev/zero | wc -c)\" -eq 3 && echo zero-ok; \
                (: 4>/dev/xkmsg) 2>&1 && echo kmsg-w-ok; \
                mknod /dev/xloop b 7 0 && echo mknod-b-ok; \
                (: 5</dev/xloop) 2>&1 && echo loop-r-ok; \
                true";
            b.config(&["sh", "-c", script], |c| {
                let devs = c["linux"]["resources"]["devices"].as_array_mut().unwrap();
                devs.extend(extra);
            });
            let out = run_with_device_bpf(&b);
            for want in ["mknod-ok", "null-ok", "xnull-ok", "zero-ok", "mknod-b-ok"] {
                assert!(out.contains(want), "case {i}: no {want} in {out}");
            }
            // Block devices are never allowed beyond mknod: the open fails with EPERM
            // (without the filter it would be ENXIO or succeed).
            assert!(!out.contains("loop-r-ok"), "case {i}: {out}");
            assert!(
                out.lines()
                    .any(|l| l.contains("xloop") && l.contains("Operation not permitted")),
                "case {i}: {out}"
            );
            if kmsg_w {
                if kmsg_on {
                    assert!(out.contains("kmsg-w-ok"), "case {i}: {out}");
                }
            } else {
                assert!(!out.contains("kmsg-w-ok"), "case {i}: {out}");
                assert!(
                    out.lines()
                        .any(|l| l.contains("xkmsg") && l.contains("Operation not permitted")),
                    "case {i}: {out}"
                );
            }
            assert!(b.rt(&["delete", &b.id]).status.success());
        }
    });
}

#[test]
fn device_bpf_filter_default_rules_allow_standard_nodes_and_pty() {
    each_berth_with_device_bpf(|imp| {
        let b = Bundle::new(imp, "devbpftty");
        b.config(
            &[
                "sh",
                "-c",
                "echo x > /dev/null && test \"$(head -c 2 /dev/zero | wc -c)\" -eq 2 && \
                 test \"$(head -c 8 /dev/urandom | wc -c)\" -eq 8 && echo std-ok; \
                 echo via-tty > /dev/tty && echo tty-ok; \
                 test -t 0 && echo stdin-tty; echo done-all",
            ],
            |c| {
                c["process"]["terminal"] = json!(true);
            },
        );
        let sock_path = b.dir.join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
        let th = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            recv_fd(&s)
        });
        create_with_device_bpf(&b, &["--console-socket", sock_path.to_str().unwrap()]);
        let master = th.join().unwrap();
        assert!(b.rt(&["start", &b.id]).status.success());
        let mut f = std::fs::File::from(master);
        let s = read_until(&mut f, "done-all", 10);
        for want in ["std-ok", "via-tty", "tty-ok", "stdin-tty", "done-all"] {
            assert!(s.contains(want), "[{}] no {want} in {s}", imp.name);
        }
        b.wait_status("stopped");
        assert!(b.rt(&["delete", &b.id]).status.success());
    });
}

/// Seconds of /proc/uptime (boottime) from its text.
fn uptime_secs(s: &str) -> f64 {
    s.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("bad /proc/uptime: {s:?}"))
}

/// True when the runtime lists the time namespace in `features` (runc 1.1 has none).
fn supports_time_ns(imp: &Impl) -> bool {
    let o = Command::new(&imp.bin).arg("features").output().unwrap();
    let f: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    f["linux"]["namespaces"]
        .as_array()
        .is_some_and(|a| a.contains(&json!("time")))
}

#[test]
fn time_namespace_offsets_and_join() {
    if !Path::new("/proc/self/timens_offsets").exists() {
        eprintln!("skipping: kernel without time namespaces");
        return;
    }
    each(|imp| {
        if !supports_time_ns(imp) {
            eprintln!(
                "skipping {}: no time namespace support in its features",
                imp.name
            );
            return;
        }
        const OFF: f64 = 1_000_000.0;
        let b = Bundle::new(imp, "timens");
        b.config(&["sleep", "100"], |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({
                "monotonic": {"secs": 1_000_000, "nanosecs": 0},
                "boottime": {"secs": 1_000_000, "nanosecs": 0}
            });
        });
        let o = b.create(&[]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let host = || uptime_secs(&std::fs::read_to_string("/proc/uptime").unwrap());
        let before = host();
        let o = b.rt(&["exec", &b.id, "cat", "/proc/uptime"]);
        let after = host();
        let inside = uptime_secs(&String::from_utf8_lossy(&o.stdout));
        assert!(
            inside >= before + OFF - 1.0 && inside <= after + OFF + 1.0,
            "[{}] uptime inside {inside}, host {before}..{after}",
            imp.name
        );
        // The runtime itself (and the host) keep the real clock.
        assert!(host() < before + OFF / 2.0);
        // A second container joins the first one's time namespace by path.
        let pid = b.state().unwrap()["pid"].as_i64().unwrap();
        let j = Bundle::new(imp, "timensj");
        j.config(&["cat", "/proc/uptime"], |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time", "path": format!("/proc/{pid}/ns/time")}));
        });
        let (code, out, err) = j.run();
        assert_eq!(code, 0, "[{}] {err}", imp.name);
        let joined = uptime_secs(&out);
        assert!(
            joined >= before + OFF - 1.0 && joined <= host() + OFF + 1.0,
            "[{}] joined uptime {joined}, host {before}",
            imp.name
        );
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

/// Adds a new user namespace mapping container ids 0..65536 to host 100000.. and hands the
/// rootfs to the mapped root.
fn with_userns(b: &Bundle, c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let st = Command::new("chown")
        .args(["-hR", "100000:100000"])
        .arg(b.dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn user_namespace_maps_root() {
    use std::os::unix::fs::MetadataExt;
    each(|imp| {
        let b = Bundle::new(imp, "userns");
        let hostfile = b.dir.join("hostfile");
        std::fs::write(&hostfile, "host\n").unwrap();
        std::fs::set_permissions(
            &hostfile,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        b.config(
            &[
                "sh",
                "-c",
                "id -u; id -g; cat /proc/self/uid_map; touch /created; \
                 (echo x >> /hostfile) 2>/dev/null && echo WROTE || echo DENIED; \
                 cat /hostfile",
            ],
            |c| {
                with_userns(&b, c);
                c["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/hostfile", "type": "bind",
                    "source": hostfile.to_str().unwrap(), "options": ["rbind", "rw"]
                }));
            },
        );
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {out} {err}", imp.name);
        let lines: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            lines,
            ["0", "0", "0 100000 65536", "DENIED", "host"],
            "[{}] {err}",
            imp.name
        );
        let m = std::fs::metadata(b.dir.join("rootfs/created")).unwrap();
        assert_eq!((m.uid(), m.gid()), (100000, 100000), "[{}]", imp.name);
        assert_eq!(std::fs::read_to_string(&hostfile).unwrap(), "host\n");
    });
}

#[test]
fn user_namespace_exec_joins_it() {
    each(|imp| {
        let b = Bundle::new(imp, "usernsx");
        b.config(&["sleep", "100"], |c| with_userns(&b, c));
        let o = b.create(&[]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let o = b.rt(&[
            "exec",
            &b.id,
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; touch /tmp/x; stat -c %u /tmp/x",
        ]);
        let out: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            out,
            ["0", "0 100000 65536", "0"],
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let o = b.rt(&[
            "exec",
            "--user",
            "1000:1000",
            &b.id,
            "sh",
            "-c",
            "id -u; id -g",
        ]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "1000\n1000\n",
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let host_uid = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(b.dir.join("rootfs/tmp/x")).unwrap().uid()
        };
        assert_eq!(host_uid, 100000, "[{}]", imp.name);
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

#[test]
fn user_namespace_readonly_root_and_devices() {
    each(|imp| {
        let b = Bundle::new(imp, "usernsro");
        b.config(
            &[
                "sh",
                "-c",
                "touch /x 2>/dev/null && echo W || echo RO; echo hi > /dev/null && echo NULL; \
                 head -c 4 /dev/zero | wc -c; cat /proc/self/gid_map",
            ],
            |c| {
                with_userns(&b, c);
                c["root"]["readonly"] = json!(true);
            },
        );
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {out} {err}", imp.name);
        let lines: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            lines,
            ["RO", "NULL", "4", "0 100000 65536"],
            "[{}] {err}",
            imp.name
        );
    });
}

#[test]
fn user_and_time_namespaces_together() {
    if !Path::new("/proc/self/timens_offsets").exists() {
        eprintln!("skipping: kernel without time namespaces");
        return;
    }
    each(|imp| {
        if !supports_time_ns(imp) {
            eprintln!(
                "skipping {}: no time namespace support in its features",
                imp.name
            );
            return;
        }
        let b = Bundle::new(imp, "usertime");
        b.config(&["sleep", "100"], |c| {
            with_userns(&b, c);
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 2_000_000, "nanosecs": 0}});
        });
        let o = b.create(&[]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let host = uptime_secs(&std::fs::read_to_string("/proc/uptime").unwrap());
        let o = b.rt(&["exec", &b.id, "sh", "-c", "id -u; cat /proc/uptime"]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut l = out.lines();
        assert_eq!(
            l.next(),
            Some("0"),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let inside = uptime_secs(l.next().unwrap_or(""));
        assert!(
            inside >= host + 2_000_000.0 - 1.0,
            "[{}] uptime {inside}, host {host}",
            imp.name
        );
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

#[test]
fn user_namespace_joined_by_path() {
    each(|imp| {
        let a = Bundle::new(imp, "usernsa");
        a.config(&["sleep", "100"], |c| with_userns(&a, c));
        let o = a.create(&[]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let pid = a.state().unwrap()["pid"].as_i64().unwrap();
        let want = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
        let b = Bundle::new(imp, "usernsb");
        b.config(
            &[
                "sh",
                "-c",
                "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; touch /made",
            ],
            |c| {
                // runc 1.1 wants the maps repeated; berth ignores them for a joined namespace.
                with_userns(&b, c);
                let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                ns.pop();
                ns.push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
            },
        );
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "[{}] {out} {err}", imp.name);
        let lines: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            lines,
            [
                "0".to_string(),
                "0 100000 65536".into(),
                want.to_string_lossy().into_owned()
            ],
            "[{}] {err}",
            imp.name
        );
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(b.dir.join("rootfs/made")).unwrap();
        assert_eq!(m.uid(), 100000, "[{}]", imp.name);
        assert!(a.rt(&["delete", "--force", &a.id]).status.success());
    });
}

// ---- issue 17: what containerd's CRI asks of a runtime (also run against crun) ----

/// Why crun cannot run containers on this host (None: it can), probed once with a real run.
fn crun_unusable() -> Option<String> {
    static PROBE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            if !Path::new("/usr/bin/crun").exists() {
                return Some("not installed".into());
            }
            let imp = Impl {
                name: "crun",
                bin: PathBuf::from("/usr/bin/crun"),
            };
            let b = Bundle::new(&imp, "probe");
            b.config(&["true"], |_| {});
            let (code, _, err) = b.run();
            (code != 0).then(|| err.trim().to_string())
        })
        .clone()
}

/// berth-runtime, runc and (where it can run here) crun.
fn each_with_crun(body: impl Fn(&Impl)) {
    each(&body);
    if !is_root() || std::env::var_os("BERTH_SKIP_CRUN").is_some() {
        return;
    }
    match crun_unusable() {
        None => {
            eprintln!("--- crun");
            body(&Impl {
                name: "crun",
                bin: PathBuf::from("/usr/bin/crun"),
            });
        }
        Some(why) => eprintln!("--- crun skipped on this host: {why}"),
    }
}

/// The five capability sets of `/proc/<who>/status` as printed by `grep Cap`.
fn cap_lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

const NO_CAPS: [&str; 5] = [
    "CapAmb: 0000000000000000",
    "CapBnd: 0000000000000000",
    "CapEff: 0000000000000000",
    "CapInh: 0000000000000000",
    "CapPrm: 0000000000000000",
];

#[test]
fn empty_or_absent_capabilities_drop_all_in_init_and_exec() {
    each_with_crun(|imp| {
        // Init: `"capabilities": {}` and no capabilities object at all.
        for absent in [false, true] {
            let b = Bundle::new(imp, "capsnone");
            b.config(&["grep", "Cap", "/proc/self/status"], |c| {
                if absent {
                    c["process"].as_object_mut().unwrap().remove("capabilities");
                } else {
                    c["process"]["capabilities"] = json!({});
                }
            });
            let (code, out, err) = b.run();
            assert_eq!(code, 0, "[{}] absent={absent} {err}", imp.name);
            assert_eq!(cap_lines(&out), NO_CAPS, "[{}] absent={absent}", imp.name);
        }
        // Exec into a container holding Docker's default set.
        let b = Bundle::new(imp, "capsexec");
        b.config(&["sleep", "100"], |_| {});
        assert!(b.create(&[]).status.success(), "[{}]", imp.name);
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let init = b.rt(&["exec", &b.id, "grep", "Cap", "/proc/1/status"]);
        let init_caps = cap_lines(&String::from_utf8_lossy(&init.stdout));
        assert_eq!(init_caps.len(), 5, "[{}] {init:?}", imp.name);
        assert_ne!(init_caps, NO_CAPS, "[{}]", imp.name);
        let proc_json = |caps: Option<Value>| {
            let mut p = json!({
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": ["grep", "Cap", "/proc/self/status"],
                "env": ["PATH=/bin"],
                "cwd": "/"
            });
            if let Some(c) = caps {
                p["capabilities"] = c;
            }
            let f = b.dir.join("process.json");
            std::fs::write(&f, p.to_string()).unwrap();
            f
        };
        // `{}`: nothing at all.
        let f = proc_json(Some(json!({})));
        let o = b.rt(&["exec", "-p", f.to_str().unwrap(), &b.id]);
        assert!(o.status.success(), "[{}] {:?}", imp.name, o);
        assert_eq!(
            cap_lines(&String::from_utf8_lossy(&o.stdout)),
            NO_CAPS,
            "[{}]",
            imp.name
        );
        // No capabilities object: the container's (what the init got, minus ambient use).
        let f = proc_json(None);
        let o = b.rt(&["exec", "-p", f.to_str().unwrap(), &b.id]);
        assert!(o.status.success(), "[{}] {:?}", imp.name, o);
        assert_eq!(
            cap_lines(&String::from_utf8_lossy(&o.stdout)),
            init_caps,
            "[{}]",
            imp.name
        );
        // Only a bounding set: every other set empty, but root's execve gains the bounding
        // set back (the kernel's rule for uid 0) unless no_new_privs forbids the gain.
        let kill = "0000000000000020";
        for (nnp, gained) in [(false, kill), (true, "0000000000000000")] {
            let f = proc_json(Some(json!({"bounding": ["CAP_KILL"]})));
            let mut p: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            p["noNewPrivileges"] = json!(nnp);
            std::fs::write(&f, p.to_string()).unwrap();
            let o = b.rt(&["exec", "-p", f.to_str().unwrap(), &b.id]);
            assert!(o.status.success(), "[{}] {:?}", imp.name, o);
            assert_eq!(
                cap_lines(&String::from_utf8_lossy(&o.stdout)),
                [
                    "CapAmb: 0000000000000000".to_string(),
                    format!("CapBnd: {kill}"),
                    format!("CapEff: {gained}"),
                    "CapInh: 0000000000000000".to_string(),
                    format!("CapPrm: {gained}"),
                ],
                "[{}] nnp={nnp}",
                imp.name
            );
        }
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
    });
}

/// Every cgroup hierarchy of this process: (mountpoint, own cgroup dir in it).
fn own_cgroup_dirs() -> Vec<(PathBuf, PathBuf)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let mp = PathBuf::from(pre[4]);
        let mut key: Vec<&str> = match post[0] {
            "cgroup2" => vec![],
            "cgroup" => post[2]
                .split(',')
                .filter(|o| {
                    o.starts_with("name=")
                        || !matches!(
                            *o,
                            "rw" | "ro" | "nosuid" | "nodev" | "noexec" | "relatime" | "xattr"
                        ) && !o.starts_with("release_agent=")
                            && *o != "clone_children"
                })
                .collect(),
            _ => continue,
        };
        key.sort_unstable();
        for l in own.lines() {
            let f: Vec<&str> = l.splitn(3, ':').collect();
            let mut ks: Vec<&str> = f[1].split(',').filter(|c| !c.is_empty()).collect();
            ks.sort_unstable();
            if ks == key {
                let rel = Path::new(f[2])
                    .strip_prefix(pre[3])
                    .unwrap_or(Path::new(""));
                out.push((mp.clone(), mp.join(rel)));
            }
        }
    }
    out
}

/// A cgroup `berth/<name>/run` in every hierarchy that runtime commands are started in,
/// so that a relative cgroupsPath lands under `berth/`. Removed (depth first) on drop.
struct RunnerCgroup {
    tops: Vec<PathBuf>,
    procs: Vec<std::ffi::CString>,
    /// (mountpoint, runner dir) per hierarchy.
    dirs: Vec<(PathBuf, PathBuf)>,
}

impl RunnerCgroup {
    fn new(name: &str) -> RunnerCgroup {
        let mut r = RunnerCgroup {
            tops: vec![],
            procs: vec![],
            dirs: vec![],
        };
        for (mp, _) in own_cgroup_dirs() {
            let top = mp.join("berth").join(name);
            let run = top.join("run");
            if std::fs::create_dir_all(&run).is_err() {
                continue;
            }
            for f in ["cpuset.cpus", "cpuset.mems"] {
                for d in [mp.join("berth"), top.clone(), run.clone()] {
                    if let Ok(v) = std::fs::read_to_string(d.parent().unwrap().join(f)) {
                        if std::fs::read_to_string(d.join(f)).is_ok_and(|x| x.trim().is_empty()) {
                            let _ = std::fs::write(d.join(f), v.trim());
                        }
                    }
                }
            }
            r.procs
                .push(std::ffi::CString::new(run.join("cgroup.procs").to_str().unwrap()).unwrap());
            r.tops.push(top);
            r.dirs.push((mp, run));
        }
        r
    }

    /// A runtime command that starts inside the runner cgroups.
    fn cmd(&self, b: &Bundle, args: &[&str]) -> Command {
        use std::os::unix::process::CommandExt;
        let mut c = b.cmd(args);
        let procs = self.procs.clone();
        // SAFETY: only open/write/close (async-signal-safe) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd >= 0 {
                        libc::write(fd, b"0".as_ptr().cast(), 1);
                        libc::close(fd);
                    }
                }
                Ok(())
            });
        }
        c
    }

    fn rt(&self, b: &Bundle, args: &[&str]) -> Output {
        self.cmd(b, args).output().unwrap()
    }
}

fn rmdir_tree(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(d);
}

impl Drop for RunnerCgroup {
    fn drop(&mut self) {
        for t in &self.tops {
            rmdir_tree(t);
        }
    }
}

#[test]
fn systemd_style_cgroups_path_is_a_path_under_the_callers_cgroup() {
    each_with_crun(|imp| {
        let b = Bundle::new(imp, "slice");
        let runner = RunnerCgroup::new(&b.cg_parent.replace("berth/", ""));
        let leaf = format!("test.slice:cri-containerd:{}", b.id);
        b.config(&["sleep", "100"], |c| {
            c["linux"]["cgroupsPath"] = json!(leaf);
            c["linux"]["resources"]["memory"] = json!({"limit": 48 << 20});
            c["linux"]["resources"]["pids"] = json!({"limit": 33});
        });
        // The container keeps the create's stdio: files, never pipes we would wait on.
        let out = std::fs::File::create(b.dir.join("out.txt")).unwrap();
        let err = std::fs::File::create(b.dir.join("err.txt")).unwrap();
        let st = runner
            .cmd(&b, &["create", "-b", b.dir.to_str().unwrap(), &b.id])
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "[{}] {}",
            imp.name,
            std::fs::read_to_string(b.dir.join("err.txt")).unwrap_or_default()
        );
        assert!(runner.rt(&b, &["start", &b.id]).status.success());
        b.wait_status("running");
        let pid = b.state().unwrap()["pid"].as_i64().unwrap();
        // cgroup v1: <own cgroup>/<path> per controller; cgroup v2: below the own cgroup's
        // parent (runc's fs2), here `berth/<name>`.
        let pure_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let mut checked = 0;
        for (mp, run) in &runner.dirs {
            let base = if pure_v2 {
                run.parent().unwrap().to_path_buf()
            } else {
                run.clone()
            };
            let dir = base.join(&leaf);
            let name = mp.file_name().unwrap().to_string_lossy().to_string();
            let controllers = ["memory", "pids"];
            if !pure_v2 && !controllers.contains(&name.as_str()) {
                continue;
            }
            let procs = std::fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_else(|e| panic!("[{}] {}: {e}", imp.name, dir.display()));
            assert!(
                procs.lines().any(|l| l.trim() == pid.to_string()),
                "[{}] {} has {procs:?}, not {pid}",
                imp.name,
                dir.display()
            );
            let (file, want) = match (pure_v2, name.as_str()) {
                (true, _) => ("pids.max", "33".to_string()),
                (false, "memory") => ("memory.limit_in_bytes", (48u64 << 20).to_string()),
                _ => ("pids.max", "33".to_string()),
            };
            assert_eq!(
                std::fs::read_to_string(dir.join(file)).unwrap().trim(),
                want,
                "[{}] {}",
                imp.name,
                dir.display()
            );
            checked += 1;
        }
        assert!(checked > 0, "[{}] no hierarchy checked", imp.name);
        let o = runner.rt(&b, &["delete", "--force", &b.id]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        for (_, run) in &runner.dirs {
            let base = if pure_v2 {
                run.parent().unwrap().to_path_buf()
            } else {
                run.clone()
            };
            assert!(
                !base.join(&leaf).exists(),
                "[{}] {} left",
                imp.name,
                base.display()
            );
            assert!(
                run.exists(),
                "[{}] the caller's cgroup {} went",
                imp.name,
                run.display()
            );
        }
    });
}

/// A host directory bind-mounted onto itself as its own shared peer group; unmounted
/// (with everything below it) on drop.
struct SharedMount {
    dir: PathBuf,
}

fn sh_ok(script: &str) {
    let o = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl SharedMount {
    fn new(dir: PathBuf) -> SharedMount {
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let m = SharedMount { dir: dir.clone() };
        sh_ok(&format!(
            "mount --bind {d} {d} && mount --make-private {d} && mount --make-shared {d}"
        ));
        m
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-R")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn host_mounts_reach_the_container_with_rslave_and_rshared() {
    each_with_crun(|imp| {
        for (root_prop, opt, visible) in [
            ("rslave", "rslave", true),
            ("rshared", "rshared", true),
            ("", "rslave", true),
            ("rslave", "rprivate", false),
        ] {
            let b = Bundle::new(imp, "prop");
            let shared = SharedMount::new(b.dir.join("shared"));
            b.config(&["sleep", "100"], |c| {
                if !root_prop.is_empty() {
                    c["linux"]["rootfsPropagation"] = json!(root_prop);
                }
                c["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/mnt/shared",
                    "type": "bind",
                    "source": shared.dir,
                    "options": ["rbind", opt]
                }));
            });
            let o = b.create(&[]);
            assert!(
                o.status.success(),
                "[{}] {}",
                imp.name,
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(b.rt(&["start", &b.id]).status.success());
            b.wait_status("running");
            // After start, the host mounts a tmpfs below the shared source.
            let sub = shared.dir.join("sub");
            std::fs::create_dir_all(&sub).unwrap();
            sh_ok(&format!(
                "mount -t tmpfs berth-prop {0} && touch {0}/marker",
                sub.display()
            ));
            let o = b.rt(&[
                "exec",
                &b.id,
                "sh",
                "-c",
                "test -f /mnt/shared/sub/marker && echo seen || echo unseen",
            ]);
            let want = if visible { "seen\n" } else { "unseen\n" };
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                want,
                "[{}] rootfsPropagation={root_prop:?} mount {opt}: {}",
                imp.name,
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(b.rt(&["delete", "--force", &b.id]).status.success());
            drop(shared);
        }
    });
}

/// The value of a cgroup file of the container's init, found through /proc/<pid>/cgroup
/// (`v1` in the controller's hierarchy, `v2` on a pure cgroup v2 host).
fn init_cgroup_file(pid: i64, ctrl: &str, v1: &str, v2: &str) -> Option<String> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let p = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
        let f = Path::new("/sys/fs/cgroup")
            .join(p.trim_start_matches('/'))
            .join(v2);
        return std::fs::read_to_string(f)
            .ok()
            .map(|s| s.trim().to_string());
    }
    for l in cg.lines() {
        let f: Vec<&str> = l.splitn(3, ':').collect();
        if f.len() == 3 && f[1].split(',').any(|c| c == ctrl) {
            let mp = std::fs::read_dir("/sys/fs/cgroup")
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == ctrl))
                })?;
            let file = mp.join(f[2].trim_start_matches('/')).join(v1);
            return std::fs::read_to_string(file)
                .ok()
                .map(|s| s.trim().to_string());
        }
    }
    None
}

#[test]
fn update_changes_resources_live_and_keeps_state_consistent() {
    each_with_crun(|imp| {
        let b = Bundle::new(imp, "upd");
        b.config(&["sleep", "100"], |c| {
            c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
            c["linux"]["resources"]["cpu"] =
                json!({"shares": 512, "quota": 50000, "period": 100000});
            c["linux"]["resources"]["pids"] = json!({"limit": 50});
        });
        assert!(b.create(&[]).status.success(), "[{}]", imp.name);
        assert!(b.rt(&["start", &b.id]).status.success());
        b.wait_status("running");
        let pid = b.state().unwrap()["pid"].as_i64().unwrap();
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let mem = || init_cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max");
        let pids = || init_cgroup_file(pid, "pids", "pids.max", "pids.max");
        let quota = || init_cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
        let shares = || init_cgroup_file(pid, "cpu", "cpu.shares", "cpu.weight");
        assert_eq!(
            mem().as_deref(),
            Some(&*(64u64 << 20).to_string()),
            "[{}]",
            imp.name
        );
        // Flags.
        let o = b.rt(&[
            "update",
            "--memory",
            "128m",
            "--cpu-share",
            "256",
            "--cpu-quota",
            "20000",
            "--pids-limit",
            "20",
            "--cpuset-cpus",
            "0",
            &b.id,
        ]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            mem().as_deref(),
            Some(&*(128u64 << 20).to_string()),
            "[{}]",
            imp.name
        );
        assert_eq!(pids().as_deref(), Some("20"), "[{}]", imp.name);
        if v2 {
            assert_eq!(quota().as_deref(), Some("20000 100000"), "[{}]", imp.name);
        } else {
            assert_eq!(quota().as_deref(), Some("20000"), "[{}]", imp.name);
            assert_eq!(shares().as_deref(), Some("256"), "[{}]", imp.name);
        }
        assert_eq!(
            init_cgroup_file(pid, "cpuset", "cpuset.cpus", "cpuset.cpus").as_deref(),
            Some("0"),
            "[{}]",
            imp.name
        );
        // The resources document on stdin (what containerd and berthd send).
        let mut c = b.cmd(&["update", "--resources", "-", &b.id]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        {
            use std::io::Write;
            let mut sin = child.stdin.take().unwrap();
            sin.write_all(json!({"memory": {"limit": 96u64 << 20}, "pids": {"limit": 30}, "cpu": {"shares": 0}}).to_string().as_bytes()).unwrap();
        }
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            mem().as_deref(),
            Some(&*(96u64 << 20).to_string()),
            "[{}]",
            imp.name
        );
        assert_eq!(pids().as_deref(), Some("30"), "[{}]", imp.name);
        if !v2 {
            assert_eq!(
                shares().as_deref(),
                Some("256"),
                "[{}] 0 must leave shares",
                imp.name
            );
        }
        // From a file, unlimited pids.
        let f = b.dir.join("res.json");
        std::fs::write(&f, json!({"pids": {"limit": -1}}).to_string()).unwrap();
        let o = b.rt(&["update", "-r", f.to_str().unwrap(), &b.id]);
        assert!(
            o.status.success(),
            "[{}] {}",
            imp.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(pids().as_deref(), Some("max"), "[{}]", imp.name);
        assert_eq!(
            mem().as_deref(),
            Some(&*(96u64 << 20).to_string()),
            "[{}]",
            imp.name
        );
        // The container still works: ps, exec, stats; then delete removes everything.
        let o = b.rt(&["ps", "--format", "json", &b.id]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        assert!(
            v.as_array()
                .is_some_and(|a| a.iter().any(|p| p.as_i64() == Some(pid))),
            "[{}] ps: {v}",
            imp.name
        );
        let o = b.rt(&["events", "--stats", &b.id]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        assert_eq!(
            v["data"]["memory"]["usage"]["limit"].as_u64(),
            Some(96 << 20),
            "[{}] {v}",
            imp.name
        );
        if imp.name == "berth" {
            // Fields that cannot change live are refused by name, unknown ones too.
            for (doc, word) in [
                (
                    json!({"devices": [{"allow": true, "access": "rwm"}]}),
                    "linux.resources.devices",
                ),
                (json!({"memory": {"swappiness": 3}}), "memory.swappiness"),
                (json!({"memroy": {"limit": 1}}), "memroy"),
            ] {
                std::fs::write(&f, doc.to_string()).unwrap();
                let o = b.rt(&["update", "-r", f.to_str().unwrap(), &b.id]);
                assert!(!o.status.success(), "{doc} accepted");
                assert!(String::from_utf8_lossy(&o.stderr).contains(word), "{:?}", o);
            }
            let o = b.rt(&["update", "-r", f.to_str().unwrap(), "--memory", "1m", &b.id]);
            assert!(!o.status.success(), "--resources with flags accepted");
            assert_eq!(mem().as_deref(), Some(&*(96u64 << 20).to_string()));
            // The saved config follows, so a later exec sees the same limits.
            let st: Value = serde_json::from_slice(
                &std::fs::read(b.root.join(&b.id).join("state.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(
                st["config"]["linux"]["resources"]["memory"]["limit"].as_u64(),
                Some(96 << 20),
                "{st}"
            );
        }
        assert!(b.rt(&["delete", "--force", &b.id]).status.success());
        assert!(b.state().is_none());
        assert!(b.cgroup_parents().iter().all(|p| std::fs::read_dir(p)
            .map(|rd| rd.flatten().all(|e| !e.path().is_dir()))
            .unwrap_or(true)));
    });
}
