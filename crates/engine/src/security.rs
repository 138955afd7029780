//! `HostConfig.SecurityOpt` (`--security-opt`) and the daemon's security defaults: parsed and
//! checked at create, applied to the OCI spec at start (seccomp, no-new-privileges).

use crate::error::{EngineError, Result};
use crate::seccomp::{Profile, Target};
use crate::types::Container;
use serde_json::Value;

/// The daemon-wide default seccomp profile (`berthd --seccomp-profile`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SeccompDefault {
    /// berth's built-in profile.
    #[default]
    Builtin,
    /// No filter.
    Unconfined,
    /// A profile in Docker's JSON format (already validated).
    Custom(String),
}

/// Security defaults of the daemon.
#[derive(Debug, Clone, Default)]
pub struct SecurityDefaults {
    /// Default seccomp profile.
    pub seccomp: SeccompDefault,
    /// `--no-new-privileges`: containers get no_new_privs unless they say otherwise.
    pub no_new_privileges: bool,
}

impl SecurityDefaults {
    /// `GET /info` `SecurityOptions` entries, as dockerd reports them.
    pub fn info_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if host_apparmor() {
            out.push("name=apparmor".to_string());
        }
        out.push(format!(
            "name=seccomp,profile={}",
            match self.seccomp {
                SeccompDefault::Builtin => "builtin",
                SeccompDefault::Unconfined => "unconfined",
                SeccompDefault::Custom(_) => "custom",
            }
        ));
        if self.no_new_privileges {
            out.push("name=no-new-privileges".to_string());
        }
        out
    }
}

/// The container's seccomp choice from `--security-opt seccomp=…`.
#[derive(Debug, Clone, PartialEq)]
pub enum SeccompOpt {
    /// `seccomp=unconfined`.
    Unconfined,
    /// `seccomp=builtin` (the built-in profile even when the daemon default differs).
    Builtin,
    /// `seccomp=<profile JSON>` (the CLI sends the file's content).
    Custom(String),
}

/// Parsed `--security-opt` list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOpts {
    /// seccomp choice; `None`: the daemon default.
    pub seccomp: Option<SeccompOpt>,
    /// no-new-privileges; `None`: the daemon default.
    pub no_new_privileges: Option<bool>,
}

/// Whether AppArmor is enabled on this host.
pub fn host_apparmor() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

/// Whether SELinux is enabled on this host.
pub fn host_selinux() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn bad(n: u8, opt: &str) -> EngineError {
    EngineError::InvalidParameter(format!("invalid --security-opt {n}: {opt:?}"))
}

/// Parses `HostConfig.SecurityOpt` as dockerd does (`key=value`, the deprecated `key:value`,
/// bare `no-new-privileges`, bare `disable` for `label=disable`). Unknown keys, bad values,
/// invalid seccomp profiles, and AppArmor/SELinux options berth cannot honour are errors.
pub fn parse(list: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for opt in list {
        if opt == "no-new-privileges" {
            out.no_new_privileges = Some(true);
            continue;
        }
        if opt == "disable" {
            continue; // label=disable
        }
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| bad(1, opt))?;
        match k {
            "no-new-privileges" => {
                out.no_new_privileges = Some(parse_bool(v).ok_or_else(|| bad(2, opt))?);
            }
            "seccomp" => {
                out.seccomp = Some(match v {
                    "unconfined" => SeccompOpt::Unconfined,
                    "builtin" => SeccompOpt::Builtin,
                    json => {
                        Profile::parse(json).map_err(|e| {
                            let hint = if json.trim_start().starts_with('{') {
                                ""
                            } else {
                                " (the client sends the profile's JSON content, not a path)"
                            };
                            EngineError::InvalidParameter(format!("{e}{hint}"))
                        })?;
                        SeccompOpt::Custom(json.to_string())
                    }
                });
            }
            "apparmor" => {
                if v != "unconfined" {
                    let why = if host_apparmor() {
                        "berth does not load AppArmor profiles"
                    } else {
                        "AppArmor is not enabled on this host"
                    };
                    return Err(EngineError::InvalidParameter(format!(
                        "invalid --security-opt {opt:?}: {why}"
                    )));
                }
            }
            "label" => {
                if v != "disable" {
                    let why = if host_selinux() {
                        "berth does not apply SELinux labels"
                    } else {
                        "SELinux is not enabled on this host"
                    };
                    return Err(EngineError::InvalidParameter(format!(
                        "invalid --security-opt {opt:?}: {why}"
                    )));
                }
            }
            _ => return Err(bad(2, opt)),
        }
    }
    Ok(out)
}

/// `HostConfig.SecurityOpt` of a container.
pub fn container_opts(c: &Container) -> Result<SecurityOpts> {
    let list: Vec<String> = match c.host_config.extra.get("SecurityOpt") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(String::from).ok_or_else(|| {
                    EngineError::InvalidParameter("HostConfig.SecurityOpt: strings only".into())
                })
            })
            .collect::<Result<_>>()?,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => {
            return Err(EngineError::InvalidParameter(
                "HostConfig.SecurityOpt must be a list of strings".into(),
            ))
        }
    };
    parse(&list)
}

/// Sets `process.noNewPrivileges` and `linux.seccomp` of a generated spec for container `c`
/// with effective capabilities `caps`. `--privileged` and `seccomp=unconfined` run unfiltered,
/// as with Docker.
pub fn apply(spec: &mut Value, r: &Resolved) {
    spec["process"]["noNewPrivileges"] = Value::Bool(r.no_new_privileges);
    if let Some(s) = &r.seccomp {
        spec["linux"]["seccomp"] = s.clone();
    }
}

/// What [`apply`] sets: computed before any start-time resource exists, so a failure
/// leaves nothing behind.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// `process.noNewPrivileges`.
    pub no_new_privileges: bool,
    /// `linux.seccomp`, `None` for unconfined.
    pub seccomp: Option<Value>,
}

/// Resolves the container's security options against the daemon defaults.
pub fn resolve(c: &Container, caps: &[String], d: &SecurityDefaults) -> Result<Resolved> {
    let o = container_opts(c)?;
    let no_new_privileges = o.no_new_privileges.unwrap_or(d.no_new_privileges);
    let profile = match (&o.seccomp, &d.seccomp) {
        (Some(SeccompOpt::Unconfined), _) => None,
        _ if c.host_config.privileged => None,
        (Some(SeccompOpt::Builtin), _) | (None, SeccompDefault::Builtin) => {
            Some(Profile::builtin())
        }
        (Some(SeccompOpt::Custom(j)), _) | (None, SeccompDefault::Custom(j)) => {
            Some(Profile::parse(j).map_err(|e| EngineError::InvalidParameter(e.to_string()))?)
        }
        (None, SeccompDefault::Unconfined) => None,
    };
    Ok(Resolved {
        no_new_privileges,
        seccomp: profile.map(|p| p.to_oci(caps, &Target::host())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Result<SecurityOpts> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_like_dockerd() {
        assert_eq!(
            opts(&["no-new-privileges"]).unwrap().no_new_privileges,
            Some(true)
        );
        assert_eq!(
            opts(&["no-new-privileges=false"])
                .unwrap()
                .no_new_privileges,
            Some(false)
        );
        assert_eq!(
            opts(&["no-new-privileges:true"]).unwrap().no_new_privileges,
            Some(true)
        );
        assert_eq!(
            opts(&["seccomp=unconfined"]).unwrap().seccomp,
            Some(SeccompOpt::Unconfined)
        );
        assert!(opts(&["label=disable", "apparmor=unconfined", "disable"]).is_ok());
        let e = opts(&["foo=bar"]).unwrap_err().to_string();
        assert_eq!(e, "invalid --security-opt 2: \"foo=bar\"");
        assert!(opts(&["nonsense"])
            .unwrap_err()
            .to_string()
            .contains("invalid --security-opt 1"));
        assert!(opts(&["no-new-privileges=maybe"]).is_err());
        let e = opts(&["seccomp=/tmp/x.json"]).unwrap_err().to_string();
        assert!(e.contains("Decoding seccomp profile failed"), "{e}");
        if !host_apparmor() {
            assert!(opts(&["apparmor=docker-default"]).is_err());
        }
        if !host_selinux() {
            assert!(opts(&["label=type:svirt_t"]).is_err());
        }
    }

    #[test]
    fn info_lists_defaults() {
        let d = SecurityDefaults {
            seccomp: SeccompDefault::Unconfined,
            no_new_privileges: true,
        };
        let o = d.info_options();
        assert!(o.contains(&"name=seccomp,profile=unconfined".to_string()));
        assert!(o.contains(&"name=no-new-privileges".to_string()));
    }
}
