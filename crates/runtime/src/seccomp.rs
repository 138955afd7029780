//! Seccomp filters from `linux.seccomp`, compiled with the system's libseccomp, which is
//! loaded at run time (`libseccomp.so.2`, a dependency of apt on Debian) so that building
//! berth needs no development headers.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};
use std::ffi::{c_char, c_int, c_uint, c_void, CString};

#[repr(C)]
#[derive(Clone, Copy)]
struct ArgCmp {
    arg: c_uint,
    op: c_uint,
    a: u64,
    b: u64,
}

type InitFn = unsafe extern "C" fn(u32) -> *mut c_void;
type ArchResolveFn = unsafe extern "C" fn(*const c_char) -> u32;
type ArchAddFn = unsafe extern "C" fn(*mut c_void, u32) -> c_int;
type ResolveFn = unsafe extern "C" fn(*const c_char) -> c_int;
type RuleAddFn = unsafe extern "C" fn(*mut c_void, u32, c_int, c_uint, *const ArgCmp) -> c_int;
type AttrSetFn = unsafe extern "C" fn(*mut c_void, c_int, u32) -> c_int;
type LoadFn = unsafe extern "C" fn(*mut c_void) -> c_int;

const ATTR_CTL_NNP: c_int = 3;
const ATTR_CTL_LOG: c_int = 6;
const ATTR_CTL_SSB: c_int = 7;

/// A compiled filter, ready to be loaded in the container process.
pub struct Filter {
    ctx: *mut c_void,
    load: LoadFn,
}

unsafe fn sym<T: Copy>(lib: *mut c_void, name: &str) -> Result<T> {
    let c = CString::new(name).unwrap_or_default();
    // SAFETY: dlsym on an open handle; the caller names the right function type.
    let p = unsafe { libc::dlsym(lib, c.as_ptr()) };
    if p.is_null() {
        return Err(Error::Unsupported(format!(
            "linux.seccomp: libseccomp lacks {name}"
        )));
    }
    // SAFETY: T is a function pointer type of the same size as a data pointer.
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) })
}

fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<u32> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => 0,
        LinuxSeccompAction::ScmpActKillProcess => 0x8000_0000,
        LinuxSeccompAction::ScmpActTrap => 0x0003_0000,
        LinuxSeccompAction::ScmpActErrno => {
            0x0005_0000 | (errno.unwrap_or(libc::EPERM as u32) & 0xffff)
        }
        LinuxSeccompAction::ScmpActTrace => {
            0x7ff0_0000 | (errno.unwrap_or(libc::EPERM as u32) & 0xffff)
        }
        LinuxSeccompAction::ScmpActLog => 0x7ffc_0000,
        LinuxSeccompAction::ScmpActAllow => 0x7fff_0000,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::Unsupported("linux.seccomp: SCMP_ACT_NOTIFY".into()))
        }
    })
}

impl Filter {
    /// Compiles `s` (in the runtime, before the container process exists).
    pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
        if s.listener_path().is_some() {
            return Err(Error::Unsupported("linux.seccomp.listenerPath".into()));
        }
        // SAFETY: dlopen of a well-known system library.
        let lib = unsafe {
            libc::dlopen(
                c"libseccomp.so.2".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_LOCAL,
            )
        };
        if lib.is_null() {
            return Err(Error::Unsupported(
                "linux.seccomp: libseccomp.so.2 not found".into(),
            ));
        }
        // SAFETY: symbol types match libseccomp 2.x's API.
        let (init, arch_resolve, arch_add, resolve, rule_add, attr_set, load) = unsafe {
            (
                sym::<InitFn>(lib, "seccomp_init")?,
                sym::<ArchResolveFn>(lib, "seccomp_arch_resolve_name")?,
                sym::<ArchAddFn>(lib, "seccomp_arch_add")?,
                sym::<ResolveFn>(lib, "seccomp_syscall_resolve_name")?,
                sym::<RuleAddFn>(lib, "seccomp_rule_add_array")?,
                sym::<AttrSetFn>(lib, "seccomp_attr_set")?,
                sym::<LoadFn>(lib, "seccomp_load")?,
            )
        };
        let def = action(s.default_action(), s.default_errno_ret())?;
        // SAFETY: calls into libseccomp with valid arguments.
        unsafe {
            let ctx = init(def);
            if ctx.is_null() {
                return Err(Error::Config(
                    "linux.seccomp: invalid default action".into(),
                ));
            }
            attr_set(ctx, ATTR_CTL_NNP, 0);
            for f in s.flags().iter().flatten() {
                match name_of(f).as_str() {
                    "SECCOMP_FILTER_FLAG_LOG" => {
                        attr_set(ctx, ATTR_CTL_LOG, 1);
                    }
                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => {
                        attr_set(ctx, ATTR_CTL_SSB, 1);
                    }
                    "SECCOMP_FILTER_FLAG_TSYNC" => {}
                    other => return Err(Error::Unsupported(format!("linux.seccomp flag {other}"))),
                }
            }
            for a in s.architectures().iter().flatten() {
                let n = name_of(a);
                let short = n.trim_start_matches("SCMP_ARCH_").to_ascii_lowercase();
                let c = CString::new(short.clone()).unwrap_or_default();
                let tok = arch_resolve(c.as_ptr());
                if tok == 0 {
                    return Err(Error::Config(format!(
                        "linux.seccomp: unknown architecture {n}"
                    )));
                }
                let r = arch_add(ctx, tok);
                if r != 0 && r != -libc::EEXIST {
                    return Err(Error::Config(format!(
                        "linux.seccomp: add architecture {n}: errno {}",
                        -r
                    )));
                }
            }
            for sc in s.syscalls().iter().flatten() {
                add_rule(ctx, def, sc, resolve, rule_add)?;
            }
            Ok(Filter { ctx, load })
        }
    }

    /// Loads the filter into the calling process.
    pub fn load(&self) -> Result<()> {
        // SAFETY: ctx is a valid filter context (copied into the child by fork).
        let r = unsafe { (self.load)(self.ctx) };
        if r != 0 {
            return Err(Error::io(
                "load seccomp filter",
                std::io::Error::from_raw_os_error(-r),
            ));
        }
        Ok(())
    }
}

unsafe fn add_rule(
    ctx: *mut c_void,
    def: u32,
    sc: &LinuxSyscall,
    resolve: ResolveFn,
    rule_add: RuleAddFn,
) -> Result<()> {
    let act = action(sc.action(), sc.errno_ret())?;
    if act == def {
        return Ok(());
    }
    let mut args = Vec::new();
    for a in sc.args().iter().flatten() {
        args.push(ArgCmp {
            arg: a.index() as c_uint,
            op: a.op() as c_uint,
            a: a.value(),
            b: a.value_two().unwrap_or(0),
        });
    }
    // libseccomp refuses two comparisons on one argument in a rule: split them.
    let mut seen = std::collections::HashSet::new();
    let same_index = !args.iter().all(|a| seen.insert(a.arg));
    for name in sc.names() {
        let c = CString::new(name.as_str()).unwrap_or_default();
        // SAFETY: valid C string.
        let nr = unsafe { resolve(c.as_ptr()) };
        if nr < 0 {
            continue; // unknown on this kernel/arch: ignored, like runc
        }
        let groups: Vec<&[ArgCmp]> = if same_index {
            args.chunks(1).collect()
        } else {
            vec![&args[..]]
        };
        for g in groups {
            // SAFETY: g points to g.len() valid ArgCmp values.
            let r = unsafe {
                rule_add(
                    ctx,
                    act,
                    nr,
                    g.len() as c_uint,
                    if g.is_empty() {
                        std::ptr::null()
                    } else {
                        g.as_ptr()
                    },
                )
            };
            // EEXIST: an earlier rule already decides this syscall (profiles such as
            // podman's list a syscall both unconditionally and with arguments); the first
            // rule stays in force, as with runc and crun.
            if r != 0 && r != -libc::EEXIST {
                return Err(Error::Config(format!(
                    "linux.seccomp: rule for {name}: errno {}",
                    -r
                )));
            }
        }
    }
    Ok(())
}
