//! The engine: container records, creation, lookup, removal.
//!
//! Lifecycle operations (start/stop/kill/wait/exit handling/recovery) live in
//! [`crate::lifecycle`], exec in [`crate::exec`], logs in [`crate::logs`].

use crate::error::{EngineError, Result};
use crate::images::Images;
use crate::paths::Paths;
use crate::store::Store;
use crate::types::{Container, CreateRequest, State};
use crate::{files, names};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, watch};

/// Static configuration of an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `--data-root` (D).
    pub data_root: PathBuf,
    /// `--exec-root` (E).
    pub exec_root: PathBuf,
    /// OCI runtime executable.
    pub runtime: PathBuf,
    /// `berth-monitor` executable.
    pub monitor: PathBuf,
    /// Security defaults (`--seccomp-profile`, `--no-new-privileges`).
    pub security: crate::security::SecurityDefaults,
    /// The daemon-wide log driver and options (`berthd --log-driver --log-opt`).
    pub log: crate::logconfig::LogConfig,
    /// `berthd --init`: containers whose `HostConfig.Init` is null get the init.
    pub init: bool,
    /// `berthd --init-path`: the init binary bind-mounted at `/sbin/docker-init`.
    pub init_path: PathBuf,
}

/// An attach waiting for the container's next start.
pub(crate) struct PendingAttach {
    pub flags: u8,
    pub tx: oneshot::Sender<tokio::net::UnixStream>,
}

/// In-memory state guarded by one mutex (never held across an await).
#[derive(Default)]
pub(crate) struct Inner {
    pub containers: HashMap<String, Container>,
    /// Number of exits seen per container (for `wait?condition=next-exit`).
    pub exit_seq: HashMap<String, u64>,
    /// Last exit codes of removed containers (for `wait?condition=removed`).
    pub removed: HashMap<String, i64>,
    /// Containers with a start/stop/remove in progress.
    pub busy: HashSet<String>,
    /// Attaches waiting for the next start.
    pub pending: HashMap<String, Vec<PendingAttach>>,
    /// Socket dirs of containers whose monitor is up.
    pub live: HashMap<String, PathBuf>,
    /// Exec sessions.
    pub execs: HashMap<String, crate::exec::ExecState>,
    /// Copies (`docker cp`) in progress per container: the rootfs they mounted stays
    /// mounted until the last one ends.
    pub cp_users: HashMap<String, usize>,
}

/// The daemon core. Always used behind an `Arc`.
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) paths: Paths,
    pub(crate) store: Store,
    /// Images and snapshots (the API uses `images.store` for image endpoints).
    pub images: Images,
    /// Volumes (`D/volumes`), shared with the API's `/volumes` endpoints.
    pub volumes: Arc<volume::VolumeStore>,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) changed: watch::Sender<u64>,
    pub(crate) swap_ok: bool,
    pub(crate) events: crate::events::Events,
    /// Networks (`D/network`), shared with the API's `/networks` endpoints.
    pub(crate) network: Arc<network::NetworkManager>,
    /// Healthcheck schedulers of running containers.
    pub(crate) health: crate::health::Monitors,
    /// Restart-policy back-off and pending restarts.
    pub(crate) restarts: crate::restart::Restarts,
}

/// Run a blocking closure on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("task failed: {e}")))?
}

/// RFC 3339 timestamp with nanoseconds, UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Engine {
    /// Open the engine: create the directories, open the DB and the image store, reload
    /// records and reconnect to live monitors (see [`Engine::recover`]).
    pub async fn open(cfg: EngineConfig) -> Result<Arc<Engine>> {
        let net = network::Config::new(&cfg.data_root, &cfg.exec_root);
        Self::open_with_network(cfg, net).await
    }

    /// [`Engine::open`] with explicit network settings (bridge names, default subnet).
    pub async fn open_with_network(cfg: EngineConfig, net: network::Config) -> Result<Arc<Engine>> {
        let paths = Paths {
            data_root: cfg.data_root.clone(),
            exec_root: cfg.exec_root.clone(),
        };
        for d in [
            paths.data_root.join("containers"),
            paths.image_root(),
            paths.runtime_root(),
            paths.exec_root.join("m"),
            paths.exec_root.join("exec"),
        ] {
            crate::modes::private_dir(&d, crate::modes::PRIVATE_DIR)?;
        }
        let store = Store::open(&paths.db())?;
        let images = Images::open(&paths.image_root())?;
        let volumes = Arc::new(volume::VolumeStore::open(paths.data_root.join("volumes"))?);
        let network = Arc::new(network::NetworkManager::open(net)?);
        // every store is open (their files exist): fix the modes of the whole layout
        crate::modes::secure_roots(&paths)?;
        let (changed, _) = watch::channel(0u64);
        let engine = Arc::new(Engine {
            cfg,
            paths,
            store,
            images,
            volumes,
            inner: Mutex::new(Inner::default()),
            changed,
            swap_ok: crate::paths::swap_limit_supported(),
            events: Default::default(),
            network,
            health: Default::default(),
            restarts: Default::default(),
        });
        let records = engine.store.load_all()?;
        {
            let mut inner = engine.lock();
            for c in records {
                inner.exit_seq.insert(c.id.clone(), 0);
                inner.containers.insert(c.id.clone(), c);
            }
        }
        engine.recover().await;
        // Before the networks are restored, so endpoints of containers a crash left without
        // a record are dropped instead of re-wired (see `crate::reconcile`).
        engine.reconcile().await;
        engine.health_restore();
        engine.net_restore().await;
        let running = engine.running_ids();
        if let Err(e) = engine.volumes.reconcile(&running) {
            tracing::warn!("reconciling volumes: {e}");
        }
        engine.restart_restore();
        Ok(engine)
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Wake every waiter (state changed).
    pub(crate) fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Persist a record and store it in memory.
    pub(crate) fn save(&self, c: &Container) -> Result<()> {
        self.store.put(c)?;
        self.lock().containers.insert(c.id.clone(), c.clone());
        Ok(())
    }

    /// Resolve a name, full id or unique id prefix to a full id.
    pub fn resolve(&self, name_or_id: &str) -> Result<String> {
        let inner = self.lock();
        resolve_in(&inner, name_or_id)
    }

    /// A copy of a container's record.
    pub fn get(&self, name_or_id: &str) -> Result<Container> {
        let inner = self.lock();
        let id = resolve_in(&inner, name_or_id)?;
        inner
            .containers
            .get(&id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchContainer(name_or_id.to_string()))
    }

    /// Copies of all records, newest first.
    pub fn list(&self) -> Vec<Container> {
        let mut v: Vec<Container> = self.lock().containers.values().cloned().collect();
        v.sort_by(|a, b| b.created.cmp(&a.created));
        v
    }

    /// `Mounts` of a container as `docker inspect` shows them.
    pub fn mounts_json(&self, c: &Container) -> Vec<serde_json::Value> {
        crate::mounts::inspect(&c.mount_points)
    }

    /// Path of the container's json-file log.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.paths.log(id)
    }

    /// Create a container from a ContainerCreate request. Returns the id and warnings.
    pub async fn create(
        self: &Arc<Self>,
        req: CreateRequest,
        name: Option<String>,
    ) -> Result<(String, Vec<String>)> {
        let mut cfg = req.config;
        let mut host_config = req.host_config.unwrap_or_default();
        if cfg.image.is_empty() {
            return Err(EngineError::InvalidParameter(
                "config.Image must not be empty".into(),
            ));
        }
        let log_config =
            crate::logconfig::LogConfig::from_value(host_config.extra.get("LogConfig"))?
                .merged(&self.cfg.log)?;
        host_config
            .extra
            .insert("LogConfig".into(), log_config.to_value());
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.trim_start_matches('/').to_string();
                if !names::valid_name(&n) {
                    return Err(EngineError::InvalidParameter(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                Some(n)
            }
            None => None,
        };
        let images = self.clone();
        let image_name = cfg.image.clone();
        let img = blocking(move || images.images.get(&image_name)).await?;
        let icfg = img.config.config.clone().unwrap_or_default();
        merge_image_config(&mut cfg, &icfg);
        crate::health::merge(&mut cfg, icfg.extra.get("Healthcheck"));
        crate::health::validate(&cfg)?;
        crate::restart::validate(&host_config)?;
        crate::init::check(&host_config, &self.cfg)?;
        crate::hostopts::check(&host_config)?;
        let warnings = crate::fields::check(&cfg, &host_config)?;
        for key in ["PidMode", "IpcMode"] {
            let mode = host_config
                .extra
                .get(key)
                .and_then(serde_json::Value::as_str);
            if let Some(other) = mode.and_then(|m| m.strip_prefix("container:")) {
                if self.get(other).is_err() {
                    return Err(EngineError::InvalidParameter(format!(
                        "HostConfig.{key}: No such container: {other}"
                    )));
                }
            }
        }
        crate::devices::resolve(&host_config)?;
        crate::devices::cgroup_rules(&host_config)?;
        let wants_gateway = host_config
            .extra_hosts
            .iter()
            .flatten()
            .any(|e| e.ends_with(":host-gateway"));
        if wants_gateway && self.host_gateway_ip().is_none() {
            return Err(EngineError::InvalidParameter(
                "unable to derive the IP value for host-gateway: the daemon has no default bridge"
                    .into(),
            ));
        }
        let mut args: Vec<String> = cfg.entrypoint.clone().unwrap_or_default();
        args.extend(cfg.cmd.clone().unwrap_or_default());
        if args.is_empty() {
            return Err(EngineError::InvalidParameter("No command specified".into()));
        }
        let image_volumes: Vec<String> = icfg
            .volumes
            .as_ref()
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        crate::storage_opt::check(&host_config.extra, &self.paths.image_root())?;
        let mount_reqs = crate::mounts::requests(self, &cfg, &host_config, &image_volumes)?;
        crate::resources::validate(&host_config, self.swap_ok)?;
        if host_config.memory > 0 && host_config.memory_swap == 0 && self.swap_ok {
            // Docker's default, kept in the record so `update` knows the swap limit in force.
            host_config.memory_swap = crate::resources::effective_swap(&host_config);
        }
        let id = random_id();
        let host_net = host_config.network_mode == "host";
        if cfg.hostname.is_empty() {
            cfg.hostname = if host_net {
                host_hostname()
            } else {
                id[..12].to_string()
            };
        }
        if host_config.network_mode.is_empty() {
            host_config.network_mode = "default".into();
        }
        let container = Container {
            id: id.clone(),
            name: String::new(),
            created: now(),
            path: args[0].clone(),
            args: args[1..].to_vec(),
            config: cfg,
            host_config,
            networking_config: req.networking_config.unwrap_or(serde_json::Value::Null),
            image_id: img.id.clone(),
            state: State::default(),
            monitor_pid: 0,
            restart_count: 0,
            mounted: false,
            stopped_by_user: false,
            exec_ids: Vec::new(),
            mount_points: Vec::new(),
            primary_detached: false,
        };
        crate::security::container_opts(&container)?;
        self.net_validate(&container)?;
        // Reserve the name and the id before doing slow work.
        let mut container = container;
        {
            let mut inner = self.lock();
            let final_name = match name {
                Some(n) => {
                    if let Some(other) = inner.containers.values().find(|c| c.name == n) {
                        return Err(EngineError::Conflict(format!(
                            "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                            other.id
                        )));
                    }
                    n
                }
                None => {
                    let mut n = names::random_name(0);
                    let mut retry = 0;
                    while inner.containers.values().any(|c| c.name == n) && retry < 100 {
                        retry += 1;
                        n = names::random_name(retry);
                    }
                    n
                }
            };
            container.name = final_name;
            inner.busy.insert(id.clone());
            inner.containers.insert(id.clone(), container.clone());
            inner.exit_seq.insert(id.clone(), 0);
        }
        let this = self.clone();
        let c2 = container.clone();
        let res = blocking(move || {
            let points = volume::prepare(&this.volumes, &mount_reqs, &c2.id)?;
            if let Err(e) = this.prepare_container(&c2, &img) {
                let _ = volume::release(&this.volumes, &points, &c2.id, true);
                return Err(e);
            }
            Ok(points)
        })
        .await;
        let res = res.and_then(|points| {
            container.mount_points = points;
            container.mounted = true;
            self.save(&container)
        });
        let mut inner = self.lock();
        inner.busy.remove(&id);
        if let Err(e) = res {
            inner.containers.remove(&id);
            inner.exit_seq.remove(&id);
            drop(inner);
            let _ = volume::release(&self.volumes, &container.mount_points, &id, true);
            let _ = self.images.remove(&id);
            let _ = std::fs::remove_dir_all(self.paths.container_dir(&id));
            return Err(e);
        }
        drop(inner);
        self.notify();
        self.container_event(&id, "create", &[]);
        Ok((id, warnings))
    }

    /// Blocking part of create: directories, generated files, rootfs snapshot.
    fn prepare_container(&self, c: &Container, img: &image::ImageRecord) -> Result<()> {
        let dir = self.paths.container_dir(&c.id);
        std::fs::create_dir_all(self.paths.bundle(&c.id))?;
        let extra = crate::networking::extra_hosts_with(c, self.host_gateway_ip().as_deref());
        files::write_all(&dir, &c.config.hostname, &c.host_config, &extra)?;
        crate::modes::secure_container_dir(&dir)?;
        let lowers = self.images.lowers(img)?;
        self.images.prepare(&c.id, &lowers)?;
        Ok(())
    }

    /// Remove a container. `force` kills a running one first.
    pub async fn remove(self: &Arc<Self>, name_or_id: &str, force: bool) -> Result<()> {
        self.remove_with_volumes(name_or_id, force, false).await
    }

    /// Remove a container; `remove_volumes` (`rm -v`) also removes its anonymous volumes.
    pub async fn remove_with_volumes(
        self: &Arc<Self>,
        name_or_id: &str,
        force: bool,
        remove_volumes: bool,
    ) -> Result<()> {
        // `rm -f` of a container whose restart policy is starting it right now (the id is
        // busy) waits for that start and kills it: the first attempt already made the restart
        // manager forget the container, so it is not started again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let c = self.get(name_or_id)?;
            self.restart_check_remove(&c, force)?;
            if c.state.running {
                if !force {
                    return Err(EngineError::Conflict(format!(
                        "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                        c.id
                    )));
                }
                self.kill(&c.id, "KILL").await.ok();
                self.wait_not_running(&c.id, std::time::Duration::from_secs(30))
                    .await;
            }
            match self.remove_stopped(&c.id, remove_volumes).await {
                Err(EngineError::Conflict(_))
                    if force
                        && self.lock().busy.contains(&c.id)
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                res => return res,
            }
        }
    }

    /// Remove a container that is not running (also used by AutoRemove, which removes its
    /// anonymous volumes like docker's `--rm`).
    pub(crate) async fn remove_stopped(
        self: &Arc<Self>,
        id: &str,
        remove_volumes: bool,
    ) -> Result<()> {
        let before = self.get(id).ok();
        self.health_stop(id);
        self.restart_forget(id);
        {
            let mut inner = self.lock();
            let Some(c) = inner.containers.get(id) else {
                return Ok(());
            };
            if c.state.running {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
                )));
            }
            if !inner.busy.insert(id.to_string()) {
                return Err(EngineError::Conflict(format!(
                    "removal of container {id} is already in progress"
                )));
            }
        }
        // Crash-safe order: first whatever may still live of the container outside its
        // record (a monitor with a blocked init left by a crash mid-start), then its network
        // (endpoints, veths, port rules, netns), and only then the record, durably; files
        // follow. A crash before the record is deleted leaves a record whose `rm` works
        // again; a crash after it leaves an orphan that `open` reaps (`crate::reconcile`).
        // Volumes are released before waiters wake (`run --rm` then sees its anonymous
        // volumes gone).
        let this = self.clone();
        let id2 = id.to_string();
        let points = before
            .as_ref()
            .map(|c| c.mount_points.clone())
            .unwrap_or_default();
        let res = blocking(move || {
            if this.has_leftovers(&id2) {
                this.reap_leftovers(&id2);
            }
            this.net_release(&id2);
            this.store.delete(&id2)?;
            if let Err(e) = volume::deactivate(&this.volumes, &points, &id2)
                .and_then(|_| volume::release(&this.volumes, &points, &id2, remove_volumes))
            {
                tracing::warn!("releasing volumes of {id2}: {e}");
            }
            Ok(())
        })
        .await;
        {
            let mut inner = self.lock();
            inner.busy.remove(id);
            if res.is_ok() {
                if let Some(c) = inner.containers.remove(id) {
                    inner.removed.insert(id.to_string(), c.state.exit_code);
                    for e in c.exec_ids {
                        inner.execs.remove(&e);
                    }
                }
                inner.pending.remove(id);
                inner.exit_seq.remove(id);
                inner.live.remove(id);
                if inner.removed.len() > 10_000 {
                    inner.removed.clear();
                }
            }
        }
        self.notify();
        if res.is_ok() {
            if let Some(c) = before {
                let mut attrs: std::collections::BTreeMap<String, String> =
                    c.config.labels.clone().unwrap_or_default();
                attrs.insert("name".into(), c.name.clone());
                attrs.insert("image".into(), c.config.image.clone());
                self.publish_event("container", id, &c.config.image, "destroy", attrs);
            }
            let this = self.clone();
            let id2 = id.to_string();
            let _ = blocking(move || {
                this.remove_container_files(&id2);
                Ok(())
            })
            .await;
        }
        res
    }

    /// Delete a container's snapshot and directories (best effort, snapshot first).
    fn remove_container_files(&self, id: &str) {
        if let Err(e) = self.images.remove(id) {
            tracing::warn!("removing snapshot of {id}: {e}");
            return;
        }
        let _ = std::fs::remove_dir_all(self.paths.socket_dir(id));
        crate::shared_ns::unmount_shm(&self.paths.container_dir(id));
        let _ = std::fs::remove_dir_all(self.paths.container_dir(id));
    }

    /// Rename a container (409 when the new name is taken).
    pub fn rename(&self, name_or_id: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim_start_matches('/').to_string();
        if !names::valid_name(&new_name) {
            return Err(EngineError::InvalidParameter(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let mut c = {
            let inner = self.lock();
            let id = resolve_in(&inner, name_or_id)?;
            if let Some(other) = inner.containers.values().find(|c| c.name == new_name) {
                if other.id == id {
                    return Ok(());
                }
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                )));
            }
            inner
                .containers
                .get(&id)
                .cloned()
                .ok_or_else(|| EngineError::NoSuchContainer(name_or_id.to_string()))?
        };
        let old = std::mem::replace(&mut c.name, new_name);
        self.save(&c)?;
        self.container_event(&c.id, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// Ids of containers using image `image_id` (`sha256:…`), with their running flag.
    pub fn containers_using_image(&self, image_id: &str) -> Vec<(String, bool)> {
        self.lock()
            .containers
            .values()
            .filter(|c| c.image_id == image_id)
            .map(|c| (c.id.clone(), c.state.running))
            .collect()
    }
}

pub(crate) fn resolve_in(inner: &Inner, name_or_id: &str) -> Result<String> {
    let key = name_or_id.trim_start_matches('/');
    if key.is_empty() {
        return Err(EngineError::NoSuchContainer(name_or_id.to_string()));
    }
    if inner.containers.contains_key(key) {
        return Ok(key.to_string());
    }
    if let Some(c) = inner.containers.values().find(|c| c.name == key) {
        return Ok(c.id.clone());
    }
    let mut matches = inner.containers.keys().filter(|id| id.starts_with(key));
    match (matches.next(), matches.next()) {
        (Some(id), None) => Ok(id.clone()),
        (Some(_), Some(_)) => Err(EngineError::InvalidParameter(format!(
            "multiple IDs found with provided prefix: {key}"
        ))),
        _ => Err(EngineError::NoSuchContainer(name_or_id.to_string())),
    }
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Merge the image's defaults into a request config the way Docker does.
pub fn merge_image_config(cfg: &mut crate::types::Config, img: &image::ContainerConfig) {
    // Env: image first, request entries override by key.
    let mut env: Vec<String> = img.env.clone().unwrap_or_default();
    for e in cfg.env.clone().unwrap_or_default() {
        let k = env_key(&e).to_string();
        env.retain(|x| env_key(x) != k);
        env.push(e);
    }
    cfg.env = Some(env);
    // Entrypoint / Cmd.
    let req_entry = cfg.entrypoint.clone();
    match req_entry {
        Some(ep) => {
            // An explicit entrypoint resets the image's Cmd; [""] clears the entrypoint.
            if ep.len() == 1 && ep[0].is_empty() {
                cfg.entrypoint = None;
            }
            if ep.iter().all(|s| s.is_empty()) {
                cfg.entrypoint = None;
            }
        }
        None => {
            cfg.entrypoint = img.entrypoint.clone();
            if cfg.cmd.as_ref().map(|c| c.is_empty()).unwrap_or(true) {
                cfg.cmd = img.cmd.clone();
            }
        }
    }
    if cfg.working_dir.is_empty() {
        cfg.working_dir = img.working_dir.clone().unwrap_or_default();
    }
    if cfg.user.is_empty() {
        cfg.user = img.user.clone().unwrap_or_default();
    }
    if let Some(l) = &img.labels {
        let mut labels = l.clone();
        labels.extend(cfg.labels.clone().unwrap_or_default());
        cfg.labels = Some(labels);
    } else if cfg.labels.is_none() {
        cfg.labels = Some(Default::default());
    }
    if cfg.stop_signal.is_none() {
        cfg.stop_signal = img.stop_signal.clone();
    }
    if let Some(p) = &img.exposed_ports {
        cfg.extra
            .entry("ExposedPorts".to_string())
            .or_insert_with(|| serde_json::json!(p));
    }
}
