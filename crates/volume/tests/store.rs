//! Volume store and mount resolution, for real (root): redb records, refcounts, driver
//! mounts, copy-up, and a read-only bind checked inside a private mount namespace.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use volume::{
    collect, deactivate, parse_mount_flag, parse_volume_flag, prepare, release, resolve,
    ListFilters, MountType, OciMount, PruneOptions, VolumeError, VolumeStore,
};

/// A temp root whose mounts are all lazily detached on drop (even when a test panics).
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        Root {
            dir: tempfile::Builder::new()
                .prefix("berth-test-volume-")
                .tempdir()
                .unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn store(&self) -> VolumeStore {
        VolumeStore::open(self.path().join("volumes")).unwrap()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.dir.path().to_string_lossy().into_owned();
        let mut mps: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|mp| mp.starts_with(&prefix))
            .collect();
        mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mp in mps {
            let c = CString::new(mp).unwrap();
            // SAFETY: valid path string.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn no_opts() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(store: &VolumeStore, f: &ListFilters) -> Vec<String> {
    store.list(f).unwrap().into_iter().map(|v| v.name).collect()
}

#[test]
fn create_list_inspect_remove() {
    let root = Root::new();
    let store = root.store();
    let v = store
        .create(
            Some("data1"),
            &no_opts(),
            &map(&[("app", "db"), ("tier", "x")]),
        )
        .unwrap();
    assert_eq!(v.name, "data1");
    assert_eq!(v.driver, "local");
    assert_eq!(v.scope, "local");
    assert!(!v.anonymous);
    let data = root.path().join("volumes/data1/_data");
    assert_eq!(PathBuf::from(&v.mountpoint), data);
    assert!(data.is_dir());
    assert!(
        v.created_at.ends_with('Z') && v.created_at.len() == 20,
        "{}",
        v.created_at
    );

    // the inspect JSON has docker's field names
    let j = serde_json::to_value(&v).unwrap();
    for k in [
        "Name",
        "Driver",
        "Mountpoint",
        "CreatedAt",
        "Labels",
        "Scope",
        "Options",
    ] {
        assert!(j.get(k).is_some(), "missing {k} in {j}");
    }
    assert!(j.get("UsageData").is_none());
    assert_eq!(j["Labels"]["app"], "db");
    let u = store.get_with_usage("data1").unwrap();
    assert_eq!(u.usage_data.unwrap().ref_count, 0);

    // idempotent; a different option set conflicts; bad names and options are refused
    assert_eq!(
        store.create(Some("data1"), &no_opts(), &no_opts()).unwrap(),
        v
    );
    let e = store
        .create(
            Some("data1"),
            &map(&[("type", "tmpfs"), ("device", "tmpfs")]),
            &no_opts(),
        )
        .unwrap_err();
    assert_eq!(e.http_status(), 409);
    assert!(matches!(
        store.create(Some("a/b"), &no_opts(), &no_opts()),
        Err(VolumeError::InvalidVolumeName(_))
    ));
    assert!(store
        .create(Some("x1"), &map(&[("bogus", "1")]), &no_opts())
        .is_err());
    assert!(store
        .create_with_driver(Some("x2"), Some("nfs-plugin"), &no_opts(), &no_opts())
        .is_err());
    assert!(!root.path().join("volumes/x1").exists());

    let anon = store.create(None, &no_opts(), &no_opts()).unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(anon.name.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(anon.anonymous);
    assert!(anon.labels.contains_key("com.docker.volume.anonymous"));
    store.create(Some("other"), &no_opts(), &no_opts()).unwrap();

    // list + filters
    let all = names(&store, &ListFilters::default());
    assert_eq!(all.len(), 3);
    let f = ListFilters {
        labels: vec!["app=db".into()],
        ..Default::default()
    };
    assert_eq!(names(&store, &f), ["data1"]);
    let f = ListFilters {
        labels: vec!["tier".into()],
        ..Default::default()
    };
    assert_eq!(names(&store, &f), ["data1"]);
    let f = ListFilters {
        labels: vec!["app=web".into()],
        ..Default::default()
    };
    assert!(names(&store, &f).is_empty());
    let f = ListFilters {
        names: vec!["ther".into()],
        ..Default::default()
    };
    assert_eq!(names(&store, &f), ["other"]);
    let f = ListFilters {
        drivers: vec!["local".into()],
        ..Default::default()
    };
    assert_eq!(names(&store, &f).len(), 3);
    store.acquire("data1", "c1").unwrap();
    let f = ListFilters {
        dangling: Some(true),
        ..Default::default()
    };
    assert_eq!(names(&store, &f).len(), 2);
    let f = ListFilters {
        dangling: Some(false),
        ..Default::default()
    };
    assert_eq!(names(&store, &f), ["data1"]);
    let fm = BTreeMap::from([("dangling".to_string(), vec!["true".to_string()])]);
    assert_eq!(ListFilters::from_map(&fm).unwrap().dangling, Some(true));
    let fm = BTreeMap::from([("colour".to_string(), vec!["red".to_string()])]);
    assert!(ListFilters::from_map(&fm).is_err());

    // in use: refused, even with force; data intact
    fs::write(data.join("keep"), "x").unwrap();
    store.acquire("data1", "c2").unwrap();
    for force in [false, true] {
        let e = store.remove("data1", force).unwrap_err();
        assert_eq!(e.to_string(), "remove data1: volume is in use - [c1, c2]");
        assert_eq!(e.http_status(), 409);
    }
    assert_eq!(fs::read_to_string(data.join("keep")).unwrap(), "x");
    assert_eq!(store.get("data1").unwrap().containers, ["c1", "c2"]);
    store.release("data1", "c1").unwrap();
    assert!(store.remove("data1", false).is_err());
    store.release("data1", "c2").unwrap();
    store.release("data1", "c2").unwrap(); // twice is fine
    store.remove("data1", false).unwrap();
    assert!(!root.path().join("volumes/data1").exists());
    let e = store.get("data1").unwrap_err();
    assert_eq!(e.to_string(), "get data1: no such volume");
    assert_eq!(e.http_status(), 404);
    assert!(store.remove("data1", false).is_err());
    store.remove("data1", true).unwrap();
    assert!(store.acquire("data1", "c1").is_err());
}

#[test]
fn prune_removes_only_unused() {
    let root = Root::new();
    let store = root.store();
    let a1 = store.create(None, &no_opts(), &no_opts()).unwrap().name;
    let a2 = store.create(None, &no_opts(), &no_opts()).unwrap().name;
    store
        .create(Some("named"), &no_opts(), &map(&[("keep", "no")]))
        .unwrap();
    store.create(Some("busy"), &no_opts(), &no_opts()).unwrap();
    store.acquire(&a2, "c1").unwrap();
    store.acquire("busy", "c1").unwrap();
    fs::write(store.data_dir(&a1).join("f"), vec![0u8; 5000]).unwrap();

    let r = store.prune(&PruneOptions::default()).unwrap();
    assert_eq!(r.volumes_deleted, vec![a1.clone()]);
    assert_eq!(r.space_reclaimed, 5000);
    assert!(!store.data_dir(&a1).exists());

    let r = store
        .prune(&PruneOptions {
            all: true,
            not_labels: vec!["keep".into()],
            ..Default::default()
        })
        .unwrap();
    assert!(r.volumes_deleted.is_empty());
    let r = store
        .prune(&PruneOptions {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.volumes_deleted, ["named"]);
    let left = names(&store, &ListFilters::default());
    assert_eq!(left.len(), 2);
    assert!(left.contains(&a2) && left.contains(&"busy".to_string()));
}

#[test]
fn records_and_data_survive_reopen() {
    let root = Root::new();
    {
        let store = root.store();
        store
            .create(Some("db"), &no_opts(), &map(&[("l", "1")]))
            .unwrap();
        fs::write(store.data_dir("db").join("table"), "rows").unwrap();
        store.acquire("db", "c-running").unwrap();
        store.create(None, &no_opts(), &no_opts()).unwrap();
    } // "daemon" stops: the database is closed
    let store = root.store();
    let v = store.get("db").unwrap();
    assert_eq!(v.labels.get("l").map(String::as_str), Some("1"));
    assert_eq!(v.containers, ["c-running"]);
    assert_eq!(
        fs::read_to_string(store.data_dir("db").join("table")).unwrap(),
        "rows"
    );
    assert!(matches!(
        store.remove("db", true),
        Err(VolumeError::InUse { .. })
    ));
    let anon: Vec<_> = store.list(&ListFilters::default()).unwrap();
    assert_eq!(anon.iter().filter(|v| v.anonymous).count(), 1);
    store.release("db", "c-running").unwrap();
    drop(store);
    let store = root.store();
    store.remove("db", false).unwrap();
}

fn fstype_of(path: &Path) -> Option<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = path.to_string_lossy();
    info.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f[4] == want).then(|| f[sep + 1].to_string())
    })
}

#[test]
fn tmpfs_volume_mounted_while_used() {
    let root = Root::new();
    let store = root.store();
    let opts = map(&[
        ("type", "tmpfs"),
        ("device", "tmpfs"),
        ("o", "size=2m,mode=0750"),
    ]);
    let v = store.create(Some("scratch"), &opts, &no_opts()).unwrap();
    assert_eq!(v.options, opts);
    let data = store.data_dir("scratch");
    assert!(!store.is_mounted("scratch"), "mounted only at first use");

    assert_eq!(store.mount("scratch", "c1").unwrap(), data);
    assert_eq!(fstype_of(&data).as_deref(), Some("tmpfs"));
    assert_eq!(
        fs::metadata(&data).unwrap().permissions().mode() & 0o7777,
        0o750
    );
    fs::write(data.join("f"), "hello").unwrap();
    store.mount("scratch", "c2").unwrap();
    store.mount("scratch", "c2").unwrap(); // idempotent
                                           // only one mount stacked
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let n = info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(&*data.to_string_lossy()))
        .count();
    assert_eq!(n, 1);
    assert_eq!(store.active_users("scratch").unwrap(), ["c1", "c2"]);

    store.unmount("scratch", "c1").unwrap();
    assert!(store.is_mounted("scratch"), "c2 still uses it");
    assert_eq!(fs::read_to_string(data.join("f")).unwrap(), "hello");
    assert!(matches!(
        store.remove("scratch", true),
        Err(VolumeError::InUse { .. })
    ));
    store.unmount("scratch", "c2").unwrap();
    assert!(!store.is_mounted("scratch"), "last user gone");
    assert!(!data.join("f").exists());

    // a restarted daemon whose containers are gone drops their mounts
    store.mount("scratch", "c3").unwrap();
    store.reconcile(&[]).unwrap();
    assert!(!store.is_mounted("scratch"));
    store.release("scratch", "c1").unwrap();
    store.release("scratch", "c2").unwrap();
    store.release("scratch", "c3").unwrap();
    store.remove("scratch", false).unwrap();
    assert!(!data.exists());
}

fn set_xattr(p: &Path, name: &str, val: &[u8]) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid strings and buffer.
    let rc = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), val.as_ptr().cast(), val.len(), 0) };
    assert_eq!(rc, 0, "setxattr {}", std::io::Error::last_os_error());
}

fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid strings and buffer.
    let rc = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (rc >= 0).then(|| buf[..rc as usize].to_vec())
}

/// An "image rootfs" with content at /data (and a /var/lib -> /data-ish symlink path).
fn image_rootfs(root: &Path) -> PathBuf {
    let rootfs = root.join("rootfs");
    let d = rootfs.join("data");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::write(d.join("config"), "cfg").unwrap();
    fs::write(d.join("sub/secret"), "s3").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", d.join("shadow-link")).unwrap();
    std::os::unix::fs::symlink("../../../../etc", d.join("escape")).unwrap();
    fs::hard_link(d.join("config"), d.join("config-hl")).unwrap();
    std::os::unix::fs::chown(d.join("config"), Some(42), Some(43)).unwrap();
    fs::set_permissions(d.join("config"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(d.join("sub"), Some(1000), Some(1001)).unwrap();
    fs::set_permissions(d.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::lchown(d.join("shadow-link"), Some(7), Some(8)).unwrap();
    set_xattr(&d.join("config"), "user.berth", b"yes");
    std::os::unix::fs::chown(&d, Some(999), Some(999)).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o1751)).unwrap();
    // /link-to-data -> /data : the target path itself goes through a symlink in the image
    std::os::unix::fs::symlink("/data", rootfs.join("link-to-data")).unwrap();
    // fixed mtime on a file (set last)
    let c = CString::new(d.join("sub/secret").as_os_str().as_bytes()).unwrap();
    let ts = [
        libc::timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: 1_234_567_890,
            tv_nsec: 500,
        },
    ];
    // SAFETY: valid path and two timespecs.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) },
        0
    );
    rootfs
}

#[test]
fn copy_up_keeps_owner_mode_links() {
    let root = Root::new();
    let store = root.store();
    let rootfs = image_rootfs(root.path());
    store.create(Some("web"), &no_opts(), &no_opts()).unwrap();
    let data = store.mount("web", "c1").unwrap();
    assert!(store.copy_up("web", &rootfs, "/link-to-data").unwrap());

    let md = fs::metadata(&data).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (999, 999, 0o1751));
    let m = fs::metadata(data.join("config")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (42, 43, 0o640));
    assert_eq!(fs::read_to_string(data.join("config")).unwrap(), "cfg");
    assert_eq!(
        get_xattr(&data.join("config"), "user.berth").as_deref(),
        Some(&b"yes"[..])
    );
    let hl = fs::metadata(data.join("config-hl")).unwrap();
    assert_eq!(hl.ino(), m.ino(), "hard link kept");
    let s = fs::metadata(data.join("sub")).unwrap();
    assert_eq!((s.uid(), s.gid(), s.mode() & 0o7777), (1000, 1001, 0o700));
    let sec = fs::metadata(data.join("sub/secret")).unwrap();
    assert_eq!((sec.mtime(), sec.mtime_nsec()), (1_234_567_890, 500));
    let l = fs::symlink_metadata(data.join("shadow-link")).unwrap();
    assert!(l.file_type().is_symlink());
    assert_eq!((l.uid(), l.gid()), (7, 8));
    assert_eq!(
        fs::read_link(data.join("shadow-link")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert!(fs::symlink_metadata(data.join("escape"))
        .unwrap()
        .file_type()
        .is_symlink());

    // only once: the volume is initialised now, and later content is the volume's own
    fs::remove_file(data.join("config")).unwrap();
    assert!(!store.copy_up("web", &rootfs, "/data").unwrap());
    assert!(!data.join("config").exists());

    // a non-empty new volume is not overwritten; a missing image path copies nothing
    store.create(Some("full"), &no_opts(), &no_opts()).unwrap();
    fs::write(store.data_dir("full").join("mine"), "1").unwrap();
    assert!(!store.copy_up("full", &rootfs, "/data").unwrap());
    assert!(!store.data_dir("full").join("config").exists());
    store.create(Some("none"), &no_opts(), &no_opts()).unwrap();
    assert!(!store.copy_up("none", &rootfs, "/nothing/here").unwrap());

    store.release("web", "c1").unwrap();
    for n in ["web", "full", "none"] {
        store.remove(n, false).unwrap();
    }
}

#[test]
fn resolve_prepare_release_flow() {
    let root = Root::new();
    let store = root.store();
    let rootfs = image_rootfs(root.path());
    let host = root.path().join("host/new/dir");
    let reqs = collect(
        &[
            format!("{}:/h:ro", host.display()),
            "shared:/data".into(),
            "cache:/c:nocopy".into(),
        ],
        &[serde_json::from_str(
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":65536}}"#,
        )
        .unwrap()],
        &BTreeMap::new(),
        &["/data".into(), "/anon".into()],
    )
    .unwrap();
    let res = resolve(&store, &reqs, "c1", Some(&rootfs)).unwrap();
    assert!(host.is_dir(), "-v creates a missing host path");
    let by_dst = |d: &str| {
        res.mounts
            .iter()
            .find(|m| m.destination == d)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_dst("/h"),
        OciMount {
            destination: "/h".into(),
            kind: "bind".into(),
            source: host.to_string_lossy().into(),
            options: vec!["rbind".into(), "ro".into(), "rprivate".into()]
        }
    );
    let shared = by_dst("/data");
    assert_eq!(shared.options, ["rbind", "rprivate"]);
    assert_eq!(PathBuf::from(&shared.source), store.data_dir("shared"));
    assert!(
        store.data_dir("shared").join("config").exists(),
        "copied up"
    );
    assert!(!store.data_dir("cache").join("config").exists());
    assert!(is_empty(&store.data_dir("cache")), "nocopy");
    let t = by_dst("/t");
    assert_eq!((t.kind.as_str(), t.source.as_str()), ("tmpfs", "tmpfs"));
    assert_eq!(
        t.options,
        ["noexec", "nosuid", "nodev", "rprivate", "size=64k"]
    );
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["type"], "tmpfs");

    // inspect Mounts
    let anon = res
        .points
        .iter()
        .find(|p| p.destination == "/anon")
        .unwrap();
    assert!(anon.anonymous && anon.name.len() == 64);
    let api = serde_json::to_value(
        res.points
            .iter()
            .find(|p| p.destination == "/data")
            .unwrap()
            .api(),
    )
    .unwrap();
    assert_eq!(api["Type"], "volume");
    assert_eq!(api["Name"], "shared");
    assert_eq!(api["Driver"], "local");
    assert_eq!(api["Mode"], "z");
    assert_eq!(api["RW"], true);
    assert_eq!(api["Propagation"], "");
    let api = serde_json::to_value(
        res.points
            .iter()
            .find(|p| p.destination == "/h")
            .unwrap()
            .api(),
    )
    .unwrap();
    assert_eq!(api["Type"], "bind");
    assert!(api.get("Name").is_none());
    assert_eq!(
        (
            api["Mode"].as_str(),
            api["RW"].as_bool(),
            api["Propagation"].as_str()
        ),
        (Some("ro"), Some(false), Some("rprivate"))
    );

    // a second container shares "shared"; --volumes-from reuses c1's points
    let from: Vec<_> = res
        .points
        .iter()
        .filter_map(|p| p.to_request(Some(true)))
        .collect();
    let res2 = resolve(&store, &from, "c2", Some(&rootfs)).unwrap();
    assert!(res2
        .mounts
        .iter()
        .all(|m| m.options.contains(&"ro".to_string())));
    assert_eq!(store.get("shared").unwrap().containers, ["c1", "c2"]);

    // stop + rm -v of c1: its anonymous volume is still used by c2 (volumes-from), so kept
    deactivate(&store, &res.points, "c1").unwrap();
    let removed = release(&store, &res.points, "c1", true).unwrap();
    assert!(removed.is_empty());
    deactivate(&store, &res2.points, "c2").unwrap();
    release(&store, &res2.points, "c2", true).unwrap();
    // now nobody uses anything: rm -v semantics with a fresh container
    let res3 = resolve(&store, &reqs, "c3", Some(&rootfs)).unwrap();
    let anon3 = res3
        .points
        .iter()
        .find(|p| p.destination == "/anon")
        .unwrap()
        .name
        .clone();
    let removed = release(&store, &res3.points, "c3", true).unwrap();
    assert_eq!(removed, [anon3]);
    assert!(store.get("shared").is_ok(), "named volumes survive rm -v");
    assert!(store.get("cache").is_ok());
    // plain rm keeps the anonymous volume of c1
    assert!(store.get(&anon.name).is_ok());
}

fn is_empty(p: &Path) -> bool {
    fs::read_dir(p).unwrap().next().is_none()
}

#[test]
fn bad_input_creates_nothing() {
    let root = Root::new();
    let store = root.store();
    let missing = root.path().join("no/such/dir");
    let reqs = vec![
        parse_volume_flag("fresh:/a").unwrap(),
        parse_volume_flag(&format!(
            "{}:/h",
            root.path().join("would-be-created").display()
        ))
        .unwrap(),
        parse_mount_flag(&format!("type=bind,src={},dst=/b", missing.display())).unwrap(),
    ];
    let e = prepare(&store, &reqs, "c1").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            missing.display()
        )
    );
    assert!(!missing.exists());
    assert!(!root.path().join("would-be-created").exists());
    assert!(store.list(&ListFilters::default()).unwrap().is_empty());

    // duplicate targets (e.g. requests built by hand)
    let reqs = vec![
        parse_volume_flag("v1:/a").unwrap(),
        parse_volume_flag("v2:/a/").unwrap(),
    ];
    assert!(matches!(
        prepare(&store, &reqs, "c1"),
        Err(VolumeError::DuplicateMountPoint(_))
    ));
    // bad driver options on an auto-created volume
    let reqs = vec![parse_mount_flag("src=v3,dst=/x,volume-opt=type=tmpfs").unwrap()];
    assert!(prepare(&store, &reqs, "c1").is_err());
    assert!(store.list(&ListFilters::default()).unwrap().is_empty());

    // a failing driver mount at start leaves no reference behind
    let reqs = vec![
        parse_volume_flag("/anon1").unwrap(),
        parse_mount_flag("src=broken,dst=/x,volume-opt=type=nosuchfs,volume-opt=device=none")
            .unwrap(),
    ];
    assert!(resolve(&store, &reqs, "c1", None).is_err());
    let vols = store.list(&ListFilters::default()).unwrap();
    assert!(vols.iter().all(|v| v.containers.is_empty()), "{vols:?}");
    assert!(
        vols.iter().all(|v| !v.anonymous),
        "the anonymous volume is rolled back"
    );
    store.remove("broken", false).unwrap();
}

/// Applies OCI mounts the way a runtime does, inside `unshare -m` (so nothing leaks), then
/// runs `check` there. Returns (exit ok, stdout+stderr).
fn in_private_ns(mounts: &[(OciMount, PathBuf)], check: &str) -> (bool, String) {
    let mut script = String::from("set -e\n");
    for (m, target) in mounts {
        let t = target.display();
        let props: Vec<&String> = m
            .options
            .iter()
            .filter(|o| {
                [
                    "private", "rprivate", "shared", "rshared", "slave", "rslave",
                ]
                .contains(&o.as_str())
            })
            .collect();
        if m.kind == "bind" {
            script += &format!("mount --rbind '{}' '{t}'\n", m.source);
            if m.options.iter().any(|o| o == "ro") {
                script += &format!("mount -o remount,bind,ro '{t}'\n");
            }
        } else {
            let data: Vec<&str> = m
                .options
                .iter()
                .map(String::as_str)
                .filter(|o| !props.iter().any(|p| p.as_str() == *o))
                .collect();
            script += &format!(
                "mount -t {} -o '{}' {} '{t}'\n",
                m.kind,
                data.join(","),
                m.source
            );
        }
        for p in props {
            script += &format!("mount --make-{p} '{t}'\n");
        }
    }
    script += "set +e\n";
    script += check;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn ro_bind_refuses_writes() {
    let root = Root::new();
    let store = root.store();
    let host = root.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("existing"), "old").unwrap();
    let ctr = root.path().join("ctr");
    for d in ["ro", "rw", "tmp"] {
        fs::create_dir_all(ctr.join(d)).unwrap();
    }
    let reqs = vec![
        parse_volume_flag(&format!("{}:/ro:ro", host.display())).unwrap(),
        parse_mount_flag(&format!("type=bind,src={},dst=/rw", host.display())).unwrap(),
        parse_mount_flag("type=tmpfs,dst=/tmp,tmpfs-size=1m").unwrap(),
    ];
    let res = resolve(&store, &reqs, "c1", None).unwrap();
    let mounts: Vec<(OciMount, PathBuf)> = res
        .mounts
        .iter()
        .map(|m| (m.clone(), ctr.join(m.destination.trim_start_matches('/'))))
        .collect();
    let check = format!(
        "echo new > '{c}/ro/existing'; echo \"ro:$?\"\n\
         touch '{c}/ro/created'; echo \"ro2:$?\"\n\
         echo rwdata > '{c}/rw/written'; echo \"rw:$?\"\n\
         echo t > '{c}/tmp/f'; echo \"tmp:$?\"\n\
         grep ' {c}/tmp ' /proc/self/mountinfo\n\
         grep ' {c}/ro ' /proc/self/mountinfo\n",
        c = ctr.display()
    );
    let (ok, out) = in_private_ns(&mounts, &check);
    assert!(ok, "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("ro:1") || out.contains("ro:2"), "{out}");
    assert!(!out.contains("ro:0") && !out.contains("ro2:0"), "{out}");
    assert!(out.contains("rw:0") && out.contains("tmp:0"), "{out}");
    let tmp_line = out
        .lines()
        .find(|l| l.contains(&format!("{}/tmp ", ctr.display())))
        .unwrap();
    assert!(
        tmp_line.contains("nosuid") && tmp_line.contains("nodev") && tmp_line.contains("noexec"),
        "{tmp_line}"
    );
    assert!(tmp_line.contains("size=1024k"), "{tmp_line}");
    let ro_line = out
        .lines()
        .find(|l| l.contains(&format!("{}/ro ", ctr.display())))
        .unwrap();
    assert!(
        ro_line.split(' ').nth(5).unwrap().starts_with("ro"),
        "{ro_line}"
    );

    // the host saw the rw write, not the ro one; nothing is left mounted outside
    assert_eq!(fs::read_to_string(host.join("existing")).unwrap(), "old");
    assert!(!host.join("created").exists());
    assert_eq!(
        fs::read_to_string(host.join("written")).unwrap(),
        "rwdata\n"
    );
    assert!(!volume::is_mount_point(&ctr.join("ro")));
    assert!(!volume::is_mount_point(&ctr.join("tmp")));
    assert!(res.points.iter().all(|p| p.kind != MountType::Volume));
}

#[test]
fn nested_mounts_parent_first() {
    let root = Root::new();
    let store = root.store();
    let h = root.path().display().to_string();
    let reqs = vec![
        parse_volume_flag(&format!("{h}/a:/x/y/z")).unwrap(),
        parse_volume_flag(&format!("{h}/b:/x")).unwrap(),
        parse_volume_flag(&format!("{h}/c:/x/y")).unwrap(),
    ];
    let res = resolve(&store, &reqs, "c1", None).unwrap();
    let order: Vec<&str> = res.mounts.iter().map(|m| m.destination.as_str()).collect();
    assert_eq!(order, ["/x", "/x/y", "/x/y/z"]);
    // points keep request order (inspect)
    assert_eq!(res.points[0].destination, "/x/y/z");
}

/// End to end with a real OCI runtime: the resolved mounts go into a runc bundle; inside the
/// container the `:ro` bind refuses writes (EROFS), the named volume holds the copied-up
/// image content and takes writes, the tmpfs is there with docker's flags.
#[test]
fn runc_container_sees_volumes() {
    if Command::new("runc").arg("--version").output().is_err() {
        eprintln!("runc not installed: skipped");
        return;
    }
    let root = Root::new();
    let store = root.store();
    let bundle = root.path().join("bundle");
    let rootfs = bundle.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "ro", "scratch", "data"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "cat", "echo", "grep", "touch"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::write(rootfs.join("data/config"), "from-image\n").unwrap();
    std::os::unix::fs::chown(rootfs.join("data/config"), Some(33), Some(33)).unwrap();
    let host = root.path().join("host");
    fs::create_dir(&host).unwrap();

    let reqs = collect(
        &[
            format!("{}:/ro:ro", host.display()),
            "e2e-named:/data".into(),
        ],
        &[],
        &BTreeMap::from([("/scratch".to_string(), "size=2m".to_string())]),
        &[],
    )
    .unwrap();
    let id = format!("berth-test-volume-{}", std::process::id());
    let res = resolve(&store, &reqs, &id, Some(&rootfs)).unwrap();

    let out = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!([
        "sh",
        "-c",
        "echo x > /ro/f; echo \"ro:$?\"; cat /data/config; echo y > /data/new; echo \"data:$?\"; \
         echo z > /scratch/f; echo \"scratch:$?\"; grep ' /scratch ' /proc/self/mountinfo"
    ]);
    cfg["root"]["readonly"] = true.into(); // --read-only root: volumes stay writable
    cfg["linux"]["cgroupsPath"] = format!("/{id}").into();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    for m in &res.mounts {
        mounts.push(serde_json::to_value(m).unwrap());
    }
    fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();

    let state = root.path().join("runc-state");
    let out = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .output();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(text.contains("ro:1") || text.contains("ro:2"), "{text}");
    assert!(text.contains("from-image"), "{text}");
    assert!(
        text.contains("data:0") && text.contains("scratch:0"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.contains(" /scratch "))
        .unwrap_or_default();
    assert!(
        line.contains("noexec") && line.contains("size=2048k"),
        "{text}"
    );

    assert!(!host.join("f").exists());
    let data = store.data_dir("e2e-named");
    assert_eq!(fs::read_to_string(data.join("new")).unwrap(), "y\n");
    assert_eq!(fs::metadata(data.join("config")).unwrap().uid(), 33);

    deactivate(&store, &res.points, &id).unwrap();
    release(&store, &res.points, &id, true).unwrap();
    store.remove("e2e-named", false).unwrap();
}
