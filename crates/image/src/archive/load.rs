//! `docker load`: docker-archive (`manifest.json` + configs + layer tars) and OCI image
//! layout (`oci-layout` + `index.json` + `blobs/sha256/…`) tarballs into the store.
//!
//! Every blob is verified (configs and manifests by their digest, layers by the diff ids of
//! the config, OCI blobs also by their descriptor digest); an image is recorded only once
//! all of its layers are staged, so a bad archive leaves nothing behind.

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde::Deserialize;

use super::extract::Extracted;
use crate::config::host_platform;
use crate::config::MEDIA_TYPE_OCI_CONFIG;
use crate::digest::Hasher;
use crate::error::{ImageError, Result};
use crate::manifest::{
    Descriptor, Manifest, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_LAYER_TAR, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::{Digest, ImageConfig, ImageStore, NewImage, Reference, StagedLayer};

/// One image loaded from an archive.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Image id (`sha256:<config digest>`).
    pub id: String,
    /// The references it was tagged with (familiar form, e.g. `busybox:latest`).
    pub references: Vec<String>,
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidArchive(msg.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Where a layer comes from, before staging.
struct LayerSource {
    /// Archive file name.
    file: String,
    /// For OCI layout blobs: the digest the compressed bytes must have.
    blob_digest: Option<Digest>,
}

/// An image read from the archive, checked, not yet staged.
struct Planned {
    config: Vec<u8>,
    diff_ids: Vec<Digest>,
    layers: Vec<LayerSource>,
    references: Vec<Reference>,
}

/// Loads every image of a docker-archive or OCI-layout tarball (uncompressed, or gzip/zstd).
pub fn load(store: &ImageStore, reader: impl Read + Send) -> Result<Vec<LoadedImage>> {
    let reader = crate::compression::decompress(reader)?;
    let ex = Extracted::new(reader, &store.root().join("tmp"))?;
    let plans = if ex.has("manifest.json") {
        plan_docker_archive(&ex)?
    } else if ex.has("index.json") {
        plan_oci_layout(&ex)?
    } else {
        return Err(bad(
            "neither manifest.json (docker-archive) nor index.json (OCI layout) found in the archive",
        ));
    };
    if plans.is_empty() {
        return Err(bad("the archive holds no image"));
    }
    let mut out = Vec::new();
    for p in plans {
        out.push(commit(store, &ex, p)?);
    }
    Ok(out)
}

fn parse_config(bytes: &[u8]) -> Result<(ImageConfig, Vec<Digest>)> {
    let config: ImageConfig =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid image config: {e}")))?;
    let diff_ids = config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>>>()?;
    Ok((config, diff_ids))
}

fn refs_of(names: &[String]) -> Result<Vec<Reference>> {
    names
        .iter()
        .map(|t| {
            let r = Reference::parse(t)?;
            if r.digest().is_some() {
                return Err(bad(format!("{t:?}: a tag cannot be a digest reference")));
            }
            Ok(r)
        })
        .collect()
}

fn plan_docker_archive(ex: &Extracted) -> Result<Vec<Planned>> {
    let entries: Vec<ArchiveEntry> = serde_json::from_slice(&ex.read("manifest.json")?)
        .map_err(|e| bad(format!("invalid manifest.json: {e}")))?;
    let mut plans = Vec::new();
    for e in entries {
        let config = ex.read(&e.config)?;
        // Config files are named after their digest (`<hex>.json` or `blobs/sha256/<hex>`):
        // check it when the name says so.
        let stem = e
            .config
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".json");
        if crate::digest::is_sha256_hex(stem) {
            let actual = Digest::of(&config);
            if actual.hex() != stem {
                return Err(ImageError::DigestMismatch {
                    expected: format!("sha256:{stem}"),
                    actual: actual.to_string(),
                });
            }
        }
        let (_, diff_ids) = parse_config(&config)?;
        if diff_ids.len() != e.layers.len() {
            return Err(bad(format!(
                "{}: {} layers listed, the config has {} diff ids",
                e.config,
                e.layers.len(),
                diff_ids.len()
            )));
        }
        for l in &e.layers {
            if !ex.has(l) {
                return Err(bad(format!("layer {l:?} is missing from the archive")));
            }
        }
        plans.push(Planned {
            config,
            diff_ids,
            layers: e
                .layers
                .into_iter()
                .map(|file| LayerSource {
                    file,
                    blob_digest: None,
                })
                .collect(),
            references: refs_of(&e.repo_tags.unwrap_or_default())?,
        });
    }
    Ok(plans)
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Reads a small OCI blob and checks its digest.
fn read_blob(ex: &Extracted, desc: &Descriptor) -> Result<Vec<u8>> {
    let d = Digest::parse(&desc.digest)?;
    let name = blob_name(&d);
    if !ex.has(&name) {
        return Err(bad(format!(
            "blob {} is missing from the archive",
            desc.digest
        )));
    }
    let bytes = ex.read(&name)?;
    let actual = Digest::of(&bytes);
    if actual != d {
        return Err(ImageError::DigestMismatch {
            expected: d.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

fn platform_matches(desc: &Descriptor) -> bool {
    let (arch, _) = host_platform();
    match &desc.platform {
        None => true,
        Some(p) => {
            p.get("os").and_then(|v| v.as_str()).unwrap_or("linux") == "linux"
                && p.get("architecture")
                    .and_then(|v| v.as_str())
                    .unwrap_or(arch)
                    == arch
        }
    }
}

fn plan_oci_layout(ex: &Extracted) -> Result<Vec<Planned>> {
    let index: Index = serde_json::from_slice(&ex.read("index.json")?)
        .map_err(|e| bad(format!("invalid index.json: {e}")))?;
    let mut plans = Vec::new();
    for top in &index.manifests {
        let names: Vec<String> = top
            .annotations
            .as_ref()
            .and_then(|a| {
                a.get("io.containerd.image.name")
                    .cloned()
                    .or_else(|| a.get("org.opencontainers.image.ref.name").cloned())
            })
            // A bare tag (`latest`, what `skopeo copy … oci:dir:latest` writes) names no
            // repository: such an image loads untagged.
            .filter(|n| n.contains('/') || n.contains(':') && !n.starts_with(':'))
            .filter(|n| Reference::parse(n).is_ok_and(|r| r.digest().is_none()))
            .into_iter()
            .collect();
        let mut desc = top.clone();
        // An index: pick this machine's platform.
        for _ in 0..4 {
            if desc.media_type != MEDIA_TYPE_OCI_INDEX
                && desc.media_type != MEDIA_TYPE_DOCKER_MANIFEST_LIST
            {
                break;
            }
            let nested: Index = serde_json::from_slice(&read_blob(ex, &desc)?)
                .map_err(|e| bad(format!("invalid index {}: {e}", desc.digest)))?;
            desc = nested
                .manifests
                .into_iter()
                .find(platform_matches)
                .ok_or_else(|| {
                    bad(format!(
                        "index {} has no manifest for this platform",
                        desc.digest
                    ))
                })?;
        }
        let manifest: Manifest = serde_json::from_slice(&read_blob(ex, &desc)?)
            .map_err(|e| bad(format!("invalid manifest {}: {e}", desc.digest)))?;
        let config = read_blob(ex, &manifest.config)?;
        let (_, diff_ids) = parse_config(&config)?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(bad(format!(
                "manifest {}: {} layers, the config has {} diff ids",
                desc.digest,
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for l in &manifest.layers {
            let d = Digest::parse(&l.digest)?;
            let file = blob_name(&d);
            if !ex.has(&file) {
                return Err(bad(format!(
                    "layer blob {} is missing from the archive",
                    l.digest
                )));
            }
            layers.push(LayerSource {
                file,
                blob_digest: Some(d),
            });
        }
        plans.push(Planned {
            config,
            diff_ids,
            layers,
            references: refs_of(&names)?,
        });
    }
    Ok(plans)
}

/// Hashes what passes through.
struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn stage(
    store: &ImageStore,
    ex: &Extracted,
    src: &LayerSource,
    want: &Digest,
) -> Result<StagedLayer> {
    let f = ex.open(&src.file)?;
    let mut hr = HashingReader {
        inner: io::BufReader::with_capacity(1 << 20, f),
        hasher: Hasher::new(),
    };
    let staged = store.stage_layer(&mut hr, true)?;
    io::copy(&mut hr, &mut io::sink()).map_err(|e| bad(format!("reading {}: {e}", src.file)))?;
    if let Some(expected) = &src.blob_digest {
        let actual = hr.hasher.finish();
        if actual != *expected {
            return Err(ImageError::DigestMismatch {
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    if staged.diff_id() != want {
        return Err(ImageError::DigestMismatch {
            expected: want.to_string(),
            actual: staged.diff_id().to_string(),
        });
    }
    Ok(staged)
}

fn commit(store: &ImageStore, ex: &Extracted, p: Planned) -> Result<LoadedImage> {
    let mut staged = Vec::new();
    let mut descs = Vec::new();
    let mut blobs = Vec::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (src, want) in p.layers.iter().zip(&p.diff_ids) {
        let present = store.layer_dir(want).is_dir() && store.content().exists(want);
        let size = if present {
            blobs.push(want.clone());
            store.content().size(want)?
        } else if let Some(s) = sizes.get(want.as_str()) {
            *s
        } else {
            let l = stage(store, ex, src, want)?;
            let s = l.tar_size();
            staged.push(l);
            s
        };
        sizes.insert(want.to_string(), size);
        descs.push(Descriptor {
            media_type: MEDIA_TYPE_OCI_LAYER_TAR.into(),
            digest: want.to_string(),
            size,
            annotations: None,
            platform: None,
        });
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: MEDIA_TYPE_OCI_CONFIG.into(),
            digest: Digest::of(&p.config).to_string(),
            size: p.config.len() as u64,
            annotations: None,
            platform: None,
        },
        layers: descs,
        annotations: None,
    };
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let references: Vec<String> = p.references.iter().map(|r| r.familiar()).collect();
    let rec = store.commit_image(NewImage {
        config: p.config,
        manifest: manifest_bytes,
        layers: staged,
        blobs,
        references: p.references,
        created: None,
    })?;
    Ok(LoadedImage {
        id: rec.id,
        references,
    })
}
