//! Loading a project: finding the files, the environment (`.env`, `--env-file`, the shell),
//! parsing, interpolating, normalising, merging, validating, resolving relative paths and
//! env files, profiles, and the project name.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use crate::error::{invalid, ComposeError, Result};
use crate::model::{self, ComposeFile, Service, VolumeEntry};
use crate::{envfile, interpolate, merge, normalize};

/// File names looked for in the project directory, in order.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
/// Override files loaded after the default file.
const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// What the command line says about the project.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f` files (empty = `COMPOSE_FILE` or the default names).
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_dir: Option<PathBuf>,
    /// `--env-file` (empty = `<project dir>/.env` when present).
    pub env_files: Vec<PathBuf>,
    /// `--profile` (empty = `COMPOSE_PROFILES`).
    pub profiles: Vec<String>,
}

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Project name.
    pub name: String,
    /// Project directory (relative paths resolve against it).
    pub dir: PathBuf,
    /// The compose files, as given or found.
    pub files: Vec<PathBuf>,
    /// The merged model with env files, shell variables and paths resolved; disabled
    /// profiles removed.
    pub model: ComposeFile,
    /// Services left out by inactive profiles.
    pub disabled: Vec<String>,
    /// Warnings to print (obsolete `version`).
    pub warnings: Vec<String>,
}

/// Lowercases and drops characters docker compose does not allow in project names.
pub fn normalize_name(raw: &str) -> String {
    let lower = raw.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn read_yaml(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let v: Value = serde_saphyr::from_str(&text).map_err(|e| ComposeError::Yaml {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    if v.is_null() {
        return Err(invalid(path.display().to_string(), "empty compose file"));
    }
    Ok(v)
}

/// Loads a project; `shell` is the process environment (passed in for tests).
pub fn load(opts: &Options, shell: &IndexMap<String, String>, cwd: &Path) -> Result<Project> {
    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    let mut files: Vec<PathBuf> = opts.files.iter().map(|f| abs(f)).collect();
    if files.is_empty() {
        if let Some(cf) = shell.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
            files = cf.split(':').map(|f| abs(Path::new(f))).collect();
        }
    }
    let search_dir = opts
        .project_dir
        .as_ref()
        .map(|d| abs(d))
        .unwrap_or_else(|| cwd.to_path_buf());
    if files.is_empty() {
        let main = DEFAULT_FILES
            .iter()
            .map(|n| search_dir.join(n))
            .find(|p| p.exists())
            .ok_or_else(|| {
                ComposeError::NoFile(DEFAULT_FILES.join(", "), search_dir.display().to_string())
            })?;
        files.push(main);
        if let Some(o) = OVERRIDE_FILES
            .iter()
            .map(|n| search_dir.join(n))
            .find(|p| p.exists())
        {
            files.push(o);
        }
    }
    let dir = match &opts.project_dir {
        Some(d) => abs(d),
        None => files[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.to_path_buf()),
    };

    // variables: the env file(s), then the shell over them
    let mut vars: IndexMap<String, String> = IndexMap::new();
    let env_files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let d = dir.join(".env");
        if d.is_file() {
            vec![d]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.iter().map(|f| abs(f)).collect()
    };
    for f in &env_files {
        for (k, v) in envfile::read(f)? {
            let v = v.or_else(|| shell.get(&k).cloned()).unwrap_or_default();
            vars.insert(k, v);
        }
    }
    for (k, v) in shell {
        vars.insert(k.clone(), v.clone());
    }

    let mut merged = Value::Object(Default::default());
    for f in &files {
        let mut doc = read_yaml(f)?;
        let fname = f.display().to_string();
        interpolate::interpolate_value(&mut doc, &vars, "").map_err(|(path, message)| {
            ComposeError::Interpolation {
                file: fname.clone(),
                path,
                message,
            }
        })?;
        normalize::normalize_file(&mut doc, &fname)?;
        model::check_implemented(&doc).map_err(|e| prefix_file(e, &fname))?;
        merge::merge_files(&mut merged, doc);
    }
    let mut warnings = Vec::new();
    let mut model = model::from_value(merged)?;
    if model.version.take().is_some() {
        warnings.push("the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion".into());
    }

    let name_src = opts
        .project_name
        .clone()
        .map(|n| (n, true))
        .or_else(|| {
            vars.get("COMPOSE_PROJECT_NAME")
                .filter(|v| !v.is_empty())
                .map(|n| (n.clone(), true))
        })
        .or_else(|| model.name.clone().map(|n| (n, true)));
    let name = match name_src {
        Some((n, _)) => {
            if !valid_name(&n) {
                return Err(invalid(
                    "name",
                    format!("invalid project name {n:?}: must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"),
                ));
            }
            n
        }
        None => {
            let base = dir
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let n = normalize_name(&base);
            if !valid_name(&n) {
                return Err(invalid(
                    "name",
                    format!("project name {base:?} (from the directory) is invalid: use -p"),
                ));
            }
            n
        }
    };
    model.name = Some(name.clone());

    let active: Vec<String> = if opts.profiles.is_empty() {
        vars.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.clone()
    };
    let mut disabled = Vec::new();
    model.services.retain(|n, s| {
        let on = s.profiles.is_empty()
            || s.profiles.iter().any(|p| active.contains(p) || p == "*")
            || active.iter().any(|a| a == "*");
        if !on {
            disabled.push(n.clone());
        }
        on
    });

    for (sname, svc) in model.services.iter_mut() {
        resolve_service(sname, svc, &dir, &vars)?;
    }
    let project = Project {
        name,
        dir,
        files,
        model,
        disabled,
        warnings,
    };
    crate::validate::validate(&project)?;
    Ok(project)
}

fn prefix_file(e: ComposeError, file: &str) -> ComposeError {
    match e {
        ComposeError::Invalid { path, message } => invalid(format!("{file}: {path}"), message),
        other => other,
    }
}

/// Reads env files into the environment, takes `null` variables from the shell, makes
/// relative paths absolute.
fn resolve_service(
    name: &str,
    svc: &mut Service,
    dir: &Path,
    vars: &IndexMap<String, String>,
) -> Result<()> {
    let mut env: IndexMap<String, Option<String>> = IndexMap::new();
    for f in &svc.env_file {
        let p = resolve_path(dir, f);
        for (k, v) in envfile::read(&p)
            .map_err(|e| invalid(format!("services.{name}.env_file"), e.to_string()))?
        {
            env.insert(k, v);
        }
    }
    for (k, v) in svc.environment.drain(..) {
        env.insert(k, v);
    }
    svc.environment = env
        .into_iter()
        .filter_map(|(k, v)| match v {
            Some(v) => Some((k, Some(v))),
            None => vars.get(&k).map(|v| (k, Some(v.clone()))),
        })
        .collect();
    svc.env_file.clear();
    if let Some(b) = svc.build.as_mut() {
        b.context = resolve_path(dir, &b.context).display().to_string();
        for (k, v) in b.args.iter_mut() {
            if v.is_none() {
                *v = vars.get(k).cloned();
            }
        }
        b.args.retain(|_, v| v.is_some());
    }
    for v in svc.volumes.iter_mut() {
        match v {
            VolumeEntry::Short(s) => {
                let mut parts: Vec<String> = s.split(':').map(str::to_string).collect();
                if parts.len() >= 2 && is_path(&parts[0]) {
                    parts[0] = resolve_path(dir, &parts[0]).display().to_string();
                    *s = parts.join(":");
                }
            }
            VolumeEntry::Long(l) if l.kind == "bind" => {
                if let Some(src) = l.source.as_mut() {
                    *src = resolve_path(dir, src).display().to_string();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a short volume source is a host path (else a volume name).
pub fn is_path(src: &str) -> bool {
    src.starts_with('/') || src.starts_with('.') || src.starts_with('~')
}

fn resolve_path(dir: &Path, p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Ok(home) = std::env::var("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let joined = if Path::new(p).is_absolute() {
        PathBuf::from(p)
    } else {
        dir.join(p)
    };
    // lexical clean-up of `.` and `..` (the path need not exist yet)
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl Project {
    /// The daemon-side name of a network key.
    pub fn network_name(&self, key: &str) -> String {
        match self.model.networks.get(key).and_then(|n| n.as_ref()) {
            Some(n) if n.name.is_some() => n.name.clone().unwrap_or_default(),
            Some(n) if n.external => key.to_string(),
            _ => format!("{}_{key}", self.name),
        }
    }

    /// The daemon-side name of a volume key.
    pub fn volume_name(&self, key: &str) -> String {
        match self.model.volumes.get(key).and_then(|v| v.as_ref()) {
            Some(v) if v.name.is_some() => v.name.clone().unwrap_or_default(),
            Some(v) if v.external => key.to_string(),
            _ => format!("{}_{key}", self.name),
        }
    }

    /// The name of replica `n` of a service.
    pub fn container_name(&self, service: &str, n: u32) -> String {
        match &self.model.services[service].container_name {
            Some(c) => c.clone(),
            None => format!("{}-{service}-{n}", self.name),
        }
    }

    /// The image a service runs: its `image`, or `<project>-<service>` for a build.
    pub fn image_of(&self, service: &str) -> String {
        let s = &self.model.services[service];
        s.image
            .clone()
            .unwrap_or_else(|| format!("{}-{service}", self.name))
    }

    /// The network keys a service is attached to, in order (`default` when none are given).
    pub fn service_networks(&self, service: &str) -> Vec<String> {
        match &self.model.services[service].networks {
            Some(m) => m.keys().cloned().collect(),
            None => vec!["default".to_string()],
        }
    }

    /// Network keys used by some service or declared (`default` only when used).
    pub fn used_networks(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.model.services.keys() {
            for n in self.service_networks(s) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        for n in self.model.networks.keys() {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        out
    }
}

/// Renders a model as YAML (`compose config`).
pub fn to_yaml(model: &ComposeFile) -> Result<String> {
    serde_saphyr::to_string(model).map_err(|e| invalid("", format!("cannot render YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("compose-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn finds_files_env_and_name() {
        let d = tmp("My_App");
        write(&d, "compose.yaml", "services:\n  web:\n    image: ${IMG:-busybox}\n    environment:\n      - FROM_SHELL\n      - FIXED=1\n    volumes: [./data:/data, named:/n, /anon]\nvolumes:\n  named: {}\n");
        write(
            &d,
            "compose.override.yaml",
            "services:\n  web:\n    environment:\n      FIXED: 2\n",
        );
        write(&d, ".env", "IMG=alpine\n");
        let mut shell = IndexMap::new();
        shell.insert("FROM_SHELL".to_string(), "s".to_string());
        let p = load(&Options::default(), &shell, &d).unwrap();
        assert_eq!(
            p.name,
            normalize_name(&d.file_name().unwrap().to_string_lossy())
        );
        assert!(p.name.starts_with("compose-unit-my_app-"));
        assert_eq!(p.files.len(), 2);
        let web = &p.model.services["web"];
        assert_eq!(web.image.as_deref(), Some("alpine"));
        assert_eq!(web.environment["FIXED"].as_deref(), Some("2"));
        assert_eq!(web.environment["FROM_SHELL"].as_deref(), Some("s"));
        assert_eq!(
            web.volumes[0],
            VolumeEntry::Short(format!("{}/data:/data", d.display()))
        );
        assert_eq!(p.volume_name("named"), format!("{}_named", p.name));
        assert_eq!(p.container_name("web", 2), format!("{}-web-2", p.name));
        shell.insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
        assert_eq!(
            load(&Options::default(), &shell, &d).unwrap().name,
            "fromenv"
        );
        let o = Options {
            project_name: Some("cli".into()),
            ..Default::default()
        };
        assert_eq!(load(&o, &shell, &d).unwrap().name, "cli");
        let o = Options {
            project_name: Some("Bad Name".into()),
            ..Default::default()
        };
        assert!(load(&o, &shell, &d).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn env_file_flag_profiles_and_errors() {
        let d = tmp("prof");
        write(&d, "a.yml", "name: named\nservices:\n  web:\n    image: busybox\n    env_file: vars.env\n  dbg:\n    image: busybox\n    profiles: [debug]\n");
        write(&d, "vars.env", "K=from-file\n");
        write(&d, "custom.env", "TAG=9\n");
        let shell = IndexMap::new();
        let o = Options {
            files: vec![d.join("a.yml")],
            ..Default::default()
        };
        let p = load(&o, &shell, &d).unwrap();
        assert_eq!(p.name, "named");
        assert_eq!(
            p.model.services["web"].environment["K"].as_deref(),
            Some("from-file")
        );
        assert!(!p.model.services.contains_key("dbg"));
        assert_eq!(p.disabled, vec!["dbg".to_string()]);
        let o2 = Options {
            files: vec![d.join("a.yml")],
            profiles: vec!["debug".into()],
            ..Default::default()
        };
        assert!(load(&o2, &shell, &d)
            .unwrap()
            .model
            .services
            .contains_key("dbg"));

        write(
            &d,
            "b.yml",
            "services:\n  web:\n    image: \"busybox:${TAG:?TAG is required}\"\n",
        );
        let o = Options {
            files: vec![d.join("b.yml")],
            ..Default::default()
        };
        let e = load(&o, &shell, &d).unwrap_err().to_string();
        assert!(
            e.contains("b.yml")
                && e.contains("services.web.image")
                && e.contains("TAG is required"),
            "{e}"
        );
        let o = Options {
            files: vec![d.join("b.yml")],
            env_files: vec![d.join("custom.env")],
            ..Default::default()
        };
        assert_eq!(
            load(&o, &shell, &d).unwrap().model.services["web"]
                .image
                .as_deref(),
            Some("busybox:9")
        );

        write(&d, "c.yml", "services:\n  web:\n    image: [unclosed\n");
        let o = Options {
            files: vec![d.join("c.yml")],
            ..Default::default()
        };
        let e = load(&o, &shell, &d).unwrap_err().to_string();
        assert!(e.contains("c.yml") && e.contains("invalid YAML"), "{e}");

        write(&d, "d.yml", "version: '3'\nx-base: &base\n  image: busybox\n  restart: always\nservices:\n  web:\n    <<: *base\n    command: echo hi\n");
        let o = Options {
            files: vec![d.join("d.yml")],
            ..Default::default()
        };
        let p = load(&o, &shell, &d).unwrap();
        assert_eq!(p.model.services["web"].image.as_deref(), Some("busybox"));
        assert_eq!(p.model.services["web"].restart.as_deref(), Some("always"));
        assert_eq!(p.warnings.len(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
