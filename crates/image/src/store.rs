//! [`ImageStore`]: image records and tags, `docker import`, lookup, tag and remove.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::changes::apply_changes;
use crate::config::{
    host_platform, ContainerConfig, History, ImageConfig, RootFs, MEDIA_TYPE_OCI_CONFIG,
};
use crate::content::{sync_dir, unique_tmp, BlobWriter, ContentStore};
use crate::digest::{is_sha256_hex, Digest, Hasher};
use crate::error::{ImageError, Result};
use crate::manifest::{Descriptor, Manifest, MEDIA_TYPE_OCI_LAYER_TAR, MEDIA_TYPE_OCI_MANIFEST};
use crate::metadata::{Metadata, Op, State, StoredImage};
use crate::reference::Reference;

/// Options of [`ImageStore::import`] (`docker import`).
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Reference to tag the new image with (`busybox`, `repo:tag`).
    pub reference: Option<String>,
    /// Dockerfile instructions applied to the config (`--change`).
    pub changes: Vec<String>,
    /// History comment (`--message`).
    pub message: Option<String>,
}

/// Options of [`ImageStore::commit`] (`docker commit`).
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// Reference to tag the new image with.
    pub reference: Option<String>,
    /// The container's configuration to record (None: keep the base image's).
    pub config: Option<ContainerConfig>,
    /// Dockerfile instructions applied on top (`--change`).
    pub changes: Vec<String>,
    /// History comment (`--message`).
    pub comment: Option<String>,
    /// Author (`--author`).
    pub author: Option<String>,
    /// History `created_by` (docker puts the container's command here).
    pub created_by: Option<String>,
    /// Paths relative to the upper dir left out of the layer when they are an empty file or
    /// an empty directory: the mount points a runtime made (Docker keeps them in its init
    /// layer, so they are not the container's changes).
    pub exclude: Vec<PathBuf>,
}

/// An image as the engine sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<config digest hex>`.
    pub id: String,
    /// Tags in familiar form, e.g. `busybox:latest`, sorted.
    pub repo_tags: Vec<String>,
    /// Digest references in familiar form, e.g. `busybox@sha256:…`, sorted.
    pub repo_digests: Vec<String>,
    /// When the image was created, RFC 3339.
    pub created: String,
    /// Bytes of regular-file content in the unpacked layers.
    pub size: u64,
    /// The image config.
    pub config: ImageConfig,
    /// Digest of the image's manifest blob.
    pub manifest_digest: String,
}

impl ImageRecord {
    /// The container defaults of the image (empty when the config has none).
    pub fn container_config(&self) -> ContainerConfig {
        self.config.config.clone().unwrap_or_default()
    }

    /// The id without `sha256:`, first 12 characters (what `docker images` shows).
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }
}

/// One line of `docker rmi` output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteItem {
    /// A reference removed (familiar form).
    Untagged(String),
    /// An image deleted (its id).
    Deleted(String),
}

/// The image store rooted at `D/image`.
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    layers: PathBuf,
    tmp: PathBuf,
    meta: Metadata,
    /// Serialises changes (commit of an import, tag, remove) so reference counting is exact.
    lock: Mutex<()>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.root)
            .finish()
    }
}

/// How a name resolved.
struct Resolved {
    id: String,
    /// The normalised reference, when the name was a reference found in `tags`.
    by_ref: Option<String>,
}

impl ImageStore {
    /// Opens (creating) the store under `root` (= `D/image`). Leftovers in `tmp/` from a crash
    /// are removed, and so are layer dirs and blobs no image references (see [`ImageStore::gc`]).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let content = ContentStore::open(&root)?;
        let layers = root.join("layers").join("sha256");
        let tmp = root.join("tmp");
        fs::create_dir_all(&layers).map_err(|e| ImageError::io("create dir", &layers, e))?;
        // The database is opened first: it locks the store against a second opener, so what
        // is in tmp/ now is a crash leftover (temp blobs, half-unpacked layers).
        let meta = Metadata::open(&root.join("metadata.redb"))?;
        if let Ok(rd) = fs::read_dir(&tmp) {
            for ent in rd.flatten() {
                let p = ent.path();
                let _ = match ent.file_type() {
                    Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
                    _ => fs::remove_file(&p),
                };
            }
        }
        let store = ImageStore {
            root,
            content,
            layers,
            tmp,
            meta,
            lock: Mutex::new(()),
        };
        store.gc()?;
        Ok(store)
    }

    /// Removes what no image references: layer dirs and content blobs left by a crash
    /// between unpacking/downloading and recording an image. Run by [`ImageStore::open`].
    /// Blobs written to [`ImageStore::content`] but not yet recorded by
    /// [`ImageStore::commit_image`] (a pull in flight) would be deleted too: call it only when
    /// no pull or commit is running. Returns how many layer dirs and blobs went.
    pub fn gc(&self) -> Result<(usize, usize)> {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let state = self.meta.load()?;
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for i in state.images.values() {
            blobs.extend(i.blobs.iter().cloned());
            layers.extend(i.config.rootfs.diff_ids.iter().cloned());
        }
        let mut doomed = Vec::new();
        let rd =
            fs::read_dir(&self.layers).map_err(|e| ImageError::io("read dir", &self.layers, e))?;
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if !layers.contains(&format!("sha256:{name}")) {
                let to = unique_tmp(&self.tmp, "gc");
                fs::rename(ent.path(), &to).map_err(|e| ImageError::io("rename", ent.path(), e))?;
                doomed.push(to);
            }
        }
        let mut nblobs = 0;
        for d in self.content.list()? {
            if !blobs.contains(d.as_str()) {
                self.content.delete(&d)?;
                nblobs += 1;
            }
        }
        drop(guard);
        let nlayers = doomed.len();
        for d in doomed {
            let _ = fs::remove_dir_all(d);
        }
        Ok((nlayers, nblobs))
    }

    /// The store's root directory (`D/image`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store (blobs by digest).
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// Where the unpacked layer with this diff id lives (`layers/sha256/<hex>`).
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers.join(diff_id.hex())
    }

    /// Imports a rootfs tarball (plain, gzip or zstd) as a one-layer image, like
    /// `docker import`. Returns the new image (tagged when `opts.reference` is set).
    ///
    /// A bad stream fails with nothing left behind (no blob, layer dir or record).
    pub fn import(&self, reader: impl Read + Send, opts: ImportOptions) -> Result<ImageRecord> {
        // Validate everything cheap before reading the stream.
        let reference = match &opts.reference {
            Some(r) => Some(Reference::parse(r)?),
            None => None,
        };
        if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
            return Err(ImageError::Conflict(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let mut cc = ContainerConfig::default();
        apply_changes(&mut cc, &opts.changes)?;

        // Stream: decompress → tee (hash + blob) → unpack into a temp dir.
        let staged = self.stage_layer(reader, true)?;
        let created = now_rfc3339();
        let (arch, variant) = host_platform();
        let config = ImageConfig {
            architecture: arch.to_string(),
            os: std::env::consts::OS.to_string(),
            variant: variant.map(str::to_string),
            created: Some(created.clone()),
            author: None,
            config: if opts.changes.is_empty() {
                None
            } else {
                Some(cc)
            },
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![staged.diff_id.to_string()],
            },
            history: vec![History {
                created: Some(created.clone()),
                created_by: Some("import".into()),
                comment: opts.message.clone().filter(|m| !m.is_empty()),
                ..Default::default()
            }],
            extra: Default::default(),
        };
        let config_bytes =
            serde_json::to_vec(&config).map_err(|e| ImageError::Corrupt(e.to_string()))?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: MEDIA_TYPE_OCI_CONFIG.into(),
                digest: Digest::of(&config_bytes).to_string(),
                size: config_bytes.len() as u64,
                annotations: None,
                platform: None,
            },
            layers: vec![Descriptor {
                media_type: MEDIA_TYPE_OCI_LAYER_TAR.into(),
                digest: staged.diff_id.to_string(),
                size: staged.tar_size,
                annotations: None,
                platform: None,
            }],
            annotations: None,
        };
        let manifest_bytes =
            serde_json::to_vec(&manifest).map_err(|e| ImageError::Corrupt(e.to_string()))?;
        self.commit_image(NewImage {
            config: config_bytes,
            manifest: manifest_bytes,
            layers: vec![staged],
            blobs: Vec::new(),
            references: reference.into_iter().collect(),
            created: Some(created),
        })
    }

    /// Makes a new image from `base` plus the changes in `upper` (an overlay snapshot's upper
    /// dir), like `docker commit`: the upper dir is written as an OCI diff tar (overlay
    /// whiteouts → `.wh.` entries), stored as a blob and unpacked as a new top layer.
    /// `base` None makes a one-layer image from scratch.
    pub fn commit(
        &self,
        base: Option<&ImageRecord>,
        upper: &Path,
        opts: CommitOptions,
    ) -> Result<ImageRecord> {
        let reference = match &opts.reference {
            Some(r) => Some(Reference::parse(r)?),
            None => None,
        };
        if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
            return Err(ImageError::Conflict(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let mut cc = opts
            .config
            .clone()
            .or_else(|| base.and_then(|b| b.config.config.clone()))
            .unwrap_or_default();
        apply_changes(&mut cc, &opts.changes)?;

        // The diff tar goes straight into the content store (digest = diff id) ...
        let writer = self.content.writer()?;
        let writer = crate::diff::write_tar_excluding(
            upper,
            writer,
            crate::diff::TarMode::OverlayDiff,
            &opts.exclude,
        )?;
        let tar_size = writer.len();
        let diff_id = writer.digest();
        let existed = self.content.exists(&diff_id);
        writer.commit(Some(&diff_id))?;
        let result = (|| {
            // ... and is unpacked from there as the new layer.
            let staged = self.stage_layer(self.content.open_blob(&diff_id)?, false)?;
            let created = now_rfc3339();
            let mut config = match base {
                Some(b) => b.config.clone(),
                None => {
                    let (arch, variant) = host_platform();
                    ImageConfig {
                        architecture: arch.to_string(),
                        os: std::env::consts::OS.to_string(),
                        variant: variant.map(str::to_string),
                        ..Default::default()
                    }
                }
            };
            config.created = Some(created.clone());
            if opts.author.is_some() {
                config.author = opts.author.clone();
            }
            config.config = Some(cc);
            config.rootfs.kind = "layers".into();
            config.rootfs.diff_ids.push(diff_id.to_string());
            config.history.push(History {
                created: Some(created.clone()),
                created_by: opts.created_by.clone(),
                author: opts.author.clone(),
                comment: opts.comment.clone().filter(|c| !c.is_empty()),
                empty_layer: None,
            });
            let config_bytes =
                serde_json::to_vec(&config).map_err(|e| ImageError::Corrupt(e.to_string()))?;
            let mut layers = match base {
                Some(b) => self.manifest_layers(b),
                None => Vec::new(),
            };
            layers.push(Descriptor {
                media_type: MEDIA_TYPE_OCI_LAYER_TAR.into(),
                digest: diff_id.to_string(),
                size: tar_size,
                annotations: None,
                platform: None,
            });
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
                config: Descriptor {
                    media_type: MEDIA_TYPE_OCI_CONFIG.into(),
                    digest: Digest::of(&config_bytes).to_string(),
                    size: config_bytes.len() as u64,
                    annotations: None,
                    platform: None,
                },
                layers,
                annotations: None,
            };
            let manifest_bytes =
                serde_json::to_vec(&manifest).map_err(|e| ImageError::Corrupt(e.to_string()))?;
            self.commit_image(NewImage {
                config: config_bytes,
                manifest: manifest_bytes,
                layers: vec![staged],
                blobs: vec![diff_id.clone()],
                references: reference.into_iter().collect(),
                created: Some(created),
            })
        })();
        if result.is_err() && !existed {
            let _ = self.content.delete(&diff_id);
        }
        result
    }

    /// The layer descriptors of an image's manifest; descriptors of the uncompressed diff ids
    /// when the manifest cannot be read.
    fn manifest_layers(&self, image: &ImageRecord) -> Vec<Descriptor> {
        let from_manifest = Digest::parse(&image.manifest_digest)
            .and_then(|d| self.content.read(&d))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .map(|m| m.layers)
            .filter(|l| l.len() == image.config.rootfs.diff_ids.len());
        from_manifest.unwrap_or_else(|| {
            image
                .config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| Descriptor {
                    media_type: MEDIA_TYPE_OCI_LAYER_TAR.into(),
                    digest: d.clone(),
                    size: Digest::parse(d)
                        .and_then(|d| self.content.size(&d))
                        .unwrap_or(0),
                    annotations: None,
                    platform: None,
                })
                .collect()
        })
    }

    /// Decompresses (by magic), hashes and unpacks a layer stream into a temp dir, safely (see
    /// [`crate::unpack`]). With `keep_tar`, the uncompressed tar is also written as a blob
    /// (digest = diff id) that [`ImageStore::commit_image`] commits. Nothing is visible until
    /// the layer is committed; dropping a [`StagedLayer`] removes its temp files.
    pub fn stage_layer(&self, reader: impl Read + Send, keep_tar: bool) -> Result<StagedLayer> {
        let dir = unique_tmp(&self.tmp, "layer");
        fs::create_dir(&dir).map_err(|e| ImageError::io("create dir", &dir, e))?;
        let mut staged = StagedLayer {
            dir: Some(dir.clone()),
            blob: None,
            diff_id: Digest::of(b""),
            size: 0,
            tar_size: 0,
        };
        let decompressed = crate::compression::decompress(reader)?;
        let blob = if keep_tar {
            Some(self.content.writer()?)
        } else {
            None
        };
        let mut tee = TeeReader {
            inner: decompressed,
            hasher: Hasher::new(),
            blob,
        };
        let stats = crate::unpack::unpack(&mut tee, &dir)?;
        // Hash whatever follows the end-of-archive marker too: the diff id covers the whole
        // uncompressed stream.
        io::copy(&mut tee, &mut io::sink()).map_err(archive_err)?;
        (staged.diff_id, staged.tar_size) = match &tee.blob {
            Some(b) => (b.digest(), b.len()),
            None => (tee.hasher.clone().finish(), tee.hasher.len()),
        };
        staged.blob = tee.blob;
        staged.size = stats.size;
        Ok(staged)
    }

    /// Records a new image: writes its config and manifest blobs, commits its staged layers
    /// (an already-present layer dir is kept and the staged copy dropped), and tags it, all
    /// under the store lock. Every `config.rootfs.diff_ids` entry must be staged here or
    /// already present. Used by `import` and by registry pulls.
    pub fn commit_image(&self, new: NewImage) -> Result<ImageRecord> {
        let NewImage {
            config: config_bytes,
            manifest: manifest_bytes,
            mut layers,
            blobs,
            references,
            created,
        } = new;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| ImageError::Corrupt(format!("image config: {e}")))?;
        let config_digest = Digest::of(&config_bytes);
        let manifest_digest = Digest::of(&manifest_bytes);
        let id = config_digest.to_string();
        let created = created
            .or_else(|| config.created.clone())
            .unwrap_or_else(now_rfc3339);

        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let state = self.meta.load()?;
        let mut created_paths: Vec<PathBuf> = Vec::new();
        // Staged copies of layers already present: deleted after the lock is released.
        let mut doomed: Vec<PathBuf> = Vec::new();
        let result = (|| -> Result<()> {
            // Sizes and presence of every layer of the chain.
            let mut sizes = Vec::new();
            for d in &config.rootfs.diff_ids {
                let digest = Digest::parse(d)?;
                if let Some(l) = layers.iter().find(|l| l.diff_id == digest) {
                    sizes.push(l.size);
                } else if self.layer_dir(&digest).is_dir() {
                    sizes.push(
                        known_layer_size(&state, d)
                            .unwrap_or_else(|| dir_size(&self.layer_dir(&digest))),
                    );
                } else {
                    return Err(ImageError::NotFound(format!("layer {d}")));
                }
            }
            let mut all_blobs = vec![config_digest.to_string(), manifest_digest.to_string()];
            for b in &blobs {
                if !self.content.exists(b) {
                    return Err(ImageError::NotFound(format!("blob {b}")));
                }
                all_blobs.push(b.to_string());
            }
            for l in layers.iter_mut() {
                if let Some(w) = l.blob.take() {
                    let p = self.content.path(&l.diff_id);
                    if !p.exists() {
                        created_paths.push(p);
                    }
                    w.commit(Some(&l.diff_id))?;
                    all_blobs.push(l.diff_id.to_string());
                }
            }
            for (bytes, digest) in [
                (&config_bytes, &config_digest),
                (&manifest_bytes, &manifest_digest),
            ] {
                let p = self.content.path(digest);
                if !p.exists() {
                    created_paths.push(p);
                }
                self.content.write_bytes(bytes, Some(digest))?;
            }
            // Layer directories: keep an existing one (a layer is on disk once).
            for l in layers.iter_mut() {
                let dest = self.layer_dir(&l.diff_id);
                let Some(dir) = l.dir.take() else { continue };
                if dest.exists() {
                    doomed.push(dir);
                } else {
                    fs::rename(&dir, &dest).map_err(|e| ImageError::io("rename", &dest, e))?;
                    created_paths.push(dest);
                }
            }
            sync_dir(&self.layers)?;
            all_blobs.sort();
            all_blobs.dedup();
            let mut ops = Vec::new();
            if !state.images.contains_key(&id) {
                ops.push(Op::PutImage(Box::new(StoredImage {
                    id: id.clone(),
                    created: created.clone(),
                    size: sizes.iter().sum(),
                    layer_sizes: sizes,
                    config: config.clone(),
                    manifest_digest: manifest_digest.to_string(),
                    blobs: all_blobs,
                })));
            }
            for r in &references {
                ops.push(Op::PutTag(r.to_string(), id.clone()));
            }
            self.meta.commit(ops)
        })();
        drop(guard);
        for d in doomed {
            let _ = fs::remove_dir_all(d);
        }
        if let Err(e) = result {
            for p in created_paths {
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
            return Err(e);
        }
        let state = self.meta.load()?;
        record_of(&state, &id)
    }

    /// Finds an image by reference (`busybox`, `docker.io/library/busybox:latest`), full id
    /// (`sha256:<hex>` or bare hex) or unique id prefix (≥ 4 hex characters).
    pub fn get(&self, name_or_id: &str) -> Result<ImageRecord> {
        let state = self.meta.load()?;
        let r = resolve(&state, name_or_id)?;
        record_of(&state, &r.id)
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let state = self.meta.load()?;
        let mut out = state
            .images
            .keys()
            .map(|id| record_of(&state, id))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Size in bytes of every layer of image `id`, in chain order (`diff_id`, size);
    /// a size recorded as unknown is measured on disk.
    pub fn layer_sizes(&self, id: &str) -> Result<Vec<(String, u64)>> {
        let state = self.meta.load()?;
        let r = resolve(&state, id)?;
        let Some(img) = state.images.get(&r.id) else {
            return Err(ImageError::NotFound(id.to_string()));
        };
        img.config
            .rootfs
            .diff_ids
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let size = match img.layer_sizes.get(i) {
                    Some(s) => *s,
                    None => dir_size(&self.layer_dir(&Digest::parse(d)?)),
                };
                Ok((d.clone(), size))
            })
            .collect()
    }

    /// Tags the image `id_or_ref` as `new_ref` (moving the tag if it named another image).
    pub fn tag(&self, id_or_ref: &str, new_ref: &str) -> Result<()> {
        let r = Reference::parse(new_ref)?;
        if r.digest().is_some() {
            return Err(ImageError::Conflict(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let state = self.meta.load()?;
        let target = resolve(&state, id_or_ref)?;
        self.meta.commit(vec![Op::PutTag(r.to_string(), target.id)])
    }

    /// Removes a reference or an image with Docker's rules: by reference → untag, and delete
    /// the image when no reference is left; by id → delete the image and all its references,
    /// which needs `force` when it is tagged in more than one repository. Blobs and layer
    /// directories go when no other image uses them.
    pub fn remove(&self, name_or_id: &str, force: bool) -> Result<Vec<DeleteItem>> {
        self.remove_with(name_or_id, force, false)
    }

    /// [`ImageStore::remove`] that only removes references when `keep_image` (`rmi -f` of an
    /// image a stopped container uses: as Docker, the image stays, untagged, and the
    /// container still starts).
    pub fn remove_with(
        &self,
        name_or_id: &str,
        force: bool,
        keep_image: bool,
    ) -> Result<Vec<DeleteItem>> {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let state = self.meta.load()?;
        let r = resolve(&state, name_or_id)?;
        let refs: Vec<String> = state
            .tags
            .iter()
            .filter(|(_, id)| **id == r.id)
            .map(|(k, _)| k.clone())
            .collect();
        let mut ops = Vec::new();
        let mut items = Vec::new();
        let untag = |k: &str, items: &mut Vec<DeleteItem>, ops: &mut Vec<Op>| {
            let fam = Reference::parse(k)
                .map(|x| x.familiar())
                .unwrap_or_else(|_| k.to_string());
            items.push(DeleteItem::Untagged(fam));
            ops.push(Op::DeleteTag(k.to_string()));
        };
        let delete_image = match &r.by_ref {
            Some(k) => {
                untag(k, &mut items, &mut ops);
                // Digest references of the same repository go with their tag when it was the
                // last tag (docker does the same).
                let rest: Vec<&String> = refs.iter().filter(|x| *x != k).collect();
                let only_digests_left = rest.iter().all(|x| x.contains('@'));
                if only_digests_left {
                    for x in rest {
                        untag(x, &mut items, &mut ops);
                    }
                    true
                } else {
                    false
                }
            }
            None => {
                if refs.len() > 1 && !force && !single_reference(&refs) {
                    let short = r.id.trim_start_matches("sha256:");
                    return Err(ImageError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        &short[..short.len().min(12)]
                    )));
                }
                for k in &refs {
                    untag(k, &mut items, &mut ops);
                }
                true
            }
        };
        let mut gc = None;
        if delete_image && !keep_image {
            ops.push(Op::DeleteImage(r.id.clone()));
            items.push(DeleteItem::Deleted(r.id.clone()));
            gc = state.images.get(&r.id).cloned();
        }
        self.meta.commit(ops)?;
        let doomed = match gc {
            Some(img) => self.collect_garbage(&state, &img)?,
            None => Vec::new(),
        };
        drop(guard);
        // Unreferenced layer dirs were renamed into tmp/ under the lock; deleting them can
        // take a while and needs no lock (a crash leaves them for the next open to delete).
        for d in doomed {
            let _ = fs::remove_dir_all(d);
        }
        Ok(items)
    }

    /// Deletes the blobs of `gone` that no other image uses, and moves its unused layer dirs
    /// into `tmp/`; returns those for the caller to delete.
    fn collect_garbage(&self, state: &State, gone: &StoredImage) -> Result<Vec<PathBuf>> {
        let mut doomed = Vec::new();
        let others = state.images.values().filter(|i| i.id != gone.id);
        let mut used_blobs = BTreeSet::new();
        let mut used_layers = BTreeSet::new();
        for i in others {
            used_blobs.extend(i.blobs.iter().cloned());
            used_layers.extend(i.config.rootfs.diff_ids.iter().cloned());
        }
        for b in &gone.blobs {
            if !used_blobs.contains(b) {
                if let Ok(d) = Digest::parse(b) {
                    self.content.delete(&d)?;
                }
            }
        }
        for l in &gone.config.rootfs.diff_ids {
            if used_layers.contains(l) {
                continue;
            }
            if let Ok(d) = Digest::parse(l) {
                let dir = self.layer_dir(&d);
                if dir.exists() {
                    // Rename first so a half-deleted layer is never seen under its name.
                    let to = unique_tmp(&self.tmp, "gc");
                    fs::rename(&dir, &to).map_err(|e| ImageError::io("rename", &dir, e))?;
                    doomed.push(to);
                }
            }
        }
        Ok(doomed)
    }

    /// The unpacked layer directories of an image, lowest first.
    pub fn layer_dirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        image
            .config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| {
                let digest = Digest::parse(d)?;
                let dir = self.layer_dir(&digest);
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(ImageError::NotFound(format!(
                        "layer {d} of image {}",
                        image.id
                    )))
                }
            })
            .collect()
    }
}

/// A layer unpacked into a temp dir by [`ImageStore::stage_layer`], not yet committed.
/// Dropping it removes the temp dir and the uncommitted tar blob.
#[derive(Debug)]
pub struct StagedLayer {
    dir: Option<PathBuf>,
    blob: Option<BlobWriter>,
    diff_id: Digest,
    size: u64,
    tar_size: u64,
}

impl StagedLayer {
    /// sha256 of the uncompressed tar.
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }

    /// Bytes of regular-file content unpacked.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of the uncompressed tar.
    pub fn tar_size(&self) -> u64 {
        self.tar_size
    }
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// Everything [`ImageStore::commit_image`] needs to record an image.
#[derive(Debug, Default)]
pub struct NewImage {
    /// The config JSON exactly as it is to be stored (the image id is its sha256).
    pub config: Vec<u8>,
    /// The manifest JSON exactly as it is to be stored.
    pub manifest: Vec<u8>,
    /// Newly staged layers (layers of the chain already on disk need not be staged).
    pub layers: Vec<StagedLayer>,
    /// Other blobs, already in the content store, that the image holds on to (e.g. the
    /// compressed layer blobs of a pull); deleted with the last image that lists them.
    pub blobs: Vec<Digest>,
    /// References to point at the image (tags and/or digest references).
    pub references: Vec<Reference>,
    /// Creation time to record; defaults to the config's `created`, else now.
    pub created: Option<String>,
}

/// Copies everything read into `blob` (which hashes it), or hashes it when there is none.
struct TeeReader<R: Read> {
    inner: R,
    hasher: Hasher,
    blob: Option<BlobWriter>,
}

impl<R: Read> Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // The blob writer hashes what it is given: hash here only without one.
        match self.blob.as_mut() {
            Some(b) => b.write_all(&buf[..n])?,
            None => self.hasher.update(&buf[..n]),
        }
        Ok(n)
    }
}

/// The size recorded for layer `diff_id` by any image that has it.
fn known_layer_size(state: &State, diff_id: &str) -> Option<u64> {
    state.images.values().find_map(|i| {
        let pos = i.config.rootfs.diff_ids.iter().position(|d| d == diff_id)?;
        i.layer_sizes.get(pos).copied()
    })
}

/// Bytes of regular files under `dir` (symlinks not followed; hard links counted once).
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

fn archive_err(e: io::Error) -> ImageError {
    ImageError::InvalidArchive(format!("reading the layer: {e}"))
}

/// RFC 3339 with nanoseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's `isSingleReference`: at most one tag, and digest refs only of that repository.
fn single_reference(refs: &[String]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let parsed: Vec<Reference> = refs
        .iter()
        .filter_map(|r| Reference::parse(r).ok())
        .collect();
    let tags: Vec<&Reference> = parsed.iter().filter(|r| r.digest().is_none()).collect();
    if tags.len() > 1 {
        return false;
    }
    let names: BTreeSet<String> = parsed
        .iter()
        .filter(|r| r.digest().is_some())
        .map(|r| r.name())
        .collect();
    let single = tags.first().copied().or(parsed.first());
    match single {
        Some(s) => names.len() == 1 && names.contains(&s.name()),
        None => false,
    }
}

fn resolve(state: &State, s: &str) -> Result<Resolved> {
    let not_found = || ImageError::NotFound(s.to_string());
    if let Some(hex) = s.strip_prefix("sha256:") {
        return by_prefix(state, hex, s).map(|id| Resolved { id, by_ref: None });
    }
    if let Ok(r) = Reference::parse(s) {
        let key = r.to_string();
        if let Some(id) = state.tags.get(&key) {
            return Ok(Resolved {
                id: id.clone(),
                by_ref: Some(key),
            });
        }
    }
    if is_sha256_hex(s) || (s.len() >= 4 && s.len() < 64 && is_hex(s)) {
        return by_prefix(state, s, s).map(|id| Resolved { id, by_ref: None });
    }
    Err(not_found())
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn by_prefix(state: &State, hex: &str, asked: &str) -> Result<String> {
    if hex.len() < 4 || hex.len() > 64 || !is_hex(hex) {
        return Err(ImageError::NotFound(asked.to_string()));
    }
    let prefix = format!("sha256:{hex}");
    let mut hits = state.images.keys().filter(|id| id.starts_with(&prefix));
    match (hits.next(), hits.next()) {
        (Some(id), None) => Ok(id.clone()),
        (Some(_), Some(_)) => Err(ImageError::Ambiguous(asked.to_string())),
        (None, _) => Err(ImageError::NotFound(asked.to_string())),
    }
}

fn record_of(state: &State, id: &str) -> Result<ImageRecord> {
    let img = state
        .images
        .get(id)
        .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for (k, v) in &state.tags {
        if v != id {
            continue;
        }
        let fam = Reference::parse(k)
            .map(|r| r.familiar())
            .unwrap_or_else(|_| k.clone());
        if k.contains('@') {
            repo_digests.push(fam);
        } else {
            repo_tags.push(fam);
        }
    }
    repo_tags.sort();
    repo_digests.sort();
    Ok(ImageRecord {
        id: img.id.clone(),
        repo_tags,
        repo_digests,
        created: img.created.clone(),
        size: img.size,
        config: img.config.clone(),
        manifest_digest: img.manifest_digest.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(ids: &[&str]) -> State {
        let mut s = State::default();
        for id in ids {
            s.images.insert(
                id.to_string(),
                StoredImage {
                    id: id.to_string(),
                    created: String::new(),
                    size: 0,
                    layer_sizes: Vec::new(),
                    config: ImageConfig::default(),
                    manifest_digest: String::new(),
                    blobs: Vec::new(),
                },
            );
        }
        s
    }

    #[test]
    fn prefix_resolution() {
        let a = format!("sha256:abcd1{}", "0".repeat(59));
        let b = format!("sha256:abcd2{}", "0".repeat(59));
        let mut s = state_with(&[&a, &b]);
        s.tags
            .insert("docker.io/library/abcd:latest".into(), b.clone());
        assert!(matches!(
            resolve(&s, "sha256:abcd"),
            Err(ImageError::Ambiguous(_))
        ));
        assert!(matches!(resolve(&s, "abcd1"), Ok(r) if r.id == a));
        assert!(matches!(resolve(&s, "sha256:abcd2"), Ok(r) if r.id == b));
        assert!(matches!(resolve(&s, "abc"), Err(ImageError::NotFound(_))));
        // A name that is both a tag and an id prefix resolves as the tag (like docker).
        let r = resolve(&s, "abcd").unwrap();
        assert_eq!(r.id, b);
        assert_eq!(r.by_ref.as_deref(), Some("docker.io/library/abcd:latest"));
        assert!(matches!(resolve(&s, "ABCD1"), Err(ImageError::NotFound(_))));
    }

    #[test]
    fn single_reference_rules() {
        let d = format!("sha256:{}", "1".repeat(64));
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(single_reference(&v(&["docker.io/library/a:latest"])));
        assert!(single_reference(&v(&[
            "docker.io/library/a:latest",
            &format!("docker.io/library/a@{d}")
        ])));
        assert!(!single_reference(&v(&[
            "docker.io/library/a:latest",
            "docker.io/library/a:2"
        ])));
        assert!(!single_reference(&v(&[
            "docker.io/library/a:latest",
            &format!("docker.io/library/b@{d}")
        ])));
    }
}
