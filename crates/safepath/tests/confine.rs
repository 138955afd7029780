//! Unit tests of confinement: nothing resolves or is written outside the root.

use safepath::tree::{copy_fd, CopyOpts};
use safepath::Root;
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("safepath-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn confine_symlink_to_slash_stays_inside() {
    let d = tmp("slash");
    let root = d.join("root");
    fs::create_dir(&root).unwrap();
    symlink("/", root.join("up")).unwrap();
    symlink("../../../../etc/passwd", root.join("rel")).unwrap();
    let r = Root::open(&root).unwrap();
    assert!(r.open_file("up/etc/passwd").unwrap_err().is_not_found());
    assert!(r.open_file("rel").unwrap_err().is_not_found());
    assert!(r.open_file("/../../etc/passwd").unwrap_err().is_not_found());
    assert_eq!(r.real_path("up").unwrap(), root);
    assert_eq!(r.read_link("up").unwrap(), PathBuf::from("/"));
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/passwd"), "inside").unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut r.open_file("up/etc/passwd").unwrap(), &mut s).unwrap();
    assert_eq!(s, "inside");
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn confine_magic_links_refused() {
    let d = tmp("magic");
    symlink("/proc/self/root/etc/passwd", d.join("m")).unwrap();
    let r = Root::open(&d).unwrap();
    assert!(r.open_file("m").is_err());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn confine_mkdir_all_and_create_through_links() {
    let d = tmp("mkdir");
    let host = d.join("host");
    let root = d.join("root");
    fs::create_dir_all(&host).unwrap();
    fs::create_dir_all(&root).unwrap();
    symlink(&host, root.join("w")).unwrap();
    let r = Root::open(&root).unwrap();
    r.mkdir_all("/w/sub/deeper", 0o755).unwrap();
    drop(r.create_file("w/file", 0o644).unwrap());
    assert_eq!(
        fs::read_dir(&host).unwrap().count(),
        0,
        "nothing on the host"
    );
    assert!(root
        .join(host.strip_prefix("/").unwrap())
        .join("sub/deeper")
        .is_dir());
    assert!(root
        .join(host.strip_prefix("/").unwrap())
        .join("file")
        .is_file());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn confine_copy_keeps_links_as_links() {
    let d = tmp("copy");
    let src = d.join("src");
    let dst = d.join("dst");
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("a/f"), "x").unwrap();
    symlink("/etc", src.join("a/etc")).unwrap();
    fs::create_dir_all(&dst).unwrap();
    let host = d.join("host");
    fs::create_dir_all(&host).unwrap();
    // a destination entry that is a link to a host dir is replaced, never written through
    fs::create_dir_all(dst.join("a")).unwrap();
    symlink(&host, dst.join("a/f")).unwrap();
    let s = Root::open(&src).unwrap();
    let t = Root::open(&dst).unwrap();
    let fd = s.resolve("a").unwrap();
    let top = t.open_dir("").unwrap();
    copy_fd(fd.as_fd(), top.as_fd(), "a".as_ref(), CopyOpts::default()).unwrap();
    assert_eq!(
        fs::read_link(dst.join("a/etc")).unwrap(),
        PathBuf::from("/etc")
    );
    assert_eq!(fs::read_to_string(dst.join("a/f")).unwrap(), "x");
    assert_eq!(fs::read_dir(&host).unwrap().count(), 0);
    fs::remove_dir_all(&d).unwrap();
}
