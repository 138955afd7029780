//! Container networking: the engine side of the `network` crate.
//!
//! `HostConfig.NetworkMode` decides the namespace: `bridge` (default), `none` and user
//! networks get their own netns at `E/netns/<id>` (made at the first start, kept across
//! stop/start so a restarted container keeps its address, removed at rm); `host` gets no
//! network namespace entry; `container:<x>` joins x's netns. Extra networks live in
//! `NetworkingConfig.EndpointsConfig` (also what `network connect` adds to), so the
//! container record is the one list of what a container should be attached to; the network
//! crate's store holds the endpoints themselves (addresses, ports), which survive a daemon
//! restart, so inspect reads them from there.

use crate::engine::{blocking, Engine};
use crate::error::{EngineError, Result};
use crate::types::Container;
use network::{AttachRequest, Driver, NetworkError, NetworkManager, NetworkMode, PortBinding};
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl From<NetworkError> for EngineError {
    fn from(e: NetworkError) -> Self {
        let msg = e.to_string();
        match e.status() {
            400 => EngineError::InvalidParameter(msg),
            403 | 409 => EngineError::Conflict(msg),
            404 => EngineError::NotFound(msg),
            _ => EngineError::Internal(msg),
        }
    }
}

/// One network a container asks for: its name/id and endpoint settings.
#[derive(Debug, Clone, Default)]
struct Wanted {
    network: String,
    aliases: Vec<String>,
    ip: Option<Ipv4Addr>,
}

/// The network namespace the OCI config should use.
#[derive(Debug, Clone)]
pub enum NetnsChoice {
    /// The host's (no `network` namespace entry).
    Host,
    /// Join the netns at this path.
    Path(PathBuf),
}

fn endpoint_settings<'a>(c: &'a Container, network: &str) -> Option<&'a Value> {
    c.networking_config
        .get("EndpointsConfig")?
        .as_object()?
        .get(network)
}

fn parse_settings(network: &str, s: Option<&Value>) -> Result<Wanted> {
    let mut w = Wanted {
        network: network.to_string(),
        ..Default::default()
    };
    let Some(s) = s else { return Ok(w) };
    w.aliases = s["Aliases"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ip = s["IPAMConfig"]["IPv4Address"]
        .as_str()
        .or_else(|| s["IPAddress"].as_str())
        .unwrap_or("");
    if !ip.is_empty() {
        w.ip =
            Some(ip.parse().map_err(|_| {
                EngineError::InvalidParameter(format!("invalid IPv4 address: {ip}"))
            })?);
    }
    Ok(w)
}

/// The networks a container should be attached to: the NetworkMode one first, then the
/// other `EndpointsConfig` entries.
fn wanted(c: &Container) -> Result<Vec<Wanted>> {
    let mode = NetworkMode::parse(&c.host_config.network_mode);
    let Some(primary) = mode.network_name() else {
        return Ok(Vec::new());
    };
    let mut out = if c.primary_detached {
        // disconnected from its NetworkMode network: like `none` until connected again
        vec![parse_settings("none", None)?]
    } else {
        vec![parse_settings(
            primary,
            endpoint_settings(c, primary).or_else(|| {
                // docker's CLI keys the primary network's settings by the NetworkMode value,
                // which is `default` for the default bridge
                endpoint_settings(c, &c.host_config.network_mode)
            }),
        )?]
    };
    if let Some(eps) = c
        .networking_config
        .get("EndpointsConfig")
        .and_then(Value::as_object)
    {
        for (name, s) in eps {
            if name == primary || name == &c.host_config.network_mode {
                continue;
            }
            out.push(parse_settings(name, Some(s))?);
        }
    }
    if out.len() > 1 {
        // `none` after its NetworkMode network was disconnected, with others still connected
        out.retain(|w| w.network != "none");
    }
    Ok(out)
}

/// Published ports of a container: `PortBindings`, plus every exposed port with
/// `PublishAllPorts` (`-P`).
pub fn port_bindings(c: &Container) -> Result<Vec<PortBinding>> {
    let explicit = match c.host_config.extra.get("PortBindings") {
        Some(v) => network::ports::from_docker_bindings(v)?,
        None => Vec::new(),
    };
    let mut all = explicit.clone();
    let publish_all = c
        .host_config
        .extra
        .get("PublishAllPorts")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if publish_all {
        let exposed: Vec<String> = c
            .config
            .extra
            .get("ExposedPorts")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        all.extend(network::publish_all(&exposed, &explicit)?);
    }
    Ok(all)
}

/// `--add-host` entries, with Docker's `host-gateway` resolved to `gateway`.
pub(crate) fn extra_hosts_with(c: &Container, gateway: Option<&str>) -> Vec<(String, String)> {
    c.host_config
        .extra_hosts
        .iter()
        .flatten()
        .filter_map(|e| {
            let (n, ip) = e.split_once(':')?;
            let ip = match (ip, gateway) {
                ("host-gateway", Some(g)) => g,
                ("host-gateway", None) => return None,
                (ip, _) => ip,
            };
            Some((n.to_string(), ip.to_string()))
        })
        .collect()
}

impl Engine {
    /// What `--add-host NAME:host-gateway` means: the default bridge's gateway (dockerd's
    /// default when `--host-gateway-ip` is not given).
    pub(crate) fn host_gateway_ip(&self) -> Option<String> {
        self.network
            .get("bridge")
            .ok()
            .and_then(|n| n.gateway)
            .map(|g| g.to_string())
    }

    /// The network manager (shared with the API's `/networks` endpoints).
    pub fn networks(&self) -> &Arc<NetworkManager> {
        &self.network
    }

    /// Check a create request's networking: the network exists, `container:<x>` exists,
    /// ports parse and are allowed with the mode, `--ip` only on user networks.
    pub(crate) fn net_validate(&self, c: &Container) -> Result<()> {
        let mode = NetworkMode::parse(&c.host_config.network_mode);
        port_bindings(c)?;
        let has_bindings = c
            .host_config
            .extra
            .get("PortBindings")
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty());
        match &mode {
            NetworkMode::Container(x) => {
                self.resolve(x)?;
                if has_bindings {
                    return Err(EngineError::InvalidParameter(
                        "conflicting options: port publishing and the container type network mode"
                            .into(),
                    ));
                }
            }
            NetworkMode::None if has_bindings => {
                // docker ignores them for `host` (with a warning) and refuses them for `none`
                return Err(EngineError::InvalidParameter(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                ));
            }
            _ => {}
        }
        for w in wanted(c)? {
            let n = self.network.get(&w.network).map_err(|e| match e {
                NetworkError::NotFound(_) => {
                    EngineError::NotFound(format!("network {} not found", w.network))
                }
                other => other.into(),
            })?;
            if w.ip.is_some() && n.predefined {
                return Err(EngineError::InvalidParameter(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if !w.aliases.is_empty() && n.predefined {
                return Err(EngineError::InvalidParameter(
                    "network-scoped alias is supported only for containers in user defined networks"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// Blocking, at start: make (or reuse) the netns, attach the wanted networks, write
    /// `hosts` and `resolv.conf`. Returns what the OCI config should join. A failure undoes
    /// what this call made.
    pub(crate) fn net_setup(&self, c: &Container) -> Result<NetnsChoice> {
        let mode = NetworkMode::parse(&c.host_config.network_mode);
        let dir = self.paths.container_dir(&c.id);
        match &mode {
            NetworkMode::Host => {
                self.network.attach(
                    "host",
                    AttachRequest {
                        container_id: c.id.clone(),
                        container_name: c.name.clone(),
                        ..Default::default()
                    },
                )?;
                return Ok(NetnsChoice::Host);
            }
            NetworkMode::Container(x) => {
                let other = self.get(x)?;
                if !other.state.running {
                    return Err(EngineError::Conflict(format!(
                        "cannot join network namespace of a non running container: {}",
                        other.id
                    )));
                }
                // share its files as docker does
                let odir = self.paths.container_dir(&other.id);
                for f in ["hosts", "resolv.conf"] {
                    let _ = std::fs::copy(odir.join(f), dir.join(f));
                }
                return Ok(match self.netns_of(&other) {
                    Some(p) => NetnsChoice::Path(p),
                    None => NetnsChoice::Host,
                });
            }
            _ => {}
        }
        let path = self.network.config().netns_path(&c.id);
        let fresh = !network::netns::exists(&path);
        if fresh {
            let _ = std::fs::remove_file(&path);
            network::netns::create(&path)?;
        }
        let res = (|| -> Result<()> {
            let ports = port_bindings(c)?;
            let mut ports_given = false;
            for w in wanted(c)? {
                let n = self.network.get(&w.network)?;
                let give_ports = !ports_given && n.driver == Driver::Bridge && !n.internal;
                if give_ports {
                    ports_given = true;
                }
                self.network.attach(
                    &n.id,
                    AttachRequest {
                        container_id: c.id.clone(),
                        container_name: c.name.clone(),
                        netns: path.clone(),
                        aliases: w.aliases.clone(),
                        ip: w.ip,
                        ports: if give_ports {
                            ports.clone()
                        } else {
                            Vec::new()
                        },
                    },
                )?;
                if give_ports && !fresh {
                    // a start after a stop: the endpoint is still wired, its ports were
                    // withdrawn at the exit
                    self.network.publish(&n.id, &c.id, &ports)?;
                }
            }
            self.write_net_files(c)
        })();
        if let Err(e) = res {
            if fresh {
                let _ = self.network.detach_all(&c.id);
                let _ = network::netns::remove(&path);
            }
            return Err(e);
        }
        Ok(NetnsChoice::Path(path))
    }

    /// Rewrite `hosts` and `resolv.conf` of a container from its endpoints.
    pub(crate) fn write_net_files(&self, c: &Container) -> Result<()> {
        let dir = self.paths.container_dir(&c.id);
        let h = &c.host_config;
        let hosts = self.network.hosts_file(
            &c.id,
            &c.config.hostname,
            &extra_hosts_with(c, self.host_gateway_ip().as_deref()),
        )?;
        let resolv = self.network.resolv_conf(
            &c.id,
            h.dns.as_deref().unwrap_or(&[]),
            h.dns_search.as_deref().unwrap_or(&[]),
            h.dns_options.as_deref().unwrap_or(&[]),
        )?;
        write_atomic(&dir.join("hosts"), &hosts)?;
        write_atomic(&dir.join("resolv.conf"), &resolv)?;
        Ok(())
    }

    /// The netns file a container's processes live in (None = the host's).
    pub(crate) fn netns_of(&self, c: &Container) -> Option<PathBuf> {
        match NetworkMode::parse(&c.host_config.network_mode) {
            NetworkMode::Host => None,
            NetworkMode::Container(x) => match self.get(&x) {
                Ok(o) if o.id != c.id => self.netns_of(&o),
                _ => None,
            },
            _ => Some(self.network.config().netns_path(&c.id)),
        }
    }

    /// Blocking, at a container's exit: withdraw its published ports (docker frees them
    /// while a container is stopped); the address stays for the next start.
    pub(crate) fn net_stopped(&self, id: &str) {
        if let Err(e) = self.network.release_ports(id) {
            tracing::warn!("releasing ports of {id}: {e}");
        }
    }

    /// Blocking, at rm: detach every endpoint, then remove the netns.
    pub(crate) fn net_release(&self, id: &str) {
        if let Err(e) = self.network.detach_all(id) {
            tracing::warn!("detaching networks of {id}: {e}");
        }
        let path = self.network.config().netns_path(id);
        if let Err(e) = network::netns::remove(&path) {
            tracing::warn!("removing netns of {id}: {e}");
        }
    }

    /// After a daemon restart: re-create bridges, rules and DNS of the stored networks.
    /// Endpoints whose netns is gone are re-attached at the container's next start.
    pub(crate) async fn net_restore(self: &Arc<Self>) {
        let this = self.clone();
        let res = blocking(move || Ok(this.network.restore()?)).await;
        match res {
            Ok(r) => {
                for (net, id) in r.stale {
                    let running = self.get(&id).map(|c| c.state.running).unwrap_or(false);
                    if self.get(&id).is_err() {
                        // the container is gone: drop its endpoint
                        let mgr = self.network.clone();
                        let _ = blocking(move || Ok(mgr.detach(&net, &id)?)).await;
                    } else if running {
                        tracing::warn!("container {id} lost its network namespace");
                    }
                }
            }
            Err(e) => tracing::warn!("restoring networks: {e}"),
        }
    }

    /// `POST /networks/{id}/connect`: attach a container (a running one at once; a created or
    /// stopped one at its next start) and remember it in its `EndpointsConfig`.
    pub async fn network_connect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        settings: Value,
    ) -> Result<()> {
        let mut c = self.get(container)?;
        let n = self.network.get(network)?;
        let mode = NetworkMode::parse(&c.host_config.network_mode);
        if matches!(mode, NetworkMode::Host | NetworkMode::Container(_))
            || matches!(n.driver, Driver::Host | Driver::Null)
            || mode == NetworkMode::None
        {
            return Err(EngineError::Conflict(format!(
                "container sharing network namespace with another container or host cannot be connected to {} network",
                n.name
            )));
        }
        let reconnect_primary = c.primary_detached
            && mode
                .network_name()
                .and_then(|m| self.network.get(m).ok())
                .is_some_and(|x| x.id == n.id);
        // computed on the record as it is: a detached NetworkMode network is not "already"
        // connected (flipping `primary_detached` first made every reconnect a conflict)
        let already = self
            .network
            .container_endpoints(&c.id)?
            .iter()
            .any(|(x, _)| x.id == n.id)
            || wanted(&c)?.iter().any(|w| {
                self.network
                    .get(&w.network)
                    .map(|x| x.id == n.id)
                    .unwrap_or(false)
            });
        if already {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                c.name, n.name
            )));
        }
        if reconnect_primary {
            c.primary_detached = false;
        }
        let w = parse_settings(&n.name, Some(&settings))?;
        if (w.ip.is_some() || !w.aliases.is_empty()) && n.predefined {
            return Err(EngineError::InvalidParameter(
                "user specified IP address or alias is supported on user defined networks only"
                    .into(),
            ));
        }
        if c.state.running {
            let this = self.clone();
            let c2 = c.clone();
            let nid = n.id.clone();
            let w2 = w.clone();
            blocking(move || {
                let path = this
                    .netns_of(&c2)
                    .ok_or_else(|| EngineError::Internal("no netns".into()))?;
                // the `none` record a start without networks left behind
                let on_none = this
                    .network
                    .container_endpoints(&c2.id)?
                    .into_iter()
                    .find(|(x, _)| x.driver == Driver::Null);
                if let Some((none, _)) = on_none {
                    this.network.detach(&none.id, &c2.id)?;
                }
                this.network.attach(
                    &nid,
                    AttachRequest {
                        container_id: c2.id.clone(),
                        container_name: c2.name.clone(),
                        netns: path,
                        aliases: w2.aliases,
                        ip: w2.ip,
                        ports: Vec::new(),
                    },
                )?;
                this.write_net_files(&c2)
            })
            .await?;
        }
        let mut s = settings;
        if !s.is_object() {
            s = json!({});
        }
        if !c.networking_config.is_object() {
            c.networking_config = json!({});
        }
        if !c.networking_config["EndpointsConfig"].is_object() {
            c.networking_config["EndpointsConfig"] = json!({});
        }
        c.networking_config["EndpointsConfig"][n.name.as_str()] = s;
        // keep the newest state (the record may have changed while attaching)
        let mut latest = self.get(&c.id)?;
        latest.networking_config = c.networking_config;
        if reconnect_primary {
            latest.primary_detached = false;
        }
        self.save(&latest)?;
        self.publish_event(
            "network",
            &n.id,
            &n.name,
            "connect",
            [("container".to_string(), c.id.clone())].into(),
        );
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let c = self.get(container)?;
        let n = self.network.get(network)?;
        let in_config = wanted(&c)?.iter().any(|w| {
            self.network
                .get(&w.network)
                .map(|x| x.id == n.id)
                .unwrap_or(false)
        });
        let attached = self
            .network
            .container_endpoints(&c.id)?
            .iter()
            .any(|(x, _)| x.id == n.id);
        if !in_config && !attached {
            return Err(EngineError::NotFound(format!(
                "container {} is not connected to network {}",
                c.id, n.name
            )));
        }
        if matches!(n.driver, Driver::Host | Driver::Null) {
            return Err(EngineError::Conflict(format!(
                "container cannot be disconnected from {} network",
                n.name
            )));
        }
        if attached {
            let this = self.clone();
            let c2 = c.clone();
            let nid = n.id.clone();
            blocking(move || {
                this.network.detach(&nid, &c2.id)?;
                this.write_net_files(&c2)
            })
            .await?;
        }
        let mut latest = self.get(&c.id)?;
        if let Some(eps) = latest
            .networking_config
            .get_mut("EndpointsConfig")
            .and_then(Value::as_object_mut)
        {
            eps.retain(|k, _| {
                k != &n.name
                    && k != &n.id
                    && self.network.get(k).map(|x| x.id != n.id).unwrap_or(true)
            });
        }
        let mode = NetworkMode::parse(&latest.host_config.network_mode);
        if mode
            .network_name()
            .and_then(|m| self.network.get(m).ok())
            .is_some_and(|x| x.id == n.id)
        {
            // disconnecting the NetworkMode network: docker leaves the mode string (clients
            // such as docker-compose connect it again), so only remember it is detached
            latest.primary_detached = true;
        }
        self.save(&latest)?;
        self.publish_event(
            "network",
            &n.id,
            &n.name,
            "disconnect",
            [("container".to_string(), c.id.clone())].into(),
        );
        Ok(())
    }

    /// The `EndpointsConfig` entry a client gave for a network (by name, id, or the
    /// NetworkMode value for the mode's network).
    fn raw_settings<'a>(&self, c: &'a Container, name: &str, id: &str) -> Option<&'a Value> {
        let eps = c
            .networking_config
            .get("EndpointsConfig")
            .and_then(Value::as_object)?;
        if let Some(v) = eps.get(name).or_else(|| eps.get(id)) {
            return Some(v);
        }
        let mode = NetworkMode::parse(&c.host_config.network_mode);
        if mode.network_name() == Some(name) && !c.primary_detached {
            return eps.get(&c.host_config.network_mode);
        }
        None
    }

    /// Docker's `NetworkSettings` of a container (from the stored endpoints).
    pub fn network_settings(&self, c: &Container) -> Value {
        let eps = self.network.container_endpoints(&c.id).unwrap_or_default();
        let mut networks = serde_json::Map::new();
        let mut ports = Vec::new();
        let mut primary: Option<network::Endpoint> = None;
        for (n, e) in &eps {
            let ep = network::Endpoint {
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
            };
            let mut j = ep.to_docker_json();
            if n.is_user_defined() {
                let mut names = vec![c.name.clone(), c.short_id().to_string()];
                names.extend(e.aliases.iter().cloned());
                j["DNSNames"] = json!(names);
            }
            echo_settings(&mut j, self.raw_settings(c, &n.name, &n.id));
            add_legacy_aliases(&mut j, c, n.is_user_defined());
            networks.insert(n.name.clone(), j);
            ports.extend(e.ports.iter().cloned());
            // docker fills the top-level (legacy) fields from the default bridge only
            if n.predefined && n.driver == Driver::Bridge {
                primary = Some(ep);
            }
        }
        // networks the container is configured for but not attached to yet (created, or
        // connected while stopped): docker lists them with the settings as given
        if !matches!(
            NetworkMode::parse(&c.host_config.network_mode),
            NetworkMode::Container(_)
        ) {
            for w in wanted(c).unwrap_or_default() {
                if c.primary_detached && w.network == "none" {
                    continue;
                }
                let rec = self.network.get(&w.network).ok();
                let name = rec.as_ref().map(|r| r.name.clone()).unwrap_or(w.network);
                if networks.contains_key(&name) {
                    continue;
                }
                let mut j = blank_endpoint();
                let id = rec.as_ref().map(|r| r.id.clone()).unwrap_or_default();
                echo_settings(&mut j, self.raw_settings(c, &name, &id));
                add_legacy_aliases(&mut j, c, rec.is_some_and(|r| r.is_user_defined()));
                networks.insert(name, j);
            }
        }
        let mut ports_json = network::ports::to_docker_ports(&ports);
        // exposed but unpublished ports show as null
        if let (Some(obj), Some(exp)) = (
            ports_json.as_object_mut(),
            c.config
                .extra
                .get("ExposedPorts")
                .and_then(Value::as_object),
        ) {
            if c.state.running {
                for k in exp.keys() {
                    obj.entry(k.clone()).or_insert(Value::Null);
                }
            }
        }
        let p = primary.as_ref();
        let own = c.state.running && self.netns_of(c).is_some();
        json!({
            "Bridge": "",
            "SandboxID": if own { c.id.clone() } else { String::new() },
            "SandboxKey": if own { self.netns_of(c).map(|p| p.display().to_string()).unwrap_or_default() } else { String::new() },
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports_json,
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": p.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
            "Gateway": p.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": p.and_then(|e| e.ip).map(|g| g.to_string()).unwrap_or_default(),
            "IPPrefixLen": p.filter(|e| e.ip.is_some()).map(|e| e.prefix_len).unwrap_or(0),
            "IPv6Gateway": "",
            "MacAddress": p.map(|e| e.mac.clone()).unwrap_or_default(),
            "Networks": networks,
        })
    }

    /// `GET /containers/json` `Ports`: `[{IP, PrivatePort, PublicPort, Type}]`.
    pub fn ports_list(&self, c: &Container) -> Value {
        let mut out = Vec::new();
        for (_, e) in self.network.container_endpoints(&c.id).unwrap_or_default() {
            for m in e.ports {
                out.push(json!({
                    "IP": m.host_ip.to_string(),
                    "PrivatePort": m.container_port,
                    "PublicPort": m.host_port,
                    "Type": m.proto.as_str(),
                }));
            }
        }
        if out.is_empty() && c.state.running {
            if let Some(exp) = c
                .config
                .extra
                .get("ExposedPorts")
                .and_then(Value::as_object)
            {
                for k in exp.keys() {
                    let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                    if let Ok(p) = p.parse::<u16>() {
                        out.push(json!({"PrivatePort": p, "Type": proto}));
                    }
                }
            }
        }
        Value::Array(out)
    }
}

/// An `EndpointSettings` object with nothing set (docker's shape for an unattached network).
fn blank_endpoint() -> Value {
    json!({
        "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
        "DriverOpts": null, "NetworkID": "", "EndpointID": "", "Gateway": "",
        "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null
    })
}

/// Copy the client-given endpoint fields (`IPAMConfig`, `Links`, `Aliases`, `MacAddress`,
/// `DriverOpts`) into an `EndpointSettings` object, as docker echoes them.
fn echo_settings(j: &mut Value, given: Option<&Value>) {
    let Some(g) = given.and_then(Value::as_object) else {
        return;
    };
    for key in ["IPAMConfig", "Links", "DriverOpts"] {
        if let Some(v) = g.get(key).filter(|v| !v.is_null()) {
            j[key] = v.clone();
        }
    }
    if let Some(a) = g.get("Aliases").and_then(Value::as_array) {
        let mut all: Vec<Value> = a.clone();
        if let Some(have) = j["Aliases"].as_array() {
            for x in have {
                if !all.contains(x) {
                    all.push(x.clone());
                }
            }
        }
        j["Aliases"] = Value::Array(all);
    }
    if let Some(m) = g.get("MacAddress").and_then(Value::as_str) {
        if !m.is_empty() && j["MacAddress"].as_str().unwrap_or("").is_empty() {
            j["MacAddress"] = json!(m);
        }
    }
}

/// moby for API < 1.45 (berth serves at most 1.44): on user-defined networks `Aliases` also
/// holds the short id and the hostname (docker-compose 1.29 relies on it).
fn add_legacy_aliases(j: &mut Value, c: &Container, user_defined: bool) {
    if !user_defined {
        return;
    }
    let mut a: Vec<Value> = j["Aliases"].as_array().cloned().unwrap_or_default();
    for extra in [c.short_id(), c.config.hostname.as_str()] {
        let v = json!(extra);
        if !extra.is_empty() && !a.contains(&v) {
            a.push(v);
        }
    }
    j["Aliases"] = Value::Array(a);
}

/// Point the spec's `network` namespace at the chosen netns (or drop it for the host's).
pub fn apply_netns(spec: &mut Value, choice: &NetnsChoice) {
    let Some(list) = spec["linux"]["namespaces"].as_array_mut() else {
        return;
    };
    list.retain(|n| n["type"] != "network");
    if let NetnsChoice::Path(p) = choice {
        list.push(json!({"type": "network", "path": p.display().to_string()}));
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    // in place: the file may be bind-mounted into a running container already
    std::fs::write(path, text)?;
    Ok(())
}
