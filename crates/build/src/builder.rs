//! The builder: runs the stages a target needs (independent stages concurrently), one image
//! per step like docker's classic builder, with the persistent layer cache.

use crate::cache::{Cache, CacheKey, ContentHasher};
use crate::context::Context;
use crate::copy::{self, Attrs};
use crate::error::{BuildError, Result};
use crate::parser::{self, Args, Instruction};
use crate::run::{self, RunSpec};
use crate::shell;
use crate::stages::{self, Plan};
use image::manifest::Manifest;
use image::{ContainerConfig, Digest, History, ImageRecord, ImageStore, NewImage, Snapshotter};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Options of one build (`POST /build` query parameters).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Dockerfile path inside the context (default `Dockerfile`).
    pub dockerfile: String,
    /// Tags to apply to the result.
    pub tags: Vec<String>,
    /// `--build-arg` values (`None`: take it from the environment, i.e. unset here).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--target`.
    pub target: Option<String>,
    /// `--label`s added to the final image.
    pub labels: BTreeMap<String, String>,
    /// RUN network: `none` (default) or `host`.
    pub network: String,
}

/// Progress of a build, in the order the classic builder reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Text for the client (`{"stream": …}`).
    Stream(String),
    /// The id of the final image (`{"aux":{"ID":…}}`).
    Aux(String),
}

/// Where the builder finds the daemon's parts.
pub struct Env<'a> {
    /// The image store.
    pub store: &'a ImageStore,
    /// The snapshotter.
    pub snapshots: &'a Snapshotter,
    /// The OCI runtime.
    pub runtime: PathBuf,
    /// The runtime's `--root`.
    pub runtime_root: PathBuf,
    /// `D/build` (cache db, bundles).
    pub build_root: PathBuf,
    /// Pulls an image that is not present locally (FROM / COPY --from); `None`: such a build
    /// fails with a clear error. Called from the build thread; may block.
    pub pull: Option<PullFn<'a>>,
}

/// See [`Env::pull`]: pulls `reference` into the store, or says why not.
pub type PullFn<'a> = &'a (dyn Fn(&str) -> std::result::Result<(), String> + Sync);

impl<'a> Env<'a> {
    /// The environment of `engine`'s daemon.
    pub fn of(engine: &'a engine::Engine) -> Env<'a> {
        let cfg = engine.config();
        Env {
            store: &engine.images.store,
            snapshots: &engine.images.snapshots,
            runtime: cfg.runtime.clone(),
            runtime_root: cfg.exec_root.join("runtime"),
            build_root: cfg.data_root.join("build"),
            pull: None,
        }
    }
}

/// Parses an ARG instruction into (name, default).
pub fn parse_arg(
    ins: &Instruction,
    escape: char,
    env: shell::Lookup<'_>,
) -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for raw in shell::split_raw(&ins.text(), escape) {
        let (k, v) = match raw.split_once('=') {
            Some((k, v)) => (
                k.to_string(),
                Some(shell::word(v, escape, env).map_err(|e| at(ins, e))?),
            ),
            None => (raw.clone(), None),
        };
        if k.is_empty() {
            return Err(at(
                ins,
                BuildError::Syntax("ARG names can not be blank".into()),
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn at(ins: &Instruction, e: BuildError) -> BuildError {
    match e {
        BuildError::Parse { .. } => e,
        other => BuildError::Parse {
            line: ins.line,
            message: other.to_string(),
        },
    }
}

fn step_err(ins: &Instruction, msg: impl std::fmt::Display) -> BuildError {
    BuildError::Step(format!("{} (line {}: {})", msg, ins.line, ins.original))
}

fn random_hex() -> String {
    let b: [u8; 32] = rand::random();
    hex::encode(b)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..12.min(h.len())]
}

/// Removes what builds of an earlier daemon process left behind (a crash or kill mid-build):
/// runtime containers and bundles under `D/build/run`, `build-*` snapshots, unpacked contexts
/// other than `keep`. Runs once per process, before its first build.
fn cleanup_stale(env: &Env<'_>, keep: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(rd) = std::fs::read_dir(env.build_root.join("run")) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = std::process::Command::new(&env.runtime)
                    .arg("--root")
                    .arg(&env.runtime_root)
                    .args(["delete", "--force", &id])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        if let Ok(p) = env.snapshots.path("x") {
            if let Some(dir) = p.parent() {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let key = e.file_name().to_string_lossy().into_owned();
                    if key.starts_with("build-") {
                        let _ = env.snapshots.remove(&key);
                    }
                }
            }
        }
        // Contexts of this process (being unpacked by concurrent requests) are newer than it.
        let started = std::fs::metadata("/proc/self")
            .and_then(|m| m.modified())
            .ok();
        if let (Ok(rd), Some(started)) = (std::fs::read_dir(env.build_root.join("ctx")), started) {
            for e in rd.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < started);
                if e.path() != keep && old {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    });
}

/// Builds the image described by the context; returns the final image id. Nothing is tagged
/// unless every step succeeded.
pub fn build(
    env: &Env<'_>,
    ctx: &Context,
    opts: &BuildOptions,
    emit: &(dyn Fn(Event) + Sync),
) -> Result<String> {
    let dockerfile = if opts.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        &opts.dockerfile
    };
    cleanup_stale(env, ctx.dir());
    for t in &opts.tags {
        image::Reference::parse(t)
            .map_err(|e| BuildError::Invalid(format!("invalid tag {t:?}: {e}")))?;
    }
    // the Dockerfile is resolved inside the context: a symlink to a host file is not read
    let text = safepath::Root::open(ctx.dir())
        .and_then(|r| r.open_file(crate::ignore::clean(dockerfile)))
        .ok()
        .and_then(|mut f| {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut f, &mut t)
                .ok()
                .map(|_| t)
        })
        .ok_or_else(|| {
            BuildError::Invalid(format!("Cannot locate specified Dockerfile: {dockerfile}"))
        })?;
    let df = parser::parse(&text)?;
    let given: BTreeMap<String, String> = opts
        .build_args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let mut plan = stages::plan(&df, &given)?;
    let target = plan.target(opts.target.as_deref())?;
    if !opts.labels.is_empty() {
        let text = opts
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let original = format!("LABEL {text}");
        plan.stages[target].instructions.push(Instruction {
            line: 0,
            keyword: "LABEL".into(),
            flags: Vec::new(),
            args: Args::Shell(text),
            heredocs: Vec::new(),
            original,
        });
    }
    let needed = plan.needed(target);
    let total: usize = needed
        .iter()
        .map(|&i| plan.stages[i].instructions.len() + 1)
        .sum();
    let cache = Cache::open(&env.build_root.join("cache.redb"))?;
    let shared = Shared {
        env,
        ctx,
        opts,
        plan: &plan,
        escape: df.escape,
        cache,
        emit,
        step: AtomicUsize::new(0),
        total,
        results: Mutex::new(HashMap::new()),
        used_args: Mutex::new(Vec::new()),
    };
    // Waves of stages whose dependencies are built run concurrently.
    let mut done: Vec<usize> = Vec::new();
    while done.len() < needed.len() {
        let wave: Vec<usize> = needed
            .iter()
            .copied()
            .filter(|i| !done.contains(i))
            .filter(|&i| plan.stages[i].deps.iter().all(|d| done.contains(d)))
            .collect();
        if wave.is_empty() {
            return Err(BuildError::Internal("stage dependency cycle".into()));
        }
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let hs: Vec<_> = wave
                .iter()
                .map(|&i| {
                    let sh = &shared;
                    s.spawn(move || sh.build_stage(i))
                })
                .collect();
            hs.into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(BuildError::Internal("build thread panicked".into()))
                    })
                })
                .collect()
        });
        for r in results {
            r?;
        }
        done.extend(wave);
    }
    let final_id = shared
        .results
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&target)
        .cloned()
        .flatten()
        .ok_or_else(|| {
            BuildError::Invalid(
                "the target stage produced no image (FROM scratch with nothing in it)".into(),
            )
        })?;
    let used = shared
        .used_args
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| {
            !used.contains(k)
                && !plan.meta_args.contains_key(*k)
                && !PREDEFINED_ARGS.contains(&k.as_str())
        })
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        emit(Event::Stream(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            names.join(" ")
        )));
    }
    emit(Event::Aux(final_id.clone()));
    emit(Event::Stream(format!(
        "Successfully built {}\n",
        short(&final_id)
    )));
    for t in &opts.tags {
        env.store.tag(&final_id, t)?;
        let fam = image::Reference::parse(t)
            .map(|r| r.familiar())
            .unwrap_or_else(|_| t.clone());
        emit(Event::Stream(format!("Successfully tagged {fam}\n")));
    }
    Ok(final_id)
}

/// Build args docker accepts without an ARG instruction.
const PREDEFINED_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn quote(s: &str) -> String {
    if s.is_empty()
        || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '$' || c == '\\')
    {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        )
    } else {
        s.to_string()
    }
}

struct Shared<'a> {
    env: &'a Env<'a>,
    ctx: &'a Context,
    opts: &'a BuildOptions,
    plan: &'a Plan,
    escape: char,
    cache: Arc<Cache>,
    emit: &'a (dyn Fn(Event) + Sync),
    step: AtomicUsize,
    total: usize,
    /// Stage index → its final image id (None: empty scratch).
    results: Mutex<HashMap<usize, Option<String>>>,
    used_args: Mutex<Vec<String>>,
}

/// The state of a stage between steps.
struct StageState {
    /// Current image (None: scratch with no step yet).
    image: Option<ImageRecord>,
    /// ARGs declared in the stage with their values.
    args: BTreeMap<String, Option<String>>,
    /// Whether any step missed the cache (later steps then skip the lookup, like docker).
    busted: bool,
    /// The stage's index.
    stage: usize,
    /// Whether this stage set CMD itself (ENTRYPOINT resets an inherited CMD only).
    cmd_set: bool,
}

impl StageState {
    fn config(&self) -> ContainerConfig {
        self.image
            .as_ref()
            .map(|r| r.container_config())
            .unwrap_or_default()
    }

    fn env_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (k, v) in &self.args {
            if let Some(v) = v {
                m.insert(k.clone(), v.clone());
            }
        }
        for e in self.config().env.unwrap_or_default() {
            if let Some((k, v)) = e.split_once('=') {
                m.insert(k.to_string(), v.to_string());
            }
        }
        m
    }

    fn args_in_effect(&self) -> Vec<String> {
        self.args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect()
    }
}

impl Shared<'_> {
    fn emit(&self, s: impl Into<String>) {
        (self.emit)(Event::Stream(s.into()))
    }

    fn begin(&self, ins: &Instruction) {
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        self.emit(format!("Step {n}/{} : {}\n", self.total, ins.original));
    }

    fn build_stage(&self, idx: usize) -> Result<()> {
        let stage = &self.plan.stages[idx];
        self.begin(&stage.from);
        let mut st = StageState {
            image: self.base_image(idx)?,
            args: BTreeMap::new(),
            busted: self.opts.no_cache,
            stage: idx,
            cmd_set: false,
        };
        match &st.image {
            Some(r) => self.emit(format!(" ---> {}\n", short(&r.id))),
            None => self.emit(" ---> \n"),
        }
        // ONBUILD triggers of the base run first.
        let triggers: Vec<String> = st
            .config()
            .extra
            .get("OnBuild")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        if !triggers.is_empty() {
            let n = triggers.len();
            let s = if n == 1 { "" } else { "s" };
            self.emit(format!("# Executing {n} build trigger{s}\n"));
        }
        for t in triggers {
            let df = parser::parse(&t)?;
            for mut ins in df.instructions {
                ins.line = stage.from.line;
                self.step(&mut st, &ins, false)?;
            }
        }
        if st
            .image
            .as_ref()
            .is_some_and(|r| r.container_config().extra.contains_key("OnBuild"))
        {
            // Triggers are not inherited by the child image.
            let mut cc = st.config();
            cc.extra.remove("OnBuild");
            st.image = Some(self.commit_config(
                st.image.as_ref(),
                cc,
                "/bin/sh -c #(nop) ONBUILD cleared".into(),
            )?);
        }
        for ins in &stage.instructions {
            self.begin(ins);
            self.step(&mut st, ins, true)?;
        }
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(idx, st.image.map(|r| r.id));
        Ok(())
    }

    /// Resolves the FROM of stage `idx`: scratch, an earlier stage, a local image or a pull.
    fn base_image(&self, idx: usize) -> Result<Option<ImageRecord>> {
        let stage = &self.plan.stages[idx];
        let base = &stage.base;
        if base.eq_ignore_ascii_case("scratch") {
            return Ok(None);
        }
        if let Some(d) = self.plan.lookup(base, idx) {
            let id = self
                .results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&d)
                .cloned()
                .flatten();
            return match id {
                Some(id) => Ok(Some(self.env.store.get(&id)?)),
                None => Ok(None),
            };
        }
        self.image(base)
            .map(Some)
            .map_err(|e| step_err(&stage.from, e))
    }

    /// A local image, pulled from its registry when absent.
    fn image(&self, name: &str) -> Result<ImageRecord> {
        match self.env.store.get(name) {
            Ok(r) => return Ok(r),
            Err(image::ImageError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(pull) = self.env.pull else {
            return Err(BuildError::Invalid(format!(
                "pull access denied for {name}: the image is not present locally (this daemon cannot pull during builds; pull or import it first)"
            )));
        };
        self.emit(format!("Pulling {name} (not present locally)\n"));
        pull(name).map_err(|e| {
            BuildError::Invalid(format!(
                "image {name} is not present locally and pulling it failed: {e}"
            ))
        })?;
        Ok(self.env.store.get(name)?)
    }

    /// One instruction of a stage.
    fn step(&self, st: &mut StageState, ins: &Instruction, _report: bool) -> Result<()> {
        let env_map = st.env_map();
        let lookup = |k: &str| env_map.get(k).cloned();
        let word = |s: &str| shell::word(s, self.escape, &lookup).map_err(|e| at(ins, e));
        let words = |s: &str| shell::words(s, self.escape, &lookup).map_err(|e| at(ins, e));
        let mut cc = st.config();
        let kw = ins.keyword.as_str();
        // ARG only changes the builder state (and history).
        if kw == "ARG" {
            for (k, v) in parse_arg(ins, self.escape, &lookup)? {
                let provided = self.opts.build_args.get(&k).cloned().flatten();
                let meta = self.plan.meta_args.get(&k).cloned().flatten();
                let val = provided.or(v).or(meta);
                self.used_args
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(k.clone());
                st.args.insert(k, val);
            }
            let created_by = format!("/bin/sh -c #(nop)  {}", ins.original);
            return self.metadata_step(st, ins, cc, created_by);
        }
        match kw {
            "RUN" => return self.run_step(st, ins, cc),
            "COPY" | "ADD" => return self.copy_step(st, ins, cc, &lookup),
            "CMD" | "ENTRYPOINT" => {
                let v = match &ins.args {
                    Args::Exec(v) => v.clone(),
                    Args::Shell(s) => {
                        let mut sh = shell_of(&cc);
                        sh.push(s.clone());
                        sh
                    }
                };
                if kw == "CMD" {
                    cc.cmd = Some(v);
                    st.cmd_set = true;
                } else {
                    cc.entrypoint = Some(v);
                    // Like docker: an ENTRYPOINT resets an inherited CMD.
                    if !st.cmd_set {
                        cc.cmd = None;
                    }
                }
            }
            "ENV" => {
                let mut envs = cc.env.clone().unwrap_or_default();
                for (k, v) in key_values(ins, self.escape, &lookup, true)? {
                    envs.retain(|e| e.split_once('=').map(|(a, _)| a) != Some(k.as_str()));
                    envs.push(format!("{k}={v}"));
                }
                cc.env = Some(envs);
            }
            "LABEL" => {
                let mut l = cc.labels.clone().unwrap_or_default();
                for (k, v) in key_values(ins, self.escape, &lookup, false)? {
                    l.insert(k, v);
                }
                cc.labels = Some(l);
            }
            "MAINTAINER" => {
                // Stored as the image author.
                let author = word(&ins.text())?;
                return self.metadata_step_with(st, ins, cc, Some(author));
            }
            "WORKDIR" => {
                let w = word(&ins.text())?;
                let base = cc.working_dir.clone().unwrap_or_else(|| "/".into());
                let p = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{}", base.trim_end_matches('/'), w)
                };
                let dir = format!("/{}", crate::ignore::clean(&p));
                cc.working_dir = Some(dir.clone());
                let created_by = format!("/bin/sh -c #(nop) WORKDIR {dir}");
                return self.workdir_step(st, ins, cc, &dir, created_by);
            }
            "USER" => cc.user = Some(word(&ins.text())?),
            "EXPOSE" => {
                let mut ports = cc.exposed_ports.clone().unwrap_or_default();
                for p in words(&ins.text())? {
                    let (port, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                    let proto = proto.to_ascii_lowercase();
                    let ok = !port.is_empty()
                        && port.split('-').all(|x| x.parse::<u16>().is_ok())
                        && matches!(proto.as_str(), "tcp" | "udp" | "sctp");
                    if !ok {
                        return Err(at(
                            ins,
                            BuildError::Syntax(format!("invalid containerPort: {p}")),
                        ));
                    }
                    ports.insert(format!("{port}/{proto}"), json!({}));
                }
                cc.exposed_ports = Some(ports);
            }
            "VOLUME" => {
                let vols = match &ins.args {
                    Args::Exec(v) => v.clone(),
                    Args::Shell(s) => words(s)?,
                };
                let mut m = cc.volumes.clone().unwrap_or_default();
                for v in vols {
                    if v.trim().is_empty() {
                        return Err(at(
                            ins,
                            BuildError::Syntax(
                                "VOLUME specified can not be an empty string".into(),
                            ),
                        ));
                    }
                    m.insert(v, json!({}));
                }
                cc.volumes = Some(m);
            }
            "STOPSIGNAL" => cc.stop_signal = Some(word(&ins.text())?),
            "SHELL" => match &ins.args {
                Args::Exec(v) if !v.is_empty() => {
                    cc.extra.insert("Shell".into(), json!(v));
                }
                _ => {
                    return Err(at(
                        ins,
                        BuildError::Syntax(
                            "SHELL requires the arguments to be in JSON form".into(),
                        ),
                    ))
                }
            },
            "ONBUILD" => {
                let t = ins.text();
                let inner = t
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(at(
                        ins,
                        BuildError::Syntax(format!("{inner} isn't allowed as an ONBUILD trigger")),
                    ));
                }
                parser::parse(&t).map_err(|e| at(ins, BuildError::Syntax(e.to_string())))?;
                let mut list: Vec<Value> = cc
                    .extra
                    .get("OnBuild")
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default();
                list.push(json!(t));
                cc.extra.insert("OnBuild".into(), Value::Array(list));
            }
            "HEALTHCHECK" => {
                let hc = healthcheck(ins, &cc)?;
                cc.extra.insert("Healthcheck".into(), hc);
            }
            other => {
                return Err(at(
                    ins,
                    BuildError::Syntax(format!("unknown instruction: {other}")),
                ))
            }
        }
        let created_by = format!("/bin/sh -c #(nop)  {}", ins.original);
        self.metadata_step(st, ins, cc, created_by)
    }

    fn cache_lookup(&self, st: &StageState, key: &str) -> Result<Option<ImageRecord>> {
        if st.busted {
            return Ok(None);
        }
        let Some(id) = self.cache.get(key)? else {
            return Ok(None);
        };
        Ok(self.env.store.get(&id).ok())
    }

    fn key(&self, st: &StageState, ins: &Instruction, content: &str) -> String {
        let args = st.args_in_effect();
        let parent = st.image.as_ref().map(|r| r.id.as_str()).unwrap_or("");
        let heredocs: String = ins
            .heredocs
            .iter()
            .map(|h| format!("\n{}\n{}", h.name, h.content))
            .collect();
        let text = format!("{}{}", ins.original, heredocs);
        CacheKey {
            parent,
            instruction: &text,
            args: &args,
            content,
        }
        .digest()
    }

    /// Either reuses the cached result of `key` or runs `make` and records it.
    fn cached(
        &self,
        st: &mut StageState,
        key: &str,
        make: impl FnOnce(&mut StageState) -> Result<ImageRecord>,
    ) -> Result<()> {
        if let Some(hit) = self.cache_lookup(st, key)? {
            self.emit(" ---> Using cache\n");
            self.emit(format!(" ---> {}\n", short(&hit.id)));
            st.image = Some(hit);
            return Ok(());
        }
        st.busted = true;
        let rec = make(st)?;
        self.cache.put(key, &rec.id)?;
        self.emit(format!(" ---> {}\n", short(&rec.id)));
        st.image = Some(rec);
        Ok(())
    }

    fn metadata_step(
        &self,
        st: &mut StageState,
        ins: &Instruction,
        cc: ContainerConfig,
        created_by: String,
    ) -> Result<()> {
        let key = self.key(st, ins, "");
        self.cached(st, &key, |st| {
            self.commit_config(st.image.as_ref(), cc, created_by)
        })
    }

    fn metadata_step_with(
        &self,
        st: &mut StageState,
        ins: &Instruction,
        cc: ContainerConfig,
        author: Option<String>,
    ) -> Result<()> {
        let key = self.key(st, ins, "");
        let created_by = format!("/bin/sh -c #(nop)  {}", ins.original);
        self.cached(st, &key, |st| {
            self.commit_config_full(st.image.as_ref(), cc, created_by, author)
        })
    }

    fn commit_config(
        &self,
        base: Option<&ImageRecord>,
        cc: ContainerConfig,
        created_by: String,
    ) -> Result<ImageRecord> {
        self.commit_config_full(base, cc, created_by, None)
    }

    /// A config-only image on top of `base` (history row with `empty_layer`).
    fn commit_config_full(
        &self,
        base: Option<&ImageRecord>,
        cc: ContainerConfig,
        created_by: String,
        author: Option<String>,
    ) -> Result<ImageRecord> {
        let store = self.env.store;
        let created = now();
        let mut config = match base {
            Some(b) => b.config.clone(),
            None => {
                let (arch, variant) = image::config::host_platform();
                image::ImageConfig {
                    architecture: arch.to_string(),
                    os: "linux".into(),
                    variant: variant.map(str::to_string),
                    ..Default::default()
                }
            }
        };
        config.created = Some(created.clone());
        if author.is_some() {
            config.author = author.clone();
        }
        config.config = Some(cc);
        config.history.push(History {
            created: Some(created.clone()),
            created_by: Some(created_by),
            author: author.or_else(|| config.author.clone()),
            comment: None,
            empty_layer: Some(true),
        });
        let config_bytes =
            serde_json::to_vec(&config).map_err(|e| BuildError::Internal(e.to_string()))?;
        let base_manifest: Option<Manifest> = base.and_then(|b| {
            Digest::parse(&b.manifest_digest)
                .and_then(|d| store.content().read(&d))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        });
        let layers = match (&base_manifest, base) {
            (Some(m), _) => m.layers.clone(),
            (None, Some(b)) => b
                .config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| image::manifest::Descriptor {
                    media_type: image::manifest::MEDIA_TYPE_OCI_LAYER_TAR.into(),
                    digest: d.clone(),
                    size: 0,
                    annotations: None,
                    platform: None,
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        let blobs: Vec<Digest> = layers
            .iter()
            .filter_map(|l| Digest::parse(&l.digest).ok())
            .filter(|d| store.content().exists(d))
            .collect();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(image::manifest::MEDIA_TYPE_OCI_MANIFEST.into()),
            config: image::manifest::Descriptor {
                media_type: image::config::MEDIA_TYPE_OCI_CONFIG.into(),
                digest: Digest::of(&config_bytes).to_string(),
                size: config_bytes.len() as u64,
                annotations: None,
                platform: None,
            },
            layers,
            annotations: None,
        };
        let manifest_bytes =
            serde_json::to_vec(&manifest).map_err(|e| BuildError::Internal(e.to_string()))?;
        Ok(store.commit_image(NewImage {
            config: config_bytes,
            manifest: manifest_bytes,
            layers: Vec::new(),
            blobs,
            references: Vec::new(),
            created: Some(created),
        })?)
    }

    /// WORKDIR: like docker, the directory is created in the image when it does not exist
    /// (a layer); otherwise the step only changes the config.
    fn workdir_step(
        &self,
        st: &mut StageState,
        ins: &Instruction,
        cc: ContainerConfig,
        dir: &str,
        created_by: String,
    ) -> Result<()> {
        let key = self.key(st, ins, "");
        self.cached(st, &key, |st| {
            let id = random_hex();
            let snap = format!("build-{}", &id[..24]);
            let lowers = match &st.image {
                Some(r) => self.env.store.layer_dirs(r)?,
                None => Vec::new(),
            };
            let merged = self.env.snapshots.prepare(&snap, &lowers)?;
            let guard = SnapGuard {
                snaps: self.env.snapshots,
                key: snap.clone(),
            };
            let root = safepath::Root::open(&merged).map_err(|e| step_err(ins, e))?;
            if root.is_dir(dir) {
                drop(guard);
                return self.commit_config(st.image.as_ref(), cc, created_by);
            }
            root.mkdir_all(dir, 0o755).map_err(|e| step_err(ins, e))?;
            let rec = self.commit_snapshot(st, &snap, cc, created_by)?;
            drop(guard);
            Ok(rec)
        })
    }

    /// Mounts a fresh snapshot of the current image, lets `f` change it, commits the upper
    /// dir as a layer; the snapshot is removed whatever happens.
    fn with_snapshot(
        &self,
        st: &StageState,
        cc: ContainerConfig,
        created_by: String,
        f: impl FnOnce(&Path, &str) -> Result<()>,
    ) -> Result<ImageRecord> {
        let id = random_hex();
        let key = format!("build-{}", &id[..24]);
        let lowers = match &st.image {
            Some(r) => self.env.store.layer_dirs(r)?,
            None => Vec::new(),
        };
        let merged = self.env.snapshots.prepare(&key, &lowers)?;
        let guard = SnapGuard {
            snaps: self.env.snapshots,
            key: key.clone(),
        };
        f(&merged, &id)?;
        let rec = self.commit_snapshot(st, &key, cc, created_by)?;
        drop(guard);
        Ok(rec)
    }

    /// Unmounts snapshot `key` and commits its upper dir as a layer on the stage's image.
    fn commit_snapshot(
        &self,
        st: &StageState,
        key: &str,
        cc: ContainerConfig,
        created_by: String,
    ) -> Result<ImageRecord> {
        self.env.snapshots.unmount(key)?;
        let upper = self.env.snapshots.upper_dir(key)?;
        Ok(self.env.store.commit(
            st.image.as_ref(),
            &upper,
            image::CommitOptions {
                config: Some(cc),
                created_by: Some(created_by),
                ..Default::default()
            },
        )?)
    }

    fn run_step(&self, st: &mut StageState, ins: &Instruction, cc: ContainerConfig) -> Result<()> {
        for (k, _) in &ins.flags {
            if k != "network" {
                return Err(at(
                    ins,
                    BuildError::Syntax(format!(
                        "RUN --{k} is not supported by the classic builder"
                    )),
                ));
            }
        }
        let args = match &ins.args {
            Args::Exec(v) => v.clone(),
            Args::Shell(s) => {
                let mut sh = shell_of(&cc);
                let only_heredoc = ins.heredocs.len() == 1
                    && s.trim()
                        .trim_start_matches("<<")
                        .trim_start_matches('-')
                        .trim_matches(['"', '\''])
                        == ins.heredocs[0].name;
                if only_heredoc {
                    sh.push(ins.heredocs[0].content.clone());
                } else {
                    let mut cmd = s.clone();
                    for h in &ins.heredocs {
                        cmd.push('\n');
                        cmd.push_str(&h.content);
                        cmd.push_str(&h.name);
                    }
                    sh.push(cmd);
                }
                sh
            }
        };
        let build_args = st.args_in_effect();
        let created_by = if build_args.is_empty() {
            args.join(" ")
        } else {
            format!(
                "|{} {} {}",
                build_args.len(),
                build_args.join(" "),
                args.join(" ")
            )
        };
        let key = self.key(st, ins, "");
        let network = ins
            .flag("network")
            .map(str::to_string)
            .unwrap_or_else(|| self.opts.network.clone());
        let network = match network.as_str() {
            "" | "default" | "none" => "none",
            "host" => "host",
            other => {
                return Err(BuildError::Invalid(format!(
                    "network mode {other:?} is not supported for builds (use none or host)"
                )))
            }
        };
        // Environment: the image's ENV, then build args not overridden by it.
        let mut envs = cc.env.clone().unwrap_or_default();
        for (k, v) in st.args.iter() {
            if let Some(v) = v {
                if !envs
                    .iter()
                    .any(|e| e.split_once('=').map(|(a, _)| a) == Some(k.as_str()))
                {
                    envs.push(format!("{k}={v}"));
                }
            }
        }
        if !envs.iter().any(|e| e.starts_with("PATH=")) {
            envs.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        let user = cc.user.clone().unwrap_or_default();
        let cwd = cc
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        let cmd_text = args.join(" ");
        self.cached(st, &key, |st| {
            self.with_snapshot(st, cc.clone(), created_by, |rootfs, id| {
                self.emit(format!(" ---> Running in {}\n", &id[..12]));
                let spec = RunSpec {
                    id,
                    rootfs,
                    bundle: self.env.build_root.join("run").join(id),
                    args: args.clone(),
                    env: envs,
                    user: &user,
                    cwd: &cwd,
                    network,
                    runtime: &self.env.runtime,
                    runtime_root: self.env.runtime_root.clone(),
                };
                let out = |line: String| self.emit(line);
                let code = run::run(&spec, &out).map_err(|e| step_err(ins, e))?;
                if code != 0 {
                    return Err(BuildError::Step(format!(
                        "The command '{cmd_text}' returned a non-zero code: {code} (line {}: {})",
                        ins.line, ins.original
                    )));
                }
                self.emit(format!("Removing intermediate container {}\n", &id[..12]));
                Ok(())
            })
        })
    }

    fn copy_step(
        &self,
        st: &mut StageState,
        ins: &Instruction,
        cc: ContainerConfig,
        lookup: shell::Lookup<'_>,
    ) -> Result<()> {
        let is_add = ins.keyword == "ADD";
        for (k, _) in &ins.flags {
            let ok = matches!(k.as_str(), "chown" | "chmod" | "link") || (k == "from" && !is_add);
            if !ok {
                return Err(at(
                    ins,
                    BuildError::Syntax(format!("{} --{k} is not supported", ins.keyword)),
                ));
            }
        }
        let mut parts = match &ins.args {
            Args::Exec(v) => v.clone(),
            Args::Shell(s) => shell::words(s, self.escape, lookup).map_err(|e| at(ins, e))?,
        };
        if parts.len() < 2 {
            return Err(at(ins, BuildError::Syntax(format!("{} requires at least two arguments, but only one was provided. Destination could not be determined.", ins.keyword))));
        }
        let dest_raw = parts.pop().unwrap_or_default();
        let chmod = match ins.flag("chmod") {
            Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
                at(
                    ins,
                    BuildError::Syntax(format!("invalid chmod parameter: {m}")),
                )
            })?),
            None => None,
        };
        // Sources: the context, another stage, or an image.
        let mut from_mount: Option<(SnapGuard<'_>, PathBuf, String)> = None;
        if let Some(f) = ins.flag("from") {
            let f = shell::word(f, self.escape, lookup).map_err(|e| at(ins, e))?;
            let before = st.stage;
            let rec = match self.plan.lookup(&f, before) {
                Some(d) => {
                    let id = self
                        .results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&d)
                        .cloned()
                        .flatten();
                    match id {
                        Some(id) => Some(self.env.store.get(&id)?),
                        None => None,
                    }
                }
                None => Some(self.image(&f).map_err(|e| step_err(ins, e))?),
            };
            let key = format!("build-from-{}", &random_hex()[..24]);
            let lowers = match &rec {
                Some(r) => self.env.store.layer_dirs(r)?,
                None => Vec::new(),
            };
            let merged = self.env.snapshots.prepare(&key, &lowers)?;
            let id = rec.map(|r| r.id).unwrap_or_default();
            from_mount = Some((
                SnapGuard {
                    snaps: self.env.snapshots,
                    key,
                },
                merged,
                id,
            ));
        }
        let (root, what) = match &from_mount {
            Some((_, m, _)) => (m.clone(), "the source image".to_string()),
            None => (
                self.ctx.dir().to_path_buf(),
                "build context or excluded by .dockerignore".to_string(),
            ),
        };
        // Resolve and hash the sources.
        enum Src {
            Path(copy::Source),
            Heredoc(String, String),
        }
        let mut srcs = Vec::new();
        let mut hasher = ContentHasher::default();
        if let Some((_, _, id)) = &from_mount {
            hasher.bytes(id.as_bytes());
        }
        for s in &parts {
            if let Some(name) = s.strip_prefix("<<") {
                let name = name.trim_start_matches('-').trim_matches(['"', '\'']);
                let Some(h) = ins.heredocs.iter().find(|h| h.name == name) else {
                    return Err(at(
                        ins,
                        BuildError::Syntax(format!("no heredoc named {name}")),
                    ));
                };
                let content = if h.expand {
                    shell::word(&h.content.replace('"', "\\\""), self.escape, lookup)
                        .unwrap_or_else(|_| h.content.clone())
                } else {
                    h.content.clone()
                };
                hasher.bytes(name.as_bytes());
                hasher.bytes(content.as_bytes());
                srcs.push(Src::Heredoc(name.to_string(), content));
                continue;
            }
            if is_add
                && (s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@"))
            {
                return Err(step_err(ins, format!("ADD of a remote URL ({s}) is not supported: berth builds offline; download it into the context and COPY it")));
            }
            let src_root = safepath::Root::open(&root).map_err(|e| step_err(ins, e))?;
            for src in copy::resolve(&src_root, s, &what).map_err(|e| step_err(ins, e))? {
                hasher.path(&src.path, &src.name)?;
                srcs.push(Src::Path(src));
            }
        }
        let content = hasher.finish();
        let key = self.key(st, ins, &content);
        let workdir = cc.working_dir.clone().unwrap_or_else(|| "/".into());
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{}/{}", workdir.trim_end_matches('/'), dest_raw)
        };
        let dest_is_dir = dest_raw.ends_with('/') || dest_raw.ends_with("/.") || dest_raw == ".";
        if srcs.len() > 1 && !dest_is_dir {
            return Err(step_err(ins, format!("When using {} with more than one source file, the destination must be a directory and end with a /", ins.keyword)));
        }
        let created_by = format!(
            "/bin/sh -c #(nop) {} {}:{} in {} ",
            ins.keyword,
            if srcs.len() == 1 { "file" } else { "multi" },
            content,
            dest
        );
        let chown = ins.flag("chown").map(str::to_string);
        let res = self.cached(st, &key, |st| {
            self.with_snapshot(st, cc.clone(), created_by, |rootfs, _| {
                let owner = match &chown {
                    Some(c) => {
                        let c = shell::word(c, self.escape, lookup).map_err(|e| at(ins, e))?;
                        let u = engine::user::resolve(rootfs, &c).map_err(|e| step_err(ins, e))?;
                        (u.uid, u.gid)
                    }
                    None => (0, 0),
                };
                let attrs = Attrs { owner, mode: chmod };
                // the destination is resolved inside the image's rootfs
                let root = safepath::Root::open(rootfs).map_err(|e| step_err(ins, e))?;
                let into_dir = dest_is_dir || root.is_dir(&dest);
                let under = |base: &std::ffi::OsStr| {
                    format!("{}/{}", dest.trim_end_matches('/'), base.to_string_lossy())
                };
                for s in &srcs {
                    match s {
                        Src::Heredoc(name, content) => {
                            let target = if into_dir {
                                under(std::ffi::OsStr::new(name))
                            } else {
                                dest.clone()
                            };
                            copy::write_file(&root, &target, content.as_bytes(), attrs)?;
                        }
                        Src::Path(src) => {
                            let md = std::fs::symlink_metadata(&src.path)?;
                            if md.is_dir() {
                                copy::copy_dir(&src.path, &root, &dest, attrs)?;
                            } else if is_add && from_mount.is_none() && copy::is_archive(&src.path)
                            {
                                copy::extract(&src.path, &root, &dest)
                                    .map_err(|e| step_err(ins, e))?;
                            } else {
                                let target = if into_dir {
                                    under(&src.base)
                                } else {
                                    dest.clone()
                                };
                                copy::copy_to(&src.path, &root, &target, attrs)?;
                            }
                        }
                    }
                }
                Ok(())
            })
        });
        drop(from_mount);
        res
    }
}

/// Removes a build snapshot (unmounting it) when dropped.
struct SnapGuard<'a> {
    snaps: &'a Snapshotter,
    key: String,
}

impl Drop for SnapGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.snaps.remove(&self.key) {
            eprintln!("berth build: removing snapshot {}: {e}", self.key);
        }
    }
}

fn shell_of(cc: &ContainerConfig) -> Vec<String> {
    cc.extra
        .get("Shell")
        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// `k=v k2="v 2"` pairs (ENV, LABEL), or the legacy `ENV k v` form.
fn key_values(
    ins: &Instruction,
    escape: char,
    lookup: shell::Lookup<'_>,
    legacy: bool,
) -> Result<Vec<(String, String)>> {
    let text = ins.text();
    let raw = shell::split_raw(&text, escape);
    let mut out = Vec::new();
    if raw.first().is_some_and(|w| !w.contains('=')) {
        if !legacy {
            return Err(at(
                ins,
                BuildError::Syntax(format!(
                    "{}: key=value pairs required (no = in {:?})",
                    ins.keyword, raw[0]
                )),
            ));
        }
        let key = raw[0].clone();
        let rest = text.trim_start()[key.len()..].trim();
        let v = shell::word(rest, escape, lookup).map_err(|e| at(ins, e))?;
        return Ok(vec![(key, v)]);
    }
    for w in raw {
        let Some((k, v)) = w.split_once('=') else {
            return Err(at(
                ins,
                BuildError::Syntax(format!(
                    "{}: key=value pairs required (no = in {w:?})",
                    ins.keyword
                )),
            ));
        };
        let k = shell::word(k, escape, lookup).map_err(|e| at(ins, e))?;
        if k.is_empty() {
            return Err(at(
                ins,
                BuildError::Syntax(format!("{} names can not be blank", ins.keyword)),
            ));
        }
        let v = shell::word(v, escape, lookup).map_err(|e| at(ins, e))?;
        out.push((k, v));
    }
    Ok(out)
}

/// `HEALTHCHECK [--interval=…] CMD …` / `HEALTHCHECK NONE` as the config's Healthcheck.
fn healthcheck(ins: &Instruction, cc: &ContainerConfig) -> Result<Value> {
    let text = ins.text();
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let rest = t
        .strip_prefix("CMD")
        .or_else(|| t.strip_prefix("cmd"))
        .ok_or_else(|| {
            at(
                ins,
                BuildError::Syntax("HEALTHCHECK requires NONE or CMD".into()),
            )
        })?;
    let test = match serde_json::from_str::<Vec<String>>(rest.trim()) {
        Ok(v) => {
            let mut t = vec!["CMD".to_string()];
            t.extend(v);
            t
        }
        Err(_) => vec!["CMD-SHELL".to_string(), rest.trim().to_string()],
    };
    let _ = cc;
    let mut hc = json!({"Test": test});
    for (k, v) in &ins.flags {
        let field = match k.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| at(ins, BuildError::Syntax(format!("invalid --retries {v}"))))?;
                hc["Retries"] = json!(n);
                continue;
            }
            other => {
                return Err(at(
                    ins,
                    BuildError::Syntax(format!("unknown flag: --{other}")),
                ))
            }
        };
        hc[field] = json!(parse_duration(v)
            .ok_or_else(|| at(ins, BuildError::Syntax(format!("invalid duration {v}"))))?);
    }
    Ok(hc)
}

/// Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    let mut total: f64 = 0.0;
    let mut num = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    if s.is_empty() {
        return None;
    }
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            i += 1;
            continue;
        }
        let mut unit = String::new();
        while i < chars.len() && !chars[i].is_ascii_digit() {
            unit.push(chars[i]);
            i += 1;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let mul = match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mul;
    }
    if !num.is_empty() {
        return if total == 0.0 && num == "0" {
            Some(0)
        } else {
            None
        };
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_quotes() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("ab"), "ab");
    }

    #[test]
    fn env_forms() {
        let df = parser::parse("ENV A=1 B=\"x y\" C=${A}z\nENV D hello world\nLABEL a\n").unwrap();
        let e = |k: &str| {
            if k == "A" {
                Some("1".to_string())
            } else {
                None
            }
        };
        let kv = key_values(&df.instructions[0], '\\', &e, true).unwrap();
        assert_eq!(
            kv,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x y".into()),
                ("C".into(), "1z".into())
            ]
        );
        let kv = key_values(&df.instructions[1], '\\', &e, true).unwrap();
        assert_eq!(kv, vec![("D".into(), "hello world".into())]);
        assert!(key_values(&df.instructions[2], '\\', &e, false).is_err());
    }
}
