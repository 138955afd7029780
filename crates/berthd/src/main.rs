//! berthd: the berth daemon, serving the Docker Engine API on unix sockets.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
    /// Listen address(es): unix:///path/to.sock (repeatable).
    #[arg(short = 'H', long = "host")]
    host: Vec<String>,
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
    /// berth-monitor executable (default: next to berthd).
    #[arg(long, hide = true)]
    monitor: Option<PathBuf>,
    #[command(flatten)]
    net: net::NetArgs,
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn socket_path(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ if host.starts_with('/') => Ok(PathBuf::from(host)),
        _ => bail!("unsupported listen address {host:?}: only unix:///path is supported"),
    }
}

fn bind(path: &Path) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        // A live daemon on this socket must not be displaced.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another daemon is listening on {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let filter = if args.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.data_root)?;
    std::fs::create_dir_all(&args.exec_root)?;
    let data_root = std::fs::canonicalize(&args.data_root)?;
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
    let hosts = if args.host.is_empty() {
        vec![format!(
            "unix://{}",
            exec_root.join("berthd.sock").display()
        )]
    } else {
        args.host.clone()
    };
    let sockets: Vec<PathBuf> = hosts
        .iter()
        .map(|h| socket_path(h))
        .collect::<Result<_>>()?;
    let pidfile = args
        .pidfile
        .clone()
        .unwrap_or_else(|| exec_root.join("berthd.pid"));
    api::registry::set_insecure_registries(args.insecure_registry.clone());
    let net_cfg = args.net.config(&data_root, &exec_root)?;
    let engine = engine::Engine::open_with_network(
        engine::EngineConfig {
            data_root,
            exec_root,
            runtime,
            monitor,
        },
        net_cfg,
    )
    .await
    .context("opening the engine")?;
    let mut listeners = Vec::new();
    for s in &sockets {
        listeners.push(bind(s)?);
    }
    std::fs::write(&pidfile, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pidfile.display()))?;
    for (l, s) in listeners.into_iter().zip(&sockets) {
        tracing::info!("API listening on unix://{}", s.display());
        tokio::spawn(api::serve(engine.clone(), l));
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
    for s in &sockets {
        let _ = std::fs::remove_file(s);
    }
    net::shutdown(&args.net, &engine);
    let _ = std::fs::remove_file(&pidfile);
    Ok(())
}
