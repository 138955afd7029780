//! berth-runtime as a drop-in for runc under real engines: Debian's dockerd (with its own
//! containerd), podman and containerd's `ctr`. Each test starts private daemons in a temp dir
//! (own roots, state dirs and sockets; no bridge, no iptables), imports a busybox image made
//! locally, and removes every daemon (by PID), mount and cgroup it made. A test whose engine is
//! not installed prints why and returns. Needs root.

use integration::pty::PtySession;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn runtime_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime"))
}

fn is_root() -> bool {
    // SAFETY: geteuid never fails.
    unsafe { libc::geteuid() == 0 }
}

/// The first of `cands` that exists.
fn find_bin(cands: &[&str]) -> Option<PathBuf> {
    cands.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Returns the binaries, or prints why the test is skipped.
fn need(test: &str, bins: &[(&str, &[&str])]) -> Option<Vec<PathBuf>> {
    if !is_root() {
        eprintln!("skipping {test}: needs root");
        return None;
    }
    let mut out = Vec::new();
    for (name, cands) in bins {
        match find_bin(cands) {
            Some(p) => out.push(p),
            None => {
                eprintln!("skipping {test}: {name} is not installed");
                return None;
            }
        }
    }
    Some(out)
}

fn uniq(tag: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}{}{:x}", std::process::id(), t % 0xfffff)
}

/// Output of a command: (exit code, stdout, stderr).
fn run(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs and asserts success; returns stdout.
fn ok(cmd: &mut Command) -> String {
    let dbg = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{dbg}\nstdout: {out}\nstderr: {err}");
    out
}

/// A temp dir that owns daemons, mounts and a cgroup parent; cleans all of them on drop.
struct Scratch {
    dir: PathBuf,
    /// cgroupsPath parent, relative to each hierarchy root (under `berth/`).
    cg_parent: String,
    daemons: Vec<Child>,
    /// Pids of daemons that detach themselves (read from pid files).
    pidfiles: Vec<PathBuf>,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let u = uniq(tag);
        let dir = std::env::temp_dir().join(format!("berth-eng-{u}"));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            cg_parent: format!("berth/{u}"),
            daemons: Vec::new(),
            pidfiles: Vec::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// Starts a daemon with output to `<name>.log`.
    fn spawn(&mut self, name: &str, cmd: &mut Command) {
        let log = std::fs::File::create(self.path(&format!("{name}.log"))).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.daemons.push(child);
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }

    /// Starts a private containerd (no CRI plugin) and returns its socket.
    fn containerd(&mut self) -> PathBuf {
        self.containerd_in(&[])
    }

    /// Like [`Scratch::containerd`], with containerd (so its shims and the runtimes they
    /// run) started inside the cgroups whose `cgroup.procs` files are `procs`.
    fn containerd_in(&mut self, procs: &[std::ffi::CString]) -> PathBuf {
        let sock = self.path("ctd.sock");
        let cfg = format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{}\"\n",
            self.path("ctd-root").display(),
            self.path("ctd-state").display(),
            sock.display()
        );
        std::fs::write(self.path("containerd.toml"), cfg).unwrap();
        let cfgp = self.path("containerd.toml");
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(cfgp);
        let procs = procs.to_vec();
        // SAFETY: only open/write/close (async-signal-safe) between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
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
        self.spawn("containerd", &mut cmd);
        wait_for(
            || sock.exists(),
            Duration::from_secs(30),
            || format!("containerd did not start: {}", self.log("containerd")),
        );
        sock
    }

    /// Every cgroup directory under our parent, deepest first.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            collect_dirs(&e.path().join(&self.cg_parent), &mut out);
        }
        out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        out
    }
}

fn collect_dirs(p: &Path, out: &mut Vec<PathBuf>) {
    if !p.is_dir() {
        return;
    }
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_dirs(&e.path(), out);
        }
    }
    out.push(p.to_path_buf());
}

fn wait_for(mut f: impl FnMut() -> bool, t: Duration, msg: impl Fn() -> String) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < t, "{}", msg());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop_pid(pid: i32) {
    // SAFETY: signals to a daemon we started (pid from our own Child or pid file).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let t0 = Instant::now();
    // SAFETY: kill(pid, 0) only probes.
    while unsafe { libc::kill(pid, 0) } == 0 && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
        // Reap it if it is our child.
        // SAFETY: non-blocking waitpid on a specific pid.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for pf in &self.pidfiles {
            if let Some(pid) = std::fs::read_to_string(pf)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                stop_pid(pid);
            }
        }
        // Daemons in reverse start order (dockerd before containerd).
        for c in self.daemons.iter_mut().rev() {
            stop_pid(c.id() as i32);
            let _ = c.wait();
        }
        // Shims and monitors the daemons left behind (their command lines name our dir).
        let prefix = self.dir.to_string_lossy().into_owned();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&prefix) {
                // SAFETY: a process started (indirectly) by this test for this dir.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        // Leftover container processes (a daemon killed hard leaves its shims' children).
        for d in self.cgroup_dirs() {
            if let Ok(p) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for pid in p.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: a process inside our own test cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: detach a mount under our temp dir.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        for d in self.cgroup_dirs() {
            let _ = std::fs::remove_dir(d);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A docker archive (`docker save` layout) of the busybox rootfs, made without any engine.
fn docker_archive(s: &Scratch, tag: &str) -> PathBuf {
    let layer = integration::busybox_tar();
    let work = s.path("archive");
    std::fs::create_dir_all(&work).unwrap();
    let sha = |p: &Path| -> String {
        let out = ok(Command::new("sha256sum").arg(p));
        out.split_whitespace().next().unwrap().to_string()
    };
    let diff = sha(&layer);
    std::fs::create_dir_all(work.join(&diff)).unwrap();
    std::fs::copy(&layer, work.join(&diff).join("layer.tar")).unwrap();
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff}")]}
    });
    let cfg_path = work.join("config.json");
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let cfg_name = format!("{}.json", sha(&cfg_path));
    std::fs::rename(&cfg_path, work.join(&cfg_name)).unwrap();
    let manifest = serde_json::json!([{
        "Config": cfg_name, "RepoTags": [tag], "Layers": [format!("{diff}/layer.tar")]
    }]);
    std::fs::write(
        work.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let out = s.path("image.tar");
    ok(Command::new("tar")
        .arg("-C")
        .arg(&work)
        .arg("-cf")
        .arg(&out)
        .arg("."));
    out
}

#[test]
fn dockerd_runs_containers_on_berth_runtime() {
    let Some(bins) = need(
        "dockerd_runs_containers_on_berth_runtime",
        &[
            ("dockerd", &["/usr/sbin/dockerd", "/usr/bin/dockerd"]),
            ("containerd", &["/usr/bin/containerd"]),
            ("docker", &["/usr/local/bin/docker", "/usr/bin/docker"]),
        ],
    ) else {
        return;
    };
    let docker_bin = bins[2].clone();
    let key = Path::new("/etc/docker/key.json");
    let key_existed = key.exists();
    let mut s = Scratch::new("dk");
    let ctd = s.containerd();
    let sock = s.path("docker.sock");
    let pidfile = s.path("dockerd.pid");
    let cgp = format!("/{}", s.cg_parent);
    s.spawn(
        "dockerd",
        Command::new(&bins[0])
            .arg(format!("--containerd={}", ctd.display()))
            .arg(format!("--data-root={}", s.path("data").display()))
            .arg(format!("--exec-root={}", s.path("exec").display()))
            .arg(format!("--pidfile={}", pidfile.display()))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--storage-driver=overlay2", "--bridge=none"])
            .args(["--iptables=false", "--ip6tables=false", "--ip-masq=false"])
            .args(["--userland-proxy=false"])
            .arg(format!("--cgroup-parent={cgp}"))
            .arg("--add-runtime")
            .arg(format!("berth={}", runtime_bin().display())),
    );
    let docker = |args: &[&str]| -> Command {
        let mut c = Command::new(&docker_bin);
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env("DOCKER_CONFIG", s.path("cli"))
            .args(args);
        c
    };
    wait_for(
        || run(&mut docker(&["version"])).0 == 0,
        Duration::from_secs(60),
        || format!("dockerd did not start: {}", s.log("dockerd")),
    );
    let img = "berthtest-bb:latest";
    let tar = integration::busybox_tar();
    ok(&mut docker(&["import", tar.to_str().unwrap(), img]));
    let base = ["--runtime", "berth", "--network", "none"];

    // run --rm in the foreground.
    let mut c = docker(&["run", "--rm"]);
    c.args(base).args([img, "sh", "-c", "echo hello $((40+2))"]);
    assert_eq!(ok(&mut c), "hello 42\n");

    // -d with a memory limit: the limit is in the container's cgroup, under our parent.
    let mut c = docker(&["run", "-d", "--name", "bd1", "--memory", "64m"]);
    c.args(base).args([img, "sleep", "1000"]);
    let id = ok(&mut c).trim().to_string();
    let pid = ok(&mut docker(&["inspect", "-f", "{{.State.Pid}}", "bd1"]))
        .trim()
        .to_string();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mem = cg
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
        .expect("memory cgroup of the container");
    assert!(
        mem.starts_with(&cgp),
        "container cgroup {mem} not under {cgp}"
    );
    assert!(mem.ends_with(&id), "{mem}");
    let lim = std::fs::read_to_string(format!("/sys/fs/cgroup/memory{mem}/memory.limit_in_bytes"))
        .unwrap();
    assert_eq!(lim.trim(), "67108864");
    // The container's processes are started by berth-runtime (it re-executes from a memfd).
    assert!(
        ok(&mut docker(&["info", "-f", "{{json .Runtimes}}"])).contains("berth"),
        "berth runtime not registered"
    );

    // exec: output and exit code.
    let out = ok(&mut docker(&[
        "exec",
        "bd1",
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/cmdline",
    ]));
    assert_eq!(out, "in-exec\nsleep\u{0}1000\u{0}");
    let (code, _, err) = run(&mut docker(&["exec", "bd1", "sh", "-c", "exit 4"]));
    assert_eq!(code, 4, "{err}");

    // stop.
    ok(&mut docker(&["stop", "-t", "1", "bd1"]));
    let st = ok(&mut docker(&["inspect", "-f", "{{.State.Status}}", "bd1"]));
    assert_eq!(st.trim(), "exited");
    ok(&mut docker(&["rm", "bd1"]));

    // -it on a real pty (console socket path of create).
    let mut c = docker(&["run", "-it", "--rm"]);
    c.args(base).args([img, "sh"]);
    let mut p = PtySession::spawn(c);
    assert!(
        p.expect("# ", Duration::from_secs(30)),
        "no prompt: {:?}",
        p.transcript
    );
    p.send("tty; echo $((6*7))x\n");
    assert!(
        p.expect("42x", Duration::from_secs(20)),
        "{:?}",
        p.transcript
    );
    assert!(p.transcript.contains("/dev/pts/0"), "{:?}", p.transcript);
    p.send("exit 3\n");
    assert_eq!(
        p.wait(Duration::from_secs(30)),
        Some(3),
        "{:?}",
        p.transcript
    );

    // Nothing was left running; the daemons and the image go with the scratch dir.
    let ps = ok(&mut docker(&["ps", "-aq"]));
    assert!(ps.trim().is_empty(), "{ps}");
    drop(s);
    if !key_existed && key.exists() {
        let _ = std::fs::remove_file(key);
    }
}

#[test]
fn podman_runs_containers_on_berth_runtime() {
    let Some(bins) = need(
        "podman_runs_containers_on_berth_runtime",
        &[("podman", &["/usr/bin/podman"])],
    ) else {
        return;
    };
    // podman's network backend makes /run/containers/networks even with --network none:
    // remove it again (only when empty and not there before).
    struct RunDirs(bool);
    impl Drop for RunDirs {
        fn drop(&mut self) {
            if !self.0 {
                let _ = std::fs::remove_dir("/run/containers/networks");
                let _ = std::fs::remove_dir("/run/containers");
            }
        }
    }
    let _rundirs = RunDirs(Path::new("/run/containers").exists());
    let s = Scratch::new("pm");
    let cgp = format!("/{}", s.cg_parent);
    let podman = |args: &[&str]| -> Command {
        let mut c = Command::new(&bins[0]);
        c.arg("--root")
            .arg(s.path("root"))
            .arg("--runroot")
            .arg(s.path("runroot"))
            .arg("--tmpdir")
            .arg(s.path("tmp"))
            .arg("--network-config-dir")
            .arg(s.path("net"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(["--events-backend", "none"])
            .arg("--runtime")
            .arg(runtime_bin())
            .args(args);
        c
    };
    let img = "localhost/berthtest-bb:latest";
    let tar = integration::busybox_tar();
    ok(&mut podman(&["import", "-q", tar.to_str().unwrap(), img]));
    // This machine's hard nofile limit is below podman's default: ask for what is allowed.
    let base = [
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--cgroup-parent",
        cgp.as_str(),
    ];
    let mut c = podman(&["run", "--rm"]);
    c.args(base).args([
        img,
        "sh",
        "-c",
        "echo hello $((40+2)); cat /proc/self/cgroup",
    ]);
    let out = ok(&mut c);
    assert!(out.starts_with("hello 42\n"), "{out}");

    let mut c = podman(&["run", "-d", "--name", "pm1"]);
    c.args(base).args([img, "sleep", "1000"]);
    ok(&mut c);
    let out = ok(&mut podman(&[
        "exec",
        "pm1",
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/cmdline",
    ]));
    assert_eq!(out, "in-exec\nsleep\u{0}1000\u{0}");
    let (code, _, err) = run(&mut podman(&["exec", "pm1", "sh", "-c", "exit 4"]));
    assert_eq!(code, 4, "{err}");
    ok(&mut podman(&["rm", "-f", "-t", "0", "pm1"]));
    let ps = ok(&mut podman(&["ps", "-aq"]));
    assert!(ps.trim().is_empty(), "{ps}");
    let _ = run(&mut podman(&["rmi", "-a", "-f"]));
}

#[test]
fn containerd_ctr_runs_containers_on_berth_runtime() {
    let Some(bins) = need(
        "containerd_ctr_runs_containers_on_berth_runtime",
        &[
            ("containerd", &["/usr/bin/containerd"]),
            ("ctr", &["/usr/bin/ctr"]),
        ],
    ) else {
        return;
    };
    let mut s = Scratch::new("ctr");
    let sock = s.containerd();
    let ns = "berthtest";
    let ctr = |args: &[&str]| -> Command {
        let mut c = Command::new(&bins[1]);
        c.arg("-a").arg(&sock).args(["-n", ns]).args(args);
        c
    };
    let img = "docker.io/berthtest/bb:latest";
    let archive = docker_archive(&s, img);
    ok(&mut ctr(&["image", "import", archive.to_str().unwrap()]));
    let id = uniq("c");
    let cg = format!("/{}/{id}", s.cg_parent);
    let rt = runtime_bin();
    let out = ok(&mut ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        rt.to_str().unwrap(),
        "--cgroup",
        &cg,
        img,
        &id,
        "sh",
        "-c",
        "echo hello $((40+2)); grep memory /proc/self/cgroup",
    ]));
    assert!(out.starts_with("hello 42\n"), "{out}");
    assert!(out.contains(&cg), "container not in {cg}: {out}");
    let left = ok(&mut ctr(&["containers", "ls", "-q"]));
    assert!(left.trim().is_empty(), "{left}");
}

/// `<mountpoint>/<cg_parent>/<leaf>` in every cgroup hierarchy (cpusets filled from the
/// parents); returns the `cgroup.procs` paths. [`Scratch`] removes them on drop.
fn runner_cgroups(s: &Scratch, leaf: &str) -> Vec<std::ffi::CString> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let mp = e.path();
        if !mp.join("cgroup.procs").exists() {
            continue;
        }
        let run = mp.join(&s.cg_parent).join(leaf);
        if std::fs::create_dir_all(&run).is_err() {
            continue;
        }
        let mut d = mp.clone();
        for c in Path::new(&s.cg_parent).join(leaf).components() {
            let parent = d.clone();
            d.push(c);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if std::fs::read_to_string(d.join(f)).is_ok_and(|v| v.trim().is_empty()) {
                    let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                    let _ = std::fs::write(d.join(f), v.trim());
                }
            }
        }
        out.push(std::ffi::CString::new(run.join("cgroup.procs").to_str().unwrap()).unwrap());
    }
    out
}

/// containerd's Tasks.Update over gRPC (`ctr` has no update verb): the protobuf request is
/// written by hand, the resources travel as JSON in an Any, as containerd's own client does.
fn containerd_update(sock: &Path, ns: &str, id: &str, resources: &serde_json::Value) {
    const SCRIPT: &str = r#"
import grpc, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data
sock, ns, cid, res = sys.argv[1:5]
url = b"types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
req = field(1, cid.encode()) + field(2, field(1, url) + field(2, res.encode()))
ch = grpc.insecure_channel("unix://" + sock)
call = ch.unary_unary("/containerd.services.tasks.v1.Tasks/Update")
call(req, metadata=[("containerd-namespace", ns)], timeout=30)
"#;
    ok(Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(sock)
        .arg(ns)
        .arg(id)
        .arg(resources.to_string()));
}

/// The cgroup of `pid` in the hierarchy of `ctrl` (from /proc/<pid>/cgroup).
fn cgroup_of(pid: i32, ctrl: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.splitn(3, ':').collect();
            (f.len() == 3 && f[1].split(',').any(|c| c == ctrl)).then(|| f[2].to_string())
        })
        .unwrap_or_default()
}

/// The pid and status of task `id` in `ctr task ls`.
fn ctr_task(out: &str, id: &str) -> Option<(i32, String)> {
    out.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
    })
}

/// What containerd's CRI plugin does with a runtime, driven through `ctr` and the tasks API
/// on a private containerd: a systemd-style cgroupsPath (`test.slice:cri-containerd:<id>`,
/// as containerd 1.6 hands it with the cgroupfs driver) placed below the shim's cgroup,
/// run, exec with exit codes, live update of the memory limit (`<runtime> update
/// --resources -`), kill and delete leaving no cgroup. One body for berth-runtime and runc.
#[test]
fn containerd_tasks_run_exec_update_kill_delete_on_berth_runtime_and_runc() {
    let Some(bins) = need(
        "containerd_tasks_run_exec_update_kill_delete_on_berth_runtime_and_runc",
        &[
            ("containerd", &["/usr/bin/containerd"]),
            ("ctr", &["/usr/bin/ctr"]),
            (
                "python3-grpcio",
                &["/usr/lib/python3/dist-packages/grpc/__init__.py"],
            ),
        ],
    ) else {
        return;
    };
    let mut s = Scratch::new("cri");
    let procs = runner_cgroups(&s, "ctd");
    assert!(!procs.is_empty());
    let sock = s.containerd_in(&procs);
    let ns = uniq("ns");
    let ctr = |args: &[&str]| -> Command {
        let mut c = Command::new(&bins[1]);
        c.arg("-a").arg(&sock).args(["-n", &ns]).args(args);
        c
    };
    let img = "docker.io/berthtest/bb:latest";
    let archive = docker_archive(&s, img);
    ok(&mut ctr(&["image", "import", archive.to_str().unwrap()]));
    let mut runtimes = vec![("berth", runtime_bin())];
    if Path::new("/usr/sbin/runc").exists() {
        runtimes.push(("runc", PathBuf::from("/usr/sbin/runc")));
    }
    for (name, rt) in runtimes {
        let id = uniq(&format!("t{name}"));
        let cg = format!("test.slice:cri-containerd:{id}");
        let rt_root = s.path(&format!("rt-{name}"));
        ok(&mut ctr(&[
            "run",
            "-d",
            "--runtime",
            "io.containerd.runc.v2",
            "--runc-binary",
            rt.to_str().unwrap(),
            "--runc-root",
            rt_root.to_str().unwrap(),
            "--cgroup",
            &cg,
            "--memory-limit",
            &(64u64 << 20).to_string(),
            img,
            &id,
            "sleep",
            "1000",
        ]));
        let tasks = ok(&mut ctr(&["task", "ls"]));
        let (pid, status) = ctr_task(&tasks, &id).unwrap_or_else(|| panic!("[{name}] {tasks}"));
        assert_eq!(status, "RUNNING", "[{name}] {tasks}");
        // Placement: below the shim's own cgroup (containerd's: ours, under berth/).
        let want = format!("/{}/ctd/{cg}", s.cg_parent);
        assert_eq!(cgroup_of(pid, "memory"), want, "[{name}]");
        assert_eq!(cgroup_of(pid, "pids"), want, "[{name}]");
        let limit = |p: i32| {
            let f = Path::new("/sys/fs/cgroup/memory")
                .join(cgroup_of(p, "memory").trim_start_matches('/'))
                .join("memory.limit_in_bytes");
            std::fs::read_to_string(&f)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        assert_eq!(limit(pid), (64u64 << 20).to_string(), "[{name}]");
        // exec: output and exit code.
        let (code, out, err) = run(&mut ctr(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            &id,
            "sh",
            "-c",
            "echo in-$((6*7)); grep -c . /proc/1/cmdline; exit 3",
        ]));
        assert_eq!(code, 3, "[{name}] {out} {err}");
        assert!(
            out.starts_with(
                "in-42
"
            ),
            "[{name}] {out}"
        );
        // Live update through the tasks API: the shim runs `<runtime> update --resources -`.
        containerd_update(
            &sock,
            &ns,
            &id,
            &serde_json::json!({"memory": {"limit": 128u64 << 20}, "pids": {"limit": 77}}),
        );
        assert_eq!(limit(pid), (128u64 << 20).to_string(), "[{name}]");
        let pids_max = Path::new("/sys/fs/cgroup/pids")
            .join(cgroup_of(pid, "pids").trim_start_matches('/'))
            .join("pids.max");
        assert_eq!(
            std::fs::read_to_string(&pids_max)
                .unwrap_or_default()
                .trim(),
            "77",
            "[{name}]"
        );
        // ps still works after the update (the runtime's state is consistent).
        let ps = ok(&mut ctr(&["task", "ps", &id]));
        assert!(ps.contains(&pid.to_string()), "[{name}] {ps}");
        // kill, then delete: nothing left.
        ok(&mut ctr(&["task", "kill", "-s", "SIGKILL", &id]));
        wait_for(
            || {
                let (_, t, _) = run(&mut ctr(&["task", "ls"]));
                ctr_task(&t, &id).is_some_and(|(_, st)| st == "STOPPED")
            },
            Duration::from_secs(20),
            || format!("[{name}] task never stopped"),
        );
        ok(&mut ctr(&["task", "delete", &id]));
        ok(&mut ctr(&["container", "delete", &id]));
        let leaf = Path::new("/sys/fs/cgroup/memory").join(want.trim_start_matches('/'));
        assert!(!leaf.exists(), "[{name}] {} left", leaf.display());
        let left = ok(&mut ctr(&["containers", "ls", "-q"]));
        assert!(left.trim().is_empty(), "[{name}] {left}");
    }
    let _ = run(&mut ctr(&["image", "rm", img]));
}
