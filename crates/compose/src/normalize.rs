//! Rewrites the short forms of a parsed file into their long forms (list → map for
//! environment/labels/args/extra_hosts/depends_on/networks, string → list for dns/env_file/…,
//! scalars → strings) so that merging and the typed model see one shape.

use serde_json::{Map, Value};

use crate::error::{invalid, Result};

/// Service keys whose scalar value is a string even when YAML reads a number or a bool.
const STRING_KEYS: &[&str] = &[
    "image",
    "user",
    "hostname",
    "domainname",
    "working_dir",
    "stop_signal",
    "stop_grace_period",
    "restart",
    "container_name",
    "shm_size",
    "mem_limit",
];

/// Service keys holding a list that may be written as one string.
const LIST_KEYS: &[&str] = &[
    "dns",
    "dns_search",
    "env_file",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "profiles",
    "expose",
];

/// Normalises one file's top level in place (`services`, `networks`, `volumes`).
pub fn normalize_file(doc: &mut Value, file: &str) -> Result<()> {
    let Some(top) = doc.as_object_mut() else {
        return Err(invalid(file, "top-level object must be a mapping"));
    };
    top.retain(|k, _| !k.starts_with("x-"));
    if let Some(services) = top.get_mut("services") {
        let Some(services) = services.as_object_mut() else {
            return Err(invalid("services", "must be a mapping"));
        };
        for (name, svc) in services.iter_mut() {
            normalize_service(svc, &format!("services.{name}"))?;
        }
    }
    for section in ["networks", "volumes"] {
        if let Some(Value::Object(m)) = top.get_mut(section) {
            for (name, v) in m.iter_mut() {
                if let Value::Object(o) = v {
                    o.retain(|k, _| !k.starts_with("x-"));
                    if let Some(l) = o.get_mut("labels") {
                        *l = kv_map(l, &format!("{section}.{name}.labels"), '=', false)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list `["K=V", "K"]` or a map `{K: V}` as a map of strings (`null` for a bare `K` when
/// `keep_null`, else "").
fn kv_map(v: &Value, path: &str, sep: char, keep_null: bool) -> Result<Value> {
    let mut out = Map::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let s = scalar_string(item)
                    .ok_or_else(|| invalid(format!("{path}[{i}]"), "must be a string"))?;
                match s.split_once(sep) {
                    Some((k, val)) => out.insert(k.to_string(), Value::String(val.to_string())),
                    None if keep_null => out.insert(s, Value::Null),
                    None => out.insert(s, Value::String(String::new())),
                };
            }
        }
        Value::Object(m) => {
            for (k, val) in m {
                let val = match val {
                    Value::Null if keep_null => Value::Null,
                    Value::Null => Value::String(String::new()),
                    other => Value::String(scalar_string(other).ok_or_else(|| {
                        invalid(
                            format!("{path}.{k}"),
                            "must be a string, number, boolean or null",
                        )
                    })?),
                };
                out.insert(k.clone(), val);
            }
        }
        _ => return Err(invalid(path, "must be a list or a mapping")),
    }
    Ok(Value::Object(out))
}

/// Numbers and booleans in an argument list become strings (`[sleep, 5]`).
fn stringify_items(items: &mut [Value]) {
    for item in items.iter_mut() {
        if let Some(text) = scalar_string(item) {
            *item = Value::String(text);
        }
    }
}

fn normalize_service(svc: &mut Value, path: &str) -> Result<()> {
    let Some(s) = svc.as_object_mut() else {
        return Err(invalid(path, "a service must be a mapping"));
    };
    s.retain(|k, _| !k.starts_with("x-"));
    for key in STRING_KEYS {
        if let Some(v) = s.get_mut(*key) {
            if let Some(text) = scalar_string(v) {
                *v = Value::String(text);
            }
        }
    }
    for key in LIST_KEYS {
        if let Some(v) = s.get_mut(*key) {
            match v {
                Value::String(_) | Value::Number(_) => {
                    *v = Value::Array(vec![Value::String(scalar_string(v).unwrap_or_default())])
                }
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        if let Some(text) = scalar_string(item) {
                            *item = Value::String(text);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(v) = s.get_mut("environment") {
        *v = kv_map(v, &format!("{path}.environment"), '=', true)?;
    }
    if let Some(v) = s.get_mut("labels") {
        *v = kv_map(v, &format!("{path}.labels"), '=', false)?;
    }
    if let Some(v) = s.get_mut("sysctls") {
        *v = kv_map(v, &format!("{path}.sysctls"), '=', false)?;
    }
    if let Some(v) = s.get_mut("extra_hosts") {
        // list entries are `host:ip` or `host=ip` (an IPv6 address holds ':')
        if let Value::Array(items) = v {
            for item in items.iter_mut() {
                if let Value::String(t) = item {
                    if !t.contains('=') {
                        if let Some((h, ip)) = t.split_once(':') {
                            *t = format!("{h}={ip}");
                        }
                    }
                }
            }
        }
        *v = kv_map(v, &format!("{path}.extra_hosts"), '=', false)?;
    }
    if let Some(b) = s.get_mut("build") {
        if let Value::String(ctx) = b {
            *b = serde_json::json!({"context": ctx.clone()});
        }
        if let Some(a) = b.get_mut("args") {
            *a = kv_map(a, &format!("{path}.build.args"), '=', true)?;
        }
    }
    if let Some(Value::Array(items)) = s.get_mut("ports") {
        for item in items.iter_mut() {
            if let Value::Number(n) = item {
                *item = Value::String(n.to_string());
            }
        }
    }
    if let Some(v) = s.get_mut("depends_on") {
        let mut out = Map::new();
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let name = item.as_str().ok_or_else(|| {
                        invalid(format!("{path}.depends_on[{i}]"), "must be a service name")
                    })?;
                    out.insert(
                        name.to_string(),
                        serde_json::json!({"condition": "service_started"}),
                    );
                }
            }
            Value::Object(m) => {
                for (k, d) in m {
                    let mut d = match d {
                        Value::Null => Map::new(),
                        Value::Object(o) => o.clone(),
                        _ => {
                            return Err(invalid(
                                format!("{path}.depends_on.{k}"),
                                "must be a mapping",
                            ))
                        }
                    };
                    d.entry("condition")
                        .or_insert_with(|| Value::String("service_started".into()));
                    out.insert(k.clone(), Value::Object(d));
                }
            }
            _ => {
                return Err(invalid(
                    format!("{path}.depends_on"),
                    "must be a list or a mapping",
                ))
            }
        }
        *v = Value::Object(out);
    }
    if let Some(v) = s.get_mut("networks") {
        if let Value::Array(items) = v {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                let name = item.as_str().ok_or_else(|| {
                    invalid(format!("{path}.networks[{i}]"), "must be a network name")
                })?;
                out.insert(name.to_string(), Value::Null);
            }
            *v = Value::Object(out);
        }
    }
    for key in ["command", "entrypoint"] {
        if let Some(Value::Array(items)) = s.get_mut(key) {
            stringify_items(items);
        }
    }
    if let Some(Value::Array(items)) = s.get_mut("healthcheck").and_then(|h| h.get_mut("test")) {
        stringify_items(items);
    }
    if let Some(Value::Object(h)) = s.get_mut("healthcheck") {
        for key in ["interval", "timeout", "start_period", "start_interval"] {
            if let Some(v) = h.get_mut(key) {
                if let Some(t) = scalar_string(v) {
                    *v = Value::String(t);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let mut doc = json!({
            "x-common": {"a": 1},
            "services": {"web": {
                "x-note": 1,
                "image": "busybox",
                "user": 1000,
                "environment": ["A=1", "B"],
                "labels": ["l=v"],
                "extra_hosts": ["db:10.0.0.1", "v6=::1"],
                "depends_on": ["db"],
                "networks": ["front"],
                "dns": "8.8.8.8",
                "build": ".",
                "ports": [8080],
            }}
        });
        normalize_file(&mut doc, "f").unwrap();
        let w = &doc["services"]["web"];
        assert!(doc.get("x-common").is_none() && w.get("x-note").is_none());
        assert_eq!(w["user"], json!("1000"));
        assert_eq!(w["environment"], json!({"A": "1", "B": null}));
        assert_eq!(w["labels"], json!({"l": "v"}));
        assert_eq!(w["extra_hosts"], json!({"db": "10.0.0.1", "v6": "::1"}));
        assert_eq!(
            w["depends_on"],
            json!({"db": {"condition": "service_started"}})
        );
        assert_eq!(w["networks"], json!({"front": null}));
        assert_eq!(w["dns"], json!(["8.8.8.8"]));
        assert_eq!(w["build"], json!({"context": "."}));
        assert_eq!(w["ports"], json!(["8080"]));
    }

    #[test]
    fn bad_shapes_name_their_path() {
        let mut doc = json!({"services": {"web": {"environment": 3}}});
        let e = normalize_file(&mut doc, "f").unwrap_err().to_string();
        assert!(e.contains("services.web.environment"), "{e}");
    }
}
