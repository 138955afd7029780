//! Crash consistency: kill -9 of a private berthd at seeded random points of `run -d`,
//! `rm -f`, `build`, `network connect` and `volume rm`; after a restart and a cleanup nothing
//! of this daemon is left (mounts, cgroups, netns, veths, nft port rules, monitors and
//! container processes) and every listed image still runs.

mod regutil;

use integration::daemon::unique;
use integration::netcfg::pick_subnet;
use integration::Daemon;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A tiny deterministic generator (xorshift) so every run crashes at the same points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A delay in `[lo, hi)` milliseconds.
    fn delay(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

fn berth_bg(d: &Daemon, args: &[&str]) -> Child {
    Command::new(integration::daemon::bin("berth"))
        .arg("-H")
        .arg(d.host())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth")
}

fn reap(children: Vec<Child>) {
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Container ids this daemon's roots show now (records, runtime state, build RUN containers).
fn ids_on_disk(d: &Daemon) -> HashSet<String> {
    let mut ids = HashSet::new();
    for dir in [
        d.data_root().join("containers"),
        d.exec_root().join("runtime"),
        d.data_root().join("build/run"),
        d.exec_root().join("netns"),
    ] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if is_id(&n) {
                ids.insert(n);
            }
        }
    }
    ids
}

fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let t = right.split(' ').next()?;
            let mp = left.split(' ').nth(4)?;
            (t == "cgroup" || t == "cgroup2").then(|| PathBuf::from(mp))
        })
        .collect()
}

/// Everything of this daemon that should not exist once all its containers, user networks
/// and volumes are removed. `ids`: every container id seen during the test.
fn leaks(d: &Daemon, ids: &HashSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let root = d.root.display().to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for m in info.lines().filter_map(|l| l.split(' ').nth(4)) {
        // E/netns itself is the daemon's shared mount point for netns files
        if m.starts_with(&format!("{root}/")) && Path::new(m) != d.exec_root().join("netns") {
            out.push(format!("mount {m}"));
        }
    }
    for l in integration::netcfg::leftovers(&d.net_tag, &d.exec_root()) {
        // the default bridge and the table belong to the running daemon
        if l != format!("link {}0", d.net_tag)
            && !l.starts_with("nft table")
            && !l.starts_with("mount under")
        {
            out.push(l);
        }
    }
    // published ports are elements of the table's port maps
    for map in ["ipports", "anyports"] {
        let listed = Command::new("nft")
            .args(["list", "map", "ip", &format!("berth-{}", d.net_tag), map])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if listed.contains("elements") {
            out.push(format!("nft port rules in {map}: {}", listed.trim()));
        }
    }
    for m in cgroup_mounts() {
        for id in ids {
            let p = m.join("berth").join(id);
            if p.exists() {
                out.push(format!("cgroup {}", p.display()));
            }
        }
    }
    let me = std::process::id();
    let daemon = d.pid().unwrap_or(0);
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me || pid == daemon {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat
            .rsplit_once(") ")
            .is_some_and(|(_, r)| r.starts_with('Z'))
        {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        let in_ours = cg.lines().any(|l| {
            l.rsplit_once("/berth/")
                .is_some_and(|(_, rest)| ids.contains(rest.split('/').next().unwrap_or("")))
        });
        if cmd.contains(&root) || cwd.starts_with(&d.root) || in_ours {
            out.push(format!("process {pid}: {cmd}"));
        }
    }
    out
}

/// Restart after a crash, remove every container, the given networks and volumes, then
/// assert nothing leaked and every image runs.
#[track_caller]
fn restart_clean_check(d: &mut Daemon, ids: &mut HashSet<String>, nets: &[&str], vols: &[&str]) {
    ids.extend(ids_on_disk(d));
    d.restart();
    ids.extend(ids_on_disk(d));
    let cs = d.container_ids();
    if !cs.is_empty() {
        let mut a = vec!["rm".to_string(), "-f".into()];
        a.extend(cs);
        let out = d.berth(&a);
        assert_eq!(out.code, 0, "rm -f after restart: {}", out.stderr);
    }
    for n in nets {
        let out = d.berth(["network", "rm", n]);
        assert!(
            out.code == 0 || out.stderr.contains("not found"),
            "network rm {n} after restart: {}",
            out.stderr
        );
    }
    for v in vols {
        let out = d.berth(["volume", "rm", v]);
        assert!(
            out.code == 0 || out.stderr.contains("no such volume"),
            "volume rm {v}: {}",
            out.stderr
        );
    }
    // give killed leftovers a moment to be reaped by their parent
    let mut left = leaks(d, ids);
    for _ in 0..20 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = leaks(d, ids);
    }
    assert!(left.is_empty(), "leaked after crash:\n{}", left.join("\n"));
    for img in d.berth(["images", "-q"]).ok().lines() {
        let out = d.berth(["run", "--rm", img.trim(), "true"]);
        assert_eq!(out.code, 0, "image {img} does not run: {}", out.stderr);
    }
}

fn run_sleepers(d: &Daemon, n: usize, net: Option<&str>) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut a = vec!["run", "-d"];
            if let Some(net) = net {
                a.extend(["--network", net]);
            }
            a.extend(["busybox", "sleep", "1000"]);
            d.berth(a).ok()
        })
        .collect()
}

/// The leak of issue 11 hole 5: rm -f of many containers on a user network, berthd killed
/// in the middle; the network must be removable and nothing may stay.
#[test]
fn crash_during_rm_f_leaks_nothing_and_network_rm_works() {
    let mut rng = Rng(0x5eed_0001);
    let mut d = Daemon::with_busybox();
    let mut ids = HashSet::new();
    for round in 0..3 {
        let net = unique("crn");
        d.berth(["network", "create", "--subnet", &pick_subnet(), &net])
            .ok();
        let cs = run_sleepers(&d, 6, Some(&net));
        ids.extend(cs.iter().cloned());
        let mut a = vec!["rm", "-f"];
        a.extend(cs.iter().map(String::as_str));
        let child = berth_bg(&d, &a);
        std::thread::sleep(rng.delay(20, 200 + 100 * round));
        d.kill9();
        reap(vec![child]);
        restart_clean_check(&mut d, &mut ids, &[&net], &[]);
    }
}

/// kill -9 during a `run -d` loop (with published ports): no "Created" container may keep
/// a monitor, a blocked init or a cgroup through `rm -f` after the restart.
#[test]
fn crash_during_run_d_loop_leaks_nothing() {
    let mut rng = Rng(0x5eed_0002);
    let mut d = Daemon::with_busybox();
    let mut ids = HashSet::new();
    for _ in 0..4 {
        let children: Vec<Child> = (0..4)
            .map(|_| {
                berth_bg(
                    &d,
                    &[
                        "run",
                        "-d",
                        "-p",
                        "127.0.0.1::80",
                        "busybox",
                        "sleep",
                        "1000",
                    ],
                )
            })
            .collect();
        std::thread::sleep(rng.delay(50, 600));
        ids.extend(ids_on_disk(&d));
        d.kill9();
        reap(children);
        restart_clean_check(&mut d, &mut ids, &[], &[]);
    }
}

/// kill -9 during a build's RUN step: the RUN process, its overlay mount, snapshot, runtime
/// state and cgroup are gone after the restart (not only at the next build).
#[test]
fn crash_during_build_run_leaks_nothing() {
    let mut rng = Rng(0x5eed_0003);
    let mut d = Daemon::with_busybox();
    let mut ids = HashSet::new();
    let ctx = d.root.join("ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo one > /one\nRUN sleep 30\n",
    )
    .expect("write Dockerfile");
    for _ in 0..2 {
        let tag = unique("crb");
        let child = berth_bg(&d, &["build", "-t", &tag, ctx.to_str().unwrap_or("")]);
        // wait until the sleeping RUN container exists, then a little more
        let run = d.data_root().join("build/run");
        for _ in 0..200 {
            if std::fs::read_dir(&run)
                .map(|mut r| r.next().is_some())
                .unwrap_or(false)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(rng.delay(100, 1500));
        ids.extend(ids_on_disk(&d));
        d.kill9();
        reap(vec![child]);
        restart_clean_check(&mut d, &mut ids, &[], &[]);
        let snaps: Vec<String> = std::fs::read_dir(d.data_root().join("image/snapshots"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("build-"))
            .collect();
        assert!(snaps.is_empty(), "build snapshots left: {snaps:?}");
    }
}

/// kill -9 during `network connect` of running containers and during `volume rm`.
#[test]
fn crash_during_network_connect_and_volume_rm_leaks_nothing() {
    let mut rng = Rng(0x5eed_0004);
    let mut d = Daemon::with_busybox();
    let mut ids = HashSet::new();
    for _ in 0..2 {
        let net = unique("ccn");
        d.berth(["network", "create", "--subnet", &pick_subnet(), &net])
            .ok();
        let cs = run_sleepers(&d, 4, None);
        ids.extend(cs.iter().cloned());
        let children: Vec<Child> = cs
            .iter()
            .map(|c| berth_bg(&d, &["network", "connect", &net, c]))
            .collect();
        std::thread::sleep(rng.delay(10, 300));
        d.kill9();
        reap(children);
        restart_clean_check(&mut d, &mut ids, &[&net], &[]);
    }
    for _ in 0..2 {
        let vols: Vec<String> = (0..5).map(|_| unique("crv")).collect();
        for v in &vols {
            d.berth(["volume", "create", v]).ok();
            d.berth([
                "run",
                "--rm",
                "-v",
                &format!("{v}:/data"),
                "busybox",
                "sh",
                "-c",
                "echo x > /data/f",
            ])
            .ok();
        }
        let mut a = vec!["volume", "rm"];
        a.extend(vols.iter().map(String::as_str));
        let child = berth_bg(&d, &a);
        std::thread::sleep(rng.delay(5, 100));
        d.kill9();
        reap(vec![child]);
        let vr: Vec<&str> = vols.iter().map(String::as_str).collect();
        restart_clean_check(&mut d, &mut ids, &[], &vr);
        let left = d.berth(["volume", "ls", "-q"]).ok();
        for v in &vols {
            assert!(!left.contains(v.as_str()), "volume {v} left: {left}");
            assert!(!Path::new(&d.data_root().join("volumes").join(v)).exists());
        }
    }
}

/// kill -9 during `pull` from a local registry (`berth registry serve`): after the restart
/// every listed image runs, nothing is left mounted, and the pull works again.
#[test]
fn crash_during_pull_leaves_runnable_images() {
    let mut rng = Rng(0x5eed_0005);
    let reg = regutil::berth_registry(&[]);
    let src = Daemon::with_busybox();
    let image = format!("{}/crash/bb:v1", reg.addr);
    src.berth(["tag", "busybox", &image]).ok();
    src.berth(["push", &image]).ok();
    drop(src);
    let mut d = Daemon::start();
    let mut ids = HashSet::new();
    for _ in 0..3 {
        let child = berth_bg(&d, &["pull", &image]);
        std::thread::sleep(rng.delay(5, 250));
        d.kill9();
        reap(vec![child]);
        restart_clean_check(&mut d, &mut ids, &[], &[]);
        let _ = d.berth(["rmi", "-f", &image]);
    }
    d.berth(["pull", &image]).ok();
    assert_eq!(d.berth(["run", "--rm", &image, "echo", "ok"]).ok(), "ok");
}
