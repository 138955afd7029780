//! Resolving `Config.User` against the container's /etc/passwd and /etc/group.

use crate::error::{EngineError, Result};
use std::path::Path;

/// A resolved process identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Home directory, when known.
    pub home: Option<String>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Reads a file of the image, resolved inside `rootfs` (an `/etc/passwd` linking to a host
/// file is not read from the host).
fn read_in_root(rootfs: &Path, rel: &str) -> String {
    let mut text = String::new();
    if let Ok(mut f) = safepath::Root::open(rootfs).and_then(|r| r.open_file(rel)) {
        let _ = std::io::Read::read_to_string(&mut f, &mut text);
    }
    text
}

fn read_passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    let text = read_in_root(rootfs, "etc/passwd");
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn read_group(rootfs: &Path) -> Vec<GroupEntry> {
    let text = read_in_root(rootfs, "etc/group");
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolve `user` (`""`, `name`, `uid`, `uid:gid`, `name:group`) inside `rootfs`.
pub fn resolve(rootfs: &Path, user: &str) -> Result<ResolvedUser> {
    let passwd = read_passwd(rootfs);
    let groups = read_group(rootfs);
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = passwd.iter().find(|p| p.name == u).or_else(|| {
        u.parse::<u32>()
            .ok()
            .and_then(|n| passwd.iter().find(|p| p.uid == n))
    });
    let (uid, mut gid, name, home) = match (entry, u.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, Some(p.name.clone()), Some(p.home.clone())),
        (None, Ok(n)) => (n, 0, None, None),
        (None, Err(_)) => {
            return Err(EngineError::InvalidParameter(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(g) = g {
        gid = match groups.iter().find(|e| e.name == g) {
            Some(e) => e.gid,
            None => g.parse::<u32>().map_err(|_| {
                EngineError::InvalidParameter(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = name {
        for e in &groups {
            if e.members.contains(&name) && !additional_gids.contains(&e.gid) {
                additional_gids.push(e.gid);
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// The gids of `--group-add` entries: numbers as they are, names from the container's
/// /etc/group (an unknown name is an error, as dockerd's).
pub fn group_gids(rootfs: &Path, names: &[String]) -> Result<Vec<u32>> {
    let groups = read_group(rootfs);
    names
        .iter()
        .map(|g| match groups.iter().find(|e| &e.name == g) {
            Some(e) => Ok(e.gid),
            None => g.parse::<u32>().map_err(|_| {
                EngineError::InvalidParameter(format!(
                    "Unable to find group {g}: no matching entries in group file"
                ))
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_and_numbers() {
        let d = std::env::temp_dir().join(format!("berth-user-test-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.join("etc/group"),
            "root:x:0:\nwheel:x:10:nobody\nnogroup:x:65534:\n",
        )
        .unwrap();
        assert_eq!(resolve(&d, "").unwrap().uid, 0);
        let n = resolve(&d, "nobody").unwrap();
        assert_eq!(
            (n.uid, n.gid, n.additional_gids.clone()),
            (65534, 65534, vec![10])
        );
        let n = resolve(&d, "1000:wheel").unwrap();
        assert_eq!((n.uid, n.gid), (1000, 10));
        assert!(resolve(&d, "nosuch").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
