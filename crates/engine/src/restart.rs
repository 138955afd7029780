//! Restart policies as Docker's restart manager applies them: `no`, `always`,
//! `unless-stopped`, `on-failure[:N]`; the `restarting` state between tries; a back-off of
//! 100 ms doubling up to 1 min, reset after 10 s of running; policies applied again when
//! the daemon starts.

use crate::engine::{now, Engine};
use crate::error::{EngineError, Result};
use crate::types::{Container, Status};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// First delay before a restart.
pub const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// Longest delay between restarts.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Entry {
    delay: Duration,
    pending: Option<tokio::task::AbortHandle>,
    auto_start: bool,
}

/// Per-container restart state (delays and pending restarts).
#[derive(Default)]
pub struct Restarts {
    map: Mutex<HashMap<String, Entry>>,
}

impl Restarts {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The next delay after a run of `ran` (Docker's `ShouldRestart` timeout rule).
    fn next_delay(&self, id: &str, ran: Duration) -> Duration {
        let mut m = self.lock();
        let e = m.entry(id.to_string()).or_default();
        e.delay = next_delay(e.delay, ran);
        e.delay
    }
}

/// The back-off step: 100 ms first (or after a run of 10 s), then doubling, capped at 1 min.
pub fn next_delay(prev: Duration, ran: Duration) -> Duration {
    let prev = if ran >= RESET_AFTER {
        Duration::ZERO
    } else {
        prev
    };
    let d = if prev.is_zero() {
        INITIAL_DELAY
    } else if prev < MAX_DELAY {
        prev * 2
    } else {
        prev
    };
    d.min(MAX_DELAY)
}

/// Whether the policy restarts a container that exited as `c` records.
pub fn policy_restarts(c: &Container, daemon_start: bool) -> bool {
    let p = &c.host_config.restart_policy;
    match p.name.as_str() {
        "always" => daemon_start || !c.stopped_by_user,
        "unless-stopped" => !c.stopped_by_user,
        "on-failure" => {
            !c.stopped_by_user
                && c.state.exit_code != 0
                && (p.maximum_retry_count <= 0 || c.restart_count < p.maximum_retry_count)
        }
        _ => false,
    }
}

/// Docker's check of `HostConfig.RestartPolicy` at create.
pub fn validate(c: &crate::types::HostConfig) -> Result<()> {
    let p = &c.restart_policy;
    match p.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if p.maximum_retry_count != 0 {
                return Err(EngineError::InvalidParameter(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                        .into(),
                ));
            }
        }
        "on-failure" => {
            if p.maximum_retry_count < 0 {
                return Err(EngineError::InvalidParameter(
                    "invalid restart policy: maximum retry count cannot be negative".into(),
                ));
            }
        }
        other => {
            return Err(EngineError::InvalidParameter(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )))
        }
    }
    if c.auto_remove && !matches!(p.name.as_str(), "" | "no") {
        return Err(EngineError::InvalidParameter(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    Ok(())
}

fn ran_for(c: &Container) -> Duration {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (parse(&c.state.started_at), parse(&c.state.finished_at)) {
        (Some(a), Some(b)) => b.signed_duration_since(a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

impl Engine {
    /// After an exit has been recorded: apply the restart policy. Puts the container in
    /// `restarting` and schedules the start after the back-off delay.
    pub(crate) fn restart_after_exit(self: &Arc<Self>, id: &str) {
        let Ok(mut c) = self.get(id) else { return };
        if !policy_restarts(&c, false) {
            return;
        }
        let delay = self.restarts.next_delay(id, ran_for(&c));
        c.restart_count += 1;
        c.state.status = Status::Restarting;
        c.state.restarting = true;
        if self.save(&c).is_err() {
            return;
        }
        self.notify();
        self.schedule_start(id, delay);
    }

    fn schedule_start(self: &Arc<Self>, id: &str, delay: Duration) {
        let this = self.clone();
        let id2 = id.to_string();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            {
                let mut m = this.restarts.lock();
                let e = m.entry(id2.clone()).or_default();
                e.pending = None;
                e.auto_start = true;
            }
            if let Err(e) = this.start(&id2).await {
                tracing::warn!("restarting {id2}: {e}");
                if let Ok(mut c) = this.get(&id2) {
                    if c.state.restarting {
                        c.state.restarting = false;
                        c.state.status = Status::Exited;
                        c.state.finished_at = now();
                        let _ = this.save(&c);
                        this.notify();
                    }
                }
            }
        });
        let mut m = self.restarts.lock();
        let e = m.entry(id.to_string()).or_default();
        if let Some(old) = e.pending.replace(task.abort_handle()) {
            old.abort();
        }
    }

    /// Called by `start`: whether this start is a policy restart (else a user start, which
    /// resets the count and the back-off like Docker's `ResetRestartManager`).
    pub(crate) fn restart_start_is_auto(&self, id: &str) -> bool {
        let mut m = self.restarts.lock();
        let e = m.entry(id.to_string()).or_default();
        let auto = std::mem::take(&mut e.auto_start);
        if !auto {
            if let Some(p) = e.pending.take() {
                p.abort();
            }
            e.delay = Duration::ZERO;
        }
        auto
    }

    /// Cancel a pending restart; returns whether the container was restarting. The record
    /// becomes `exited` (a manual stop ends the loop).
    pub(crate) fn restart_cancel(&self, id: &str, by_user: bool) -> bool {
        if let Some(p) = self
            .restarts
            .lock()
            .get_mut(id)
            .and_then(|e| e.pending.take())
        {
            p.abort();
        }
        let Ok(mut c) = self.get(id) else {
            return false;
        };
        if !c.state.restarting {
            return false;
        }
        c.state.restarting = false;
        c.state.status = Status::Exited;
        if by_user {
            c.stopped_by_user = true;
        }
        let _ = self.save(&c);
        self.notify();
        true
    }

    /// `rm` of a restarting container needs `-f` (Docker's message); with it the pending
    /// restart is cancelled first.
    pub(crate) fn restart_check_remove(&self, c: &Container, force: bool) -> Result<()> {
        if !c.state.restarting {
            return Ok(());
        }
        if !force {
            return Err(EngineError::Conflict(format!(
                "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
                c.id
            )));
        }
        self.restart_cancel(&c.id, true);
        Ok(())
    }

    /// Forget a removed container.
    pub(crate) fn restart_forget(&self, id: &str) {
        if let Some(e) = self.restarts.lock().remove(id) {
            if let Some(p) = e.pending {
                p.abort();
            }
        }
    }

    /// Daemon start: start what the policies say (`always`, `unless-stopped` unless the user
    /// stopped it, `on-failure` after a failure within the count, and any container that was
    /// `restarting` when the daemon went down).
    pub(crate) fn restart_restore(self: &Arc<Self>) {
        for c in self.list() {
            if c.state.running {
                continue;
            }
            if self
                .restarts
                .lock()
                .get(&c.id)
                .is_some_and(|e| e.pending.is_some())
            {
                continue;
            }
            let was_restarting = c.state.restarting;
            if was_restarting || policy_restarts(&c, true) {
                let this = self.clone();
                let id = c.id.clone();
                tokio::spawn(async move {
                    this.restarts
                        .lock()
                        .entry(id.clone())
                        .or_default()
                        .auto_start = true;
                    if let Err(e) = this.start(&id).await {
                        tracing::warn!("starting {id} (restart policy) at daemon start: {e}");
                        let _ = this.restart_cancel(&id, false);
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_resets_and_caps() {
        let z = Duration::ZERO;
        let d1 = next_delay(z, z);
        assert_eq!(d1, Duration::from_millis(100));
        let d2 = next_delay(d1, Duration::from_millis(5));
        assert_eq!(d2, Duration::from_millis(200));
        assert_eq!(next_delay(d2, Duration::from_secs(11)), d1);
        assert_eq!(next_delay(Duration::from_secs(40), z), MAX_DELAY);
        assert_eq!(next_delay(MAX_DELAY, z), MAX_DELAY);
    }
}
