//! `ps`, `config`, `top`, `images` and `port`.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use compose::convert::labels;
use compose::Project;
use serde_json::{json, Value};

use super::api::{self, Oneoff};
use super::{selected, Services};
use crate::client::Client;
use crate::format::{ago, human_size, table};

/// `compose ps`.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all stopped containers
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display services
    #[arg(long = "services")]
    pub services_only: bool,
    /// Format the output: table or json
    #[arg(long = "format", value_name = "string", default_value = "table")]
    pub format: String,
    /// Filter services by status (running, exited, …)
    #[arg(long = "status", value_name = "stringArray")]
    pub status: Vec<String>,
    /// Services (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// `compose config`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print the service names, one per line
    #[arg(long = "services")]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format the output: yaml or json
    #[arg(long = "format", value_name = "string", default_value = "yaml")]
    pub format: String,
}

/// `compose port`.
#[derive(Args, Debug)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long = "protocol", value_name = "string", default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long = "index", value_name = "int", default_value_t = 1)]
    pub index: u32,
    /// The service
    pub service: String,
    /// The container port
    pub private_port: u16,
}

fn ports(c: &Value) -> String {
    let mut out: Vec<String> = c
        .get("Ports")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|p| {
                    let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
                    let proto = p.get("Type").and_then(Value::as_str).unwrap_or("tcp");
                    match p.get("PublicPort").and_then(Value::as_u64) {
                        Some(public) if public != 0 => {
                            let ip = p.get("IP").and_then(Value::as_str).unwrap_or("0.0.0.0");
                            format!("{ip}:{public}->{private}/{proto}")
                        }
                        _ => format!("{private}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    out.dedup();
    out.join(", ")
}

/// `compose ps`.
pub async fn ps(client: &Client, p: &Project, a: PsArgs) -> Result<i32> {
    let services = selected(p, &a.services)?;
    if a.format != "table" && a.format != "json" {
        bail!("invalid --format {:?}: table or json", a.format);
    }
    let mut list = Vec::new();
    for c in api::containers(
        client,
        &p.name,
        None,
        a.all || !a.status.is_empty(),
        Oneoff::Any,
    )
    .await?
    {
        let svc = api::label_of(&c, labels::SERVICE);
        let state = c
            .get("State")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if (a.services.is_empty() || services.contains(&svc))
            && (a.status.is_empty() || a.status.contains(&state))
        {
            list.push(c);
        }
    }
    if a.services_only {
        let mut seen = Vec::new();
        for c in &list {
            let s = api::label_of(c, labels::SERVICE);
            if !seen.contains(&s) {
                println!("{s}");
                seen.push(s);
            }
        }
        return Ok(0);
    }
    if a.quiet {
        for c in &list {
            println!("{}", api::id_of(c));
        }
        return Ok(0);
    }
    let command = |c: &Value| {
        format!(
            "\"{}\"",
            c.get("Command").and_then(Value::as_str).unwrap_or_default()
        )
    };
    if a.format == "json" {
        for c in &list {
            let row = json!({
                "ID": api::id_of(c),
                "Name": api::name_of(c),
                "Image": c.get("Image").cloned().unwrap_or(Value::Null),
                "Command": c.get("Command").cloned().unwrap_or(Value::Null),
                "Project": p.name,
                "Service": api::label_of(c, labels::SERVICE),
                "State": c.get("State").cloned().unwrap_or(Value::Null),
                "Status": c.get("Status").cloned().unwrap_or(Value::Null),
                "Publishers": c.get("Ports").cloned().unwrap_or(json!([])),
                "Labels": c.get("Labels").cloned().unwrap_or(Value::Null),
            });
            println!("{row}");
        }
        return Ok(0);
    }
    let mut rows = vec![vec![
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>()];
    for c in &list {
        rows.push(vec![
            api::name_of(c),
            c.get("Image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            command(c),
            api::label_of(c, labels::SERVICE),
            ago(c.get("Created").and_then(Value::as_i64).unwrap_or(0)),
            c.get("Status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            ports(c),
        ]);
    }
    print!("{}", table(&rows));
    Ok(0)
}

/// `compose config`.
pub fn config(p: &Project, a: ConfigArgs) -> Result<i32> {
    if a.quiet {
        return Ok(0);
    }
    if a.services {
        for s in p.model.services.keys() {
            println!("{s}");
        }
        return Ok(0);
    }
    if a.volumes {
        for v in p.model.volumes.keys() {
            println!("{v}");
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&p.model)?),
        "yaml" => print!("{}", compose::project::to_yaml(&p.model)?),
        f => bail!("invalid --format {f:?}: yaml or json"),
    }
    Ok(0)
}

/// `compose top`.
pub async fn top(client: &Client, p: &Project, a: Services) -> Result<i32> {
    for s in selected(p, &a.services)? {
        for c in api::containers(client, &p.name, Some(&s), false, Oneoff::No).await? {
            let v = client
                .get(&format!("/containers/{}/top", api::id_of(&c)))
                .await?;
            println!("{}", api::name_of(&c));
            let mut rows = vec![v
                .get("Titles")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default()];
            for proc_row in v
                .get("Processes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                rows.push(
                    proc_row
                        .as_array()
                        .map(|r| {
                            r.iter()
                                .map(|x| x.as_str().unwrap_or_default().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                );
            }
            print!("{}", table(&rows));
            println!();
        }
    }
    Ok(0)
}

/// `compose images`.
pub async fn images(client: &Client, p: &Project, a: Services) -> Result<i32> {
    let mut rows = vec![vec!["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()];
    for s in selected(p, &a.services)? {
        for c in api::containers(client, &p.name, Some(&s), true, Oneoff::No).await? {
            let image = c
                .get("Image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let (repo, tag) = crate::cmd::images::split_ref(&image);
            let info = client
                .get(&format!(
                    "/images/{}/json",
                    c.get("ImageID").and_then(Value::as_str).unwrap_or(&image)
                ))
                .await?;
            let id = info.get("Id").and_then(Value::as_str).unwrap_or_default();
            let size = info.get("Size").and_then(Value::as_f64).unwrap_or(0.0);
            rows.push(vec![
                api::name_of(&c),
                repo,
                tag,
                crate::cmd::ps::short_id(id),
                human_size(size),
            ]);
        }
    }
    print!("{}", table(&rows));
    Ok(0)
}

/// `compose port`.
pub async fn port(client: &Client, p: &Project, a: PortArgs) -> Result<i32> {
    selected(p, std::slice::from_ref(&a.service))?;
    let list = api::containers(client, &p.name, Some(&a.service), false, Oneoff::No).await?;
    let c = list
        .iter()
        .find(|c| api::number_of(c) == a.index)
        .ok_or_else(|| {
            anyhow!(
                "service {:?} is not running container #{}",
                a.service,
                a.index
            )
        })?;
    let info = client
        .get(&format!("/containers/{}/json", api::id_of(c)))
        .await?;
    let key = format!("{}/{}", a.private_port, a.protocol);
    let binding = info
        .pointer("/NetworkSettings/Ports")
        .and_then(|m| m.get(&key))
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .ok_or_else(|| anyhow!("no port {key} for container {}", api::name_of(c)))?;
    let ip = binding
        .get("HostIp")
        .and_then(Value::as_str)
        .unwrap_or("0.0.0.0");
    let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
    println!(
        "{ip}:{}",
        binding
            .get("HostPort")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    Ok(0)
}
