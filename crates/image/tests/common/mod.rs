//! Shared test helpers: temp roots, tar builders.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use image::{ImageStore, ImportOptions};

/// A unique temp dir with `root/` (the data root) and `canary/` beside it.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-image-test-")
            .tempdir()
            .unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        fs::create_dir(dir.path().join("canary")).unwrap();
        TestDir { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// D/image
    pub fn image_root(&self) -> PathBuf {
        self.dir.path().join("root").join("image")
    }
    pub fn canary(&self) -> PathBuf {
        self.dir.path().join("canary")
    }
    pub fn store(&self) -> ImageStore {
        ImageStore::open(self.image_root()).unwrap()
    }
}

/// Names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// Writes a raw name into a header without the tar crate's path checks (for evil tars).
fn set_raw_name(h: &mut tar::Header, name: &str) {
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name = [0; 100];
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
}

fn set_raw_link(h: &mut tar::Header, target: &str) {
    let gnu = h.as_gnu_mut().unwrap();
    gnu.linkname = [0; 100];
    gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
}

/// A tar under construction with raw (unchecked) names.
pub struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }
    pub fn dir(mut self, name: &str, mode: u32) -> Self {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        set_raw_name(&mut h, name);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    pub fn file(mut self, name: &str, mode: u32, data: &[u8]) -> Self {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        set_raw_name(&mut h, name);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }
    pub fn file_owned(
        mut self,
        name: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
    ) -> Self {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        set_raw_name(&mut h, name);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }
    pub fn symlink(mut self, name: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        set_raw_name(&mut h, name);
        set_raw_link(&mut h, target);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    pub fn hardlink(mut self, name: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Link, 0o644, 0);
        set_raw_name(&mut h, name);
        set_raw_link(&mut h, target);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    pub fn node(
        mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Self {
        let mut h = header(kind, mode, 0);
        set_raw_name(&mut h, name);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    /// A file with a PAX xattr.
    pub fn file_xattr(mut self, name: &str, data: &[u8], xname: &str, xval: &[u8]) -> Self {
        let key = format!("SCHILY.xattr.{xname}");
        self.b
            .append_pax_extensions([(key.as_str(), xval)])
            .unwrap();
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        set_raw_name(&mut h, name);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }
    pub fn build(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// A minimal busybox rootfs: /bin/busybox plus sh/echo/ls/cat links, /etc, /tmp.
pub fn busybox_tar() -> Vec<u8> {
    let bb = fs::read("/bin/busybox").expect("/bin/busybox (busybox-static) is required");
    let mut t = TarBuilder::new()
        .dir("bin/", 0o755)
        .file("bin/busybox", 0o755, &bb);
    for app in ["sh", "echo", "ls", "cat", "true"] {
        t = t.symlink(&format!("bin/{app}"), "busybox");
    }
    t.dir("etc/", 0o755)
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        .file("etc/group", 0o644, b"root:x:0:\n")
        .dir("tmp/", 0o1777)
        .dir("root/", 0o700)
        .build()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn import(
    store: &ImageStore,
    tar: &[u8],
    reference: Option<&str>,
) -> image::Result<image::ImageRecord> {
    store.import(
        tar,
        ImportOptions {
            reference: reference.map(str::to_string),
            ..Default::default()
        },
    )
}
