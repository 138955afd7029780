//! `berth system df|prune|info|events` and `berth events`.

use anyhow::Result;
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};
use std::io::Write;

use crate::client::{enc, Client};
use crate::format::{ago, filters_query, human_size, table};

/// `berth system ...`.
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Display system-wide information
    Info,
    /// Get real time events from the server
    Events(EventsArgs),
}

/// `berth system df`.
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template (`{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}`)
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

/// `berth system prune`.
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

/// `berth events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (key=value)
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
}

/// Runs one `system` verb.
pub async fn run(client: &Client, c: SystemCommand) -> Result<i32> {
    match c {
        SystemCommand::Df(a) => df(client, a).await,
        SystemCommand::Prune(a) => prune(client, a).await,
        SystemCommand::Info => crate::cmd::system::info(client).await,
        SystemCommand::Events(a) => events(client, a).await,
    }
}

fn n(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

fn list<'a>(v: &'a Value, k: &str) -> Vec<&'a Value> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// "1.2MB (50%)" as docker prints a reclaimable size (no percentage for an empty total).
fn with_percent(reclaimable: f64, total: f64) -> String {
    if total > 0.0 {
        format!(
            "{} ({}%)",
            human_size(reclaimable),
            (reclaimable * 100.0 / total) as i64
        )
    } else {
        human_size(reclaimable)
    }
}

/// The summary rows (docker's `DiskUsageContext`): Type, TotalCount, Active, Size, Reclaimable.
pub fn summary(v: &Value) -> Vec<Value> {
    let images = list(v, "Images");
    let layers = n(v, "LayersSize");
    let used: f64 = images
        .iter()
        .filter(|i| n(i, "Containers") > 0.0)
        .map(|i| n(i, "Size") - n(i, "SharedSize"))
        .sum();
    let conts = list(v, "Containers");
    let c_size: f64 = conts.iter().map(|c| n(c, "SizeRw")).sum();
    let c_recl: f64 = conts
        .iter()
        .filter(|c| c["State"] != "running")
        .map(|c| n(c, "SizeRw"))
        .sum();
    let vols = list(v, "Volumes");
    let usage = |x: &Value, k: &str| {
        x.pointer(&format!("/UsageData/{k}"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let v_size: f64 = vols.iter().map(|x| usage(x, "Size").max(0.0)).sum();
    let v_recl: f64 = vols
        .iter()
        .filter(|x| usage(x, "RefCount") == 0.0)
        .map(|x| usage(x, "Size").max(0.0))
        .sum();
    let cache = list(v, "BuildCache");
    let b_size: f64 = cache
        .iter()
        .filter(|b| b["Shared"] != true)
        .map(|b| n(b, "Size"))
        .sum();
    let b_recl: f64 = cache
        .iter()
        .filter(|b| b["Shared"] != true && b["InUse"] != true)
        .map(|b| n(b, "Size"))
        .sum();
    vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(),
               "Active": images.iter().filter(|i| n(i, "Containers") > 0.0).count().to_string(),
               "Size": human_size(layers), "Reclaimable": with_percent((layers - used).max(0.0), layers)}),
        json!({"Type": "Containers", "TotalCount": conts.len().to_string(),
               "Active": conts.iter().filter(|c| c["State"] == "running").count().to_string(),
               "Size": human_size(c_size), "Reclaimable": with_percent(c_recl, c_size)}),
        json!({"Type": "Local Volumes", "TotalCount": vols.len().to_string(),
               "Active": vols.iter().filter(|x| usage(x, "RefCount") > 0.0).count().to_string(),
               "Size": human_size(v_size), "Reclaimable": with_percent(v_recl, v_size)}),
        json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(),
               "Active": cache.iter().filter(|b| b["InUse"] == true).count().to_string(),
               "Size": human_size(b_size), "Reclaimable": human_size(b_recl)}),
    ]
}

/// `berth system df`.
pub async fn df(client: &Client, args: DfArgs) -> Result<i32> {
    let v = client.get("/system/df").await?;
    if args.verbose {
        print!("{}", verbose(&v));
        return Ok(0);
    }
    let rows = summary(&v);
    let format = args.format.unwrap_or_else(|| {
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into()
    });
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                         "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    print!("{}", crate::format::render_rows(&format, &headers, &rows)?);
    Ok(0)
}

fn verbose(v: &Value) -> String {
    let mut out = String::from("Images space usage:\n\n");
    let mut rows = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ]
    .map(String::from)
    .to_vec()];
    for i in list(v, "Images") {
        let id = i["Id"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("sha256:");
        let tags: Vec<&str> = i["RepoTags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let tags = if tags.is_empty() {
            vec!["<none>:<none>"]
        } else {
            tags
        };
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "<none>"));
            rows.push(vec![
                repo.into(),
                tag.into(),
                id[..12.min(id.len())].into(),
                ago(n(i, "Created") as i64),
                human_size(n(i, "Size")),
                human_size(n(i, "SharedSize")),
                human_size(n(i, "Size") - n(i, "SharedSize")),
                format!("{}", n(i, "Containers") as i64),
            ]);
        }
    }
    out.push_str(&table(&rows));
    out.push_str("\nContainers space usage:\n\n");
    let mut rows = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    for c in list(v, "Containers") {
        let id = c["Id"].as_str().unwrap_or_default();
        let cmd = c["Command"].as_str().unwrap_or_default();
        let vols = list(c, "Mounts")
            .iter()
            .filter(|m| m["Type"] == "volume")
            .count();
        rows.push(vec![
            id[..12.min(id.len())].into(),
            c["Image"].as_str().unwrap_or_default().into(),
            crate::format::go_quote(&crate::format::ellipsis(cmd, 20)),
            vols.to_string(),
            human_size(n(c, "SizeRw")),
            ago(n(c, "Created") as i64),
            c["Status"].as_str().unwrap_or_default().into(),
            c["Names"][0]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .into(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut rows = vec![["VOLUME NAME", "LINKS", "SIZE"].map(String::from).to_vec()];
    for x in list(v, "Volumes") {
        rows.push(vec![
            x["Name"].as_str().unwrap_or_default().into(),
            format!("{}", x["UsageData"]["RefCount"].as_i64().unwrap_or(0)),
            human_size(x["UsageData"]["Size"].as_f64().unwrap_or(0.0).max(0.0)),
        ]);
    }
    out.push_str(&table(&rows));
    let cache = list(v, "BuildCache");
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size(cache.iter().map(|b| n(b, "Size")).sum())
    ));
    let mut rows = vec![[
        "CACHE ID",
        "CACHE TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED",
    ]
    .map(String::from)
    .to_vec()];
    for b in cache {
        rows.push(vec![
            b["ID"].as_str().unwrap_or_default().into(),
            b["Type"].as_str().unwrap_or_default().into(),
            human_size(n(b, "Size")),
            b["CreatedAt"].as_str().unwrap_or_default().into(),
            b["LastUsedAt"].as_str().unwrap_or_default().into(),
            format!("{}", n(b, "UsageCount") as i64),
            format!("{}", b["Shared"] == true),
        ]);
    }
    out.push_str(&table(&rows));
    out
}

fn deleted_section(title: &str, items: &[String]) {
    if !items.is_empty() {
        println!("{title}:");
        for i in items {
            println!("{i}");
        }
        println!();
    }
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    list(v, k)
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// `berth system prune`: containers, networks, (volumes), images, build cache — docker's order.
pub async fn prune(client: &Client, args: SystemPruneArgs) -> Result<i32> {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if args.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if args.all {
        "  - all images without at least one container associated to them\n  - all build cache\n"
    } else {
        "  - all dangling images\n  - unused build cache\n"
    });
    if !args.force && !crate::cmd::extra::confirm(&warning) {
        return Ok(0);
    }
    let mut total = 0.0;
    let c = client.json(Method::POST, "/containers/prune", None).await?;
    total += n(&c, "SpaceReclaimed");
    deleted_section("Deleted Containers", &strings(&c, "ContainersDeleted"));
    let nets = client.json(Method::POST, "/networks/prune", None).await?;
    deleted_section("Deleted Networks", &strings(&nets, "NetworksDeleted"));
    if args.volumes {
        let v = client.json(Method::POST, "/volumes/prune", None).await?;
        total += n(&v, "SpaceReclaimed");
        deleted_section("Deleted Volumes", &strings(&v, "VolumesDeleted"));
    }
    let filters = if args.all {
        r#"{"dangling":{"false":true}}"#
    } else {
        r#"{"dangling":{"true":true}}"#
    };
    let i = client
        .json(
            Method::POST,
            &format!("/images/prune?filters={}", enc(filters)),
            None,
        )
        .await?;
    total += n(&i, "SpaceReclaimed");
    let mut items = Vec::new();
    for item in list(&i, "ImagesDeleted") {
        if let Some(u) = item["Untagged"].as_str() {
            items.push(format!("untagged: {u}"));
        }
        if let Some(d) = item["Deleted"].as_str() {
            items.push(format!("deleted: {d}"));
        }
    }
    deleted_section("Deleted Images", &items);
    let b = client
        .json(
            Method::POST,
            &format!("/build/prune?all={}", args.all),
            None,
        )
        .await?;
    total += n(&b, "SpaceReclaimed");
    deleted_section("Deleted build cache objects", &strings(&b, "CachesDeleted"));
    println!("Total reclaimed space: {}", human_size(total));
    Ok(0)
}

/// RFC 3339 with nanoseconds (UTC) of a unix time in nanoseconds.
fn rfc3339_nanos(t: i64) -> String {
    let secs = t.div_euclid(1_000_000_000);
    let nanos = t.rem_euclid(1_000_000_000);
    // "2026-11-30 01:09:14 +0000 UTC" → "2026-11-30T01:09:14"
    let base = crate::format::utc_time(secs);
    let (date, rest) = base.split_once(' ').unwrap_or((&base, ""));
    let clock = rest.split(' ').next().unwrap_or("");
    format!("{date}T{clock}.{nanos:09}Z")
}

/// One event as docker prints it by default.
pub fn event_line(e: &Value) -> String {
    let t = e["timeNano"]
        .as_i64()
        .unwrap_or_else(|| e["time"].as_i64().unwrap_or(0) * 1_000_000_000);
    let mut attrs: Vec<String> = e["Actor"]["Attributes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    let mut line = format!(
        "{} {} {} {}",
        rfc3339_nanos(t),
        e["Type"].as_str().unwrap_or_default(),
        e["Action"].as_str().unwrap_or_default(),
        e["Actor"]["ID"].as_str().unwrap_or_default()
    );
    if !attrs.is_empty() {
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

/// `berth events`: streams `/events`, one line per event (until `--until` or Ctrl-C).
pub async fn events(client: &Client, args: EventsArgs) -> Result<i32> {
    let mut q = Vec::new();
    if let Some(s) = &args.since {
        q.push(format!("since={}", enc(s)));
    }
    if let Some(u) = &args.until {
        q.push(format!("until={}", enc(u)));
    }
    if let Some(f) = filters_query(&args.filter) {
        q.push(format!("filters={f}"));
    }
    let path = if q.is_empty() {
        "/events".to_string()
    } else {
        format!("/events?{}", q.join("&"))
    };
    let resp = client.request(Method::GET, &path, None, None).await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let Ok(e) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let text = match &args.format {
                Some(f) => crate::template::render(f, &e)?,
                None => event_line(&e),
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
            out.flush()?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_summary_and_event_lines() {
        let v = json!({"LayersSize": 1000,
            "Images": [{"Size": 600, "SharedSize": 0, "Containers": 1}, {"Size": 400, "SharedSize": 0, "Containers": 0}],
            "Containers": [{"State": "running", "SizeRw": 10}, {"State": "exited", "SizeRw": 30}],
            "Volumes": [{"UsageData": {"Size": 50, "RefCount": 0}}],
            "BuildCache": []});
        let s = summary(&v);
        assert_eq!(s[0]["Reclaimable"], "400B (40%)");
        assert_eq!(s[0]["Active"], "1");
        assert_eq!(s[1]["Size"], "40B");
        assert_eq!(s[1]["Reclaimable"], "30B (75%)");
        assert_eq!(s[2]["Reclaimable"], "50B (100%)");
        let e = json!({"Type": "container", "Action": "start", "timeNano": 1_700_000_000_123_456_789i64,
            "Actor": {"ID": "abc", "Attributes": {"name": "x", "image": "busybox"}}});
        assert_eq!(
            event_line(&e),
            "2023-11-14T22:13:20.123456789Z container start abc (image=busybox, name=x)"
        );
    }
}
