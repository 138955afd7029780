//! [`VolumeStore`]: volume records in `D/volumes/metadata.redb` (one write transaction per
//! change), data in `D/volumes/<name>/_data`, container references, driver mounts.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::copyup;
use crate::error::{db_err, Result, VolumeError};
use crate::localopts;
use crate::sys;
use crate::validate::{random_name, validate_volume_name};

const VOLUMES: TableDefinition<&str, &str> = TableDefinition::new("volumes");

/// The label docker puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume as the Docker API shows it (`GET /volumes/{name}`), plus berth's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// Name (64 hex digits for anonymous volumes).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// Host path of the data: `D/volumes/<name>/_data`.
    pub mountpoint: String,
    /// RFC 3339, seconds.
    pub created_at: String,
    /// User labels (anonymous volumes carry `com.docker.volume.anonymous`).
    pub labels: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
    /// Driver options (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// Size and reference count, filled only when asked for (`docker system df`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub usage_data: Option<UsageData>,
    /// Created anonymously (`rm -v` removes it).
    #[serde(skip)]
    pub anonymous: bool,
    /// Ids of the containers that reference it.
    #[serde(skip)]
    pub containers: Vec<String>,
}

/// `Volume.UsageData`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageData {
    /// Bytes used (-1 when unknown).
    pub size: i64,
    /// Number of containers referencing it.
    pub ref_count: i64,
}

/// Stored per volume.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    name: String,
    driver: String,
    created_at: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    #[serde(default)]
    anonymous: bool,
    /// Copy-up done (or skipped because the volume had data).
    #[serde(default)]
    initialised: bool,
    /// Containers referencing the volume (blocks removal).
    #[serde(default)]
    refs: BTreeSet<String>,
    /// Containers that have it mounted (running); the driver mount lives while non-empty.
    #[serde(default)]
    active: BTreeSet<String>,
}

/// `volume ls` filters (docker's `filters` query parameter).
#[derive(Clone, Debug, Default)]
pub struct ListFilters {
    /// `dangling=true`: only volumes no container references; `false`: only referenced ones.
    pub dangling: Option<bool>,
    /// `label=key` or `label=key=value`; all must match.
    pub labels: Vec<String>,
    /// `name=` substrings; any may match.
    pub names: Vec<String>,
    /// `driver=`; any may match.
    pub drivers: Vec<String>,
}

impl ListFilters {
    /// Builds filters from docker's decoded `filters` map (`{"dangling":["true"],...}`).
    /// Unknown keys are an error, like docker's `invalid filter 'x'`.
    pub fn from_map(map: &BTreeMap<String, Vec<String>>) -> Result<ListFilters> {
        let mut f = ListFilters::default();
        for (k, vals) in map {
            match k.as_str() {
                "dangling" => {
                    for v in vals {
                        f.dangling = Some(match v.as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => {
                                return Err(VolumeError::InvalidOption(format!(
                                    "invalid filter 'dangling={v}'"
                                )))
                            }
                        });
                    }
                }
                "label" => f.labels.extend(vals.iter().cloned()),
                "name" => f.names.extend(vals.iter().cloned()),
                "driver" => f.drivers.extend(vals.iter().cloned()),
                other => {
                    return Err(VolumeError::InvalidOption(format!(
                        "invalid filter '{other}'"
                    )))
                }
            }
        }
        Ok(f)
    }
}

/// `volume prune` options.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// Also prune named volumes (docker's `all=true`); otherwise anonymous ones only.
    pub all: bool,
    /// `label=` / `label!=` style filters: each `k` or `k=v` must match.
    pub labels: Vec<String>,
    /// Each `k` or `k=v` here must NOT match (`label!=`).
    pub not_labels: Vec<String>,
}

impl PruneOptions {
    /// Builds options from docker's decoded `filters` map: `all` (`true`/`1`), `label`
    /// (`k` or `k=v`), `label!`. Unknown keys are an error.
    pub fn from_map(map: &BTreeMap<String, Vec<String>>) -> Result<PruneOptions> {
        let mut o = PruneOptions::default();
        for (k, vals) in map {
            match k.as_str() {
                "all" => {
                    for v in vals {
                        o.all = match v.as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => {
                                return Err(VolumeError::InvalidOption(format!(
                                    "invalid filter 'all={v}'"
                                )))
                            }
                        };
                    }
                }
                "label" => o.labels.extend(vals.iter().cloned()),
                "label!" => o.not_labels.extend(vals.iter().cloned()),
                other => {
                    return Err(VolumeError::InvalidOption(format!(
                        "invalid filter '{other}'"
                    )))
                }
            }
        }
        Ok(o)
    }
}

/// What `prune` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    /// Names removed.
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// Volume records and data under one root (`D/volumes`). `Send + Sync`; share it in an `Arc`.
pub struct VolumeStore {
    root: PathBuf,
    db: Database,
    /// Serialises read-check-write sequences that touch the file system and the database.
    lock: Mutex<()>,
}

fn label_matches(labels: &BTreeMap<String, String>, f: &str) -> bool {
    match f.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(f),
    }
}

impl VolumeStore {
    /// Opens (creating if needed) the store at `root` (`D/volumes`).
    pub fn open(root: impl AsRef<Path>) -> Result<VolumeStore> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| VolumeError::io("mkdir", &root, e))?;
        let db = Database::create(root.join("metadata.redb")).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(VOLUMES).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(VolumeStore {
            root,
            db,
            lock: Mutex::new(()),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Host path of a volume's data: `root/<name>/_data`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load(&self, name: &str) -> Result<Option<Record>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(VOLUMES).map_err(db_err)?;
        match t.get(name).map_err(db_err)? {
            Some(v) => serde_json::from_str(v.value())
                .map(Some)
                .map_err(|e| VolumeError::Corrupt(format!("{name}: {e}"))),
            None => Ok(None),
        }
    }

    fn load_all(&self) -> Result<Vec<Record>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(VOLUMES).map_err(db_err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let rec: Record = serde_json::from_str(v.value())
                .map_err(|e| VolumeError::Corrupt(format!("{}: {e}", k.value())))?;
            out.push(rec);
        }
        Ok(out)
    }

    fn save(&self, rec: &Record) -> Result<()> {
        let json = serde_json::to_string(rec).map_err(|e| VolumeError::Corrupt(e.to_string()))?;
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = txn.open_table(VOLUMES).map_err(db_err)?;
            t.insert(rec.name.as_str(), json.as_str()).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = txn.open_table(VOLUMES).map_err(db_err)?;
            t.remove(name).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    fn need(&self, name: &str) -> Result<Record> {
        self.load(name)?
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))
    }

    fn view(&self, r: &Record) -> Volume {
        Volume {
            name: r.name.clone(),
            driver: r.driver.clone(),
            mountpoint: self.data_dir(&r.name).to_string_lossy().into_owned(),
            created_at: r.created_at.clone(),
            labels: r.labels.clone(),
            scope: "local".into(),
            options: r.options.clone(),
            usage_data: None,
            anonymous: r.anonymous,
            containers: r.refs.iter().cloned().collect(),
        }
    }

    /// Creates a volume of the local driver, or returns the existing one of that name.
    /// `name = None` creates an anonymous volume with a random 64-hex name. An existing name
    /// is returned as is when `driver_opts` is empty or equal to its options, else `Conflict`.
    pub fn create(
        &self,
        name: Option<&str>,
        driver_opts: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<Volume> {
        self.create_with_driver(name, None, driver_opts, labels)
    }

    /// [`create`](Self::create) with an explicit driver name (only `local` exists).
    pub fn create_with_driver(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        driver_opts: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<Volume> {
        if let Some(d) = driver {
            if !d.is_empty() && d != "local" {
                return Err(VolumeError::UnknownDriver(d.to_string()));
            }
        }
        if let Some(n) = name {
            validate_volume_name(n)?;
        }
        localopts::parse(driver_opts)?;
        let _g = self.guard();
        if let Some(n) = name {
            if let Some(rec) = self.load(n)? {
                if !driver_opts.is_empty() && *driver_opts != rec.options {
                    return Err(VolumeError::Conflict(format!(
                        "volume {n} already exists with different options"
                    )));
                }
                return Ok(self.view(&rec));
            }
        }
        let (name, anonymous) = match name {
            Some(n) => (n.to_string(), false),
            None => (random_name(), true),
        };
        let mut labels = labels.clone();
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let data = self.data_dir(&name);
        fs::create_dir_all(&data).map_err(|e| VolumeError::io("mkdir", &data, e))?;
        let rec = Record {
            name: name.clone(),
            driver: "local".into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options: driver_opts.clone(),
            anonymous,
            initialised: false,
            refs: BTreeSet::new(),
            active: BTreeSet::new(),
        };
        if let Err(e) = self.save(&rec) {
            let _ = fs::remove_dir_all(self.root.join(&name));
            return Err(e);
        }
        Ok(self.view(&rec))
    }

    /// The volume called `name` (`NotFound`: "get NAME: no such volume").
    pub fn get(&self, name: &str) -> Result<Volume> {
        Ok(self.view(&self.need(name)?))
    }

    /// Like [`get`](Self::get), with `UsageData` (size walks the data directory).
    pub fn get_with_usage(&self, name: &str) -> Result<Volume> {
        let mut v = self.get(name)?;
        v.usage_data = Some(UsageData {
            size: copyup::disk_usage(&self.data_dir(name)) as i64,
            ref_count: v.containers.len() as i64,
        });
        Ok(v)
    }

    /// Volumes matching `filters`, sorted by name.
    pub fn list(&self, filters: &ListFilters) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for r in self.load_all()? {
            if let Some(d) = filters.dangling {
                if d != r.refs.is_empty() {
                    continue;
                }
            }
            if !filters.labels.iter().all(|l| label_matches(&r.labels, l)) {
                continue;
            }
            if !filters.names.is_empty()
                && !filters.names.iter().any(|n| r.name.contains(n.as_str()))
            {
                continue;
            }
            if !filters.drivers.is_empty() && !filters.drivers.contains(&r.driver) {
                continue;
            }
            out.push(self.view(&r));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Records that container `container_id` references the volume (persisted).
    pub fn acquire(&self, name: &str, container_id: &str) -> Result<()> {
        let _g = self.guard();
        let mut rec = self.need(name)?;
        if rec.refs.insert(container_id.to_string()) {
            self.save(&rec)?;
        }
        Ok(())
    }

    /// Drops container `container_id`'s reference (and its mount, if it still has one).
    pub fn release(&self, name: &str, container_id: &str) -> Result<()> {
        let _g = self.guard();
        let Some(mut rec) = self.load(name)? else {
            return Ok(());
        };
        let had_ref = rec.refs.remove(container_id);
        let had_active = rec.active.remove(container_id);
        if had_active && rec.active.is_empty() {
            self.driver_unmount(&rec)?;
        }
        if had_ref || had_active {
            self.save(&rec)?;
        }
        Ok(())
    }

    /// Marks the volume in use by a running container and makes its data available; the
    /// driver mount (`-o type=… device=…`) is done by the first user. Also acquires a
    /// reference. Returns the host path to bind into the container.
    pub fn mount(&self, name: &str, container_id: &str) -> Result<PathBuf> {
        let _g = self.guard();
        let mut rec = self.need(name)?;
        let data = self.data_dir(name);
        fs::create_dir_all(&data).map_err(|e| VolumeError::io("mkdir", &data, e))?;
        let mounted_now = match localopts::parse(&rec.options)? {
            Some(m) if !sys::is_mount_point(&data) => {
                m.mount(&data)?;
                true
            }
            _ => false,
        };
        let changed =
            rec.refs.insert(container_id.to_string()) | rec.active.insert(container_id.to_string());
        if changed {
            if let Err(e) = self.save(&rec) {
                if mounted_now {
                    let _ = sys::unmount_all(&data);
                }
                return Err(e);
            }
        }
        Ok(data)
    }

    /// The container stopped: its mount goes; the last user unmounts the driver mount.
    /// The reference stays until [`release`](Self::release).
    pub fn unmount(&self, name: &str, container_id: &str) -> Result<()> {
        let _g = self.guard();
        let Some(mut rec) = self.load(name)? else {
            return Ok(());
        };
        if rec.active.remove(container_id) {
            if rec.active.is_empty() {
                self.driver_unmount(&rec)?;
            }
            self.save(&rec)?;
        }
        Ok(())
    }

    fn driver_unmount(&self, rec: &Record) -> Result<()> {
        if localopts::parse(&rec.options)?.is_some() {
            sys::unmount_all(&self.data_dir(&rec.name))?;
        }
        Ok(())
    }

    /// True when the volume's driver mount is in place.
    pub fn is_mounted(&self, name: &str) -> bool {
        sys::is_mount_point(&self.data_dir(name))
    }

    /// Ids of the containers that have the volume mounted (running).
    pub fn active_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.need(name)?.active.into_iter().collect())
    }

    /// After a daemon restart: forgets mounts of containers not in `running`, unmounting
    /// driver mounts nobody uses any more.
    pub fn reconcile(&self, running: &[String]) -> Result<()> {
        let _g = self.guard();
        for mut rec in self.load_all()? {
            let before = rec.active.len();
            rec.active.retain(|c| running.contains(c));
            if rec.active.is_empty() {
                self.driver_unmount(&rec)?;
            }
            if rec.active.len() != before {
                self.save(&rec)?;
            }
        }
        Ok(())
    }

    /// Copies the image's content at `target` under `rootfs` into the volume if this is its
    /// first use and it is empty; marks it initialised either way. Returns true if it copied.
    /// Call after [`mount`](Self::mount) (so a tmpfs volume receives the content).
    pub fn copy_up(&self, name: &str, rootfs: &Path, target: &str) -> Result<bool> {
        let _g = self.guard();
        let mut rec = self.need(name)?;
        if rec.initialised {
            return Ok(false);
        }
        let data = self.data_dir(name);
        let copied = if copyup::is_empty_dir(&data)? {
            copyup::copy_up_from_rootfs(rootfs, target, &data)?.is_some()
        } else {
            false
        };
        rec.initialised = true;
        self.save(&rec)?;
        Ok(copied)
    }

    /// Removes a volume and its data. Refused while any container references it — also
    /// with `force`, which only makes a missing volume not an error.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _g = self.guard();
        let rec = match self.load(name)? {
            Some(r) => r,
            None if force => return Ok(()),
            None => return Err(VolumeError::NotFound(name.to_string())),
        };
        self.remove_locked(&rec)
    }

    fn remove_locked(&self, rec: &Record) -> Result<()> {
        if !rec.refs.is_empty() {
            return Err(VolumeError::InUse {
                name: rec.name.clone(),
                containers: rec.refs.iter().cloned().collect(),
            });
        }
        let data = self.data_dir(&rec.name);
        sys::unmount_all(&data)?;
        let dir = self.root.join(&rec.name);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(VolumeError::io("remove", &dir, e)),
        }
        self.delete(&rec.name)
    }

    /// Removes unused volumes (anonymous ones only unless `all`) matching the label filters.
    pub fn prune(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let _g = self.guard();
        let mut report = PruneReport::default();
        for rec in self.load_all()? {
            if !rec.refs.is_empty() || !(opts.all || rec.anonymous) {
                continue;
            }
            if !opts.labels.iter().all(|l| label_matches(&rec.labels, l)) {
                continue;
            }
            if opts
                .not_labels
                .iter()
                .any(|l| label_matches(&rec.labels, l))
            {
                continue;
            }
            let size = copyup::disk_usage(&self.data_dir(&rec.name));
            self.remove_locked(&rec)?;
            report.volumes_deleted.push(rec.name.clone());
            report.space_reclaimed += size;
        }
        Ok(report)
    }
}
