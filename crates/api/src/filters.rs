//! The `filters` query parameter of every list endpoint: parsing with the keys each endpoint
//! knows (an unknown key is `400 invalid filter 'k'`, as dockerd: never "match everything"),
//! and the matchers several endpoints share (labels, regular expressions, booleans, ports).
//! `GET /containers/json`'s matcher lives here too, as it is the largest user.

use crate::util::parse_filters;
use engine::{Container, Engine, EngineError};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

/// Filter keys of `GET /containers/json` (moby's `acceptedPsFilterTags`).
pub const PS_KEYS: &[&str] = &[
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];
/// Filter keys of `GET /images/json`.
pub const IMAGE_KEYS: &[&str] = &["before", "dangling", "label", "reference", "since"];
/// Filter keys of `GET /networks`.
pub const NETWORK_KEYS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];
/// Filter keys of `GET /events`.
pub const EVENT_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Parsed filters: key → values (an empty list means the key was given without values).
#[derive(Debug, Default, Clone)]
pub struct Filters(pub HashMap<String, Vec<String>>);

impl Filters {
    /// Parse `raw` (list or map form) and refuse keys outside `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Filters, EngineError> {
        let f = parse_filters(raw)?;
        let mut keys: Vec<&String> = f.keys().collect();
        keys.sort();
        if let Some(k) = keys.into_iter().find(|k| !allowed.contains(&k.as_str())) {
            return Err(EngineError::InvalidParameter(format!(
                "invalid filter '{k}'"
            )));
        }
        Ok(Filters(f))
    }

    /// The values of `key` (empty when absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `key` has at least one value.
    pub fn has(&self, key: &str) -> bool {
        !self.get(key).is_empty()
    }

    /// A boolean filter (`true`/`1`/`false`/`0`); anything else is `invalid filter 'k=v'`.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>, EngineError> {
        let mut out = None;
        for v in self.get(key) {
            out = Some(match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(EngineError::InvalidParameter(format!(
                        "invalid filter '{key}={v}'"
                    )))
                }
            });
        }
        Ok(out)
    }

    /// `label` filters: every `key` / `key=value` must be present.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.get("label").iter().all(|v| label_matches(v, labels))
    }

    /// moby's `Args.Match`: some value equals `source` or is a regular expression found in it.
    pub fn regex_match(&self, key: &str, source: &str) -> bool {
        let vals = self.get(key);
        vals.is_empty()
            || vals.iter().any(|v| {
                v == source
                    || regex::Regex::new(v)
                        .map(|r| r.is_match(source))
                        .unwrap_or(false)
            })
    }
}

/// One `key` or `key=value` label filter against a label map.
pub fn label_matches(filter: &str, labels: &BTreeMap<String, String>) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

/// A `publish`/`expose` filter value: `port`, `port/proto`, `start-end[/proto]` (tcp default).
#[derive(Debug, Clone, PartialEq)]
pub struct PortFilter {
    start: u16,
    end: u16,
    proto: String,
}

impl PortFilter {
    /// Parse one filter value.
    pub fn parse(key: &str, v: &str) -> Result<PortFilter, EngineError> {
        let bad = || EngineError::InvalidParameter(format!("invalid filter '{key}={v}'"));
        let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(bad());
        }
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let start: u16 = a.trim().parse().map_err(|_| bad())?;
        let end: u16 = b.trim().parse().map_err(|_| bad())?;
        if start > end {
            return Err(bad());
        }
        Ok(PortFilter { start, end, proto })
    }

    /// Whether `port/proto` falls in this filter.
    pub fn matches(&self, port: u16, proto: &str) -> bool {
        (self.start..=self.end).contains(&port) && self.proto.eq_ignore_ascii_case(proto)
    }
}

/// `"80/tcp"` → (80, "tcp").
fn split_port(k: &str) -> Option<(u16, String)> {
    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    Some((p.parse().ok()?, proto.to_ascii_lowercase()))
}

/// The prepared `GET /containers/json` filter: values checked, before/since resolved.
pub struct PsFilter {
    f: Filters,
    before: Option<SystemTime>,
    since: Option<SystemTime>,
    exited: Vec<i64>,
    publish: Vec<PortFilter>,
    expose: Vec<PortFilter>,
    is_task: Option<bool>,
}

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];
const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];
const ISOLATION: &[&str] = &["default", "process", "hyperv"];

fn created_at(c: &Container) -> Option<SystemTime> {
    monitor::timefmt::parse_rfc3339(&c.created)
}

impl PsFilter {
    /// Parse and check `filters` for `GET /containers/json`.
    pub fn parse(engine: &Arc<Engine>, raw: Option<&str>) -> Result<PsFilter, EngineError> {
        let f = Filters::parse(raw, PS_KEYS)?;
        let check = |key: &str, ok: &[&str]| -> Result<(), EngineError> {
            for v in f.get(key) {
                if !ok.contains(&v.as_str()) {
                    // dockerd's wording for status/health values
                    return Err(EngineError::InvalidParameter(format!(
                        "Unrecognised filter value for {key}: {v}"
                    )));
                }
            }
            Ok(())
        };
        check("status", STATUSES)?;
        check("health", HEALTH)?;
        check("isolation", ISOLATION)?;
        let mut exited = Vec::new();
        for v in f.get("exited") {
            exited.push(v.parse::<i64>().map_err(|_| {
                EngineError::InvalidParameter(format!("invalid filter 'exited={v}'"))
            })?);
        }
        let bound = |key: &str| -> Result<Option<SystemTime>, EngineError> {
            match f.get(key).first() {
                None => Ok(None),
                Some(v) => Ok(created_at(&engine.get(v)?)),
            }
        };
        let ports = |key: &str| -> Result<Vec<PortFilter>, EngineError> {
            f.get(key)
                .iter()
                .map(|v| PortFilter::parse(key, v))
                .collect()
        };
        Ok(PsFilter {
            before: bound("before")?,
            since: bound("since")?,
            exited,
            publish: ports("publish")?,
            expose: ports("expose")?,
            is_task: f.bool_value("is-task")?,
            f,
        })
    }

    /// Whether any status-like key is given (docker then lists stopped containers too).
    pub fn implies_all(&self) -> bool {
        self.f.has("status") || self.f.has("exited")
    }

    /// Whether container `c` passes every filter.
    pub fn matches(&self, engine: &Arc<Engine>, c: &Container) -> bool {
        let f = &self.f;
        if !f.regex_match("id", &c.id) || !f.regex_match("name", &format!("/{}", c.name)) {
            return false;
        }
        if f.has("status") && !f.get("status").iter().any(|v| v == c.state.status.as_str()) {
            return false;
        }
        let exited_matches =
            c.state.status == engine::Status::Exited && self.exited.contains(&c.state.exit_code);
        if !self.exited.is_empty() && !exited_matches {
            return false;
        }
        if !f.labels_match(&c.config.labels.clone().unwrap_or_default()) {
            return false;
        }
        if self.is_task == Some(true) {
            // berth runs no swarm tasks
            return false;
        }
        let t = created_at(c);
        if let (Some(b), Some(t)) = (self.before, t) {
            if t >= b {
                return false;
            }
        }
        if let (Some(s), Some(t)) = (self.since, t) {
            if t <= s {
                return false;
            }
        }
        if f.has("health") && !f.get("health").iter().any(|v| *v == health(c)) {
            return false;
        }
        if f.has("isolation") {
            let iso = c
                .host_config
                .extra
                .get("Isolation")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default");
            if !f.get("isolation").iter().any(|v| v == iso) {
                return false;
            }
        }
        if f.has("ancestor") && !f.get("ancestor").iter().any(|v| ancestor(engine, c, v)) {
            return false;
        }
        if f.has("volume") && !volume_match(engine, c, f.get("volume")) {
            return false;
        }
        if f.has("network") && !network_match(engine, c, f.get("network")) {
            return false;
        }
        if !self.publish.is_empty() || !self.expose.is_empty() {
            let published: Vec<(u16, String)> = engine::networking::port_bindings(c)
                .unwrap_or_default()
                .iter()
                .map(|b| (b.container_port, b.proto.as_str().to_string()))
                .collect();
            let mut exposed: Vec<(u16, String)> = c
                .config
                .extra
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .map(|o| o.keys().filter_map(|k| split_port(k)).collect())
                .unwrap_or_default();
            exposed.extend(published.iter().cloned());
            let any = |fs: &[PortFilter], ports: &[(u16, String)]| {
                fs.is_empty()
                    || fs
                        .iter()
                        .any(|pf| ports.iter().any(|(p, proto)| pf.matches(*p, proto)))
            };
            if !any(&self.publish, &published) || !any(&self.expose, &exposed) {
                return false;
            }
        }
        true
    }
}

/// Docker's health word for a container: its `State.Health.Status` while the engine checks it,
/// else `none` (no healthcheck, or not running), or `starting` before the first result.
fn health(c: &Container) -> &str {
    if let Some(h) = c.state.health.as_ref() {
        if c.state.running {
            return h.status.as_str();
        }
    }
    let test = c
        .config
        .extra
        .get("Healthcheck")
        .and_then(|h| h.get("Test"))
        .and_then(Value::as_array);
    match test {
        Some(t) if !t.is_empty() && t[0].as_str() != Some("NONE") && c.state.running => "starting",
        _ => "none",
    }
}

fn ancestor(engine: &Arc<Engine>, c: &Container, v: &str) -> bool {
    c.config.image == v
        || c.image_id == v
        || c.image_id
            .strip_prefix("sha256:")
            .is_some_and(|h| v.len() >= 12 && h.starts_with(v.trim_start_matches("sha256:")))
        || engine
            .images
            .store
            .get(v)
            .map(|i| i.id == c.image_id)
            .unwrap_or(false)
}

fn volume_match(engine: &Arc<Engine>, c: &Container, vals: &[String]) -> bool {
    let list = engine.mounts_json(c);
    vals.iter().any(|v| {
        list.iter().any(|m| {
            m["Name"].as_str() == Some(v.as_str()) || m["Destination"].as_str() == Some(v.as_str())
        })
    })
}

fn network_match(engine: &Arc<Engine>, c: &Container, vals: &[String]) -> bool {
    let ns = engine.network_settings(c);
    let Some(nets) = ns["Networks"].as_object() else {
        return false;
    };
    vals.iter().any(|v| {
        nets.iter().any(|(name, e)| {
            name == v
                || e["NetworkID"]
                    .as_str()
                    .is_some_and(|id| !v.is_empty() && !id.is_empty() && id.starts_with(v.as_str()))
                || engine.networks().get(v).is_ok_and(|n| n.name == *name)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let e = Filters::parse(Some(r#"{"bogus":["x"]}"#), PS_KEYS).unwrap_err();
        assert!(e.to_string().contains("invalid filter 'bogus'"));
        assert!(Filters::parse(Some(r#"{"label":["a"]}"#), PS_KEYS).is_ok());
    }

    #[test]
    fn port_filters() {
        let p = PortFilter::parse("publish", "8000-8080/udp").unwrap();
        assert!(p.matches(8001, "udp"));
        assert!(!p.matches(8001, "tcp"));
        assert!(PortFilter::parse("publish", "80")
            .unwrap()
            .matches(80, "tcp"));
        assert!(PortFilter::parse("publish", "x").is_err());
        assert!(PortFilter::parse("publish", "90-80").is_err());
    }

    #[test]
    fn regex_names() {
        let f = Filters::parse(Some(r#"{"name":["^/web$"]}"#), PS_KEYS).unwrap();
        assert!(f.regex_match("name", "/web"));
        assert!(!f.regex_match("name", "/web2"));
    }
}
