//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, and the network flags of
//! run/create (`-P`, `--ip`, `--network-alias`, `--dns-search`, `--dns-option`).

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::cli::ContainerOpts;
use crate::client::{enc, Client};
use crate::format::{filters_query, table};

/// `berth network ...`.
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

/// `berth network create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network (bridge, macvlan, ipvlan)
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Network name
    pub name: String,
}

/// `berth network ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

/// `berth network inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Networks
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `berth network rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Networks
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `berth network prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `berth network connect`.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// Network
    pub network: String,
    /// Container
    pub container: String,
}

/// `berth network disconnect`.
#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Network
    pub network: String,
    /// Container
    pub container: String,
}

/// Network flags of run/create that have no field in `ContainerOpts`'s older set.
#[derive(Args, Debug, Default, Clone)]
pub struct RunNetFlags {
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", value_name = "list")]
    pub dns_option: Vec<String>,
}

/// Put the network flags into a ContainerCreate body (`config` with `HostConfig` inside).
pub fn apply_run_flags(opts: &ContainerOpts, config: &mut Value) -> Result<()> {
    let f = &opts.net;
    if f.publish_all {
        config["HostConfig"]["PublishAllPorts"] = json!(true);
    }
    if !f.dns_search.is_empty() {
        config["HostConfig"]["DnsSearch"] = json!(f.dns_search);
    }
    if !f.dns_option.is_empty() {
        config["HostConfig"]["DnsOptions"] = json!(f.dns_option);
    }
    if f.ip.is_some() || !f.network_alias.is_empty() {
        let net = match opts.network.as_deref() {
            None | Some("default") | Some("bridge") => {
                if f.ip.is_some() {
                    bail!("user specified IP address is supported on user defined networks only");
                }
                bail!("network-scoped alias is supported only for containers in user defined networks");
            }
            Some(n) => n.to_string(),
        };
        let mut ep = Map::new();
        if let Some(ip) = &f.ip {
            ip.parse::<std::net::Ipv4Addr>()
                .map_err(|_| anyhow!("invalid argument {ip:?} for \"--ip\" flag"))?;
            ep.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
        }
        if !f.network_alias.is_empty() {
            ep.insert("Aliases".into(), json!(f.network_alias));
        }
        config["NetworkingConfig"] = json!({"EndpointsConfig": {net: ep}});
    }
    Ok(())
}

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

/// Dispatch one `network` verb.
pub async fn run(client: &Client, c: NetworkCommand) -> Result<i32> {
    match c {
        NetworkCommand::Create(a) => create(client, a).await,
        NetworkCommand::Ls(a) => ls(client, a).await,
        NetworkCommand::Inspect(a) => inspect(client, a).await,
        NetworkCommand::Rm(a) => rm(client, a).await,
        NetworkCommand::Prune(a) => prune(client, a).await,
        NetworkCommand::Connect(a) => connect(client, a).await,
        NetworkCommand::Disconnect(a) => disconnect(client, a).await,
    }
}

async fn create(client: &Client, a: CreateArgs) -> Result<i32> {
    let mut ipam = Map::new();
    if let Some(s) = &a.subnet {
        ipam.insert("Subnet".into(), json!(s));
    }
    if let Some(g) = &a.gateway {
        if a.subnet.is_none() {
            bail!("every ip-range or gateway must have a corresponding subnet");
        }
        ipam.insert("Gateway".into(), json!(g));
    }
    if let Some(r) = &a.ip_range {
        if a.subnet.is_none() {
            bail!("every ip-range or gateway must have a corresponding subnet");
        }
        ipam.insert("IPRange".into(), json!(r));
    }
    let config = if ipam.is_empty() {
        json!([])
    } else {
        json!([ipam])
    };
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "IPAM": {"Driver": "default", "Config": config},
        "Options": key_values(&a.opt, "--opt")?,
        "Labels": key_values(&a.label, "--label")?,
    });
    let v = client
        .json(Method::POST, "/networks/create", Some(&body))
        .await?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(0)
}

async fn ls(client: &Client, a: LsArgs) -> Result<i32> {
    let path = match filters_query(&a.filter) {
        Some(f) => format!("/networks?filters={f}"),
        None => "/networks".to_string(),
    };
    let v = client.get(&path).await?;
    let list = v.as_array().cloned().unwrap_or_default();
    let s = |n: &Value, k: &str| n[k].as_str().unwrap_or("").to_string();
    let id = |n: &Value| {
        let i = s(n, "Id");
        if a.no_trunc {
            i
        } else {
            i.chars().take(12).collect()
        }
    };
    if a.quiet {
        for n in &list {
            println!("{}", id(n));
        }
        return Ok(0);
    }
    let mut rows = vec![vec![
        "NETWORK ID".to_string(),
        "NAME".into(),
        "DRIVER".into(),
        "SCOPE".into(),
    ]];
    for n in &list {
        rows.push(vec![id(n), s(n, "Name"), s(n, "Driver"), s(n, "Scope")]);
    }
    print!("{}", table(&rows));
    Ok(0)
}

async fn inspect(client: &Client, a: InspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut failed = false;
    for n in &a.names {
        match client.get(&format!("/networks/{}", enc(n))).await {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if failed { 1 } else { 0 })
}

async fn rm(client: &Client, a: RmArgs) -> Result<i32> {
    let mut code = 0;
    for n in &a.names {
        match client
            .call(Method::DELETE, &format!("/networks/{}", enc(n)), None)
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn prune(client: &Client, a: PruneArgs) -> Result<i32> {
    let path = match filters_query(&a.filter) {
        Some(f) => format!("/networks/prune?filters={f}"),
        None => "/networks/prune".to_string(),
    };
    let v = client.json(Method::POST, &path, None).await?;
    let names: Vec<&str> = v["NetworksDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !names.is_empty() {
        println!("Deleted Networks:");
        for n in names {
            println!("{n}");
        }
    }
    Ok(0)
}

async fn connect(client: &Client, a: ConnectArgs) -> Result<i32> {
    let mut ep = Map::new();
    if let Some(ip) = &a.ip {
        ep.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
    }
    if !a.alias.is_empty() {
        ep.insert("Aliases".into(), json!(a.alias));
    }
    let body = json!({"Container": a.container, "EndpointConfig": ep});
    client
        .call(
            Method::POST,
            &format!("/networks/{}/connect", enc(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(0)
}

async fn disconnect(client: &Client, a: DisconnectArgs) -> Result<i32> {
    let body = json!({"Container": a.container, "Force": a.force});
    client
        .call(
            Method::POST,
            &format!("/networks/{}/disconnect", enc(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(0)
}
