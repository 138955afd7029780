//! `/containers/...` endpoints.

use crate::hijack;
use crate::util::{
    channel_body, deferred_body, engine_error, error_resp, human_duration, json, json_body,
    now_secs, status, unix_secs, Query, Resp,
};
use engine::{Container, CreateRequest, Engine, EngineError, LogOptions, WaitCondition};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type R = Result<Resp, EngineError>;

/// Dispatch `/containers/...`.
pub async fn route(
    engine: Arc<Engine>,
    req: Request<Incoming>,
    m: &Method,
    segs: &[&str],
    q: Query,
    ver: (u32, u32),
) -> Resp {
    let res: R = match (m.clone(), segs) {
        (Method::POST, ["create"]) => create(&engine, req, &q).await,
        (Method::GET, ["json"]) => list(&engine, &q, ver),
        (Method::POST, ["prune"]) => prune(&engine, &q).await,
        (Method::GET, [id, "json"]) => engine.get(id).map(|c| {
            let mut v = inspect(&engine, &c);
            if q.bool("size") {
                let s = engine.container_size(&c);
                v["SizeRw"] = json!(s.rw);
                v["SizeRootFs"] = json!(s.root_fs);
            }
            json(200, &v)
        }),
        (Method::POST, [id, "start"]) => match engine.start(id).await {
            Ok(true) => Ok(status(204)),
            Ok(false) => Ok(status(304)),
            Err(e) => Err(e),
        },
        (Method::POST, [id, "stop"]) => {
            let t = match q.int("t") {
                Ok(Some(t)) => Some(t),
                Ok(None) => q.int("timeout").ok().flatten(),
                Err(e) => return engine_error(&e),
            };
            match engine
                .stop(id, t, q.get("signal").map(str::to_string))
                .await
            {
                Ok(true) => Ok(status(204)),
                Ok(false) => Ok(status(304)),
                Err(e) => Err(e),
            }
        }
        (Method::POST, [id, "restart"]) => {
            let t = q.int("t").ok().flatten();
            engine.restart(id, t).await.map(|_| status(204))
        }
        (Method::POST, [id, "kill"]) => engine
            .kill(id, q.get("signal").unwrap_or("KILL"))
            .await
            .map(|_| status(204)),
        (Method::POST, [id, "wait"]) => wait(&engine, id, &q),
        (Method::POST, [id, "attach"]) => attach(&engine, req, id, &q),
        (Method::POST, [id, "resize"]) => {
            let h = q
                .int("h")
                .ok()
                .flatten()
                .unwrap_or(0)
                .clamp(0, u16::MAX as i64) as u16;
            let w = q
                .int("w")
                .ok()
                .flatten()
                .unwrap_or(0)
                .clamp(0, u16::MAX as i64) as u16;
            engine.resize(id, h, w).await.map(|_| status(200))
        }
        (Method::GET, [id, "logs"]) => logs(&engine, id, &q),
        (Method::POST, [id, "pause"]) => engine.set_paused(id, true).await.map(|_| status(204)),
        (Method::POST, [id, "unpause"]) => engine.set_paused(id, false).await.map(|_| status(204)),
        (Method::POST, [id, "rename"]) => engine
            .rename(id, q.get("name").unwrap_or(""))
            .map(|_| status(204)),
        (Method::GET, [id, "top"]) => top(&engine, id, &q).await,
        (Method::HEAD, [id, "archive"]) => {
            crate::archive::container_stat(engine.clone(), id, &q).await
        }
        (Method::GET, [id, "archive"]) => {
            crate::archive::container_get(engine.clone(), id, &q).await
        }
        (Method::PUT, [id, "archive"]) => {
            crate::archive::container_put(engine.clone(), req, id, &q).await
        }
        (Method::GET, [id, "changes"]) => crate::archive::changes(engine.clone(), id).await,
        (Method::GET, [id, "export"]) => crate::archive::export(engine.clone(), id).await,
        (Method::GET, [id, "stats"]) => stats(&engine, id, &q),
        (Method::POST, [id, "update"]) => update(&engine, req, id).await,
        (Method::POST, [id, "exec"]) => crate::exec::create(&engine, req, id).await,
        (Method::DELETE, [id]) => engine
            .remove_with_volumes(id, q.bool("force"), q.bool("v"))
            .await
            .map(|_| status(204)),
        _ => Ok(error_resp(404, "page not found")),
    };
    res.unwrap_or_else(|e| engine_error(&e))
}

/// Go's JSON decoder reads `null` as the zero value, and docker-compose 1.29 sends
/// `"StartPeriod": null` (and other null durations) in `Config.Healthcheck`: drop them so
/// they mean "unset" here too.
fn drop_null_health_fields(body: &mut CreateRequest) {
    if let Some(Value::Object(h)) = body.config.extra.get_mut("Healthcheck") {
        h.retain(|_, v| !v.is_null());
    }
}

async fn create(engine: &Arc<Engine>, req: Request<Incoming>, q: &Query) -> R {
    let mut body: CreateRequest = json_body(req.into_body()).await?;
    drop_null_health_fields(&mut body);
    let name = q.get("name").map(str::to_string);
    let (id, warnings) = engine.create(body, name).await?;
    Ok(json(201, &json!({"Id": id, "Warnings": warnings})))
}

/// `POST /containers/{id}/update`.
async fn update(engine: &Arc<Engine>, req: Request<Incoming>, id: &str) -> R {
    let body: engine::resources::UpdateRequest = json_body(req.into_body()).await?;
    let warnings = engine.update(id, body).await?;
    Ok(json(200, &json!({"Warnings": warnings})))
}

fn state_json(c: &Container) -> Value {
    let mut v = serde_json::to_value(&c.state).unwrap_or(Value::Null);
    v["Status"] = json!(c.state.status.as_str());
    if c.state.restarting {
        // Docker keeps Running true between the tries of a restart policy.
        v["Running"] = json!(true);
    }
    v
}

/// The `docker inspect` view of a container.
pub fn inspect(engine: &Arc<Engine>, c: &Container) -> Value {
    let cfg = engine.config();
    let dir = cfg.data_root.join("containers").join(&c.id);
    let mut config = serde_json::to_value(&c.config).unwrap_or(Value::Null);
    if config.get("Cmd").is_none() {
        config["Cmd"] = Value::Null;
    }
    let host_config = serde_json::to_value(&c.host_config).unwrap_or(Value::Null);
    let exec_ids = if c.exec_ids.is_empty() {
        Value::Null
    } else {
        json!(c.exec_ids)
    };
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state_json(c),
        "Image": c.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": engine.log_path(&c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids,
        "HostConfig": host_config,
        "GraphDriver": {"Name": "overlay2", "Data": {
            "MergedDir": cfg.data_root.join("image/snapshots").join(&c.id).join("merged"),
            "UpperDir": cfg.data_root.join("image/snapshots").join(&c.id).join("upper"),
            "WorkDir": cfg.data_root.join("image/snapshots").join(&c.id).join("work"),
        }},
        "Mounts": engine.mounts_json(c),
        "Config": config,
        "NetworkSettings": engine.network_settings(c),
    })
}

fn status_text(c: &Container) -> String {
    let now = now_secs();
    match c.state.status {
        engine::Status::Running => {
            let up = format!(
                "Up {}",
                human_duration(now - unix_secs(&c.state.started_at))
            );
            match &c.state.health {
                Some(h) if h.status == "starting" => format!("{up} (health: starting)"),
                Some(h) => format!("{up} ({})", h.status),
                None => up,
            }
        }
        engine::Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(now - unix_secs(&c.state.started_at))
        ),
        engine::Status::Created => "Created".into(),
        engine::Status::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            human_duration(now - unix_secs(&c.state.finished_at))
        ),
        engine::Status::Removing => "Removal In Progress".into(),
        engine::Status::Dead => "Dead".into(),
        engine::Status::Exited => {
            if c.state.finished_at.starts_with("0001") {
                format!("Exited ({})", c.state.exit_code)
            } else {
                format!(
                    "Exited ({}) {} ago",
                    c.state.exit_code,
                    human_duration(now - unix_secs(&c.state.finished_at))
                )
            }
        }
    }
}

fn command_text(c: &Container) -> String {
    let mut parts = vec![c.path.clone()];
    parts.extend(c.args.iter().cloned());
    parts.join(" ")
}

/// One `GET /containers/json` entry; `size` adds `SizeRw` and `SizeRootFs`.
pub(crate) fn summary(engine: &Arc<Engine>, c: &Container, size: bool) -> Value {
    let mode = match c.host_config.network_mode.as_str() {
        "" | "default" => "bridge".to_string(),
        m => m.to_string(),
    };
    let mut v = json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.config.image,
        "ImageID": c.image_id,
        "Command": command_text(c),
        "Created": unix_secs(&c.created),
        "Ports": engine.ports_list(c),
        "Labels": c.config.labels.clone().unwrap_or_default(),
        "State": c.state.status.as_str(),
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": engine.network_settings(c)["Networks"].clone()},
        "Mounts": engine.mounts_json(c),
    });
    if size {
        let s = engine.container_size(c);
        v["SizeRw"] = json!(s.rw);
        v["SizeRootFs"] = json!(s.root_fs);
    }
    v
}

fn list(engine: &Arc<Engine>, q: &Query, _ver: (u32, u32)) -> R {
    let filters = crate::filters::PsFilter::parse(engine, q.get("filters"))?;
    let limit = q.int("limit")?.filter(|l| *l > 0);
    let all = q.bool("all") || limit.is_some() || filters.implies_all();
    let size = q.bool("size");
    let mut out = Vec::new();
    for c in engine.list() {
        if !all && !c.state.running && !c.state.restarting {
            continue;
        }
        if !filters.matches(engine, &c) {
            continue;
        }
        out.push(summary(engine, &c, size));
        if let Some(l) = limit {
            if out.len() as i64 >= l {
                break;
            }
        }
    }
    Ok(json(200, &out))
}

/// `POST /containers/prune`: removes every stopped container (filters are refused: berth
/// implements none for this endpoint yet).
async fn prune(engine: &Arc<Engine>, q: &Query) -> R {
    let filters = crate::util::parse_filters(q.get("filters"))?;
    if let Some(k) = filters.keys().next() {
        return Err(EngineError::InvalidParameter(format!(
            "invalid filter '{k}': container prune filters are not implemented by berth"
        )));
    }
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in engine.list() {
        if c.state.running {
            continue;
        }
        let rw = engine.container_size(&c).rw;
        if engine.remove(&c.id, false).await.is_ok() {
            deleted.push(c.id);
            reclaimed += rw;
        }
    }
    Ok(json(
        200,
        &json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}

fn wait(engine: &Arc<Engine>, id: &str, q: &Query) -> R {
    let cond = WaitCondition::parse(q.get("condition").unwrap_or("")).ok_or_else(|| {
        EngineError::InvalidParameter(format!(
            "invalid condition: {:?}",
            q.get("condition").unwrap_or("")
        ))
    })?;
    let h = engine.wait_begin(id, cond)?;
    let body = deferred_body(async move {
        let code = h.wait().await;
        let mut v =
            serde_json::to_vec(&json!({"StatusCode": code, "Error": null})).unwrap_or_default();
        v.push(b'\n');
        v
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(crate::util::empty())))
}

fn attach(engine: &Arc<Engine>, mut req: Request<Incoming>, id: &str, q: &Query) -> R {
    let c = engine.get(id)?;
    let stdin = q.bool("stdin");
    let stdout = q.bool("stdout");
    let stderr = q.bool("stderr");
    let mut flags = 0u8;
    if stdin {
        flags |= monitor::ATTACH_STDIN;
    }
    if stdout {
        flags |= monitor::ATTACH_STDOUT;
    }
    if stderr {
        flags |= monitor::ATTACH_STDERR;
    }
    let stream = q.bool_or("stream", false);
    let logs = q.bool("logs");
    let engine = engine.clone();
    let cid = c.id.clone();
    let tty = c.config.tty;
    Ok(hijack::upgrade(&mut req, tty, move |io| async move {
        let (mut cr, mut cw) = tokio::io::split(io);
        if logs {
            let opts = LogOptions {
                stdout,
                stderr,
                ..Default::default()
            };
            if let Ok(mut rx) = engine.logs(&cid, opts) {
                while let Some(b) = rx.recv().await {
                    if cw.write_all(&b).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !stream {
            let _ = cw.shutdown().await;
            return;
        }
        let unix = match engine.attach(&cid, flags).await {
            Ok(Some(u)) => u,
            _ => {
                let _ = cw.shutdown().await;
                return;
            }
        };
        let (mut ur, mut uw) = unix.into_split();
        let to_container = tokio::spawn(async move {
            if stdin {
                let _ = tokio::io::copy(&mut cr, &mut uw).await;
                let _ = uw.shutdown().await;
            } else {
                // Keep reading so a client close is noticed; discard the bytes.
                let mut buf = [0u8; 1024];
                while matches!(cr.read(&mut buf).await, Ok(n) if n > 0) {}
            }
        });
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match ur.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    let _ = cw.flush().await;
                }
            }
        }
        let _ = cw.shutdown().await;
        to_container.abort();
    }))
}

fn logs(engine: &Arc<Engine>, id: &str, q: &Query) -> R {
    let c = engine.get(id)?;
    let stdout = q.bool("stdout");
    let stderr = q.bool("stderr");
    if !stdout && !stderr {
        return Err(EngineError::InvalidParameter(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => None,
        },
    };
    let opts = LogOptions {
        stdout,
        stderr,
        follow: q.bool("follow"),
        timestamps: q.bool("timestamps"),
        tail,
        since: q.get("since").and_then(engine::logs::parse_time),
        until: q.get("until").and_then(engine::logs::parse_time),
    };
    let rx = engine.logs(&c.id, opts)?;
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", hijack::content_type(c.config.tty))
        .body(channel_body(rx))
        .unwrap_or_else(|_| Response::new(crate::util::empty())))
}

/// `GET /containers/{id}/top`: like dockerd, run the host's `ps` with `ps_args` (default
/// `-ef`) and keep the rows whose PID is one of the container's processes.
async fn top(engine: &Arc<Engine>, id: &str, q: &Query) -> R {
    let c = engine.get(id)?;
    if !c.state.running {
        return Err(EngineError::Conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    // Processes of the container: every pid in its pids/cpu cgroup (v1).
    let mut pids: Vec<i64> = Vec::new();
    for ctrl in ["pids", "cpu,cpuacct", "memory", "devices"] {
        let base = std::path::Path::new("/sys/fs/cgroup").join(ctrl);
        let p = base.join("berth").join(&c.id).join("cgroup.procs");
        if let Ok(s) = std::fs::read_to_string(&p) {
            pids = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
            break;
        }
    }
    if pids.is_empty() {
        pids.push(c.state.pid);
    }
    let ps_args = q
        .get("ps_args")
        .filter(|a| !a.trim().is_empty())
        .unwrap_or("-ef");
    let args: Vec<String> = ps_args.split_whitespace().map(str::to_string).collect();
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new("ps").args(&args).output())
            .await
            .map_err(EngineError::internal)?
            .map_err(|e| EngineError::Internal(format!("Error running ps: {e}")))?;
    if !out.status.success() {
        return Err(EngineError::Internal(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let (titles, procs) = parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)?;
    Ok(json(200, &json!({"Titles": titles, "Processes": procs})))
}

/// Parse `ps` output into titles and the rows whose PID is in `pids` (the last column, the
/// command, keeps its spaces).
fn parse_ps(out: &str, pids: &[i64]) -> Result<(Vec<String>, Vec<Vec<String>>), EngineError> {
    let mut lines = out.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::InvalidParameter("Couldn't find PID field in ps output".into())
    })?;
    let mut procs = Vec::new();
    for line in lines {
        let mut fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i64>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        if fields.len() > titles.len() && !titles.is_empty() {
            let last = fields.split_off(titles.len() - 1).join(" ");
            fields.push(last);
        }
        procs.push(fields);
    }
    Ok((titles, procs))
}

/// `GET /containers/{id}/stats`: a sample every second (`stream`, the default), or one
/// answer (`stream=false`: two samples a second apart so `precpu_stats` is filled;
/// `one-shot=true` with it: one sample at once, `precpu_stats` empty), as dockerd.
fn stats(engine: &Arc<Engine>, id: &str, q: &Query) -> R {
    let c = engine.get(id)?;
    let stream = q.bool_or("stream", true);
    let one_shot = q.bool("one-shot");
    if one_shot && stream {
        return Err(EngineError::InvalidParameter(
            "cannot have stream=true and one-shot=true".into(),
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let engine = engine.clone();
    let cid = c.id.clone();
    tokio::spawn(async move {
        let take = |pid: i64| async move {
            if pid > 0 {
                tokio::task::spawn_blocking(move || engine::stats::sample(pid))
                    .await
                    .unwrap_or_else(|_| engine::stats::empty())
            } else {
                engine::stats::empty()
            }
        };
        let running_pid = |engine: &Arc<Engine>| -> Option<(Container, i64)> {
            let c = engine.get(&cid).ok()?;
            let pid = if c.state.running { c.state.pid } else { 0 };
            Some((c, pid))
        };
        let zero_cpu = || json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}});
        let mut pre = (zero_cpu(), engine::types::ZERO_TIME.to_string());
        if !stream && !one_shot {
            if let Some((_, pid)) = running_pid(&engine) {
                if pid > 0 {
                    pre = (take(pid).await["cpu_stats"].clone(), engine::engine::now());
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
        loop {
            let Some((c, pid)) = running_pid(&engine) else {
                return;
            };
            let s = take(pid).await;
            let now = engine::engine::now();
            let v = json!({
                "read": now, "preread": pre.1, "name": format!("/{}", c.name), "id": c.id,
                "pids_stats": s["pids_stats"], "blkio_stats": s["blkio_stats"],
                "num_procs": 0, "storage_stats": {},
                "cpu_stats": s["cpu_stats"], "precpu_stats": pre.0,
                "memory_stats": s["memory_stats"], "networks": s["networks"],
            });
            let mut line = serde_json::to_vec(&v).unwrap_or_default();
            line.push(b'\n');
            if tx.send(line).await.is_err() || !stream {
                return;
            }
            pre = (s["cpu_stats"].clone(), now);
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(channel_body(rx))
        .unwrap_or_else(|_| Response::new(crate::util::empty())))
}

#[cfg(test)]
mod tests {
    use super::{drop_null_health_fields, parse_ps};

    #[test]
    fn null_healthcheck_durations_mean_unset() {
        let mut body: engine::CreateRequest = serde_json::from_value(serde_json::json!({
            "Image": "busybox",
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000, "StartPeriod": null}
        }))
        .unwrap();
        drop_null_health_fields(&mut body);
        assert_eq!(
            body.config.extra["Healthcheck"],
            serde_json::json!({"Test": ["CMD", "true"], "Interval": 1000000000})
        );
    }

    #[test]
    fn ps_rows_are_kept_by_pid_and_cmd_keeps_spaces() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 10 1 0 02:18 ? 00:00:00 sleep 100\n\
                   root 11 1 0 02:18 ? 00:00:00 other\n";
        let (titles, procs) = parse_ps(out, &[10]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(procs.len(), 1);
        assert_eq!(procs[0][1], "10");
        assert_eq!(procs[0][7], "sleep 100");
        assert!(parse_ps("USER COMMAND\nroot sh\n", &[1]).is_err());
    }
}
