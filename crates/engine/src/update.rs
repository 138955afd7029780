//! `docker update`: new resource limits and restart policy for a container. On a running
//! (or paused) container the limits are applied live through the OCI runtime's
//! `update --resources -` (runc's command line); the record changes only after that worked.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::resources::{self, UpdateRequest};
use crate::types::HostConfig;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

impl Engine {
    /// Update container `name_or_id`; returns Docker's warnings (none so far).
    pub async fn update(
        self: &Arc<Self>,
        name_or_id: &str,
        req: UpdateRequest,
    ) -> Result<Vec<String>> {
        let c = {
            let mut inner = self.lock();
            let id = crate::engine::resolve_in(&inner, name_or_id)?;
            let c = inner
                .containers
                .get(&id)
                .cloned()
                .ok_or_else(|| EngineError::NoSuchContainer(name_or_id.to_string()))?;
            if !inner.busy.insert(id.clone()) {
                return Err(EngineError::Conflict(format!(
                    "Cannot update container {id}: it is being started, stopped or removed"
                )));
            }
            c
        };
        let id = c.id.clone();
        let res = self
            .update_inner(&c.id, &c.host_config, c.state.running, &req)
            .await;
        self.lock().busy.remove(&id);
        self.notify();
        if res.is_ok() {
            self.container_event(&id, "update", &[]);
        }
        res.map(|_| Vec::new())
    }

    async fn update_inner(
        self: &Arc<Self>,
        id: &str,
        old: &HostConfig,
        running: bool,
        req: &UpdateRequest,
    ) -> Result<()> {
        let new = resources::merge_update(old, req)?;
        resources::validate(&new, self.swap_ok)?;
        if running && resources::limits_changed(old, &new) {
            let this = self.clone();
            let (id2, old2, new2) = (id.to_string(), old.clone(), new.clone());
            crate::engine::blocking(move || {
                if let Err(e) = this.runtime_update(&id2, &new2) {
                    // A runtime may have applied some limits before the one that failed:
                    // put the old ones back so the record and the cgroup still agree.
                    if let Err(back) = this.runtime_update(&id2, &old2) {
                        tracing::warn!("{id2}: restoring the old limits failed: {back}");
                    }
                    return Err(e);
                }
                Ok(())
            })
            .await?;
        }
        let mut cur = self.get(id)?;
        cur.host_config = new;
        self.save(&cur)
    }

    /// `RUNTIME --root R update --resources - ID` with the OCI resources of `h` on stdin.
    fn runtime_update(&self, id: &str, h: &HostConfig) -> Result<()> {
        let body = serde_json::to_vec(&serde_json::Value::Object(resources::oci(
            h,
            self.swap_ok,
            true,
        )))?;
        let rt = &self.cfg.runtime;
        let mut child = Command::new(rt)
            .arg("--root")
            .arg(self.paths.runtime_root())
            .args(["update", "--resources", "-", id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| EngineError::Internal(format!("running {}: {e}", rt.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A runtime that fails early may close stdin: its exit status tells why.
            let _ = stdin.write_all(&body);
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if lacks_update(&err) {
            return Err(EngineError::NotImplemented(format!(
                "Cannot update container {id}: the OCI runtime {} does not implement `update`, so the limits of a running container cannot be changed (stop the container and update it, or run berthd --runtime runc): {err}",
                rt.display()
            )));
        }
        Err(EngineError::Internal(format!(
            "Cannot update container {id}: {err}"
        )))
    }
}

/// Whether a runtime's error output says it has no `update` subcommand.
fn lacks_update(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("unrecognized subcommand")
        || s.contains("unknown command")
        || s.contains("no help topic")
        || s.contains("invalid subcommand")
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognises_a_runtime_without_update() {
        assert!(super::lacks_update(
            "error: unrecognized subcommand 'update'"
        ));
        assert!(super::lacks_update("No help topic for 'update'"));
        assert!(!super::lacks_update(
            "write /sys/fs/cgroup/memory: device or resource busy"
        ));
    }
}
