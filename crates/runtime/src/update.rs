//! `update`: changes the resources of a live container (runc's `update`), in its cgroup and
//! in the saved config so that later commands see what is in force.
//!
//! The request is an OCI `linux.resources` document. As runc, a zero (or empty) value of a
//! field that can be changed means "leave it as it is". Fields that cannot be changed live
//! (devices, hugepage limits, …) are accepted only with the value already in force, and any
//! other value, or a field this runtime does not know, is refused with its name.

use crate::error::{Error, Result};
use crate::state::{Saved, Status};
use oci_spec::runtime::LinuxResources;
use serde_json::{Map, Value};
use std::path::Path;

/// Fields written to the cgroup, per section (`""`: top-level fields).
const LIVE: [(&str, &[&str]); 5] = [
    ("memory", &["limit", "reservation", "swap"]),
    (
        "cpu",
        &[
            "shares",
            "quota",
            "period",
            "realtimeRuntime",
            "realtimePeriod",
            "cpus",
            "mems",
        ],
    ),
    ("blockIO", &["weight"]),
    ("pids", &["limit"]),
    ("", &["unified"]),
];

/// Every field of `linux.resources` (so an unknown one is refused, not ignored).
const KNOWN: [(&str, &[&str]); 9] = [
    (
        "memory",
        &[
            "limit",
            "reservation",
            "swap",
            "kernel",
            "kernelTCP",
            "swappiness",
            "disableOOMKiller",
            "useHierarchy",
            "checkBeforeUpdate",
        ],
    ),
    (
        "cpu",
        &[
            "shares",
            "quota",
            "burst",
            "period",
            "realtimeRuntime",
            "realtimePeriod",
            "cpus",
            "mems",
            "idle",
        ],
    ),
    (
        "blockIO",
        &[
            "weight",
            "leafWeight",
            "weightDevice",
            "throttleReadBpsDevice",
            "throttleWriteBpsDevice",
            "throttleReadIOPSDevice",
            "throttleWriteIOPSDevice",
        ],
    ),
    ("pids", &["limit"]),
    ("devices", &[]),
    ("hugepageLimits", &[]),
    ("network", &[]),
    ("rdma", &[]),
    ("unified", &[]),
];

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn live(section: &str, field: &str) -> bool {
    LIVE.iter()
        .any(|(s, fs)| *s == section && fs.contains(&field))
}

/// `v` as it reads once through the OCI types (so that a request and the saved config
/// compare equal whatever optional fields either spells out).
fn norm(section: &str, field: Option<&str>, v: &Value) -> Result<Value> {
    let doc = match field {
        Some(f) => serde_json::json!({ section: { f: v } }),
        None => serde_json::json!({ section: v }),
    };
    let r: LinuxResources = serde_json::from_value(doc)
        .map_err(|e| Error::Config(format!("resources.{section}: {e}")))?;
    let back = serde_json::to_value(r).map_err(|e| Error::Config(e.to_string()))?;
    let got = back.get(section);
    Ok(match field {
        Some(f) => got.and_then(|s| s.get(f)).cloned(),
        None => got.cloned(),
    }
    .unwrap_or(Value::Null))
}

/// Splits `req` into the live changes; checks every other field against `cur`.
fn delta(req: &Value, cur: &Value, v2: bool) -> Result<Map<String, Value>> {
    let req = req
        .as_object()
        .ok_or_else(|| Error::Config("resources must be a JSON object".into()))?;
    let mut out = Map::new();
    for (k, v) in req {
        let Some((_, fields)) = KNOWN.iter().find(|(s, _)| s == k) else {
            return Err(Error::Config(format!("unknown resources field {k}")));
        };
        if fields.is_empty() {
            // A list or map as a whole: `unified` is live on cgroup v2 only.
            if k == "unified" && v2 {
                if !is_zero(v) {
                    out.insert(k.clone(), v.clone());
                }
            } else if !is_zero(v) && cur.get(k) != Some(&norm(k, None, v)?) {
                return Err(Error::Unsupported(format!("update of linux.resources.{k}")));
            }
            continue;
        }
        let Some(obj) = v.as_object() else {
            if v.is_null() {
                continue;
            }
            return Err(Error::Config(format!(
                "resources field {k} must be an object"
            )));
        };
        let mut sec = Map::new();
        for (f, fv) in obj {
            if !fields.contains(&f.as_str()) {
                return Err(Error::Config(format!("unknown resources field {k}.{f}")));
            }
            if live(k, f) {
                if !is_zero(fv) {
                    sec.insert(f.clone(), fv.clone());
                }
            } else if !is_zero(fv)
                && cur.get(k).and_then(|c| c.get(f)) != Some(&norm(k, Some(f), fv)?)
            {
                return Err(Error::Unsupported(format!(
                    "update of linux.resources.{k}.{f}"
                )));
            }
        }
        if !sec.is_empty() {
            out.insert(k.clone(), Value::Object(sec));
        }
    }
    // Pairs the kernel takes together: complete a half-given pair from what is in force.
    for (sec, a, b) in [
        ("cpu", "quota", "period"),
        ("cpu", "period", "quota"),
        ("memory", "swap", "limit"),
    ] {
        if let Some(Value::Object(o)) = out.get_mut(sec) {
            if o.contains_key(a) && !o.contains_key(b) {
                if let Some(old) = cur.get(sec).and_then(|c| c.get(b)).filter(|v| !is_zero(v)) {
                    o.insert(b.into(), old.clone());
                }
            }
        }
    }
    Ok(out)
}

fn merge(into: &mut Value, from: &Map<String, Value>) {
    if !into.is_object() {
        *into = Value::Object(Map::new());
    }
    let Some(dst) = into.as_object_mut() else {
        return;
    };
    for (k, v) in from {
        match (dst.get_mut(k), v) {
            (Some(d @ Value::Object(_)), Value::Object(src)) if k != "unified" => merge(d, src),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Applies `req` (a `linux.resources` JSON document) to the container `id` under `root`.
pub fn update(root: &Path, id: &str, req: &Value) -> Result<()> {
    let mut s = Saved::load(root, id)?;
    if s.status(root) == Status::Stopped {
        return Err(Error::State(format!(
            "cannot update container {id}: it is stopped"
        )));
    }
    let cg = s
        .cgroup
        .clone()
        .ok_or_else(|| Error::State(format!("container {id} has no cgroup")))?;
    let cur_res = s
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?
        .unwrap_or(Value::Object(Map::new()));
    let d = delta(req, &cur_res, cg.v2.is_some())?;
    if d.is_empty() {
        return Ok(());
    }
    let change: LinuxResources = serde_json::from_value(Value::Object(d.clone()))
        .map_err(|e| Error::Config(format!("resources: {e}")))?;
    cg.apply(&change)?;
    let mut merged = cur_res;
    merge(&mut merged, &d);
    let merged: LinuxResources =
        serde_json::from_value(merged).map_err(|e| Error::Config(format!("resources: {e}")))?;
    let mut linux = s.config.linux().clone().unwrap_or_default();
    linux.set_resources(Some(merged));
    s.config.set_linux(Some(linux));
    s.save(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_means_unchanged_and_pairs_complete() {
        let cur = json!({"cpu": {"period": 50000, "quota": 10000}, "memory": {"limit": 1000}});
        let d = delta(
            &json!({"cpu": {"quota": 20000, "shares": 0, "cpus": ""}, "memory": {"swap": 4000}, "pids": {"limit": 0}}),
            &cur,
            false,
        )
        .unwrap();
        assert_eq!(
            Value::Object(d),
            json!({"cpu": {"quota": 20000, "period": 50000}, "memory": {"swap": 4000, "limit": 1000}})
        );
    }

    #[test]
    fn fixed_fields_must_match_and_unknown_is_refused() {
        let cur: LinuxResources =
            serde_json::from_value(json!({"devices": [{"allow": false, "access": "rwm"}]}))
                .unwrap();
        let cur = serde_json::to_value(cur).unwrap();
        assert!(delta(
            &json!({"devices": [{"allow": false, "access": "rwm"}]}),
            &cur,
            false
        )
        .is_ok());
        let e = delta(
            &json!({"devices": [{"allow": true, "access": "rwm"}]}),
            &cur,
            false,
        );
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("linux.resources.devices"));
        let e = delta(&json!({"memory": {"swappiness": 10}}), &cur, false);
        assert!(e.unwrap_err().to_string().contains("memory.swappiness"));
        let e = delta(&json!({"bogus": 1}), &cur, false);
        assert!(e.unwrap_err().to_string().contains("bogus"));
        let e = delta(&json!({"unified": {"memory.high": "1"}}), &cur, false);
        assert!(e.unwrap_err().to_string().contains("unified"));
        assert!(delta(&json!({"unified": {"memory.high": "1"}}), &cur, true).is_ok());
    }
}
