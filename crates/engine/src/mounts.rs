//! User mounts through the `volume` crate: `HostConfig.Binds` (`-v`), `HostConfig.Mounts`
//! (`--mount`), `HostConfig.Tmpfs` (`--tmpfs`), `HostConfig.VolumesFrom` and the image's
//! `VOLUME`s become [`volume::MountRequest`]s at create; the resulting
//! [`volume::MountPoint`]s are stored in the container record.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::{Config, HostConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use volume::{ApiMount, MountPoint, MountRequest, OciMount};

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn keys(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Every mount request of a container being created, validated (nothing created yet):
/// Binds, Mounts, Tmpfs, then `--volumes-from` for targets not taken, then the anonymous
/// volumes of the image's and the request's `Volumes` not covered by another mount.
pub(crate) fn requests(
    engine: &Engine,
    cfg: &Config,
    host: &HostConfig,
    image_volumes: &[String],
) -> Result<Vec<MountRequest>> {
    let binds = host.binds.clone().unwrap_or_default();
    let mounts: Vec<ApiMount> = match host.extra.get("Mounts") {
        Some(Value::Null) | None => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            EngineError::InvalidParameter(format!("invalid HostConfig.Mounts: {e}"))
        })?,
    };
    let tmpfs: BTreeMap<String, String> = match host.extra.get("Tmpfs") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        _ => BTreeMap::new(),
    };
    let mut reqs = volume::collect(&binds, &mounts, &tmpfs, &[])?;
    for spec in strings(host.extra.get("VolumesFrom")) {
        let (name, ro) = volume::parse_volumes_from(&spec)?;
        let other = engine.get(&name)?;
        for p in &other.mount_points {
            if reqs.iter().any(|r| r.target == p.destination) {
                continue;
            }
            if let Some(r) = p.to_request(ro) {
                reqs.push(r);
            }
        }
    }
    let mut anon: Vec<String> = image_volumes.to_vec();
    for k in keys(cfg.extra.get("Volumes")) {
        if !anon.contains(&k) {
            anon.push(k);
        }
    }
    Ok(volume::spec::add_image_volumes(reqs, &anon)?)
}

/// `Mounts` as `docker inspect` shows them.
pub fn inspect(points: &[MountPoint]) -> Vec<Value> {
    points
        .iter()
        .filter(|p| p.listed_in_inspect())
        .filter_map(|p| serde_json::to_value(p.api()).ok())
        .collect()
}

/// OCI mount entries (JSON) for the bundle's config.json.
pub fn oci(mounts: &[OciMount]) -> Vec<Value> {
    mounts
        .iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect()
}
