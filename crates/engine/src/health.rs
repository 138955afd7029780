//! Healthchecks with Docker's semantics: the image's HEALTHCHECK merged with the request's
//! `Config.Healthcheck`, a per-container scheduler that runs the check as an exec in the
//! container, `State.Health` (status, failing streak, the last 5 results) and the
//! `health_status: …` events.

use crate::engine::{now, Engine};
use crate::error::{EngineError, Result};
use crate::types::{Config, ExecConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Docker keeps this many results in `State.Health.Log`.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Docker keeps this many bytes of a check's output.
pub const MAX_OUTPUT_LEN: usize = 4096;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Docker's minimum for every healthcheck duration.
const MIN_DURATION_NS: i64 = 1_000_000;

/// `State.Health` as Docker reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failures counted so far.
    pub failing_streak: i64,
    /// The last [`MAX_LOG_ENTRIES`] results, oldest first.
    pub log: Vec<HealthLog>,
}

/// One check result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLog {
    /// Start time (RFC 3339 nano).
    pub start: String,
    /// End time (RFC 3339 nano).
    pub end: String,
    /// Exit code (-1 when the check timed out or could not run).
    pub exit_code: i64,
    /// Output (stdout and stderr), at most [`MAX_OUTPUT_LEN`] bytes.
    pub output: String,
}

/// A container's effective healthcheck (`Config.Healthcheck` after the merge).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]`, `["CMD-SHELL", cmd]`, or empty (inherit).
    pub test: Vec<String>,
    /// Nanoseconds between checks (0 = default 30 s).
    pub interval: i64,
    /// Nanoseconds a check may take (0 = default 30 s).
    pub timeout: i64,
    /// Nanoseconds after start during which failures do not count.
    pub start_period: i64,
    /// Nanoseconds between checks during the start period (0 = default 5 s).
    pub start_interval: i64,
    /// Failures in a row that make the container unhealthy (0 = default 3).
    pub retries: i64,
}

impl HealthConfig {
    /// The healthcheck of a container config, if any (and not `NONE`).
    pub fn of(cfg: &Config) -> Option<HealthConfig> {
        let v = cfg.extra.get("Healthcheck")?;
        let h: HealthConfig = serde_json::from_value(v.clone()).ok()?;
        match h.test.first().map(String::as_str) {
            Some("CMD") | Some("CMD-SHELL") if h.test.len() > 1 => Some(h),
            _ => None,
        }
    }

    fn dur(ns: i64, default: Duration) -> Duration {
        if ns > 0 {
            Duration::from_nanos(ns as u64)
        } else {
            default
        }
    }

    /// Interval between checks.
    pub fn interval(&self) -> Duration {
        Self::dur(self.interval, DEFAULT_INTERVAL)
    }
    /// Time a check may take.
    pub fn timeout(&self) -> Duration {
        Self::dur(self.timeout, DEFAULT_TIMEOUT)
    }
    /// Start period.
    pub fn start_period(&self) -> Duration {
        Self::dur(self.start_period, Duration::ZERO)
    }
    /// Interval during the start period.
    pub fn start_interval(&self) -> Duration {
        Self::dur(self.start_interval, DEFAULT_START_INTERVAL)
    }
    /// Retries before unhealthy.
    pub fn retries(&self) -> i64 {
        if self.retries > 0 {
            self.retries
        } else {
            DEFAULT_RETRIES
        }
    }

    /// The command to exec: CMD args as they are, CMD-SHELL through the container's shell.
    pub fn command(&self, cfg: &Config) -> Vec<String> {
        match self.test.first().map(String::as_str) {
            Some("CMD-SHELL") => {
                let mut shell: Vec<String> = cfg
                    .extra
                    .get("Shell")
                    .and_then(|s| serde_json::from_value(s.clone()).ok())
                    .filter(|s: &Vec<String>| !s.is_empty())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.push(self.test[1..].join(" "));
                shell
            }
            _ => self.test[1..].to_vec(),
        }
    }
}

/// Merge the image's healthcheck into the request's (moby's `merge`): no request check takes
/// the image's; an empty Test, and zero durations/retries, are taken from the image.
pub fn merge(cfg: &mut Config, image: Option<&Value>) {
    let Some(img) = image.and_then(|v| serde_json::from_value::<HealthConfig>(v.clone()).ok())
    else {
        return;
    };
    let Some(req) = cfg.extra.get("Healthcheck").filter(|v| !v.is_null()) else {
        if let Ok(v) = serde_json::to_value(&img) {
            cfg.extra.insert("Healthcheck".into(), v);
        }
        return;
    };
    let Ok(mut h) = serde_json::from_value::<HealthConfig>(req.clone()) else {
        return;
    };
    if h.test.is_empty() {
        h.test = img.test;
    }
    if h.interval == 0 {
        h.interval = img.interval;
    }
    if h.timeout == 0 {
        h.timeout = img.timeout;
    }
    if h.start_period == 0 {
        h.start_period = img.start_period;
    }
    if h.start_interval == 0 {
        h.start_interval = img.start_interval;
    }
    if h.retries == 0 {
        h.retries = img.retries;
    }
    if let Ok(v) = serde_json::to_value(&h) {
        cfg.extra.insert("Healthcheck".into(), v);
    }
}

/// Docker's create-time checks of `Config.Healthcheck` (400 with dockerd's messages).
pub fn validate(cfg: &Config) -> Result<()> {
    let Some(v) = cfg.extra.get("Healthcheck").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let h: HealthConfig = serde_json::from_value(v.clone())
        .map_err(|e| EngineError::InvalidParameter(format!("invalid Healthcheck: {e}")))?;
    for (name, ns) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if ns != 0 && ns < MIN_DURATION_NS {
            return Err(EngineError::InvalidParameter(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if h.retries < 0 {
        return Err(EngineError::InvalidParameter(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    match h.test.first().map(String::as_str) {
        None | Some("NONE") | Some("CMD") | Some("CMD-SHELL") => Ok(()),
        Some(other) => Err(EngineError::InvalidParameter(format!(
            "unknown Healthcheck type {other:?} (want NONE, CMD or CMD-SHELL)"
        ))),
    }
}

/// Like moby's `CloseMonitorChannel`: a stopped container's health reads `unhealthy`.
pub fn mark_stopped(state: &mut crate::types::State) {
    if let Some(h) = state.health.as_mut() {
        h.status = "unhealthy".into();
    }
}

/// Go's `time.Duration` text (`30s`, `500ms`, `1m30s`, `1.5s`), as in Docker's messages.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns as f64 / 1e6));
    }
    let total = d.as_secs_f64();
    let h = (total / 3600.0).floor();
    let m = ((total - h * 3600.0) / 60.0).floor();
    let s = total - h * 3600.0 - m * 60.0;
    let secs = format!("{}s", trim_frac(s));
    if h > 0.0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0.0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

fn trim_frac(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The schedulers of running containers (one task per container run).
#[derive(Default)]
pub struct Monitors {
    tasks: Mutex<HashMap<String, tokio::task::AbortHandle>>,
}

impl Monitors {
    fn replace(&self, id: &str, h: Option<tokio::task::AbortHandle>) {
        let mut t = match self.tasks.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let old = match h {
            Some(h) => t.insert(id.to_string(), h),
            None => t.remove(id),
        };
        if let Some(o) = old {
            o.abort();
        }
    }
}

/// Result of one probe run.
struct Probe {
    exit_code: i64,
    output: String,
}

impl Engine {
    /// Start (or restart) the healthcheck scheduler of a running container. `fresh` resets
    /// `State.Health` to `starting` (a new run); live restore keeps the stored health.
    pub(crate) fn health_start(self: &Arc<Self>, id: &str, fresh: bool) {
        let Ok(mut c) = self.get(id) else { return };
        let Some(hc) = HealthConfig::of(&c.config) else {
            self.health.replace(id, None);
            return;
        };
        if fresh || c.state.health.is_none() {
            c.state.health = Some(Health {
                status: "starting".into(),
                failing_streak: 0,
                log: Vec::new(),
            });
            let _ = self.save(&c);
        }
        let this = self.clone();
        let id2 = id.to_string();
        let run = c.monitor_pid;
        let started = started_instant(&c.state.started_at);
        let task = tokio::spawn(async move { this.health_loop(&id2, run, hc, started).await });
        self.health.replace(id, Some(task.abort_handle()));
    }

    /// Stop the scheduler of a container (its run ended or it is being removed).
    pub(crate) fn health_stop(&self, id: &str) {
        self.health.replace(id, None);
    }

    /// Live restore: restart the schedulers of running containers with a healthcheck.
    pub(crate) fn health_restore(self: &Arc<Self>) {
        for c in self.list() {
            if c.state.running && c.monitor_pid > 0 && HealthConfig::of(&c.config).is_some() {
                self.health_start(&c.id, false);
            }
        }
    }

    async fn health_loop(self: Arc<Self>, id: &str, run: i64, hc: HealthConfig, started: Instant) {
        loop {
            let status = match self.get(id) {
                Ok(c) if c.state.running && c.monitor_pid == run => c
                    .state
                    .health
                    .as_ref()
                    .map(|h| h.status.clone())
                    .unwrap_or_default(),
                _ => return,
            };
            let wait = if started.elapsed() < hc.start_period() && status == "starting" {
                hc.start_interval()
            } else {
                hc.interval()
            };
            tokio::time::sleep(wait).await;
            match self.get(id) {
                Ok(c) if c.state.running && c.monitor_pid == run => {
                    if c.state.paused {
                        continue;
                    }
                }
                _ => return,
            }
            let start = now();
            let began = Instant::now();
            let probe = self.probe(id, &hc).await;
            let end = now();
            let Some(probe) = probe else { return };
            self.record(id, run, &hc, started, began, start, end, probe);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        id: &str,
        run: i64,
        hc: &HealthConfig,
        started: Instant,
        began: Instant,
        start: String,
        end: String,
        probe: Probe,
    ) {
        let Ok(mut c) = self.get(id) else { return };
        if !c.state.running || c.monitor_pid != run {
            return;
        }
        let h = c.state.health.get_or_insert_with(Default::default);
        let old = h.status.clone();
        h.log.push(HealthLog {
            start,
            end,
            exit_code: probe.exit_code,
            output: probe.output,
        });
        if h.log.len() > MAX_LOG_ENTRIES {
            let drop = h.log.len() - MAX_LOG_ENTRIES;
            h.log.drain(..drop);
        }
        if probe.exit_code == 0 {
            h.failing_streak = 0;
            h.status = "healthy".into();
        } else {
            let in_start_period = h.status == "starting"
                && began.saturating_duration_since(started) < hc.start_period();
            if !in_start_period {
                h.failing_streak += 1;
                if h.failing_streak >= hc.retries() {
                    h.status = "unhealthy".into();
                }
            }
        }
        let new = h.status.clone();
        if let Err(e) = self.save(&c) {
            tracing::warn!("saving health of {id}: {e}");
        }
        if new != old {
            self.container_event(id, &format!("health_status: {new}"), &[]);
        }
    }

    /// Run the check once as an exec. `None` when the container is gone.
    async fn probe(self: &Arc<Self>, id: &str, hc: &HealthConfig) -> Option<Probe> {
        let c = self.get(id).ok()?;
        let cmd = hc.command(&c.config);
        let text = cmd.join(" ");
        let exec_cfg = ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd: Some(cmd),
            ..Default::default()
        };
        let exec_id = match self.exec_create(id, exec_cfg) {
            Ok(e) => e,
            Err(e) => {
                return Some(Probe {
                    exit_code: -1,
                    output: e.to_string(),
                })
            }
        };
        let attrs = [("execID", exec_id.clone())];
        self.container_event(id, &format!("exec_create: {text}"), &attrs);
        let res = self.probe_run(&exec_id, hc.timeout()).await;
        let code = match &res {
            Ok(p) => p.exit_code,
            Err(_) => -1,
        };
        self.container_event(
            id,
            "exec_die",
            &[("execID", exec_id.clone()), ("exitCode", code.to_string())],
        );
        self.exec_forget(id, &exec_id);
        Some(res.unwrap_or_else(|e| Probe {
            exit_code: -1,
            output: e.to_string(),
        }))
    }

    async fn probe_run(self: &Arc<Self>, exec_id: &str, timeout: Duration) -> Result<Probe> {
        let plan = self.exec_begin(exec_id)?;
        let cid = self.exec_container(exec_id).unwrap_or_default();
        let pid_file = self.paths.exec_dir(exec_id).join("pid");
        let mut cmd = plan.into_command();
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn()?;
        self.container_event(
            &cid,
            &format!(
                "exec_start: {}",
                self.exec_command_text(exec_id).unwrap_or_default()
            ),
            &[("execID", exec_id.to_string())],
        );
        let out = Arc::new(Mutex::new(LimitedBuffer::default()));
        let mut readers = Vec::new();
        if let Some(mut o) = child.stdout.take() {
            let out = out.clone();
            readers.push(tokio::spawn(async move {
                let mut b = [0u8; 4096];
                while let Ok(n) = o.read(&mut b).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut g) = out.lock() {
                        g.push(&b[..n]);
                    }
                }
            }));
        }
        if let Some(mut o) = child.stderr.take() {
            let out = out.clone();
            readers.push(tokio::spawn(async move {
                let mut b = [0u8; 4096];
                while let Ok(n) = o.read(&mut b).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut g) = out.lock() {
                        g.push(&b[..n]);
                    }
                }
            }));
        }
        let status = tokio::time::timeout(timeout, child.wait()).await;
        let st = match status {
            Ok(s) => s.ok(),
            Err(_) => {
                // Kill the check in the container (and what it spawned), then the runtime.
                if let Some(pid) = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    kill_tree(pid);
                }
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                for r in readers {
                    r.abort();
                }
                return Ok(Probe {
                    exit_code: -1,
                    output: format!("Health check exceeded timeout ({})", go_duration(timeout)),
                });
            }
        };
        for r in readers {
            let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
        }
        use std::os::unix::process::ExitStatusExt;
        let code = match st {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => c as i64,
                (None, Some(sig)) => 128 + sig as i64,
                _ => -1,
            },
            None => -1,
        };
        let output = out.lock().map(|b| b.text()).unwrap_or_default();
        Ok(Probe {
            exit_code: code,
            output,
        })
    }
}

/// Docker's `limitedBuffer`: the first [`MAX_OUTPUT_LEN`] bytes, `...` appended when cut.
#[derive(Default)]
struct LimitedBuffer {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedBuffer {
    fn push(&mut self, b: &[u8]) {
        let room = MAX_OUTPUT_LEN.saturating_sub(self.buf.len());
        if b.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&b[..b.len().min(room)]);
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// SIGKILL `pid` and all its descendants (stopped first so none escapes by forking).
fn kill_tree(pid: i32) {
    let mut all = vec![pid];
    // Stop, collect children, repeat until no new descendants appear.
    let mut i = 0;
    while i < all.len() {
        // SAFETY: plain kill(2) on a pid of the check's tree.
        unsafe { libc::kill(all[i], libc::SIGSTOP) };
        i += 1;
        if i == all.len() {
            for c in children_of(&all) {
                if !all.contains(&c) {
                    all.push(c);
                }
            }
        }
    }
    for p in &all {
        // SAFETY: as above.
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
}

/// Pids whose parent is in `parents` (from /proc/*/stat).
fn children_of(parents: &[i32]) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command (which may hold spaces) start after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<i32>().ok());
        if ppid.is_some_and(|p| parents.contains(&p)) {
            out.push(pid);
        }
    }
    out
}

/// The monotonic instant matching an RFC 3339 start time (now when it cannot be parsed).
fn started_instant(started_at: &str) -> Instant {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(started_at) else {
        return Instant::now();
    };
    let ago = chrono::Utc::now().signed_duration_since(t.with_timezone(&chrono::Utc));
    let ago = ago.to_std().unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn merge_takes_image_fields() {
        let mut cfg = Config::default();
        cfg.extra.insert(
            "Healthcheck".into(),
            serde_json::json!({"Interval": 2_000_000_000i64}),
        );
        let img = serde_json::json!({"Test": ["CMD-SHELL", "true"], "Retries": 5});
        merge(&mut cfg, Some(&img));
        let h = HealthConfig::of(&cfg).unwrap();
        assert_eq!(h.test, vec!["CMD-SHELL", "true"]);
        assert_eq!(h.retries, 5);
        assert_eq!(h.interval, 2_000_000_000);
        assert_eq!(h.command(&cfg), vec!["/bin/sh", "-c", "true"]);
    }

    #[test]
    fn none_disables() {
        let mut cfg = Config::default();
        cfg.extra
            .insert("Healthcheck".into(), serde_json::json!({"Test": ["NONE"]}));
        merge(
            &mut cfg,
            Some(&serde_json::json!({"Test": ["CMD", "true"]})),
        );
        assert!(HealthConfig::of(&cfg).is_none());
    }

    #[test]
    fn output_is_limited() {
        let mut b = LimitedBuffer::default();
        b.push(&[b'a'; 5000]);
        assert_eq!(b.text().len(), MAX_OUTPUT_LEN + 3);
    }
}
