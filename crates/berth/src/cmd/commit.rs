//! `berth commit` (`POST /commit`) and `berth diff` (`GET /containers/{id}/changes`).

use anyhow::{bail, Result};
use clap::{ArgAction, Args};
use hyper::Method;
use serde_json::Value;

use crate::client::{enc, Client};

/// `berth commit`.
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_name = "bool")]
    pub pause: bool,
    /// CONTAINER
    pub container: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// `REPOSITORY[:TAG]` → (repo, tag); a tag is what follows the last `:` after the last `/`.
fn split_reference(r: &str) -> Result<(String, String)> {
    if r.contains('@') {
        bail!("invalid reference format: {r}: a digest cannot be committed to");
    }
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(':') {
        Some(i) => Ok((r[..slash + i].to_string(), r[slash + i + 1..].to_string())),
        None => Ok((r.to_string(), String::new())),
    }
}

/// `berth commit`: prints the new image id.
pub async fn commit(client: &Client, args: CommitArgs) -> Result<i32> {
    let (repo, tag) = match &args.reference {
        Some(r) => split_reference(r)?,
        None => (String::new(), String::new()),
    };
    let mut q = format!(
        "/commit?container={}&repo={}&tag={}&pause={}",
        enc(&args.container),
        enc(&repo),
        enc(&tag),
        if args.pause { "1" } else { "0" }
    );
    if let Some(m) = &args.message {
        q.push_str(&format!("&comment={}", enc(m)));
    }
    if let Some(a) = &args.author {
        q.push_str(&format!("&author={}", enc(a)));
    }
    for c in &args.change {
        q.push_str(&format!("&changes={}", enc(c)));
    }
    let v = client.json(Method::POST, &q, None).await?;
    println!(
        "{}",
        v.get("Id").and_then(Value::as_str).unwrap_or_default()
    );
    Ok(0)
}

/// `berth diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// CONTAINER
    pub container: String,
}

/// `berth diff`: `C /path`, `A /path`, `D /path` lines.
pub async fn diff(client: &Client, args: DiffArgs) -> Result<i32> {
    let v = client
        .get(&format!("/containers/{}/changes", enc(&args.container)))
        .await?;
    for ch in v.as_array().into_iter().flatten() {
        let kind = match ch.get("Kind").and_then(Value::as_u64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        let path = ch.get("Path").and_then(Value::as_str).unwrap_or_default();
        println!("{kind} {path}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn splits_references() {
        let s = |r: &str| split_reference(r).unwrap();
        assert_eq!(s("img"), ("img".into(), "".into()));
        assert_eq!(s("img:v1"), ("img".into(), "v1".into()));
        assert_eq!(
            s("localhost:5000/img"),
            ("localhost:5000/img".into(), "".into())
        );
        assert_eq!(
            s("localhost:5000/img:v2"),
            ("localhost:5000/img".into(), "v2".into())
        );
        assert!(split_reference("img@sha256:00").is_err());
    }
}
