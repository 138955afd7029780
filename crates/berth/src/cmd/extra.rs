//! Less central verbs: `restart`, `pause`/`unpause`, `rename`, `top`, `port`, `attach`.

use std::sync::Arc;

use anyhow::{bail, Result};
use hyper::Method;
use serde_json::Value;

use crate::cli::{
    AttachArgs, ImagePruneArgs, NamesArgs, PortArgs, PruneArgs, RenameArgs, StopArgs, TopArgs,
};
use crate::client::{enc, Client};
use crate::cmd::container::{attach_existing, Attach};
use crate::cmd::manage::each;
use crate::format::{human_size, table_min};

/// `berth restart`.
pub async fn restart(client: &Client, args: StopArgs) -> Result<i32> {
    let mut query = Vec::new();
    if let Some(t) = args.time {
        query.push(format!("t={t}"));
    }
    if let Some(s) = &args.signal {
        query.push(format!("signal={}", enc(s)));
    }
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    each(&args.containers, |name| {
        let path = format!("/containers/{}/restart{q}", enc(&name));
        async move {
            client.call(Method::POST, &path, None).await?;
            Ok(Some(name))
        }
    })
    .await
}

/// `berth pause` / `berth unpause` (`verb` is the endpoint name).
pub async fn pause(client: &Client, args: NamesArgs, verb: &str) -> Result<i32> {
    each(&args.containers, |name| {
        let path = format!("/containers/{}/{verb}", enc(&name));
        async move {
            client.call(Method::POST, &path, None).await?;
            Ok(Some(name))
        }
    })
    .await
}

/// `berth rename`.
pub async fn rename(client: &Client, args: RenameArgs) -> Result<i32> {
    if args.new_name.trim().is_empty() {
        bail!("Neither old nor new names may be empty");
    }
    client
        .call(
            Method::POST,
            &format!(
                "/containers/{}/rename?name={}",
                enc(&args.container),
                enc(&args.new_name)
            ),
            None,
        )
        .await?;
    Ok(0)
}

/// `berth top`.
pub async fn top(client: &Client, args: TopArgs) -> Result<i32> {
    let mut path = format!("/containers/{}/top", enc(&args.container));
    if !args.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", enc(&args.ps_args.join(" "))));
    }
    let v = client.get(&path).await?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut rows = vec![strings(v.get("Titles").unwrap_or(&Value::Null))];
    for p in v
        .get("Processes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        rows.push(strings(p));
    }
    print!("{}", table_min(&rows, 20));
    Ok(0)
}

/// `berth port`.
pub async fn port(client: &Client, args: PortArgs) -> Result<i32> {
    let v = client
        .get(&format!("/containers/{}/json", enc(&args.container)))
        .await?;
    let ports = v
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let wanted = args.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort();
    let mut found = false;
    for key in keys {
        if wanted.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in ports[key.as_str()].as_array().into_iter().flatten() {
            let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("0.0.0.0");
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            let hp = b
                .get("HostPort")
                .and_then(Value::as_str)
                .unwrap_or_default();
            found = true;
            if wanted.is_some() {
                println!("{ip}:{hp}");
            } else {
                println!("{key} -> {ip}:{hp}");
            }
        }
    }
    if let (Some(w), false) = (&wanted, found) {
        eprintln!(
            "Error: No public port '{w}' published for {}",
            args.container
        );
        return Ok(1);
    }
    Ok(0)
}

/// `berth attach`: attach to a running container until it exits (or ctrl-p ctrl-q).
pub async fn attach(client: Arc<Client>, args: AttachArgs) -> Result<i32> {
    let info = client
        .get(&format!("/containers/{}/json", enc(&args.container)))
        .await?;
    if !info
        .pointer("/State/Running")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&args.container)
        .to_string();
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let open_stdin = info
        .pointer("/Config/OpenStdin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    attach_existing(
        client,
        &id,
        Attach {
            tty,
            stdin: open_stdin && !args.no_stdin,
            sig_proxy: args.sig_proxy && !tty,
        },
    )
    .await
}

/// Asks "Are you sure…" on the terminal; true when the answer starts with y.
pub(crate) fn confirm(warning: &str) -> bool {
    use std::io::{BufRead, Write};
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes" | "Yes")
}

pub(crate) fn reclaimed(v: &Value) -> String {
    human_size(
        v.get("SpaceReclaimed")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
    )
}

/// `berth container prune`.
pub async fn container_prune(client: &Client, args: PruneArgs) -> Result<i32> {
    if !args.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let v = client.json(Method::POST, "/containers/prune", None).await?;
    let deleted: Vec<&str> = v
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", reclaimed(&v));
    Ok(0)
}

/// `berth image prune`.
pub async fn image_prune(client: &Client, args: ImagePruneArgs) -> Result<i32> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(warning) {
        return Ok(0);
    }
    let filters = if args.all {
        r#"{"dangling":{"false":true}}"#
    } else {
        r#"{"dangling":{"true":true}}"#
    };
    let v = client
        .json(
            Method::POST,
            &format!("/images/prune?filters={}", enc(filters)),
            None,
        )
        .await?;
    let items = v
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for item in &items {
            if let Some(u) = item.get("Untagged").and_then(Value::as_str) {
                println!("untagged: {u}");
            }
            if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", reclaimed(&v));
    Ok(0)
}
