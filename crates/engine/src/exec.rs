//! Exec sessions: `runtime exec --process P.json ID`, run by the engine itself.
//!
//! Without a TTY the process gets pipes and its output is framed for the client (docker's
//! 8-byte headers). With a TTY the runtime runs in the foreground on a pty that the engine
//! opens, so the runtime forwards the size and the bytes to the container's own pty.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::{ExecConfig, ExecInspect};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The engine's record of one exec instance.
#[derive(Debug)]
pub struct ExecState {
    /// Exec id (64 hex).
    pub id: String,
    /// Owning container.
    pub container_id: String,
    /// The request.
    pub config: ExecConfig,
    /// Started once already.
    pub started: bool,
    /// Running now.
    pub running: bool,
    /// Exit code when finished.
    pub exit_code: Option<i64>,
    /// Pid file of the runtime (`--pid-file`).
    pub pid_file: std::path::PathBuf,
    /// pty master with a TTY, for resize.
    pub master: Option<Arc<OwnedFd>>,
    /// Last size asked for (rows, cols): applied to the master as soon as it exists.
    pub size: Option<(u16, u16)>,
}

/// What `exec_begin` hands back: everything needed to run the exec.
pub struct ExecPlan {
    /// Exec id.
    pub id: String,
    /// Whether it uses a TTY.
    pub tty: bool,
    /// Attach stdin.
    pub stdin: bool,
    cmd: tokio::process::Command,
    console_size: Option<(u16, u16)>,
    /// Console socket the runtime sends the pty master to (berth-runtime only).
    console: Option<std::os::unix::net::UnixListener>,
}

impl ExecPlan {
    /// The runtime command of the plan, for callers that wire its stdio themselves
    /// (healthchecks).
    pub(crate) fn into_command(self) -> tokio::process::Command {
        self.cmd
    }
}

impl Engine {
    /// The container of an exec instance.
    pub(crate) fn exec_container(&self, id: &str) -> Option<String> {
        self.lock().execs.get(id).map(|e| e.container_id.clone())
    }

    /// The exec's command joined by spaces (for `exec_start: …` events).
    pub(crate) fn exec_command_text(&self, id: &str) -> Option<String> {
        self.lock()
            .execs
            .get(id)
            .and_then(|e| e.config.cmd.as_ref().map(|c| c.join(" ")))
    }

    /// Drop an exec instance entirely (healthcheck execs do not stay in `ExecIDs`).
    pub(crate) fn exec_forget(&self, container_id: &str, id: &str) {
        {
            let mut inner = self.lock();
            inner.execs.remove(id);
            if let Some(c) = inner.containers.get_mut(container_id) {
                c.exec_ids.retain(|e| e != id);
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.exec_dir(id));
    }
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

fn set_winsize(fd: i32, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

impl Engine {
    /// `POST /containers/{id}/exec`: register an exec instance; 409 when not running.
    pub fn exec_create(&self, name_or_id: &str, cfg: ExecConfig) -> Result<String> {
        let mut inner = self.lock();
        let cid = crate::engine::resolve_in(&inner, name_or_id)?;
        let running = inner
            .containers
            .get(&cid)
            .map(|c| c.state.running)
            .unwrap_or(false);
        if !running {
            return Err(EngineError::Conflict(format!(
                "Container {cid} is not running"
            )));
        }
        if cfg.cmd.as_ref().map(|c| c.is_empty()).unwrap_or(true) {
            return Err(EngineError::InvalidParameter(
                "No exec command specified".into(),
            ));
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        let pid_file = self.paths.exec_dir(&id).join("pid");
        inner.execs.insert(
            id.clone(),
            ExecState {
                id: id.clone(),
                container_id: cid.clone(),
                config: cfg,
                started: false,
                running: false,
                exit_code: None,
                pid_file,
                master: None,
                size: None,
            },
        );
        if let Some(c) = inner.containers.get_mut(&cid) {
            c.exec_ids.push(id.clone());
        }
        Ok(id)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let inner = self.lock();
        let e = inner
            .execs
            .get(id)
            .ok_or_else(|| EngineError::NoSuchExec(id.to_string()))?;
        let pid = if e.running {
            std::fs::read_to_string(&e.pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        } else {
            0
        };
        let cmd = e.config.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            id: e.id.clone(),
            running: e.running,
            exit_code: e.exit_code,
            process_config: json!({
                "tty": e.config.tty,
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.get(1..).map(|a| a.to_vec()).unwrap_or_default(),
                "privileged": e.config.privileged,
                "user": e.config.user,
            }),
            open_stdin: e.config.attach_stdin,
            open_stderr: e.config.attach_stderr,
            open_stdout: e.config.attach_stdout,
            can_remove: !e.running,
            container_id: e.container_id.clone(),
            detach_keys: e.config.detach_keys.clone(),
            pid,
        })
    }

    /// `POST /exec/{id}/resize`. A size that arrives before the pty exists is remembered and
    /// applied once it does.
    pub fn exec_resize(&self, id: &str, h: u16, w: u16) -> Result<()> {
        let mut inner = self.lock();
        let e = inner
            .execs
            .get_mut(id)
            .ok_or_else(|| EngineError::NoSuchExec(id.to_string()))?;
        if h == 0 || w == 0 {
            return Ok(());
        }
        e.size = Some((h, w));
        if let Some(m) = &e.master {
            set_winsize(m.as_raw_fd(), h, w);
        }
        Ok(())
    }

    /// Prepare an exec start: checks, writes the process.json, builds the command. The
    /// terminal is the exec create's `Tty`, as moby (the start body's `Tty` is not used).
    pub fn exec_begin(&self, id: &str) -> Result<ExecPlan> {
        let (cfg, cid) = {
            let mut inner = self.lock();
            let e = inner
                .execs
                .get_mut(id)
                .ok_or_else(|| EngineError::NoSuchExec(id.to_string()))?;
            if e.started {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            e.started = true;
            (e.config.clone(), e.container_id.clone())
        };
        let c = self.get(&cid)?;
        if !c.state.running {
            return Err(EngineError::Conflict(format!(
                "Container {cid} is not running"
            )));
        }
        let bundle_cfg: Value =
            serde_json::from_slice(&std::fs::read(self.paths.bundle(&cid).join("config.json"))?)?;
        let proc_ = &bundle_cfg["process"];
        let rootfs = bundle_cfg["root"]["path"]
            .as_str()
            .unwrap_or("/")
            .to_string();
        let mut env: Vec<String> = serde_json::from_value(proc_["env"].clone()).unwrap_or_default();
        for e in cfg.env.clone().unwrap_or_default() {
            let k = env_key(&e).to_string();
            env.retain(|x| env_key(x) != k);
            env.push(e);
        }
        let user = if cfg.user.is_empty() {
            proc_["user"].clone()
        } else {
            let u = crate::user::resolve(std::path::Path::new(&rootfs), &cfg.user)?;
            let mut v = json!({"uid": u.uid, "gid": u.gid});
            if !u.additional_gids.is_empty() {
                v["additionalGids"] = json!(u.additional_gids);
            }
            v
        };
        let caps = if cfg.privileged {
            let all: Vec<&str> = crate::spec::available_caps().to_vec();
            json!({"bounding": all, "effective": all, "permitted": all})
        } else {
            proc_["capabilities"].clone()
        };
        let cwd = if cfg.working_dir.is_empty() {
            proc_["cwd"].as_str().unwrap_or("/").to_string()
        } else {
            cfg.working_dir.clone()
        };
        let mut process = json!({
            "terminal": cfg.tty,
            "user": user,
            "args": cfg.cmd.clone().unwrap_or_default(),
            "env": env,
            "cwd": cwd,
            "capabilities": caps,
            // the container's setting (seccomp comes from the container's config in the runtime)
            "noNewPrivileges": proc_["noNewPrivileges"].as_bool().unwrap_or(false),
        });
        // an exec runs under the container's ulimits and OOM score, as Docker's
        for key in ["rlimits", "oomScoreAdj"] {
            if !proc_[key].is_null() {
                process[key] = proc_[key].clone();
            }
        }
        let dir = self.paths.exec_dir(id);
        std::fs::create_dir_all(&dir)?;
        let pfile = dir.join("process.json");
        std::fs::write(&pfile, serde_json::to_vec(&process)?)?;
        let mut cmd = tokio::process::Command::new(&self.cfg.runtime);
        cmd.arg("--root")
            .arg(self.paths.runtime_root())
            .arg("exec")
            .arg("--process")
            .arg(&pfile)
            .arg("--pid-file")
            .arg(dir.join("pid"));
        // runc proxies a foreground TTY exec through its own stdio (and refuses
        // --console-socket without -d); berth-runtime sends the master over a console socket
        // in the foreground too (see docs/INTERFACES.md). Use the socket with berth-runtime.
        let mut console = None;
        let berth_runtime = self
            .cfg
            .runtime
            .file_name()
            .map(|n| n.to_string_lossy().starts_with("berth"))
            .unwrap_or(false);
        if cfg.tty && berth_runtime {
            let sock = dir.join("console.sock");
            let _ = std::fs::remove_file(&sock);
            let l = std::os::unix::net::UnixListener::bind(&sock)?;
            l.set_nonblocking(true)?;
            cmd.arg("--console-socket").arg(&sock);
            console = Some(l);
        }
        cmd.arg(&cid).kill_on_drop(false);
        let console_size = cfg
            .console_size
            .as_ref()
            .filter(|s| s.len() == 2 && s[0] > 0 && s[1] > 0)
            .map(|s| (s[0], s[1]));
        Ok(ExecPlan {
            id: id.to_string(),
            tty: cfg.tty,
            stdin: cfg.attach_stdin,
            cmd,
            console_size,
            console,
        })
    }

    fn exec_finished(&self, id: &str, code: i64) {
        {
            let mut inner = self.lock();
            if let Some(e) = inner.execs.get_mut(id) {
                e.running = false;
                e.exit_code = Some(code);
                e.master = None;
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.exec_dir(id));
        self.notify();
    }

    fn exec_running(&self, id: &str, master: Option<Arc<OwnedFd>>) {
        let mut inner = self.lock();
        if let Some(e) = inner.execs.get_mut(id) {
            e.running = true;
            if let (Some(m), Some((h, w))) = (&master, e.size) {
                set_winsize(m.as_raw_fd(), h, w);
            }
            e.master = master;
        }
    }

    /// The size to open an exec's pty with: the last resize, else the requested console size.
    fn exec_size(&self, id: &str, console_size: Option<(u16, u16)>) -> (u16, u16) {
        let inner = self.lock();
        inner
            .execs
            .get(id)
            .and_then(|e| e.size)
            .or(console_size)
            .unwrap_or((24, 80))
    }

    /// The exec's exit code as docker reports it. When the runtime failed before the process
    /// started (no pid file), dockerd maps its message: 127 when the executable is not found,
    /// 126 when it cannot be invoked (permission denied); otherwise the runtime's own code.
    fn exec_code(&self, id: &str, code: i64, runtime_msg: &[u8]) -> i64 {
        if code == 0 {
            return code;
        }
        let (pid_file, argv0) = {
            let inner = self.lock();
            let Some(e) = inner.execs.get(id) else {
                return code;
            };
            let argv0 = e
                .config
                .cmd
                .as_ref()
                .and_then(|c| c.first().cloned())
                .unwrap_or_default();
            (e.pid_file.clone(), argv0)
        };
        if pid_file.exists() {
            return code;
        }
        start_failure_code(&String::from_utf8_lossy(runtime_msg), &argv0).unwrap_or(code)
    }

    /// Run a planned exec. With `io` the client's stream is wired to the process (framed
    /// without a TTY); without it (detach) the process runs with no stdio.
    /// Returns once the process has ended (or, detached, once it has been spawned).
    pub async fn exec_run<S>(self: &Arc<Self>, plan: ExecPlan, io: Option<S>) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let ExecPlan {
            id,
            tty,
            stdin,
            mut cmd,
            console_size,
            console,
        } = plan;
        let Some(io) = io else {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    self.exec_finished(&id, 126);
                    return Err(e.into());
                }
            };
            self.exec_running(&id, None);
            let this = self.clone();
            tokio::spawn(async move {
                let err = match child.stderr.take() {
                    Some(e) => read_capped(e).await,
                    None => Vec::new(),
                };
                let code = exit_code(child.wait().await.ok());
                let code = this.exec_code(&id, code, &err);
                this.exec_finished(&id, code);
            });
            return Ok(());
        };
        if tty {
            self.exec_tty(id, cmd, console_size, console, stdin, io)
                .await
        } else {
            self.exec_pipes(id, cmd, stdin, io).await
        }
    }

    async fn exec_pipes<S>(
        self: &Arc<Self>,
        id: String,
        mut cmd: tokio::process::Command,
        stdin: bool,
        io: S,
    ) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                self.exec_finished(&id, 126);
                return Err(e.into());
            }
        };
        self.exec_running(&id, None);
        let (mut rd, mut wr) = tokio::io::split(io);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
        let mut readers = Vec::new();
        // The start of stderr: the runtime's message when it fails before the process starts.
        let err_head = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        for (stream, out) in [
            (
                1u8,
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
            ),
            (
                2u8,
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
            ),
        ] {
            let Some(mut out) = out else { continue };
            let tx = tx.clone();
            let head = (stream == 2).then(|| err_head.clone());
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match out.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if let Some(h) = &head {
                                keep_head(h, &buf[..n]);
                            }
                            let mut frame = crate::logs::frame_header(stream, n).to_vec();
                            frame.extend_from_slice(&buf[..n]);
                            if tx.send(frame).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }));
        }
        drop(tx);
        let stdin_task = child.stdin.take().map(|mut cin| {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut rd, &mut cin).await;
                let _ = cin.shutdown().await;
            })
        });
        while let Some(chunk) = rx.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
            let _ = wr.flush().await;
        }
        let code = exit_code(child.wait().await.ok());
        if let Some(t) = stdin_task {
            t.abort();
        }
        let head = err_head.lock().map(|h| h.clone()).unwrap_or_default();
        let code = self.exec_code(&id, code, &head);
        self.exec_finished(&id, code);
        let _ = wr.shutdown().await;
        Ok(())
    }

    async fn exec_tty<S>(
        self: &Arc<Self>,
        id: String,
        mut cmd: tokio::process::Command,
        console_size: Option<(u16, u16)>,
        console: Option<std::os::unix::net::UnixListener>,
        stdin: bool,
        io: S,
    ) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (rows, cols) = self.exec_size(&id, console_size);
        let (master, mut child, runtime_err) = if let Some(listener) = console {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    self.exec_finished(&id, 126);
                    return Err(e.into());
                }
            };
            drop(cmd);
            let listener = tokio::net::UnixListener::from_std(listener)?;
            let got = tokio::select! {
                a = listener.accept() => a.ok().map(|(s, _)| s),
                _ = child.wait() => None,
            };
            let master = match got {
                Some(s) => {
                    let std_s = s.into_std()?;
                    std_s.set_nonblocking(false)?;
                    tokio::task::spawn_blocking(move || recv_fd(&std_s))
                        .await
                        .map_err(EngineError::internal)??
                }
                None => {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err).await;
                    }
                    let code = exit_code(child.wait().await.ok());
                    let code = self.exec_code(&id, code, err.as_bytes());
                    self.exec_finished(&id, code);
                    let (_, mut wr) = tokio::io::split(io);
                    let _ = wr.write_all(err.as_bytes()).await;
                    let _ = wr.shutdown().await;
                    return Ok(());
                }
            };
            set_winsize(master.as_raw_fd(), rows, cols);
            // The runtime may still fail after sending the master (before the process
            // starts): its message arrives on its stderr, not on the pty.
            let runtime_err = child.stderr.take().map(|e| tokio::spawn(read_capped(e)));
            (master, child, runtime_err)
        } else {
            let (master, slave) = open_pty()?;
            set_winsize(master.as_raw_fd(), rows, cols);
            cmd.stdin(Stdio::from(slave.try_clone()?))
                .stdout(Stdio::from(slave.try_clone()?))
                .stderr(Stdio::from(slave));
            // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::setsid();
                    libc::ioctl(0, libc::TIOCSCTTY, 0);
                    Ok(())
                });
            }
            let child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    self.exec_finished(&id, 126);
                    return Err(e.into());
                }
            };
            // Drop our copies of the slave (the Command held them); the master sees EIO once
            // the runtime and the process are gone.
            drop(cmd);
            (master, child, None)
        };
        let master = Arc::new(master);
        self.exec_running(&id, Some(master.clone()));
        let (mut rd, mut wr) = tokio::io::split(io);
        let (otx, mut orx) = mpsc::channel::<Vec<u8>>(16);
        let m_read = std::fs::File::from(master.try_clone()?);
        std::thread::spawn(move || {
            use std::io::Read;
            let mut m = m_read;
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match m.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if otx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stdin_task = if stdin {
            let m_write = std::fs::File::from(master.try_clone()?);
            let (itx, mut irx) = mpsc::channel::<Vec<u8>>(16);
            std::thread::spawn(move || {
                use std::io::Write;
                let mut m = m_write;
                while let Some(b) = irx.blocking_recv() {
                    if m.write_all(&b).is_err() {
                        break;
                    }
                }
            });
            Some(tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if itx.send(buf[..n].to_vec()).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }))
        } else {
            None
        };
        let mut wait = tokio::spawn(async move { child.wait().await });
        let mut status = None;
        // runc (no console socket) reports a start failure on the pty: keep its start.
        let head = std::sync::Mutex::new(Vec::new());
        loop {
            tokio::select! {
                chunk = orx.recv() => match chunk {
                    Some(c) => {
                        keep_head(&head, &c);
                        if wr.write_all(&c).await.is_err() { break; }
                        let _ = wr.flush().await;
                    }
                    None => break,
                },
                s = &mut wait, if status.is_none() => { status = Some(s.ok().and_then(|r| r.ok())); }
            }
            if status.is_some() {
                // Drain what is left for a short while, then stop.
                while let Ok(Some(c)) =
                    tokio::time::timeout(std::time::Duration::from_millis(50), orx.recv()).await
                {
                    keep_head(&head, &c);
                    if wr.write_all(&c).await.is_err() {
                        break;
                    }
                }
                break;
            }
        }
        let st = match status {
            Some(s) => s,
            None => wait.await.ok().and_then(|r| r.ok()),
        };
        if let Some(t) = stdin_task {
            t.abort();
        }
        let mut head = head.into_inner().unwrap_or_default();
        if let Some(h) = runtime_err {
            let wait = std::time::Duration::from_secs(1);
            if let Ok(Ok(err)) = tokio::time::timeout(wait, h).await {
                let _ = wr.write_all(&err).await;
                head.extend_from_slice(&err);
            }
        }
        let code = self.exec_code(&id, exit_code(st), &head);
        self.exec_finished(&id, code);
        let _ = wr.flush().await;
        let _ = wr.shutdown().await;
        Ok(())
    }
}

fn exit_code(st: Option<std::process::ExitStatus>) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match st {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => c as i64,
            (None, Some(sig)) => 128 + sig as i64,
            _ => 255,
        },
        None => 255,
    }
}

/// Up to this much of a runtime's output is kept to read its start-failure message.
const HEAD_MAX: usize = 4096;

/// Append to `head` while it holds less than [`HEAD_MAX`] bytes.
fn keep_head(head: &std::sync::Mutex<Vec<u8>>, b: &[u8]) {
    if let Ok(mut h) = head.lock() {
        let room = HEAD_MAX.saturating_sub(h.len());
        h.extend_from_slice(&b[..b.len().min(room)]);
    }
}

/// Read `r` to its end, keeping only the first [`HEAD_MAX`] bytes.
async fn read_capped(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = HEAD_MAX.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
    out
}

/// dockerd's mapping of a start failure message (`translateContainerdStartErr`): 127 when
/// the command is not found, 126 when it cannot be invoked; `None` for other failures.
fn start_failure_code(msg: &str, argv0: &str) -> Option<i64> {
    let msg = msg.to_lowercase();
    let not_found =
        msg.contains("executable file not found") || msg.contains("no such file or directory");
    if not_found && msg.contains(&argv0.to_lowercase()) {
        return Some(127);
    }
    if msg.contains("permission denied") {
        return Some(126);
    }
    None
}

fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    let mut master = -1;
    let mut slave = -1;
    // SAFETY: openpty writes two fds into the provided ints.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(EngineError::Internal(format!(
            "openpty: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: both fds are fresh and owned by us.
    unsafe {
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave, libc::F_SETFD, libc::FD_CLOEXEC);
        Ok((OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)))
    }
}

/// Receive one fd sent with SCM_RIGHTS (the console master).
fn recv_fd(s: &std::os::unix::net::UnixStream) -> Result<OwnedFd> {
    let mut data = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // Room for one fd's control message (generously sized).
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr points at live local buffers for the duration of the call.
    let fd = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(EngineError::Internal(
                "console socket: no file descriptor received".into(),
            ));
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int)
    };
    // SAFETY: the kernel just installed this fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::start_failure_code;

    #[test]
    fn start_failures_map_like_dockerd() {
        let nf = r#"exec: "nope": executable file not found in $PATH"#;
        assert_eq!(start_failure_code(nf, "nope"), Some(127));
        let enoent = r#"exec: "/x/y": stat /x/y: no such file or directory"#;
        assert_eq!(start_failure_code(enoent, "/x/y"), Some(127));
        let eacces = r#"exec: "/etc/passwd": permission denied"#;
        assert_eq!(start_failure_code(eacces, "/etc/passwd"), Some(126));
        let cwd = "chdir to cwd (\"/nope\") set in config.json failed: no such file or directory";
        assert_eq!(start_failure_code(cwd, "sh"), None);
    }
}
