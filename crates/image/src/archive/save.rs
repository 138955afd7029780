//! `docker save`: images as a docker-archive tarball (`manifest.json`, `repositories`,
//! `<config-hex>.json`, `<diff-id-hex>/layer.tar`), which `docker load` reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;

use crate::error::{ImageError, Result};
use crate::manifest::Manifest;
use crate::{Digest, ImageRecord, ImageStore, Reference};

/// What to save of one image: the image and the tags to record for it.
#[derive(Debug, Clone)]
pub struct SaveItem {
    /// The image.
    pub image: ImageRecord,
    /// Familiar tags (`busybox:latest`) written to `RepoTags`.
    pub tags: Vec<String>,
}

/// Resolves the names given to `docker save` as docker does: `repo:tag` → that tag, `repo`
/// → every tag of that repository, an id → the image without tags. One image named twice is
/// saved once with the union of its tags.
pub fn resolve(store: &ImageStore, names: &[String]) -> Result<Vec<SaveItem>> {
    let mut items: Vec<SaveItem> = Vec::new();
    for name in names {
        let image = store.get(name)?;
        let mut tags = Vec::new();
        if let Ok(r) = crate::reference::Reference::parse_named(name) {
            if r.tag().is_some() || r.digest().is_some() {
                let fam = Reference::parse(name)?.familiar();
                if image.repo_tags.contains(&fam) {
                    tags.push(fam);
                }
            } else {
                let repo = r.familiar_name();
                for t in &image.repo_tags {
                    if t.rsplit_once(':').is_some_and(|(n, _)| n == repo) {
                        tags.push(t.clone());
                    }
                }
            }
        }
        match items.iter_mut().find(|i| i.image.id == image.id) {
            Some(i) => {
                for t in tags {
                    if !i.tags.contains(&t) {
                        i.tags.push(t);
                    }
                }
            }
            None => items.push(SaveItem { image, tags }),
        }
    }
    Ok(items)
}

/// A layer's uncompressed tar: a blob in the store, or a temp file decompressed from one.
struct LayerTar {
    file: File,
    size: u64,
    temp: Option<PathBuf>,
}

impl Drop for LayerTar {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            let _ = fs::remove_file(t);
        }
    }
}

/// Where the tar of a layer can be read from.
enum Source {
    /// The uncompressed tar itself (digest = diff id).
    Plain,
    /// A compressed blob (from a pull) to decompress.
    Compressed(Digest),
}

/// Finds the blob holding the layer `diff_id`: the plain tar, else the blob at the same
/// position in the manifest of any image using that layer.
fn source(store: &ImageStore, diff_id: &Digest) -> Result<Source> {
    let content = store.content();
    if content.exists(diff_id) {
        return Ok(Source::Plain);
    }
    for img in store.list()? {
        let Some(pos) = img
            .config
            .rootfs
            .diff_ids
            .iter()
            .position(|d| d == diff_id.as_str())
        else {
            continue;
        };
        let blob = Digest::parse(&img.manifest_digest)
            .and_then(|d| content.read(&d))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .and_then(|m| m.layers.get(pos).map(|l| l.digest.clone()))
            .and_then(|d| Digest::parse(&d).ok());
        if let Some(b) = blob.filter(|b| content.exists(b)) {
            return Ok(Source::Compressed(b));
        }
    }
    Err(ImageError::NotFound(format!(
        "the tar of layer {diff_id} is not in the store (it was unpacked without keeping its blob): cannot save"
    )))
}

/// Checks that every layer of `items` can be written (call before streaming an answer).
pub fn check(store: &ImageStore, items: &[SaveItem]) -> Result<()> {
    for item in items {
        store.content().size(&Digest::parse(&item.image.id)?)?;
        for d in &item.image.config.rootfs.diff_ids {
            source(store, &Digest::parse(d)?)?;
        }
    }
    Ok(())
}

/// Opens the uncompressed tar of layer `diff_id` (decompressed into a temp file when only
/// the compressed blob is stored: the tar header needs the size up front).
fn layer_tar(store: &ImageStore, diff_id: &Digest) -> Result<LayerTar> {
    let content = store.content();
    let blob = match source(store, diff_id)? {
        Source::Plain => {
            return Ok(LayerTar {
                file: content.open_blob(diff_id)?,
                size: content.size(diff_id)?,
                temp: None,
            })
        }
        Source::Compressed(b) => b,
    };
    let tmp = crate::content::unique_tmp(&store.root().join("tmp"), "save");
    let result = (|| -> Result<LayerTar> {
        let mut out = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| ImageError::io("create", &tmp, e))?;
        let mut r = crate::compression::decompress(content.open_blob(&blob)?)?;
        let mut hasher = crate::digest::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r
                .read(&mut buf)
                .map_err(|e| ImageError::InvalidArchive(format!("layer {blob}: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| ImageError::io("write", &tmp, e))?;
        }
        let size = hasher.len();
        let actual = hasher.finish();
        if actual != *diff_id {
            return Err(ImageError::DigestMismatch {
                expected: diff_id.to_string(),
                actual: actual.to_string(),
            });
        }
        out.rewind().map_err(|e| ImageError::io("seek", &tmp, e))?;
        Ok(LayerTar {
            file: out,
            size,
            temp: Some(tmp.clone()),
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn append(b: &mut tar::Builder<impl Write>, name: &str, size: u64, data: impl Read) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    b.append_data(&mut h, name, data)
        .map_err(|e| ImageError::io("write archive", name, e))
}

fn append_dir(b: &mut tar::Builder<impl Write>, name: &str) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(&mut h, name, io::empty())
        .map_err(|e| ImageError::io("write archive", name, e))
}

/// Writes `items` as a docker-archive to `w`; returns `w`.
pub fn save<W: Write>(store: &ImageStore, items: &[SaveItem], w: W) -> Result<W> {
    // Check every layer is available before writing anything.
    let mut b = tar::Builder::new(w);
    let mut written: BTreeSet<String> = BTreeSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in items {
        let id = Digest::parse(&item.image.id)?;
        let config = store.content().read(&id)?;
        let config_name = format!("{}.json", id.hex());
        if written.insert(config_name.clone()) {
            append(&mut b, &config_name, config.len() as u64, &config[..])?;
        }
        let mut layers = Vec::new();
        for d in &item.image.config.rootfs.diff_ids {
            let diff_id = Digest::parse(d)?;
            let dir = diff_id.hex().to_string();
            let name = format!("{dir}/layer.tar");
            if written.insert(name.clone()) {
                let tar = layer_tar(store, &diff_id)?;
                append_dir(&mut b, &format!("{dir}/"))?;
                append(&mut b, &format!("{dir}/VERSION"), 3, &b"1.0"[..])?;
                append(&mut b, &name, tar.size, &tar.file)?;
            }
            layers.push(name);
        }
        for t in &item.tags {
            if let Some((repo, tag)) = t.rsplit_once(':') {
                if let Some(top) = item.image.config.rootfs.diff_ids.last() {
                    repositories.entry(repo.to_string()).or_default().insert(
                        tag.to_string(),
                        top.trim_start_matches("sha256:").to_string(),
                    );
                }
            }
        }
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": if item.tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(item.tags) },
            "Layers": layers,
        }));
    }
    let m = serde_json::to_vec(&manifest).map_err(|e| ImageError::Corrupt(e.to_string()))?;
    append(&mut b, "manifest.json", m.len() as u64, &m[..])?;
    if !repositories.is_empty() {
        let r =
            serde_json::to_vec(&repositories).map_err(|e| ImageError::Corrupt(e.to_string()))?;
        append(&mut b, "repositories", r.len() as u64, &r[..])?;
    }
    b.into_inner()
        .map_err(|e| ImageError::io("write archive", "end of archive", e))
}
