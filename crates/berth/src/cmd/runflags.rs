//! More `run`/`create` flags of docker's: namespaces (`--pid --ipc --uts --userns
//! --cgroupns`), `--group-add`, `--sysctl`, `--oom-score-adj`, `--oom-kill-disable`,
//! `--memory-swappiness`, `--domainname`. berthd applies them or refuses them by name.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use serde_json::{json, Map, Value};

/// The flags (docker's names and syntax).
#[derive(Args, Debug, Default)]
pub struct RunFlags {
    /// PID namespace to use
    #[arg(long, value_name = "string")]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long, value_name = "string")]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long, value_name = "string")]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long, value_name = "string")]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long, value_name = "string")]
    pub cgroupns: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Sysctl options (key=value)
    #[arg(long, value_name = "map")]
    pub sysctl: Vec<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune container memory swappiness (0 to 100)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<i64>,
    /// Container NIS domain name
    #[arg(long, value_name = "string")]
    pub domainname: Option<String>,
}

impl RunFlags {
    /// Adds the flags given to the create body (`config`) and its HostConfig (`host`).
    pub fn apply(&self, config: &mut Value, host: &mut Value) -> Result<()> {
        for (key, v) in [
            ("PidMode", &self.pid),
            ("IpcMode", &self.ipc),
            ("UTSMode", &self.uts),
            ("UsernsMode", &self.userns),
            ("CgroupnsMode", &self.cgroupns),
        ] {
            if let Some(v) = v {
                host[key] = json!(v);
            }
        }
        if !self.group_add.is_empty() {
            host["GroupAdd"] = json!(self.group_add);
        }
        if !self.sysctl.is_empty() {
            let mut m = Map::new();
            for s in &self.sysctl {
                let (k, v) = s.split_once('=').ok_or_else(|| {
                    anyhow!(
                        "invalid argument {s:?} for \"--sysctl\" flag: sysctl must be key=value"
                    )
                })?;
                m.insert(k.to_string(), json!(v));
            }
            host["Sysctls"] = Value::Object(m);
        }
        if let Some(n) = self.oom_score_adj {
            if !(-1000..=1000).contains(&n) {
                bail!("invalid value {n}: range for oom score adj is [-1000, 1000]");
            }
            host["OomScoreAdj"] = json!(n);
        }
        if self.oom_kill_disable {
            host["OomKillDisable"] = json!(true);
        }
        if let Some(s) = self.memory_swappiness {
            if !(-1..=100).contains(&s) {
                bail!("invalid value: {s}. Valid memory swappiness range is 0-100");
            }
            host["MemorySwappiness"] = json!(s);
        }
        if let Some(d) = &self.domainname {
            config["Domainname"] = json!(d);
        }
        Ok(())
    }
}
