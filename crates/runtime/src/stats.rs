//! One-shot resource statistics of a container's cgroups (`events --stats`), in runc's
//! `{"type":"stats","id":…,"data":{…}}` shape.

use crate::cgroups::Cgroup;
use serde_json::{json, Value};
use std::path::Path;

fn num(p: &Path) -> Option<u64> {
    let s = std::fs::read_to_string(p).ok()?;
    let t = s.trim();
    if t == "max" {
        return Some(u64::MAX);
    }
    t.parse().ok()
}

/// Reads `key value` lines (memory.stat, cpu.stat) into a JSON object.
fn kv(p: &Path) -> serde_json::Map<String, Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), json!(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

/// The stats document of the container `id` whose cgroups are `cg`.
pub fn collect(id: &str, cg: &Cgroup) -> Value {
    let mut data = serde_json::Map::new();
    if let Some((d, _)) = &cg.v2 {
        let cpu = kv(&d.join("cpu.stat"));
        let usec = |k: &str| cpu.get(k).and_then(Value::as_u64).unwrap_or(0) * 1000;
        data.insert(
            "cpu".into(),
            json!({"usage": {"total": usec("usage_usec"), "user": usec("user_usec"), "kernel": usec("system_usec")}}),
        );
        data.insert(
            "memory".into(),
            json!({
                "usage": {"usage": num(&d.join("memory.current")).unwrap_or(0),
                          "limit": num(&d.join("memory.max")).unwrap_or(u64::MAX)},
                "raw": kv(&d.join("memory.stat")),
            }),
        );
        data.insert(
            "pids".into(),
            json!({"current": num(&d.join("pids.current")).unwrap_or(0),
                   "limit": num(&d.join("pids.max")).unwrap_or(0)}),
        );
    } else {
        if let Some(d) = cg.controller_dir("cpuacct") {
            data.insert(
                "cpu".into(),
                json!({"usage": {
                    "total": num(&d.join("cpuacct.usage")).unwrap_or(0),
                    "user": num(&d.join("cpuacct.usage_user")).unwrap_or(0),
                    "kernel": num(&d.join("cpuacct.usage_sys")).unwrap_or(0),
                }}),
            );
        }
        if let Some(d) = cg.controller_dir("memory") {
            data.insert(
                "memory".into(),
                json!({
                    "usage": {"usage": num(&d.join("memory.usage_in_bytes")).unwrap_or(0),
                              "max": num(&d.join("memory.max_usage_in_bytes")).unwrap_or(0),
                              "limit": num(&d.join("memory.limit_in_bytes")).unwrap_or(0),
                              "failcnt": num(&d.join("memory.failcnt")).unwrap_or(0)},
                    "raw": kv(&d.join("memory.stat")),
                }),
            );
        }
        if let Some(d) = cg.controller_dir("pids") {
            data.insert(
                "pids".into(),
                json!({"current": num(&d.join("pids.current")).unwrap_or(0),
                       "limit": num(&d.join("pids.max")).map(|v| if v == u64::MAX { 0 } else { v }).unwrap_or(0)}),
            );
        }
    }
    json!({"type": "stats", "id": id, "data": data})
}
