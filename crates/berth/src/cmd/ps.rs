//! `berth ps`.

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::PsArgs;
use crate::client::Client;
use crate::format::{ago, ellipsis, filters_query, go_quote, render_rows, utc_time};

/// The short (12-character) form of an id, without a `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// Docker's port column: "0.0.0.0:8080->80/tcp, 443/tcp".
fn ports(v: &Value) -> String {
    let Some(list) = v.as_array() else {
        return String::new();
    };
    let mut out: Vec<String> = list
        .iter()
        .map(|p| {
            let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
            let proto = p.get("Type").and_then(Value::as_str).unwrap_or("tcp");
            match p.get("PublicPort").and_then(Value::as_u64) {
                Some(public) if public != 0 => {
                    let ip = p.get("IP").and_then(Value::as_str).unwrap_or("0.0.0.0");
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{private}/{proto}")
                }
                _ => format!("{private}/{proto}"),
            }
        })
        .collect();
    out.dedup();
    out.join(", ")
}

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

fn joined_labels(v: Option<&Value>) -> String {
    let Some(obj) = v.and_then(Value::as_object) else {
        return String::new();
    };
    let mut items: Vec<String> = obj
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    items.sort();
    items.join(",")
}

/// The fields docker's `ps --format` offers, for one container.
fn row(c: &Value, no_trunc: bool) -> Value {
    let s = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let id = s("Id");
    let command = s("Command");
    let command = if no_trunc {
        command
    } else {
        ellipsis(&command, 20)
    };
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.trim_start_matches('/'))
                .filter(|n| no_trunc || !n.contains('/'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let mut image = s("Image");
    if !no_trunc && image.starts_with("sha256:") {
        image = short_id(&image);
    }
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let mounts: Vec<String> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    m.get("Name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                        .or_else(|| m.get("Source").and_then(Value::as_str))
                })
                .map(|n| {
                    if no_trunc {
                        n.to_string()
                    } else {
                        ellipsis(n, 15)
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    json!({
        "ID": if no_trunc { id.clone() } else { short_id(&id) },
        "Image": image,
        "Command": go_quote(&command),
        "CreatedAt": utc_time(created),
        "RunningFor": ago(created),
        "Ports": ports(c.get("Ports").unwrap_or(&Value::Null)),
        "State": s("State"),
        "Status": s("Status"),
        "Size": match (c.get("SizeRw").and_then(Value::as_f64), c.get("SizeRootFs").and_then(Value::as_f64)) {
            (Some(rw), Some(root)) => format!("{} (virtual {})", crate::format::human_size(rw), crate::format::human_size(root)),
            _ => String::new(),
        },
        "Names": names.join(","),
        "Labels": joined_labels(c.get("Labels")),
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
    })
}

/// `berth ps`.
pub async fn ps(client: &Client, args: PsArgs) -> Result<i32> {
    let mut query = Vec::new();
    if args.all || args.last.is_some() || args.latest {
        query.push("all=1".to_string());
    }
    if let Some(n) = args.last.filter(|n| *n > 0) {
        query.push(format!("limit={n}"));
    }
    if args.latest {
        query.push("limit=1".to_string());
    }
    if let Some(f) = filters_query(&args.filter) {
        query.push(format!("filters={f}"));
    }
    if args.size {
        query.push("size=1".to_string());
    }
    let path = if query.is_empty() {
        "/containers/json".to_string()
    } else {
        format!("/containers/json?{}", query.join("&"))
    };
    let list = client.get(&path).await?;
    let empty = Vec::new();
    let list = list.as_array().unwrap_or(&empty);
    if args.quiet {
        for c in list {
            let id = c.get("Id").and_then(Value::as_str).unwrap_or_default();
            println!(
                "{}",
                if args.no_trunc {
                    id.to_string()
                } else {
                    short_id(id)
                }
            );
        }
        return Ok(0);
    }
    let rows: Vec<Value> = list.iter().map(|c| row(c, args.no_trunc)).collect();
    let headers = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS",
    });
    let format = args.format.as_deref().unwrap_or(DEFAULT_FORMAT);
    let format = if format == "table" {
        DEFAULT_FORMAT
    } else {
        format
    };
    let with_size = format!("{DEFAULT_FORMAT}\t{{{{.Size}}}}");
    let format = if args.size && args.format.is_none() {
        with_size.as_str()
    } else {
        format
    };
    print!("{}", render_rows(format, &headers, &rows)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_column() {
        let p = json!([{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                       {"PrivatePort":443,"Type":"tcp"}]);
        assert_eq!(ports(&p), "0.0.0.0:8080->80/tcp, 443/tcp");
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
