//! `POST /build`: the classic builder. The request body is the context tar (plain or
//! compressed); the answer streams docker's JSON progress messages.

use crate::util::{channel_body, error_resp, Query, Resp};
use build::{BuildError, BuildOptions, Event};
use engine::Engine;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

fn options(q: &Query) -> Result<BuildOptions, String> {
    let build_args: BTreeMap<String, Option<String>> =
        match q.get("buildargs").filter(|s| !s.is_empty()) {
            Some(s) => serde_json::from_str(s).map_err(|e| format!("invalid buildargs: {e}"))?,
            None => BTreeMap::new(),
        };
    let labels: BTreeMap<String, String> = match q.get("labels").filter(|s| !s.is_empty()) {
        Some(s) => serde_json::from_str(s).map_err(|e| format!("invalid labels: {e}"))?,
        None => BTreeMap::new(),
    };
    if let Some(r) = q.get("remote").filter(|s| !s.is_empty()) {
        return Err(format!("remote build contexts are not supported (remote={r}); send the context as the request body"));
    }
    if q.get("version") == Some("2") {
        return Err("BuildKit (version=2) is not supported by berthd; use the classic builder (DOCKER_BUILDKIT=0)".into());
    }
    let network = match q.get("networkmode").unwrap_or("") {
        "" | "default" | "none" => "none".to_string(),
        "host" => "host".to_string(),
        other => {
            return Err(format!(
                "network mode {other:?} is not supported for builds (use none or host)"
            ))
        }
    };
    Ok(BuildOptions {
        dockerfile: q.get("dockerfile").unwrap_or("Dockerfile").to_string(),
        tags: q.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        build_args,
        no_cache: q.bool("nocache"),
        target: q
            .get("target")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        labels,
        network,
    })
}

fn error_line(msg: &str) -> Vec<u8> {
    let mut v = serde_json::to_vec(&json!({"errorDetail": {"message": msg}, "error": msg}))
        .unwrap_or_default();
    v.extend_from_slice(b"\r\n");
    v
}

/// `POST /build`.
pub async fn build(engine: Arc<Engine>, req: Request<Incoming>, q: Query) -> Resp {
    let opts = match options(&q) {
        Ok(o) => o,
        Err(m) => return error_resp(400, &m),
    };
    let quiet = q.bool("q");
    let rand: [u8; 12] = rand_bytes();
    let ctx_dir = engine
        .config()
        .data_root
        .join("build")
        .join("ctx")
        .join(hex(&rand));
    // 1. The context.
    let (tx, reader) = crate::bodypipe::pipe();
    let dockerfile = opts.dockerfile.clone();
    let job = tokio::task::spawn_blocking(move || {
        build::context::Context::unpack(reader, ctx_dir, &dockerfile)
    });
    let body_err = crate::bodypipe::pump(req.into_body(), tx).await;
    let ctx = match job.await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return error_resp(e.status(), &e.to_string()),
        Err(e) => return error_resp(500, &e.to_string()),
    };
    if let Some(e) = body_err {
        return error_resp(400, &format!("reading the build context: {e}"));
    }
    // 2. The build, streamed.
    let (otx, orx) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let send = |v: serde_json::Value| {
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.extend_from_slice(b"\r\n");
            let _ = otx.blocking_send(b);
        };
        let emit = |ev: Event| match ev {
            Event::Stream(s) if !quiet => send(json!({"stream": s})),
            Event::Stream(_) => {}
            Event::Aux(id) => {
                send(json!({"aux": {"ID": id}}));
                // Like dockerd: with q=1 the image id is the only output.
                if quiet {
                    send(json!({"stream": format!("{id}\n")}));
                }
            }
        };
        // A FROM / COPY --from image that is not present locally is pulled (anonymously,
        // like the classic builder without registry credentials).
        let store = engine.images.store.clone();
        let pull = |reference: &str| -> Result<(), String> {
            send(json!({"stream": format!("Pulling {reference}\n")}));
            let opts = crate::registry::daemon_pull_options();
            rt.block_on(distribution::pull(store.clone(), reference, &opts))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let mut env = build::builder::Env::of(&engine);
        env.pull = Some(&pull);
        let res = build::build(&env, &ctx, &opts, &emit);
        drop(ctx);
        if let Err(e) = res {
            let msg = match &e {
                BuildError::Step(_) | BuildError::Parse { .. } | BuildError::Invalid(_) => {
                    e.to_string()
                }
                other => format!("build failed: {other}"),
            };
            let _ = otx.blocking_send(error_line(&msg));
        }
    });
    let mut resp = Response::new(channel_body(orx));
    if let Ok(v) = "application/json".parse() {
        resp.headers_mut().insert("Content-Type", v);
    }
    resp
}

fn rand_bytes() -> [u8; 12] {
    let mut b = [0u8; 12];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
