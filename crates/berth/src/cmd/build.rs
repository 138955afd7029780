//! `berth build`: sends the context (a tar honouring `.dockerignore`, like docker's client)
//! to `POST /build` and prints the classic builder's progress.

use anyhow::{bail, Context, Result};
use build::ignore::Ignore;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::cli::BuildArgs;
use crate::client::{enc, Client, ReqBody};

/// Tars `dir` (skipping what `ignore` excludes, but never the Dockerfile or .dockerignore).
fn tar_context(
    dir: &Path,
    ignore: &Ignore,
    keep: &[String],
    extra: Option<(&str, &[u8])>,
) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    fn walk(
        b: &mut tar::Builder<Vec<u8>>,
        root: &Path,
        rel: &str,
        ig: &Ignore,
        keep: &[String],
    ) -> Result<()> {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let r = if rel.is_empty() {
                n.clone()
            } else {
                format!("{rel}/{n}")
            };
            let p = root.join(&r);
            let md = std::fs::symlink_metadata(&p)?;
            let excluded = ig.excluded(&r) && !keep.contains(&r);
            if md.is_dir() {
                if !excluded {
                    b.append_dir(&r, &p)?;
                }
                // Exceptions below an excluded dir are still looked for.
                walk(b, root, &r, ig, keep)?;
            } else if !excluded && md.file_type().is_symlink() {
                append_symlink(b, &p, &r, &md)?;
            } else if !excluded {
                b.append_path_with_name(&p, &r)
                    .with_context(|| format!("adding {} to the context", p.display()))?;
            }
        }
        Ok(())
    }
    /// A symlink with its target byte for byte (the tar crate would turn `/` into `//`).
    fn append_symlink(
        b: &mut tar::Builder<Vec<u8>>,
        p: &Path,
        rel: &str,
        md: &std::fs::Metadata,
    ) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let target = std::fs::read_link(p).with_context(|| format!("reading {}", p.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(md);
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        if image::diff::set_raw_link_name(&mut h, target.as_os_str().as_bytes()) {
            h.set_cksum();
            b.append_data(&mut h, rel, std::io::empty())?;
        } else {
            b.append_link(&mut h, rel, &target)?;
        }
        Ok(())
    }
    walk(&mut b, dir, "", ignore, keep)?;
    if let Some((name, data)) = extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data)?;
    }
    Ok(b.into_inner()?)
}

fn is_tar(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b]) || (data.len() > 262 && &data[257..262] == b"ustar")
}

/// `berth build`.
pub async fn build(client: &Client, args: BuildArgs) -> Result<i32> {
    let mut dockerfile = args.file.clone().unwrap_or_default();
    let body: Vec<u8> = if args.path == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        if is_tar(&data) {
            data
        } else {
            // A Dockerfile on stdin and no context.
            dockerfile = "Dockerfile".into();
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "Dockerfile", data.as_slice())?;
            b.into_inner()?
        }
    } else {
        let dir = PathBuf::from(&args.path);
        if !dir.is_dir() {
            bail!("unable to prepare context: path {:?} not found", args.path);
        }
        let ignore = std::fs::read_to_string(dir.join(".dockerignore"))
            .map(|t| Ignore::parse(&t))
            .unwrap_or_default();
        // -f inside the context is sent as is; outside, it is added under a private name.
        let df_path = match &args.file {
            Some(f) if f == "-" => None,
            Some(f) => Some(PathBuf::from(f)),
            None => Some(dir.join("Dockerfile")),
        };
        let mut extra: Option<(String, Vec<u8>)> = None;
        match &df_path {
            None => {
                let mut data = Vec::new();
                std::io::stdin().read_to_end(&mut data)?;
                dockerfile = ".berth-dockerfile-stdin".into();
                extra = Some((dockerfile.clone(), data));
            }
            Some(p) => {
                let abs = std::fs::canonicalize(p).with_context(|| {
                    format!(
                        "unable to prepare context: the Dockerfile ({}) cannot be read",
                        p.display()
                    )
                })?;
                let root = std::fs::canonicalize(&dir)?;
                match abs.strip_prefix(&root) {
                    Ok(rel) => dockerfile = rel.to_string_lossy().into_owned(),
                    Err(_) => {
                        dockerfile = ".berth-dockerfile".into();
                        extra = Some((dockerfile.clone(), std::fs::read(&abs)?));
                    }
                }
            }
        }
        let keep = vec![dockerfile.clone(), ".dockerignore".to_string()];
        tar_context(
            &dir,
            &ignore,
            &keep,
            extra.as_ref().map(|(n, d)| (n.as_str(), d.as_slice())),
        )?
    };
    let mut q = String::new();
    let mut add = |k: &str, v: &str| {
        q.push(if q.is_empty() { '?' } else { '&' });
        q.push_str(k);
        q.push('=');
        q.push_str(&enc(v));
    };
    for t in &args.tags {
        add("t", t);
    }
    if !dockerfile.is_empty() {
        add("dockerfile", &dockerfile);
    }
    if !args.build_args.is_empty() {
        let mut m: BTreeMap<String, Option<String>> = BTreeMap::new();
        for a in &args.build_args {
            match a.split_once('=') {
                Some((k, v)) => m.insert(k.to_string(), Some(v.to_string())),
                None => m.insert(a.clone(), std::env::var(a).ok()),
            };
        }
        add("buildargs", &serde_json::to_string(&m)?);
    }
    if !args.labels.is_empty() {
        let m: BTreeMap<String, String> = args
            .labels
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.clone(), String::new()),
            })
            .collect();
        add("labels", &serde_json::to_string(&m)?);
    }
    if let Some(t) = &args.target {
        add("target", t);
    }
    if args.no_cache {
        add("nocache", "1");
    }
    if args.quiet {
        add("q", "1");
    }
    if let Some(n) = &args.network {
        add("networkmode", n);
    }
    add("rm", "1");
    let resp = client
        .request(
            Method::POST,
            &format!("/build{q}"),
            Some(ReqBody::Full(Full::new(Bytes::from(body)))),
            Some("application/x-tar"),
        )
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut image_id: Option<String> = None;
    let mut failed = false;
    let mut out = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the build output")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Ok(msg) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(err) = msg.get("error").and_then(Value::as_str) {
                let detail = msg
                    .pointer("/errorDetail/message")
                    .and_then(Value::as_str)
                    .unwrap_or(err);
                eprintln!("{detail}");
                failed = true;
            } else if let Some(s) = msg.get("stream").and_then(Value::as_str) {
                let _ = out.write_all(s.as_bytes());
                let _ = out.flush();
            } else if let Some(id) = msg.pointer("/aux/ID").and_then(Value::as_str) {
                image_id = Some(id.to_string());
            }
        }
    }
    if failed {
        return Ok(1);
    }
    let Some(id) = image_id else {
        bail!("the daemon did not report an image id");
    };
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &id).with_context(|| format!("writing {f}"))?;
    }
    Ok(0)
}
