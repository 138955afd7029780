mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use image::unpack::unpack;
use image::{ImageError, Snapshotter};

/// Removes every snapshot it was given on drop, so a failing test leaves no mount behind.
struct Cleanup<'a>(&'a Snapshotter, Vec<&'static str>);
impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for k in &self.1 {
            let _ = self.0.remove(k);
        }
    }
}

#[test]
fn overlay_isolation_and_remove() {
    let t = TestDir::new();
    let store = t.store();
    let img = import(&store, &busybox_tar(), Some("busybox")).unwrap();
    let lowers = store.layer_dirs(&img).unwrap();
    let snap = Snapshotter::new(t.image_root()).unwrap();
    let _c = Cleanup(&snap, vec!["s1", "s2"]);

    let m1 = snap.prepare("s1", &lowers).unwrap();
    assert_eq!(m1, t.image_root().join("snapshots/s1/merged"));
    assert!(snap.exists("s1") && snap.is_mounted("s1"));
    assert!(m1.join("bin/busybox").is_file());
    fs::write(m1.join("tmp/hello"), b"from s1").unwrap();
    fs::remove_file(m1.join("etc/group")).unwrap();

    // Invisible in the layer and in a second snapshot of the same image.
    assert!(!lowers[0].join("tmp/hello").exists());
    assert!(lowers[0].join("etc/group").exists());
    let m2 = snap.prepare("s2", &lowers).unwrap();
    assert!(!m2.join("tmp/hello").exists());
    assert!(m2.join("etc/group").exists());
    // The change lives in s1's upper dir.
    assert_eq!(
        fs::read(snap.upper_dir("s1").unwrap().join("tmp/hello")).unwrap(),
        b"from s1"
    );

    // Same key twice: conflict, and the first stays intact.
    assert!(matches!(
        snap.prepare("s1", &lowers),
        Err(ImageError::Conflict(_))
    ));
    assert!(snap.is_mounted("s1"));

    // unmount + mount (as after a reboot) keeps the upper content.
    snap.unmount("s1").unwrap();
    assert!(!snap.is_mounted("s1"));
    assert!(!m1.join("tmp/hello").exists());
    snap.unmount("s1").unwrap(); // idempotent
    snap.mount("s1", &lowers).unwrap();
    assert_eq!(fs::read(m1.join("tmp/hello")).unwrap(), b"from s1");
    snap.mount("s1", &lowers).unwrap(); // already mounted: fine

    // Remove while busy (an open file) still works via lazy unmount.
    let busy = fs::File::open(m1.join("tmp/hello")).unwrap();
    snap.remove("s1").unwrap();
    drop(busy);
    assert!(!snap.exists("s1"));
    assert!(!t.image_root().join("snapshots/s1").exists());
    assert!(!mounted(&m1));
    snap.remove("s2").unwrap();
    assert!(!mounted(&m2));
    snap.remove("s2").unwrap(); // absent is fine
                                // The image's layer is untouched.
    assert!(lowers[0].join("bin/busybox").is_file());
    assert!(matches!(
        snap.prepare("../x", &lowers),
        Err(ImageError::InvalidKey(_))
    ));
    assert!(matches!(
        snap.prepare("a/b", &lowers),
        Err(ImageError::InvalidKey(_))
    ));
}

#[test]
fn whiteouts_and_layer_order() {
    let t = TestDir::new();
    let lower = t.path().join("l1");
    let upper = t.path().join("l2");
    fs::create_dir(&lower).unwrap();
    fs::create_dir(&upper).unwrap();
    let base = TarBuilder::new()
        .dir("d/", 0o755)
        .file("d/a", 0o644, b"a")
        .file("gone", 0o644, b"g")
        .file("f", 0o644, b"lower")
        .build();
    unpack(&mut &base[..], &lower).unwrap();
    let top = TarBuilder::new()
        .file(".wh.gone", 0o644, b"")
        .dir("d/", 0o755)
        .file("d/.wh..wh..opq", 0o644, b"")
        .file("d/b", 0o644, b"b")
        .file("f", 0o644, b"upper")
        .build();
    unpack(&mut &top[..], &upper).unwrap();
    let snap = Snapshotter::new(t.image_root()).unwrap();
    let _c = Cleanup(&snap, vec!["wh"]);
    let m = snap.prepare("wh", &[lower, upper]).unwrap();
    assert!(!m.join("gone").exists(), "whiteout hides the lower file");
    assert_eq!(
        names(&m.join("d")),
        vec!["b"],
        "opaque dir hides lower content"
    );
    assert_eq!(fs::read(m.join("f")).unwrap(), b"upper", "upper layer wins");
    snap.remove("wh").unwrap();
}

#[test]
fn long_lowerdir_list() {
    let t = TestDir::new();
    // 100 layers with 64-hex names: the option string is far over one page.
    let mut lowers: Vec<PathBuf> = Vec::new();
    for i in 0..100u32 {
        let d = t
            .image_root()
            .join("layers/sha256")
            .join(format!("{:064x}", i));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("f{i}")), i.to_string()).unwrap();
        fs::write(d.join("top"), i.to_string()).unwrap();
        lowers.push(d);
    }
    let total: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(total > 4096);
    let snap = Snapshotter::new(t.image_root()).unwrap();
    let _c = Cleanup(&snap, vec!["long"]);
    let m = snap.prepare("long", &lowers).unwrap();
    assert_eq!(fs::read_to_string(m.join("f0")).unwrap(), "0");
    assert_eq!(fs::read_to_string(m.join("f99")).unwrap(), "99");
    assert_eq!(
        fs::read_to_string(m.join("top")).unwrap(),
        "99",
        "last layer is the top"
    );
    snap.remove("long").unwrap();
    assert!(!mounted(&m));
}

#[test]
fn empty_lowers() {
    let t = TestDir::new();
    let snap = Snapshotter::new(t.image_root()).unwrap();
    let _c = Cleanup(&snap, vec!["scratch"]);
    let m = snap.prepare("scratch", &[]).unwrap();
    fs::write(m.join("x"), b"1").unwrap();
    snap.remove("scratch").unwrap();
    assert!(!mounted(&m));
}

fn mounted(p: &std::path::Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

#[test]
fn commit_container_changes() {
    use image::diff::{write_tar, TarMode};
    use image::CommitOptions;
    use std::os::unix::fs::PermissionsExt;
    let t = TestDir::new();
    let store = t.store();
    let base = import(&store, &busybox_tar(), Some("busybox")).unwrap();
    let snap = Snapshotter::new(t.image_root()).unwrap();
    let _c = Cleanup(&snap, vec!["c1", "c2"]);
    let m = snap
        .prepare("c1", &store.layer_dirs(&base).unwrap())
        .unwrap();
    fs::write(m.join("tmp/new"), b"new file").unwrap();
    fs::set_permissions(m.join("tmp/new"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::remove_file(m.join("bin/ls")).unwrap();
    fs::remove_dir_all(m.join("etc")).unwrap();
    fs::create_dir(m.join("etc")).unwrap();
    fs::write(m.join("etc/hostname"), b"box\n").unwrap();
    fs::hard_link(m.join("tmp/new"), m.join("tmp/new-link")).unwrap();

    let img = store
        .commit(
            Some(&base),
            &snap.upper_dir("c1").unwrap(),
            CommitOptions {
                reference: Some("committed:1".into()),
                changes: vec!["CMD [\"/bin/sh\"]".into()],
                comment: Some("my change".into()),
                author: Some("me".into()),
                created_by: Some("/bin/sh -c edit".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(img.repo_tags, vec!["committed:1"]);
    assert_eq!(img.config.rootfs.diff_ids.len(), 2);
    assert_eq!(
        img.config.rootfs.diff_ids[0],
        base.config.rootfs.diff_ids[0]
    );
    assert_eq!(
        img.config.history.last().unwrap().comment.as_deref(),
        Some("my change")
    );
    assert_eq!(img.container_config().cmd.unwrap(), vec!["/bin/sh"]);
    let layers = store.layer_dirs(&img).unwrap();
    assert_eq!(layers.len(), 2);

    let m2 = snap.prepare("c2", &layers).unwrap();
    assert_eq!(fs::read(m2.join("tmp/new")).unwrap(), b"new file");
    assert_eq!(
        fs::metadata(m2.join("tmp/new"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert!(!m2.join("bin/ls").exists() && fs::symlink_metadata(m2.join("bin/ls")).is_err());
    assert!(m2.join("bin/busybox").is_file());
    assert_eq!(names(&m2.join("etc")), vec!["hostname"], "opaque dir");
    {
        use std::os::unix::fs::MetadataExt;
        let a = fs::metadata(m2.join("tmp/new")).unwrap();
        let b = fs::metadata(m2.join("tmp/new-link")).unwrap();
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "hard link kept");
    }
    snap.remove("c2").unwrap();

    // docker export → docker import round trip of a merged rootfs.
    let tar = write_tar(&m, Vec::new(), TarMode::Plain).unwrap();
    let exported = import(&store, &tar, Some("exported")).unwrap();
    let l = &store.layer_dirs(&exported).unwrap()[0];
    assert!(l.join("bin/busybox").is_file());
    assert!(l.join("etc/hostname").is_file());
    assert!(!l.join("etc/passwd").exists());
    assert!(!l.join("bin/ls").exists());
    snap.remove("c1").unwrap();

    // Removing the committed image keeps the base layer (still used by busybox).
    store.remove("committed:1", false).unwrap();
    assert!(store.layer_dirs(&base).unwrap()[0].is_dir());
}
