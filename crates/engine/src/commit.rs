//! `docker commit` (`POST /commit`) and `docker diff` (`GET /containers/{id}/changes`): the
//! container's overlay upper dir as a new image layer, or as a list of changes.

use crate::engine::{blocking, Engine};
use crate::error::{EngineError, Result};
use crate::images::map_err;
use crate::types::Container;
use image::diff::ChangeKind;
use safepath::Root;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// Repository (`repo`); empty: an untagged image.
    pub repo: String,
    /// Tag (`tag`); empty means `latest` when a repository is given.
    pub tag: String,
    /// History comment (`comment`, `-m`).
    pub comment: String,
    /// Author (`author`, `-a`).
    pub author: String,
    /// Pause a running container while committing (`pause`, default true).
    pub pause: bool,
    /// Dockerfile instructions (`changes`, `-c`), one per entry.
    pub changes: Vec<String>,
    /// Config fields of the JSON body: they replace the container's.
    pub config: Option<image::ContainerConfig>,
}

/// Paths the runtime creates as mount points (Docker keeps them in its init layer, so they
/// are not changes of the container).
const MOUNT_POINTS: &[&str] = &[
    "/dev",
    "/proc",
    "/sys",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/.dockerenv",
];

/// The container's config as an image config (what `docker commit` records).
fn image_config(c: &Container) -> image::ContainerConfig {
    let cfg = &c.config;
    let mut out = image::ContainerConfig {
        user: Some(cfg.user.clone()).filter(|u| !u.is_empty()),
        env: cfg.env.clone(),
        cmd: cfg.cmd.clone(),
        entrypoint: cfg.entrypoint.clone(),
        working_dir: Some(cfg.working_dir.clone()).filter(|w| !w.is_empty()),
        labels: cfg.labels.clone(),
        stop_signal: cfg.stop_signal.clone(),
        ..Default::default()
    };
    for (k, v) in &cfg.extra {
        match (k.as_str(), v) {
            (_, serde_json::Value::Null) => {}
            ("ExposedPorts", serde_json::Value::Object(m)) => {
                out.exposed_ports = Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            ("Volumes", serde_json::Value::Object(m)) => {
                out.volumes = Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            ("Healthcheck" | "OnBuild" | "Shell" | "ArgsEscaped", v) => {
                out.extra.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    out
}

/// Fields set in `over` replace those of `base`.
fn merge(base: &mut image::ContainerConfig, over: image::ContainerConfig) {
    macro_rules! take {
        ($($f:ident),*) => {$( if over.$f.is_some() { base.$f = over.$f; } )*};
    }
    take!(
        user,
        env,
        cmd,
        entrypoint,
        working_dir,
        exposed_ports,
        volumes,
        labels,
        stop_signal
    );
    for (k, v) in over.extra {
        // The body is a whole container config: only the image-config fields count.
        let image_field = matches!(
            k.as_str(),
            "Healthcheck" | "OnBuild" | "Shell" | "ArgsEscaped"
        );
        if image_field && !v.is_null() {
            base.extra.insert(k, v);
        }
    }
}

impl Engine {
    /// `docker commit`: a new image from the container's image plus its upper dir. The
    /// container is paused (freezer) during the commit when it runs and `pause` is set.
    /// Returns the new image id.
    pub async fn commit(self: &Arc<Self>, name_or_id: &str, req: CommitRequest) -> Result<String> {
        let c = self.get(name_or_id)?;
        let reference = if req.repo.is_empty() {
            if !req.tag.is_empty() {
                return Err(EngineError::InvalidParameter(
                    "tag given without a repository".into(),
                ));
            }
            None
        } else {
            let tag = if req.tag.is_empty() {
                "latest"
            } else {
                &req.tag
            };
            let r = format!("{}:{}", req.repo, tag);
            image::Reference::parse(&r).map_err(|e| {
                EngineError::InvalidParameter(format!("invalid reference format: {e}"))
            })?;
            Some(r)
        };
        let mut config = image_config(&c);
        if let Some(over) = req.config.clone() {
            merge(&mut config, over);
        }
        // Bad `-c` lines fail before anything is paused or written.
        image::changes::apply_changes(&mut config.clone(), &req.changes).map_err(map_err)?;
        let paused_here = req.pause && c.state.running && !c.state.paused;
        if paused_here {
            self.set_paused(&c.id, true).await?;
        }
        let this = self.clone();
        let id = c.id.clone();
        let mut created_by = vec![c.path.clone()];
        created_by.extend(c.args.iter().cloned());
        let opts = image::CommitOptions {
            reference,
            config: Some(config),
            changes: req.changes.clone(),
            comment: Some(req.comment.clone()).filter(|s| !s.is_empty()),
            author: Some(req.author.clone()).filter(|s| !s.is_empty()),
            created_by: Some(created_by.join(" ")),
            exclude: MOUNT_POINTS
                .iter()
                .map(|p| p.to_string())
                .chain(c.mount_points.iter().map(|m| m.destination.clone()))
                .map(|p| PathBuf::from(p.trim_start_matches('/')))
                .collect(),
        };
        let res = blocking(move || {
            let base = this.images.get(&c.image_id)?;
            let upper = this.images.snapshots.upper_dir(&id).map_err(map_err)?;
            this.images
                .store
                .commit(Some(&base), &upper, opts)
                .map_err(map_err)
        })
        .await;
        if paused_here {
            if let Err(e) = self.set_paused(name_or_id, false).await {
                tracing::warn!("unpausing {name_or_id} after commit: {e}");
            }
        }
        let rec = res?;
        let cid = self.resolve(name_or_id).unwrap_or_default();
        self.container_event(&cid, "commit", &[]);
        Ok(rec.id)
    }

    /// `docker diff`: the changes of the container's filesystem against its image, sorted by
    /// path (kinds 0 = changed, 1 = added, 2 = deleted).
    pub async fn changes(self: &Arc<Self>, name_or_id: &str) -> Result<Vec<(String, u8)>> {
        let c = self.get(name_or_id)?;
        let this = self.clone();
        blocking(move || {
            let img = this.images.get(&c.image_id)?;
            let lowers: Vec<Root> = this
                .images
                .lowers(&img)?
                .iter()
                .filter_map(|l| Root::open(l).ok())
                .collect();
            let upper = this.images.snapshots.upper_dir(&c.id).map_err(map_err)?;
            let mut skip: Vec<PathBuf> = MOUNT_POINTS.iter().map(PathBuf::from).collect();
            for mp in &c.mount_points {
                skip.push(PathBuf::from(&mp.destination));
            }
            let in_lower = |p: &Path| lowers.iter().any(|r| r.lstat(p).is_ok());
            let is_skip = |p: &Path| skip.iter().any(|s| s == p);
            let list = image::diff::upper_changes(&upper, &in_lower, &is_skip).map_err(map_err)?;
            let mut out: Vec<(String, u8)> = list
                .into_iter()
                .map(|(p, k)| {
                    let kind = match k {
                        ChangeKind::Modify => 0,
                        ChangeKind::Add => 1,
                        ChangeKind::Delete => 2,
                    };
                    (p.display().to_string(), kind)
                })
                .collect();
            out.sort();
            Ok(out)
        })
        .await
    }
}
