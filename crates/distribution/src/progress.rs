//! Progress events of pulls and pushes, worded as docker words them.

use std::fmt;
use std::sync::Arc;

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A whole-operation line, e.g. id `latest` + `Pulling from library/busybox`, or no id +
    /// `Digest: sha256:…`.
    Status {
        /// Docker's `id` field (a tag), if any.
        id: Option<String>,
        /// The text.
        message: String,
    },
    /// An event of one layer; `id` is the first 12 hex digits of the layer's blob digest.
    Layer {
        /// Short layer id.
        id: String,
        /// What happened.
        event: LayerEvent,
    },
}

/// Per-layer events (their [`Display`](fmt::Display) is docker's status text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEvent {
    /// `Pulling fs layer`.
    PullingFsLayer,
    /// `Waiting` (queued behind other downloads/uploads).
    Waiting,
    /// `Downloading` with bytes so far and the total.
    Downloading {
        /// Bytes received.
        current: u64,
        /// Blob size.
        total: u64,
    },
    /// `Verifying Checksum`.
    Verifying,
    /// `Download complete`.
    DownloadComplete,
    /// `Extracting` with bytes so far and the total.
    Extracting {
        /// Bytes unpacked.
        current: u64,
        /// Blob size.
        total: u64,
    },
    /// `Pull complete`.
    PullComplete,
    /// `Already exists` (the layer is in the local store).
    AlreadyExists,
    /// `Preparing` (push).
    Preparing,
    /// `Pushing` with bytes sent and the total.
    Pushing {
        /// Bytes sent.
        current: u64,
        /// Blob size.
        total: u64,
    },
    /// `Pushed`.
    Pushed,
    /// `Layer already exists` (the registry has it).
    LayerAlreadyExists,
    /// `Mounted from <repo>` (cross-repository mount).
    MountedFrom(String),
}

impl LayerEvent {
    /// `(current, total)` for the events that carry a progress bar.
    pub fn detail(&self) -> Option<(u64, u64)> {
        match self {
            LayerEvent::Downloading { current, total }
            | LayerEvent::Extracting { current, total }
            | LayerEvent::Pushing { current, total } => Some((*current, *total)),
            _ => None,
        }
    }
}

impl fmt::Display for LayerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerEvent::PullingFsLayer => f.write_str("Pulling fs layer"),
            LayerEvent::Waiting => f.write_str("Waiting"),
            LayerEvent::Downloading { .. } => f.write_str("Downloading"),
            LayerEvent::Verifying => f.write_str("Verifying Checksum"),
            LayerEvent::DownloadComplete => f.write_str("Download complete"),
            LayerEvent::Extracting { .. } => f.write_str("Extracting"),
            LayerEvent::PullComplete => f.write_str("Pull complete"),
            LayerEvent::AlreadyExists => f.write_str("Already exists"),
            LayerEvent::Preparing => f.write_str("Preparing"),
            LayerEvent::Pushing { .. } => f.write_str("Pushing"),
            LayerEvent::Pushed => f.write_str("Pushed"),
            LayerEvent::LayerAlreadyExists => f.write_str("Layer already exists"),
            LayerEvent::MountedFrom(r) => write!(f, "Mounted from {r}"),
        }
    }
}

/// Sends events to an optional callback.
#[derive(Clone, Default)]
pub(crate) struct Reporter(pub Option<ProgressFn>);

impl Reporter {
    pub fn status(&self, id: Option<&str>, message: impl Into<String>) {
        if let Some(f) = &self.0 {
            f(Progress::Status {
                id: id.map(str::to_string),
                message: message.into(),
            });
        }
    }

    pub fn layer(&self, digest: &str, event: LayerEvent) {
        if let Some(f) = &self.0 {
            f(Progress::Layer {
                id: short_id(digest),
                event,
            });
        }
    }
}

/// First 12 hex digits of a digest (docker's layer id).
pub fn short_id(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex[..hex.len().min(12)].to_string()
}

impl Progress {
    /// The event as a docker JSON progress message (what `POST /images/create` and
    /// `/images/{name}/push` stream): `{"status":…,"id":…,"progressDetail":{…}}`.
    pub fn to_docker_json(&self) -> serde_json::Value {
        match self {
            Progress::Status { id, message } => {
                let mut v = serde_json::json!({ "status": message });
                if let Some(id) = id {
                    v["id"] = serde_json::json!(id);
                }
                v
            }
            Progress::Layer { id, event } => {
                let mut v = serde_json::json!({
                    "status": event.to_string(),
                    "id": id,
                    "progressDetail": {},
                });
                if let Some((current, total)) = event.detail() {
                    v["progressDetail"] = serde_json::json!({ "current": current, "total": total });
                }
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_json() {
        let p = Progress::Layer {
            id: "abc".into(),
            event: LayerEvent::Downloading {
                current: 5,
                total: 10,
            },
        };
        assert_eq!(
            p.to_docker_json(),
            serde_json::json!({"status":"Downloading","id":"abc","progressDetail":{"current":5,"total":10}})
        );
        let p = Progress::Layer {
            id: "abc".into(),
            event: LayerEvent::MountedFrom("library/busybox".into()),
        };
        assert_eq!(p.to_docker_json()["status"], "Mounted from library/busybox");
    }
}
