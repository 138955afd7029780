//! Generation of the OCI bundle `config.json`, following Docker's default spec.

use crate::types::Container;
use crate::user::ResolvedUser;
use serde_json::{json, Value};
use std::path::Path;

/// Docker's 14 default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability known to Linux 6.x (for `--privileged` and `--cap-add ALL`).
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities of [`ALL_CAPS`] the daemon itself holds in its bounding set: what
/// `--privileged` and `--cap-add ALL` grant, as Docker does (a host or an outer container
/// without, say, CAP_SYS_RESOURCE cannot hand it on, and asking for it would fail the start).
pub fn available_caps() -> &'static [&'static str] {
    static CAPS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    CAPS.get_or_init(|| {
        let bounding = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX);
        ALL_CAPS
            .iter()
            .enumerate()
            .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
            .map(|(_, c)| *c)
            .collect()
    })
}

const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") || up == "ALL" {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after applying `--privileged`, `--cap-add`, `--cap-drop`.
pub fn capabilities(c: &Container) -> Vec<String> {
    if c.host_config.privileged {
        return available_caps().iter().map(|s| s.to_string()).collect();
    }
    let adds: Vec<String> = c
        .host_config
        .cap_add
        .iter()
        .flatten()
        .map(|s| normalize_cap(s))
        .collect();
    let drops: Vec<String> = c
        .host_config
        .cap_drop
        .iter()
        .flatten()
        .map(|s| normalize_cap(s))
        .collect();
    let mut caps: Vec<String> = if adds.iter().any(|a| a == "ALL") {
        available_caps().iter().map(|s| s.to_string()).collect()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if drops.iter().any(|d| d == "ALL") {
        caps.clear();
    }
    for a in adds {
        if a != "ALL" && !caps.contains(&a) {
            caps.push(a);
        }
    }
    caps.retain(|c| !drops.contains(c));
    caps
}

/// Namespaces: new ones, except where `--network host`, `--pid host`, `--ipc host`, `--uts host`
/// share the host's.
fn namespaces(c: &Container) -> Vec<Value> {
    let h = &c.host_config;
    let mode = |k: &str| {
        h.extra
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut ns = vec![json!({"type": "mount"})];
    if mode("PidMode") != "host" {
        ns.push(json!({"type": "pid"}));
    }
    if mode("IpcMode") != "host" {
        ns.push(json!({"type": "ipc"}));
    }
    if mode("UTSMode") != "host" && h.network_mode != "host" {
        ns.push(json!({"type": "uts"}));
    }
    if h.network_mode != "host" {
        ns.push(json!({"type": "network"}));
    }
    ns
}

/// `HostConfig.Ulimits` (`[{"Name":"nofile","Soft":N,"Hard":M}]`) as OCI rlimits.
fn rlimits(c: &Container) -> Vec<Value> {
    let Some(Value::Array(list)) = c.host_config.extra.get("Ulimits") else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|u| {
            let name = u["Name"].as_str()?;
            Some(json!({
                "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
                "soft": u["Soft"].as_i64().unwrap_or(0).max(0),
                "hard": u["Hard"].as_i64().unwrap_or(0).max(0),
            }))
        })
        .collect()
}

/// Inputs of [`generate`] that are not in the container record.
pub struct SpecInputs<'a> {
    /// Absolute rootfs path (the mounted snapshot).
    pub rootfs: &'a Path,
    /// Resolved process identity.
    pub user: &'a ResolvedUser,
    /// Final process args.
    pub args: Vec<String>,
    /// Final environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Hostname.
    pub hostname: String,
    /// Generated /etc/hostname, /etc/hosts, /etc/resolv.conf.
    pub hostname_file: &'a Path,
    /// Generated /etc/hosts.
    pub hosts_file: &'a Path,
    /// Generated /etc/resolv.conf.
    pub resolv_file: &'a Path,
    /// Whether the host supports swap limits (memory.memsw on v1).
    pub swap_limit_supported: bool,
    /// User mounts (binds, volumes, tmpfs) in OCI form.
    pub user_mounts: Vec<Value>,
    /// `--device` nodes, resolved against the host.
    pub devices: Vec<crate::devices::Device>,
    /// `--device-cgroup-rule` entries in OCI form.
    pub device_rules: Vec<Value>,
}

fn bind(dest: &str, src: &Path, ro: bool) -> Value {
    let mut opts = vec!["rbind", "rprivate"];
    if ro {
        opts.push("ro");
    }
    json!({"destination": dest, "type": "bind", "source": src.to_string_lossy(), "options": opts})
}

fn resources(c: &Container, swap_ok: bool, extra_rules: &[Value]) -> Value {
    let h = &c.host_config;
    let mut devices = vec![json!({"allow": false, "access": "rwm"})];
    if h.privileged {
        devices = vec![json!({"allow": true, "access": "rwm"})];
    } else {
        for (t, maj, min) in [
            ("c", None, None),
            ("b", None, None),
            ("c", Some(1), Some(3)),
            ("c", Some(1), Some(8)),
            ("c", Some(1), Some(7)),
            ("c", Some(5), Some(0)),
            ("c", Some(1), Some(5)),
            ("c", Some(1), Some(9)),
            ("c", Some(136), None),
            ("c", Some(5), Some(2)),
            ("c", Some(10), Some(200)),
        ] {
            let access = if maj.is_none() { "m" } else { "rwm" };
            let mut d = json!({"allow": true, "type": t, "access": access});
            if let Some(m) = maj {
                d["major"] = json!(m);
            }
            if let Some(m) = min {
                d["minor"] = json!(m);
            }
            devices.push(d);
        }
        devices.extend(extra_rules.iter().cloned());
    }
    let mut r = json!({ "devices": devices });
    if let Value::Object(m) = &mut r {
        m.extend(crate::resources::oci(h, swap_ok, false));
    }
    r
}

/// Build the OCI runtime spec for container `c`.
pub fn generate(c: &Container, inp: &SpecInputs<'_>) -> Value {
    let caps = capabilities(c);
    let h = &c.host_config;
    let shm = if h.shm_size > 0 {
        h.shm_size
    } else {
        64 * 1024 * 1024
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", if h.privileged {"rw"} else {"ro"}]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", if h.privileged {"rw"} else {"ro"}]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    mounts.push(bind("/etc/resolv.conf", inp.resolv_file, false));
    mounts.push(bind("/etc/hostname", inp.hostname_file, false));
    mounts.push(bind("/etc/hosts", inp.hosts_file, false));
    // A user mount replaces a default one at the same destination (e.g. /dev/shm).
    mounts.retain(|m| {
        !inp.user_mounts
            .iter()
            .any(|u| u["destination"] == m["destination"])
    });
    mounts.extend(inp.user_mounts.iter().cloned());

    let mut process = json!({
        "terminal": c.config.tty,
        "user": {"uid": inp.user.uid, "gid": inp.user.gid},
        "args": inp.args,
        "env": inp.env,
        "cwd": inp.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": false,
        "oomScoreAdj": h.extra.get("OomScoreAdj").and_then(Value::as_i64).unwrap_or(0),
    });
    if !inp.user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(inp.user.additional_gids);
    }
    let rl = rlimits(c);
    if !rl.is_empty() {
        process["rlimits"] = json!(rl);
    }
    if c.config.tty {
        // `ConsoleSize` [height, width] as the client gave it (docker run -t sends it).
        let size = h.extra.get("ConsoleSize").and_then(Value::as_array);
        let dim = |i: usize, d: u64| {
            size.and_then(|s| s.get(i))
                .and_then(Value::as_u64)
                .filter(|v| *v > 0)
                .unwrap_or(d)
        };
        process["consoleSize"] = json!({"height": dim(0, 24), "width": dim(1, 80)});
    }
    let mut rules = inp.device_rules.clone();
    let mut nodes = Vec::new();
    for d in &inp.devices {
        let (node, rule) = crate::devices::oci(d);
        nodes.push(node);
        rules.push(rule);
    }
    let mut linux = json!({
        "resources": resources(c, inp.swap_limit_supported, &rules),
        "cgroupsPath": format!("/berth/{}", c.id),
        "namespaces": namespaces(c),
    });
    if !nodes.is_empty() {
        linux["devices"] = json!(nodes);
    }
    // `HostConfig.MaskedPaths`/`ReadonlyPaths` replace the defaults when given (docker-py
    // and `--security-opt systempaths=unconfined` send them; an empty list means none).
    let paths = |key: &str, default: &[&str]| -> Value {
        match h.extra.get(key) {
            Some(Value::Array(a)) => Value::Array(a.clone()),
            _ => json!(default),
        }
    };
    if !h.privileged {
        linux["maskedPaths"] = paths("MaskedPaths", &MASKED_PATHS);
        linux["readonlyPaths"] = paths("ReadonlyPaths", &READONLY_PATHS);
    }
    if let Some(s) = &h.sysctls {
        if !s.is_empty() {
            linux["sysctl"] = json!(s);
        }
    }
    let own_uts = linux["namespaces"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n["type"] == "uts"));
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": inp.rootfs.to_string_lossy(), "readonly": h.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    if own_uts {
        spec["hostname"] = json!(inp.hostname);
        if !c.config.domainname.is_empty() {
            spec["domainname"] = json!(c.config.domainname);
        }
    }
    if let Some(Value::Object(a)) = h.extra.get("Annotations") {
        if !a.is_empty() {
            spec["annotations"] = Value::Object(a.clone());
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_add_drop() {
        let mut c: Container = serde_json::from_value(json!({
            "id": "x", "name": "n", "created": "", "path": "", "args": [],
            "config": {}, "host_config": {}, "image_id": "", "state": {
                "Status": "created", "Running": false, "Paused": false, "Restarting": false,
                "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
                "StartedAt": "", "FinishedAt": ""},
            "monitor_pid": 0, "restart_count": 0
        }))
        .unwrap();
        assert_eq!(capabilities(&c).len(), 14);
        c.host_config.cap_add = Some(vec!["net_admin".into()]);
        c.host_config.cap_drop = Some(vec!["CHOWN".into()]);
        let caps = capabilities(&c);
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(caps.len(), 14);
        c.host_config.memory = 1 << 20;
        c.host_config.nano_cpus = 500_000_000;
        let r = resources(&c, false, &[]);
        assert_eq!(r["cpu"]["quota"], 50000);
        assert_eq!(r["memory"]["limit"], 1 << 20);
        let cfg: crate::types::Config =
            serde_json::from_value(json!({"Cmd": "echo hi", "Entrypoint": null})).unwrap();
        assert_eq!(cfg.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(cfg.entrypoint, None);
    }
}
