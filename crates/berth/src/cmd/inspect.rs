//! `berth inspect`: containers first, then images on 404.

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::Value;

use crate::cli::InspectArgs;
use crate::client::{enc, is_status, Client};
use crate::template;

async fn find(
    client: &Client,
    name: &str,
    kind: Option<&str>,
    size: bool,
) -> Result<Option<Value>> {
    let n = enc(name);
    let q = if size { "?size=1" } else { "" };
    let paths: Vec<String> = match kind {
        Some("container") => vec![format!("/containers/{n}/json{q}")],
        Some("image") => vec![format!("/images/{n}/json")],
        Some(other) => bail!("\"{other}\" is not a valid value for --type"),
        None => vec![
            format!("/containers/{n}/json{q}"),
            format!("/images/{n}/json"),
        ],
    };
    for p in paths {
        match client.get(&p).await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if is_status(&e, 404) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Pretty JSON with docker's 4-space indent.
pub fn pretty(v: &Value) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}

/// `berth inspect`.
pub async fn inspect(client: &Client, args: InspectArgs) -> Result<i32> {
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match find(client, name, args.kind.as_deref(), args.size).await? {
            Some(v) => found.push(v),
            None => {
                let what = match args.kind.as_deref() {
                    Some("container") => "container",
                    Some("image") => "image",
                    _ => "object",
                };
                eprintln!("Error: No such {what}: {name}");
                failed = true;
            }
        }
    }
    match &args.format {
        Some(f) => {
            for v in &found {
                println!("{}", template::render(f, v)?);
            }
        }
        None => println!("{}", pretty(&Value::Array(found))?),
    }
    Ok(i32::from(failed))
}
