//! `down`, `stop`, `restart`, `kill` and `rm`.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::Args;
use compose::convert::labels;
use compose::plan::start_order;
use compose::Project;
use hyper::Method;
use serde_json::Value;

use super::api::{self, Oneoff};
use super::selected;
use crate::client::{enc, is_status, Client};

/// Stop levels: services nothing depends on are 0, their dependencies 1 + the highest level
/// of what depends on them (dependents stop first, as docker compose does).
fn stop_levels(p: &Project) -> Result<std::collections::HashMap<String, usize>> {
    let mut order = start_order(&p.model.services, &[], true)?;
    order.reverse();
    let mut level = std::collections::HashMap::new();
    for s in &order {
        let l = p
            .model
            .services
            .iter()
            .filter(|(_, svc)| svc.depends_on.contains_key(s))
            .filter_map(|(t, _)| level.get(t).map(|l: &usize| l + 1))
            .max()
            .unwrap_or(0);
        level.insert(s.clone(), l);
    }
    Ok(level)
}

/// Stops the containers level by level (each level in parallel), then removes them all in
/// parallel.
async fn stop_and_remove(
    client: &Arc<Client>,
    p: &Project,
    list: &[Value],
    timeout: Option<i64>,
    volumes: bool,
) -> Result<()> {
    let levels = stop_levels(p)?;
    let max = levels.values().copied().max().unwrap_or(0);
    for lvl in 0..=max {
        let mut set = tokio::task::JoinSet::new();
        for c in list {
            let l = levels
                .get(&api::label_of(c, labels::SERVICE))
                .copied()
                .unwrap_or(0);
            if l != lvl || c.get("State").and_then(Value::as_str) != Some("running") {
                continue;
            }
            let (client, id, name) = (client.clone(), api::id_of(c), api::name_of(c));
            set.spawn(async move { api::stop(&client, &id, &name, timeout).await });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for c in list {
        let (client, id, name) = (client.clone(), api::id_of(c), api::name_of(c));
        set.spawn(async move { api::remove(&client, &id, &name, volumes).await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// `compose down`.
#[derive(Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section and anonymous volumes
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove images used by services: "local" (built ones only) or "all"
    #[arg(long = "rmi", value_name = "string")]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
}

/// `compose stop` / `compose restart`.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
    /// Services (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// `compose kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(
        short = 's',
        long = "signal",
        value_name = "string",
        default_value = "SIGKILL"
    )]
    pub signal: String,
    /// Services (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// `compose rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long = "stop")]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Services (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Containers of the given services, in reverse start order (dependents first).
async fn in_stop_order(
    client: &Client,
    p: &Project,
    services: &[String],
    all: bool,
) -> Result<Vec<Value>> {
    let wanted = selected(p, services)?;
    let mut order = start_order(&p.model.services, &wanted, false)?;
    order.reverse();
    let mut out = Vec::new();
    for s in &order {
        out.extend(api::containers(client, &p.name, Some(s), all, Oneoff::No).await?);
    }
    Ok(out)
}

/// `compose down`.
pub async fn down(client: &Arc<Client>, p: &Project, a: DownArgs) -> Result<i32> {
    if let Some(r) = &a.rmi {
        if r != "local" && r != "all" {
            bail!("invalid --rmi {r:?}: use local or all");
        }
    }
    let mut list = in_stop_order(client, p, &[], true).await?;
    list.extend(api::containers(client, &p.name, None, true, Oneoff::Only).await?);
    let all = api::containers(client, &p.name, None, true, Oneoff::No).await?;
    let orphans: Vec<Value> = all
        .into_iter()
        .filter(|c| {
            !p.model
                .services
                .contains_key(&api::label_of(c, labels::SERVICE))
        })
        .collect();
    if a.remove_orphans {
        list.extend(orphans);
    } else if !orphans.is_empty() {
        let names: Vec<String> = orphans.iter().map(api::name_of).collect();
        eprintln!("WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", names.join(", "));
    }
    stop_and_remove(client, p, &list, a.timeout, a.volumes).await?;
    for key in p.used_networks() {
        if p.model
            .networks
            .get(&key)
            .cloned()
            .flatten()
            .is_some_and(|n| n.external)
        {
            continue;
        }
        let name = p.network_name(&key);
        match client.get(&format!("/networks/{}", enc(&name))).await {
            Ok(v) => {
                let owner = v
                    .pointer("/Labels")
                    .and_then(|l| l.get(labels::PROJECT))
                    .and_then(Value::as_str);
                if owner.is_some_and(|o| o != p.name) {
                    continue;
                }
                api::progress("Network", &name, "Removing");
                client
                    .call(Method::DELETE, &format!("/networks/{}", enc(&name)), None)
                    .await?;
                api::progress("Network", &name, "Removed");
            }
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e),
        }
    }
    if a.volumes {
        for (key, def) in &p.model.volumes {
            if def.as_ref().is_some_and(|d| d.external) {
                continue;
            }
            let name = p.volume_name(key);
            match client
                .call(Method::DELETE, &format!("/volumes/{}", enc(&name)), None)
                .await
            {
                Ok(_) => api::progress("Volume", &name, "Removed"),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if let Some(r) = &a.rmi {
        let mut done = Vec::new();
        for (s, svc) in &p.model.services {
            if r == "local" && svc.image.is_some() {
                continue;
            }
            let image = p.image_of(s);
            if done.contains(&image) {
                continue;
            }
            done.push(image.clone());
            match client
                .call(Method::DELETE, &format!("/images/{}", enc(&image)), None)
                .await
            {
                Ok(_) => api::progress("Image", &image, "Removed"),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(0)
}

/// `compose stop` (and `restart`: stop, then start again in dependency order).
pub async fn stop_cmd(client: &Client, p: &Project, a: StopArgs, restart: bool) -> Result<i32> {
    if restart {
        let wanted = selected(p, &a.services)?;
        for s in start_order(&p.model.services, &wanted, false)? {
            for c in api::containers(client, &p.name, Some(&s), true, Oneoff::No).await? {
                let name = api::name_of(&c);
                api::progress("Container", &name, "Restarting");
                let q = a.timeout.map(|t| format!("?t={t}")).unwrap_or_default();
                client
                    .call(
                        Method::POST,
                        &format!("/containers/{}/restart{q}", api::id_of(&c)),
                        None,
                    )
                    .await?;
                api::progress("Container", &name, "Started");
            }
        }
        return Ok(0);
    }
    for c in in_stop_order(client, p, &a.services, false).await? {
        api::stop(client, &api::id_of(&c), &api::name_of(&c), a.timeout).await?;
    }
    Ok(0)
}

/// `compose kill`.
pub async fn kill_cmd(client: &Client, p: &Project, a: KillArgs) -> Result<i32> {
    for c in in_stop_order(client, p, &a.services, false).await? {
        let name = api::name_of(&c);
        api::progress("Container", &name, "Killing");
        client
            .call(
                Method::POST,
                &format!(
                    "/containers/{}/kill?signal={}",
                    api::id_of(&c),
                    enc(&a.signal)
                ),
                None,
            )
            .await?;
        api::progress("Container", &name, "Killed");
    }
    Ok(0)
}

/// `compose rm`: stopped containers (running ones too with `-s`).
pub async fn rm_cmd(client: &Client, p: &Project, a: RmArgs) -> Result<i32> {
    let list = in_stop_order(client, p, &a.services, true).await?;
    if a.stop {
        for c in &list {
            if c.get("State").and_then(Value::as_str) == Some("running") {
                api::stop(client, &api::id_of(c), &api::name_of(c), None).await?;
            }
        }
    }
    let mut targets = Vec::new();
    for c in &list {
        let info = client
            .get(&format!("/containers/{}/json", api::id_of(c)))
            .await?;
        if info.pointer("/State/Running").and_then(Value::as_bool) != Some(true) {
            targets.push(c.clone());
        }
    }
    if targets.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    if !a.force {
        let names: Vec<String> = targets.iter().map(api::name_of).collect();
        eprint!(
            "Going to remove {}\n? Are you sure? [yN] ",
            names.join(", ")
        );
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    for c in &targets {
        api::remove(client, &api::id_of(c), &api::name_of(c), a.volumes).await?;
    }
    Ok(0)
}
