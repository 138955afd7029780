//! Resource limits of a container (memory, CPU, cpuset, pids, block I/O): Docker's checks,
//! Docker's update merge rules, and the OCI `linux.resources` the runtime applies.

use crate::error::{EngineError, Result};
use crate::types::{HostConfig, RestartPolicy};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Smallest memory limit the engine accepts (Docker's).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// `HostConfig` resource fields berth does not implement: a request that sets one of them
/// to anything but its zero value is refused with an error naming it.
/// (Devices, DeviceCgroupRules and KernelMemory are applied or warned about at create by
/// `crate::fields`/`crate::devices`; they cannot change live: see [`NOT_LIVE`].)
const UNSUPPORTED: [&str; 14] = [
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "KernelMemoryTCP",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "DeviceRequests",
    "CgroupParent",
];

/// Fields `docker update` cannot change on a container (refused when set).
const NOT_LIVE: [&str; 3] = ["Devices", "DeviceCgroupRules", "KernelMemory"];

/// Whether a JSON value is Go's zero value for its field (what clients send for "unset").
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Refuses any unimplemented resource field of `extra` that is set.
pub fn refuse_unsupported(extra: &Map<String, Value>) -> Result<()> {
    for k in UNSUPPORTED {
        if let Some(v) = extra.get(k) {
            if !is_zero(v) {
                return Err(EngineError::InvalidParameter(format!(
                    "unsupported: HostConfig.{k} is not implemented by berth"
                )));
            }
        }
    }
    Ok(())
}

/// The memory+swap limit the runtime gets: Docker's default is twice the memory limit.
pub fn effective_swap(h: &HostConfig) -> i64 {
    match (h.memory, h.memory_swap) {
        (m, 0) if m > 0 => m * 2,
        (_, s) => s,
    }
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidParameter(msg.into())
}

/// Checks a cpuset list against what the host has online (Docker's messages).
fn check_cpuset(list: &str, online: &[u32], what: &str) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let want = crate::cgroups::parse_list(list)
        .ok_or_else(|| bad(format!("Invalid value {list} for {what}.")))?;
    if let Some(missing) = want.iter().find(|c| !online.contains(c)) {
        let avail = online
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let noun = if what == "cpuset.cpus" {
            "CPUs"
        } else {
            "memory nodes"
        };
        return Err(bad(format!(
            "Requested {noun} are not available - requested {list}, available: {avail} ({missing} is not)"
        )));
    }
    Ok(())
}

/// Docker's checks of the resource fields (create and update), before the kernel sees them.
pub fn validate(h: &HostConfig, swap_ok: bool) -> Result<()> {
    refuse_unsupported(&h.extra)?;
    if h.memory > 0 && h.memory < MIN_MEMORY {
        return Err(bad("Minimum memory limit allowed is 6MB"));
    }
    if h.memory_swap > 0 {
        if !swap_ok {
            return Err(bad(
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted: --memory-swap cannot be applied",
            ));
        }
        if h.memory <= 0 {
            return Err(bad(
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ));
        }
        if h.memory_swap < h.memory {
            return Err(bad(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
    }
    if h.memory_reservation < 0 || (h.memory_reservation > 0 && h.memory_reservation < MIN_MEMORY) {
        return Err(bad("Minimum memory reservation allowed is 6MB"));
    }
    if h.memory > 0 && h.memory_reservation > h.memory {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let ncpu = crate::cgroups::online_cpus().len() as i64;
    if h.nano_cpus < 0 || h.nano_cpus > ncpu * 1_000_000_000 {
        return Err(bad(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if h.nano_cpus > 0 && (h.cpu_period > 0 || h.cpu_quota > 0) {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set",
        ));
    }
    if h.cpu_period != 0 && !(1000..=1_000_000).contains(&h.cpu_period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if h.cpu_quota > 0 && h.cpu_quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if h.cpu_shares < 0 {
        return Err(bad("invalid CPU shares: must not be negative"));
    }
    check_cpuset(
        &h.cpuset_cpus,
        &crate::cgroups::online_cpus(),
        "cpuset.cpus",
    )?;
    check_cpuset(
        &h.cpuset_mems,
        &crate::cgroups::online_mems(),
        "cpuset.mems",
    )?;
    if h.blkio_weight != 0 {
        if !(10..=1000).contains(&h.blkio_weight) {
            return Err(bad("Range of blkio weight is from 10 to 1000"));
        }
        if !crate::cgroups::blkio_weight_supported() {
            return Err(bad(
                "Your kernel does not support Block I/O weight or the cgroup is not mounted: --blkio-weight cannot be applied",
            ));
        }
    }
    Ok(())
}

/// OCI `linux.resources` for the limits of `h` (without `devices`). With `for_update` the
/// pids limit is sent even when unset (as "max"), so an update can lift it.
pub fn oci(h: &HostConfig, swap_ok: bool, for_update: bool) -> Map<String, Value> {
    let mut r = Map::new();
    let mut mem = Map::new();
    if h.memory > 0 {
        mem.insert("limit".into(), json!(h.memory));
        if swap_ok {
            mem.insert("swap".into(), json!(effective_swap(h)));
        }
    }
    if h.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(h.memory_reservation));
    }
    if h.extra.get("OomKillDisable") == Some(&Value::Bool(true)) {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if let Some(s) = h.extra.get("MemorySwappiness").and_then(Value::as_i64) {
        if (0..=100).contains(&s) {
            mem.insert("swappiness".into(), json!(s));
        }
    }
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    if h.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(h.cpu_shares));
    }
    if h.nano_cpus > 0 {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(h.nano_cpus * period / 1_000_000_000));
    } else {
        if h.cpu_period > 0 {
            cpu.insert("period".into(), json!(h.cpu_period));
        }
        if h.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(h.cpu_quota));
        }
    }
    if !h.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(h.cpuset_cpus));
    }
    if !h.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(h.cpuset_mems));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    match h.pids_limit {
        Some(p) if p > 0 => {
            r.insert("pids".into(), json!({ "limit": p }));
        }
        Some(_) if for_update => {
            r.insert("pids".into(), json!({ "limit": -1 }));
        }
        _ => {}
    }
    if h.blkio_weight > 0 {
        r.insert("blockIO".into(), json!({ "weight": h.blkio_weight }));
    }
    r
}

/// Body of `POST /containers/{id}/update` (Docker's `UpdateConfig`): zero means "keep".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRequest {
    /// CPU shares.
    pub cpu_shares: i64,
    /// Memory limit.
    pub memory: i64,
    /// Memory + swap limit (-1 unlimited).
    pub memory_swap: i64,
    /// Soft memory limit.
    pub memory_reservation: i64,
    /// CPUs in 1e-9 units.
    pub nano_cpus: i64,
    /// CFS period.
    pub cpu_period: i64,
    /// CFS quota.
    pub cpu_quota: i64,
    /// cpuset CPUs.
    pub cpuset_cpus: String,
    /// cpuset memory nodes.
    pub cpuset_mems: String,
    /// Pids limit (null = keep; 0 or -1 = unlimited).
    pub pids_limit: Option<i64>,
    /// Block I/O weight.
    pub blkio_weight: u16,
    /// Restart policy (empty name = keep).
    pub restart_policy: Option<RestartPolicy>,
    /// Every other field (must be unset: see [`refuse_unsupported`]).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of the update body that berth applies besides the typed ones.
const UPDATE_PASSTHROUGH: [&str; 3] = ["MemorySwappiness", "OomKillDisable", "Ulimits"];

/// Docker's `UpdateContainer`: the new host config after `req`, or the reason it is refused.
pub fn merge_update(cur: &HostConfig, req: &UpdateRequest) -> Result<HostConfig> {
    refuse_unsupported(&req.extra)?;
    for k in NOT_LIVE {
        if req.extra.get(k).is_some_and(|v| !is_zero(v)) {
            return Err(EngineError::InvalidParameter(format!(
                "unsupported: HostConfig.{k} cannot be updated by berth"
            )));
        }
    }
    for k in UPDATE_PASSTHROUGH {
        if req.extra.get(k).is_some_and(|v| !is_zero(v)) {
            return Err(bad(format!(
                "unsupported: {k} cannot be updated by berth (set it at create)"
            )));
        }
    }
    let conflict = |m: &str| Err(bad(format!("Conflicting options: {m}")));
    if req.nano_cpus > 0 && cur.cpu_period > 0 {
        return conflict("Nano CPUs cannot be updated as CPU Period has already been set");
    }
    if req.nano_cpus > 0 && cur.cpu_quota > 0 {
        return conflict("Nano CPUs cannot be updated as CPU Quota has already been set");
    }
    if req.cpu_period > 0 && cur.nano_cpus > 0 {
        return conflict("CPU Period cannot be updated as NanoCPUs has already been set");
    }
    if req.cpu_quota > 0 && cur.nano_cpus > 0 {
        return conflict("CPU Quota cannot be updated as NanoCPUs has already been set");
    }
    let mut h = cur.clone();
    if cur.memory > 0 && cur.memory_swap == 0 && req.memory > 0 {
        // The swap limit in force is Docker's default (twice the memory): keep it explicit.
        h.memory_swap = effective_swap(cur);
    }
    if req.blkio_weight != 0 {
        h.blkio_weight = req.blkio_weight;
    }
    if req.cpu_shares != 0 {
        h.cpu_shares = req.cpu_shares;
    }
    if req.nano_cpus != 0 {
        h.nano_cpus = req.nano_cpus;
    }
    if req.cpu_period != 0 {
        h.cpu_period = req.cpu_period;
    }
    if req.cpu_quota != 0 {
        h.cpu_quota = req.cpu_quota;
    }
    if !req.cpuset_cpus.is_empty() {
        h.cpuset_cpus = req.cpuset_cpus.clone();
    }
    if !req.cpuset_mems.is_empty() {
        h.cpuset_mems = req.cpuset_mems.clone();
    }
    if req.memory != 0 {
        if h.memory_swap > 0 && req.memory > h.memory_swap && req.memory_swap == 0 {
            return Err(bad("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"));
        }
        h.memory = req.memory;
    }
    if req.memory_swap != 0 {
        h.memory_swap = req.memory_swap;
    }
    if req.memory_reservation != 0 {
        h.memory_reservation = req.memory_reservation;
    }
    if let Some(p) = req.pids_limit {
        h.pids_limit = Some(p);
    }
    if let Some(rp) = &req.restart_policy {
        if !rp.name.is_empty() {
            if rp.name != "no" && cur.auto_remove {
                return Err(bad(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
            h.restart_policy = rp.clone();
        }
    }
    crate::restart::validate(&h)?;
    Ok(h)
}

/// Whether an update changes any limit the runtime enforces (a restart-policy-only update
/// needs no runtime call).
pub fn limits_changed(a: &HostConfig, b: &HostConfig) -> bool {
    oci(a, true, true) != oci(b, true, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(v: Value) -> HostConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn update_merges_like_docker() {
        let cur = hc(json!({"Memory": 64 << 20, "NanoCpus": 500_000_000}));
        let req: UpdateRequest = serde_json::from_value(
            json!({"Memory": 96 << 20, "KernelMemory": 0, "CpuShares": 512}),
        )
        .unwrap();
        let h = merge_update(&cur, &req).unwrap();
        assert_eq!(h.memory, 96 << 20);
        assert_eq!(h.memory_swap, 128 << 20);
        assert_eq!(h.cpu_shares, 512);
        assert_eq!(h.nano_cpus, 500_000_000);
        let too_big: UpdateRequest = serde_json::from_value(json!({"Memory": 200 << 20})).unwrap();
        assert!(merge_update(&cur, &too_big).is_err());
        let quota: UpdateRequest = serde_json::from_value(json!({"CpuQuota": 50000})).unwrap();
        assert!(merge_update(&cur, &quota).is_err());
        let kmem: UpdateRequest = serde_json::from_value(json!({"KernelMemory": 1 << 20})).unwrap();
        let e = merge_update(&cur, &kmem).unwrap_err().to_string();
        assert!(e.contains("KernelMemory"), "{e}");
        let rp: UpdateRequest = serde_json::from_value(
            json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}),
        )
        .unwrap();
        let h = merge_update(&cur, &rp).unwrap();
        assert_eq!(h.restart_policy.maximum_retry_count, 3);
        assert!(!limits_changed(&cur, &h));
    }

    #[test]
    fn validates_and_builds_oci() {
        let ok = hc(json!({"Memory": 64 << 20, "MemoryReservation": 32 << 20,
                           "CpusetCpus": "0", "CpuShares": 256, "PidsLimit": 50}));
        validate(&ok, true).unwrap();
        let r = oci(&ok, true, false);
        assert_eq!(r["memory"]["swap"], json!(128 << 20));
        assert_eq!(r["memory"]["reservation"], json!(32 << 20));
        assert_eq!(r["cpu"]["cpus"], "0");
        assert_eq!(r["pids"]["limit"], 50);
        for bad in [
            json!({"Memory": 1 << 20}),
            json!({"Memory": 64 << 20, "MemorySwap": 32 << 20}),
            json!({"Memory": 64 << 20, "MemoryReservation": 128 << 20}),
            json!({"CpuPeriod": 10}),
            json!({"CpuQuota": 10}),
            json!({"CpusetCpus": "9999"}),
            json!({"CpusetCpus": "x"}),
            json!({"BlkioWeight": 5}),
            json!({"CpuRealtimeRuntime": 10}),
        ] {
            assert!(validate(&hc(bad.clone()), true).is_err(), "{bad}");
        }
    }
}
