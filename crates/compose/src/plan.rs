//! Planning: the start order of services (depends_on, cycles refused), the config hash, and
//! the per-service decision of which containers to keep, start, recreate, create or remove.

use indexmap::IndexMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{ComposeError, Result};
use crate::model::Service;

/// Services in start order (dependencies first); `only` (plus their dependencies) when not
/// empty. A cycle is an error naming it.
pub fn start_order(
    services: &IndexMap<String, Service>,
    only: &[String],
    with_deps: bool,
) -> Result<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        None,
        Active,
        Done,
    }
    fn visit(
        name: &str,
        services: &IndexMap<String, Service>,
        marks: &mut IndexMap<String, Mark>,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
        with_deps: bool,
    ) -> Result<()> {
        match marks.get(name).copied().unwrap_or(Mark::None) {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let start = stack.iter().position(|s| s == name).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(name.to_string());
                return Err(ComposeError::Cycle(cycle.join(" -> ")));
            }
            Mark::None => {}
        }
        marks.insert(name.to_string(), Mark::Active);
        stack.push(name.to_string());
        if with_deps {
            if let Some(s) = services.get(name) {
                for dep in s.depends_on.keys() {
                    if services.contains_key(dep) {
                        visit(dep, services, marks, stack, out, with_deps)?;
                    }
                }
            }
        }
        stack.pop();
        marks.insert(name.to_string(), Mark::Done);
        out.push(name.to_string());
        Ok(())
    }
    let mut marks = IndexMap::new();
    let mut out = Vec::new();
    // cycles anywhere in the project are refused, whatever is selected
    for name in services.keys() {
        visit(
            name,
            services,
            &mut marks,
            &mut Vec::new(),
            &mut Vec::new(),
            true,
        )?;
    }
    marks.clear();
    let roots: Vec<String> = if only.is_empty() {
        services.keys().cloned().collect()
    } else {
        only.to_vec()
    };
    for name in &roots {
        visit(
            name,
            services,
            &mut marks,
            &mut Vec::new(),
            &mut out,
            with_deps,
        )?;
    }
    Ok(out)
}

/// Sorts object keys recursively so the hash does not depend on key order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The `com.docker.compose.config-hash` of a resolved service: sha256 of its canonical JSON
/// without what does not change a container (scale, replicas, profiles, build).
pub fn config_hash(s: &Service) -> String {
    let mut s = s.clone();
    s.scale = None;
    s.deploy = None;
    s.profiles.clear();
    s.build = None;
    let v = canonical(&serde_json::to_value(&s).unwrap_or(Value::Null));
    let text = serde_json::to_string(&v).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A container of the service as the daemon lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    /// Container ID.
    pub id: String,
    /// Name (without `/`).
    pub name: String,
    /// `com.docker.compose.container-number`.
    pub number: u32,
    /// `com.docker.compose.config-hash`.
    pub hash: String,
    /// `com.docker.compose.image` (the image ID it was made from).
    pub image_id: String,
    /// Running (or restarting/paused).
    pub running: bool,
}

/// How `up` treats existing containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    /// Recreate when the config hash or the image changed (default).
    #[default]
    Diverged,
    /// `--force-recreate`.
    Force,
    /// `--no-recreate`.
    Never,
}

/// One step for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Up to date and running: nothing to do.
    Keep {
        /// Container ID.
        id: String,
    },
    /// Up to date but stopped: start it.
    Start {
        /// Container ID.
        id: String,
    },
    /// Config changed: replace it by a new container with the same number.
    Recreate {
        /// Old container ID.
        id: String,
        /// Its number.
        number: u32,
    },
    /// Missing replica: create and start it.
    Create {
        /// The number to give it.
        number: u32,
    },
    /// Beyond the wanted scale: stop and remove it.
    Remove {
        /// Container ID.
        id: String,
    },
}

/// Decides what to do with a service's containers to get `replicas` of them with `hash`
/// made from `image_id`. Containers with the lowest numbers are kept; duplicates of a
/// number are removed.
pub fn plan_service(
    existing: &[Existing],
    replicas: u32,
    hash: &str,
    image_id: &str,
    mode: Recreate,
) -> Vec<Action> {
    let mut sorted: Vec<&Existing> = existing.iter().collect();
    sorted.sort_by_key(|e| (e.number, !e.running));
    let mut actions = Vec::new();
    let mut taken = Vec::new();
    let mut kept = 0u32;
    for e in sorted {
        if kept >= replicas || taken.contains(&e.number) {
            actions.push(Action::Remove { id: e.id.clone() });
            continue;
        }
        kept += 1;
        taken.push(e.number);
        let diverged = e.hash != hash || (!image_id.is_empty() && e.image_id != image_id);
        let recreate = match mode {
            Recreate::Force => true,
            Recreate::Never => false,
            Recreate::Diverged => diverged,
        };
        actions.push(if recreate {
            Action::Recreate {
                id: e.id.clone(),
                number: e.number,
            }
        } else if e.running {
            Action::Keep { id: e.id.clone() }
        } else {
            Action::Start { id: e.id.clone() }
        });
    }
    let mut n = 1;
    while kept < replicas {
        if !taken.contains(&n) {
            actions.push(Action::Create { number: n });
            taken.push(n);
            kept += 1;
        }
        n += 1;
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dependency;

    fn svc(deps: &[&str]) -> Service {
        let mut s = Service {
            image: Some("x".into()),
            ..Default::default()
        };
        for d in deps {
            s.depends_on.insert(
                d.to_string(),
                Dependency {
                    condition: "service_started".into(),
                    required: None,
                },
            );
        }
        s
    }

    #[test]
    fn order_and_cycles() {
        let mut m = IndexMap::new();
        m.insert("web".to_string(), svc(&["app"]));
        m.insert("app".to_string(), svc(&["db", "cache"]));
        m.insert("db".to_string(), svc(&[]));
        m.insert("cache".to_string(), svc(&[]));
        m.insert("other".to_string(), svc(&[]));
        assert_eq!(
            start_order(&m, &[], true).unwrap(),
            vec!["db", "cache", "app", "web", "other"]
        );
        assert_eq!(
            start_order(&m, &["app".into()], true).unwrap(),
            vec!["db", "cache", "app"]
        );
        assert_eq!(
            start_order(&m, &["app".into()], false).unwrap(),
            vec!["app"]
        );
        m.insert("db".to_string(), svc(&["web"]));
        let e = start_order(&m, &[], true).unwrap_err().to_string();
        assert!(e.contains("web -> app -> db -> web"), "{e}");
    }

    #[test]
    fn hash_ignores_scale_and_key_order() {
        let a = svc(&[]);
        let mut b = a.clone();
        b.scale = Some(3);
        assert_eq!(config_hash(&a), config_hash(&b));
        b.environment.insert("A".into(), Some("1".into()));
        b.environment.insert("B".into(), Some("2".into()));
        let mut c = a.clone();
        c.environment.insert("B".into(), Some("2".into()));
        c.environment.insert("A".into(), Some("1".into()));
        assert_eq!(config_hash(&b), config_hash(&c));
        assert_ne!(config_hash(&a), config_hash(&c));
    }

    fn ex(id: &str, n: u32, hash: &str, running: bool) -> Existing {
        Existing {
            id: id.into(),
            name: format!("p-s-{n}"),
            number: n,
            hash: hash.into(),
            image_id: "img".into(),
            running,
        }
    }

    #[test]
    fn recreate_decision() {
        let cur = [ex("a", 1, "h", true), ex("b", 2, "h", false)];
        assert_eq!(
            plan_service(&cur, 2, "h", "img", Recreate::Diverged),
            vec![
                Action::Keep { id: "a".into() },
                Action::Start { id: "b".into() }
            ]
        );
        assert_eq!(
            plan_service(&cur, 2, "h2", "img", Recreate::Diverged),
            vec![
                Action::Recreate {
                    id: "a".into(),
                    number: 1
                },
                Action::Recreate {
                    id: "b".into(),
                    number: 2
                }
            ]
        );
        assert_eq!(
            plan_service(&cur, 1, "h2", "img", Recreate::Never),
            vec![
                Action::Keep { id: "a".into() },
                Action::Remove { id: "b".into() }
            ]
        );
        assert_eq!(
            plan_service(&cur[..1], 1, "h", "img2", Recreate::Diverged),
            vec![Action::Recreate {
                id: "a".into(),
                number: 1
            }]
        );
        assert_eq!(
            plan_service(&cur[..1], 1, "h", "img", Recreate::Force),
            vec![Action::Recreate {
                id: "a".into(),
                number: 1
            }]
        );
        assert_eq!(
            plan_service(&[ex("c", 2, "h", true)], 3, "h", "img", Recreate::Diverged),
            vec![
                Action::Keep { id: "c".into() },
                Action::Create { number: 1 },
                Action::Create { number: 3 }
            ]
        );
        assert_eq!(plan_service(&[], 0, "h", "img", Recreate::Diverged), vec![]);
    }
}
