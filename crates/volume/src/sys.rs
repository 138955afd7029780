//! Thin wrappers over mount(2)/umount2(2) and `/proc/self/mountinfo`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Result, VolumeError};

fn cstr(target: &Path, s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| VolumeError::Mount {
        target: target.to_path_buf(),
        reason: "NUL byte in a mount argument".into(),
    })
}

/// mount(2) with raw flags (`MS_*`) and an optional data string.
pub(crate) fn mount(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<()> {
    let src = cstr(target, source.as_bytes())?;
    let tgt = cstr(target, target.as_os_str().as_bytes())?;
    let fst = cstr(target, fstype.as_bytes())?;
    let dat = cstr(target, data.as_bytes())?;
    let data_ptr = if data.is_empty() {
        std::ptr::null()
    } else {
        dat.as_ptr() as *const libc::c_void
    };
    // SAFETY: all pointers are valid NUL-terminated strings (or null for data) that outlive the call.
    let rc = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fst.as_ptr(), flags, data_ptr) };
    if rc != 0 {
        return Err(VolumeError::Mount {
            target: target.to_path_buf(),
            reason: format!(
                "{fstype} from {source} ({data}): {}",
                io::Error::last_os_error()
            ),
        });
    }
    Ok(())
}

/// Unmounts everything stacked on `target`; a busy mount is detached lazily.
pub(crate) fn unmount_all(target: &Path) -> Result<()> {
    let tgt = cstr(target, target.as_os_str().as_bytes())?;
    for _ in 0..16 {
        if !is_mount_point(target) {
            return Ok(());
        }
        // SAFETY: tgt is a valid NUL-terminated path.
        let rc = unsafe { libc::umount2(tgt.as_ptr(), 0) };
        if rc == 0 {
            continue;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOENT) => return Ok(()),
            Some(libc::EBUSY) => {
                // SAFETY: as above.
                if unsafe { libc::umount2(tgt.as_ptr(), libc::MNT_DETACH) } != 0 {
                    return Err(VolumeError::Mount {
                        target: target.to_path_buf(),
                        reason: format!("lazy unmount: {}", io::Error::last_os_error()),
                    });
                }
            }
            _ => {
                return Err(VolumeError::Mount {
                    target: target.to_path_buf(),
                    reason: format!("unmount: {err}"),
                })
            }
        }
    }
    Ok(())
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// True when `path` is a mount point in this process's mount namespace.
pub(crate) fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.as_os_str().as_bytes();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == want)
}
