//! Request routing and the endpoint handlers.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use image::manifest::{
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
};
use image::Digest;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::errors::{ApiError, Code};
use super::storage::{valid_upload_id, CommitError};
use super::State;

/// Response body type.
pub type Body = BoxBody<Bytes, std::io::Error>;
type Resp = Response<Body>;
type Res = Result<Resp, ApiError>;

/// Largest manifest accepted.
const MAX_MANIFEST: usize = 4 << 20;

/// Entry point of every request.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Resp {
    let mut resp = match route(state, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

fn error_response(e: &ApiError) -> Resp {
    let mut r = Response::builder()
        .status(e.code.status())
        .header(CONTENT_TYPE, "application/json");
    if e.code == Code::Unauthorized {
        r = r.header("WWW-Authenticate", "Basic realm=\"berth-registry\"");
    }
    r.body(full(e.body()))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

fn empty() -> Body {
    full(Bytes::new())
}

fn builder(status: StatusCode) -> hyper::http::response::Builder {
    Response::builder().status(status)
}

fn finish(b: hyper::http::response::Builder, body: Body) -> Res {
    b.body(body)
        .map_err(|e| ApiError::new(Code::Internal, e.to_string()))
}

/// What a path names.
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Blob(&'a str, &'a str),
    Upload(&'a str, &'a str),
    Manifest(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn parse_route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::Upload(name, ""));
    }
    let split = |sep: &str| {
        rest.rsplit_once(sep)
            .filter(|(n, t)| !n.is_empty() && !t.is_empty() && !t.contains('/'))
    };
    if let Some((name, id)) = split("/blobs/uploads/") {
        return Some(Route::Upload(name, id));
    }
    if let Some((name, d)) = split("/blobs/") {
        return Some(Route::Blob(name, d));
    }
    if let Some((name, r)) = split("/manifests/") {
        return Some(Route::Manifest(name, r));
    }
    if let Some((name, d)) = split("/referrers/") {
        return Some(Route::Referrers(name, d));
    }
    None
}

/// The repository name grammar: path components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn valid_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(|c| {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            // A separator run: ".", "_", "__" or "-"+, followed by an alnum.
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
            if !ok {
                return false;
            }
        }
        true
    })
}

fn valid_tag(t: &str) -> bool {
    image::reference::valid_tag(t)
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s)
        .map_err(|_| ApiError::new(Code::DigestInvalid, format!("invalid digest {s:?}")))
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Res {
    if let Some(auth) = &state.auth {
        let h = header(&req, "authorization").map(str::to_string);
        let st = state.clone();
        let ok = tokio::task::spawn_blocking(move || {
            st.auth.as_ref().is_some_and(|a| a.check(h.as_deref()))
        })
        .await
        .unwrap_or(false);
        let _ = auth;
        if !ok {
            return Err(ApiError::new(Code::Unauthorized, "authentication required"));
        }
    }
    let path = req.uri().path().to_string();
    let Some(r) = parse_route(&path) else {
        return Err(ApiError::new(Code::NameUnknown, "no such endpoint"));
    };
    let name = match &r {
        Route::Tags(n)
        | Route::Blob(n, _)
        | Route::Upload(n, _)
        | Route::Manifest(n, _)
        | Route::Referrers(n, _) => Some(*n),
        _ => None,
    };
    if let Some(n) = name {
        if !valid_name(n) {
            return Err(ApiError::new(
                Code::NameInvalid,
                format!("invalid repository name {n:?}"),
            ));
        }
    }
    let m = req.method().clone();
    match (r, &m) {
        (Route::Base, &Method::GET | &Method::HEAD) => finish(
            builder(StatusCode::OK).header(CONTENT_TYPE, "application/json"),
            full(&b"{}"[..]),
        ),
        (Route::Catalog, &Method::GET) => catalog(&state, &req),
        (Route::Tags(n), &Method::GET) => tags_list(&state, &req, n),
        (Route::Blob(n, d), &Method::GET | &Method::HEAD) => {
            get_blob(&state, &req, n, d, m == Method::HEAD).await
        }
        (Route::Blob(n, d), &Method::DELETE) => {
            let d = parse_digest(d)?;
            if state.storage.unlink_blob(n, &d)? {
                finish(builder(StatusCode::ACCEPTED), empty())
            } else {
                Err(ApiError::new(
                    Code::BlobUnknown,
                    format!("blob unknown: {d}"),
                ))
            }
        }
        (Route::Upload(n, ""), &Method::POST) => start_upload(&state, req, n).await,
        (Route::Upload(n, id), &Method::PATCH) => patch_upload(&state, req, n, id).await,
        (Route::Upload(n, id), &Method::PUT) => put_upload(&state, req, n, id).await,
        (Route::Upload(n, id), &Method::GET) => {
            let size = upload_size(&state, id)?;
            upload_accepted(StatusCode::NO_CONTENT, n, id, size)
        }
        (Route::Upload(_, id), &Method::DELETE) => {
            upload_size(&state, id)?;
            let _ = std::fs::remove_file(state.storage.upload_path(id));
            finish(builder(StatusCode::NO_CONTENT), empty())
        }
        (Route::Manifest(n, r), &Method::GET | &Method::HEAD) => {
            get_manifest(&state, n, r, m == Method::HEAD)
        }
        (Route::Manifest(n, r), &Method::PUT) => put_manifest(&state, req, n, r).await,
        (Route::Manifest(n, r), &Method::DELETE) => delete_manifest(&state, n, r),
        (Route::Referrers(n, d), &Method::GET) => referrers(&state, &req, n, d),
        _ => Err(ApiError::new(Code::Unsupported, "method not allowed")),
    }
}

/// `n`/`last` pagination over a sorted list; returns the page and whether more follow.
fn paginate(
    all: Vec<String>,
    q: &HashMap<String, String>,
) -> Result<(Vec<String>, bool), ApiError> {
    let mut items: Vec<String> = match q.get("last") {
        Some(last) => all.into_iter().filter(|x| x > last).collect(),
        None => all,
    };
    let n = match q.get("n") {
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::new(Code::Unsupported, "invalid n"))?,
        ),
        None => None,
    };
    let mut more = false;
    if let Some(n) = n {
        if items.len() > n {
            items.truncate(n);
            more = true;
        }
    }
    Ok((items, more))
}

fn link_header(path: &str, n: &str, last: Option<&String>) -> String {
    let last = last.map(|l| url::form_urlencoded::byte_serialize(l.as_bytes()).collect::<String>());
    format!(
        "<{path}?n={n}&last={}>; rel=\"next\"",
        last.unwrap_or_default()
    )
}

fn catalog(state: &State, req: &Request<Incoming>) -> Res {
    let q = query(req);
    let (repos, more) = paginate(state.storage.catalog(), &q)?;
    let mut b = builder(StatusCode::OK).header(CONTENT_TYPE, "application/json");
    if more {
        let n = q.get("n").cloned().unwrap_or_default();
        b = b.header("Link", link_header("/v2/_catalog", &n, repos.last()));
    }
    let body = serde_json::json!({ "repositories": repos }).to_string();
    finish(b, full(body))
}

fn tags_list(state: &State, req: &Request<Incoming>, name: &str) -> Res {
    if !state.storage.repo_exists(name) {
        return Err(ApiError::new(
            Code::NameUnknown,
            format!("repository name not known to registry: {name}"),
        ));
    }
    let q = query(req);
    let (tags, more) = paginate(state.storage.tags(name), &q)?;
    let mut b = builder(StatusCode::OK).header(CONTENT_TYPE, "application/json");
    if more {
        let n = q.get("n").cloned().unwrap_or_default();
        b = b.header(
            "Link",
            link_header(&format!("/v2/{name}/tags/list"), &n, tags.last()),
        );
    }
    let body = serde_json::json!({ "name": name, "tags": tags }).to_string();
    finish(b, full(body))
}

/// Parses `bytes=START-[END]` against a blob of `size` bytes.
fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end: u64 = if b.trim().is_empty() {
        size.checked_sub(1)?
    } else {
        b.trim().parse::<u64>().ok()?.min(size.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

async fn get_blob(state: &State, req: &Request<Incoming>, name: &str, d: &str, head: bool) -> Res {
    let d = parse_digest(d)?;
    let size = match state.storage.blob_size(&d) {
        Some(s) if state.storage.repo_has_blob(name, &d) => s,
        _ => {
            return Err(ApiError::new(
                Code::BlobUnknown,
                format!("blob unknown: {d}"),
            ))
        }
    };
    let mut b = builder(StatusCode::OK)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header("Docker-Content-Digest", d.as_str())
        .header("Accept-Ranges", "bytes")
        .header("ETag", format!("\"{d}\""));
    let (mut start, mut len) = (0, size);
    if let Some(r) = header(req, RANGE.as_str()) {
        match parse_range(r, size) {
            Some((s, e)) => {
                start = s;
                len = e - s + 1;
                b = b
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header("Content-Range", format!("bytes {s}-{e}/{size}"));
            }
            None => {
                return finish(
                    builder(StatusCode::RANGE_NOT_SATISFIABLE)
                        .header("Content-Range", format!("bytes */{size}")),
                    empty(),
                )
            }
        }
    }
    b = b.header(CONTENT_LENGTH, len);
    if head {
        return finish(b, empty());
    }
    let mut f = tokio::fs::File::open(state.storage.blob_path(&d)).await?;
    if start > 0 {
        f.seek(SeekFrom::Start(start)).await?;
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(
        tokio::io::AsyncReadExt::take(f, len),
        256 * 1024,
    )
    .map_ok(Frame::data);
    finish(b, BodyExt::boxed(StreamBody::new(stream)))
}

fn upload_accepted(status: StatusCode, name: &str, id: &str, size: u64) -> Res {
    let range = if size == 0 {
        "0-0".to_string()
    } else {
        format!("0-{}", size - 1)
    };
    finish(
        builder(status)
            .header(LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
            .header("Docker-Upload-UUID", id)
            .header(RANGE, range)
            .header(CONTENT_LENGTH, 0),
        empty(),
    )
}

fn blob_created(name: &str, d: &Digest) -> Res {
    finish(
        builder(StatusCode::CREATED)
            .header(LOCATION, format!("/v2/{name}/blobs/{d}"))
            .header("Docker-Content-Digest", d.as_str())
            .header(CONTENT_LENGTH, 0),
        empty(),
    )
}

fn upload_size(state: &State, id: &str) -> Result<u64, ApiError> {
    let unknown = || ApiError::new(Code::BlobUploadUnknown, format!("upload unknown: {id}"));
    if !valid_upload_id(id) {
        return Err(unknown());
    }
    std::fs::metadata(state.storage.upload_path(id))
        .map(|m| m.len())
        .map_err(|_| unknown())
}

/// Appends the request body to `path`; returns the bytes written. A body that ends early
/// (client gone, truncated) is an error.
async fn append_body(path: &std::path::Path, body: Incoming) -> Result<u64, ApiError> {
    let mut f = tokio::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .await?;
    let mut body = body;
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(Code::BlobUploadInvalid, format!("reading the body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            f.write_all(&data).await?;
            n += data.len() as u64;
        }
    }
    f.flush().await?;
    Ok(n)
}

async fn commit(state: &State, src: std::path::PathBuf, name: &str, d: &Digest) -> Res {
    let expected = d.clone();
    let storage = state.storage.clone();
    // Hashing may read a large file: keep it off the reactor threads.
    let result = tokio::task::spawn_blocking(move || storage.commit_file(&src, &expected))
        .await
        .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
    match result {
        Ok(_) => {
            state.storage.link_blob(name, d)?;
            blob_created(name, d)
        }
        Err(CommitError::DigestMismatch { actual }) => Err(ApiError::new(
            Code::DigestInvalid,
            format!("digest mismatch: expected {d}, content is {actual}"),
        )),
        Err(CommitError::Io(e)) => Err(e.into()),
    }
}

async fn start_upload(state: &State, req: Request<Incoming>, name: &str) -> Res {
    let q = query(&req);
    if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
        if let Ok(d) = Digest::parse(mount) {
            if valid_name(from) && state.storage.repo_has_blob(from, &d) {
                state.storage.link_blob(name, &d)?;
                return blob_created(name, &d);
            }
        }
        // Not mountable: fall back to a regular upload session (as the spec says).
    }
    if let Some(d) = q.get("digest") {
        let d = parse_digest(d)?;
        let tmp = state.storage.temp_path();
        let r = append_body(&tmp, req.into_body()).await;
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        return commit(state, tmp, name, &d).await;
    }
    let id = state.storage.new_upload()?;
    upload_accepted(StatusCode::ACCEPTED, name, &id, 0)
}

async fn patch_upload(state: &State, req: Request<Incoming>, name: &str, id: &str) -> Res {
    let size = upload_size(state, id)?;
    if let Some(cr) = header(&req, "content-range") {
        let start = cr
            .trim()
            .trim_start_matches("bytes ")
            .split('-')
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if start != Some(size) {
            return finish(
                builder(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
                    .header(RANGE, format!("0-{}", size.saturating_sub(1)))
                    .header(CONTENT_TYPE, "application/json"),
                full(
                    ApiError::new(Code::RangeInvalid, format!("upload is at offset {size}")).body(),
                ),
            );
        }
    }
    let path = state.storage.upload_path(id);
    let r = append_body(&path, req.into_body()).await;
    if let Err(e) = r {
        // A chunk cut short: the session is no longer consistent, drop it.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    let size = upload_size(state, id)?;
    upload_accepted(StatusCode::ACCEPTED, name, id, size)
}

async fn put_upload(state: &State, req: Request<Incoming>, name: &str, id: &str) -> Res {
    upload_size(state, id)?;
    let q = query(&req);
    let Some(d) = q.get("digest") else {
        return Err(ApiError::new(
            Code::DigestInvalid,
            "digest parameter missing",
        ));
    };
    let d = parse_digest(d)?;
    let path = state.storage.upload_path(id);
    if let Err(e) = append_body(&path, req.into_body()).await {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    commit(state, path, name, &d).await
}

/// Resolves a tag or digest to a manifest digest held by the repository.
fn resolve_manifest(state: &State, name: &str, r: &str) -> Result<(Digest, String), ApiError> {
    let unknown = || ApiError::new(Code::ManifestUnknown, format!("manifest unknown: {r}"));
    if !state.storage.repo_exists(name) {
        return Err(ApiError::new(
            Code::NameUnknown,
            format!("repository name not known to registry: {name}"),
        ));
    }
    let d = if r.contains(':') {
        parse_digest(r)?
    } else {
        if !valid_tag(r) {
            return Err(ApiError::new(
                Code::ManifestInvalid,
                format!("invalid tag {r:?}"),
            ));
        }
        state.storage.tag_target(name, r).ok_or_else(unknown)?
    };
    let mt = state
        .storage
        .manifest_media_type(name, &d)
        .ok_or_else(unknown)?;
    Ok((d, mt))
}

fn get_manifest(state: &State, name: &str, r: &str, head: bool) -> Res {
    let (d, mt) = resolve_manifest(state, name, r)?;
    let data = std::fs::read(state.storage.blob_path(&d))?;
    let b = builder(StatusCode::OK)
        .header(CONTENT_TYPE, mt)
        .header(CONTENT_LENGTH, data.len())
        .header("Docker-Content-Digest", d.as_str())
        .header("ETag", format!("\"{d}\""));
    finish(b, if head { empty() } else { full(data) })
}

fn delete_manifest(state: &State, name: &str, r: &str) -> Res {
    if r.contains(':') {
        let (d, _) = resolve_manifest(state, name, r)?;
        state.storage.delete_manifest(name, &d)?;
    } else if !state.storage.delete_tag(name, r)? {
        return Err(ApiError::new(
            Code::ManifestUnknown,
            format!("manifest unknown: {r}"),
        ));
    }
    finish(builder(StatusCode::ACCEPTED), empty())
}

const MANIFEST_TYPES: [&str; 4] = [
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
];

async fn put_manifest(state: &State, req: Request<Incoming>, name: &str, r: &str) -> Res {
    let ct = header(&req, CONTENT_TYPE.as_str())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
    let body = http_body_util::Limited::new(req.into_body(), MAX_MANIFEST)
        .collect()
        .await
        .map_err(|e| ApiError::new(Code::ManifestInvalid, format!("reading the manifest: {e}")))?
        .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(Code::ManifestInvalid, format!("manifest is not JSON: {e}")))?;
    if v.get("schemaVersion").and_then(|x| x.as_u64()) != Some(2) {
        return Err(ApiError::new(
            Code::ManifestInvalid,
            "only schemaVersion 2 manifests are supported",
        ));
    }
    let body_mt = v
        .get("mediaType")
        .and_then(|x| x.as_str())
        .map(str::to_string);
    let is_index = v.get("manifests").is_some();
    let mt = body_mt
        .clone()
        .or(ct.filter(|c| MANIFEST_TYPES.contains(&c.as_str())))
        .unwrap_or_else(|| {
            if is_index {
                MEDIA_TYPE_OCI_INDEX.to_string()
            } else {
                MEDIA_TYPE_OCI_MANIFEST.to_string()
            }
        });
    let missing_blob = |what: &str, d: &str| {
        ApiError::new(
            Code::ManifestBlobUnknown,
            format!("{what} unknown to registry: {d}"),
        )
    };
    if is_index {
        let list = v["manifests"]
            .as_array()
            .ok_or_else(|| ApiError::new(Code::ManifestInvalid, "manifests must be an array"))?;
        for m in list {
            let ds = m.get("digest").and_then(|x| x.as_str()).unwrap_or("");
            let d = Digest::parse(ds)
                .map_err(|_| ApiError::new(Code::ManifestInvalid, format!("bad digest {ds:?}")))?;
            if state.storage.manifest_media_type(name, &d).is_none() {
                return Err(missing_blob("manifest", ds));
            }
        }
    } else {
        let mut descs = Vec::new();
        match v.get("config") {
            Some(c) => descs.push(c),
            None => {
                return Err(ApiError::new(
                    Code::ManifestInvalid,
                    "manifest has no config",
                ))
            }
        }
        if let Some(l) = v.get("layers").and_then(|x| x.as_array()) {
            descs.extend(l.iter());
        }
        for desc in descs {
            if desc.get("urls").is_some() {
                continue; // foreign layer
            }
            let ds = desc.get("digest").and_then(|x| x.as_str()).unwrap_or("");
            let d = Digest::parse(ds)
                .map_err(|_| ApiError::new(Code::ManifestInvalid, format!("bad digest {ds:?}")))?;
            if !state.storage.repo_has_blob(name, &d) {
                return Err(missing_blob("blob", ds));
            }
        }
    }
    let actual = Digest::of(&body);
    let tag = if r.contains(':') {
        let want = parse_digest(r)?;
        if want != actual {
            return Err(ApiError::new(
                Code::DigestInvalid,
                format!("manifest digest is {actual}, not {want}"),
            ));
        }
        None
    } else {
        if !valid_tag(r) {
            return Err(ApiError::new(
                Code::ManifestInvalid,
                format!("invalid tag {r:?}"),
            ));
        }
        Some(r)
    };
    let d = state.storage.put_manifest(name, &body, &mt)?;
    if let Some(t) = tag {
        state.storage.set_tag(name, t, &d)?;
    }
    let mut b = builder(StatusCode::CREATED)
        .header(LOCATION, format!("/v2/{name}/manifests/{d}"))
        .header("Docker-Content-Digest", d.as_str())
        .header(CONTENT_LENGTH, 0);
    if let Some(subject) = v
        .get("subject")
        .and_then(|s| s.get("digest"))
        .and_then(|x| x.as_str())
        .and_then(|s| Digest::parse(s).ok())
    {
        let artifact_type = v
            .get("artifactType")
            .cloned()
            .or_else(|| v.get("config").and_then(|c| c.get("mediaType")).cloned());
        let mut desc = serde_json::json!({
            "mediaType": mt,
            "digest": d.as_str(),
            "size": body.len(),
        });
        if let Some(at) = artifact_type {
            desc["artifactType"] = at;
        }
        if let Some(a) = v.get("annotations") {
            desc["annotations"] = a.clone();
        }
        state
            .storage
            .add_referrer(name, &subject, &d, desc.to_string().as_bytes())?;
        b = b.header("OCI-Subject", subject.as_str());
    }
    finish(b, empty())
}

fn referrers(state: &State, req: &Request<Incoming>, name: &str, d: &str) -> Res {
    let d = parse_digest(d)?;
    let q = query(req);
    let mut list = state.storage.referrers(name, &d);
    let mut b = builder(StatusCode::OK).header(CONTENT_TYPE, MEDIA_TYPE_OCI_INDEX);
    if let Some(at) = q.get("artifactType") {
        list.retain(|x| x.get("artifactType").and_then(|v| v.as_str()) == Some(at.as_str()));
        b = b.header("OCI-Filters-Applied", "artifactType");
    }
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": list,
    })
    .to_string();
    finish(b, full(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("library/busybox"));
        assert!(valid_name("a/b-c__d.e/f--g"));
        assert!(!valid_name("A"));
        assert!(!valid_name("a//b"));
        assert!(!valid_name("a/_blobs"));
        assert!(!valid_name("a-"));
        assert!(!valid_name("a/../b"));
        assert!(!valid_name("a..b"));
    }

    #[test]
    fn routes() {
        assert!(matches!(parse_route("/v2/"), Some(Route::Base)));
        assert!(matches!(
            parse_route("/v2/a/b/blobs/uploads/"),
            Some(Route::Upload("a/b", ""))
        ));
        assert!(matches!(
            parse_route("/v2/a/blobs/uploads/xyz"),
            Some(Route::Upload("a", "xyz"))
        ));
        assert!(matches!(
            parse_route("/v2/a/manifests/latest"),
            Some(Route::Manifest("a", "latest"))
        ));
        assert!(matches!(
            parse_route("/v2/a/b/tags/list"),
            Some(Route::Tags("a/b"))
        ));
        assert!(parse_route("/v1/x").is_none());
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 10), Some((0, 9)));
        assert_eq!(parse_range("bytes=5-100", 10), Some((5, 9)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=0-", 0), None);
    }
}
