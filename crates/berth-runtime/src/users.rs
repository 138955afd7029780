//! `exec --user` resolution: `uid[:gid]` numbers or user/group names looked up in the
//! container's own /etc/passwd and /etc/group (never the host's).

use anyhow::{anyhow, Result};
use std::path::Path;

/// Finds `name` in a passwd/group style file: returns (field 2, field 3) as numbers.
fn lookup(file: &Path, name: &str) -> Option<(u32, Option<u32>)> {
    // The file is read through the rootfs path; a symlink pointing out of the rootfs would be
    // followed, so refuse symlinks outright.
    let meta = std::fs::symlink_metadata(file).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| {
            let id = f.get(2)?.parse().ok()?;
            Some((id, f.get(3).and_then(|g| g.parse().ok())))
        })
}

/// Groups of /etc/group that list `user` as a member.
fn member_of(rootfs: &Path, user: &str) -> Vec<u32> {
    let file = rootfs.join("etc/group");
    if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_file()) {
        return Vec::new();
    }
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.get(3).is_some_and(|m| m.split(',').any(|x| x == user)))
        .filter_map(|f| f.get(2)?.parse().ok())
        .collect()
}

/// Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`, …) against `rootfs`: returns
/// (uid, gid, supplementary gids). A user without a group gets the primary group of its passwd
/// entry (0 for an unknown uid); the supplementary groups are those of /etc/group naming the
/// user, or just the gid (as runc does).
pub fn resolve(rootfs: &Path, spec: &str) -> Result<(u32, u32, Vec<u32>)> {
    let (u, g) = match spec.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (spec, None),
    };
    let passwd = rootfs.join("etc/passwd");
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (
            n,
            name_of(&passwd, n)
                .and_then(|nm| lookup(&passwd, &nm))
                .and_then(|x| x.1),
        ),
        Err(_) => lookup(&passwd, u).ok_or_else(|| {
            anyhow!("unable to find user {u}: no matching entries in passwd file")
        })?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(&rootfs.join("etc/group"), g)
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    anyhow!("unable to find group {g}: no matching entries in group file")
                })?,
        },
        None => primary.unwrap_or(0),
    };
    let name = match u.parse::<u32>() {
        Ok(n) => name_of(&passwd, n),
        Err(_) => Some(u.to_string()),
    };
    let mut sgids = name.map(|n| member_of(rootfs, &n)).unwrap_or_default();
    if sgids.is_empty() {
        sgids.push(gid);
    }
    Ok((uid, gid, sgids))
}

/// The user name of `uid` in a passwd file.
fn name_of(passwd: &Path, uid: u32) -> Option<String> {
    if !std::fs::symlink_metadata(passwd).is_ok_and(|m| m.file_type().is_file()) {
        return None;
    }
    std::fs::read_to_string(passwd)
        .ok()?
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).and_then(|x| x.parse::<u32>().ok()) == Some(uid))
        .and_then(|f| f.first().map(|s| s.to_string()))
}
