//! Seccomp profiles in Docker's JSON profile format and their conversion to the OCI
//! `linux.seccomp` object, evaluated for one container (its architecture, kernel and
//! capability set).
//!
//! The built-in profile ([`BUILTIN`], `default.json` next to this file) is data berth owns: it
//! was written for berth, group by group, to behave as Docker's default profile does (EPERM by
//! default, the same allow list by syscall name, the per-architecture parts, the argument
//! filters on `personality` and `clone`, `clone3` answering ENOSYS, and the groups that only
//! apply with a capability such as CAP_SYS_ADMIN or CAP_SYS_PTRACE). The test
//! `builtin_matches_containers_common` compares its result with the containers-common profile
//! that Debian's podman package installs and lists every intended difference.

use serde::Deserialize;
use serde_json::{json, Value};

/// The built-in profile (Docker's JSON profile format).
pub const BUILTIN: &str = include_str!("default.json");

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The text is not a profile in Docker's format.
    #[error("Decoding seccomp profile failed: {0}")]
    Decode(String),
    /// The profile is well-formed JSON but asks for something invalid or unsupported.
    #[error("invalid seccomp profile: {0}")]
    Invalid(String),
}

/// A seccomp profile in Docker's format.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    listener_path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

const OPS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

const ARCHES: [&str; 18] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_RISCV64",
];

const FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
];

/// Where a profile is evaluated: the host's architecture and kernel.
#[derive(Debug, Clone)]
pub struct Target {
    /// Go-style architecture name used by `includes.arches` (`amd64`, `arm64`, …).
    pub go_arch: String,
    /// libseccomp name of the native architecture (`SCMP_ARCH_X86_64`, …).
    pub scmp_arch: String,
    /// Kernel (major, minor) for `minKernel`.
    pub kernel: (u32, u32),
}

impl Target {
    /// The machine berth runs on.
    pub fn host() -> Target {
        let (go, scmp) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "x86" => ("386", "SCMP_ARCH_X86"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            "arm" => ("arm", "SCMP_ARCH_ARM"),
            "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            "s390x" => ("s390x", "SCMP_ARCH_S390X"),
            "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
            other => (other, ""),
        };
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Target {
            go_arch: go.into(),
            scmp_arch: scmp.into(),
            kernel: parse_kernel(&release).unwrap_or((0, 0)),
        }
    }
}

/// `"6.1.0-13-amd64"` → `(6, 1)`.
fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.trim().split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

impl Profile {
    /// Parses and validates a profile (Docker's JSON format).
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let p: Profile =
            serde_json::from_str(text).map_err(|e| ProfileError::Decode(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// The built-in profile.
    pub fn builtin() -> Profile {
        // The embedded file is checked by the unit tests; an empty allow-nothing profile
        // stands in should it ever fail to parse.
        Profile::parse(BUILTIN).unwrap_or(Profile {
            default_action: "SCMP_ACT_ERRNO".into(),
            default_errno_ret: Some(1),
            architectures: None,
            arch_map: None,
            syscalls: None,
            flags: None,
            listener_path: None,
        })
    }

    fn validate(&self) -> Result<(), ProfileError> {
        let inv = |m: String| Err(ProfileError::Invalid(m));
        check_action(&self.default_action)?;
        if self.architectures.is_some() && self.arch_map.is_some() {
            return inv("'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'".into());
        }
        if let Some(p) = &self.listener_path {
            if !p.is_empty() {
                return inv(format!("listenerPath {p:?} is not supported"));
            }
        }
        for a in self.architectures.iter().flatten() {
            check_arch(a)?;
        }
        for m in self.arch_map.iter().flatten() {
            check_arch(&m.architecture)?;
            for a in m.sub_architectures.iter().flatten() {
                check_arch(a)?;
            }
        }
        for f in self.flags.iter().flatten() {
            if !FLAGS.contains(&f.as_str()) {
                return inv(format!("unsupported flag {f:?}"));
            }
        }
        for s in self.syscalls.iter().flatten() {
            if s.name.is_some() && s.names.is_some() {
                return inv("use either 'name' or 'names' in a syscall rule, not both".into());
            }
            if s.name.as_deref().unwrap_or("").is_empty()
                && s.names.as_ref().is_none_or(|n| n.is_empty())
            {
                return inv("a syscall rule names no syscall".into());
            }
            check_action(&s.action)?;
            for a in s.args.iter().flatten() {
                if a.index > 5 {
                    return inv(format!("argument index {} out of range (0-5)", a.index));
                }
                if !OPS.contains(&a.op.as_str()) {
                    return inv(format!("unknown comparison operator {:?}", a.op));
                }
            }
            for f in [&s.includes, &s.excludes].into_iter().flatten() {
                if let Some(k) = &f.min_kernel {
                    if parse_kernel(k).is_none() {
                        return inv(format!("invalid minKernel {k:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The OCI `linux.seccomp` object for a container with capability set `caps`
    /// (`CAP_…` names) on `target`.
    pub fn to_oci(&self, caps: &[String], target: &Target) -> Value {
        let mut arches: Vec<String> = self.architectures.clone().unwrap_or_default();
        for m in self.arch_map.iter().flatten() {
            if m.architecture == target.scmp_arch {
                arches.push(m.architecture.clone());
                arches.extend(m.sub_architectures.iter().flatten().cloned());
            }
        }
        let mut syscalls = Vec::new();
        for s in self.syscalls.iter().flatten() {
            if !applies(s, caps, target) {
                continue;
            }
            let names: Vec<String> = match (&s.names, &s.name) {
                (Some(n), _) => n.clone(),
                (None, Some(n)) => vec![n.clone()],
                (None, None) => continue,
            };
            let mut r = json!({"names": names, "action": s.action});
            if let Some(e) = s.errno_ret {
                r["errnoRet"] = json!(e);
            }
            if let Some(args) = s.args.as_ref().filter(|a| !a.is_empty()) {
                r["args"] = Value::Array(
                    args.iter()
                        .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                        .collect(),
                );
            }
            syscalls.push(r);
        }
        let mut out = json!({
            "defaultAction": self.default_action,
            "architectures": arches,
            "syscalls": syscalls,
        });
        if let Some(e) = self.default_errno_ret {
            out["defaultErrnoRet"] = json!(e);
        }
        if let Some(f) = self.flags.as_ref().filter(|f| !f.is_empty()) {
            out["flags"] = json!(f);
        }
        out
    }
}

fn check_action(a: &str) -> Result<(), ProfileError> {
    if a == "SCMP_ACT_NOTIFY" {
        return Err(ProfileError::Invalid(
            "action SCMP_ACT_NOTIFY is not supported".into(),
        ));
    }
    if ACTIONS.contains(&a) {
        Ok(())
    } else {
        Err(ProfileError::Invalid(format!("unknown action {a:?}")))
    }
}

fn check_arch(a: &str) -> Result<(), ProfileError> {
    if ARCHES.contains(&a) {
        Ok(())
    } else {
        Err(ProfileError::Invalid(format!("unknown architecture {a:?}")))
    }
}

/// Whether a rule's `includes`/`excludes` let it apply to this container.
fn applies(s: &Syscall, caps: &[String], t: &Target) -> bool {
    let has = |c: &String| caps.iter().any(|x| x == c);
    if let Some(inc) = &s.includes {
        if let Some(a) = inc.arches.as_ref().filter(|a| !a.is_empty()) {
            if !a.contains(&t.go_arch) {
                return false;
            }
        }
        if let Some(c) = &inc.caps {
            if !c.iter().all(has) {
                return false;
            }
        }
        if let Some(k) = inc.min_kernel.as_deref().and_then(parse_kernel) {
            if t.kernel < k {
                return false;
            }
        }
    }
    if let Some(exc) = &s.excludes {
        if exc.arches.iter().flatten().any(|a| *a == t.go_arch) {
            return false;
        }
        if exc.caps.iter().flatten().any(has) {
            return false;
        }
        if let Some(k) = exc.min_kernel.as_deref().and_then(parse_kernel) {
            if t.kernel >= k {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
