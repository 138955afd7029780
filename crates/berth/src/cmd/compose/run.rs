//! `compose exec` and `compose run`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::Args;
use compose::convert::{container_body, Instance};
use compose::plan::{config_hash, start_order};
use compose::Project;
use serde_json::{json, Value};

use super::api::{self, Oneoff};
use crate::client::Client;

/// `compose exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Disable pseudo-TTY allocation (by default one is allocated on a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// Run the command as this user
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long = "index", value_name = "int", default_value_t = 1)]
    pub index: u32,
    /// Give extended privileges to the process
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// SERVICE COMMAND [ARGS...]
    #[arg(value_name = "SERVICE COMMAND", num_args = 2.., trailing_var_arg = true, required = true)]
    pub args: Vec<String>,
}

/// `compose run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Disable pseudo-TTY allocation
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Run as specified username or uid
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Run command with the service's ports enabled and mapped to the host
    #[arg(long = "service-ports")]
    pub service_ports: bool,
    /// SERVICE [COMMAND] [ARGS...]
    #[arg(value_name = "SERVICE", num_args = 1.., trailing_var_arg = true, required = true)]
    pub args: Vec<String>,
}

/// `compose exec`: `berth exec` into replica `--index` of the service.
pub async fn exec(client: Arc<Client>, p: &Project, a: ExecArgs) -> Result<i32> {
    let service = &a.args[0];
    super::selected(p, std::slice::from_ref(service))?;
    let list = api::containers(&client, &p.name, Some(service), false, Oneoff::No).await?;
    let c = list
        .iter()
        .find(|c| api::number_of(c) == a.index)
        .ok_or_else(|| anyhow!("service {service:?} is not running container #{}", a.index))?;
    let tty = !a.no_tty && crate::term::is_tty(0) && crate::term::is_tty(1);
    let args = crate::cli::ExecArgs {
        interactive: !a.detach,
        tty,
        detach: a.detach,
        env: a.env,
        env_file: Vec::new(),
        workdir: a.workdir,
        user: a.user,
        privileged: a.privileged,
        args: std::iter::once(api::id_of(c))
            .chain(a.args[1..].iter().cloned())
            .collect(),
    };
    crate::cmd::exec::exec(client, args).await
}

/// `compose run`: a one-off container of the service (dependencies started first).
pub async fn run(client: Arc<Client>, p: &Project, a: RunArgs) -> Result<i32> {
    let service = a.args[0].clone();
    super::selected(p, std::slice::from_ref(&service))?;
    api::ensure_networks(&client, p).await?;
    api::ensure_volumes(&client, p).await?;
    if !a.no_deps {
        let deps = start_order(&p.model.services, std::slice::from_ref(&service), true)?;
        let deps: Vec<String> = deps.into_iter().filter(|d| *d != service).collect();
        if !deps.is_empty() {
            let up = super::up::UpArgs {
                detach: true,
                build: false,
                no_build: false,
                force_recreate: false,
                no_recreate: false,
                no_deps: false,
                remove_orphans: false,
                scale: Vec::new(),
                wait: false,
                wait_timeout: None,
                timeout: None,
                services: deps,
            };
            super::up::up(&client, p, up).await?;
        }
        for (dep, d) in &p.model.services[&service].depends_on {
            api::wait_condition(&client, p, dep, &d.condition, Duration::from_secs(300)).await?;
        }
    }
    let image = p.image_of(&service);
    let image_id = match api::image_id(&client, &image).await? {
        Some(id) => id,
        None => {
            crate::cmd::registry::pull_image(&client, &image, None, true, true).await?;
            api::image_id(&client, &image).await?.unwrap_or_default()
        }
    };
    let suffix: String = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let name = a.name.clone().unwrap_or_else(|| {
        format!(
            "{}-{service}-run-{}",
            p.name,
            &suffix[suffix.len().saturating_sub(12)..]
        )
    });
    let inst = Instance {
        number: 1,
        oneoff: true,
        image_id,
        config_hash: config_hash(&p.model.services[&service]),
        publish: a.service_ports,
        name: name.clone(),
    };
    let mut body = container_body(p, &service, &inst)?;
    if a.args.len() > 1 {
        body["Cmd"] = json!(a.args[1..]);
    }
    if let Some(e) = &a.entrypoint {
        body["Entrypoint"] =
            json!(compose::convert::shell_split(e).map_err(|m| anyhow!("--entrypoint: {m}"))?);
    }
    if let Some(u) = &a.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &a.workdir {
        body["WorkingDir"] = json!(w);
    }
    if let Some(env) = body["Env"].as_array_mut() {
        env.extend(a.env.iter().map(|e| Value::String(e.clone())));
    }
    // one-offs restart never and are not aliased by their name
    body["HostConfig"]["RestartPolicy"] = json!({"Name": "no"});
    body["HostConfig"]["AutoRemove"] = json!(a.rm);
    let tty = !a.no_tty && crate::term::is_tty(0) && crate::term::is_tty(1);
    let interactive = !a.detach;
    body["Tty"] = json!(tty);
    body["OpenStdin"] = json!(interactive);
    body["StdinOnce"] = json!(interactive);
    body["AttachStdin"] = json!(interactive);
    body["AttachStdout"] = json!(!a.detach);
    body["AttachStderr"] = json!(!a.detach);
    let id = client
        .json(
            hyper::Method::POST,
            &format!("/containers/create?name={}", crate::client::enc(&name)),
            Some(&body),
        )
        .await?
        .get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("daemon returned no container id"))?;
    if a.detach {
        client
            .call(
                hyper::Method::POST,
                &format!("/containers/{id}/start"),
                None,
            )
            .await?;
        println!("{name}");
        return Ok(0);
    }
    let start = crate::cli::StartArgs {
        attach: true,
        interactive,
        containers: vec![id.clone()],
    };
    let code = crate::cmd::container::start_cmd(client.clone(), start).await?;
    if a.rm {
        // the daemon removes it after the exit; make sure it is gone before returning
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while client.get(&format!("/containers/{id}/json")).await.is_ok() {
            if std::time::Instant::now() > deadline {
                api::remove(&client, &id, &name, true).await?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(code)
}
