//! Mount requests: docker's `-v`, `--mount`, `--tmpfs` flags and the API's `HostConfig.Binds`,
//! `HostConfig.Mounts`, `HostConfig.Tmpfs`, all parsed into one [`MountRequest`]. Pure functions:
//! nothing here touches the file system.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError};
use crate::validate::{clean_target, parse_bool, parse_mode, parse_size, validate_volume_name};

/// What is mounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A host path bound into the container.
    Bind,
    /// A named or anonymous volume of the local driver.
    #[default]
    Volume,
    /// A fresh tmpfs.
    Tmpfs,
}

impl MountType {
    /// Docker's name: `bind`, `volume`, `tmpfs`.
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
        }
    }
}

/// Mount propagation of a bind mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `private`
    Private,
    /// `rprivate` (docker's default)
    RPrivate,
    /// `shared`
    Shared,
    /// `rshared`
    RShared,
    /// `slave`
    Slave,
    /// `rslave`
    RSlave,
}

impl Propagation {
    /// Parses a propagation name; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "private" => Propagation::Private,
            "rprivate" => Propagation::RPrivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::RShared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::RSlave,
            _ => return None,
        })
    }

    /// The name, also the OCI mount option.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::RPrivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::RShared => "rshared",
            Propagation::Slave => "slave",
            Propagation::RSlave => "rslave",
        }
    }
}

/// Where a request came from (decides defaults such as docker's `Mode` text).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `-v` / `HostConfig.Binds`.
    #[default]
    Bind,
    /// `--mount` / `HostConfig.Mounts`.
    Mount,
    /// `--tmpfs` / `HostConfig.Tmpfs` (docker leaves these out of inspect `Mounts`).
    Tmpfs,
    /// A `VOLUME` of the image config.
    Image,
    /// `--volumes-from`.
    VolumesFrom,
}

/// One mount a container asks for, whatever syntax it came in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    /// Bind, volume or tmpfs.
    pub kind: MountType,
    /// Bind: absolute host path. Volume: the name (`None` = anonymous). Tmpfs: `None`.
    pub source: Option<String>,
    /// Absolute, cleaned container path.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Bind propagation (`None` = docker's default `rprivate`).
    pub propagation: Option<Propagation>,
    /// Bind: create a missing host directory (`-v`) instead of failing (`--mount`).
    pub create_host_path: bool,
    /// Volume: do not copy the image's content into an empty volume.
    pub nocopy: bool,
    /// Volume driver asked for (`None` = `local`).
    pub driver: Option<String>,
    /// Volume driver options used when the volume is created (`volume-opt=`).
    pub driver_opts: BTreeMap<String, String>,
    /// Volume labels used when the volume is created (`volume-label=`).
    pub labels: BTreeMap<String, String>,
    /// Tmpfs size in bytes.
    pub tmpfs_size: Option<u64>,
    /// Tmpfs root directory mode.
    pub tmpfs_mode: Option<u32>,
    /// Further tmpfs mount options (`--tmpfs /x:exec,uid=1000`), validated.
    pub tmpfs_options: Vec<String>,
    /// Docker's `Mode` text for inspect (`ro`, `z`, `ro,Z`, ...).
    pub mode: String,
    /// Which syntax it came from.
    pub origin: Origin,
}

impl MountRequest {
    /// An anonymous volume at `target` (e.g. from an image `VOLUME`).
    pub fn anonymous(target: &str, origin: Origin) -> Result<MountRequest> {
        Ok(MountRequest {
            kind: MountType::Volume,
            target: clean_target(target)?,
            origin,
            ..MountRequest::default()
        })
    }
}

const CONSISTENCY: [&str; 4] = ["consistent", "cached", "delegated", "default"];

/// Parses docker's `-v`/`--volume` value (also one `HostConfig.Binds` entry):
/// `/host:/ctr[:opts]`, `name:/ctr[:opts]` or `/ctr`.
pub fn parse_volume_flag(spec: &str) -> Result<MountRequest> {
    let invalid = || VolumeError::InvalidSpec(spec.to_string());
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid());
    }
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [s, t] => {
            // `/foo:rw` — a destination with a mode but no source.
            if parse_bind_mode(t).is_ok() && !t.starts_with('/') {
                return Err(invalid());
            }
            (Some(*s), *t, "")
        }
        [s, t, m] => (Some(*s), *t, *m),
        _ => return Err(invalid()),
    };
    let target = clean_target(target)?;
    let m = parse_bind_mode(mode)?;
    let mut req = MountRequest {
        target,
        read_only: m.read_only,
        propagation: m.propagation,
        nocopy: m.nocopy,
        mode: mode.to_string(),
        origin: Origin::Bind,
        ..MountRequest::default()
    };
    match source {
        Some(s) if s.starts_with('/') => {
            req.kind = MountType::Bind;
            req.source = Some(clean_host_path(s));
            req.create_host_path = true;
            if m.nocopy {
                return Err(VolumeError::InvalidMode(mode.to_string()));
            }
        }
        Some(s) => {
            if s == "."
                || s == ".."
                || s.starts_with("./")
                || s.starts_with("../")
                || s == "~"
                || s.starts_with("~/")
            {
                return Err(VolumeError::RelativeHostPath(s.to_string()));
            }
            validate_volume_name(s)?;
            req.kind = MountType::Volume;
            req.source = Some(s.to_string());
        }
        None => req.kind = MountType::Volume,
    }
    if req.kind == MountType::Volume {
        if m.propagation.is_some() {
            return Err(VolumeError::InvalidMode(mode.to_string()));
        }
        if req.mode.is_empty() && req.source.is_some() {
            // docker reports "z" for named volumes given with -v and no mode.
            req.mode = "z".into();
        }
    }
    Ok(req)
}

/// What a `-v` mode string says.
#[derive(Default)]
struct BindMode {
    read_only: bool,
    propagation: Option<Propagation>,
    nocopy: bool,
}

fn parse_bind_mode(mode: &str) -> Result<BindMode> {
    let mut out = BindMode::default();
    if mode.is_empty() {
        return Ok(out);
    }
    let (mut rw, mut label, mut prop, mut copy, mut cons) = (0, 0, 0, 0, 0);
    for m in mode.split(',') {
        match m {
            "ro" | "rw" => {
                rw += 1;
                out.read_only = m == "ro";
            }
            "z" | "Z" => label += 1,
            "nocopy" => {
                copy += 1;
                out.nocopy = true;
            }
            m if CONSISTENCY.contains(&m) => cons += 1,
            m => match Propagation::parse(m) {
                Some(p) => {
                    prop += 1;
                    out.propagation = Some(p);
                }
                None => return Err(VolumeError::InvalidMode(mode.to_string())),
            },
        }
    }
    if rw > 1 || label > 1 || prop > 1 || copy > 1 || cons > 1 {
        return Err(VolumeError::InvalidMode(mode.to_string()));
    }
    Ok(out)
}

/// Collapses `//` and `/./` and drops a trailing `/` of an absolute host path.
fn clean_host_path(p: &str) -> String {
    let mut out = String::new();
    for comp in p.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        out.push('/');
        out.push_str(comp);
    }
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

/// Splits a `--mount` value into fields like Go's csv reader (double quotes may hold commas).
fn split_csv(s: &str) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(VolumeError::InvalidOption(format!(
            "invalid --mount value: unterminated quote in '{s}'"
        )));
    }
    fields.push(cur);
    Ok(fields)
}

fn key_value(field: &str, what: &str) -> Result<(String, String)> {
    field
        .split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| {
            VolumeError::InvalidOption(format!("invalid {what} '{field}': must be key=value"))
        })
}

/// Parses docker's `--mount` value: `type=bind|volume|tmpfs,src=,dst=,readonly,...`.
pub fn parse_mount_flag(spec: &str) -> Result<MountRequest> {
    let mut api = ApiMount {
        kind: "volume".into(),
        ..ApiMount::default()
    };
    let (mut bind_opt, mut vol_opt, mut tmpfs_opt) = (false, false, false);
    for field in split_csv(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let need = |v: &Option<String>| {
            v.clone().ok_or_else(|| {
                VolumeError::InvalidOption(format!(
                    "invalid field '{field}' must be a key=value pair"
                ))
            })
        };
        let flag = |v: &Option<String>| match v {
            None => Ok(true),
            Some(v) => parse_bool(v)
                .ok_or_else(|| VolumeError::InvalidOption(format!("invalid value for {key}: {v}"))),
        };
        match key.as_str() {
            "type" => api.kind = need(&value)?,
            "source" | "src" => api.source = need(&value)?,
            "target" | "dst" | "destination" => api.target = need(&value)?,
            "readonly" | "ro" => api.read_only = flag(&value)?,
            "consistency" => {
                let v = need(&value)?;
                if !CONSISTENCY.contains(&v.as_str()) {
                    return Err(VolumeError::InvalidOption(format!(
                        "invalid consistency: '{v}'"
                    )));
                }
            }
            "bind-propagation" => {
                bind_opt = true;
                api.bind_options
                    .get_or_insert_with(Default::default)
                    .propagation = need(&value)?;
            }
            "volume-nocopy" => {
                vol_opt = true;
                api.volume_options
                    .get_or_insert_with(Default::default)
                    .no_copy = flag(&value)?;
            }
            "volume-driver" => {
                vol_opt = true;
                api.volume_options
                    .get_or_insert_with(Default::default)
                    .driver_config
                    .get_or_insert_with(Default::default)
                    .name = need(&value)?;
            }
            "volume-label" => {
                vol_opt = true;
                let (k, v) = key_value(&need(&value)?, "volume-label")?;
                api.volume_options
                    .get_or_insert_with(Default::default)
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert(k, v);
            }
            "volume-opt" => {
                vol_opt = true;
                let (k, v) = key_value(&need(&value)?, "volume-opt")?;
                api.volume_options
                    .get_or_insert_with(Default::default)
                    .driver_config
                    .get_or_insert_with(Default::default)
                    .options
                    .get_or_insert_with(Default::default)
                    .insert(k, v);
            }
            "tmpfs-size" => {
                tmpfs_opt = true;
                let size = parse_size(&need(&value)?)?;
                api.tmpfs_options
                    .get_or_insert_with(Default::default)
                    .size_bytes = Some(i64::try_from(size).unwrap_or(i64::MAX));
            }
            "tmpfs-mode" => {
                tmpfs_opt = true;
                let mode = parse_mode(&need(&value)?)?;
                api.tmpfs_options.get_or_insert_with(Default::default).mode = Some(mode);
            }
            _ => {
                return Err(VolumeError::UnknownOption(format!(
                    "unexpected key '{key}' in '{field}'"
                )))
            }
        }
    }
    let mix = |what: &str| {
        Err(VolumeError::InvalidOption(format!(
            "cannot mix '{what}-*' options with mount type '{}'",
            api.kind
        )))
    };
    match api.kind.as_str() {
        "bind" if vol_opt => return mix("volume"),
        "bind" if tmpfs_opt => return mix("tmpfs"),
        "volume" if bind_opt => return mix("bind"),
        "volume" if tmpfs_opt => return mix("tmpfs"),
        "tmpfs" if bind_opt => return mix("bind"),
        "tmpfs" if vol_opt => return mix("volume"),
        _ => {}
    }
    from_api_mount(&api)
}

/// Parses docker's `--tmpfs` value: `/path[:opts]` (also usable for one `HostConfig.Tmpfs` entry
/// via [`from_api_tmpfs`]).
pub fn parse_tmpfs_flag(spec: &str) -> Result<MountRequest> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    from_api_tmpfs(path, opts)
}

/// Flag-only tmpfs options the kernel (or docker) knows.
const TMPFS_FLAGS: &[&str] = &[
    "ro",
    "rw",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "sync",
    "async",
    "dirsync",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "inode32",
    "inode64",
    "noswap",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
];
/// `key=value` tmpfs options the kernel knows.
const TMPFS_KEYS: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
    "huge",
];

/// One `HostConfig.Tmpfs` entry: container path and comma-separated mount options.
pub fn from_api_tmpfs(path: &str, opts: &str) -> Result<MountRequest> {
    let mut req = MountRequest {
        kind: MountType::Tmpfs,
        target: clean_target(path)?,
        origin: Origin::Tmpfs,
        ..MountRequest::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => {
                // the kernel also takes a percentage of RAM
                if v.strip_suffix('%').map(|n| n.parse::<u8>().is_ok()) != Some(true) {
                    parse_size(v)?;
                }
                req.tmpfs_options.push(o.to_string());
            }
            Some(("mode", v)) => req.tmpfs_mode = Some(parse_mode(v)?),
            Some((k, v)) if TMPFS_KEYS.contains(&k) => {
                if matches!(k, "uid" | "gid" | "nr_inodes" | "nr_blocks")
                    && v.trim_end_matches(['k', 'm', 'g']).parse::<u64>().is_err()
                {
                    return Err(VolumeError::InvalidOption(format!(
                        "invalid tmpfs option value: {o}"
                    )));
                }
                req.tmpfs_options.push(o.to_string());
            }
            None if o == "ro" => req.read_only = true,
            None if o == "rw" => req.read_only = false,
            None if TMPFS_FLAGS.contains(&o) => req.tmpfs_options.push(o.to_string()),
            _ => {
                return Err(VolumeError::UnknownOption(format!(
                    "invalid tmpfs option: {o:?}"
                )))
            }
        }
    }
    Ok(req)
}

/// `HostConfig.Mounts[]` as the Docker API sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiMount {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// Host path or volume name.
    #[serde(default)]
    pub source: String,
    /// Container path.
    #[serde(default)]
    pub target: String,
    /// Read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Ignored (macOS file sharing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    /// Bind options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<ApiBindOptions>,
    /// Volume options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<ApiVolumeOptions>,
    /// Tmpfs options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<ApiTmpfsOptions>,
}

/// `Mount.BindOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiBindOptions {
    /// Propagation name, "" = default.
    #[serde(default)]
    pub propagation: String,
    /// `bind-nonrecursive`: not supported, refused when true.
    #[serde(default)]
    pub non_recursive: bool,
    /// `bind-create-mountpoint`: create a missing source like `-v` does.
    #[serde(default)]
    pub create_mountpoint: bool,
}

/// `Mount.VolumeOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiVolumeOptions {
    /// Do not copy image content into an empty volume.
    #[serde(default)]
    pub no_copy: bool,
    /// Labels for a volume created by this mount.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver and options for a volume created by this mount.
    #[serde(default)]
    pub driver_config: Option<ApiDriverConfig>,
    /// Sub-path: not supported, refused when set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// `Mount.VolumeOptions.DriverConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiDriverConfig {
    /// Driver name, "" = local.
    #[serde(default)]
    pub name: String,
    /// Driver options.
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

/// `Mount.TmpfsOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiTmpfsOptions {
    /// Size in bytes (0 = unlimited/default).
    #[serde(default)]
    pub size_bytes: Option<i64>,
    /// Root directory mode.
    #[serde(default)]
    pub mode: Option<u32>,
}

fn mount_err(kind: &str, msg: impl std::fmt::Display) -> VolumeError {
    VolumeError::InvalidOption(format!("invalid mount config for type \"{kind}\": {msg}"))
}

/// Converts and validates one `HostConfig.Mounts` entry (also the end of `--mount` parsing).
pub fn from_api_mount(m: &ApiMount) -> Result<MountRequest> {
    let kind = m.kind.as_str();
    if m.target.is_empty() {
        return Err(mount_err(kind, "field Target must not be empty"));
    }
    let mut req = MountRequest {
        target: clean_target(&m.target)?,
        read_only: m.read_only,
        mode: String::new(),
        origin: Origin::Mount,
        ..MountRequest::default()
    };
    match kind {
        "bind" => {
            if m.volume_options.is_some() {
                return Err(mount_err(kind, "field VolumeOptions must not be specified"));
            }
            if m.tmpfs_options.is_some() {
                return Err(mount_err(kind, "field TmpfsOptions must not be specified"));
            }
            if m.source.is_empty() {
                return Err(mount_err(kind, "field Source must not be empty"));
            }
            if !m.source.starts_with('/') {
                return Err(VolumeError::RelativeHostPath(m.source.clone()));
            }
            req.kind = MountType::Bind;
            req.source = Some(clean_host_path(&m.source));
            if let Some(b) = &m.bind_options {
                if b.non_recursive {
                    return Err(mount_err(
                        kind,
                        "non-recursive bind mounts are not supported",
                    ));
                }
                req.create_host_path = b.create_mountpoint;
                if !b.propagation.is_empty() {
                    req.propagation =
                        Some(Propagation::parse(&b.propagation).ok_or_else(|| {
                            mount_err(kind, format!("invalid propagation mode: {}", b.propagation))
                        })?);
                }
            }
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(mount_err(kind, "field BindOptions must not be specified"));
            }
            if m.tmpfs_options.is_some() {
                return Err(mount_err(kind, "field TmpfsOptions must not be specified"));
            }
            req.kind = MountType::Volume;
            if !m.source.is_empty() {
                if m.source.starts_with('/') || m.source.starts_with('.') {
                    return Err(mount_err(
                        kind,
                        format!(
                            "invalid volume name '{}': a host path needs type=bind",
                            m.source
                        ),
                    ));
                }
                validate_volume_name(&m.source)?;
                req.source = Some(m.source.clone());
            }
            if let Some(v) = &m.volume_options {
                if !v.subpath.is_empty() {
                    return Err(mount_err(kind, "volume subpath is not supported"));
                }
                req.nocopy = v.no_copy;
                req.labels = v.labels.clone().unwrap_or_default();
                if let Some(d) = &v.driver_config {
                    if !d.name.is_empty() {
                        req.driver = Some(d.name.clone());
                    }
                    req.driver_opts = d.options.clone().unwrap_or_default();
                }
            }
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(mount_err(kind, "field Source must not be specified"));
            }
            if m.bind_options.is_some() {
                return Err(mount_err(kind, "field BindOptions must not be specified"));
            }
            if m.volume_options.is_some() {
                return Err(mount_err(kind, "field VolumeOptions must not be specified"));
            }
            req.kind = MountType::Tmpfs;
            if let Some(t) = &m.tmpfs_options {
                match t.size_bytes {
                    Some(s) if s < 0 => {
                        return Err(mount_err(kind, format!("invalid tmpfs size: {s}")))
                    }
                    Some(s) if s > 0 => req.tmpfs_size = Some(s as u64),
                    _ => {}
                }
                if let Some(mode) = t.mode {
                    if mode > 0o7777 {
                        return Err(mount_err(kind, format!("invalid tmpfs mode: {mode:o}")));
                    }
                    req.tmpfs_mode = Some(mode);
                }
            }
        }
        "" => {
            return Err(VolumeError::InvalidOption(
                "mount type must not be empty".into(),
            ))
        }
        other => {
            return Err(VolumeError::InvalidOption(format!(
                "mount type unknown or not supported: {other:?}"
            )))
        }
    }
    Ok(req)
}

/// Parses all of a container's mount inputs in docker's precedence, checks for duplicate targets,
/// and adds the image's `VOLUME`s that no user mount covers.
///
/// `binds` = `-v`/`HostConfig.Binds`, `mounts` = `HostConfig.Mounts`, `tmpfs` =
/// `HostConfig.Tmpfs` (path → options), `image_volumes` = image config `Volumes` keys.
pub fn collect(
    binds: &[String],
    mounts: &[ApiMount],
    tmpfs: &BTreeMap<String, String>,
    image_volumes: &[String],
) -> Result<Vec<MountRequest>> {
    let mut out = Vec::new();
    for b in binds {
        out.push(parse_volume_flag(b)?);
    }
    for m in mounts {
        out.push(from_api_mount(m)?);
    }
    for (path, opts) in tmpfs {
        out.push(from_api_tmpfs(path, opts)?);
    }
    check_duplicates(&out)?;
    add_image_volumes(out, image_volumes)
}

/// Fails with [`VolumeError::DuplicateMountPoint`] when two requests share a target.
pub fn check_duplicates(reqs: &[MountRequest]) -> Result<()> {
    let mut seen = HashSet::new();
    for r in reqs {
        if !seen.insert(r.target.as_str()) {
            return Err(VolumeError::DuplicateMountPoint(r.target.clone()));
        }
    }
    Ok(())
}

/// Appends an anonymous volume for each image `VOLUME` not already covered by a request.
pub fn add_image_volumes(
    mut reqs: Vec<MountRequest>,
    image_volumes: &[String],
) -> Result<Vec<MountRequest>> {
    for v in image_volumes {
        let req = MountRequest::anonymous(v, Origin::Image)?;
        if !reqs.iter().any(|r| r.target == req.target) {
            reqs.push(req);
        }
    }
    Ok(reqs)
}

/// Parses one `--volumes-from` value `container[:ro|rw]` into (container, read-only override).
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    match spec.split_once(':') {
        None if !spec.is_empty() => Ok((spec.to_string(), None)),
        Some((c, "ro")) if !c.is_empty() => Ok((c.to_string(), Some(true))),
        Some((c, "rw")) if !c.is_empty() => Ok((c.to_string(), Some(false))),
        Some((_, m)) if !m.is_empty() => Err(VolumeError::InvalidMode(m.to_string())),
        _ => Err(VolumeError::InvalidSpec(spec.to_string())),
    }
}
