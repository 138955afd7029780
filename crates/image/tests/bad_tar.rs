mod common;

use common::*;
use image::ImageError;

/// Imports `tar`, expects an error, and checks nothing leaked: canary untouched, no blob,
/// layer, temp file or record left.
fn expect_rejected(t: &TestDir, tar: &[u8], what: &str) -> ImageError {
    let store = t.store();
    let err = import(&store, tar, Some("evil")).expect_err(what);
    assert!(
        names(&t.canary()).is_empty(),
        "{what}: canary written: {:?}",
        names(&t.canary())
    );
    let root = t.image_root();
    for sub in ["content/sha256", "layers/sha256", "tmp"] {
        assert!(
            names(&root.join(sub)).is_empty(),
            "{what}: {sub} not empty: {:?}",
            names(&root.join(sub))
        );
    }
    assert!(store.list().unwrap().is_empty(), "{what}: record left");
    assert!(matches!(store.get("evil"), Err(ImageError::NotFound(_))));
    // Nothing appeared next to the data root either.
    assert_eq!(names(t.path()), vec!["canary", "root"], "{what}");
    assert_eq!(names(&t.path().join("root")), vec!["image"], "{what}");
    err
}

fn entry_error(err: &ImageError, entry: &str, what: &str) {
    match err {
        ImageError::InvalidLayer { entry: e, .. } => assert_eq!(e, entry, "{what}: {err}"),
        other => panic!("{what}: expected InvalidLayer for {entry}, got {other}"),
    }
    assert!(
        err.to_string().contains(entry),
        "{what}: message names the entry: {err}"
    );
}

#[test]
fn dotdot_entry() {
    let t = TestDir::new();
    // The layer is unpacked in D/image/tmp/layer-X: four levels up is the test dir.
    let tar = TarBuilder::new()
        .dir("bin/", 0o755)
        .file("../../../../canary/pwned", 0o644, b"x")
        .build();
    let err = expect_rejected(&t, &tar, "../ entry");
    entry_error(&err, "../../../../canary/pwned", "../ entry");
    let tar = TarBuilder::new().file("a/../../x", 0o644, b"x").build();
    let err = expect_rejected(&t, &tar, "inner ..");
    entry_error(&err, "a/../../x", "inner ..");
}

#[test]
fn absolute_paths() {
    let t = TestDir::new();
    // `/..` escapes even after stripping the leading slash: refused.
    let tar = TarBuilder::new()
        .file("/../../../../canary/pwned", 0o644, b"x")
        .build();
    let err = expect_rejected(&t, &tar, "/.. entry");
    entry_error(&err, "/../../../../canary/pwned", "/.. entry");
    // A plain absolute path is taken relative to the layer root (like docker): it lands
    // inside the layer, never at the absolute location.
    let abs = t.canary().join("abs-pwned");
    let tar = TarBuilder::new()
        .file(abs.to_str().unwrap(), 0o644, b"x")
        .build();
    let store = t.store();
    let img = import(&store, &tar, Some("abs")).unwrap();
    assert!(!abs.exists());
    let layer = &store.layer_dirs(&img).unwrap()[0];
    assert!(layer.join(abs.strip_prefix("/").unwrap()).is_file());
    assert!(names(&t.canary()).is_empty());
}

#[test]
fn entry_under_symlink_to_root() {
    let t = TestDir::new();
    let canary_rel = t
        .canary()
        .strip_prefix("/")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let tar = TarBuilder::new()
        .symlink("evil", "/")
        .file(&format!("evil/{canary_rel}/pwned"), 0o644, b"x")
        .build();
    let err = expect_rejected(&t, &tar, "symlink to /");
    entry_error(&err, &format!("evil/{canary_rel}/pwned"), "symlink to /");
    assert!(err.to_string().contains("symlink"), "{err}");
    // Directory entry under it too.
    let tar = TarBuilder::new()
        .symlink("evil", "/")
        .dir(&format!("evil/{canary_rel}/d/"), 0o755)
        .build();
    expect_rejected(&t, &tar, "dir under symlink to /");
}

#[test]
fn entry_under_symlink_to_dotdot() {
    let t = TestDir::new();
    let tar = TarBuilder::new()
        .symlink("up", "../../../..")
        .file("up/canary/pwned", 0o644, b"x")
        .build();
    let err = expect_rejected(&t, &tar, "symlink to ..");
    entry_error(&err, "up/canary/pwned", "symlink to ..");
    // Nested: a real dir, then a symlink inside it.
    let tar = TarBuilder::new()
        .dir("a/", 0o755)
        .symlink("a/b", "..")
        .file("a/b/b/b/b/canary/pwned", 0o644, b"x")
        .build();
    expect_rejected(&t, &tar, "nested symlink to ..");
    // A symlink replacing a directory cannot be used as a path later.
    let tar = TarBuilder::new()
        .dir("d/", 0o755)
        .symlink("d", "/")
        .file("d/tmp/pwned", 0o644, b"x")
        .build();
    expect_rejected(&t, &tar, "symlink replaces dir");
}

#[test]
fn hardlink_escapes() {
    let t = TestDir::new();
    let tar = TarBuilder::new().hardlink("passwd", "/etc/passwd").build();
    let err = expect_rejected(&t, &tar, "hardlink to /etc/passwd");
    entry_error(&err, "passwd", "hardlink to /etc/passwd");
    let tar = TarBuilder::new()
        .hardlink("passwd", "../../../../../../../etc/passwd")
        .build();
    expect_rejected(&t, &tar, "hardlink via ..");
    let tar = TarBuilder::new()
        .symlink("etc", "/etc")
        .hardlink("passwd", "etc/passwd")
        .build();
    expect_rejected(&t, &tar, "hardlink through symlink");
    // A file written through a hard link of an outside file would change the outside file:
    // make sure /etc/passwd is untouched and not linked.
    assert_eq!(
        std::fs::metadata("/etc/passwd")
            .map(|m| std::os::unix::fs::MetadataExt::nlink(&m))
            .unwrap(),
        1
    );
}

#[test]
fn truncated_gzip() {
    let t = TestDir::new();
    let gz = gzip(&busybox_tar());
    let cut = &gz[..gz.len() / 2];
    let err = expect_rejected(&t, cut, "truncated gzip");
    assert!(matches!(err, ImageError::InvalidArchive(_)), "{err}");
    // Truncated plain tar (cut inside busybox's data).
    let tar = busybox_tar();
    let err = expect_rejected(&t, &tar[..tar.len() / 2], "truncated tar");
    assert!(matches!(err, ImageError::InvalidArchive(_)), "{err}");
    // Garbage.
    let err = expect_rejected(
        &t,
        b"this is not a tar archive at all, just text.........",
        "garbage",
    );
    assert!(
        matches!(
            err,
            ImageError::InvalidArchive(_) | ImageError::InvalidLayer { .. }
        ),
        "{err}"
    );
    // Unsupported compression.
    let err = expect_rejected(&t, b"BZh91AY&SY....", "bzip2");
    assert!(err.to_string().contains("unsupported compression"), "{err}");
}
