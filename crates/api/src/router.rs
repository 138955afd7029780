//! Version prefix handling and dispatch of every route.

use crate::util::{error_resp, Query, Resp};
use crate::{containers, exec, images, system, volumes};
use engine::Engine;
use hyper::body::Incoming;
use hyper::{Method, Request};
use std::sync::Arc;

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Split `/v1.44/containers/json` into (`Some("1.44")`, `/containers/json`).
fn strip_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let ver = &rest[..end];
        if parse_version(ver).is_some() {
            let p = &rest[end..];
            return (Some(ver), if p.is_empty() { "/" } else { p });
        }
    }
    (None, path)
}

/// Route one request.
pub async fn route(engine: Arc<Engine>, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let raw_path = percent_decode(req.uri().path());
    let (ver, path) = strip_version(&raw_path);
    if let Some(v) = ver {
        let parsed = parse_version(v).unwrap_or((0, 0));
        if parsed < (1, 24) {
            return error_resp(
                400,
                &format!("client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version", crate::MIN_API_VERSION),
            );
        }
        if parsed > (1, 44) {
            return error_resp(
                400,
                &format!(
                    "client version {v} is too new. Maximum supported API version is {}",
                    crate::API_VERSION
                ),
            );
        }
    }
    let api_ver = ver
        .map(|v| parse_version(v).unwrap_or((1, 44)))
        .unwrap_or((1, 44));
    let q = Query::parse(req.uri().query());
    let path = path.trim_end_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    tracing::debug!("{method} {raw_path}");
    let m = &method;
    let resp = match (segs.first().copied(), segs.len()) {
        (Some("_ping"), 1) if *m == Method::GET || *m == Method::HEAD => system::ping(m),
        (Some("version"), 1) if *m == Method::GET => system::version(),
        (Some("info"), 1) if *m == Method::GET => system::info(&engine),
        (Some("events"), 1) if *m == Method::GET => {
            crate::events::events(&engine, &q).unwrap_or_else(|e| crate::util::engine_error(&e))
        }
        (Some("containers"), _) => containers::route(engine, req, m, &segs[1..], q, api_ver).await,
        (Some("exec"), _) => exec::route(engine, req, m, &segs[1..], q).await,
        (Some("auth"), 1) if *m == Method::POST => crate::registry::auth(req).await,
        (Some("images"), _) => images::route(engine, req, m, &path["/images".len()..], q, api_ver).await,
        (Some("commit"), 1) if *m == Method::POST => crate::archive::commit(engine, req, &q).await,
        (Some("build"), 1) if *m == Method::POST => crate::build::build(engine, req, q).await,
        (Some("build"), 2) if *m == Method::POST && segs[1] == "prune" => {
            crate::df::build_prune(&engine, &q).await.unwrap_or_else(|e| crate::util::engine_error(&e))
        }
        (Some("system"), 2) if *m == Method::GET && segs[1] == "df" => {
            crate::df::df(&engine, &q).await.unwrap_or_else(|e| crate::util::engine_error(&e))
        }
        (Some("volumes"), _) => volumes::route(engine, req, m, &segs[1..], q, api_ver).await,
        (Some("networks"), _) => crate::networks::route(engine, req, m, &segs[1..], q).await,
        (Some("swarm" | "services" | "nodes" | "tasks" | "secrets" | "configs"), _) => error_resp(
            503,
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
        ),
        _ => error_resp(404, "page not found"),
    };
    let mut resp = resp;
    let h = resp.headers_mut();
    if !h.contains_key("Api-Version") {
        if let Ok(v) = crate::API_VERSION.parse() {
            h.insert("Api-Version", v);
        }
    }
    if let Ok(v) = "linux".parse() {
        h.insert("Ostype", v);
    }
    if let Ok(v) = format!("berth/{}", crate::SERVER_VERSION).parse() {
        h.insert("Server", v);
    }
    resp
}

/// Decodes `%XX` escapes in a request path (clients may escape `:` or `/` in names, as
/// Go's router decodes them before matching). Invalid escapes are kept as they are.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_escaped_paths() {
        assert_eq!(
            super::percent_decode("/images/a%3Av1/json"),
            "/images/a:v1/json"
        );
        assert_eq!(super::percent_decode("/x%2"), "/x%2");
        assert_eq!(super::percent_decode("/x%zz%41"), "/x%zzA");
    }

    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            strip_version("/v1.44/containers/json"),
            (Some("1.44"), "/containers/json")
        );
        assert_eq!(
            strip_version("/containers/json"),
            (None, "/containers/json")
        );
        assert_eq!(strip_version("/v1.41/_ping"), (Some("1.41"), "/_ping"));
        assert_eq!(strip_version("/version"), (None, "/version"));
    }
}
