//! `pull`: registry → [`ImageStore`], layers streamed through digest check → decompress →
//! unpack, in parallel.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use image::config::{MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_OCI_CONFIG};
use image::content::BlobWriter;
use image::digest::Hasher;
use image::manifest::{
    Descriptor, Manifest, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};
use image::{Digest, ImageConfig, ImageRecord, ImageStore, NewImage, Reference, StagedLayer};
use reqwest::header::{ACCEPT, CONTENT_TYPE, RANGE};
use reqwest::StatusCode;
use tokio::sync::{mpsc, Semaphore};

use super::session::{check, Session};
use super::{ClientOptions, MANIFEST_ACCEPT};
use crate::error::DistributionError;
use crate::platform::Platform;
use crate::progress::{LayerEvent, Reporter};

type Result<T, E = DistributionError> = std::result::Result<T, E>;

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// The image now in the store.
    pub image: ImageRecord,
    /// Digest of the manifest (or index) the reference resolved to.
    pub digest: String,
    /// True when the reference already named this image locally (docker's "Image is up to
    /// date").
    pub up_to_date: bool,
}

/// Largest manifest or config accepted.
const MAX_SMALL: usize = 8 << 20;
/// Times a layer download is resumed (HTTP Range) after a broken connection.
const RESUMES: usize = 3;

/// Pulls `reference` (e.g. `localhost:5000/app:1`, `busybox@sha256:…`) into `store`.
///
/// Manifest lists / OCI indexes resolve to `options.platform` (default linux/<this arch>).
/// Layers already unpacked locally are skipped ("Already exists"); the others are downloaded
/// in parallel and streamed through the digest check, decompression and a safe unpack, with
/// the compressed blob kept in the content store (so the image can be pushed again). On any
/// error nothing of the pull is left in the store.
pub async fn pull(
    store: Arc<ImageStore>,
    reference: &str,
    options: &ClientOptions,
) -> Result<PullResult> {
    let r = Reference::parse(reference)?;
    let rep = Reporter(options.progress.clone());
    let creds = options.credentials_for(r.domain())?;
    let session = Arc::new(Session::open(&r, creds, &options.insecure_registries, "pull").await?);
    let wanted = r
        .digest()
        .map(str::to_string)
        .or_else(|| r.tag().map(str::to_string))
        .unwrap_or_else(|| "latest".into());
    rep.status(r.tag().or(r.digest()), format!("Pulling from {}", r.path()));

    // Manifest (through an index when there is one).
    let (top_bytes, top_type) = fetch_manifest(&session, &wanted, r.digest()).await?;
    let top_digest = Digest::of(&top_bytes);
    let platform = options.platform.clone().unwrap_or_else(Platform::host);
    let (manifest_bytes, _mt) = if is_index(&top_type) {
        let d = pick_platform(&top_bytes, &platform)?;
        fetch_manifest(&session, d.as_str(), Some(d.as_str())).await?
    } else {
        (top_bytes.clone(), top_type)
    };
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| DistributionError::invalid("manifest", e))?;
    if manifest.schema_version != 2 {
        return Err(DistributionError::Unsupported(format!(
            "schemaVersion {}",
            manifest.schema_version
        )));
    }
    let cmt = manifest.config.media_type.as_str();
    if cmt != MEDIA_TYPE_OCI_CONFIG && cmt != MEDIA_TYPE_DOCKER_CONFIG {
        return Err(DistributionError::Unsupported(format!(
            "config media type {cmt} (not a container image)"
        )));
    }

    // Config.
    let config_digest = Digest::parse(&manifest.config.digest)
        .map_err(|e| DistributionError::invalid("manifest config digest", e))?;
    let config_bytes = fetch_small_blob(&session, &store, &config_digest).await?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| DistributionError::invalid("image config", e))?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(DistributionError::invalid(
            "image",
            format!(
                "{} layers in the manifest, {} diff ids in the config",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }

    // Which layers to fetch.
    let mut jobs: Vec<(Descriptor, Digest)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (desc, diff) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        let diff_id =
            Digest::parse(diff).map_err(|e| DistributionError::invalid("config diff id", e))?;
        if store.layer_dir(&diff_id).is_dir() {
            rep.layer(&desc.digest, LayerEvent::AlreadyExists);
            continue;
        }
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        check_layer_type(desc)?;
        jobs.push((desc.clone(), diff_id));
    }
    let limit = if options.max_concurrent == 0 {
        3
    } else {
        options.max_concurrent
    };
    for (i, (d, _)) in jobs.iter().enumerate() {
        rep.layer(&d.digest, LayerEvent::PullingFsLayer);
        if i >= limit {
            rep.layer(&d.digest, LayerEvent::Waiting);
        }
    }
    let sem = Arc::new(Semaphore::new(limit));
    let tasks = jobs.iter().map(|(desc, diff_id)| {
        fetch_layer(
            session.clone(),
            store.clone(),
            desc.clone(),
            diff_id.clone(),
            rep.clone(),
            sem.clone(),
        )
    });
    let fetched = futures_util::future::try_join_all(tasks).await?;

    // Commit: compressed blobs, then the image (layers, config, manifest, references).
    let previous = store
        .get(&r.to_string())
        .ok()
        .map(|i| i.id)
        .filter(|_| r.digest().is_none());
    let mut references = Vec::new();
    if r.digest().is_none() {
        references.push(r.clone());
    }
    references.push(r.with_digest(top_digest.as_str())?);
    let st = store.clone();
    let layer_digests: Vec<String> = jobs.iter().map(|(d, _)| d.digest.clone()).collect();
    let image = tokio::task::spawn_blocking(move || -> Result<ImageRecord> {
        let mut created = Vec::new();
        let mut staged = Vec::new();
        let mut blobs = Vec::new();
        let result = (|| -> Result<ImageRecord> {
            for f in fetched {
                let existed = st.content().exists(&f.digest);
                f.writer.commit(Some(&f.digest))?;
                if !existed {
                    created.push(f.digest.clone());
                }
                blobs.push(f.digest);
                staged.push(f.staged);
            }
            Ok(st.commit_image(NewImage {
                config: config_bytes,
                manifest: manifest_bytes,
                layers: staged,
                blobs,
                references,
                created: None,
            })?)
        })();
        if result.is_err() {
            for d in created {
                let _ = st.content().delete(&d);
            }
        }
        result
    })
    .await
    .map_err(|e| DistributionError::Internal(e.to_string()))??;
    for d in &layer_digests {
        rep.layer(d, LayerEvent::PullComplete);
    }
    let up_to_date = previous.as_deref() == Some(image.id.as_str()) && jobs.is_empty();
    rep.status(None, format!("Digest: {top_digest}"));
    rep.status(
        None,
        if up_to_date {
            format!("Status: Image is up to date for {}", r.familiar())
        } else {
            format!("Status: Downloaded newer image for {}", r.familiar())
        },
    );
    Ok(PullResult {
        image,
        digest: top_digest.to_string(),
        up_to_date,
    })
}

fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

fn check_layer_type(desc: &Descriptor) -> Result<()> {
    let mt = desc.media_type.as_str();
    if mt.contains("foreign") || mt.contains("nondistributable") {
        return Err(DistributionError::Unsupported(format!(
            "foreign layer {} ({mt})",
            desc.digest
        )));
    }
    if !(mt.contains(".tar") || mt.contains("tar.gzip") || mt.contains("rootfs.diff")) {
        return Err(DistributionError::Unsupported(format!(
            "layer media type {mt}"
        )));
    }
    Ok(())
}

/// Fetches a manifest by tag or digest; checks it against `expected` digest when given.
/// Returns the bytes and the media type.
async fn fetch_manifest(
    s: &Session,
    reference: &str,
    expected: Option<&str>,
) -> Result<(Vec<u8>, String)> {
    let url = s.url(&format!("manifests/{reference}"));
    let resp = s
        .send(&url, |c| Ok(c.get(&url).header(ACCEPT, MANIFEST_ACCEPT)))
        .await?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(DistributionError::ManifestUnknown(format!(
            "{}/{}:{reference}",
            s.base, s.repo
        )));
    }
    let resp = check(&url, resp).await?;
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
    let body = read_limited(&url, resp).await?;
    if let Some(e) = expected {
        let actual = Digest::of(&body);
        if actual.as_str() != e {
            return Err(DistributionError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: e.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| DistributionError::invalid("manifest", e))?;
    let mt = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .or(ct)
        .unwrap_or_default();
    let mt = match mt.as_str() {
        MEDIA_TYPE_OCI_INDEX
        | MEDIA_TYPE_DOCKER_MANIFEST_LIST
        | MEDIA_TYPE_OCI_MANIFEST
        | MEDIA_TYPE_DOCKER_MANIFEST => mt,
        _ if v.get("manifests").is_some() => MEDIA_TYPE_OCI_INDEX.to_string(),
        _ if v.get("config").is_some() && v.get("layers").is_some() => {
            MEDIA_TYPE_OCI_MANIFEST.to_string()
        }
        other => {
            return Err(DistributionError::Unsupported(format!(
                "manifest media type {other:?}"
            )))
        }
    };
    Ok((body, mt))
}

async fn read_limited(url: &str, resp: reqwest::Response) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DistributionError::http(url, e))?;
        if out.len() + chunk.len() > MAX_SMALL {
            return Err(DistributionError::invalid(url, "document too large"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Picks the entry of an index that fits `platform`.
fn pick_platform(index: &[u8], platform: &Platform) -> Result<Digest> {
    let v: serde_json::Value =
        serde_json::from_slice(index).map_err(|e| DistributionError::invalid("index", e))?;
    let list = v
        .get("manifests")
        .and_then(|m| m.as_array())
        .ok_or_else(|| DistributionError::invalid("index", "no manifests"))?;
    let mut best: Option<(u8, &str)> = None;
    let mut available = Vec::new();
    for m in list {
        let Some(p) = m.get("platform") else { continue };
        let d = m.get("digest").and_then(|d| d.as_str()).unwrap_or("");
        available.push(format!(
            "{}/{}{}",
            p.get("os").and_then(|x| x.as_str()).unwrap_or("?"),
            p.get("architecture")
                .and_then(|x| x.as_str())
                .unwrap_or("?"),
            p.get("variant")
                .and_then(|x| x.as_str())
                .map(|v| format!("/{v}"))
                .unwrap_or_default()
        ));
        if let Some(score) = platform.score(p) {
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, d));
            }
        }
    }
    match best {
        Some((_, d)) => {
            Digest::parse(d).map_err(|e| DistributionError::invalid("index entry digest", e))
        }
        None => Err(DistributionError::NoMatchingPlatform {
            wanted: platform.to_string(),
            available: available.join(", "),
        }),
    }
}

/// A small blob (config): from the local store when present, else fetched and verified.
async fn fetch_small_blob(s: &Session, store: &ImageStore, d: &Digest) -> Result<Vec<u8>> {
    if let Ok(b) = store.content().read(d) {
        return Ok(b);
    }
    let url = s.url(&format!("blobs/{d}"));
    let resp = s.send(&url, |c| Ok(c.get(&url))).await?;
    let resp = check(&url, resp).await?;
    let body = read_limited(&url, resp).await?;
    let actual = Digest::of(&body);
    if &actual != d {
        return Err(DistributionError::DigestMismatch {
            what: format!("blob {d}"),
            expected: d.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(body)
}

/// A verified, unpacked layer waiting for the commit.
struct Fetched {
    digest: Digest,
    writer: BlobWriter,
    staged: StagedLayer,
}

/// The blocking side of a layer download: hashes and stores the compressed bytes as they are
/// read by the unpacker.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
    hasher: Hasher,
    writer: BlobWriter,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => {
                    // Whole network chunks are hashed and stored at once (fewer syscalls than
                    // per read of the unpacker); everything received is read in the end.
                    self.hasher.update(&b);
                    self.writer.write_all(&b)?;
                    self.cur = b;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

async fn fetch_layer(
    s: Arc<Session>,
    store: Arc<ImageStore>,
    desc: Descriptor,
    diff_id: Digest,
    rep: Reporter,
    sem: Arc<Semaphore>,
) -> Result<Fetched> {
    let digest =
        Digest::parse(&desc.digest).map_err(|e| DistributionError::invalid("layer digest", e))?;
    let _permit = sem
        .acquire()
        .await
        .map_err(|e| DistributionError::Internal(e.to_string()))?;
    let total = desc.size;
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    let writer = store.content().writer()?;
    let st = store.clone();
    let expected_diff = diff_id.clone();
    let expected_blob = digest.clone();
    let unpack = tokio::task::spawn_blocking(move || -> Result<(StagedLayer, ChannelReader)> {
        let mut reader = ChannelReader {
            rx,
            cur: Bytes::new(),
            hasher: Hasher::new(),
            writer,
        };
        let staged = match st.stage_layer(&mut reader, false) {
            Ok(s) => s,
            Err(e) => {
                // Corrupt content usually shows first as a bad stream: report the digest
                // mismatch when that is the cause.
                if io::copy(&mut reader, &mut io::sink()).is_ok() {
                    let actual = reader.hasher.clone().finish();
                    if actual != expected_blob {
                        return Err(DistributionError::DigestMismatch {
                            what: format!("blob {expected_blob}"),
                            expected: expected_blob.to_string(),
                            actual: actual.to_string(),
                        });
                    }
                }
                return Err(e.into());
            }
        };
        // Whatever follows the end of the compressed stream still counts for the digest.
        io::copy(&mut reader, &mut io::sink())
            .map_err(|e| DistributionError::invalid("layer", e))?;
        if staged.diff_id() != &expected_diff {
            return Err(DistributionError::DigestMismatch {
                what: "layer diff id".into(),
                expected: expected_diff.to_string(),
                actual: staged.diff_id().to_string(),
            });
        }
        Ok((staged, reader))
    });

    let url = s.url(&format!("blobs/{digest}"));
    let mut current: u64 = 0;
    let mut last_report: u64 = 0;
    let mut net_error: Option<DistributionError> = None;
    let mut resumes = 0;
    'outer: loop {
        let offset = current;
        let resp = s
            .send(&url, |c| {
                let mut rb = c.get(&url);
                if offset > 0 {
                    rb = rb.header(RANGE, format!("bytes={offset}-"));
                }
                Ok(rb)
            })
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                net_error = Some(e);
                break;
            }
        };
        if offset > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
            net_error = Some(DistributionError::http(
                &url,
                "connection lost and the registry does not support resuming (Range)",
            ));
            break;
        }
        let resp = match check(&url, resp).await {
            Ok(r) => r,
            Err(e) => {
                net_error = Some(e);
                break;
            }
        };
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => {
                    current += b.len() as u64;
                    if current > total {
                        net_error = Some(DistributionError::DigestMismatch {
                            what: format!("blob {digest}"),
                            expected: format!("{total} bytes"),
                            actual: format!("more than {total} bytes"),
                        });
                        break 'outer;
                    }
                    if tx.send(b).await.is_err() {
                        // The unpacker stopped: its error says why.
                        break 'outer;
                    }
                    if current - last_report >= 512 * 1024 || current == total {
                        last_report = current;
                        rep.layer(&desc.digest, LayerEvent::Downloading { current, total });
                    }
                }
                Err(e) => {
                    if resumes < RESUMES && current < total {
                        resumes += 1;
                        continue 'outer;
                    }
                    net_error = Some(DistributionError::http(&url, e));
                    break 'outer;
                }
            }
        }
        break;
    }
    drop(tx);
    let unpacked = unpack
        .await
        .map_err(|e| DistributionError::Internal(e.to_string()))?;
    if let Some(e) = net_error {
        return Err(e);
    }
    let (staged, reader) = unpacked?;
    if current < total {
        return Err(DistributionError::http(
            &url,
            format!("blob truncated: {current} of {total} bytes"),
        ));
    }
    rep.layer(&desc.digest, LayerEvent::Verifying);
    let actual = reader.hasher.finish();
    if actual != digest {
        return Err(DistributionError::DigestMismatch {
            what: format!("blob {digest}"),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    rep.layer(&desc.digest, LayerEvent::DownloadComplete);
    rep.layer(
        &desc.digest,
        LayerEvent::Extracting {
            current: total,
            total,
        },
    );
    Ok(Fetched {
        digest,
        writer: reader.writer,
        staged,
    })
}
