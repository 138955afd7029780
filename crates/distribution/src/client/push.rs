//! `push`: [`ImageStore`] → registry, with already-exists checks and cross-repository mounts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use image::manifest::{Manifest, MEDIA_TYPE_OCI_MANIFEST};
use image::{Digest, ImageStore, Reference};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use tokio::sync::Semaphore;

use super::session::{check, Session};
use super::ClientOptions;
use crate::error::DistributionError;
use crate::progress::{LayerEvent, Reporter};

type Result<T, E = DistributionError> = std::result::Result<T, E>;

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushResult {
    /// The tag pushed (None when pushed by digest).
    pub tag: Option<String>,
    /// Digest of the manifest in the registry.
    pub digest: String,
    /// Size of the manifest in bytes.
    pub size: u64,
}

/// One blob to push.
#[derive(Clone)]
struct Job {
    digest: Digest,
    size: u64,
    is_layer: bool,
}

/// Pushes the local image `reference` (e.g. `localhost:5000/app:1`) to its registry.
///
/// Every blob is first checked with HEAD ("Layer already exists"), then mounted from another
/// repository of the same registry the image is known under ("Mounted from …"), else
/// uploaded (POST + PUT); then the manifest is PUT under the tag.
pub async fn push(
    store: Arc<ImageStore>,
    reference: &str,
    options: &ClientOptions,
) -> Result<PushResult> {
    let r = Reference::parse(reference)?;
    let rep = Reporter(options.progress.clone());
    let img = store.get(&r.to_string())?;
    let mdigest = Digest::parse(&img.manifest_digest)
        .map_err(|e| DistributionError::invalid("image manifest digest", e))?;
    let manifest_bytes = store.content().read(&mdigest)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| DistributionError::invalid("local manifest", e))?;
    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_string());

    let mut jobs = Vec::new();
    for (i, d) in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
        .enumerate()
    {
        let digest = Digest::parse(&d.digest)
            .map_err(|e| DistributionError::invalid("manifest digest", e))?;
        if jobs.iter().any(|j: &Job| j.digest == digest) {
            continue;
        }
        jobs.push(Job {
            digest,
            size: d.size,
            is_layer: i < manifest.layers.len(),
        });
    }

    // Other repositories of the same registry this image is known under: mount sources.
    let mut sources: Vec<String> = img
        .repo_tags
        .iter()
        .chain(&img.repo_digests)
        .filter_map(|x| Reference::parse(x).ok())
        .filter(|x| x.domain() == r.domain() && x.path() != r.path())
        .map(|x| x.path().to_string())
        .collect();
    sources.sort();
    sources.dedup();

    let creds = options.credentials_for(r.domain())?;
    let mut session = Session::open(&r, creds, &options.insecure_registries, "pull,push").await?;
    for src in &sources {
        session.add_pull_scope(src).await?;
    }
    let session = Arc::new(session);
    rep.status(
        None,
        format!("The push refers to repository [{}]", r.name()),
    );
    let limit = if options.max_concurrent == 0 {
        5
    } else {
        options.max_concurrent
    };
    for (i, j) in jobs.iter().enumerate().filter(|(_, j)| j.is_layer) {
        rep.layer(j.digest.as_str(), LayerEvent::Preparing);
        if i >= limit {
            rep.layer(j.digest.as_str(), LayerEvent::Waiting);
        }
    }
    let sem = Arc::new(Semaphore::new(limit));
    let sources = Arc::new(sources);
    let tasks = jobs.iter().map(|j| {
        push_blob(
            session.clone(),
            store.clone(),
            j.clone(),
            sources.clone(),
            rep.clone(),
            sem.clone(),
        )
    });
    futures_util::future::try_join_all(tasks).await?;

    // The manifest.
    let tag = r.tag().map(str::to_string);
    let target = tag.clone().unwrap_or_else(|| mdigest.to_string());
    let url = session.url(&format!("manifests/{target}"));
    let resp = session
        .send(&url, |c| {
            Ok(c.put(&url)
                .header(CONTENT_TYPE, media_type.as_str())
                .body(manifest_bytes.clone()))
        })
        .await?;
    let resp = check(&url, resp).await?;
    let digest = resp
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| mdigest.to_string());
    rep.status(
        None,
        format!(
            "{}: digest: {digest} size: {}",
            tag.as_deref().unwrap_or(mdigest.as_str()),
            manifest_bytes.len()
        ),
    );
    Ok(PushResult {
        tag,
        digest,
        size: manifest_bytes.len() as u64,
    })
}

async fn push_blob(
    s: Arc<Session>,
    store: Arc<ImageStore>,
    job: Job,
    sources: Arc<Vec<String>>,
    rep: Reporter,
    sem: Arc<Semaphore>,
) -> Result<()> {
    let _permit = sem
        .acquire()
        .await
        .map_err(|e| DistributionError::Internal(e.to_string()))?;
    let d = job.digest.clone();
    let report = |e: LayerEvent| {
        if job.is_layer {
            rep.layer(d.as_str(), e);
        }
    };
    // Already there?
    let url = s.url(&format!("blobs/{d}"));
    let resp = s.send(&url, |c| Ok(c.head(&url))).await?;
    if resp.status().is_success() {
        report(LayerEvent::LayerAlreadyExists);
        return Ok(());
    }
    let path = store.content().path(&d);
    let meta = std::fs::metadata(&path).map_err(|_| {
        DistributionError::invalid(
            "local image",
            format!("blob {d} is not in the local content store"),
        )
    })?;
    let size = meta.len();
    if job.size != 0 && size != job.size {
        return Err(DistributionError::invalid(
            "local image",
            format!("blob {d} is {size} bytes, the manifest says {}", job.size),
        ));
    }

    // Cross-repository mount, then a fresh upload session.
    let uploads = s.url("blobs/uploads/");
    let mut location = None;
    for src in sources.iter() {
        let mut u =
            url::Url::parse(&uploads).map_err(|e| DistributionError::invalid("upload url", e))?;
        u.query_pairs_mut()
            .append_pair("mount", d.as_str())
            .append_pair("from", src);
        let u = u.to_string();
        let resp = s
            .send(&u, |c| Ok(c.post(&u).header(CONTENT_LENGTH, 0)))
            .await?;
        if resp.status() == StatusCode::CREATED {
            report(LayerEvent::MountedFrom(src.clone()));
            return Ok(());
        }
        let resp = check(&u, resp).await?;
        if resp.status() == StatusCode::ACCEPTED {
            location = header_location(&u, &resp)?;
            break;
        }
    }
    let location = match location {
        Some(l) => l,
        None => {
            let resp = s
                .send(&uploads, |c| Ok(c.post(&uploads).header(CONTENT_LENGTH, 0)))
                .await?;
            let resp = check(&uploads, resp).await?;
            header_location(&uploads, &resp)?
                .ok_or_else(|| DistributionError::invalid("upload answer", "no Location header"))?
        }
    };
    let mut put = location;
    put.query_pairs_mut().append_pair("digest", d.as_str());
    let put = put.to_string();
    let sent = Arc::new(AtomicU64::new(0));
    let resp = s
        .send(&put, |c| {
            let f = std::fs::File::open(&path).map_err(|e| {
                DistributionError::invalid("local image", format!("{}: {e}", path.display()))
            })?;
            let f = tokio::fs::File::from_std(f);
            let sent = sent.clone();
            let rep = rep.clone();
            let dd = d.clone();
            let is_layer = job.is_layer;
            sent.store(0, Ordering::Relaxed);
            let last = AtomicU64::new(0);
            let stream =
                tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024).map(move |chunk| {
                    if let Ok(b) = &chunk {
                        let now =
                            sent.fetch_add(b.len() as u64, Ordering::Relaxed) + b.len() as u64;
                        if is_layer
                            && (now - last.load(Ordering::Relaxed) >= 512 * 1024 || now == size)
                        {
                            last.store(now, Ordering::Relaxed);
                            rep.layer(
                                dd.as_str(),
                                LayerEvent::Pushing {
                                    current: now,
                                    total: size,
                                },
                            );
                        }
                    }
                    chunk
                });
            Ok(c.put(&put)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap_stream(stream)))
        })
        .await?;
    check(&put, resp).await?;
    report(LayerEvent::Pushed);
    Ok(())
}

/// The `Location` of an answer, resolved against the request URL.
fn header_location(base: &str, resp: &reqwest::Response) -> Result<Option<url::Url>> {
    let Some(l) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let base = url::Url::parse(base).map_err(|e| DistributionError::invalid("url", e))?;
    base.join(l)
        .map(Some)
        .map_err(|e| DistributionError::invalid("Location header", e))
}
