//! `berth stats`: docker's live table of CPU %, memory, network and block I/O, and pids
//! (`--no-stream` for one table, `--format` with docker's placeholders, `-a` for all).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use crate::client::{enc, Client};
use crate::format::human_size;

/// `berth stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a custom template ("table ..." for a table)
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// CONTAINER [CONTAINER...]
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Go's `%.4g` for the binary sizes of docker's `units.BytesSize`.
fn sig(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let int_digits = (v.abs().log10().floor() as i32 + 1).max(1);
    let decimals = (digits - int_digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `units.BytesSize` (binary units, 4 significant digits): "1.512MiB".
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", sig(v, 4), UNITS[i])
}

fn u(v: &Value, path: &str) -> f64 {
    v.pointer(path).and_then(Value::as_f64).unwrap_or(0.0)
}

/// One row of the table from a stats object (docker's `calculate*` functions).
pub fn row(container: &str, s: &Value, running: bool) -> Value {
    let id = s["id"].as_str().unwrap_or_default().to_string();
    let name = s["name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    if !running {
        return json!({"Container": container, "ID": id, "Name": name, "CPUPerc": "0.00%",
            "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
            "BlockIO": "0B / 0B", "PIDs": "0"});
    }
    let cpu_delta =
        u(s, "/cpu_stats/cpu_usage/total_usage") - u(s, "/precpu_stats/cpu_usage/total_usage");
    let sys_delta = u(s, "/cpu_stats/system_cpu_usage") - u(s, "/precpu_stats/system_cpu_usage");
    let mut online = u(s, "/cpu_stats/online_cpus");
    if online == 0.0 {
        online = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let usage = u(s, "/memory_stats/usage");
    let stats = &s["memory_stats"]["stats"];
    let used = match (
        stats.get("total_inactive_file").and_then(Value::as_f64),
        stats.get("inactive_file").and_then(Value::as_f64),
    ) {
        (Some(v), _) if v < usage => usage - v,
        (None, Some(v)) if v < usage => usage - v,
        _ => usage,
    };
    let limit = u(s, "/memory_stats/limit");
    let mem_perc = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        rx += n["rx_bytes"].as_f64().unwrap_or(0.0);
        tx += n["tx_bytes"].as_f64().unwrap_or(0.0);
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let v = e["value"].as_f64().unwrap_or(0.0);
        match e["op"].as_str().and_then(|o| o.chars().next()) {
            Some('r' | 'R') => read += v,
            Some('w' | 'W') => write += v,
            _ => {}
        }
    }
    json!({
        "Container": container, "ID": id, "Name": name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(used), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(read), human_size(write)),
        "PIDs": format!("{}", s["pids_stats"]["current"].as_u64().unwrap_or(0)),
    })
}

fn headers() -> Value {
    json!({"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS"})
}

/// The containers to show: the ones named, else the running ones (all with `-a`).
async fn targets(client: &Client, args: &StatsArgs) -> Result<Vec<String>> {
    if !args.containers.is_empty() {
        return Ok(args.containers.clone());
    }
    let list = client
        .get(&format!("/containers/json?all={}", args.all))
        .await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str().map(|s| s[..12.min(s.len())].to_string()))
        .collect())
}

/// One stats object of `name` (with the daemon's two samples when `prev` is None) and
/// whether the container runs.
async fn fetch(client: Arc<Client>, name: String, prev: Option<Value>) -> Result<(Value, bool)> {
    let c = client
        .get(&format!("/containers/{}/json", enc(&name)))
        .await?;
    let running = c["State"]["Running"].as_bool().unwrap_or(false);
    let q = if prev.is_some() {
        "stream=false&one-shot=true"
    } else {
        "stream=false"
    };
    let mut s = client
        .get(&format!("/containers/{}/stats?{q}", enc(&name)))
        .await?;
    if let Some(p) = prev {
        s["precpu_stats"] = p["cpu_stats"].clone();
    }
    Ok((s, running))
}

/// `berth stats`.
pub async fn stats(client: Arc<Client>, args: StatsArgs) -> Result<i32> {
    let format = args.format.clone().unwrap_or_else(|| DEFAULT_FORMAT.into());
    let mut prev: HashMap<String, Value> = HashMap::new();
    loop {
        let names = targets(&client, &args).await?;
        let tasks: Vec<_> = names
            .iter()
            .map(|n| {
                let p = prev.get(n).cloned();
                tokio::spawn(fetch(client.clone(), n.clone(), p))
            })
            .collect();
        let mut rows = Vec::new();
        let mut failed = false;
        for (name, t) in names.iter().zip(tasks) {
            match t.await? {
                Ok((s, running)) => {
                    let mut r = row(name, &s, running);
                    if !args.no_trunc {
                        let id = r["ID"].as_str().unwrap_or_default();
                        r["ID"] = json!(id[..12.min(id.len())].to_string());
                    }
                    rows.push(r);
                    prev.insert(name.clone(), s);
                }
                Err(e) if !args.containers.is_empty() => {
                    eprintln!("{e}");
                    failed = true;
                }
                Err(_) => {} // removed between the listing and the sample
            }
        }
        let text = crate::format::render_rows(&format, &headers(), &rows)?;
        let mut out = std::io::stdout().lock();
        if !args.no_stream {
            // Docker's live view: clear the screen, home the cursor, redraw.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        if args.no_stream || failed {
            return Ok(i32::from(failed));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rows_like_docker() {
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(8.0 * 1024.0 * 1024.0 * 1024.0 * 0.95), "7.6GiB");
        assert_eq!(bytes_size(1_585_446.0), "1.512MiB");
        let s = json!({"id": "abcdef0123456789", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3_145_728u64, "limit": 8_388_608u64, "stats": {"total_inactive_file": 1_048_576u64}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 648}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3}});
        let r = row("web", &s, true);
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 8MiB");
        assert_eq!(r["MemPerc"], "25.00%");
        assert_eq!(r["NetIO"], "1.5kB / 648B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
    }
}
