//! The daemon calls of `berth compose`: project containers by label, networks and volumes
//! looked up by name and created when missing, container lifecycle, dependency conditions.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use compose::convert::{self, labels};
use compose::plan::Existing;
use compose::Project;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{enc, is_status, Client};

/// Prints a progress line like docker compose's plain progress (` Container p-web-1  Started`).
pub fn progress(kind: &str, name: &str, status: &str) {
    eprintln!(" {kind} {name}  {status}");
}

/// Which containers of the project to list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Oneoff {
    /// Service containers only.
    No,
    /// `run` containers only.
    Only,
    /// Both.
    Any,
}

/// Containers of the project (optionally of one service), `all` including stopped ones,
/// sorted by service then number.
pub async fn containers(
    client: &Client,
    project: &str,
    service: Option<&str>,
    all: bool,
    oneoff: Oneoff,
) -> Result<Vec<Value>> {
    let mut label = vec![format!("{}={project}", labels::PROJECT)];
    if let Some(s) = service {
        label.push(format!("{}={s}", labels::SERVICE));
    }
    match oneoff {
        Oneoff::No => label.push(format!("{}=False", labels::ONEOFF)),
        Oneoff::Only => label.push(format!("{}=True", labels::ONEOFF)),
        Oneoff::Any => {}
    }
    let filters = json!({ "label": label }).to_string();
    let v = client
        .get(&format!(
            "/containers/json?all={}&filters={}",
            u8::from(all),
            enc(&filters)
        ))
        .await?;
    let mut list = v.as_array().cloned().unwrap_or_default();
    list.sort_by_key(|c| (label_of(c, labels::SERVICE), number_of(c)));
    Ok(list)
}

/// A label of a container list entry.
pub fn label_of(c: &Value, key: &str) -> String {
    c.pointer("/Labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The replica number of a container list entry.
pub fn number_of(c: &Value) -> u32 {
    label_of(c, labels::NUMBER).parse().unwrap_or(0)
}

/// The name of a container list entry (without `/`).
pub fn name_of(c: &Value) -> String {
    c.pointer("/Names/0")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
}

/// The id of a container list entry.
pub fn id_of(c: &Value) -> String {
    c.get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A container list entry as the planner sees it.
pub fn existing(c: &Value) -> Existing {
    let state = c.get("State").and_then(Value::as_str).unwrap_or_default();
    Existing {
        id: id_of(c),
        name: name_of(c),
        number: number_of(c),
        hash: label_of(c, labels::CONFIG_HASH),
        image_id: label_of(c, labels::IMAGE),
        running: matches!(state, "running" | "restarting" | "paused"),
    }
}

/// The ID of an image, or None when the daemon does not have it.
pub async fn image_id(client: &Client, image: &str) -> Result<Option<String>> {
    match client.get(&format!("/images/{}/json", enc(image))).await {
        Ok(v) => Ok(v.get("Id").and_then(Value::as_str).map(str::to_string)),
        Err(e) if is_status(&e, 404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes sure every network the project uses exists (external ones must already).
pub async fn ensure_networks(client: &Client, p: &Project) -> Result<()> {
    for key in p.used_networks() {
        let name = p.network_name(&key);
        let external = p
            .model
            .networks
            .get(&key)
            .cloned()
            .flatten()
            .is_some_and(|n| n.external);
        match client.get(&format!("/networks/{}", enc(&name))).await {
            Ok(v) => {
                let owner = v
                    .pointer("/Labels")
                    .and_then(|l| l.get(labels::PROJECT))
                    .and_then(Value::as_str);
                if !external && owner.is_some_and(|o| o != p.name) {
                    bail!(
                        "network {name} was found but belongs to project {:?}",
                        owner.unwrap_or_default()
                    );
                }
            }
            Err(e) if is_status(&e, 404) => {
                if external {
                    bail!("network {name} declared as external, but could not be found");
                }
                progress("Network", &name, "Creating");
                client
                    .json(
                        Method::POST,
                        "/networks/create",
                        Some(&convert::network_body(p, &key)),
                    )
                    .await?;
                progress("Network", &name, "Created");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes sure every declared volume exists (external ones must already).
pub async fn ensure_volumes(client: &Client, p: &Project) -> Result<()> {
    for (key, def) in &p.model.volumes {
        let name = p.volume_name(key);
        let external = def.as_ref().is_some_and(|d| d.external);
        match client.get(&format!("/volumes/{}", enc(&name))).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {
                if external {
                    bail!("external volume {name:?} not found");
                }
                progress("Volume", &name, "Creating");
                client
                    .json(
                        Method::POST,
                        "/volumes/create",
                        Some(&convert::volume_body(p, key)),
                    )
                    .await?;
                progress("Volume", &name, "Created");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creates a container named `name` from `body`; returns its id. The container is created
/// on its primary network (API < 1.44 allows one endpoint at create) and connected to the
/// others before it starts, so every daemon version gets the same requests.
pub async fn create(client: &Client, name: &str, body: &Value) -> Result<String> {
    progress("Container", name, "Creating");
    let mut body = body.clone();
    let primary = body
        .pointer("/HostConfig/NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut extra = Vec::new();
    if let Some(Value::Object(eps)) = body.pointer_mut("/NetworkingConfig/EndpointsConfig") {
        let others: Vec<String> = eps.keys().filter(|k| **k != primary).cloned().collect();
        for k in others {
            if let Some(ep) = eps.remove(&k) {
                extra.push((k, ep));
            }
        }
    }
    let v = client
        .json(
            Method::POST,
            &format!("/containers/create?name={}", enc(name)),
            Some(&body),
        )
        .await
        .map_err(|e| anyhow!("container {name}: {e}"))?;
    let id = v
        .get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("daemon returned no container id"))?;
    for (net, ep) in extra {
        let req = json!({"Container": id, "EndpointConfig": ep});
        client
            .call(
                Method::POST,
                &format!("/networks/{}/connect", enc(&net)),
                Some(&req),
            )
            .await
            .map_err(|e| anyhow!("container {name}: connecting to network {net}: {e}"))?;
    }
    progress("Container", name, "Created");
    Ok(id)
}

/// Starts a container.
pub async fn start(client: &Client, id: &str, name: &str) -> Result<()> {
    progress("Container", name, "Starting");
    client
        .call(Method::POST, &format!("/containers/{id}/start"), None)
        .await
        .map_err(|e| anyhow!("container {name}: {e}"))?;
    progress("Container", name, "Started");
    Ok(())
}

/// Stops a container (`timeout` seconds before SIGKILL; None = its own StopTimeout).
pub async fn stop(client: &Client, id: &str, name: &str, timeout: Option<i64>) -> Result<()> {
    progress("Container", name, "Stopping");
    let q = timeout.map(|t| format!("?t={t}")).unwrap_or_default();
    match client
        .call(Method::POST, &format!("/containers/{id}/stop{q}"), None)
        .await
    {
        Ok(_) => {}
        Err(e) if is_status(&e, 304) || is_status(&e, 404) => {}
        Err(e) => return Err(e),
    }
    progress("Container", name, "Stopped");
    Ok(())
}

/// Removes a container (forcefully; with its anonymous volumes when `volumes`).
pub async fn remove(client: &Client, id: &str, name: &str, volumes: bool) -> Result<()> {
    progress("Container", name, "Removing");
    match client
        .call(
            Method::DELETE,
            &format!("/containers/{id}?force=1&v={}", u8::from(volumes)),
            None,
        )
        .await
    {
        Ok(_) => {}
        Err(e) if is_status(&e, 404) => {}
        Err(e) => return Err(e),
    }
    progress("Container", name, "Removed");
    Ok(())
}

/// Waits until the containers of `dep` satisfy `condition` (`service_started`,
/// `service_healthy`, `service_completed_successfully`).
pub async fn wait_condition(
    client: &Client,
    p: &Project,
    dep: &str,
    condition: &str,
    timeout: Duration,
) -> Result<()> {
    if condition == "service_started" {
        return Ok(());
    }
    let deadline = Instant::now() + timeout;
    loop {
        let list = containers(client, &p.name, Some(dep), true, Oneoff::No).await?;
        if list.is_empty() {
            bail!("dependency {dep:?} has no container");
        }
        let mut done = true;
        for c in &list {
            let name = name_of(c);
            let info = client
                .get(&format!("/containers/{}/json", id_of(c)))
                .await?;
            let status = info
                .pointer("/State/Status")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match condition {
                "service_healthy" => match info.pointer("/State/Health/Status").and_then(Value::as_str) {
                    None => bail!("dependency failed to start: container {name} has no healthcheck configured"),
                    Some("healthy") => {}
                    Some("unhealthy") => bail!("dependency failed to start: container {name} is unhealthy"),
                    Some(_) => done = false,
                },
                _ => {
                    if status == "exited" || status == "dead" {
                        let code = info.pointer("/State/ExitCode").and_then(Value::as_i64).unwrap_or(-1);
                        if code != 0 {
                            bail!("service {dep:?} didn't complete successfully: exit {code}");
                        }
                    } else {
                        done = false;
                    }
                }
            }
            if status != "running" && condition == "service_healthy" {
                bail!("dependency failed to start: container {name} is {status}");
            }
        }
        if done {
            if condition == "service_healthy" {
                for c in &list {
                    progress("Container", &name_of(c), "Healthy");
                }
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for dependency {dep:?} ({condition})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
