//! `run`, `create` and `start`: building the create body and the attached flow.

use anyhow::{anyhow, bail, Context, Result};
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::cli::{ContainerOpts, CreateArgs, RunArgs, StartArgs};
use crate::client::{enc, is_status, Client};
use crate::format::ram_in_bytes;
use crate::{stream, term, Exit};

/// An error of `run`/`create` that maps to a specific exit status.
#[derive(Debug)]
pub struct RunError {
    /// Exit status (125, 126 or 127).
    pub code: i32,
    /// The underlying error.
    pub error: anyhow::Error,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for RunError {}

fn run_error(code: i32, error: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(RunError { code, error })
}

/// Docker's mapping of a start failure to 126/127/125.
fn start_failure_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// Expands `-e K` from the local environment; keeps `K=V` as is.
fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        Some(entry.to_string())
    } else {
        std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
    }
}

/// Docker's `--env-file`: `K=V` lines (`K` alone takes the local value), `#` comments.
pub fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(env_entry)
        .collect())
}

/// Builds the ContainerCreate body; `attach` says whether the client will attach.
pub fn build_config(opts: &ContainerOpts, attach: bool) -> Result<Value> {
    let image = opts
        .args
        .first()
        .ok_or_else(|| anyhow!("\"run\" requires at least 1 argument"))?;
    let cmd: Vec<String> = opts.args[1..].to_vec();

    let mut env = Vec::new();
    for f in &opts.env_file {
        env.extend(read_env_file(f)?);
    }
    // Like docker: `-e K` takes K from the local environment, else passes "K" as is.
    env.extend(
        opts.env
            .iter()
            .map(|e| env_entry(e).unwrap_or_else(|| e.clone())),
    );

    let mut labels = Map::new();
    for l in &opts.label {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), Value::String(v.to_string()));
    }

    let mut config = json!({
        "Hostname": opts.hostname.clone().unwrap_or_default(),
        "User": opts.user.clone().unwrap_or_default(),
        "AttachStdin": attach && opts.interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": attach && opts.interactive,
        "Env": env,
        "Image": image,
        "WorkingDir": opts.workdir.clone().unwrap_or_default(),
        "Labels": labels,
    });
    if !cmd.is_empty() {
        config["Cmd"] = json!(cmd);
    }
    if let Some(ep) = &opts.entrypoint {
        config["Entrypoint"] = json!([ep]);
    }

    let mut host = json!({
        "AutoRemove": opts.rm,
        "NetworkMode": opts.network.clone().unwrap_or_else(|| "default".into()),
    });
    if let Some(m) = &opts.memory {
        let bytes = ram_in_bytes(m)
            .ok_or_else(|| anyhow!("invalid argument {m:?} for \"-m, --memory\" flag"))?;
        host["Memory"] = json!(bytes);
    }
    if let Some(c) = opts.cpus {
        if c < 0.0 {
            bail!("invalid argument \"{c}\" for \"--cpus\" flag");
        }
        host["NanoCpus"] = json!((c * 1e9).round() as i64);
    }
    if let Some(p) = opts.pids_limit {
        host["PidsLimit"] = json!(p);
    }
    opts.resources.apply(&mut host)?;
    opts.more.apply(&mut config, &mut host)?;
    add_extended(opts, &mut config, &mut host)?;
    config["HostConfig"] = host;
    crate::cmd::network::apply_run_flags(opts, &mut config)?;
    Ok(config)
}

/// Docker's `nat.ParsePortSpec` for one `-p` value: (port/proto, host ip, host port) items.
pub fn parse_publish(spec: &str) -> Result<Vec<(String, String, String)>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    // IPv6 host addresses come in brackets: [::1]:8080:80.
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, after) = r
                .split_once("]:")
                .ok_or_else(|| anyhow!("invalid IP address in {spec:?}"))?;
            (ip.to_string(), after.to_string())
        }
        None => (String::new(), rest.to_string()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host_port, container) = match (ip.is_empty(), parts.as_slice()) {
        (true, [c]) => (String::new(), String::new(), c.to_string()),
        (true, [h, c]) => (String::new(), h.to_string(), c.to_string()),
        (true, [i, h, c]) => (i.to_string(), h.to_string(), c.to_string()),
        (false, [h, c]) => (ip, h.to_string(), c.to_string()),
        (false, [c]) => (ip, String::new(), c.to_string()),
        _ => bail!("invalid port format: {spec:?}"),
    };
    let range = |s: &str| -> Result<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a
            .parse()
            .map_err(|_| anyhow!("invalid containerPort: {s}"))?;
        let b: u16 = b
            .parse()
            .map_err(|_| anyhow!("invalid containerPort: {s}"))?;
        if a > b {
            bail!("invalid port range: {s}");
        }
        Ok((a, b))
    };
    let (c0, c1) = range(&container)?;
    let host_range = if host_port.is_empty() {
        None
    } else {
        Some(range(&host_port)?)
    };
    if let Some((h0, h1)) = host_range {
        if h1 - h0 != c1 - c0 && h0 != h1 {
            bail!("invalid ranges specified for container and host Ports: {container} and {host_port}");
        }
    }
    let mut out = Vec::new();
    for (i, port) in (c0..=c1).enumerate() {
        let hp = match host_range {
            None => String::new(),
            Some((h0, h1)) if h0 == h1 && c0 != c1 => h0.to_string(),
            Some((h0, _)) => (h0 as usize + i).to_string(),
        };
        out.push((format!("{port}/{proto}"), ip.clone(), hp));
    }
    Ok(out)
}

fn parse_ulimit(spec: &str) -> Result<Value> {
    let (name, limits) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {spec}"))?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft
        .parse()
        .map_err(|_| anyhow!("invalid ulimit soft value: {soft}"))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| anyhow!("invalid ulimit hard value: {hard}"))?;
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// Volumes, ports, restart policy, capabilities and the other less common flags.
fn add_extended(opts: &ContainerOpts, config: &mut Value, host: &mut Value) -> Result<()> {
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &opts.volume {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }
    if !binds.is_empty() {
        host["Binds"] = json!(binds);
    }
    if !volumes.is_empty() {
        config["Volumes"] = Value::Object(volumes);
    }
    if !opts.mount.is_empty() {
        host["Mounts"] = Value::Array(crate::cmd::volume::mounts(&opts.mount)?);
    }
    if !opts.volumes_from.is_empty() {
        host["VolumesFrom"] = json!(opts.volumes_from);
    }

    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for p in &opts.publish {
        for (port, ip, hp) in parse_publish(p)? {
            exposed.insert(port.clone(), json!({}));
            let entry = bindings.entry(port).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!({"HostIp": ip, "HostPort": hp}));
            }
        }
    }
    for e in &opts.expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let a: u16 = a
            .parse()
            .map_err(|_| anyhow!("invalid range format for --expose: {e}"))?;
        let b: u16 = b
            .parse()
            .map_err(|_| anyhow!("invalid range format for --expose: {e}"))?;
        for port in a..=b {
            exposed.insert(format!("{port}/{proto}"), json!({}));
        }
    }
    if !exposed.is_empty() {
        config["ExposedPorts"] = Value::Object(exposed);
    }
    if !bindings.is_empty() {
        host["PortBindings"] = Value::Object(bindings);
    }

    if let Some(r) = &opts.restart {
        let (name, count) = r.split_once(':').unwrap_or((r.as_str(), "0"));
        if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure") {
            bail!("invalid restart policy {name}");
        }
        let count: i64 = count
            .parse()
            .map_err(|_| anyhow!("maximum retry count must be an integer"))?;
        if opts.rm && name != "no" {
            bail!("Conflicting options: --restart and --rm");
        }
        host["RestartPolicy"] = json!({"Name": name, "MaximumRetryCount": count});
    }
    if opts.privileged {
        host["Privileged"] = json!(true);
    }
    if !opts.cap_add.is_empty() {
        host["CapAdd"] = json!(opts.cap_add);
    }
    if !opts.cap_drop.is_empty() {
        host["CapDrop"] = json!(opts.cap_drop);
    }
    if opts.read_only {
        host["ReadonlyRootfs"] = json!(true);
    }
    if opts.init {
        host["Init"] = json!(true);
    }
    opts.health.apply(config)?;
    opts.isolation.apply(host)?;
    if !opts.add_host.is_empty() {
        host["ExtraHosts"] = json!(opts.add_host);
    }
    if !opts.dns.is_empty() {
        host["Dns"] = json!(opts.dns);
    }
    if !opts.tmpfs.is_empty() {
        let mut map = Map::new();
        for t in &opts.tmpfs {
            let (path, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
            map.insert(path.to_string(), json!(o));
        }
        host["Tmpfs"] = Value::Object(map);
    }
    if let Some(s) = &opts.shm_size {
        let bytes = ram_in_bytes(s)
            .ok_or_else(|| anyhow!("invalid argument {s:?} for \"--shm-size\" flag"))?;
        host["ShmSize"] = json!(bytes);
    }
    if !opts.ulimit.is_empty() {
        host["Ulimits"] = Value::Array(
            opts.ulimit
                .iter()
                .map(|u| parse_ulimit(u))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    if !opts.security_opt.is_empty() {
        host["SecurityOpt"] = json!(security_opts(&opts.security_opt)?);
    }
    if opts.log_driver.is_some() || !opts.log_opt.is_empty() {
        let mut cfg = serde_json::Map::new();
        for o in &opts.log_opt {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("invalid log opt {o:?}: expected key=value"))?;
            cfg.insert(k.to_string(), json!(v));
        }
        host["LogConfig"] = json!({
            "Type": opts.log_driver.clone().unwrap_or_default(),
            "Config": cfg,
        });
    }
    if let Some(s) = &opts.stop_signal {
        config["StopSignal"] = json!(s);
    }
    if let Some(t) = opts.stop_timeout {
        config["StopTimeout"] = json!(t);
    }
    Ok(())
}

/// `--security-opt` values as the docker CLI sends them: `seccomp=PATH` becomes
/// `seccomp=<the file's compacted JSON>` (`unconfined` and `builtin` stay names).
fn security_opts(list: &[String]) -> Result<Vec<String>> {
    list.iter()
        .map(|opt| {
            let kv = opt.split_once('=').or_else(|| opt.split_once(':'));
            match kv {
                Some(("seccomp", v)) if v != "unconfined" && v != "builtin" => {
                    let text = std::fs::read_to_string(v)
                        .map_err(|e| anyhow!("opening seccomp profile ({v}) failed: {e}"))?;
                    let json: Value = serde_json::from_str(&text).map_err(|e| {
                        anyhow!("compacting json for seccomp profile ({v}) failed: {e}")
                    })?;
                    Ok(format!("seccomp={json}"))
                }
                _ => Ok(opt.clone()),
            }
        })
        .collect()
}

/// The image name as docker prints it in "Unable to find image": with a default tag.
fn tagged(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// POST /containers/create; returns the new id (warnings go to stderr).
async fn create(client: &Client, opts: &ContainerOpts, attach: bool) -> Result<String> {
    let body = build_config(opts, attach).map_err(|e| run_error(125, e))?;
    let path = match &opts.name {
        Some(n) => format!("/containers/create?name={}", enc(n)),
        None => "/containers/create".to_string(),
    };
    let image = opts.args.first().map(String::as_str).unwrap_or_default();
    let policy = match opts.pull.as_str() {
        "" | "missing" => "missing",
        "always" => "always",
        "never" => "never",
        other => {
            return Err(run_error(
                125,
                anyhow!("invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""),
            ))
        }
    };
    if policy == "always" {
        crate::cmd::registry::pull_image(client, image, opts.platform.as_deref(), false, true)
            .await
            .map_err(|e| run_error(125, e))?;
    }
    let mut first = client.json(Method::POST, &path, Some(&body)).await;
    if let Err(e) = &first {
        if policy == "missing" && is_status(e, 404) && e.to_string().contains("No such image") {
            eprintln!("Unable to find image '{}' locally", tagged(image));
            crate::cmd::registry::pull_image(client, image, opts.platform.as_deref(), false, true)
                .await
                .map_err(|e| run_error(125, e))?;
            first = client.json(Method::POST, &path, Some(&body)).await;
        }
    }
    let resp = match first {
        Ok(v) => v,
        Err(e) => {
            if policy == "never" && is_status(&e, 404) && e.to_string().contains("No such image") {
                eprintln!("Unable to find image '{}' locally", tagged(image));
            }
            let code = e
                .downcast_ref::<crate::client::DaemonError>()
                .map(|d| start_failure_code(&d.message))
                .unwrap_or(125);
            return Err(run_error(code, e));
        }
    };
    if let Some(warnings) = resp.get("Warnings").and_then(Value::as_array) {
        for w in warnings.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    resp.get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| run_error(125, anyhow!("daemon returned no container id")))
}

/// `berth create`.
pub async fn create_cmd(client: &Client, args: CreateArgs) -> Result<i32> {
    let id = create(client, &args.opts, false).await?;
    println!("{id}");
    Ok(0)
}

/// Starts the exit-status wait; its headers have arrived when this returns.
async fn start_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> Result<tokio::task::JoinHandle<Result<i32>>> {
    let resp = client
        .request(
            Method::POST,
            &format!("/containers/{id}/wait?condition={condition}"),
            None,
            None,
        )
        .await?;
    Ok(tokio::spawn(async move {
        use http_body_util::BodyExt;
        let bytes = resp.into_body().collect().await?.to_bytes();
        let v: Value = serde_json::from_slice(&bytes).context("invalid wait answer")?;
        if let Some(msg) = v
            .get("Error")
            .and_then(|e| e.get("Message"))
            .and_then(Value::as_str)
        {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
        }
        Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(125) as i32)
    }))
}

/// Sends the local terminal size to a container or exec resize endpoint.
pub async fn resize(client: &Client, resize_path: &str) {
    if let Some((rows, cols)) = term::size() {
        let _ = client
            .call(
                Method::POST,
                &format!("{resize_path}?h={rows}&w={cols}"),
                None,
            )
            .await;
    }
}

/// Spawns a task that re-sends the terminal size on every SIGWINCH.
pub fn watch_winch(client: std::sync::Arc<Client>, resize_path: String) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut sig) = signal(SignalKind::window_change()) else {
            return;
        };
        while sig.recv().await.is_some() {
            resize(&client, &resize_path).await;
        }
    });
}

/// Spawns a task forwarding INT/TERM/HUP/QUIT/USR1/USR2 as `POST kill?signal=`.
fn proxy_signals(client: std::sync::Arc<Client>, id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let sigs = [
        (SignalKind::interrupt(), "INT"),
        (SignalKind::terminate(), "TERM"),
        (SignalKind::hangup(), "HUP"),
        (SignalKind::quit(), "QUIT"),
        (SignalKind::user_defined1(), "USR1"),
        (SignalKind::user_defined2(), "USR2"),
    ];
    for (kind, name) in sigs {
        let Ok(mut sig) = signal(kind) else { continue };
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                let _ = client
                    .call(
                        Method::POST,
                        &format!("/containers/{id}/kill?signal={name}"),
                        None,
                    )
                    .await;
            }
        });
    }
}

/// How to attach to a container.
pub struct Attach {
    /// The container has a TTY (raw stream, resize, raw local terminal).
    pub tty: bool,
    /// Send local stdin.
    pub stdin: bool,
    /// Forward INT/TERM/... as `kill?signal=` (only without a TTY).
    pub sig_proxy: bool,
}

/// Streams an attached session: terminal setup, signals, the pump, then the exit code
/// from `wait` (0 when the user detached).
async fn session(
    client: std::sync::Arc<Client>,
    id: &str,
    conn: crate::client::Hijacked,
    wait: tokio::task::JoinHandle<Result<i32>>,
    how: &Attach,
) -> Result<i32> {
    let raw = if how.tty {
        let resize_path = format!("/containers/{id}/resize");
        resize(&client, &resize_path).await;
        watch_winch(client.clone(), resize_path);
        if how.stdin {
            term::RawMode::enter()
        } else {
            None
        }
    } else {
        if how.sig_proxy {
            proxy_signals(client.clone(), id.to_string());
        }
        None
    };
    let pumped = stream::pump(conn, how.tty, how.stdin).await;
    drop(raw);
    if pumped? == stream::Ended::Detached {
        wait.abort();
        return Ok(0);
    }
    wait.await.map_err(|e| anyhow!(e))?
}

fn attach_path(id: &str, stdin: bool) -> String {
    format!(
        "/containers/{id}/attach?stream=1&stdin={}&stdout=1&stderr=1",
        u8::from(stdin)
    )
}

/// Attaches to an already running container (`berth attach`).
pub async fn attach_existing(client: std::sync::Arc<Client>, id: &str, how: Attach) -> Result<i32> {
    let conn = client.hijack(&attach_path(id, how.stdin), None).await?;
    let wait = start_wait(&client, id, "next-exit").await?;
    session(client, id, conn, wait, &how).await
}

/// Attach + wait + start + stream, the shared body of `run` and `start -a`.
async fn attach_and_start(
    client: std::sync::Arc<Client>,
    id: &str,
    how: Attach,
    condition: &str,
    start_error_code: bool,
) -> Result<i32> {
    let conn = client
        .hijack(&attach_path(id, how.stdin), None)
        .await
        .map_err(|e| run_error(125, e))?;
    let wait = start_wait(&client, id, condition)
        .await
        .map_err(|e| run_error(125, e))?;
    if let Err(e) = client
        .call(Method::POST, &format!("/containers/{id}/start"), None)
        .await
    {
        let code = if start_error_code {
            e.downcast_ref::<crate::client::DaemonError>()
                .map(|d| start_failure_code(&d.message))
                .unwrap_or(125)
        } else {
            1
        };
        return Err(run_error(code, e));
    }
    session(client, id, conn, wait, &how).await
}

/// `berth run`.
pub async fn run_cmd(client: std::sync::Arc<Client>, args: RunArgs) -> Result<i32> {
    let opts = &args.opts;
    if !args.detach && opts.interactive && opts.tty && !term::is_tty(0) {
        eprintln!("the input device is not a TTY");
        return Err(Exit(1).into());
    }
    let id = create(&client, opts, !args.detach).await?;
    if args.detach {
        if let Err(e) = client
            .call(Method::POST, &format!("/containers/{id}/start"), None)
            .await
        {
            let code = e
                .downcast_ref::<crate::client::DaemonError>()
                .map(|d| start_failure_code(&d.message))
                .unwrap_or(125);
            return Err(run_error(code, e));
        }
        println!("{id}");
        return Ok(0);
    }
    let condition = if opts.rm { "removed" } else { "next-exit" };
    let how = Attach {
        tty: opts.tty,
        stdin: opts.interactive,
        sig_proxy: true,
    };
    attach_and_start(client, &id, how, condition, true).await
}

/// `berth start`.
pub async fn start_cmd(client: std::sync::Arc<Client>, args: StartArgs) -> Result<i32> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            eprintln!("you cannot start and attach multiple containers at once");
            return Ok(1);
        }
        let name = &args.containers[0];
        let info = client
            .get(&format!("/containers/{}/json", enc(name)))
            .await?;
        let id = info
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        let tty = info
            .pointer("/Config/Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let open_stdin = info
            .pointer("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let stdin = args.interactive && open_stdin;
        let how = Attach {
            tty,
            stdin,
            sig_proxy: true,
        };
        return match attach_and_start(client, &id, how, "next-exit", false).await {
            Ok(code) => Ok(code),
            Err(e) => match e.downcast::<RunError>() {
                Ok(r) => {
                    eprintln!("{}", r.error);
                    Ok(1)
                }
                Err(e) => Err(e),
            },
        };
    }
    let mut failed = false;
    for name in &args.containers {
        match client
            .call(
                Method::POST,
                &format!("/containers/{}/start", enc(name)),
                None,
            )
            .await
        {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        eprintln!(
            "Error: failed to start containers: {}",
            args.containers.join(", ")
        );
    }
    Ok(i32::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> ContainerOpts {
        ContainerOpts {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn config_basics() {
        let mut o = opts(&["busybox", "echo", "hi"]);
        o.env = vec!["A=1".into()];
        o.memory = Some("64m".into());
        o.cpus = Some(1.5);
        o.entrypoint = Some("/bin/sh".into());
        o.interactive = true;
        o.rm = true;
        let c = build_config(&o, true).unwrap();
        assert_eq!(c["Image"], "busybox");
        assert_eq!(c["Cmd"], json!(["echo", "hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(c["Env"], json!(["A=1"]));
        assert_eq!(c["HostConfig"]["Memory"], json!(64 * 1024 * 1024));
        assert_eq!(c["HostConfig"]["NanoCpus"], json!(1_500_000_000i64));
        assert_eq!(c["HostConfig"]["AutoRemove"], json!(true));
        assert_eq!(c["AttachStdin"], json!(true));
        assert_eq!(c["StdinOnce"], json!(true));
    }

    #[test]
    fn publish_specs() {
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![("80/tcp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            parse_publish("127.0.0.1::53/udp").unwrap(),
            vec![("53/udp".into(), "127.0.0.1".into(), "".into())]
        );
        assert_eq!(
            parse_publish("[::1]:81:80").unwrap(),
            vec![("80/tcp".into(), "::1".into(), "81".into())]
        );
        assert_eq!(parse_publish("8000-8001:80-81").unwrap().len(), 2);
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("80/icmp").is_err());
    }

    #[test]
    fn extended_flags() {
        let mut o = opts(&["busybox"]);
        o.volume = vec!["/h:/c:ro".into(), "/anon".into()];
        o.publish = vec!["8080:80".into()];
        o.restart = Some("on-failure:3".into());
        o.ulimit = vec!["nofile=100:200".into()];
        let c = build_config(&o, false).unwrap();
        assert_eq!(c["HostConfig"]["Binds"], json!(["/h:/c:ro"]));
        assert_eq!(c["Volumes"], json!({"/anon": {}}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(
            c["HostConfig"]["PortBindings"],
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
        );
        assert_eq!(
            c["HostConfig"]["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(
            c["HostConfig"]["Ulimits"],
            json!([{"Name": "nofile", "Soft": 100, "Hard": 200}])
        );
        o.rm = true;
        assert!(build_config(&o, false).is_err());
    }

    #[test]
    fn start_failure_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_failure_code("exec /x: permission denied"), 126);
        assert_eq!(start_failure_code("something else"), 125);
    }

    #[test]
    fn tagged_names() {
        assert_eq!(tagged("busybox"), "busybox:latest");
        assert_eq!(tagged("busybox:1"), "busybox:1");
        assert_eq!(tagged("localhost:5000/x"), "localhost:5000/x:latest");
    }
}
