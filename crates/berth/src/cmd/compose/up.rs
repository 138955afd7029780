//! `up`, `build`, `pull` and `start`: the reconcile loop.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use compose::convert::{container_body, labels, Instance};
use compose::plan::{config_hash, plan_service, start_order, Action, Recreate};
use compose::Project;
use serde_json::Value;

use super::api::{self, Oneoff};
use super::{selected, Services};
use crate::client::Client;

/// `compose up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Detached mode: run containers in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long = "build")]
    pub build: bool,
    /// Don't build an image, even if it's missing
    #[arg(long = "no-build", conflicts_with = "build")]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long = "no-recreate", conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances (overrides scale in the file)
    #[arg(long = "scale", value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Wait for services to be running|healthy (implies detached mode)
    #[arg(long = "wait")]
    pub wait: bool,
    /// Maximum duration to wait for the project to be running|healthy (seconds)
    #[arg(long = "wait-timeout", value_name = "int")]
    pub wait_timeout: Option<u64>,
    /// Shutdown timeout in seconds (for recreate and scale down)
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
    /// Services to start (default: all, with their dependencies)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// `compose build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set build-time variables for services
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Services to build (default: all with a build section)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Builds the image of one service through `POST /build`.
async fn build_one(
    client: &Client,
    p: &Project,
    service: &str,
    no_cache: bool,
    extra_args: &[String],
) -> Result<()> {
    let s = &p.model.services[service];
    let Some(b) = &s.build else { return Ok(()) };
    let image = p.image_of(service);
    api::progress("Image", &image, "Building");
    let mut build_args: Vec<String> = b
        .args
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    build_args.extend(extra_args.iter().cloned());
    let args = crate::cli::BuildArgs {
        tags: vec![image.clone()],
        file: b.dockerfile.as_ref().map(|f| {
            let path = std::path::Path::new(f);
            if path.is_absolute() {
                f.clone()
            } else {
                std::path::Path::new(&b.context)
                    .join(f)
                    .display()
                    .to_string()
            }
        }),
        build_args,
        target: b.target.clone(),
        no_cache,
        labels: Vec::new(),
        iidfile: None,
        quiet: true,
        network: None,
        rm: true,
        force_rm: false,
        path: b.context.clone(),
    };
    let code = crate::cmd::build::build(client, args)
        .await
        .map_err(|e| anyhow!("service {service:?} failed to build: {e:#}"))?;
    if code != 0 {
        bail!("service {service:?} failed to build");
    }
    api::progress("Image", &image, "Built");
    Ok(())
}

/// `compose build`.
pub async fn build_cmd(client: &Client, p: &Project, a: BuildArgs) -> Result<i32> {
    for s in selected(p, &a.services)? {
        build_one(client, p, &s, a.no_cache, &a.build_args).await?;
    }
    Ok(0)
}

/// Pulls the image of one service.
async fn pull_one(client: &Client, p: &Project, service: &str) -> Result<()> {
    let image = p.image_of(service);
    api::progress("Image", &image, "Pulling");
    crate::cmd::registry::pull_image(client, &image, None, true, true)
        .await
        .map_err(|e| anyhow!("service {service:?}: pulling {image}: {e:#}"))?;
    api::progress("Image", &image, "Pulled");
    Ok(())
}

/// `compose pull`: services with an image and no build section.
pub async fn pull_cmd(client: &Client, p: &Project, a: Services) -> Result<i32> {
    for s in selected(p, &a.services)? {
        if p.model.services[&s].build.is_none() {
            pull_one(client, p, &s).await?;
        }
    }
    Ok(0)
}

/// Makes sure the image of a service is present (building or pulling it); its ID.
async fn ensure_image(
    client: &Client,
    p: &Project,
    service: &str,
    build: bool,
    no_build: bool,
) -> Result<String> {
    let image = p.image_of(service);
    let has_build = p.model.services[service].build.is_some();
    if has_build && build {
        build_one(client, p, service, false, &[]).await?;
    }
    if let Some(id) = api::image_id(client, &image).await? {
        return Ok(id);
    }
    if has_build && !no_build {
        build_one(client, p, service, false, &[]).await?;
    } else {
        pull_one(client, p, service).await?;
    }
    api::image_id(client, &image)
        .await?
        .ok_or_else(|| anyhow!("service {service:?}: image {image} is missing after pull/build"))
}

fn parse_scale(list: &[String], p: &Project) -> Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for s in list {
        let (svc, n) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid --scale {s:?}: want SERVICE=NUM"))?;
        let n: u32 = n
            .parse()
            .map_err(|_| anyhow!("invalid --scale {s:?}: NUM must be a number"))?;
        if !p.model.services.contains_key(svc) {
            bail!("no such service: {svc}");
        }
        out.insert(svc.to_string(), n);
    }
    Ok(out)
}

/// Brings one service to its wanted state; returns the ids of its containers.
#[allow(clippy::too_many_arguments)]
async fn converge(
    client: &Client,
    p: &Project,
    service: &str,
    replicas: u32,
    image_id: &str,
    mode: Recreate,
    timeout: Option<i64>,
) -> Result<Vec<String>> {
    let s = &p.model.services[service];
    let hash = config_hash(s);
    let current: Vec<_> = api::containers(client, &p.name, Some(service), true, Oneoff::No)
        .await?
        .iter()
        .map(api::existing)
        .collect();
    let mut ids = Vec::new();
    for action in plan_service(&current, replicas, &hash, image_id, mode) {
        match action {
            Action::Keep { id } => {
                let name = current
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                api::progress("Container", &name, "Running");
                ids.push(id);
            }
            Action::Start { id } => {
                let name = current
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                api::start(client, &id, &name).await?;
                ids.push(id);
            }
            Action::Remove { id } => {
                let name = current
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                api::stop(client, &id, &name, timeout).await?;
                api::remove(client, &id, &name, true).await?;
            }
            Action::Recreate { id, number } => {
                let old = current
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                api::progress("Container", &old, "Recreate");
                api::stop(client, &id, &old, timeout).await?;
                api::remove(client, &id, &old, true).await?;
                ids.push(create_and_start(client, p, service, number, image_id, &hash).await?);
                api::progress("Container", &old, "Recreated");
            }
            Action::Create { number } => {
                ids.push(create_and_start(client, p, service, number, image_id, &hash).await?);
            }
        }
    }
    Ok(ids)
}

async fn create_and_start(
    client: &Client,
    p: &Project,
    service: &str,
    number: u32,
    image_id: &str,
    hash: &str,
) -> Result<String> {
    let name = p.container_name(service, number);
    let inst = Instance {
        number,
        oneoff: false,
        image_id: image_id.to_string(),
        config_hash: hash.to_string(),
        publish: true,
        name: name.clone(),
    };
    let body = container_body(p, service, &inst)?;
    let id = api::create(client, &name, &body).await?;
    api::start(client, &id, &name).await?;
    Ok(id)
}

/// Removes (or reports) containers of services the project no longer has.
pub async fn orphans(client: &Client, p: &Project, remove: bool) -> Result<()> {
    let all = api::containers(client, &p.name, None, true, Oneoff::No).await?;
    let orphans: Vec<&Value> = all
        .iter()
        .filter(|c| {
            let s = api::label_of(c, labels::SERVICE);
            !p.model.services.contains_key(&s) && !p.disabled.contains(&s)
        })
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if remove {
        for c in orphans {
            let name = api::name_of(c);
            api::stop(client, &api::id_of(c), &name, None).await?;
            api::remove(client, &api::id_of(c), &name, true).await?;
        }
    } else {
        let names: Vec<String> = orphans.iter().map(|c| api::name_of(c)).collect();
        eprintln!(
            "WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        );
    }
    Ok(())
}

/// `compose up`.
pub async fn up(client: &std::sync::Arc<Client>, p: &Project, a: UpArgs) -> Result<i32> {
    let wanted = selected(p, &a.services)?;
    let order = start_order(
        &p.model.services,
        if a.services.is_empty() { &[] } else { &wanted },
        !a.no_deps,
    )?;
    let scale = parse_scale(&a.scale, p)?;
    let mode = if a.force_recreate {
        Recreate::Force
    } else if a.no_recreate {
        Recreate::Never
    } else {
        Recreate::Diverged
    };
    api::ensure_networks(client, p).await?;
    api::ensure_volumes(client, p).await?;
    let mut images = BTreeMap::new();
    for s in &order {
        images.insert(
            s.clone(),
            ensure_image(client, p, s, a.build, a.no_build).await?,
        );
    }
    let dep_timeout = Duration::from_secs(a.wait_timeout.unwrap_or(300));
    let mut all_ids = Vec::new();
    for s in &order {
        for (dep, d) in &p.model.services[s].depends_on {
            if order.contains(dep) {
                api::wait_condition(client, p, dep, &d.condition, dep_timeout).await?;
            }
        }
        let replicas = scale
            .get(s)
            .copied()
            .unwrap_or_else(|| p.model.services[s].replicas());
        // --force-recreate applies to the named services; their dependencies only follow
        // their own changes (docker compose v2's default, no --always-recreate-deps)
        let mode = if mode == Recreate::Force && !a.services.is_empty() && !wanted.contains(s) {
            Recreate::Diverged
        } else {
            mode
        };
        let ids = converge(client, p, s, replicas, &images[s], mode, a.timeout).await?;
        all_ids.extend(ids.into_iter().map(|id| (s.clone(), id)));
    }
    orphans(client, p, a.remove_orphans).await?;
    if a.wait {
        wait_running(client, &all_ids, dep_timeout).await?;
        return Ok(0);
    }
    if a.detach {
        return Ok(0);
    }
    super::logs::attach_until_exit(client, p, &all_ids, a.timeout).await
}

/// `--wait`: every container running, and healthy when it has a healthcheck.
async fn wait_running(client: &Client, ids: &[(String, String)], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    for (_, id) in ids {
        loop {
            let info = client.get(&format!("/containers/{id}/json")).await?;
            let name = info
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            let status = info
                .pointer("/State/Status")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let health = info.pointer("/State/Health/Status").and_then(Value::as_str);
            match (status, health) {
                ("running", None | Some("healthy")) => {
                    api::progress(
                        "Container",
                        &name,
                        if health.is_some() {
                            "Healthy"
                        } else {
                            "Running"
                        },
                    );
                    break;
                }
                (_, Some("unhealthy")) => bail!("container {name} is unhealthy"),
                ("exited" | "dead", _) => bail!("container {name} exited"),
                _ => {}
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for container {name}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// `compose start`: start the existing containers of the services, dependencies first.
pub async fn start_cmd(client: &Client, p: &Project, a: Services) -> Result<i32> {
    let wanted = selected(p, &a.services)?;
    let order = start_order(&p.model.services, &wanted, false)?;
    for s in &order {
        for (dep, d) in &p.model.services[s].depends_on {
            if order.contains(dep) {
                api::wait_condition(client, p, dep, &d.condition, Duration::from_secs(300)).await?;
            }
        }
        let list = api::containers(client, &p.name, Some(s), true, Oneoff::No).await?;
        for c in &list {
            if c.get("State").and_then(Value::as_str) != Some("running") {
                api::start(client, &api::id_of(c), &api::name_of(c)).await?;
            }
        }
    }
    Ok(0)
}
