//! `images`, `rmi`, `tag` and `import`.

use std::io::Read;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::cli::{ImagesArgs, ImportArgs, RmiArgs, TagArgs};
use crate::client::{enc, Client, ReqBody};
use crate::cmd::ps::short_id;
use crate::format::{ago, filters_query, human_size, render_rows, utc_time};

/// Splits `REPOSITORY[:TAG]` (a colon before the last '/' is a registry port).
pub fn split_ref(reference: &str) -> (String, String) {
    let (name, _digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[slash..].rfind(':') {
        Some(i) => (
            name[..slash + i].to_string(),
            name[slash + i + 1..].to_string(),
        ),
        None => (name.to_string(), String::new()),
    }
}

const IMAGES_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// `berth images`.
pub async fn images(client: &Client, args: ImagesArgs) -> Result<i32> {
    let mut path = format!("/images/json?all={}", u8::from(args.all));
    let mut filters = args.filter.clone();
    if let Some(r) = &args.reference {
        filters.push(format!("reference={r}"));
    }
    if let Some(f) = filters_query(&filters) {
        path.push_str(&format!("&filters={f}"));
    }
    let list = client.get(&path).await?;
    let empty = Vec::new();
    let list = list.as_array().unwrap_or(&empty);
    let mut rows = Vec::new();
    for img in list {
        let id = img.get("Id").and_then(Value::as_str).unwrap_or_default();
        let shown_id = if args.no_trunc {
            id.to_string()
        } else {
            short_id(id)
        };
        if args.quiet {
            println!("{shown_id}");
            continue;
        }
        let tags: Vec<(String, String)> = img
            .get("RepoTags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|t| {
                        if t == "<none>:<none>" {
                            ("<none>".to_string(), "<none>".to_string())
                        } else {
                            split_ref(t)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let digests: Vec<&str> = img
            .get("RepoDigests")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let digest = digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| "<none>".into());
        let tags = if tags.is_empty() {
            let digest_repo = digests
                .first()
                .and_then(|d| d.split_once('@'))
                .map(|(r, _)| r.to_string())
                .unwrap_or_else(|| "<none>".into());
            vec![(digest_repo, "<none>".to_string())]
        } else {
            tags
        };
        let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let size = human_size(img.get("Size").and_then(Value::as_f64).unwrap_or(0.0));
        let containers = img.get("Containers").and_then(Value::as_i64).unwrap_or(-1);
        for (repo, tag) in tags {
            rows.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": shown_id,
                "Digest": digest,
                "CreatedSince": ago(created),
                "CreatedAt": utc_time(created),
                "Size": size,
                "Containers": if containers < 0 { "N/A".to_string() } else { containers.to_string() },
            }));
        }
    }
    if !args.quiet {
        let headers = json!({
            "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
            "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
            "Containers": "CONTAINERS",
        });
        let format = args.format.as_deref().unwrap_or(IMAGES_FORMAT);
        let format = if format == "table" {
            IMAGES_FORMAT
        } else {
            format
        };
        let format = if args.digests && format == IMAGES_FORMAT {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        } else {
            format
        };
        print!("{}", render_rows(format, &headers, &rows)?);
    }
    Ok(0)
}

/// `berth rmi`.
pub async fn rmi(client: &Client, args: RmiArgs) -> Result<i32> {
    let mut failed = false;
    for name in &args.images {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            enc(name),
            u8::from(args.force),
            u8::from(args.no_prune)
        );
        match client.json(Method::DELETE, &path, None).await {
            Ok(items) => {
                for item in items.as_array().into_iter().flatten() {
                    if let Some(u) = item.get("Untagged").and_then(Value::as_str) {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                if e.downcast_ref::<crate::client::ConnectError>().is_some() {
                    return Err(e);
                }
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

/// `berth tag`.
pub async fn tag(client: &Client, args: TagArgs) -> Result<i32> {
    let (repo, tag) = split_ref(&args.target);
    let mut path = format!("/images/{}/tag?repo={}", enc(&args.source), enc(&repo));
    if !tag.is_empty() {
        path.push_str(&format!("&tag={}", enc(&tag)));
    }
    client.call(Method::POST, &path, None).await?;
    Ok(0)
}

/// Streams a file (or stdin for "-") as a request body.
pub fn file_body(source: &str) -> Result<ReqBody> {
    let mut reader: Box<dyn Read + Send> = if source == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(source).with_context(|| format!("open {source}"))?)
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Ok(ReqBody::Stream(rx))
}

/// `berth import`: POST /images/create?fromSrc=- with the tar as the body.
pub async fn import(client: &Client, args: ImportArgs) -> Result<i32> {
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let from = if is_url { args.source.as_str() } else { "-" };
    let mut path = format!("/images/create?fromSrc={}", enc(from));
    if let Some(r) = &args.reference {
        let (repo, tag) = split_ref(r);
        path.push_str(&format!("&repo={}", enc(&repo)));
        if !tag.is_empty() {
            path.push_str(&format!("&tag={}", enc(&tag)));
        }
    }
    if let Some(m) = &args.message {
        path.push_str(&format!("&message={}", enc(m)));
    }
    for c in &args.change {
        path.push_str(&format!("&changes={}", enc(c)));
    }
    let body = if is_url {
        None
    } else {
        Some(file_body(&args.source)?)
    };
    let resp = client
        .request(Method::POST, &path, body, Some("application/x-tar"))
        .await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    let mut status = 0;
    for msg in serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>() {
        let msg = msg.context("invalid answer from the daemon")?;
        if let Some(err) = msg.get("error").and_then(Value::as_str) {
            let detail = msg
                .pointer("/errorDetail/message")
                .and_then(Value::as_str)
                .unwrap_or(err);
            eprintln!("{detail}");
            status = 1;
        } else if let Some(s) = msg.get("status").and_then(Value::as_str) {
            println!("{s}");
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_references() {
        assert_eq!(split_ref("busybox"), ("busybox".into(), "".into()));
        assert_eq!(split_ref("busybox:1.0"), ("busybox".into(), "1.0".into()));
        assert_eq!(
            split_ref("localhost:5000/a/b:x"),
            ("localhost:5000/a/b".into(), "x".into())
        );
        assert_eq!(
            split_ref("localhost:5000/a"),
            ("localhost:5000/a".into(), "".into())
        );
    }
}
