//! `compose logs` and the attached mode of `up`: every container's output, line by line,
//! behind a `name  | ` prefix (coloured on a terminal).

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use compose::Project;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;
use tokio::task::JoinSet;

use super::api::{self, Oneoff};
use super::selected;
use crate::client::{enc, Client};
use crate::stream::Demuxer;

/// `compose logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(long = "tail", value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp or relative duration
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Services (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

const COLORS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// How each line of one container is prefixed.
#[derive(Clone)]
struct Prefix(String);

fn prefixes(names: &[String], color: bool, none: bool) -> Vec<Prefix> {
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if none {
                Prefix(String::new())
            } else if color {
                Prefix(format!(
                    "\x1b[{}m{n:<width$}  | \x1b[0m",
                    COLORS[i % COLORS.len()]
                ))
            } else {
                Prefix(format!("{n:<width$}  | "))
            }
        })
        .collect()
}

/// Streams one container's logs to stdout, each line prefixed.
async fn stream_one(client: Arc<Client>, id: String, query: String, prefix: Prefix) -> Result<()> {
    let info = client.get(&format!("/containers/{id}/json")).await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{id}/logs?{query}"),
            None,
            None,
        )
        .await?;
    let mut body = resp.into_body();
    let mut demux = Demuxer::default();
    let mut partial: Vec<u8> = Vec::new();
    let emit_lines = |partial: &mut Vec<u8>, data: &[u8], flush: bool| {
        partial.extend_from_slice(data);
        let mut out = std::io::stdout().lock();
        while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            let _ = out.write_all(prefix.0.as_bytes());
            let _ = out.write_all(&line);
        }
        if flush && !partial.is_empty() {
            let _ = out.write_all(prefix.0.as_bytes());
            let _ = out.write_all(partial);
            let _ = out.write_all(b"\n");
            partial.clear();
        }
        let _ = out.flush();
    };
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if tty {
            emit_lines(&mut partial, &data, false);
        } else {
            let mut chunks: Vec<Vec<u8>> = Vec::new();
            demux.feed(&data, &mut |_, payload| chunks.push(payload.to_vec()));
            for c in chunks {
                emit_lines(&mut partial, &c, false);
            }
        }
    }
    emit_lines(&mut partial, &[], true);
    Ok(())
}

/// `compose logs`.
pub async fn logs(client: &Arc<Client>, p: &Project, a: LogsArgs) -> Result<i32> {
    let services = selected(p, &a.services)?;
    let mut targets = Vec::new();
    for s in &services {
        for c in api::containers(client, &p.name, Some(s), true, Oneoff::No).await? {
            targets.push((api::id_of(&c), api::name_of(&c)));
        }
    }
    let mut query = format!("stdout=1&stderr=1&tail={}", enc(&a.tail));
    if a.follow {
        query.push_str("&follow=1");
    }
    if a.timestamps {
        query.push_str("&timestamps=1");
    }
    if let Some(s) = &a.since {
        query.push_str(&format!("&since={}", enc(s)));
    }
    let names: Vec<String> = targets.iter().map(|t| t.1.clone()).collect();
    let color = !a.no_color && crate::term::is_tty(1);
    let pre = prefixes(&names, color, a.no_log_prefix);
    let mut set = JoinSet::new();
    for ((id, _), prefix) in targets.into_iter().zip(pre) {
        set.spawn(stream_one(client.clone(), id, query.clone(), prefix));
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(0)
}

/// The attached mode of `up`: follows every container until all have exited (then prints
/// their exit codes), or until Ctrl-C (then stops them).
pub async fn attach_until_exit(
    client: &Arc<Client>,
    p: &Project,
    ids: &[(String, String)],
    timeout: Option<i64>,
) -> Result<i32> {
    let mut names = Vec::new();
    for (_, id) in ids {
        let info = client.get(&format!("/containers/{id}/json")).await?;
        names.push(
            info.get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
        );
    }
    let pre = prefixes(&names, crate::term::is_tty(1), false);
    let mut set = JoinSet::new();
    for ((_, id), prefix) in ids.iter().zip(pre) {
        set.spawn(stream_one(
            client.clone(),
            id.clone(),
            "stdout=1&stderr=1&tail=all&follow=1".into(),
            prefix,
        ));
    }
    let _ = p;
    loop {
        tokio::select! {
            r = set.join_next() => match r {
                None => break,
                Some(r) => r??,
            },
            _ = tokio::signal::ctrl_c() => {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                for ((_, id), name) in ids.iter().zip(&names) {
                    api::stop(client, id, name, timeout).await?;
                }
                return Ok(130);
            }
        }
    }
    for ((_, id), name) in ids.iter().zip(&names) {
        let info = client.get(&format!("/containers/{id}/json")).await?;
        let code = info
            .pointer("/State/ExitCode")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        println!("{name} exited with code {code}");
    }
    Ok(0)
}
