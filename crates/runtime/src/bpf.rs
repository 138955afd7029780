//! The few bpf(2) commands the cgroup v2 device controller needs: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to a cgroup (replacing the programs
//! attached there before), list and detach.
//!
//! Why raw syscalls and no crate: the crates that wrap bpf(2) are either whole eBPF
//! toolchains (`aya`: async-oriented, ELF loader, BTF; `libbpf-rs`/`libbpf-sys`: build and
//! link the C libbpf; `bpf-sys`: bindings of the unmaintained redbpf project) or
//! assemblers/interpreters without the syscall (`rbpf`). We need five
//! commands with fixed-size arguments, so the `bpf_attr` variants are laid out by hand below
//! (`#[repr(C)]`, zero padded: the kernel accepts a larger attr whose tail is zero).

use crate::devfilter::Insn;
use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr` as used by BPF_PROG_LOAD (leading fields; the rest stays zero).
#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _pad: [u64; 8],
}

/// `union bpf_attr` as used by BPF_PROG_ATTACH / BPF_PROG_DETACH.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: [u32; 27],
}

/// `union bpf_attr` as used by BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: [u32; 25],
}

/// `union bpf_attr` as used by BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: [u32; 29],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: attr is a properly sized, initialised #[repr(C)] bpf_attr variant that lives
    // across the call; pointers inside it point to live buffers owned by the caller.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Loads `prog` as a cgroup device program; the verifier log becomes the error message.
pub fn load_device_program(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache";
    let mut log = vec![0u8; 64 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_devcgr");
    let mut attr = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    let fd = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd,
        Err(_) => {
            // Retry with the verifier log on, to explain the failure.
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => fd,
                Err(e) => {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    let msg = String::from_utf8_lossy(&log[..end]);
                    let msg = msg.trim();
                    return Err(Error::io(
                        if msg.is_empty() {
                            "load cgroup device eBPF program".to_string()
                        } else {
                            format!("load cgroup device eBPF program (verifier: {msg})")
                        },
                        e,
                    ));
                }
            }
        }
    };
    // SAFETY: the kernel returned a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn open_dir(dir: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| Error::io(format!("open cgroup {}", dir.display()), e))
}

/// Ids of the device programs attached to the cgroup `dir` itself.
fn query(cg: &std::fs::File) -> std::io::Result<Vec<u32>> {
    let mut want = 64usize;
    loop {
        let mut ids = vec![0u32; want];
        let mut attr = QueryAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // The buffer was too small; prog_cnt now holds the real count.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && want < 1 << 16 => {
                want = (attr.prog_cnt as usize).max(want * 2);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Attaches `prog` to the cgroup `dir` (BPF_F_ALLOW_MULTI), then detaches the device
/// programs that were attached there before (an earlier program of ours), so exactly the
/// new rules apply once this returns. The attachment keeps the program alive; `prog` may be
/// closed afterwards.
pub fn attach_device_program(dir: &Path, prog: &OwnedFd) -> Result<()> {
    let cg = open_dir(dir)?;
    let old = query(&cg).map_err(|e| Error::io(format!("query {}", dir.display()), e))?;
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| {
        Error::io(
            format!("attach device eBPF program to {}", dir.display()),
            e,
        )
    })?;
    for id in old {
        let mut g = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut g) else {
            continue; // already gone
        };
        // SAFETY: fresh fd from the kernel.
        let old_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut d = AttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut d).map_err(|e| {
            Error::io(
                format!("detach old device eBPF program from {}", dir.display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// Ids of the device programs attached to the cgroup `dir` (for tests and diagnostics).
pub fn attached_device_programs(dir: &Path) -> Result<Vec<u32>> {
    let cg = open_dir(dir)?;
    query(&cg).map_err(|e| Error::io(format!("query {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn attr_sizes_match_the_kernel_layout() {
        // Leading field offsets are fixed by the kernel ABI.
        assert_eq!(std::mem::offset_of!(super::LoadAttr, insns), 8);
        assert_eq!(std::mem::offset_of!(super::LoadAttr, log_buf), 32);
        assert_eq!(std::mem::offset_of!(super::LoadAttr, prog_name), 48);
        assert_eq!(
            std::mem::offset_of!(super::LoadAttr, expected_attach_type),
            68
        );
        assert_eq!(std::mem::offset_of!(super::QueryAttr, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(super::QueryAttr, prog_cnt), 24);
        assert_eq!(std::mem::offset_of!(super::AttachAttr, replace_bpf_fd), 16);
        assert_eq!(std::mem::size_of::<super::Insn>(), 8);
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;
    use crate::devfilter::{compile, Rule};

    fn is_root() -> bool {
        // SAFETY: geteuid never fails.
        unsafe { libc::geteuid() == 0 }
    }

    fn cgroup2_mount() -> Option<std::path::PathBuf> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        info.lines().find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            post.starts_with("cgroup2 ")
                .then(|| pre.split(' ').nth(4).map(std::path::PathBuf::from))?
        })
    }

    fn rules(list: &[(&str, bool)]) -> Vec<Rule> {
        list.iter()
            .map(|(l, a)| Rule::from_line(l, *a).unwrap())
            .collect()
    }

    #[test]
    fn verifier_accepts_and_attach_replaces() {
        if !is_root() {
            eprintln!("skipping: needs root (bpf)");
            return;
        }
        let sets = [
            rules(&[("a", false), ("c 1:3 rwm", true), ("c 136:* rwm", true)]),
            rules(&[("a", true)]),
            rules(&[]),
            rules(&[("a *:* rw", true), ("c *:5 w", false), ("b 1:* m", true)]),
        ];
        let progs: Vec<OwnedFd> = sets
            .iter()
            .map(|s| load_device_program(&compile(s)).unwrap())
            .collect();
        let Some(mp) = cgroup2_mount() else {
            eprintln!("skipping attach: no cgroup2 mount");
            return;
        };
        let dir = mp.join(format!("berth/bpf-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let res = (|| -> Result<Vec<usize>> {
            let mut counts = Vec::new();
            for p in &progs {
                attach_device_program(&dir, p)?;
                counts.push(attached_device_programs(&dir)?.len());
            }
            Ok(counts)
        })();
        let _ = std::fs::remove_dir(&dir);
        assert_eq!(res.unwrap(), vec![1, 1, 1, 1]);
    }
}
