//! Modes of the data root (D) and exec root (E), set explicitly whatever the umask: no other
//! user may traverse into a container's files, a snapshot or a volume, nor read a config,
//! a database or a log (they hold `-e` secrets; an upper dir may hold setuid files).
//!
//! Applied when the engine opens (which also repairs an existing root made with looser
//! modes: the roots, their top-level entries, container dirs and the databases; rootfs
//! content is never walked) and when a container's files are created.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::paths::Paths;

/// D: root may enter; group (e.g. a remapped root) may traverse; others nothing.
pub const DATA_ROOT: u32 = 0o710;
/// E: traversable so a socket kept inside (its own mode 0660) stays reachable; every
/// directory in it is [`PRIVATE_DIR`].
pub const EXEC_ROOT: u32 = 0o711;
/// Directories only the daemon uses.
pub const PRIVATE_DIR: u32 = 0o700;
/// Files holding config, state or secrets.
pub const PRIVATE_FILE: u32 = 0o600;

/// Files of a container dir a container reads through a bind mount: they keep their mode.
const SHARED_FILES: &[&str] = &["hosts", "hostname", "resolv.conf"];

/// Sets `p`'s permission bits to `mode` (not following a final symlink's target is not
/// needed: every path here is one the daemon created).
pub fn set(p: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
}

/// Creates `p` (and parents) and gives it `mode`.
pub fn private_dir(p: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir_all(p)?;
    set(p, mode)
}

/// Gives the roots, their top-level entries, every container dir and every database the
/// modes above.
pub fn secure_roots(paths: &Paths) -> io::Result<()> {
    set(&paths.data_root, DATA_ROOT)?;
    set(&paths.exec_root, EXEC_ROOT)?;
    for (root, is_data) in [(&paths.data_root, true), (&paths.exec_root, false)] {
        for e in fs::read_dir(root)?.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if ft.is_dir() {
                set(&p, PRIVATE_DIR)?;
                if is_data {
                    secure_dbs(&p)?;
                }
            } else if ft.is_file() {
                set(&p, PRIVATE_FILE)?;
            }
        }
    }
    let containers = paths.data_root.join("containers");
    if let Ok(rd) = fs::read_dir(&containers) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                secure_container_dir(&e.path())?;
            }
        }
    }
    Ok(())
}

/// `*.redb` files directly in `dir` → [`PRIVATE_FILE`].
fn secure_dbs(dir: &Path) -> io::Result<()> {
    for e in fs::read_dir(dir)?.flatten() {
        let p = e.path();
        if e.file_type().map(|t| t.is_file()).unwrap_or(false)
            && p.extension().is_some_and(|x| x == "redb")
        {
            set(&p, PRIVATE_FILE)?;
        }
    }
    Ok(())
}

/// A container dir: the dir and its bundle private, its files (logs, config.json, state)
/// private except the few a container reads through a bind mount.
pub fn secure_container_dir(dir: &Path) -> io::Result<()> {
    set(dir, PRIVATE_DIR)?;
    for e in fs::read_dir(dir)?.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        let name = e.file_name();
        if ft.is_file() && !SHARED_FILES.iter().any(|s| name == *s) {
            set(&p, PRIVATE_FILE)?;
        } else if ft.is_dir() && name == "bundle" {
            set(&p, PRIVATE_DIR)?;
            let cfg = p.join("config.json");
            if cfg.is_file() {
                set(&cfg, PRIVATE_FILE)?;
            }
        }
    }
    Ok(())
}
