//! `berth update` (`POST /containers/{id}/update`): docker's flags and body.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::client::{enc, Client};
use crate::format::ram_in_bytes;

/// `berth update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn bytes(v: &str, flag: &str) -> Result<i64> {
    if v == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(v).ok_or_else(|| anyhow!("invalid argument {v:?} for \"{flag}\" flag"))
}

/// The `UpdateConfig` body of `args` (only the flags given; zero means "keep").
pub fn body(args: &UpdateArgs) -> Result<Value> {
    let mut b = Map::new();
    if let Some(w) = args.blkio_weight {
        b.insert("BlkioWeight".into(), json!(w));
    }
    if let Some(p) = args.cpu_period {
        b.insert("CpuPeriod".into(), json!(p));
    }
    if let Some(q) = args.cpu_quota {
        b.insert("CpuQuota".into(), json!(q));
    }
    if let Some(s) = args.cpu_shares {
        b.insert("CpuShares".into(), json!(s));
    }
    if let Some(c) = args.cpus {
        if !(0.0..=1e6).contains(&c) {
            bail!("invalid argument \"{c}\" for \"--cpus\" flag");
        }
        b.insert("NanoCpus".into(), json!((c * 1e9).round() as i64));
    }
    if let Some(s) = &args.cpuset_cpus {
        b.insert("CpusetCpus".into(), json!(s));
    }
    if let Some(s) = &args.cpuset_mems {
        b.insert("CpusetMems".into(), json!(s));
    }
    if let Some(m) = &args.memory {
        b.insert("Memory".into(), json!(bytes(m, "-m, --memory")?));
    }
    if let Some(m) = &args.memory_reservation {
        b.insert(
            "MemoryReservation".into(),
            json!(bytes(m, "--memory-reservation")?),
        );
    }
    if let Some(m) = &args.memory_swap {
        b.insert("MemorySwap".into(), json!(bytes(m, "--memory-swap")?));
    }
    if let Some(p) = args.pids_limit {
        b.insert("PidsLimit".into(), json!(p));
    }
    if let Some(r) = &args.restart {
        let (name, count) = r.split_once(':').unwrap_or((r.as_str(), "0"));
        let count: i64 = count
            .parse()
            .map_err(|_| anyhow!("maximum retry count must be an integer"))?;
        b.insert(
            "RestartPolicy".into(),
            json!({"Name": name, "MaximumRetryCount": count}),
        );
    }
    if b.is_empty() {
        bail!("you must provide one or more flags when using this command");
    }
    Ok(Value::Object(b))
}

/// `berth update`: prints each container updated, the daemon's error otherwise.
pub async fn update(client: &Client, args: UpdateArgs) -> Result<i32> {
    let body = body(&args)?;
    crate::cmd::manage::each(&args.containers, |name| {
        let path = format!("/containers/{}/update", enc(&name));
        let body = body.clone();
        async move {
            let v = client.json(Method::POST, &path, Some(&body)).await?;
            for w in v["Warnings"].as_array().into_iter().flatten() {
                if let Some(w) = w.as_str() {
                    eprintln!("WARNING: {w}");
                }
            }
            Ok(Some(name))
        }
    })
    .await
}
