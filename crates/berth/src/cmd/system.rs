//! `version` and `info`.

use anyhow::Result;
use serde_json::Value;

use crate::client::{Client, API_VERSION};

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn field(label: &str, value: impl std::fmt::Display, indent: usize) {
    let pad = 20usize.saturating_sub(indent + label.len() + 1);
    println!(
        "{}{}:{}{}",
        " ".repeat(indent),
        label,
        " ".repeat(pad.max(1)),
        value
    );
}

/// `berth version`: client section, then the daemon's.
pub async fn version(client: &Client) -> Result<i32> {
    println!("Client:");
    field("Version", env!("CARGO_PKG_VERSION"), 1);
    let server = client.get("/version").await;
    let used = client
        .version()
        .await
        .unwrap_or_else(|_| API_VERSION.into());
    if used == API_VERSION {
        field("API version", API_VERSION, 1);
    } else {
        field(
            "API version",
            format!("{used} (downgraded from {API_VERSION})"),
            1,
        );
    }
    field(
        "OS/Arch",
        format!("{}/{}", std::env::consts::OS, go_arch()),
        1,
    );
    field("Context", "default", 1);
    println!();
    let v = server?;
    let platform = v
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    println!("{}", format!("Server: {platform}").trim_end());
    println!(" Engine:");
    field("Version", s(&v, "Version"), 2);
    field(
        "API version",
        format!(
            "{} (minimum version {})",
            s(&v, "ApiVersion"),
            s(&v, "MinAPIVersion")
        ),
        2,
    );
    if !s(&v, "GoVersion").is_empty() {
        field("Go version", s(&v, "GoVersion"), 2);
    }
    field("Git commit", s(&v, "GitCommit"), 2);
    field("Built", s(&v, "BuildTime"), 2);
    field("OS/Arch", format!("{}/{}", s(&v, "Os"), s(&v, "Arch")), 2);
    field(
        "Experimental",
        v.get("Experimental")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        2,
    );
    for comp in v
        .get("Components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s(comp, "Name");
        if name == "Engine" {
            continue;
        }
        println!(" {name}:");
        field("Version", s(comp, "Version"), 2);
        if let Some(commit) = comp.pointer("/Details/GitCommit").and_then(Value::as_str) {
            field("GitCommit", commit, 2);
        }
    }
    Ok(0)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `berth info`: the main fields of GET /info.
pub async fn info(client: &Client) -> Result<i32> {
    let v = client.get("/info").await?;
    let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!(" Context:    default");
    println!(" Debug Mode: false");
    println!();
    println!("Server:");
    println!(" Containers: {}", n("Containers"));
    println!("  Running: {}", n("ContainersRunning"));
    println!("  Paused: {}", n("ContainersPaused"));
    println!("  Stopped: {}", n("ContainersStopped"));
    println!(" Images: {}", n("Images"));
    println!(" Server Version: {}", s(&v, "ServerVersion"));
    println!(" Storage Driver: {}", s(&v, "Driver"));
    println!(" Logging Driver: {}", s(&v, "LoggingDriver"));
    println!(" Cgroup Driver: {}", s(&v, "CgroupDriver"));
    println!(" Cgroup Version: {}", s(&v, "CgroupVersion"));
    if let Some(rt) = v.get("Runtimes").and_then(Value::as_object) {
        let mut names: Vec<&String> = rt.keys().collect();
        names.sort();
        let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        println!(" Runtimes: {}", names.join(" "));
    }
    println!(" Default Runtime: {}", s(&v, "DefaultRuntime"));
    if let Some(opts) = v.get("SecurityOptions").and_then(Value::as_array) {
        if !opts.is_empty() {
            println!(" Security Options:");
            for o in opts.iter().filter_map(Value::as_str) {
                for (i, kv) in o.split(',').enumerate() {
                    let (k, val) = kv.split_once('=').unwrap_or(("", kv));
                    if i == 0 {
                        println!("  {val}");
                    } else {
                        let mut key = k.to_string();
                        if let Some(f) = key.get(..1) {
                            key = f.to_uppercase() + &key[1..];
                        }
                        println!("   {key}: {val}");
                    }
                }
            }
        }
    }
    println!(" Kernel Version: {}", s(&v, "KernelVersion"));
    println!(" Operating System: {}", s(&v, "OperatingSystem"));
    println!(" OSType: {}", s(&v, "OSType"));
    println!(" Architecture: {}", s(&v, "Architecture"));
    println!(" CPUs: {}", n("NCPU"));
    println!(
        " Total Memory: {}",
        human_binary(v.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0))
    );
    println!(" Name: {}", s(&v, "Name"));
    println!(" ID: {}", s(&v, "ID"));
    println!(" Docker Root Dir: {}", s(&v, "DockerRootDir"));
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    println!(" Debug Mode: {}", flag("Debug"));
    println!(" Experimental: {}", flag("ExperimentalBuild"));
    println!(" Live Restore Enabled: {}", flag("LiveRestoreEnabled"));
    for w in v
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        eprintln!("{w}");
    }
    Ok(0)
}

/// Docker's `units.BytesSize` (binary units, "23.43GiB").
fn human_binary(size: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{}", UNITS[i])
}
