//! The resource flags of `run`/`create` beyond `-m`, `--cpus` and `--pids-limit`.

use anyhow::{anyhow, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::format::ram_in_bytes;

/// `--memory-swap`, `--memory-reservation`, `--cpu-shares`, `--cpu-period`, `--cpu-quota`,
/// `--cpuset-cpus`, `--cpuset-mems`, `--blkio-weight` (docker's names and syntax).
#[derive(Args, Debug, Default)]
pub struct ResourceFlags {
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
}

impl ResourceFlags {
    /// Adds the flags given to the HostConfig `host`.
    pub fn apply(&self, host: &mut Value) -> Result<()> {
        let bytes = |v: &str, flag: &str| -> Result<i64> {
            if v == "-1" {
                return Ok(-1);
            }
            ram_in_bytes(v).ok_or_else(|| anyhow!("invalid argument {v:?} for \"{flag}\" flag"))
        };
        if let Some(v) = &self.memory_swap {
            host["MemorySwap"] = json!(bytes(v, "--memory-swap")?);
        }
        if let Some(v) = &self.memory_reservation {
            host["MemoryReservation"] = json!(bytes(v, "--memory-reservation")?);
        }
        if let Some(v) = self.cpu_shares {
            host["CpuShares"] = json!(v);
        }
        if let Some(v) = self.cpu_period {
            host["CpuPeriod"] = json!(v);
        }
        if let Some(v) = self.cpu_quota {
            host["CpuQuota"] = json!(v);
        }
        if let Some(v) = &self.cpuset_cpus {
            host["CpusetCpus"] = json!(v);
        }
        if let Some(v) = &self.cpuset_mems {
            host["CpusetMems"] = json!(v);
        }
        if let Some(v) = self.blkio_weight {
            host["BlkioWeight"] = json!(v);
        }
        Ok(())
    }
}
