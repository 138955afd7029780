//! Published ports: `-p [ip:][host[-end]:]container[-end][/tcp|udp]` parsing and the
//! resolved mappings stored with an endpoint.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP
    Tcp,
    /// UDP
    Udp,
}

impl Proto {
    /// Parse `tcp` / `udp` (case-insensitive; empty = tcp).
    pub fn parse(s: &str) -> Result<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            other => Err(NetworkError::InvalidArgument(format!(
                "invalid proto: {other}"
            ))),
        }
    }
    /// `tcp` / `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
    /// IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// A port the caller asks to publish. `host_port == 0` means "pick a free port" (`-P`,
/// or `-p 80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// tcp or udp
    pub proto: Proto,
    /// port inside the container
    pub container_port: u16,
    /// host address to bind, `None` = all addresses
    pub host_ip: Option<Ipv4Addr>,
    /// host port, 0 = random free port
    pub host_port: u16,
}

/// A published port as set up (host port resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// tcp or udp
    pub proto: Proto,
    /// port inside the container
    pub container_port: u16,
    /// host address (0.0.0.0 = all)
    pub host_ip: Ipv4Addr,
    /// host port
    pub host_port: u16,
}

fn parse_range(s: &str, what: &str) -> Result<(u16, u16)> {
    let bad = || NetworkError::InvalidArgument(format!("invalid {what} port: {s:?}"));
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a || (a == 0 && what == "container") {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parse one `-p` value into bindings (a range expands to one binding per port).
/// Forms: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `8000-8001:80-81/udp`.
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>> {
    let (body, proto) = match spec.rsplit_once('/') {
        Some((b, p)) => (b, Proto::parse(p)?),
        None => (spec, Proto::Tcp),
    };
    let parts: Vec<&str> = body.rsplitn(3, ':').collect();
    let (host_ip, host, cont) = match parts.as_slice() {
        [c] => (None, "", *c),
        [c, h] => (None, *h, *c),
        [c, h, ip] => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let addr = if ip.is_empty() {
                None
            } else {
                Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                    NetworkError::InvalidArgument(format!("invalid ip address: {ip}"))
                })?)
            };
            (addr, *h, *c)
        }
        _ => {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid port spec {spec}"
            )))
        }
    };
    let (c0, c1) = parse_range(cont, "container")?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host, "host")?
    };
    let n = c1 - c0;
    if host.is_empty() || (h1 - h0 == n) {
        Ok((0..=n)
            .map(|i| PortBinding {
                proto,
                container_port: c0 + i,
                host_ip: host_ip.filter(|a| !a.is_unspecified()),
                host_port: if host.is_empty() { 0 } else { h0 + i },
            })
            .collect())
    } else {
        Err(NetworkError::InvalidArgument(format!(
            "invalid ranges specified for container and host ports: {spec}"
        )))
    }
}

/// Docker's `HostConfig.PortBindings` shape (`{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}`)
/// into bindings. An empty HostPort means a random port.
pub fn from_docker_bindings(v: &serde_json::Value) -> Result<Vec<PortBinding>> {
    let mut out = Vec::new();
    let Some(map) = v.as_object() else {
        return Ok(out);
    };
    for (key, list) in map {
        let (port, proto) = match key.split_once('/') {
            Some((p, pr)) => (p, Proto::parse(pr)?),
            None => (key.as_str(), Proto::Tcp),
        };
        let container_port: u16 = port
            .parse()
            .map_err(|_| NetworkError::InvalidArgument(format!("invalid port {key}")))?;
        let empty = Vec::new();
        let list = list.as_array().unwrap_or(&empty);
        let entries: Vec<serde_json::Value> = if list.is_empty() {
            vec![serde_json::json!({})]
        } else {
            list.clone()
        };
        for b in entries {
            let ip = b.get("HostIp").and_then(|x| x.as_str()).unwrap_or("");
            let hp = b.get("HostPort").and_then(|x| x.as_str()).unwrap_or("");
            let host_ip =
                if ip.is_empty() {
                    None
                } else {
                    Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                        NetworkError::InvalidArgument(format!("invalid host ip {ip}"))
                    })?)
                };
            let host_port = if hp.is_empty() {
                0
            } else {
                parse_range(hp, "host")?.0
            };
            out.push(PortBinding {
                proto,
                container_port,
                host_ip: host_ip.filter(|a| !a.is_unspecified()),
                host_port,
            });
        }
    }
    Ok(out)
}

/// `-P`: every exposed port (`"80/tcp"`, `"53/udp"`, `"8000-8001/tcp"` keys of the image's
/// `ExposedPorts`) to a random host port, skipping ports already in `explicit`.
pub fn publish_all(exposed: &[String], explicit: &[PortBinding]) -> Result<Vec<PortBinding>> {
    let mut out = Vec::new();
    for key in exposed {
        for b in parse_publish(key)? {
            let dup = explicit
                .iter()
                .chain(out.iter())
                .any(|e: &PortBinding| e.proto == b.proto && e.container_port == b.container_port);
            if !dup {
                out.push(b);
            }
        }
    }
    Ok(out)
}

/// Docker's `NetworkSettings.Ports` shape for a list of mappings.
pub fn to_docker_ports(maps: &[PortMapping]) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    for m in maps {
        let key = format!("{}/{}", m.container_port, m.proto.as_str());
        let entry = serde_json::json!({"HostIp": m.host_ip.to_string(), "HostPort": m.host_port.to_string()});
        match obj.get_mut(&key).and_then(|v| v.as_array_mut()) {
            Some(list) => list.push(entry),
            None => {
                obj.insert(key, serde_json::Value::Array(vec![entry]));
            }
        }
    }
    serde_json::Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let b = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!((b[0].host_port, b[0].container_port), (8080, 80));
        assert_eq!(b[0].proto, Proto::Udp);
        let b = parse_publish("8000-8002:80-82").unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!((b[2].host_port, b[2].container_port), (8002, 82));
        let b = parse_publish("80").unwrap();
        assert_eq!(b[0].host_port, 0);
        assert!(parse_publish("8000-8001:80").is_err());
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("80/sctpx").is_err());
        let all = publish_all(
            &["80/tcp".into(), "53/udp".into()],
            &parse_publish("8080:80").unwrap(),
        )
        .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].container_port, all[0].host_port, all[0].proto),
            (53, 0, Proto::Udp)
        );
    }
}
