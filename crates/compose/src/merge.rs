//! Merging several `-f` files as compose does: mappings merge key by key (the later file
//! wins), sequences append without duplicates, `command`/`entrypoint`/`healthcheck.test`
//! are replaced, `volumes` and `tmpfs` merge by container path. Files are normalised first
//! (see [`crate::normalize`]), so list and map forms of the same key merge.

use serde_json::{Map, Value};

/// Merges `over` onto `base` (two normalised files).
pub fn merge_files(base: &mut Value, over: Value) {
    let (Value::Object(b), Value::Object(o)) = (&mut *base, over) else {
        return;
    };
    for (k, v) in o {
        match k.as_str() {
            "services" => {
                let bs = b
                    .entry("services")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(bs), Value::Object(os)) = (bs, v) {
                    for (name, svc) in os {
                        match bs.get_mut(&name) {
                            Some(existing) => merge_service(existing, svc),
                            None => {
                                bs.insert(name, svc);
                            }
                        }
                    }
                }
            }
            _ => match b.get_mut(&k) {
                Some(existing) => merge_value(existing, v),
                None => {
                    b.insert(k, v);
                }
            },
        }
    }
}

/// Merges one service definition onto another.
pub fn merge_service(base: &mut Value, over: Value) {
    let (Value::Object(b), Value::Object(o)) = (&mut *base, over) else {
        return;
    };
    for (k, v) in o {
        match (k.as_str(), b.get_mut(&k)) {
            (_, None) => {
                b.insert(k, v);
            }
            ("command" | "entrypoint", Some(existing)) => *existing = v,
            ("healthcheck", Some(existing)) => {
                if let (Value::Object(eh), Value::Object(oh)) = (&mut *existing, &v) {
                    for (hk, hv) in oh {
                        eh.insert(hk.clone(), hv.clone());
                    }
                } else {
                    *existing = v;
                }
            }
            ("volumes", Some(existing)) => merge_by(existing, v, volume_target),
            ("tmpfs", Some(existing)) => merge_by(existing, v, |x| {
                x.as_str()
                    .map(|s| s.split(':').next().unwrap_or(s).to_string())
            }),
            (_, Some(existing)) => merge_value(existing, v),
        }
    }
}

/// Generic rule: mappings merge, sequences append unique, scalars are replaced; a `null`
/// over a mapping keeps the mapping (`networks: {front: }` over `{front: {aliases: …}}`).
fn merge_value(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge_value(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => {
            for item in o {
                if !b.contains(&item) {
                    b.push(item);
                }
            }
        }
        (Value::Object(_), Value::Null) => {}
        (b, o) => *b = o,
    }
}

/// Sequences whose entries are keyed (volumes by target): a later entry replaces the one with
/// the same key, others append.
fn merge_by(base: &mut Value, over: Value, key: impl Fn(&Value) -> Option<String>) {
    let (Value::Array(b), Value::Array(o)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for item in o {
        let k = key(&item);
        match b.iter().position(|x| k.is_some() && key(x) == k) {
            Some(i) => b[i] = item,
            None => b.push(item),
        }
    }
}

/// The container path of a volume entry (short `src:dst[:mode]` or long `{target}`).
fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            })
        }
        Value::Object(o) => o.get("target").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn override_file_rules() {
        let mut base = json!({
            "services": {"web": {
                "image": "a",
                "command": ["x", "y"],
                "environment": {"A": "1", "B": "2"},
                "ports": ["80"],
                "volumes": ["data:/data", "./src:/src:ro"],
                "healthcheck": {"test": ["CMD", "a"], "interval": "1s"},
                "networks": {"front": {"aliases": ["w"]}},
            }, "db": {"image": "d"}},
            "volumes": {"data": null},
        });
        let over = json!({
            "services": {"web": {
                "image": "b",
                "command": ["z"],
                "environment": {"B": "3", "C": "4"},
                "ports": ["80", "443"],
                "volumes": ["other:/data"],
                "healthcheck": {"test": ["CMD", "b"]},
                "networks": {"front": null, "back": null},
            }, "cache": {"image": "c"}},
            "volumes": {"data": {"name": "shared"}},
        });
        merge_files(&mut base, over);
        let w = &base["services"]["web"];
        assert_eq!(w["image"], json!("b"));
        assert_eq!(w["command"], json!(["z"]));
        assert_eq!(w["environment"], json!({"A": "1", "B": "3", "C": "4"}));
        assert_eq!(w["ports"], json!(["80", "443"]));
        assert_eq!(w["volumes"], json!(["other:/data", "./src:/src:ro"]));
        assert_eq!(
            w["healthcheck"],
            json!({"test": ["CMD", "b"], "interval": "1s"})
        );
        assert_eq!(
            w["networks"],
            json!({"front": {"aliases": ["w"]}, "back": null})
        );
        assert_eq!(base["services"]["db"], json!({"image": "d"}));
        assert_eq!(base["services"]["cache"], json!({"image": "c"}));
        assert_eq!(base["volumes"]["data"], json!({"name": "shared"}));
    }
}
