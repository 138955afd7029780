//! `berth volume create|ls|inspect|rm|prune`, and `--mount` parsing for run/create.

use anyhow::{anyhow, Result};
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::cli::{
    VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::client::{enc, Client};
use crate::format::{filters_query, table};

fn key_values(list: &[String], what: &str) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for kv in list {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if k.is_empty() {
            return Err(anyhow!("invalid argument {kv:?} for \"{what}\" flag"));
        }
        m.insert(k.to_string(), json!(v));
    }
    Ok(m)
}

/// `berth volume create`.
pub async fn create(client: &Client, args: VolumeCreateArgs) -> Result<i32> {
    let body = json!({
        "Name": args.name.unwrap_or_default(),
        "Driver": args.driver.unwrap_or_else(|| "local".into()),
        "DriverOpts": key_values(&args.opt, "--opt")?,
        "Labels": key_values(&args.label, "--label")?,
    });
    let v = client
        .json(Method::POST, "/volumes/create", Some(&body))
        .await?;
    println!("{}", v.get("Name").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

/// `berth volume ls`.
pub async fn ls(client: &Client, args: VolumeLsArgs) -> Result<i32> {
    let path = match filters_query(&args.filter) {
        Some(f) => format!("/volumes?filters={f}"),
        None => "/volumes".to_string(),
    };
    let v = client.get(&path).await?;
    let vols = v
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if args.quiet {
        for vol in &vols {
            println!("{}", field(vol, "Name"));
        }
        return Ok(0);
    }
    let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
    for vol in &vols {
        rows.push(vec![field(vol, "Driver"), field(vol, "Name")]);
    }
    print!("{}", table(&rows));
    Ok(0)
}

/// `berth volume inspect`.
pub async fn inspect(client: &Client, args: VolumeInspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match client.get(&format!("/volumes/{}", enc(name))).await {
            Ok(v) => out.push(v),
            Err(e) => {
                if e.downcast_ref::<crate::client::ConnectError>().is_some() {
                    return Err(e);
                }
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&Value::Array(out))?);
    Ok(i32::from(failed))
}

/// `berth volume rm`.
pub async fn rm(client: &Client, args: VolumeRmArgs) -> Result<i32> {
    let mut failed = false;
    for name in &args.names {
        let path = format!("/volumes/{}?force={}", enc(name), u8::from(args.force));
        match client.call(Method::DELETE, &path, None).await {
            Ok(_) => println!("{name}"),
            Err(e) => {
                if e.downcast_ref::<crate::client::ConnectError>().is_some() {
                    return Err(e);
                }
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

/// `berth volume prune`.
pub async fn prune(client: &Client, args: VolumePruneArgs) -> Result<i32> {
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !crate::cmd::extra::confirm(warning) {
        return Ok(0);
    }
    let mut filters = args.filter.clone();
    if args.all {
        filters.push("all=true".into());
    }
    let path = match filters_query(&filters) {
        Some(f) => format!("/volumes/prune?filters={f}"),
        None => "/volumes/prune".to_string(),
    };
    let v = client.json(Method::POST, &path, None).await?;
    let deleted = v
        .get("VolumesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for d in &deleted {
            println!("{}", d.as_str().unwrap_or(""));
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        crate::cmd::extra::reclaimed(&v)
    );
    Ok(0)
}

/// `--mount` flags as `HostConfig.Mounts` entries (validated by the volume crate).
pub fn mounts(specs: &[String]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for s in specs {
        let r = volume::parse_mount_flag(s)
            .map_err(|e| anyhow!("invalid argument {s:?} for \"--mount\" flag: {e}"))?;
        let mut m = json!({
            "Type": r.kind.as_str(),
            "Source": r.source.clone().unwrap_or_default(),
            "Target": r.target,
            "ReadOnly": r.read_only,
        });
        match r.kind {
            volume::MountType::Bind => {
                if let Some(p) = r.propagation {
                    m["BindOptions"] = json!({"Propagation": p.as_str()});
                }
            }
            volume::MountType::Volume => {
                let mut o = json!({"NoCopy": r.nocopy});
                if !r.labels.is_empty() {
                    o["Labels"] = json!(r.labels);
                }
                if r.driver.is_some() || !r.driver_opts.is_empty() {
                    o["DriverConfig"] = json!({
                        "Name": r.driver.clone().unwrap_or_default(),
                        "Options": r.driver_opts,
                    });
                }
                m["VolumeOptions"] = o;
            }
            volume::MountType::Tmpfs => {
                let mut o = Map::new();
                if let Some(sz) = r.tmpfs_size {
                    o.insert("SizeBytes".into(), json!(sz));
                }
                if let Some(md) = r.tmpfs_mode {
                    o.insert("Mode".into(), json!(md));
                }
                if !o.is_empty() {
                    m["TmpfsOptions"] = Value::Object(o);
                }
            }
        }
        out.push(m);
    }
    Ok(out)
}
