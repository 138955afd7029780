//! berthd's network flags: `--bip`, and the hidden test-daemon flags `--network-prefix` and
//! `--network-cleanup-on-exit`.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Network flags of the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetArgs {
    /// Subnet of the default bridge network (CIDR, e.g. 172.17.0.1/16; dockerd's --bip)
    #[arg(long = "bip", value_name = "CIDR")]
    pub bip: Option<String>,
    /// Name prefix of every host-global network object (bridge, veths, nft table); for
    /// tests running several daemons at once (≤ 6 chars of [a-z0-9])
    #[arg(long = "network-prefix", hide = true, value_name = "TAG")]
    pub prefix: Option<String>,
    /// On SIGTERM/SIGINT, when no container is left, delete every bridge, veth, netns and nft
    /// table this daemon made (test daemons)
    #[arg(long = "network-cleanup-on-exit", hide = true)]
    pub cleanup_on_exit: bool,
}

impl NetArgs {
    /// The network crate's settings for these flags.
    pub fn config(&self, data_root: &Path, exec_root: &Path) -> Result<network::Config> {
        let mut cfg = network::Config::new(data_root, exec_root);
        if let Some(tag) = &self.prefix {
            if tag.is_empty()
                || tag.len() > 6
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                bail!("--network-prefix must be 1-6 characters of [a-z0-9], got {tag:?}");
            }
            cfg = cfg.with_prefix(tag);
        }
        if let Some(bip) = &self.bip {
            let net: ipnet::Ipv4Net = bip.parse().with_context(|| {
                format!("invalid --bip {bip:?}: want a CIDR such as 172.17.0.1/16")
            })?;
            if net.prefix_len() > 30 {
                bail!("invalid --bip {bip:?}: the subnet is too small");
            }
            cfg.default_subnet = net.trunc();
            cfg.default_subnet_auto = false;
        }
        Ok(cfg)
    }
}

/// Daemon shutdown: with `--network-cleanup-on-exit` and no container left, remove what the
/// networks made on the host.
pub fn shutdown(args: &NetArgs, engine: &engine::Engine) {
    if !args.cleanup_on_exit {
        return;
    }
    if !engine.list().is_empty() {
        tracing::info!("containers remain: keeping network state");
        return;
    }
    if let Err(e) = engine.networks().cleanup_all() {
        tracing::warn!("network cleanup: {e}");
    }
}
