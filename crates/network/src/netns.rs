//! Named network namespaces bind-mounted on a file (like `ip netns add`, but at any path,
//! e.g. `E/netns/<id>`), so the OCI runtime can join them by `path`.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::error::{NetworkError, Result};

/// Make `dir` a shared mount point (bind onto itself first when needed), as iproute2 does for
/// /run/netns: an unmount of a netns file then propagates into containers' mount namespaces
/// that copied it, so the namespace really dies when removed.
fn ensure_shared_dir(dir: &Path) -> Result<()> {
    // Serialise: two threads binding the same dir at once would stack two mounts.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::create_dir_all(dir).map_err(|e| NetworkError::io("create dir", dir, e))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if mount(None::<&str>, dir, None::<&str>, shared, None::<&str>).is_ok() && is_mountpoint(dir) {
        return Ok(());
    }
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| NetworkError::io("bind mount", dir, e.into()))?;
    mount(None::<&str>, dir, None::<&str>, shared, None::<&str>)
        .map_err(|e| NetworkError::io("make shared", dir, e.into()))
}

fn is_mountpoint(dir: &Path) -> bool {
    let Ok(canon) = dir.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m == want)
}

/// Create a new network namespace bind-mounted at `path` (its parent dir is made a shared
/// mount point), with loopback up. Fails with `Conflict` when `path` already holds one.
pub fn create(path: &Path) -> Result<()> {
    let parent = path.parent().ok_or_else(|| {
        NetworkError::InvalidArgument(format!("bad netns path {}", path.display()))
    })?;
    ensure_shared_dir(parent)?;
    if path.exists() {
        return Err(NetworkError::Conflict(format!(
            "netns {} already exists",
            path.display()
        )));
    }
    std::fs::File::create(path).map_err(|e| NetworkError::io("create netns file", path, e))?;
    let target = path.to_path_buf();
    // unshare(CLONE_NEWNET) only affects the calling thread: do it in a short-lived thread
    // and pin the new namespace with a bind mount before the thread ends.
    let res = std::thread::spawn(move || -> std::io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        // loopback up over a netlink socket made in the new netns (this thread's)
        crate::netlink::Nl::open_here("new netns".into())?
            .link_up("lo")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")));
    if let Err(e) = res {
        let _ = std::fs::remove_file(path);
        return Err(NetworkError::io("create netns", path, e));
    }
    Ok(())
}

/// Unmount and delete the netns file at `path`; a missing path is fine.
pub fn remove(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let _ = umount2(path, MntFlags::MNT_DETACH);
    std::fs::remove_file(path).map_err(|e| NetworkError::io("remove netns file", path, e))
}

/// Whether `path` holds a mounted network namespace.
pub fn exists(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    // An nsfs bind mount shows as a file on the nsfs device (dev 0:4 on most kernels);
    // compare with our own netns's device.
    match std::fs::metadata("/proc/self/ns/net") {
        Ok(own) => meta.dev() == own.dev(),
        Err(_) => false,
    }
}

/// Undo what [`create`] did to the directory (the shared self-bind mount) once no netns file
/// is left in it, and remove the directory. Best effort; for daemon shutdown in tests.
pub fn release_dir(dir: &Path) {
    let empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty {
        return;
    }
    if is_mountpoint(dir) {
        let _ = umount2(dir, MntFlags::MNT_DETACH);
    }
    let _ = std::fs::remove_dir(dir);
}
