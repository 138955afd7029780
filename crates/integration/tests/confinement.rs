//! Confinement (issue 11, holes 1 and 2): paths from a build context or an image never reach
//! the host, and the data root is not readable by other users.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use integration::daemon::unique;
use integration::Daemon;

/// A host dir (outside every root) holding a secret file and an empty dir.
struct Host {
    dir: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = std::env::temp_dir().join(unique("berth-host-"));
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        std::fs::write(dir.join("secret"), "HOSTSECRET\n").unwrap();
        Host { dir }
    }
    fn empty(&self) -> PathBuf {
        self.dir.join("empty")
    }
    #[track_caller]
    fn assert_untouched(&self) {
        let left: Vec<_> = std::fs::read_dir(self.empty())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "written on the host: {left:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let p = self.dir.to_string_lossy().into_owned();
        assert!(!mounts.contains(&p), "host dir mounted over");
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn context(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("berth-confctx-"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    }
    dir
}

fn build(d: &Daemon, ctx: &Path, tag: &str) -> integration::Out {
    d.berth(["build", "-q", "-t", tag, &ctx.to_string_lossy()])
}

/// The build either fails or its image holds no host content at `path`.
#[track_caller]
fn assert_no_secret(d: &Daemon, out: &integration::Out, tag: &str, path: &str) {
    if out.code == 0 {
        let r = d.berth([
            "run",
            "--rm",
            tag,
            "sh",
            "-c",
            &format!("cat {path} 2>/dev/null; find {path} 2>/dev/null"),
        ]);
        assert!(!r.stdout.contains("HOSTSECRET"), "host file copied: {r:?}");
    }
}

#[test]
fn confine_copy_through_context_symlink_to_root() {
    let d = Daemon::with_busybox();
    let host = Host::new();
    let secret = host.dir.join("secret");
    let rel = secret
        .strip_prefix("/")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let ctx = context(&[("Dockerfile", &format!("FROM busybox\nCOPY root/{rel} /x\n"))]);
    symlink("/", ctx.join("root")).unwrap();
    let tag = unique("conf-copy");
    let out = build(&d, &ctx, &tag);
    assert_ne!(
        out.code, 0,
        "COPY through a link to / must not find the host file: {out:?}"
    );
    assert_no_secret(&d, &out, &tag, "/x");

    // a whole-dir copy keeps the link as a link (as docker)
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY . /ctx/\n").unwrap();
    let tag2 = unique("conf-dir");
    build(&d, &ctx, &tag2).ok();
    let l = d
        .berth(["run", "--rm", &tag2, "readlink", "/ctx/root"])
        .ok();
    assert_eq!(l, "/");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn confine_add_link_to_host_tar() {
    let d = Daemon::with_busybox();
    let host = Host::new();
    let tarp = host.dir.join("h.tar");
    let st = std::process::Command::new("tar")
        .args([
            "-C",
            &host.dir.to_string_lossy(),
            "-cf",
            &tarp.to_string_lossy(),
            "secret",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let ctx = context(&[("Dockerfile", "FROM busybox\nADD link.tar /d/\n")]);
    symlink(&tarp, ctx.join("link.tar")).unwrap();
    let tag = unique("conf-add");
    let out = build(&d, &ctx, &tag);
    assert_ne!(
        out.code, 0,
        "ADD of a link out of the context must fail: {out:?}"
    );
    assert_no_secret(&d, &out, &tag, "/d");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn confine_dockerfile_symlink_to_host() {
    let d = Daemon::with_busybox();
    let host = Host::new();
    let hostdf = host.dir.join("Dockerfile.host");
    std::fs::write(&hostdf, "FROM busybox\nLABEL from=host\n").unwrap();
    let ctx = context(&[]);
    symlink(&hostdf, ctx.join("Dockerfile")).unwrap();
    let tag = unique("conf-df");
    // The context goes to the daemon as a tar holding the link (as `docker build - < ctx.tar`):
    // a client reading its own Dockerfile through a link is the client's business, the daemon
    // reading a host file through a link in the context is the hole.
    let tar = std::process::Command::new("tar")
        .args(["-C", &ctx.to_string_lossy(), "-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let out = d.berth_stdin(["build", "-q", "-t", &tag, "-"], &tar.stdout);
    assert_ne!(
        out.code, 0,
        "a Dockerfile linking out of the context must not be read: {out:?}"
    );
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn confine_copy_from_stage_link_to_root() {
    let d = Daemon::with_busybox();
    let host = Host::new();
    let secret = host.dir.join("secret");
    let df = format!(
        "FROM busybox AS s\nRUN ln -s / /up\nFROM busybox\nCOPY --from=s /up{} /x\n",
        secret.display()
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let tag = unique("conf-from");
    let out = build(&d, &ctx, &tag);
    assert_ne!(
        out.code, 0,
        "COPY --from through a link to / must not reach the host: {out:?}"
    );
    assert_no_secret(&d, &out, &tag, "/x");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn confine_copy_dest_links_in_image() {
    let d = Daemon::with_busybox();
    let host = Host::new();
    let df = format!(
        "FROM busybox\nRUN mkdir /app && ln -s {h} /app/sub && ln -s {h} /w\n\
         COPY dir/ /app/\nCOPY f /w/f\nWORKDIR /w/wd\n",
        h = host.empty().display()
    );
    let ctx = context(&[("Dockerfile", &df), ("dir/sub/planted", "x"), ("f", "y")]);
    let tag = unique("conf-dest");
    build(&d, &ctx, &tag).ok();
    host.assert_untouched();
    d.berth(["run", "--rm", &tag, "true"]).ok();
    host.assert_untouched();
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn confine_image_workdir_and_volume_links() {
    let d = Daemon::with_busybox();
    let host = Host::new();
    let df = format!(
        "FROM busybox\nRUN ln -s {h} /w && ln -s {h} /v\nVOLUME /v\n",
        h = host.empty().display()
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let tag = unique("conf-wd");
    build(&d, &ctx, &tag).ok();
    let w = format!("{}/sub", "/w");
    let _ = d.berth(["run", "--rm", "-w", &w, &tag, "touch", "made"]);
    host.assert_untouched();
    let _ = d.berth(["run", "--rm", &tag, "touch", "/v/made"]);
    host.assert_untouched();
    let vol = unique("confvol");
    let _ = d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/w"),
        &tag,
        "touch",
        "/w/made",
    ]);
    host.assert_untouched();
    let _ = std::fs::remove_dir_all(&ctx);
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `cat`/`ls` as user nobody; true when it succeeded.
fn as_nobody(args: &[&str]) -> bool {
    std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn confine_data_root_modes() {
    // SAFETY: umask is process-wide; 000 makes any mode that relies on it visible.
    let old = unsafe { libc::umask(0) };
    let d = Daemon::start();
    unsafe { libc::umask(old) };
    d.import_busybox();
    let name = unique("conf-modes");
    d.berth([
        "run", "-d", "--name", &name, "-e", "SECRET=x", "busybox", "sleep", "60",
    ])
    .ok();
    let id = d.berth(["inspect", "--format", "{{.Id}}", &name]).ok();
    let data = d.data_root();
    assert_eq!(mode(&data) & 0o007, 0, "data root {:o}", mode(&data));
    let cdir = data.join("containers").join(&id);
    assert_eq!(mode(&cdir) & 0o077, 0, "container dir {:o}", mode(&cdir));
    let mut found = Vec::new();
    walk(&data, 3, &mut found);
    for p in &found {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n == "config.json"
            || n.ends_with(".redb")
            || n.ends_with("-json.log")
            || n == "hostconfig.json"
        {
            assert_eq!(mode(p) & 0o077, 0, "{} is {:o}", p.display(), mode(p));
        }
    }
    let cfgs: Vec<_> = found
        .iter()
        .filter(|p| p.ends_with("config.json"))
        .collect();
    assert!(!cfgs.is_empty(), "no config.json under {}", data.display());
    for c in cfgs {
        assert!(
            !as_nobody(&["cat", &c.to_string_lossy()]),
            "nobody reads {}",
            c.display()
        );
    }
    let snaps = data.join("image/snapshots");
    if snaps.exists() {
        assert!(
            !as_nobody(&["ls", &snaps.to_string_lossy()]),
            "nobody lists snapshots"
        );
    }
    assert!(!as_nobody(&["ls", &cdir.to_string_lossy()]));
    let ex = d.exec_root();
    // 0711: others may only traverse to the socket (which has its own 0660 mode), never list.
    assert_eq!(mode(&ex) & 0o066, 0, "exec root {:o}", mode(&ex));
    d.berth(["rm", "-f", &name]).ok();
}

#[test]
fn confine_existing_data_root_fixed() {
    let mut d = Daemon::with_busybox();
    d.stop();
    let data = d.data_root();
    let mut found = Vec::new();
    walk(&data, 2, &mut found);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for p in &found {
        let m = if p.is_dir() { 0o755 } else { 0o644 };
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    }
    d.restart();
    assert_eq!(mode(&data) & 0o007, 0, "data root {:o}", mode(&data));
    for p in &found {
        if p.extension().is_some_and(|e| e == "redb") {
            assert_eq!(mode(p) & 0o077, 0, "{} is {:o}", p.display(), mode(p));
        }
    }
    let db = data.join("engine.redb");
    if db.exists() {
        assert!(!as_nobody(&["cat", &db.to_string_lossy()]));
    }
}

fn walk(p: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(p) else { return };
    for e in rd.flatten() {
        let ft = e.file_type().unwrap();
        let path = e.path();
        if ft.is_dir() && depth > 0 && !path.ends_with("rootfs") && !path.ends_with("merged") {
            walk(&path, depth - 1, out);
        }
        out.push(path);
    }
}

/// Hole 6: a host interface that berth did not make is never taken over as a bridge.
#[test]
fn confine_network_bridge_name_of_host_link_refused() {
    let d = Daemon::start();
    let n = std::process::id() & 0xfffff;
    let (a, b) = (format!("cfa{n:x}"), format!("cfb{n:x}"));
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap()
            .success()
    };
    assert!(ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]));
    let net = unique("confnet");
    let out = d.berth([
        "network",
        "create",
        "-o",
        &format!("com.docker.network.bridge.name={a}"),
        &net,
    ]);
    let gone = !std::path::Path::new("/sys/class/net").join(&a).exists();
    let addrs = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "dev", &a])
        .output()
        .unwrap();
    let _ = d.berth(["network", "rm", &net]);
    let still = std::path::Path::new("/sys/class/net").join(&a).exists();
    ip(&["link", "del", &a]);
    assert!(!gone && still, "host link deleted");
    assert_ne!(out.code, 0, "network create took over {a}: {out:?}");
    assert!(
        out.stderr.contains(&a),
        "error names the interface: {out:?}"
    );
    assert!(
        !String::from_utf8_lossy(&addrs.stdout).contains("inet "),
        "gateway added to {a}"
    );
}

fn run_stopped(d: &Daemon, docker: bool, name: &str) -> String {
    let call = |args: &[&str]| {
        if docker {
            d.docker(args)
        } else {
            d.berth(args)
        }
    };
    call(&["start", name]).ok();
    call(&["wait", name]).ok();
    call(&["logs", name]).ok()
}

/// Hole 7: `rmi -f` of an image a stopped container uses untags it; the container starts.
#[test]
fn confine_rmi_force_used_image_untags_only() {
    let d = Daemon::with_busybox();
    let has_docker = integration::docker_cli().is_some();
    for docker in [false, true] {
        if docker && !has_docker {
            continue;
        }
        let call = |args: &[&str]| {
            if docker {
                d.docker(args)
            } else {
                d.berth(args)
            }
        };
        let tag = format!("{}:v1", unique("rmitag"));
        // the image's only reference
        d.import_busybox_as(&tag);
        let name = unique("rmic");
        call(&["create", "--name", &name, &tag, "echo", "still-runs"]).ok();
        let out = call(&["rmi", "-f", &tag]).ok();
        assert!(out.contains("Untagged"), "{out}");
        assert!(
            !out.contains("Deleted"),
            "image deleted while a container uses it: {out}"
        );
        assert!(!call(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok()
            .contains(&tag));
        assert_eq!(run_stopped(&d, docker, &name), "still-runs");
        call(&["rm", "-f", &name]).ok();
    }
}

/// Hole 8: `--storage-opt` is refused on this host's filesystem (not xfs+pquota) with
/// Docker's error, any other key names itself; nothing is created.
#[test]
fn confine_storage_opt_refused() {
    if integration::docker_cli().is_none() {
        return;
    }
    let d = Daemon::with_busybox();
    let before = d.container_ids().len();
    let e = d
        .docker(["create", "--storage-opt", "size=10G", "busybox", "true"])
        .err();
    assert!(
        e.contains(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
        ),
        "{e}"
    );
    let e = d
        .docker(["create", "--storage-opt", "asdf=1", "busybox", "true"])
        .err();
    assert!(e.contains("asdf"), "{e}");
    assert_eq!(d.container_ids().len(), before, "a container was created");
}
