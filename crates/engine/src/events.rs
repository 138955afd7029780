//! Container events (`GET /events`): a bounded history plus a live broadcast.

use crate::engine::Engine;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

/// One event in Docker's shape.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Legacy status (= action).
    pub status: String,
    /// Legacy id.
    pub id: String,
    /// Legacy image.
    pub from: String,
    /// Object type (`container`, `image`).
    #[serde(rename = "Type")]
    pub kind: String,
    /// Action (`create`, `start`, `die`, `destroy`, `kill`, `stop`, `restart`, …).
    #[serde(rename = "Action")]
    pub action: String,
    /// Actor.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// The object an event is about.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    /// Object id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Attributes (name, image, labels, exitCode, signal).
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// The event bus of an engine.
pub struct Events {
    history: Mutex<VecDeque<Event>>,
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(256);
        Events {
            history: Mutex::new(VecDeque::new()),
            tx,
        }
    }
}

impl Events {
    /// Publish an event.
    pub fn publish(&self, e: Event) {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() >= HISTORY {
            h.pop_front();
        }
        h.push_back(e.clone());
        let _ = self.tx.send(e);
    }

    /// Past events plus a receiver of future ones (taken atomically).
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (h.iter().cloned().collect(), self.tx.subscribe())
    }
}

impl Engine {
    /// Publish a container event for `id` (looked up for name/image/labels).
    pub(crate) fn container_event(&self, id: &str, action: &str, extra: &[(&str, String)]) {
        let (image, mut attrs) = match self.get(id) {
            Ok(c) => {
                let mut a: BTreeMap<String, String> = c.config.labels.clone().unwrap_or_default();
                a.insert("name".into(), c.name.clone());
                a.insert("image".into(), c.config.image.clone());
                (c.config.image.clone(), a)
            }
            Err(_) => (String::new(), BTreeMap::new()),
        };
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.publish_event("container", id, &image, action, attrs);
    }

    /// Publish any event.
    pub fn publish_event(
        &self,
        kind: &str,
        id: &str,
        from: &str,
        action: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.events.publish(Event {
            status: action.to_string(),
            id: id.to_string(),
            from: from.to_string(),
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: now.as_secs() as i64,
            time_nano: now.as_nanos() as i64,
        });
    }

    /// The event bus.
    pub fn events(&self) -> &Events {
        &self.events
    }
}
