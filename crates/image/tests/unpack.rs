mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use common::*;
use image::unpack::unpack;

#[test]
fn keeps_metadata_and_special_files() {
    let t = TestDir::new();
    let dest = t.path().join("layer");
    fs::create_dir(&dest).unwrap();
    let tar = TarBuilder::new()
        .dir("usr/", 0o755)
        .file_owned(
            "usr/suid",
            0o4755,
            1000,
            1001,
            1_600_000_000,
            b"#!/bin/sh\n",
        )
        .file("deep/missing/parents/f", 0o600, b"data")
        .symlink("usr/link", "/nowhere/at/all")
        .hardlink("usr/hard", "usr/suid")
        .node("dev/null", tar::EntryType::Char, 0o666, 1, 3)
        .node("dev/fifo", tar::EntryType::Fifo, 0o644, 0, 0)
        .file_xattr("usr/cap", b"x", "user.berth", b"yes")
        .file("replace", 0o644, b"old")
        .file("replace", 0o644, b"new!")
        .build();
    let stats = unpack(&mut &tar[..], &dest).unwrap();
    assert_eq!(stats.size, 10 + 4 + 1 + 3 + 4);

    let suid = fs::symlink_metadata(dest.join("usr/suid")).unwrap();
    assert_eq!(suid.mode() & 0o7777, 0o4755);
    assert_eq!((suid.uid(), suid.gid()), (1000, 1001));
    assert_eq!(suid.mtime(), 1_600_000_000);
    assert_eq!(suid.nlink(), 2);
    assert_eq!(
        fs::symlink_metadata(dest.join("usr/hard")).unwrap().ino(),
        suid.ino()
    );
    assert_eq!(
        fs::read(dest.join("deep/missing/parents/f")).unwrap(),
        b"data"
    );
    assert_eq!(
        fs::metadata(dest.join("deep/missing")).unwrap().mode() & 0o777,
        0o755
    );
    assert_eq!(
        fs::read_link(dest.join("usr/link")).unwrap().to_str(),
        Some("/nowhere/at/all")
    );
    let null = fs::symlink_metadata(dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert!(fs::symlink_metadata(dest.join("dev/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let mut buf = [0u8; 8];
    let p = std::ffi::CString::new(dest.join("usr/cap").to_str().unwrap()).unwrap();
    let n = unsafe {
        libc::getxattr(
            p.as_ptr(),
            c"user.berth".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(n, 3, "xattr kept");
    assert_eq!(&buf[..3], b"yes");
    assert_eq!(fs::read(dest.join("replace")).unwrap(), b"new!");
    // Directory mtimes are set after their content.
    assert_eq!(
        fs::metadata(dest.join("usr")).unwrap().mtime(),
        1_700_000_000
    );
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let t = TestDir::new();
    let dest = t.path().join("layer");
    fs::create_dir(&dest).unwrap();
    let tar = TarBuilder::new()
        .dir("d/", 0o755)
        .file("d/.wh..wh..opq", 0o644, b"")
        .file(".wh.gone", 0o644, b"")
        .file("d/.wh.x", 0o644, b"")
        .file(".wh..wh.plnk", 0o644, b"")
        .build();
    unpack(&mut &tar[..], &dest).unwrap();
    let gone = fs::symlink_metadata(dest.join("gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(fs::symlink_metadata(dest.join("d/x"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(!dest.join(".wh.gone").exists());
    assert!(!dest.join(".wh..wh.plnk").exists());
    let p = std::ffi::CString::new(dest.join("d").to_str().unwrap()).unwrap();
    let mut buf = [0u8; 4];
    let n = unsafe {
        libc::getxattr(
            p.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(n, 1);
    assert_eq!(buf[0], b'y');
}
