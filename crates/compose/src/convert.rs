//! The Docker Engine API bodies of a project: `POST /containers/create` for each replica,
//! `POST /networks/create`, `POST /volumes/create`, with docker compose's labels.

use serde_json::{json, Map, Value};

use crate::error::{invalid, Result};
use crate::model::{PortEntry, StrOrList, VolumeEntry};
use crate::project::{is_path, Project};
use crate::units::{duration_ns, size_bytes};

/// Label keys docker compose puts on what it creates.
pub mod labels {
    /// Project name.
    pub const PROJECT: &str = "com.docker.compose.project";
    /// Service name.
    pub const SERVICE: &str = "com.docker.compose.service";
    /// Replica number.
    pub const NUMBER: &str = "com.docker.compose.container-number";
    /// `True` for `run` containers.
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    /// Hash of the service configuration.
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    /// Compose version that made it.
    pub const VERSION: &str = "com.docker.compose.version";
    /// Network key.
    pub const NETWORK: &str = "com.docker.compose.network";
    /// Volume key.
    pub const VOLUME: &str = "com.docker.compose.volume";
    /// Image ID the container was made from.
    pub const IMAGE: &str = "com.docker.compose.image";
    /// Project directory.
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    /// Compose files.
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    /// depends_on as `svc:condition:required` list.
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
}

/// The version written in `com.docker.compose.version`.
pub const COMPOSE_VERSION: &str = "2.0.0-berth";

/// One published port: (host ip, host port or "" for any, container port, protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Host address ("" = all).
    pub host_ip: String,
    /// Host port ("" = ephemeral).
    pub host_port: String,
    /// Container port.
    pub container: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

fn range(text: &str, path: &str) -> Result<(u16, u16)> {
    let bad = || invalid(path, format!("invalid port {text:?}"));
    let (a, b) = match text.split_once('-') {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses one `ports:` entry (short `[ip:][host:]container[/proto]` with ranges, or long).
pub fn parse_port(entry: &PortEntry, path: &str) -> Result<Vec<PortSpec>> {
    match entry {
        PortEntry::Long(l) => {
            let proto = l.protocol.clone().unwrap_or_else(|| "tcp".into());
            if proto != "tcp" && proto != "udp" {
                return Err(invalid(path, format!("invalid protocol {proto:?}")));
            }
            if let Some(m) = &l.mode {
                if m != "ingress" && m != "host" {
                    return Err(invalid(path, format!("invalid port mode {m:?}")));
                }
            }
            let published = match &l.published {
                None => String::new(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(invalid(path, "published must be a port number")),
            };
            if !published.is_empty() {
                range(&published, path)?;
            }
            if l.target == 0 {
                return Err(invalid(path, "target port must not be 0"));
            }
            Ok(vec![PortSpec {
                host_ip: l.host_ip.clone().unwrap_or_default(),
                host_port: published,
                container: l.target,
                proto,
            }])
        }
        PortEntry::Short(s) => {
            let (body, proto) = match s.rsplit_once('/') {
                Some((b, p)) => (b, p.to_string()),
                None => (s.as_str(), "tcp".to_string()),
            };
            if proto != "tcp" && proto != "udp" {
                return Err(invalid(path, format!("invalid protocol in port {s:?}")));
            }
            // an IPv6 host address is written in brackets: [::1]:8080:80
            let (ip, rest) = if let Some(r) = body.strip_prefix('[') {
                let (ip, rest) = r
                    .split_once("]:")
                    .ok_or_else(|| invalid(path, format!("invalid port {s:?}")))?;
                (ip.to_string(), rest.to_string())
            } else {
                let parts: Vec<&str> = body.split(':').collect();
                match parts.len() {
                    1 | 2 => (String::new(), body.to_string()),
                    3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
                    _ => return Err(invalid(path, format!("invalid port {s:?}"))),
                }
            };
            let (host, cont) = match rest.split_once(':') {
                Some((h, c)) => (h.to_string(), c.to_string()),
                None => (String::new(), rest.clone()),
            };
            let (c0, c1) = range(&cont, path)?;
            let host_range = if host.is_empty() {
                None
            } else {
                Some(range(&host, path)?)
            };
            if let Some((h0, h1)) = host_range {
                if h1 - h0 != c1 - c0 && h0 != h1 {
                    return Err(invalid(
                        path,
                        format!("invalid port {s:?}: host and container ranges differ in size"),
                    ));
                }
            }
            let mut out = Vec::new();
            for (i, c) in (c0..=c1).enumerate() {
                let host_port = match host_range {
                    None => String::new(),
                    Some((h0, h1)) if h0 == h1 => h0.to_string(),
                    Some((h0, _)) => (h0 + i as u16).to_string(),
                };
                out.push(PortSpec {
                    host_ip: ip.clone(),
                    host_port,
                    container: c,
                    proto: proto.clone(),
                });
            }
            Ok(out)
        }
    }
}

/// One resolved mount of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// A host path.
    Bind {
        /// Absolute host path.
        source: String,
        /// Container path.
        target: String,
        /// Read-only.
        read_only: bool,
        /// Create the host path when missing.
        create: bool,
    },
    /// A project volume (by key).
    Volume {
        /// Volume key (top-level `volumes:`).
        key: String,
        /// Container path.
        target: String,
        /// Read-only.
        read_only: bool,
        /// Do not copy image data in.
        nocopy: bool,
    },
    /// An anonymous volume.
    Anonymous {
        /// Container path.
        target: String,
    },
    /// A tmpfs.
    Tmpfs {
        /// Container path.
        target: String,
        /// Size in bytes.
        size: Option<i64>,
    },
}

fn check_target(t: &str, path: &str) -> Result<()> {
    if !t.starts_with('/') {
        return Err(invalid(
            path,
            format!("invalid mount target {t:?}: must be an absolute path"),
        ));
    }
    Ok(())
}

/// Parses one `volumes:` entry of a service.
pub fn parse_volume(entry: &VolumeEntry, path: &str) -> Result<MountSpec> {
    match entry {
        VolumeEntry::Short(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (src, dst, mode) = match parts.as_slice() {
                [d] => (None, *d, None),
                [a, b] => (Some(*a), *b, None),
                [a, b, m] => (Some(*a), *b, Some(*m)),
                _ => return Err(invalid(path, format!("invalid volume specification {s:?}"))),
            };
            check_target(dst, path)?;
            let mut read_only = false;
            if let Some(m) = mode {
                for opt in m.split(',') {
                    match opt {
                        "ro" => read_only = true,
                        "rw" | "z" | "Z" | "nocopy" => {}
                        o => {
                            return Err(invalid(
                                path,
                                format!("invalid volume mode {o:?} in {s:?}"),
                            ))
                        }
                    }
                }
            }
            Ok(match src {
                None => MountSpec::Anonymous { target: dst.into() },
                Some("") => {
                    return Err(invalid(path, format!("invalid volume specification {s:?}")))
                }
                Some(src) if is_path(src) => MountSpec::Bind {
                    source: src.into(),
                    target: dst.into(),
                    read_only,
                    create: true,
                },
                Some(src) => MountSpec::Volume {
                    key: src.into(),
                    target: dst.into(),
                    read_only,
                    nocopy: mode.is_some_and(|m| m.contains("nocopy")),
                },
            })
        }
        VolumeEntry::Long(l) => {
            check_target(&l.target, path)?;
            match l.kind.as_str() {
                "bind" => {
                    let source = l.source.clone().ok_or_else(|| invalid(path, "a bind mount needs a source"))?;
                    let create = l.bind.as_ref().and_then(|b| b.create_host_path).unwrap_or(false);
                    Ok(MountSpec::Bind { source, target: l.target.clone(), read_only: l.read_only, create })
                }
                "volume" => Ok(match &l.source {
                    None => MountSpec::Anonymous { target: l.target.clone() },
                    Some(k) => MountSpec::Volume {
                        key: k.clone(),
                        target: l.target.clone(),
                        read_only: l.read_only,
                        nocopy: l.volume.as_ref().is_some_and(|v| v.nocopy),
                    },
                }),
                "tmpfs" => {
                    let size = match l.tmpfs.as_ref().and_then(|t| t.size.as_ref()) {
                        None => None,
                        Some(Value::Number(n)) => n.as_i64(),
                        Some(Value::String(s)) => Some(size_bytes(s).map_err(|m| invalid(format!("{path}.tmpfs.size"), m))?),
                        Some(_) => return Err(invalid(format!("{path}.tmpfs.size"), "must be a size")),
                    };
                    Ok(MountSpec::Tmpfs { target: l.target.clone(), size })
                }
                other => Err(invalid(format!("{path}.type"), format!("volume type {other:?} is not implemented by berth compose (bind, volume, tmpfs)"))),
            }
        }
    }
}

/// Splits a command string as a POSIX shell would (quotes and backslashes, no expansion).
pub fn shell_split(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unterminated quote in {s:?}")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn args(v: &StrOrList, path: &str) -> Result<Vec<String>> {
    match v {
        StrOrList::List(l) => Ok(l.clone()),
        StrOrList::Str(s) => shell_split(s).map_err(|m| invalid(path, m)),
    }
}

fn restart_policy(r: &str, path: &str) -> Result<Value> {
    let (name, count) = match r.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>()
                .map_err(|_| invalid(path, format!("invalid restart policy {r:?}")))?,
        ),
        None => (r, 0),
    };
    match name {
        "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => {
            return Err(invalid(
                path,
                format!(
                    "invalid restart policy {r:?} (no, always, on-failure[:N], unless-stopped)"
                ),
            ))
        }
    }
    if count != 0 && name != "on-failure" {
        return Err(invalid(
            path,
            format!("invalid restart policy {r:?}: a retry count only goes with on-failure"),
        ));
    }
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// What a container is made for: a replica (`number`) or a `run` one-off.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Replica number (one-offs: 1).
    pub number: u32,
    /// A `run` container.
    pub oneoff: bool,
    /// The image ID it is made from (written in `com.docker.compose.image`).
    pub image_id: String,
    /// The service config hash.
    pub config_hash: String,
    /// Publish the service's ports (false for `run` without `--service-ports`).
    pub publish: bool,
    /// The container's name (aliases use it too).
    pub name: String,
}

/// The `POST /containers/create` body of one container of `service`.
pub fn container_body(p: &Project, service: &str, inst: &Instance) -> Result<Value> {
    let s = &p.model.services[service];
    let sp = format!("services.{service}");
    let mut labels = Map::new();
    for (k, v) in &s.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert(labels::PROJECT.into(), json!(p.name));
    labels.insert(labels::SERVICE.into(), json!(service));
    labels.insert(labels::NUMBER.into(), json!(inst.number.to_string()));
    labels.insert(
        labels::ONEOFF.into(),
        json!(if inst.oneoff { "True" } else { "False" }),
    );
    labels.insert(labels::CONFIG_HASH.into(), json!(inst.config_hash));
    labels.insert(labels::VERSION.into(), json!(COMPOSE_VERSION));
    labels.insert(labels::IMAGE.into(), json!(inst.image_id));
    labels.insert(
        labels::WORKING_DIR.into(),
        json!(p.dir.display().to_string()),
    );
    labels.insert(
        labels::CONFIG_FILES.into(),
        json!(p
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(",")),
    );
    let deps: Vec<String> = s
        .depends_on
        .iter()
        .map(|(n, d)| format!("{n}:{}:{}", d.condition, d.required.unwrap_or(true)))
        .collect();
    labels.insert(labels::DEPENDS_ON.into(), json!(deps.join(",")));

    let env: Vec<String> = s
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let mut cfg = json!({
        "Image": p.image_of(service),
        "Labels": labels,
        "Env": env,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": s.tty.unwrap_or(false),
        "OpenStdin": s.stdin_open.unwrap_or(false),
    });
    if let Some(c) = &s.command {
        cfg["Cmd"] = json!(args(c, &format!("{sp}.command"))?);
    }
    if let Some(e) = &s.entrypoint {
        cfg["Entrypoint"] = json!(args(e, &format!("{sp}.entrypoint"))?);
    }
    for (key, field, value) in [
        ("user", "User", &s.user),
        ("working_dir", "WorkingDir", &s.working_dir),
        ("hostname", "Hostname", &s.hostname),
        ("domainname", "Domainname", &s.domainname),
        ("stop_signal", "StopSignal", &s.stop_signal),
    ] {
        if let Some(v) = value {
            if key == "working_dir" && !v.starts_with('/') {
                return Err(invalid(
                    format!("{sp}.working_dir"),
                    "must be an absolute path",
                ));
            }
            cfg[field] = json!(v);
        }
    }
    if let Some(g) = &s.stop_grace_period {
        let ns = duration_ns(g).map_err(|m| invalid(format!("{sp}.stop_grace_period"), m))?;
        cfg["StopTimeout"] = json!(ns / 1_000_000_000);
    }
    if let Some(h) = &s.healthcheck {
        cfg["Healthcheck"] = healthcheck(h, &format!("{sp}.healthcheck"))?;
    }

    let mut host = json!({
        "RestartPolicy": {"Name": "no"},
        "Privileged": s.privileged.unwrap_or(false),
        "ReadonlyRootfs": s.read_only.unwrap_or(false),
        "AutoRemove": false,
    });
    if let Some(r) = &s.restart {
        host["RestartPolicy"] = restart_policy(r, &format!("{sp}.restart"))?;
    }
    if let Some(i) = s.init {
        host["Init"] = json!(i);
    }
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for (i, e) in s.ports.iter().enumerate() {
        for ps in parse_port(e, &format!("{sp}.ports[{i}]"))? {
            let key = format!("{}/{}", ps.container, ps.proto);
            exposed.insert(key.clone(), json!({}));
            if inst.publish {
                let list = bindings.entry(key).or_insert_with(|| json!([]));
                if let Value::Array(a) = list {
                    a.push(json!({"HostIp": ps.host_ip, "HostPort": ps.host_port}));
                }
            }
        }
    }
    for (i, e) in s.expose.iter().enumerate() {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (a, b) = range(port, &format!("{sp}.expose[{i}]"))?;
        for c in a..=b {
            exposed.insert(format!("{c}/{proto}"), json!({}));
        }
    }
    if !exposed.is_empty() {
        cfg["ExposedPorts"] = Value::Object(exposed);
    }
    if !bindings.is_empty() {
        host["PortBindings"] = Value::Object(bindings);
    }
    let mut mounts = Vec::new();
    let mut binds = Vec::new();
    for (i, e) in s.volumes.iter().enumerate() {
        let path = format!("{sp}.volumes[{i}]");
        match parse_volume(e, &path)? {
            MountSpec::Bind {
                source,
                target,
                read_only,
                create: true,
            } => {
                binds.push(format!(
                    "{source}:{target}{}",
                    if read_only { ":ro" } else { "" }
                ));
            }
            MountSpec::Bind {
                source,
                target,
                read_only,
                create: false,
            } => {
                mounts.push(json!({"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only}));
            }
            MountSpec::Volume {
                key,
                target,
                read_only,
                nocopy,
            } => {
                if !p.model.volumes.contains_key(&key) {
                    return Err(invalid(path, format!("service {service:?} refers to undefined volume {key}: invalid compose project")));
                }
                let mut m = json!({"Type": "volume", "Source": p.volume_name(&key), "Target": target, "ReadOnly": read_only});
                if nocopy {
                    m["VolumeOptions"] = json!({"NoCopy": true});
                }
                mounts.push(m);
            }
            MountSpec::Anonymous { target } => {
                mounts.push(json!({"Type": "volume", "Target": target}))
            }
            MountSpec::Tmpfs { target, size } => {
                let mut m = json!({"Type": "tmpfs", "Target": target});
                if let Some(sz) = size {
                    m["TmpfsOptions"] = json!({"SizeBytes": sz});
                }
                mounts.push(m);
            }
        }
    }
    if !binds.is_empty() {
        host["Binds"] = json!(binds);
    }
    if !mounts.is_empty() {
        host["Mounts"] = json!(mounts);
    }
    if !s.tmpfs.is_empty() {
        let mut t = Map::new();
        for (i, e) in s.tmpfs.iter().enumerate() {
            let (target, opts) = e.split_once(':').unwrap_or((e, ""));
            check_target(target, &format!("{sp}.tmpfs[{i}]"))?;
            t.insert(target.to_string(), json!(opts));
        }
        host["Tmpfs"] = Value::Object(t);
    }
    if !s.extra_hosts.is_empty() {
        host["ExtraHosts"] = json!(s
            .extra_hosts
            .iter()
            .map(|(h, ip)| format!("{h}:{ip}"))
            .collect::<Vec<_>>());
    }
    for (field, list) in [
        ("Dns", &s.dns),
        ("DnsSearch", &s.dns_search),
        ("CapAdd", &s.cap_add),
        ("CapDrop", &s.cap_drop),
    ] {
        if !list.is_empty() {
            host[field] = json!(list);
        }
    }
    if !s.sysctls.is_empty() {
        host["Sysctls"] = json!(s.sysctls);
    }
    if let Some(v) = &s.shm_size {
        host["ShmSize"] = json!(size_bytes(v).map_err(|m| invalid(format!("{sp}.shm_size"), m))?);
    }
    if let Some(v) = &s.mem_limit {
        host["Memory"] = json!(size_bytes(v).map_err(|m| invalid(format!("{sp}.mem_limit"), m))?);
    }

    // networks: the first is the NetworkMode one; every one gets the service name as alias
    let nets = p.service_networks(service);
    let mut endpoints = Map::new();
    for key in &nets {
        let settings = s
            .networks
            .as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .flatten()
            .unwrap_or_default();
        let mut aliases = vec![service.to_string()];
        if !inst.oneoff {
            aliases.push(inst.name.clone());
        }
        aliases.extend(settings.aliases.iter().cloned());
        let mut ep = json!({"Aliases": aliases});
        if let Some(ip) = &settings.ipv4_address {
            if ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(invalid(
                    format!("{sp}.networks.{key}.ipv4_address"),
                    format!("invalid IPv4 address {ip:?}"),
                ));
            }
            ep["IPAMConfig"] = json!({"IPv4Address": ip});
        }
        endpoints.insert(p.network_name(key), ep);
    }
    if let Some(first) = nets.first() {
        host["NetworkMode"] = json!(p.network_name(first));
    }
    cfg["HostConfig"] = host;
    cfg["NetworkingConfig"] = json!({"EndpointsConfig": endpoints});
    Ok(cfg)
}

fn healthcheck(h: &crate::model::Healthcheck, path: &str) -> Result<Value> {
    if h.disable {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let mut out = Map::new();
    if let Some(t) = &h.test {
        let test = match t {
            StrOrList::Str(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            StrOrList::List(l) => {
                match l.first().map(String::as_str) {
                    Some("CMD") | Some("CMD-SHELL") | Some("NONE") => {}
                    _ => {
                        return Err(invalid(
                            format!("{path}.test"),
                            "a list test must start with CMD, CMD-SHELL or NONE",
                        ))
                    }
                }
                l.clone()
            }
        };
        out.insert("Test".into(), json!(test));
    }
    for (key, field, v) in [
        ("interval", "Interval", &h.interval),
        ("timeout", "Timeout", &h.timeout),
        ("start_period", "StartPeriod", &h.start_period),
        ("start_interval", "StartInterval", &h.start_interval),
    ] {
        if let Some(v) = v {
            out.insert(
                field.into(),
                json!(duration_ns(v).map_err(|m| invalid(format!("{path}.{key}"), m))?),
            );
        }
    }
    if let Some(r) = h.retries {
        out.insert("Retries".into(), json!(r));
    }
    Ok(Value::Object(out))
}

/// The `POST /networks/create` body of a (non-external) network key.
pub fn network_body(p: &Project, key: &str) -> Value {
    let def = p
        .model
        .networks
        .get(key)
        .cloned()
        .flatten()
        .unwrap_or_default();
    let mut labels = Map::new();
    for (k, v) in &def.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert(labels::NETWORK.into(), json!(key));
    labels.insert(labels::PROJECT.into(), json!(p.name));
    labels.insert(labels::VERSION.into(), json!(COMPOSE_VERSION));
    let mut body = json!({
        "Name": p.network_name(key),
        "Driver": def.driver.clone().unwrap_or_else(|| "bridge".into()),
        "Internal": def.internal,
        "Labels": labels,
        "CheckDuplicate": true,
    });
    if let Some(ipam) = &def.ipam {
        let config: Vec<Value> = ipam
            .config
            .iter()
            .map(|c| {
                let mut m = Map::new();
                if let Some(s) = &c.subnet {
                    m.insert("Subnet".into(), json!(s));
                }
                if let Some(g) = &c.gateway {
                    m.insert("Gateway".into(), json!(g));
                }
                if let Some(r) = &c.ip_range {
                    m.insert("IPRange".into(), json!(r));
                }
                Value::Object(m)
            })
            .collect();
        body["IPAM"] = json!({"Driver": ipam.driver.clone().unwrap_or_else(|| "default".into()), "Config": config});
    }
    body
}

/// The `POST /volumes/create` body of a (non-external) volume key.
pub fn volume_body(p: &Project, key: &str) -> Value {
    let def = p
        .model
        .volumes
        .get(key)
        .cloned()
        .flatten()
        .unwrap_or_default();
    let mut labels = Map::new();
    for (k, v) in &def.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert(labels::VOLUME.into(), json!(key));
    labels.insert(labels::PROJECT.into(), json!(p.name));
    labels.insert(labels::VERSION.into(), json!(COMPOSE_VERSION));
    json!({
        "Name": p.volume_name(key),
        "Driver": def.driver.clone().unwrap_or_else(|| "local".into()),
        "DriverOpts": def.driver_opts,
        "Labels": labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(s: &str) -> Result<Vec<PortSpec>> {
        parse_port(&PortEntry::Short(s.into()), "p")
    }

    #[test]
    fn port_short_syntax() {
        let p = short("8080:80").unwrap();
        assert_eq!(
            p,
            vec![PortSpec {
                host_ip: "".into(),
                host_port: "8080".into(),
                container: 80,
                proto: "tcp".into()
            }]
        );
        let p = short("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (p[0].host_ip.as_str(), p[0].proto.as_str()),
            ("127.0.0.1", "udp")
        );
        let p = short("127.0.0.1::80").unwrap();
        assert_eq!(p[0].host_port, "");
        let p = short("9000-9001:90-91").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].host_port.as_str(), p[1].container), ("9001", 91));
        assert_eq!(short("[::1]:8080:80").unwrap()[0].host_ip, "::1");
        assert_eq!(short("80").unwrap()[0].host_port, "");
        for bad in [
            "x:80",
            "80:0",
            "1:2:3:4",
            "80/sctp",
            "9000-9002:90-91",
            "70000",
        ] {
            assert!(short(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volume_short_syntax() {
        let v = |s: &str| parse_volume(&VolumeEntry::Short(s.into()), "v");
        assert_eq!(
            v("/data").unwrap(),
            MountSpec::Anonymous {
                target: "/data".into()
            }
        );
        assert_eq!(
            v("db:/var/lib/db:ro").unwrap(),
            MountSpec::Volume {
                key: "db".into(),
                target: "/var/lib/db".into(),
                read_only: true,
                nocopy: false
            }
        );
        assert!(matches!(
            v("/host:/c").unwrap(),
            MountSpec::Bind {
                read_only: false,
                create: true,
                ..
            }
        ));
        assert!(v("db:relative").is_err());
        assert!(v("db:/x:bogus").is_err());
        assert!(v("a:/b:ro:x").is_err());
    }

    #[test]
    fn container_body_carries_the_service() {
        let d = std::env::temp_dir().join(format!("compose-body-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("compose.yaml"),
            "services:\n  web:\n    image: busybox\n    command: echo 'a b'\n    entrypoint: [/bin/sh, -c]\n    user: \"1000\"\n    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n    privileged: true\n    read_only: true\n    init: true\n    dns: 1.1.1.1\n    stop_grace_period: 1m30s\n    restart: on-failure:3\n    tmpfs: /run\n    ports: ['127.0.0.1:8080:80/udp']\n    networks:\n      back: {aliases: [api], ipv4_address: 10.1.2.3}\n    volumes: [data:/d:ro, /anon]\n    healthcheck: {test: curl x, interval: 2s, retries: 4}\nnetworks:\n  back: {}\nvolumes:\n  data: {name: shared}\n",
        )
        .unwrap();
        let p = crate::load(
            &crate::Options {
                project_name: Some("pj".into()),
                ..Default::default()
            },
            &indexmap::IndexMap::new(),
            &d,
        )
        .unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        let inst = Instance {
            number: 2,
            oneoff: false,
            image_id: "sha256:x".into(),
            config_hash: "h".into(),
            publish: true,
            name: "pj-web-2".into(),
        };
        let b = container_body(&p, "web", &inst).unwrap();
        assert_eq!(b["Cmd"], json!(["echo", "a b"]));
        assert_eq!(b["Entrypoint"], json!(["/bin/sh", "-c"]));
        assert_eq!(b["User"], json!("1000"));
        assert_eq!(b["StopTimeout"], json!(90));
        assert_eq!(b["Labels"][labels::NUMBER], json!("2"));
        assert_eq!(b["Labels"][labels::ONEOFF], json!("False"));
        assert_eq!(b["Labels"][labels::PROJECT], json!("pj"));
        assert_eq!(
            b["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "curl x"], "Interval": 2_000_000_000i64, "Retries": 4})
        );
        let h = &b["HostConfig"];
        assert_eq!(h["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(h["CapDrop"], json!(["ALL"]));
        assert_eq!(
            (
                h["Privileged"].clone(),
                h["ReadonlyRootfs"].clone(),
                h["Init"].clone()
            ),
            (json!(true), json!(true), json!(true))
        );
        assert_eq!(h["Dns"], json!(["1.1.1.1"]));
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(h["Tmpfs"], json!({"/run": ""}));
        assert_eq!(
            h["PortBindings"],
            json!({"80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})
        );
        assert_eq!(h["NetworkMode"], json!("pj_back"));
        assert_eq!(
            h["Mounts"],
            json!([{"Type": "volume", "Source": "shared", "Target": "/d", "ReadOnly": true}, {"Type": "volume", "Target": "/anon"}])
        );
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["pj_back"],
            json!({"Aliases": ["web", "pj-web-2", "api"], "IPAMConfig": {"IPv4Address": "10.1.2.3"}})
        );
    }

    #[test]
    fn shell_splitting() {
        assert_eq!(
            shell_split("sh -c 'echo a b' \"x\\\"y\"").unwrap(),
            vec!["sh", "-c", "echo a b", "x\"y"]
        );
        assert!(shell_split("echo 'oops").is_err());
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
    }
}
