//! Daemon-level settings of the network manager.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

/// Settings. Every host-global name (bridge, veth, nft table) derives from these, so several
/// daemons (tests) can coexist: use [`Config::with_prefix`].
#[derive(Debug, Clone)]
pub struct Config {
    /// D: the DB is `D/network/metadata.redb`.
    pub data_root: PathBuf,
    /// E: netns files live in `E/netns/` (see [`Config::netns_path`]).
    pub exec_root: PathBuf,
    /// nftables table (family `ip`) holding every rule of this daemon.
    pub nft_table: String,
    /// Linux bridge of the default `bridge` network.
    pub default_bridge: String,
    /// Subnet of the default `bridge` network (gateway = first host).
    pub default_subnet: Ipv4Net,
    /// When `default_subnet` is already routed on the host (e.g. dockerd's docker0 on
    /// 172.17.0.0/16), take the first free pool instead, as dockerd does. Set to false when
    /// the subnet was given explicitly (`--bip`): then the clash is an error at first use.
    pub default_subnet_auto: bool,
    /// Bridge name prefix of user networks (+ hex of the network id, 15 chars in all).
    pub bridge_prefix: String,
    /// Host-side veth name prefix (+ random hex, 15 chars in all).
    pub veth_prefix: String,
    /// Pools subnets are carved from when `create` gets none.
    pub default_pools: Vec<Ipv4Net>,
    /// MTU of bridges and container interfaces.
    pub mtu: u32,
    /// Upstream resolvers of the embedded DNS; `None` = nameservers of [`Config::host_resolv_conf`].
    pub dns_upstreams: Option<Vec<SocketAddr>>,
    /// The host's resolv.conf.
    pub host_resolv_conf: PathBuf,
}

impl Config {
    /// Defaults of a production daemon: table `berth`, bridge `berth0`, 172.17.0.0/16.
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> Config {
        let mut pools: Vec<Ipv4Net> = (18..=31)
            .filter_map(|b| format!("172.{b}.0.0/16").parse().ok())
            .collect();
        pools.extend(
            (0..16).filter_map(|i| format!("192.168.{}.0/20", i * 16).parse::<Ipv4Net>().ok()),
        );
        Config {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            nft_table: "berth".into(),
            default_bridge: "berth0".into(),
            default_subnet: "172.17.0.0/16"
                .parse()
                .unwrap_or_else(|_| Ipv4Net::default()),
            default_subnet_auto: true,
            bridge_prefix: "br-".into(),
            veth_prefix: "veth".into(),
            default_pools: pools,
            mtu: 1500,
            dns_upstreams: None,
            host_resolv_conf: "/etc/resolv.conf".into(),
        }
    }

    /// Names derived from a short tag (≤ 6 chars of `[a-z0-9]`): table `berth-<tag>`, default
    /// bridge `<tag>0`, user bridges `<tag>-<hex>`, veths `<tag>v<hex>`.
    pub fn with_prefix(mut self, tag: &str) -> Config {
        self.nft_table = format!("berth-{tag}");
        self.default_bridge = format!("{tag}0");
        self.bridge_prefix = format!("{tag}-");
        self.veth_prefix = format!("{tag}v");
        self
    }

    /// Where the engine should bind-mount a container's netns: `E/netns/<id>`.
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.exec_root.join("netns").join(container_id)
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.data_root.join("network").join("metadata.redb")
    }
}
