//! Start, stop, kill, restart, wait, exit handling and restart recovery.

use crate::engine::{blocking, now, Engine, PendingAttach};
use crate::error::{EngineError, Result};
use crate::types::{Container, Status};
use crate::{pidfd, signal, spec, user};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

/// Conditions of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Until the container is not running (now or later).
    NotRunning,
    /// Until the next exit.
    NextExit,
    /// Until the container is removed.
    Removed,
}

impl WaitCondition {
    /// Parse Docker's words; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "not-running" => Some(WaitCondition::NotRunning),
            "next-exit" => Some(WaitCondition::NextExit),
            "removed" => Some(WaitCondition::Removed),
            _ => None,
        }
    }
}

/// A wait registered at request time (so `next-exit` counts from then).
pub struct WaitHandle {
    engine: Arc<Engine>,
    id: String,
    cond: WaitCondition,
    start_seq: u64,
    rx: tokio::sync::watch::Receiver<u64>,
}

impl WaitHandle {
    /// Wait for the condition; returns the exit code.
    pub async fn wait(mut self) -> i64 {
        loop {
            {
                let inner = self.engine.lock();
                match inner.containers.get(&self.id) {
                    None => return inner.removed.get(&self.id).copied().unwrap_or(0),
                    Some(c) => match self.cond {
                        WaitCondition::NotRunning => {
                            if !c.state.running && !inner.busy.contains(&self.id) {
                                return c.state.exit_code;
                            }
                        }
                        WaitCondition::NextExit => {
                            if inner.exit_seq.get(&self.id).copied().unwrap_or(0) > self.start_seq {
                                return c.state.exit_code;
                            }
                        }
                        WaitCondition::Removed => {}
                    },
                }
            }
            if self.rx.changed().await.is_err() {
                return -1;
            }
        }
    }
}

impl Engine {
    /// Register a wait on `name_or_id` (404 when it does not exist).
    pub fn wait_begin(
        self: &Arc<Self>,
        name_or_id: &str,
        cond: WaitCondition,
    ) -> Result<WaitHandle> {
        let rx = self.changed.subscribe();
        let inner = self.lock();
        let id = crate::engine::resolve_in(&inner, name_or_id)?;
        let start_seq = inner.exit_seq.get(&id).copied().unwrap_or(0);
        drop(inner);
        Ok(WaitHandle {
            engine: self.clone(),
            id,
            cond,
            start_seq,
            rx,
        })
    }

    /// Wait up to `timeout` for the container to stop running; true if it did.
    pub(crate) async fn wait_not_running(self: &Arc<Self>, id: &str, timeout: Duration) -> bool {
        let Ok(h) = self.wait_begin(id, WaitCondition::NotRunning) else {
            return true;
        };
        tokio::time::timeout(timeout, h.wait()).await.is_ok()
    }

    /// Start a container. Returns `false` when it was already running (HTTP 304).
    pub async fn start(self: &Arc<Self>, name_or_id: &str) -> Result<bool> {
        let c = {
            let mut inner = self.lock();
            let id = crate::engine::resolve_in(&inner, name_or_id)?;
            let c = inner
                .containers
                .get(&id)
                .cloned()
                .ok_or_else(|| EngineError::NoSuchContainer(name_or_id.to_string()))?;
            if c.state.running {
                return Ok(false);
            }
            if !inner.busy.insert(id.clone()) {
                return Err(EngineError::Conflict(format!(
                    "container {id} is busy (being started, stopped or removed)"
                )));
            }
            c
        };
        let mut c = c;
        if !self.restart_start_is_auto(&c.id) {
            c.restart_count = 0;
        }
        let id = c.id.clone();
        let auto_remove = c.host_config.auto_remove;
        let res = self.start_inner(c).await;
        self.lock().busy.remove(&id);
        self.notify();
        if res.is_err() && auto_remove {
            let running = self.get(&id).map(|c| c.state.running).unwrap_or(false);
            if !running {
                if let Err(e) = self.remove_stopped(&id, true).await {
                    tracing::warn!("auto-removing {id} after a failed start: {e}");
                }
            }
        }
        res.map(|_| true)
    }

    async fn start_inner(self: &Arc<Self>, mut c: Container) -> Result<()> {
        let id = c.id.clone();
        let this = self.clone();
        let c2 = c.clone();
        // Mount the rootfs and write the bundle.
        let rootfs_mounted = blocking(move || this.prepare_bundle(&c2)).await;
        if let Err(e) = rootfs_mounted {
            self.record_start_failure(&mut c, &e);
            return Err(e);
        }
        c.mounted = true;
        let log_settings =
            crate::logconfig::LogConfig::from_value(c.host_config.extra.get("LogConfig"))
                .and_then(|l| l.merged(&self.cfg.log))
                .and_then(|l| l.settings())
                .unwrap_or_default();
        let mcfg = monitor::MonitorConfig {
            monitor_bin: self.cfg.monitor.clone(),
            id: id.clone(),
            runtime: self.cfg.runtime.clone(),
            runtime_root: self.paths.runtime_root(),
            bundle: self.paths.bundle(&id),
            socket_dir: self.paths.socket_dir(&id),
            log_file: self.paths.log(&id),
            exit_file: self.paths.exit_file(&id),
            tty: c.config.tty,
            stdin: c.config.open_stdin,
            log_rotation: log_settings.rotation,
            log_none: log_settings.none,
        };
        let _ = std::fs::remove_file(&mcfg.exit_file);
        let mcfg2 = mcfg.clone();
        let spawned = blocking(move || {
            monitor::spawn(&mcfg2).map_err(|e| match e {
                monitor::MonitorError::Runtime(m) => EngineError::InvalidParameter(format!(
                    "failed to create task for container: {m}"
                )),
                other => EngineError::Internal(other.to_string()),
            })
        })
        .await;
        let spawned = match spawned {
            Ok(s) => s,
            Err(e) => {
                self.record_start_failure(&mut c, &e);
                self.unmount_quietly(&id).await;
                return Err(e);
            }
        };
        tracing::debug!("{id}: monitor up (runtime create done)");
        let fd = pidfd::open(spawned.monitor_pid);
        // Hand pending attaches their streams before the process runs.
        let pending: Vec<PendingAttach> = {
            let mut inner = self.lock();
            inner.live.insert(id.clone(), mcfg.socket_dir.clone());
            inner.pending.remove(&id).unwrap_or_default()
        };
        for p in pending {
            let sd = mcfg.socket_dir.clone();
            let flags = p.flags;
            match blocking(move || monitor::attach(&sd, flags).map_err(EngineError::internal)).await
            {
                Ok(s) => {
                    if s.set_nonblocking(true).is_ok() {
                        if let Ok(s) = tokio::net::UnixStream::from_std(s) {
                            let _ = p.tx.send(s);
                        }
                    }
                }
                Err(e) => tracing::warn!("attach to {id}: {e}"),
            }
        }
        c.monitor_pid = spawned.monitor_pid as i64;
        c.state.pid = spawned.container_pid as i64;
        c.state.status = Status::Running;
        c.state.running = true;
        c.state.restarting = false;
        c.state.dead = false;
        c.state.oom_killed = false;
        c.state.error.clear();
        c.state.exit_code = 0;
        c.state.started_at = now();
        c.state.finished_at = crate::types::ZERO_TIME.to_string();
        c.stopped_by_user = false;
        self.save(&c)?;
        self.watch_exit(id.clone(), spawned.monitor_pid, fd);
        self.container_event(&id, "start", &[]);
        let sd = mcfg.socket_dir.clone();
        if let Err(e) = blocking(move || monitor::start(&sd).map_err(EngineError::internal)).await {
            tracing::warn!("start of {id} failed: {e}");
            return Err(e);
        }
        self.health_start(&id, true);
        Ok(())
    }

    fn record_start_failure(&self, c: &mut Container, e: &EngineError) {
        let msg = e.to_string();
        c.state.exit_code = if msg.contains("executable file not found")
            || msg.contains("no such file or directory")
        {
            127
        } else if msg.contains("permission denied") {
            126
        } else {
            128
        };
        c.state.error = msg;
        if c.state.status == Status::Running {
            c.state.status = Status::Exited;
        }
        let _ = self.save(c);
    }

    async fn unmount_quietly(self: &Arc<Self>, id: &str) {
        let this = self.clone();
        let id2 = id.to_string();
        let _ = blocking(move || {
            if let Ok(c) = this.get(&id2) {
                let _ = volume::deactivate(&this.volumes, &c.mount_points, &id2);
            }
            this.images.unmount(&id2)?;
            crate::shared_ns::unmount_shm(&this.paths.container_dir(&id2));
            let mut c = this.get(&id2)?;
            c.mounted = false;
            this.save(&c)
        })
        .await;
    }

    /// Blocking: mount the rootfs (if needed) and write `bundle/config.json`.
    fn prepare_bundle(&self, c: &Container) -> Result<()> {
        let img = self.images.get(&c.image_id)?;
        let lowers = self.images.lowers(&img)?;
        let rootfs = self.images.mount(&c.id, &lowers)?;
        let mut u = user::resolve(&rootfs, &c.config.user)?;
        user::add_groups(&rootfs, &mut u, &crate::hostopts::group_add(&c.host_config))?;
        let devices = crate::devices::resolve(&c.host_config)?;
        let device_rules = crate::devices::cgroup_rules(&c.host_config)?;
        let shared = self.shared_namespaces(c)?;
        let mut env = c.config.env.clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            );
        }
        env.retain(|e| !e.starts_with("HOSTNAME="));
        env.insert(1.min(env.len()), format!("HOSTNAME={}", c.config.hostname));
        if c.config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!(
                "HOME={}",
                u.home
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "/".into())
            ));
        }
        let cwd = if c.config.working_dir.is_empty() {
            "/".to_string()
        } else {
            c.config.working_dir.clone()
        };
        let mut args = vec![c.path.clone()];
        args.extend(c.args.iter().cloned());
        let dir = self.paths.container_dir(&c.id);
        let user_mounts = volume::activate(&self.volumes, &c.mount_points, &c.id, Some(&rootfs))?;
        let inputs = spec::SpecInputs {
            rootfs: &rootfs,
            user: &u,
            args,
            env,
            cwd,
            hostname: c.config.hostname.clone(),
            hostname_file: &dir.join("hostname"),
            hosts_file: &dir.join("hosts"),
            resolv_file: &dir.join("resolv.conf"),
            swap_limit_supported: self.swap_ok,
            user_mounts: crate::mounts::oci(&user_mounts),
            devices,
            device_rules,
        };
        let security = match crate::security::resolve(c, &spec::capabilities(c), &self.cfg.security)
        {
            Ok(s) => s,
            Err(e) => {
                let _ = volume::deactivate(&self.volumes, &c.mount_points, &c.id);
                return Err(e);
            }
        };
        let netns = match self.net_setup(c) {
            Ok(n) => n,
            Err(e) => {
                let _ = volume::deactivate(&self.volumes, &c.mount_points, &c.id);
                return Err(e);
            }
        };
        let mut spec = spec::generate(c, &inputs);
        crate::shared_ns::apply(&mut spec, &shared);
        crate::init::apply(&mut spec, &c.host_config, &self.cfg);
        crate::security::apply(&mut spec, &security);
        crate::networking::apply_netns(&mut spec, &netns);
        let bundle = self.paths.bundle(&c.id);
        let written = (|| -> Result<()> {
            std::fs::create_dir_all(&bundle)?;
            let tmp = bundle.join("config.json.tmp");
            {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                // it holds the environment (`-e` secrets): 0600 whatever the umask
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(crate::modes::PRIVATE_FILE)
                    .open(&tmp)?;
                crate::modes::set(&tmp, crate::modes::PRIVATE_FILE)?;
                f.write_all(&serde_json::to_vec_pretty(&spec)?)?;
            }
            std::fs::rename(&tmp, bundle.join("config.json"))?;
            Ok(())
        })();
        if written.is_err() {
            let _ = volume::deactivate(&self.volumes, &c.mount_points, &c.id);
        }
        written
    }

    /// Spawn the task that waits for the monitor to exit and records the result.
    pub(crate) fn watch_exit(self: &Arc<Self>, id: String, monitor_pid: i32, fd: Option<OwnedFd>) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(fd) = fd {
                pidfd::wait(fd).await;
            }
            this.handle_exit(&id, monitor_pid).await;
        });
    }

    /// Record the exit of the run watched by monitor `monitor_pid`.
    pub(crate) async fn handle_exit(self: &Arc<Self>, id: &str, monitor_pid: i32) {
        tracing::debug!("{id}: monitor exited");
        let exit_file = self.paths.exit_file(id);
        let mut rec = None;
        for _ in 0..20 {
            match monitor::read_exit(&exit_file) {
                Ok(Some(r)) => {
                    rec = Some(r);
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
        let Ok(mut c) = self.get(id) else { return };
        if c.monitor_pid != monitor_pid as i64 {
            return;
        }
        self.health_stop(id);
        crate::health::mark_stopped(&mut c.state);
        match rec {
            Some(r) => {
                c.state.exit_code = r.exit_code as i64;
                c.state.finished_at = if r.finished_at.is_empty() {
                    now()
                } else {
                    r.finished_at
                };
                c.state.oom_killed = r.oom_killed;
            }
            None => {
                c.state.exit_code = 255;
                c.state.finished_at = now();
                c.state.error = "container monitor exited without an exit record".into();
            }
        }
        c.state.status = Status::Exited;
        c.state.running = false;
        c.state.paused = false;
        c.state.pid = 0;
        c.monitor_pid = 0;
        let this = self.clone();
        let id2 = id.to_string();
        let points = c.mount_points.clone();
        if let Err(e) = blocking(move || {
            this.net_stopped(&id2);
            if let Err(e) = volume::deactivate(&this.volumes, &points, &id2) {
                tracing::warn!("deactivating volumes of {id2}: {e}");
            }
            this.images.unmount(&id2)
        })
        .await
        {
            tracing::warn!("unmounting rootfs of {id}: {e}");
        } else {
            c.mounted = false;
        }
        let _ = std::fs::remove_dir_all(self.paths.socket_dir(id));
        if let Err(e) = self.save(&c) {
            tracing::error!("saving exit of {id}: {e}");
        }
        {
            let mut inner = self.lock();
            inner.live.remove(id);
            *inner.exit_seq.entry(id.to_string()).or_insert(0) += 1;
        }
        self.notify();
        self.container_event(id, "die", &[("exitCode", c.state.exit_code.to_string())]);
        tracing::debug!("{id}: exit recorded");
        if c.host_config.auto_remove {
            if let Err(e) = self.remove_stopped(id, true).await {
                tracing::warn!("auto-removing {id}: {e}");
            }
            tracing::debug!("{id}: auto-removed");
        } else {
            self.restart_after_exit(id);
        }
    }

    /// Send a signal (name or number) to a running container.
    pub async fn kill(self: &Arc<Self>, name_or_id: &str, sig: &str) -> Result<()> {
        let c = self.get(name_or_id)?;
        let signo = signal::parse(if sig.is_empty() { "KILL" } else { sig })
            .ok_or_else(|| EngineError::InvalidParameter(format!("Invalid signal: {sig}")))?;
        if !c.state.running || c.state.pid <= 0 {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if signo == libc::SIGKILL || signo == libc::SIGTERM {
            if let Ok(mut c2) = self.get(&c.id) {
                c2.stopped_by_user = true;
                self.lock().containers.insert(c2.id.clone(), c2);
            }
        }
        // SAFETY: plain kill(2) on the container's init pid, which the monitor keeps alive
        // (it is the init's reaper), so the pid cannot be reused while the record says running.
        let rc = unsafe { libc::kill(c.state.pid as i32, signo) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ESRCH) {
                return Err(EngineError::Internal(format!("kill: {err}")));
            }
        }
        if c.state.paused {
            // A frozen process only acts on the signal once thawed.
            let _ = self.set_paused(&c.id, false).await;
        }
        self.container_event(&c.id, "kill", &[("signal", signo.to_string())]);
        if signo == libc::SIGKILL {
            // Like dockerd: a SIGKILL returns once the container is really gone.
            self.wait_not_running(&c.id, Duration::from_secs(10)).await;
        }
        Ok(())
    }

    /// Stop: the stop signal, then SIGKILL after `timeout` seconds (`None` → the container's
    /// StopTimeout or 10; negative → wait forever). Returns `false` if it was not running.
    pub async fn stop(
        self: &Arc<Self>,
        name_or_id: &str,
        timeout: Option<i64>,
        sig: Option<String>,
    ) -> Result<bool> {
        let mut c = self.get(name_or_id)?;
        if self.restart_cancel(&c.id, true) {
            self.container_event(&c.id, "stop", &[]);
            return Ok(true);
        }
        if !c.state.running {
            return Ok(false);
        }
        c.stopped_by_user = true;
        self.save(&c)?;
        let sig = sig
            .filter(|s| !s.is_empty())
            .or_else(|| c.config.stop_signal.clone())
            .unwrap_or_else(|| "TERM".into());
        let t = timeout.or(c.config.stop_timeout).unwrap_or(10);
        if let Err(e) = self.kill(&c.id, &sig).await {
            if !matches!(e, EngineError::Conflict(_)) {
                return Err(e);
            }
        }
        let stopped = if t < 0 {
            self.wait_not_running(&c.id, Duration::from_secs(u64::MAX / 4))
                .await
        } else {
            self.wait_not_running(&c.id, Duration::from_secs(t as u64))
                .await
        };
        if !stopped {
            let _ = self.kill(&c.id, "KILL").await;
            if !self.wait_not_running(&c.id, Duration::from_secs(30)).await {
                return Err(EngineError::Internal(format!(
                    "container {} did not stop after SIGKILL",
                    c.id
                )));
            }
        }
        self.container_event(&c.id, "stop", &[]);
        Ok(true)
    }

    /// Restart: stop (ignoring "not running") then start.
    pub async fn restart(self: &Arc<Self>, name_or_id: &str, timeout: Option<i64>) -> Result<()> {
        let id = self.resolve(name_or_id)?;
        self.stop(&id, timeout, None).await?;
        self.start(&id).await?;
        self.container_event(&id, "restart", &[]);
        Ok(())
    }

    /// `docker pause` / `docker unpause` through the runtime's `pause` / `resume`.
    pub async fn set_paused(self: &Arc<Self>, name_or_id: &str, pause: bool) -> Result<()> {
        let mut c = self.get(name_or_id)?;
        if !c.state.running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if c.state.paused == pause {
            return Err(EngineError::Conflict(format!(
                "Container {} is {}",
                c.id,
                if pause {
                    "already paused"
                } else {
                    "not paused"
                }
            )));
        }
        let out = tokio::process::Command::new(&self.cfg.runtime)
            .arg("--root")
            .arg(self.paths.runtime_root())
            .arg(if pause { "pause" } else { "resume" })
            .arg(&c.id)
            .output()
            .await?;
        if !out.status.success() {
            return Err(EngineError::Internal(format!(
                "{} failed: {}",
                if pause { "pause" } else { "resume" },
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        c.state.paused = pause;
        c.state.status = if pause {
            Status::Paused
        } else {
            Status::Running
        };
        self.save(&c)?;
        self.notify();
        self.container_event(&c.id, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// Resize the container's TTY.
    pub async fn resize(self: &Arc<Self>, name_or_id: &str, h: u16, w: u16) -> Result<()> {
        let c = self.get(name_or_id)?;
        if !c.state.running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if !c.config.tty {
            return Ok(());
        }
        let sd = self.paths.socket_dir(&c.id);
        blocking(move || monitor::resize(&sd, h, w).map_err(EngineError::internal)).await
    }

    /// Attach to a container's stdio. Waits for the next start when it is not running.
    /// `None` when the container goes away before it starts.
    pub async fn attach(
        self: &Arc<Self>,
        name_or_id: &str,
        flags: u8,
    ) -> Result<Option<tokio::net::UnixStream>> {
        let (live, rx) = {
            let mut inner = self.lock();
            let id = crate::engine::resolve_in(&inner, name_or_id)?;
            match inner.live.get(&id).cloned() {
                Some(sd) => (Some(sd), None),
                None => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    inner
                        .pending
                        .entry(id)
                        .or_default()
                        .push(PendingAttach { flags, tx });
                    (None, Some(rx))
                }
            }
        };
        if let Some(sd) = live {
            let s = blocking(move || monitor::attach(&sd, flags).map_err(EngineError::internal))
                .await?;
            s.set_nonblocking(true)?;
            return Ok(Some(tokio::net::UnixStream::from_std(s)?));
        }
        let Some(rx) = rx else { return Ok(None) };
        Ok(rx.await.ok())
    }

    /// Reconcile records with reality after a daemon (re)start.
    pub(crate) async fn recover(self: &Arc<Self>) {
        let records: Vec<Container> = self.lock().containers.values().cloned().collect();
        for c in records {
            if c.state.running {
                let sd = self.paths.socket_dir(&c.id);
                let mpid = c.monitor_pid as i32;
                let alive = pidfd::alive(mpid)
                    && blocking(move || monitor::ping(&sd).map_err(EngineError::internal))
                        .await
                        .is_ok();
                if alive {
                    let fd = pidfd::open(mpid);
                    self.lock()
                        .live
                        .insert(c.id.clone(), self.paths.socket_dir(&c.id));
                    tracing::info!("reconnected to running container {}", c.id);
                    self.watch_exit(c.id.clone(), mpid, fd);
                } else {
                    tracing::info!("container {} ended while the daemon was down", c.id);
                    self.handle_exit(&c.id, mpid).await;
                }
            } else if c.host_config.auto_remove && c.state.status == Status::Exited {
                let _ = self.remove_stopped(&c.id, true).await;
            }
        }
    }

    /// Unmount every mounted rootfs of stopped containers is not needed; this returns the
    /// ids of running containers (for shutdown logging).
    pub fn running_ids(&self) -> Vec<String> {
        self.lock()
            .containers
            .values()
            .filter(|c| c.state.running)
            .map(|c| c.id.clone())
            .collect()
    }
}
