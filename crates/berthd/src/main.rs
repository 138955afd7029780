//! berthd: the berth daemon, serving the Docker Engine API on unix sockets and TCP (TLS).

use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod hosts;
mod lock;
mod net;

/// Command line (dockerd's flags where they exist).
#[derive(Debug, Parser)]
#[command(name = "berthd", version, about = "berth container engine daemon")]
struct Args {
    /// Root of persistent state.
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Root of runtime state (sockets, runtime state).
    #[arg(long = "exec-root", default_value = "/run/berth")]
    exec_root: PathBuf,
    #[command(flatten)]
    hosts: hosts::HostArgs,
    /// Pid file (default EXEC_ROOT/berthd.pid).
    #[arg(long)]
    pidfile: Option<PathBuf>,
    /// Debug logging.
    #[arg(short = 'D', long)]
    debug: bool,
    /// OCI runtime executable (default: berth-runtime next to berthd).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// Registry (host[:port]) that may be used over plain HTTP (repeatable, like dockerd).
    #[arg(long = "insecure-registry", value_name = "host[:port]")]
    insecure_registry: Vec<String>,
    /// Default log driver for containers (json-file or none).
    #[arg(long = "log-driver", value_name = "string")]
    log_driver: Option<String>,
    /// Default log driver options (key=value, repeatable), e.g. max-size=10m.
    #[arg(long = "log-opt", value_name = "map")]
    log_opt: Vec<String>,
    /// berth-monitor executable (default: next to berthd).
    #[arg(long, hide = true)]
    monitor: Option<PathBuf>,
    /// Default seccomp profile: `builtin`, `unconfined` or a profile file (Docker's format).
    #[arg(long = "seccomp-profile", value_name = "PATH|unconfined|builtin")]
    seccomp_profile: Option<String>,
    /// Set no_new_privs on every container unless it asks otherwise.
    #[arg(long = "no-new-privileges")]
    no_new_privileges: bool,
    /// Run an init inside every container that does not say otherwise (`HostConfig.Init`).
    #[arg(long)]
    init: bool,
    /// The init binary (default: berth-init next to berthd).
    #[arg(long = "init-path", value_name = "PATH")]
    init_path: Option<PathBuf>,
    #[command(flatten)]
    net: net::NetArgs,
}

/// The daemon's security defaults from `--seccomp-profile` and `--no-new-privileges`.
fn security_defaults(args: &Args) -> Result<engine::security::SecurityDefaults> {
    use engine::security::SeccompDefault;
    let seccomp = match args.seccomp_profile.as_deref() {
        None | Some("") | Some("builtin") => SeccompDefault::Builtin,
        Some("unconfined") => SeccompDefault::Unconfined,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("opening seccomp profile {path}"))?;
            engine::seccomp::Profile::parse(&text)
                .with_context(|| format!("seccomp profile {path}"))?;
            SeccompDefault::Custom(text)
        }
    };
    Ok(engine::security::SecurityDefaults {
        seccomp,
        no_new_privileges: args.no_new_privileges,
    })
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// How long a starting daemon waits for the previous one on the same data root to exit.
const LOCK_WAIT: Duration = Duration::from_secs(10);

fn main() {
    let args = Args::parse();
    let filter = if args.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    // as dockerd: a fixed umask, so nothing the daemon, its monitors or runtimes create is
    // group/world-writable because of the caller's umask (private files also get explicit
    // modes, see engine::modes).
    // SAFETY: umask only swaps the process mask.
    unsafe { libc::umask(0o022) };
    let data_root = match std::fs::create_dir_all(&args.data_root)
        .and_then(|_| std::fs::canonicalize(&args.data_root))
    {
        Ok(d) => d,
        Err(e) => fail(format!("data root {}: {e}", args.data_root.display())),
    };
    // Held until the process exits: released after every database is closed.
    let _lock = match lock::acquire(&data_root, LOCK_WAIT) {
        Ok(l) => l,
        Err(e) => fail(e.to_string()),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(format!("building the tokio runtime: {e}")),
    };
    let res = rt.block_on(run(args, data_root));
    // Drop every task (and so every engine handle and its databases) before the lock goes.
    rt.shutdown_timeout(Duration::from_secs(3));
    if let Err(e) = res {
        fail(format!("{e:#}"));
    }
}

/// One clear line on stderr, exit code 1.
fn fail(msg: String) -> ! {
    eprintln!("berthd: {msg}");
    std::process::exit(1)
}

/// Opens the engine, retrying while a database lock of a daemon that is exiting lingers.
async fn open_engine(
    cfg: engine::EngineConfig,
    net: network::Config,
) -> Result<Arc<engine::Engine>> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match engine::Engine::open_with_network(cfg.clone(), net.clone()).await {
            Ok(e) => return Ok(e),
            Err(e) if Instant::now() < deadline && e.to_string().contains("already open") => {
                tracing::debug!("waiting for a database lock: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("opening the engine"),
        }
    }
}

async fn run(args: Args, data_root: PathBuf) -> Result<()> {
    std::fs::create_dir_all(&args.exec_root)?;
    let exec_root = std::fs::canonicalize(&args.exec_root)?;
    let runtime = match args.runtime.clone() {
        Some(r) => r,
        None => {
            let s = sibling("berth-runtime");
            if s.exists() {
                s
            } else {
                tracing::warn!("berth-runtime not found next to berthd; using runc from PATH");
                PathBuf::from("runc")
            }
        }
    };
    let monitor = args
        .monitor
        .clone()
        .unwrap_or_else(|| sibling("berth-monitor"));
    let init_path = args
        .init_path
        .clone()
        .unwrap_or_else(|| sibling("berth-init"));
    if args.init_path.is_some() && !init_path.is_file() {
        anyhow::bail!("--init-path {}: no such file", init_path.display());
    }
    let tls = args.hosts.tls_on();
    let addrs: Vec<hosts::Addr> = if args.hosts.host.is_empty() {
        vec![hosts::Addr::Unix(exec_root.join("berthd.sock"))]
    } else {
        args.hosts
            .host
            .iter()
            .map(|h| hosts::parse_addr(h, tls))
            .collect::<Result<_>>()?
    };
    let opts = args.hosts.serve_options()?;
    let gid = args.hosts.socket_gid()?;
    let tls_files = tls.then(|| args.hosts.tls_files());
    if let Some(f) = &tls_files {
        // Refuse bad certificate files before anything else is touched.
        api::tls::server_config(f)?;
    }
    let pidfile = args
        .pidfile
        .clone()
        .unwrap_or_else(|| exec_root.join("berthd.pid"));
    api::registry::set_insecure_registries(args.insecure_registry.clone());
    let log = engine::logconfig::LogConfig::from_flags(args.log_driver.as_deref(), &args.log_opt)
        .map_err(|e| anyhow::anyhow!("invalid log configuration: {e}"))?;
    let net_cfg = args.net.config(&data_root, &exec_root)?;
    let security = security_defaults(&args)?;
    let engine = open_engine(
        engine::EngineConfig {
            data_root,
            exec_root,
            runtime,
            monitor,
            security,
            log,
            init: args.init,
            init_path,
        },
        net_cfg,
    )
    .await?;
    let mut listeners = Vec::new();
    for a in &addrs {
        let l = match a {
            hosts::Addr::Unix(p) => api::listen::Listener::Unix(hosts::bind_unix(p, gid)?),
            hosts::Addr::Tcp(t) => {
                if tls_files.is_none() {
                    warn_plain_tcp(t);
                }
                hosts::bind_tcp(t, tls_files.as_ref()).await?
            }
        };
        listeners.push(l);
    }
    std::fs::write(&pidfile, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pidfile.display()))?;
    let mut servers = Vec::new();
    for (l, a) in listeners.into_iter().zip(&addrs) {
        let scheme = match (a, &tls_files) {
            (hosts::Addr::Tcp(_), Some(f)) if f.client_ca.is_some() => {
                " (TLS, client certificates verified)"
            }
            (hosts::Addr::Tcp(_), Some(_)) => " (TLS)",
            _ => "",
        };
        tracing::info!("API listening on {a}{scheme}");
        servers.push(tokio::spawn(api::listen::serve_listener(
            engine.clone(),
            l,
            opts.clone(),
        )));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!(
        "shutting down; {} running container(s) keep running",
        engine.running_ids().len()
    );
    // Stop serving first; the databases close when the runtime drops the remaining tasks.
    for s in &servers {
        s.abort();
    }
    for a in &addrs {
        if let hosts::Addr::Unix(p) = a {
            let _ = std::fs::remove_file(p);
        }
    }
    net::shutdown(&args.net, &engine);
    let _ = std::fs::remove_file(&pidfile);
    drop(engine);
    Ok(())
}

/// dockerd-style loud warning for an unencrypted, unauthenticated TCP listener.
fn warn_plain_tcp(addr: &str) {
    tracing::warn!(
        "!!! API on tcp://{addr} WITHOUT TLS: anyone who can reach this address controls the \
         daemon and so has root on this machine. Use --tlsverify with --tlscacert, --tlscert \
         and --tlskey. !!!"
    );
}
