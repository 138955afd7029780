//! From requests to mounts: [`prepare`] (container create: volumes created and referenced,
//! `-v` host dirs made), [`activate`] (container start: driver mounts, copy-up, OCI mounts),
//! [`deactivate`] (stop), [`release`] (container removal, `rm -v`). [`resolve`] = prepare +
//! activate. [`MountPoint`] is what the engine stores per container and shows in inspect.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError};
use crate::localopts;
use crate::spec::{check_duplicates, MountRequest, MountType, Origin, Propagation};
use crate::store::VolumeStore;

/// One entry of an OCI runtime spec's `mounts` (serialises to the OCI JSON shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciMount {
    /// Container path.
    pub destination: String,
    /// `bind` or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host path, or `tmpfs`.
    pub source: String,
    /// mount options (`rbind`, `ro`, `rprivate`, `size=…k`, …).
    pub options: Vec<String>,
}

/// A container's mount as berth stores it (serde, persisted by the engine) — the docker
/// inspect `Mounts` fields plus what is needed to mount it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// bind / volume / tmpfs.
    pub kind: MountType,
    /// Volume name ("" for bind and tmpfs).
    pub name: String,
    /// Host path: bind source or the volume's `_data` ("" for tmpfs).
    pub source: String,
    /// Container path.
    pub destination: String,
    /// `local` for volumes, "" otherwise.
    pub driver: String,
    /// Docker's `Mode` text.
    pub mode: String,
    /// Writable.
    pub rw: bool,
    /// Propagation (binds: `rprivate` by default; "" for volumes and tmpfs).
    pub propagation: String,
    /// Skip copy-up.
    pub nocopy: bool,
    /// The volume was created anonymously for this container (`rm -v` removes it).
    pub anonymous: bool,
    /// Tmpfs: full OCI options (defaults merged).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// Which syntax it came from.
    pub origin: Origin,
}

/// Docker's container inspect `Mounts[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiMountPoint {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name (absent for binds).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    /// Host path.
    pub source: String,
    /// Container path.
    pub destination: String,
    /// Volume driver (absent for binds).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub driver: String,
    /// Mode text.
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Propagation.
    pub propagation: String,
}

impl MountPoint {
    /// The docker inspect shape.
    pub fn api(&self) -> ApiMountPoint {
        ApiMountPoint {
            kind: self.kind.as_str().into(),
            name: self.name.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            driver: self.driver.clone(),
            mode: self.mode.clone(),
            rw: self.rw,
            propagation: self.propagation.clone(),
        }
    }

    /// Docker lists every mount in inspect `Mounts` except `--tmpfs`/`HostConfig.Tmpfs` ones.
    pub fn listed_in_inspect(&self) -> bool {
        self.origin != Origin::Tmpfs
    }

    /// The OCI mount for this point (volumes: the source must be mounted, see [`activate`]).
    pub fn oci(&self) -> OciMount {
        match self.kind {
            MountType::Tmpfs => OciMount {
                destination: self.destination.clone(),
                kind: "tmpfs".into(),
                source: "tmpfs".into(),
                options: self.tmpfs_options.clone(),
            },
            _ => {
                let mut options = vec!["rbind".to_string()];
                if !self.rw {
                    options.push("ro".into());
                }
                options.push(if self.propagation.is_empty() {
                    "rprivate".into()
                } else {
                    self.propagation.clone()
                });
                OciMount {
                    destination: self.destination.clone(),
                    kind: "bind".into(),
                    source: self.source.clone(),
                    options,
                }
            }
        }
    }

    /// A request that mounts the same thing (for `--volumes-from`); `read_only` overrides.
    /// `None` for tmpfs mounts, which are not shared.
    pub fn to_request(&self, read_only: Option<bool>) -> Option<MountRequest> {
        let ro = read_only.unwrap_or(!self.rw);
        let kind = self.kind;
        if kind == MountType::Tmpfs {
            return None;
        }
        Some(MountRequest {
            kind,
            source: Some(if kind == MountType::Bind {
                self.source.clone()
            } else {
                self.name.clone()
            }),
            target: self.destination.clone(),
            read_only: ro,
            propagation: Propagation::parse(&self.propagation),
            nocopy: true,
            mode: if ro { "ro".into() } else { "rw".into() },
            origin: Origin::VolumesFrom,
            ..MountRequest::default()
        })
    }
}

/// Docker's tmpfs options: `noexec,nosuid,nodev,rprivate`, then the user's (a later flag
/// overrides its opposite, a later `key=` its earlier value), `ro`, `size=Nk`, `mode=O`.
pub fn tmpfs_options(req: &MountRequest) -> Vec<String> {
    let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut user = req.tmpfs_options.clone();
    if req.read_only {
        user.push("ro".into());
    }
    if let Some(s) = req.tmpfs_size {
        user.push(format!("size={}k", s.div_ceil(1024)));
    }
    if let Some(m) = req.tmpfs_mode {
        user.push(format!("mode={m:o}"));
    }
    let opposite = |o: &str| -> Option<String> {
        const PAIRS: [(&str, &str); 7] = [
            ("exec", "noexec"),
            ("suid", "nosuid"),
            ("dev", "nodev"),
            ("rw", "ro"),
            ("atime", "noatime"),
            ("diratime", "nodiratime"),
            ("async", "sync"),
        ];
        PAIRS.iter().find_map(|(a, b)| {
            if o == *a {
                Some(b.to_string())
            } else if o == *b {
                Some(a.to_string())
            } else {
                None
            }
        })
    };
    const PROPAGATION: [&str; 6] = [
        "private", "rprivate", "shared", "rshared", "slave", "rslave",
    ];
    for o in user {
        if let Some((k, _)) = o.split_once('=') {
            opts.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k));
        } else if PROPAGATION.contains(&o.as_str()) {
            opts.retain(|e| !PROPAGATION.contains(&e.as_str()));
        } else if let Some(op) = opposite(&o) {
            opts.retain(|e| *e != op && *e != o);
        } else {
            opts.retain(|e| *e != o);
        }
        opts.push(o);
    }
    opts
}

/// Checks everything that can be checked before any side effect: duplicate targets, bind
/// sources (`--mount` needs them to exist), volume drivers and options.
pub fn validate(requests: &[MountRequest]) -> Result<()> {
    check_duplicates(requests)?;
    for r in requests {
        match r.kind {
            MountType::Bind => {
                let src = r.source.as_deref().unwrap_or("");
                if !src.starts_with('/') {
                    return Err(VolumeError::RelativeHostPath(src.to_string()));
                }
                if !r.create_host_path {
                    match fs::symlink_metadata(src) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            return Err(VolumeError::BindSourceMissing(src.into()))
                        }
                        Err(e) => return Err(VolumeError::io("stat", src, e)),
                    }
                }
            }
            MountType::Volume => {
                if let Some(d) = r.driver.as_deref() {
                    if !d.is_empty() && d != "local" {
                        return Err(VolumeError::UnknownDriver(d.to_string()));
                    }
                }
                localopts::parse(&r.driver_opts)?;
            }
            MountType::Tmpfs => {}
        }
    }
    Ok(())
}

/// Container create: validates all requests, then creates `-v` host directories, creates
/// (or finds) volumes and records `container_id`'s reference on each. On error every
/// reference taken and anonymous volume created here is undone.
pub fn prepare(
    store: &VolumeStore,
    requests: &[MountRequest],
    container_id: &str,
) -> Result<Vec<MountPoint>> {
    validate(requests)?;
    let mut done: Vec<MountPoint> = Vec::new();
    for r in requests {
        match prepare_one(store, r, container_id) {
            Ok(p) => done.push(p),
            Err(e) => {
                let _ = release(store, &done, container_id, true);
                return Err(e);
            }
        }
    }
    Ok(done)
}

fn prepare_one(store: &VolumeStore, r: &MountRequest, cid: &str) -> Result<MountPoint> {
    let mut p = MountPoint {
        kind: r.kind,
        name: String::new(),
        source: String::new(),
        destination: r.target.clone(),
        driver: String::new(),
        mode: r.mode.clone(),
        rw: !r.read_only,
        propagation: String::new(),
        nocopy: r.nocopy,
        anonymous: false,
        tmpfs_options: Vec::new(),
        origin: r.origin,
    };
    match r.kind {
        MountType::Bind => {
            let src = r.source.clone().unwrap_or_default();
            if r.create_host_path && fs::symlink_metadata(&src).is_err() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&src)
                    .map_err(|e| VolumeError::io("mkdir", &src, e))?;
            }
            p.source = src;
            p.propagation = r
                .propagation
                .unwrap_or(Propagation::RPrivate)
                .as_str()
                .into();
        }
        MountType::Volume => {
            let v = store.create_with_driver(
                r.source.as_deref(),
                r.driver.as_deref(),
                &r.driver_opts,
                &r.labels,
            )?;
            let fresh_anon = r.source.is_none();
            if let Err(e) = store.acquire(&v.name, cid) {
                if fresh_anon {
                    let _ = store.remove(&v.name, true);
                }
                return Err(e);
            }
            p.anonymous = v.anonymous;
            p.name = v.name;
            p.source = v.mountpoint;
            p.driver = v.driver;
        }
        MountType::Tmpfs => p.tmpfs_options = tmpfs_options(r),
    }
    Ok(p)
}

/// Container start: mounts volumes (driver mounts at first use), copies the image content
/// into empty volumes (unless `nocopy`; only when `rootfs` is given), and returns the OCI
/// mounts ordered parents first (stable by path depth). On error, what was mounted here is unmounted.
pub fn activate(
    store: &VolumeStore,
    points: &[MountPoint],
    container_id: &str,
    rootfs: Option<&Path>,
) -> Result<Vec<OciMount>> {
    let mut out = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        if p.kind == MountType::Volume {
            let r = store
                .mount(&p.name, container_id)
                .and_then(|_| match rootfs {
                    Some(root) if !p.nocopy => {
                        store.copy_up(&p.name, root, &p.destination).map(|_| ())
                    }
                    _ => Ok(()),
                });
            if let Err(e) = r {
                let _ = deactivate(store, &points[..=i], container_id);
                return Err(e);
            }
        }
        out.push(p.oci());
    }
    // parents before children (`/data` before `/data/sub`), like docker's mount sort
    out.sort_by_key(|m| m.destination.split('/').filter(|c| !c.is_empty()).count());
    Ok(out)
}

/// Container stop: drops the container's mounts (the last user of a driver-mounted volume
/// unmounts it). Tries every point; returns the first error.
pub fn deactivate(store: &VolumeStore, points: &[MountPoint], container_id: &str) -> Result<()> {
    let mut first = Ok(());
    for p in points.iter().filter(|p| p.kind == MountType::Volume) {
        if let Err(e) = store.unmount(&p.name, container_id) {
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    first
}

/// Container removal: drops the container's references; with `remove_anonymous` (`rm -v`)
/// also removes its anonymous volumes that no other container references. Returns the names
/// removed.
pub fn release(
    store: &VolumeStore,
    points: &[MountPoint],
    container_id: &str,
    remove_anonymous: bool,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut first = Ok(());
    for p in points.iter().filter(|p| p.kind == MountType::Volume) {
        let r = store.release(&p.name, container_id).and_then(|_| {
            if remove_anonymous && p.anonymous && p.origin != Origin::VolumesFrom {
                match store.remove(&p.name, true) {
                    Ok(()) => removed.push(p.name.clone()),
                    Err(VolumeError::InUse { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    first.map(|_| removed)
}

/// Everything a container's mounts need, once [`resolve`]d.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// For the OCI spec's `mounts`, parents first.
    pub mounts: Vec<OciMount>,
    /// For the container record and inspect `Mounts`.
    pub points: Vec<MountPoint>,
}

/// [`prepare`] then [`activate`]: validates, creates/references volumes, mounts them and
/// copies up image content from `rootfs`. On error nothing stays referenced.
pub fn resolve(
    store: &VolumeStore,
    requests: &[MountRequest],
    container_id: &str,
    rootfs: Option<&Path>,
) -> Result<Resolved> {
    let points = prepare(store, requests, container_id)?;
    match activate(store, &points, container_id, rootfs) {
        Ok(mounts) => Ok(Resolved { mounts, points }),
        Err(e) => {
            let _ = release(store, &points, container_id, true);
            Err(e)
        }
    }
}
