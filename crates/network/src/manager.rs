//! The network manager: networks, endpoints, wiring, NAT, DNS, restore and cleanup.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::Ipv4Net;
use serde_json::{json, Value};

use crate::config::Config;
use crate::dns::{self, DnsServer, Resolver};
use crate::error::{NetworkError, Result};
use crate::ipam;
use crate::link::{self, IfaceConfig};
use crate::nft::{DnatEntry, Nft};
use crate::ports::{PortBinding, PortMapping, Proto};
use crate::store::{self, Driver, EndpointRecord, NetworkRecord, Op, State, Store};

/// What `create` is asked (docker's `POST /networks/create`).
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// unique name
    pub name: String,
    /// `bridge` (default), `macvlan`, `ipvlan`
    pub driver: String,
    /// `--subnet` CIDR; allocated from the pools when absent
    pub subnet: Option<String>,
    /// `--gateway`; first host of the subnet when absent
    pub gateway: Option<String>,
    /// `--ip-range`: sub-range containers get addresses from
    pub ip_range: Option<String>,
    /// `--internal`
    pub internal: bool,
    /// `--label`
    pub labels: BTreeMap<String, String>,
    /// `-o` driver options (`parent=` for macvlan/ipvlan,
    /// `com.docker.network.bridge.name`, `com.docker.network.driver.mtu`)
    pub options: BTreeMap<String, String>,
    /// `IPAM.Options` (kept and shown; the default IPAM driver has none it interprets)
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// `IPAM.Config[0].AuxiliaryAddresses`: name → address, never given to containers
    pub aux_addresses: BTreeMap<String, String>,
}

impl CreateRequest {
    /// From docker's `POST /networks/create` body (`Name`, `Driver`, `Internal`, `Labels`,
    /// `Options`, `IPAM.Config[0].{Subnet,Gateway,IPRange}`).
    pub fn from_docker_json(v: &Value) -> Result<CreateRequest> {
        let s = |x: &Value| x.as_str().map(str::to_string);
        let map = |x: &Value| -> BTreeMap<String, String> {
            x.as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let name = s(&v["Name"]).unwrap_or_default();
        if name.is_empty() {
            return Err(NetworkError::InvalidArgument(
                "network name is empty".into(),
            ));
        }
        let cfg = &v["IPAM"]["Config"];
        if cfg.as_array().map(|a| a.len() > 1).unwrap_or(false) {
            return Err(NetworkError::InvalidArgument(
                "only one IPv4 IPAM config is supported".into(),
            ));
        }
        let c0 = &cfg[0];
        let ipam_driver = s(&v["IPAM"]["Driver"]).unwrap_or_default();
        if !matches!(ipam_driver.as_str(), "" | "default") {
            return Err(NetworkError::InvalidArgument(format!(
                "IPAM driver {ipam_driver:?} is not supported (only \"default\")"
            )));
        }
        let ipam_options = v["IPAM"]["Options"]
            .as_object()
            .map(|_| map(&v["IPAM"]["Options"]));
        Ok(CreateRequest {
            ipam_options,
            aux_addresses: map(&c0["AuxiliaryAddresses"]),
            name,
            driver: s(&v["Driver"]).unwrap_or_default(),
            subnet: s(&c0["Subnet"]).filter(|x| !x.is_empty()),
            gateway: s(&c0["Gateway"]).filter(|x| !x.is_empty()),
            ip_range: s(&c0["IPRange"]).filter(|x| !x.is_empty()),
            internal: v["Internal"].as_bool().unwrap_or(false),
            labels: map(&v["Labels"]),
            options: map(&v["Options"]),
        })
    }
}

/// What `attach` is asked: one container on one network.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    /// container id (64 hex)
    pub container_id: String,
    /// container name (no leading `/`)
    pub container_name: String,
    /// the container's netns file (e.g. `E/netns/<id>`, made by [`crate::netns::create`])
    pub netns: PathBuf,
    /// DNS aliases on this network (`--network-alias`)
    pub aliases: Vec<String>,
    /// fixed address (`--ip`, user networks only)
    pub ip: Option<Ipv4Addr>,
    /// ports to publish (`-p`, `-P`): only on bridge networks that are not internal
    pub ports: Vec<PortBinding>,
}

/// A container's wiring on one network (what the engine keeps for `NetworkSettings`).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// network id
    pub network_id: String,
    /// network name
    pub network_name: String,
    /// driver
    pub driver: Driver,
    /// endpoint id
    pub endpoint_id: String,
    /// container address (None on host/none)
    pub ip: Option<Ipv4Addr>,
    /// prefix length of the subnet
    pub prefix_len: u8,
    /// gateway (None on host/none/internal)
    pub gateway: Option<Ipv4Addr>,
    /// MAC of the container interface ("" on host/none)
    pub mac: String,
    /// interface name inside the container
    pub if_name: String,
    /// aliases
    pub aliases: Vec<String>,
    /// published ports
    pub ports: Vec<PortMapping>,
    /// whether the container should use the embedded DNS (user-defined network)
    pub internal_dns: bool,
}

impl Endpoint {
    /// Docker's `NetworkSettings.Networks[<name>]` object.
    pub fn to_docker_json(&self) -> Value {
        json!({
            "IPAMConfig": Value::Null,
            "Links": Value::Null,
            "Aliases": if self.aliases.is_empty() { Value::Null } else { json!(self.aliases) },
            "MacAddress": self.mac,
            "DriverOpts": Value::Null,
            "NetworkID": self.network_id,
            "EndpointID": self.endpoint_id,
            "Gateway": self.gateway.map(|g| g.to_string()).unwrap_or_default(),
            "IPAddress": self.ip.map(|g| g.to_string()).unwrap_or_default(),
            "IPPrefixLen": if self.ip.is_some() { self.prefix_len } else { 0 },
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": Value::Null,
        })
    }
}

/// What `restore` did.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// (network name, container id) re-wired or checked
    pub restored: Vec<(String, String)>,
    /// (network name, container id) whose netns no longer exists: the engine should
    /// `attach` again with a new netns (the address is kept) or `detach`.
    pub stale: Vec<(String, String)>,
}

/// The network manager. `Send + Sync`; calls are synchronous (run them from
/// `spawn_blocking`) and serialised internally.
pub struct NetworkManager {
    cfg: Config,
    store: Arc<Store>,
    nft: Nft,
    lock: Mutex<()>,
    dns: Mutex<HashMap<String, DnsServer>>,
    /// Bridge networks whose bridge, sysctls and nft rules this process has set up (saves
    /// about ten `ip`/`nft` runs per attach); dropped at teardown and `cleanup_all`.
    infra_ok: Mutex<std::collections::HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ifname_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 15 && !s.contains(['/', ' ', ':'])
}

impl NetworkManager {
    /// Open (or create) the store at `D/network/metadata.redb` and make sure the predefined
    /// networks `bridge`, `host` and `none` exist. Nothing is made on the host yet: the
    /// default bridge is created on its first `attach` (or by `restore`).
    pub fn open(cfg: Config) -> Result<NetworkManager> {
        if !ifname_ok(&cfg.default_bridge) {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid bridge name {}",
                cfg.default_bridge
            )));
        }
        let store = Store::open(&cfg.db_path())?;
        let nft = Nft::new(cfg.nft_table.clone());
        let mgr = NetworkManager {
            cfg,
            store: Arc::new(store),
            nft,
            lock: Mutex::new(()),
            dns: Mutex::new(HashMap::new()),
            infra_ok: Mutex::new(Default::default()),
        };
        mgr.ensure_predefined()?;
        Ok(mgr)
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn ensure_predefined(&self) -> Result<()> {
        let st = self.store.load()?;
        let mut ops = Vec::new();
        let mut opts = BTreeMap::new();
        for (k, v) in [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", "true"),
            ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            (
                "com.docker.network.bridge.name",
                self.cfg.default_bridge.as_str(),
            ),
        ] {
            opts.insert(k.to_string(), v.to_string());
        }
        opts.insert(
            "com.docker.network.driver.mtu".into(),
            self.cfg.mtu.to_string(),
        );
        let existing = st.networks.values().find(|n| n.name == "bridge").cloned();
        let in_use = existing
            .as_ref()
            .map(|n| st.endpoints_of(&n.id).next().is_some())
            .unwrap_or(false);
        let routes: Vec<(Ipv4Net, String)> = link::host_routes()
            .into_iter()
            .filter(|(_, dev)| *dev != self.cfg.default_bridge)
            .collect();
        let clashes = |net: Ipv4Net| routes.iter().any(|(r, _)| ipam::overlaps(*r, net));
        let mut subnet = self.cfg.default_subnet;
        if self.cfg.default_subnet_auto && !in_use && clashes(subnet) {
            let others: Vec<Ipv4Net> = st
                .networks
                .values()
                .filter(|n| n.name != "bridge")
                .filter_map(|n| n.subnet)
                .collect();
            if let Some(p) = self
                .cfg
                .default_pools
                .iter()
                .find(|p| !clashes(**p) && !others.iter().any(|o| ipam::overlaps(*o, **p)))
            {
                subnet = *p;
            }
        }
        let gw = ipam::default_gateway(subnet);
        let want = NetworkRecord {
            id: existing
                .as_ref()
                .map(|n| n.id.clone())
                .unwrap_or_else(store::new_id),
            name: "bridge".into(),
            driver: Driver::Bridge,
            created: existing
                .as_ref()
                .map(|n| n.created.clone())
                .unwrap_or_else(store::now_rfc3339),
            subnet: Some(subnet),
            gateway: Some(gw),
            ip_range: None,
            internal: false,
            labels: BTreeMap::new(),
            options: opts,
            interface: Some(self.cfg.default_bridge.clone()),
            mtu: self.cfg.mtu,
            predefined: true,
            ipam_options: None,
            aux_addresses: BTreeMap::new(),
        };
        match &existing {
            Some(n) if *n == want => {}
            Some(n) if st.endpoints_of(&n.id).next().is_some() => {}
            _ => ops.push(Op::PutNetwork(Box::new(want))),
        }
        for (name, driver) in [("host", Driver::Host), ("none", Driver::Null)] {
            if !st.networks.values().any(|n| n.name == name) {
                ops.push(Op::PutNetwork(Box::new(NetworkRecord {
                    id: store::new_id(),
                    name: name.into(),
                    driver,
                    created: store::now_rfc3339(),
                    subnet: None,
                    gateway: None,
                    ip_range: None,
                    internal: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    interface: None,
                    mtu: 0,
                    predefined: true,
                    ipam_options: None,
                    aux_addresses: BTreeMap::new(),
                })));
            }
        }
        if !ops.is_empty() {
            self.store.commit(ops)?;
        }
        Ok(())
    }

    // ----- networks -----

    /// Create a user-defined network. Overlapping subnets, duplicate names, bad CIDRs and a
    /// missing parent are refused before anything is made; the bridge and its nft rules are
    /// made now (removed again if a later step fails).
    pub fn create(&self, req: CreateRequest) -> Result<NetworkRecord> {
        let _g = lock(&self.lock);
        let st = self.store.load()?;
        if req.name.is_empty() {
            return Err(NetworkError::InvalidArgument(
                "network name is empty".into(),
            ));
        }
        if st.networks.values().any(|n| n.name == req.name) {
            return Err(NetworkError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let driver = Driver::parse(&req.driver)?;
        if matches!(driver, Driver::Host | Driver::Null) {
            return Err(NetworkError::Forbidden(format!(
                "only one instance of \"{}\" network is allowed",
                driver.as_str()
            )));
        }
        let taken: Vec<Ipv4Net> = st.networks.values().filter_map(|n| n.subnet).collect();
        let subnet = match &req.subnet {
            Some(s) => {
                let net = ipam::parse_subnet(s)?;
                if let Some(o) = taken.iter().find(|t| ipam::overlaps(**t, net)) {
                    return Err(NetworkError::Forbidden(format!(
                        "Pool overlaps with other one on this address space ({net} overlaps {o})"
                    )));
                }
                net
            }
            None => *self
                .cfg
                .default_pools
                .iter()
                .find(|p| {
                    !taken.iter().any(|t| ipam::overlaps(*t, **p))
                        && (driver != Driver::Bridge
                            || !link::host_routes()
                                .iter()
                                .any(|(r, _)| ipam::overlaps(*r, **p)))
                })
                .ok_or_else(|| {
                    NetworkError::PoolExhausted(
                        "could not find an available, non-overlapping IPv4 address pool".into(),
                    )
                })?,
        };
        let gateway = match &req.gateway {
            Some(g) => {
                let g: Ipv4Addr = g.parse().map_err(|_| {
                    NetworkError::InvalidArgument(format!("invalid gateway address {g}"))
                })?;
                if !subnet.contains(&g) || g == subnet.network() || g == subnet.broadcast() {
                    return Err(NetworkError::InvalidArgument(format!(
                        "gateway {g} is not in subnet {subnet}"
                    )));
                }
                g
            }
            None => ipam::default_gateway(subnet),
        };
        let ip_range = match &req.ip_range {
            Some(r) => {
                let r = ipam::parse_subnet(r)?;
                if !subnet.contains(&r.network()) || !subnet.contains(&r.broadcast()) {
                    return Err(NetworkError::InvalidArgument(format!(
                        "ip-range {r} is not within subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let mtu = match req.options.get("com.docker.network.driver.mtu") {
            Some(m) => m
                .parse::<u32>()
                .ok()
                .filter(|m| (68..=65535).contains(m))
                .ok_or_else(|| NetworkError::InvalidArgument(format!("invalid mtu {m}")))?,
            None => self.cfg.mtu,
        };
        let id = store::new_id();
        let interface = match driver {
            Driver::Bridge => {
                let name = match req.options.get("com.docker.network.bridge.name") {
                    Some(n) => n.clone(),
                    None => {
                        let room = 15usize.saturating_sub(self.cfg.bridge_prefix.len());
                        format!("{}{}", self.cfg.bridge_prefix, &id[..room.min(id.len())])
                    }
                };
                if !ifname_ok(&name) {
                    return Err(NetworkError::InvalidArgument(format!(
                        "invalid bridge name {name}"
                    )));
                }
                if st
                    .networks
                    .values()
                    .any(|n| n.interface.as_deref() == Some(&name))
                {
                    return Err(NetworkError::Conflict(format!(
                        "bridge name {name} is already used by another network"
                    )));
                }
                // never take over a host interface: only a bridge berth creates is used
                // (and later deleted by `network rm`)
                if crate::cmd::link_exists(&name) {
                    return Err(NetworkError::Conflict(format!(
                        "cannot use {name} as the bridge name: an interface with that name already exists on the host and was not created by berth"
                    )));
                }
                name
            }
            _ => {
                let parent = req.options.get("parent").cloned().ok_or_else(|| {
                    NetworkError::InvalidArgument(format!(
                        "{} network needs -o parent=<interface>",
                        driver.as_str()
                    ))
                })?;
                if !ifname_ok(&parent) || !crate::cmd::link_exists(&parent) {
                    return Err(NetworkError::InvalidArgument(format!(
                        "-o parent interface was not found on the host: {parent}"
                    )));
                }
                if let Some(m) = req
                    .options
                    .get("macvlan_mode")
                    .or(req.options.get("ipvlan_mode"))
                {
                    if m != "bridge" && m != "l2" {
                        return Err(NetworkError::InvalidArgument(format!(
                            "mode {m} is not supported (only bridge / l2)"
                        )));
                    }
                }
                parent
            }
        };
        let rec = NetworkRecord {
            id,
            name: req.name,
            driver,
            created: store::now_rfc3339(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            ip_range,
            internal: req.internal,
            labels: req.labels,
            options: req.options,
            interface: Some(interface),
            mtu,
            predefined: false,
            ipam_options: req.ipam_options,
            aux_addresses: req.aux_addresses,
        };
        for (k, a) in &rec.aux_addresses {
            let ip: Ipv4Addr = a.parse().map_err(|_| {
                NetworkError::InvalidArgument(format!("invalid auxiliary address {k}={a}"))
            })?;
            if !subnet.contains(&ip) {
                return Err(NetworkError::InvalidArgument(format!(
                    "auxiliary address {k}={a} is not in subnet {subnet}"
                )));
            }
        }
        self.ensure_infra(&rec)?;
        if let Err(e) = self
            .store
            .commit(vec![Op::PutNetwork(Box::new(rec.clone()))])
        {
            self.teardown_infra(&rec);
            return Err(e);
        }
        Ok(rec)
    }

    /// Bridge + nft rules of a bridge network (idempotent).
    fn ensure_infra(&self, n: &NetworkRecord) -> Result<()> {
        if n.driver != Driver::Bridge {
            return Ok(());
        }
        let (Some(br), Some(subnet), Some(gw)) = (&n.interface, n.subnet, n.gateway) else {
            return Ok(());
        };
        let fresh = !crate::cmd::link_exists(br);
        if !fresh && lock(&self.infra_ok).contains(&n.id) {
            return Ok(());
        }
        if fresh {
            // e.g. dockerd's docker0 on 172.17.0.0/16: two bridges with one subnet break both
            if let Some((r, dev)) = link::host_routes()
                .into_iter()
                .find(|(r, dev)| dev != br && ipam::overlaps(*r, subnet))
            {
                return Err(NetworkError::Conflict(format!(
                    "subnet {subnet} of network {} overlaps the host route {r} on {dev}",
                    n.name
                )));
            }
        }
        link::ensure_bridge(br, gw, subnet, n.mtu)?;
        link::iptables_forward_accept(br, true);
        if !n.internal {
            crate::cmd::sysctl("net.ipv4.ip_forward", "1")?;
        }
        let masquerade = !n.internal
            && n.options
                .get("com.docker.network.bridge.enable_ip_masquerade")
                .map(|v| v != "false")
                .unwrap_or(true);
        if let Err(e) = self.nft.add_network(br, subnet, n.internal, masquerade) {
            if fresh {
                let _ = link::delete_link(br);
            }
            return Err(e);
        }
        lock(&self.infra_ok).insert(n.id.clone());
        Ok(())
    }

    fn teardown_infra(&self, n: &NetworkRecord) {
        lock(&self.infra_ok).remove(&n.id);
        if n.driver != Driver::Bridge {
            return;
        }
        if let (Some(br), Some(subnet)) = (&n.interface, n.subnet) {
            self.nft.remove_network(br, subnet);
            link::iptables_forward_accept(br, false);
            let _ = link::delete_bridge(br);
        }
    }

    /// All networks, by name.
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        let st = self.store.load()?;
        let mut v: Vec<NetworkRecord> = st.networks.into_values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// A network by id, name or unique id prefix.
    pub fn get(&self, id_or_name: &str) -> Result<NetworkRecord> {
        self.store.load()?.find(id_or_name).cloned()
    }

    /// The endpoints of a network.
    pub fn endpoints(&self, id_or_name: &str) -> Result<Vec<EndpointRecord>> {
        let st = self.store.load()?;
        let n = st.find(id_or_name)?;
        Ok(st.endpoints_of(&n.id).cloned().collect())
    }

    /// Every endpoint of a container, with its network.
    pub fn container_endpoints(
        &self,
        container_id: &str,
    ) -> Result<Vec<(NetworkRecord, EndpointRecord)>> {
        let st = self.store.load()?;
        Ok(st
            .endpoints
            .values()
            .filter(|e| e.container_id == container_id)
            .filter_map(|e| {
                st.networks
                    .get(&e.network_id)
                    .map(|n| (n.clone(), e.clone()))
            })
            .collect())
    }

    /// Docker's `GET /networks/{id}` object (also each element of `GET /networks`).
    pub fn inspect_json(&self, id_or_name: &str) -> Result<Value> {
        let st = self.store.load()?;
        let n = st.find(id_or_name)?;
        let mut containers = serde_json::Map::new();
        for e in st.endpoints_of(&n.id) {
            containers.insert(
                e.container_id.clone(),
                json!({
                    "Name": e.container_name,
                    "EndpointID": e.id,
                    "MacAddress": e.mac,
                    "IPv4Address": match (e.ip, n.subnet) {
                        (Some(ip), Some(s)) => format!("{ip}/{}", s.prefix_len()),
                        _ => String::new(),
                    },
                    "IPv6Address": "",
                }),
            );
        }
        let config: Vec<Value> = match n.subnet {
            Some(s) => {
                let mut c = json!({"Subnet": s.to_string(), "Gateway": n.gateway.map(|g| g.to_string()).unwrap_or_default()});
                if let Some(r) = n.ip_range {
                    c["IPRange"] = json!(r.to_string());
                }
                if !n.aux_addresses.is_empty() {
                    c["AuxiliaryAddresses"] = json!(n.aux_addresses);
                }
                vec![c]
            }
            None => vec![],
        };
        Ok(json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver.as_str(),
            "EnableIPv4": true,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": n.ipam_options, "Config": config},
            "Internal": n.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.options,
            "Labels": n.labels,
        }))
    }

    /// Remove a network: refused for predefined networks and while endpoints exist.
    pub fn remove(&self, id_or_name: &str) -> Result<()> {
        let _g = lock(&self.lock);
        let st = self.store.load()?;
        let n = st.find(id_or_name)?.clone();
        if n.predefined {
            return Err(NetworkError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if st.endpoints_of(&n.id).next().is_some() {
            return Err(NetworkError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.store.commit(vec![Op::DeleteNetwork(n.id.clone())])?;
        self.teardown_infra(&n);
        Ok(())
    }

    /// Remove every user-defined network without endpoints; returns their names.
    /// `labels`: only networks carrying all of these (`key` or `key=value`).
    pub fn prune(&self, labels: &[String]) -> Result<Vec<String>> {
        let victims: Vec<NetworkRecord> = {
            let st = self.store.load()?;
            st.networks
                .values()
                .filter(|n| !n.predefined && st.endpoints_of(&n.id).next().is_none())
                .filter(|n| {
                    labels.iter().all(|l| match l.split_once('=') {
                        Some((k, v)) => n.labels.get(k).map(|x| x == v).unwrap_or(false),
                        None => n.labels.contains_key(l),
                    })
                })
                .cloned()
                .collect()
        };
        let mut out = Vec::new();
        for n in victims {
            if self.remove(&n.id).is_ok() {
                out.push(n.name);
            }
        }
        Ok(out)
    }

    // ----- endpoints -----

    /// Connect a container (its netns must exist) to a network and return its endpoint.
    ///
    /// bridge: veth pair (host side on the bridge, peer `ethN` in the netns), address, MTU,
    /// default route (if the netns has none), published ports; macvlan/ipvlan: a child of the
    /// parent in the netns; host/none: only recorded. Attaching again with the same container
    /// re-wires with the stored address (after a restart or with a new netns). Any failure
    /// undoes what this call made.
    pub fn attach(&self, network: &str, req: AttachRequest) -> Result<Endpoint> {
        let _g = lock(&self.lock);
        let st = self.store.load()?;
        let n = st.find(network)?.clone();
        if req.container_id.is_empty() {
            return Err(NetworkError::InvalidArgument(
                "container id is empty".into(),
            ));
        }
        let existing = st.endpoint(&n.id, &req.container_id).cloned();
        if matches!(n.driver, Driver::Host | Driver::Null) {
            if st
                .endpoints
                .values()
                .any(|e| e.container_id == req.container_id && e.network_id != n.id)
            {
                return Err(NetworkError::Forbidden(format!(
                    "container cannot be disconnected from host network or connected to {} network",
                    n.name
                )));
            }
            let rec = EndpointRecord {
                id: existing.map(|e| e.id).unwrap_or_else(store::new_id),
                network_id: n.id.clone(),
                container_id: req.container_id.clone(),
                container_name: req.container_name.clone(),
                aliases: vec![],
                netns: req.netns.clone(),
                ip: None,
                fixed_ip: false,
                mac: String::new(),
                if_name: String::new(),
                host_if: None,
                ports: vec![],
            };
            self.store
                .commit(vec![Op::PutEndpoint(Box::new(rec.clone()))])?;
            return Ok(self.endpoint_of(&n, &rec));
        }
        if st.endpoints.values().any(|e| {
            e.container_id == req.container_id
                && st
                    .networks
                    .get(&e.network_id)
                    .map(|x| matches!(x.driver, Driver::Host | Driver::Null))
                    .unwrap_or(false)
        }) {
            return Err(NetworkError::Forbidden(format!(
                "container sharing network namespace with host or none cannot be connected to {}",
                n.name
            )));
        }
        if !crate::netns::exists(&req.netns) {
            return Err(NetworkError::InvalidArgument(format!(
                "network namespace {} does not exist",
                req.netns.display()
            )));
        }
        if let Some(e) = &existing {
            if e.netns == req.netns && link::live_in(&e.netns, &e.if_name, e.ip) {
                return Ok(self.endpoint_of(&n, e));
            }
            // re-wire (restart, or a new netns for the same container): drop the old pieces
            self.unwire(e);
            if e.netns != req.netns {
                lock(&self.dns).remove(&req.container_id);
            }
        }
        let (Some(subnet), gateway) = (n.subnet, n.gateway) else {
            return Err(NetworkError::InvalidArgument(format!(
                "network {} has no subnet",
                n.name
            )));
        };
        // IPAM
        let used: BTreeSet<Ipv4Addr> = st
            .endpoints_of(&n.id)
            .filter(|e| e.container_id != req.container_id)
            .filter_map(|e| e.ip)
            .chain(n.aux_addresses.values().filter_map(|a| a.parse().ok()))
            .collect();
        let (ip, fixed) = match (req.ip, &existing) {
            (Some(ip), _) => {
                if n.predefined {
                    return Err(NetworkError::InvalidArgument(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                ipam::check_fixed(subnet, gateway, ip, &used)?;
                (ip, true)
            }
            (None, Some(e)) if e.ip.is_some() => {
                (e.ip.unwrap_or(Ipv4Addr::UNSPECIFIED), e.fixed_ip)
            }
            _ => (ipam::allocate(subnet, n.ip_range, gateway, &used)?, false),
        };
        // ports
        let publish = n.driver == Driver::Bridge && !n.internal;
        let wanted: Vec<PortBinding> = if publish { req.ports.clone() } else { vec![] };
        let ports = match &existing {
            Some(e) if wanted.is_empty() => e.ports.clone(),
            _ => self.resolve_ports(&st, &req.container_id, &wanted)?,
        };
        let if_name = link::free_if_name(&req.netns)?;
        let mac = ipam::mac_for(ip);
        let iface = IfaceConfig {
            netns: &req.netns,
            if_name: &if_name,
            ip,
            subnet,
            mac: &mac,
            mtu: n.mtu,
            gateway: if n.internal { None } else { gateway },
        };
        let parent = n.interface.clone().unwrap_or_default();
        let mut host_if = None;
        match n.driver {
            Driver::Bridge => {
                self.ensure_infra(&n)?;
                let room = 15usize.saturating_sub(self.cfg.veth_prefix.len());
                let hex: String = (0..room)
                    .map(|_| format!("{:x}", fastrand::u8(..16)))
                    .collect();
                let h = format!("{}{hex}", self.cfg.veth_prefix);
                link::add_veth(&parent, &h, &iface)?;
                host_if = Some(h);
            }
            Driver::Macvlan => link::add_vlan_child("macvlan", &parent, &iface)?,
            Driver::Ipvlan => link::add_vlan_child("ipvlan", &parent, &iface)?,
            Driver::Host | Driver::Null => {}
        }
        let rec = EndpointRecord {
            id: existing
                .as_ref()
                .map(|e| e.id.clone())
                .unwrap_or_else(store::new_id),
            network_id: n.id.clone(),
            container_id: req.container_id.clone(),
            container_name: req.container_name.trim_start_matches('/').to_string(),
            aliases: if req.aliases.is_empty() {
                existing
                    .as_ref()
                    .map(|e| e.aliases.clone())
                    .unwrap_or_default()
            } else {
                req.aliases.clone()
            },
            netns: req.netns.clone(),
            ip: Some(ip),
            fixed_ip: fixed,
            mac,
            if_name: if_name.clone(),
            host_if: host_if.clone(),
            ports,
        };
        let undo_link = || link::remove_iface(&req.netns, &if_name, host_if.as_deref());
        let dnat = self.dnat_entries(&rec);
        if let Err(e) = self.nft.add_ports(&dnat) {
            undo_link();
            return Err(e);
        }
        if let Err(e) = self
            .store
            .commit(vec![Op::PutEndpoint(Box::new(rec.clone()))])
        {
            self.nft.remove_ports(&dnat);
            undo_link();
            return Err(e);
        }
        if n.is_user_defined() {
            if let Err(e) = self.ensure_dns(&req.container_id, &req.netns) {
                let _ = self.store.commit(vec![Op::DeleteEndpoint(
                    n.id.clone(),
                    req.container_id.clone(),
                )]);
                self.nft.remove_ports(&dnat);
                undo_link();
                return Err(e);
            }
        }
        Ok(self.endpoint_of(&n, &rec))
    }

    fn endpoint_of(&self, n: &NetworkRecord, e: &EndpointRecord) -> Endpoint {
        Endpoint {
            network_id: n.id.clone(),
            network_name: n.name.clone(),
            driver: n.driver,
            endpoint_id: e.id.clone(),
            ip: e.ip,
            prefix_len: n.subnet.map(|s| s.prefix_len()).unwrap_or(0),
            gateway: if n.internal { None } else { n.gateway },
            mac: e.mac.clone(),
            if_name: e.if_name.clone(),
            aliases: e.aliases.clone(),
            ports: e.ports.clone(),
            internal_dns: n.is_user_defined(),
        }
    }

    fn dnat_entries(&self, e: &EndpointRecord) -> Vec<DnatEntry> {
        let Some(ip) = e.ip else { return vec![] };
        e.ports
            .iter()
            .map(|p| DnatEntry {
                proto: p.proto.number(),
                host_ip: p.host_ip,
                host_port: p.host_port,
                dest_ip: ip,
                dest_port: p.container_port,
            })
            .collect()
    }

    /// Pick host ports: refuse ones already published (by any endpoint of this daemon) or
    /// bound on the host; 0 = a random free port in 49153..=60999.
    fn resolve_ports(
        &self,
        st: &State,
        container: &str,
        wanted: &[PortBinding],
    ) -> Result<Vec<PortMapping>> {
        let mut taken: Vec<PortMapping> = st
            .endpoints
            .values()
            .filter(|e| e.container_id != container)
            .flat_map(|e| e.ports.iter().copied())
            .collect();
        let clash = |taken: &[PortMapping], proto: Proto, ip: Ipv4Addr, port: u16| {
            taken.iter().any(|t| {
                t.proto == proto
                    && t.host_port == port
                    && (t.host_ip.is_unspecified() || ip.is_unspecified() || t.host_ip == ip)
            })
        };
        let mut out = Vec::new();
        for b in wanted {
            let host_ip = b.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let port = if b.host_port != 0 {
                let bind = try_bind(b.proto, host_ip, b.host_port);
                if let Err(e) = &bind {
                    if e.kind() != std::io::ErrorKind::AddrInUse {
                        return Err(NetworkError::InvalidArgument(format!(
                            "cannot publish on {host_ip}:{}: {e}",
                            b.host_port
                        )));
                    }
                }
                if clash(&taken, b.proto, host_ip, b.host_port) || bind.is_err() {
                    return Err(NetworkError::Conflict(format!(
                        "Bind for {host_ip}:{} failed: port is already allocated",
                        b.host_port
                    )));
                }
                b.host_port
            } else {
                let span = 60999 - 49153 + 1;
                let start = fastrand::u16(0..span);
                (0..span)
                    .map(|i| 49153 + (start + i) % span)
                    .find(|p| {
                        !clash(&taken, b.proto, host_ip, *p) && host_port_free(b.proto, host_ip, *p)
                    })
                    .ok_or_else(|| NetworkError::Conflict("no free host port left".into()))?
            };
            let m = PortMapping {
                proto: b.proto,
                container_port: b.container_port,
                host_ip,
                host_port: port,
            };
            taken.push(m);
            out.push(m);
        }
        Ok(out)
    }

    /// Container stop: withdraw its published ports (rules and reservations) as docker
    /// does; address and interfaces stay. [`NetworkManager::publish`] puts them back.
    pub fn release_ports(&self, container_id: &str) -> Result<()> {
        let _g = lock(&self.lock);
        let st = self.store.load()?;
        let mut ops = Vec::new();
        for e in st
            .endpoints
            .values()
            .filter(|e| e.container_id == container_id && !e.ports.is_empty())
        {
            self.nft.remove_ports(&self.dnat_entries(e));
            let mut r = e.clone();
            r.ports.clear();
            ops.push(Op::PutEndpoint(Box::new(r)));
        }
        if !ops.is_empty() {
            self.store.commit(ops)?;
        }
        Ok(())
    }

    /// Publish `ports` on a container's endpoint of `network` when it has none published
    /// (start after a stop); returns the endpoint's mappings. Conflict when a host port is
    /// taken meanwhile; nothing changes then.
    pub fn publish(
        &self,
        network: &str,
        container_id: &str,
        ports: &[PortBinding],
    ) -> Result<Vec<PortMapping>> {
        let _g = lock(&self.lock);
        let st = self.store.load()?;
        let n = st.find(network)?.clone();
        let e = st.endpoint(&n.id, container_id).cloned().ok_or_else(|| {
            NetworkError::NotConnected {
                network: n.name.clone(),
                container: container_id.to_string(),
            }
        })?;
        if !e.ports.is_empty() || ports.is_empty() || e.ip.is_none() {
            return Ok(e.ports);
        }
        let mut rec = e;
        rec.ports = self.resolve_ports(&st, container_id, ports)?;
        let dnat = self.dnat_entries(&rec);
        self.nft.add_ports(&dnat)?;
        if let Err(err) = self
            .store
            .commit(vec![Op::PutEndpoint(Box::new(rec.clone()))])
        {
            self.nft.remove_ports(&dnat);
            return Err(err);
        }
        Ok(rec.ports)
    }

    /// Disconnect a container from a network: its interface, ports and address go.
    pub fn detach(&self, network: &str, container_id: &str) -> Result<()> {
        let _g = lock(&self.lock);
        let st = self.store.load()?;
        let n = st.find(network)?.clone();
        let e = st.endpoint(&n.id, container_id).cloned().ok_or_else(|| {
            NetworkError::NotConnected {
                network: n.name.clone(),
                container: container_id.to_string(),
            }
        })?;
        self.store.commit(vec![Op::DeleteEndpoint(
            n.id.clone(),
            container_id.to_string(),
        )])?;
        self.unwire(&e);
        let still_user = st.endpoints.values().any(|x| {
            x.container_id == container_id
                && x.network_id != n.id
                && st
                    .networks
                    .get(&x.network_id)
                    .map(|m| !m.predefined)
                    .unwrap_or(false)
        });
        if !still_user {
            lock(&self.dns).remove(container_id);
        }
        Ok(())
    }

    fn unwire(&self, e: &EndpointRecord) {
        self.nft.remove_ports(&self.dnat_entries(e));
        if !e.if_name.is_empty() {
            // only the interface that really carries this endpoint's address (the name may
            // have been reused by another endpoint after a restart)
            let ours = link::live_in(&e.netns, &e.if_name, e.ip);
            let inside = if ours { e.if_name.as_str() } else { "" };
            link::remove_iface(&e.netns, inside, e.host_if.as_deref());
        }
    }

    /// Disconnect a container from every network (container removal). The netns itself is
    /// the engine's to remove ([`crate::netns::remove`]).
    pub fn detach_all(&self, container_id: &str) -> Result<()> {
        for (n, _) in self.container_endpoints(container_id)? {
            match self.detach(&n.id, container_id) {
                Ok(()) | Err(NetworkError::NotConnected { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        lock(&self.dns).remove(container_id);
        Ok(())
    }

    // ----- DNS -----

    fn upstreams(&self) -> Vec<SocketAddr> {
        match &self.cfg.dns_upstreams {
            Some(u) => u.clone(),
            None => std::fs::read_to_string(&self.cfg.host_resolv_conf)
                .map(|s| dns::nameservers(&s))
                .unwrap_or_default(),
        }
    }

    fn ensure_dns(&self, container_id: &str, netns: &std::path::Path) -> Result<()> {
        let mut servers = lock(&self.dns);
        if servers.contains_key(container_id) {
            return Ok(());
        }
        let store = self.store.clone();
        let cid = container_id.to_string();
        let resolver: Resolver = Arc::new(move |name: &str| resolve_name(&store, &cid, name));
        let srv = DnsServer::start(netns, resolver, self.upstreams())?;
        servers.insert(container_id.to_string(), srv);
        Ok(())
    }

    /// Answer a name as the embedded DNS would for `container_id` (None = not a local name).
    pub fn resolve(&self, container_id: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        resolve_name(&self.store, container_id, name)
    }

    // ----- files -----

    /// /etc/hosts content for a container (docker's layout) from its endpoints.
    pub fn hosts_file(
        &self,
        container_id: &str,
        hostname: &str,
        extra: &[(String, String)],
    ) -> Result<String> {
        let eps = self.container_endpoints(container_id)?;
        let addrs: Vec<Ipv4Addr> = eps.iter().filter_map(|(_, e)| e.ip).collect();
        Ok(crate::files::hosts_file(hostname, &addrs, &[], extra))
    }

    /// /etc/resolv.conf content for a container: the embedded DNS when it is on a user
    /// network, else the host's servers (loopback ones dropped).
    pub fn resolv_conf(
        &self,
        container_id: &str,
        dns: &[String],
        search: &[String],
        options: &[String],
    ) -> Result<String> {
        let eps = self.container_endpoints(container_id)?;
        let internal = eps.iter().any(|(n, _)| n.is_user_defined());
        let host = std::fs::read_to_string(&self.cfg.host_resolv_conf).unwrap_or_default();
        Ok(crate::files::resolv_conf(
            &host, internal, dns, search, options,
        ))
    }

    // ----- restart / shutdown -----

    /// After a daemon restart: re-create bridges and nft rules of networks, re-wire endpoints
    /// whose netns still exists but lost their interface, re-add port rules, restart DNS.
    pub fn restore(&self) -> Result<RestoreReport> {
        lock(&self.infra_ok).clear();
        let st = self.store.load()?;
        let mut report = RestoreReport::default();
        // Port rules are re-added below from the endpoint records: a crash between adding
        // an element and committing its endpoint must not leave a rule without a record.
        self.nft.flush_ports();
        for n in st.networks.values() {
            let has_eps = st.endpoints_of(&n.id).next().is_some();
            if !n.predefined || has_eps {
                self.ensure_infra(n)?;
            }
        }
        for e in st.endpoints.values() {
            let Some(n) = st.networks.get(&e.network_id) else {
                continue;
            };
            if matches!(n.driver, Driver::Host | Driver::Null) {
                report
                    .restored
                    .push((n.name.clone(), e.container_id.clone()));
                continue;
            }
            if !crate::netns::exists(&e.netns) {
                report.stale.push((n.name.clone(), e.container_id.clone()));
                continue;
            }
            if !link::live_in(&e.netns, &e.if_name, e.ip) {
                self.attach(
                    &n.id,
                    AttachRequest {
                        container_id: e.container_id.clone(),
                        container_name: e.container_name.clone(),
                        netns: e.netns.clone(),
                        aliases: e.aliases.clone(),
                        ip: None,
                        ports: vec![],
                    },
                )?;
            } else {
                self.nft.add_ports(&self.dnat_entries(e))?;
                if n.is_user_defined() {
                    self.ensure_dns(&e.container_id, &e.netns)?;
                }
            }
            report
                .restored
                .push((n.name.clone(), e.container_id.clone()));
        }
        Ok(report)
    }

    /// Daemon shutdown (tests): stop DNS servers, delete every veth and bridge this daemon's
    /// networks made and its nft table. Records stay in the DB (`restore` re-creates).
    pub fn cleanup_all(&self) -> Result<()> {
        let _g = lock(&self.lock);
        lock(&self.dns).clear();
        lock(&self.infra_ok).clear();
        let st = self.store.load()?;
        for e in st.endpoints.values() {
            if let Some(h) = &e.host_if {
                let _ = link::delete_link(h);
            }
            if let Some(n) = st.networks.get(&e.network_id) {
                if matches!(n.driver, Driver::Macvlan | Driver::Ipvlan) && !e.if_name.is_empty() {
                    link::remove_iface(&e.netns, &e.if_name, None);
                }
            }
        }
        for n in st.networks.values() {
            if n.driver == Driver::Bridge {
                if let Some(br) = &n.interface {
                    link::iptables_forward_accept(br, false);
                    let _ = link::delete_bridge(br);
                }
            }
        }
        self.nft.delete_table();
        crate::netns::release_dir(&self.cfg.exec_root.join("netns"));
        Ok(())
    }
}

/// Whether `proto` `ip:port` can be bound on the host right now.
fn host_port_free(proto: Proto, ip: Ipv4Addr, port: u16) -> bool {
    try_bind(proto, ip, port).is_ok()
}

fn try_bind(proto: Proto, ip: Ipv4Addr, port: u16) -> std::io::Result<()> {
    let addr = SocketAddr::from((ip, port));
    match proto {
        Proto::Tcp => TcpListener::bind(addr).map(|_| ()),
        Proto::Udp => UdpSocket::bind(addr).map(|_| ()),
    }
}

fn resolve_name(store: &Store, container_id: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
    let st = store.load().ok()?;
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let my_nets: Vec<&NetworkRecord> = st
        .endpoints
        .values()
        .filter(|e| e.container_id == container_id)
        .filter_map(|e| st.networks.get(&e.network_id))
        .filter(|n| n.is_user_defined())
        .collect();
    let mut ips = Vec::new();
    for n in my_nets {
        let suffix = format!(".{}", n.name.to_ascii_lowercase());
        let base = name.strip_suffix(&suffix).unwrap_or(&name);
        for e in st.endpoints_of(&n.id) {
            let Some(ip) = e.ip else { continue };
            let hit = e.container_name.eq_ignore_ascii_case(base)
                || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(base))
                || (base.len() == 12 && e.container_id.starts_with(base));
            if hit && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    if ips.is_empty() {
        None
    } else {
        Some(ips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<NetworkManager>();
    }

    #[test]
    fn create_request_from_docker() {
        let v = json!({"Name": "n", "Driver": "bridge", "Internal": true,
            "IPAM": {"Config": [{"Subnet": "10.231.1.0/24", "Gateway": "10.231.1.254"}]},
            "Labels": {"a": "b"}, "Options": {"com.docker.network.driver.mtu": "1400"}});
        let r = CreateRequest::from_docker_json(&v).unwrap();
        assert_eq!(r.subnet.as_deref(), Some("10.231.1.0/24"));
        assert_eq!(r.gateway.as_deref(), Some("10.231.1.254"));
        assert!(r.internal);
        assert_eq!(r.labels.get("a").map(String::as_str), Some("b"));
        assert!(CreateRequest::from_docker_json(&json!({})).is_err());
    }
}
