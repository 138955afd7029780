//! `berth-runtime`: a runc-compatible OCI runtime command line over the `runtime` crate.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use runtime::container::{self, CreateOptions, ExecOptions};
use runtime::oci_spec::runtime::{Process, Spec, UserBuilder};
use std::io::Write;
use std::path::PathBuf;

/// println! that never panics: a reader that went away (EPIPE) is not an error of ours.
macro_rules! outln {
    ($($t:tt)*) => {{
        let mut o = std::io::stdout().lock();
        match writeln!(o, $($t)*).and_then(|_| o.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r?,
        }
    }};
}

mod sealed;
mod users;

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    version,
    about = "berth's OCI runtime (runc-compatible CLI)"
)]
struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = "/run/berth-runtime")]
    root: PathBuf,
    /// Also write errors to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of --log lines.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// systemd cgroup driver (not supported).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for compatibility.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct CreateArgs {
    /// Bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket receiving the pty master.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// File to write the init pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Pass N extra fds (from 3).
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted for compatibility (no session keyring is created).
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Container id.
    id: String,
}

/// `update`: a resources document (`--resources FILE|-`) or the flags of runc's update.
#[derive(clap::Args, Clone)]
struct UpdateArgs {
    /// linux.resources JSON from FILE, or `-` for stdin (no other flag then).
    #[arg(short, long)]
    resources: Option<PathBuf>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period (µs).
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS quota (µs per period; -1: none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", visible_alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// Realtime period (µs).
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// Realtime runtime (µs per period).
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs to use (cpuset list).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use (cpuset list).
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit (bytes or k/m/g).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory + swap limit (bytes or k/m/g; -1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of pids (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Container id.
    id: String,
}

/// Parses a byte size as runc does (docker's RAMInBytes): `1024`, `64m`, `1g`, `512KiB`, `-1`.
fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let digits = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits);
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid --{flag} {s:?}"))?;
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("invalid --{flag} {s:?}"),
    };
    Ok((n * mult) as i64)
}

impl UpdateArgs {
    /// The resources document this update asks for.
    fn document(&self) -> Result<serde_json::Value> {
        let flags_given = self.blkio_weight.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_share.is_some()
            || self.cpu_rt_period.is_some()
            || self.cpu_rt_runtime.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
            || self.memory.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swap.is_some()
            || self.pids_limit.is_some();
        if let Some(r) = &self.resources {
            if flags_given {
                bail!("update: --resources cannot be combined with other resource flags");
            }
            let data = if r.as_os_str() == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                    .context("read resources from stdin")?;
                v
            } else {
                std::fs::read(r).with_context(|| format!("read {}", r.display()))?
            };
            return serde_json::from_slice(&data).context("parse resources JSON");
        }
        let mut doc = serde_json::json!({});
        let mut put = |sec: &str, key: &str, v: serde_json::Value| {
            doc[sec][key] = v;
        };
        if let Some(v) = self.blkio_weight {
            put("blockIO", "weight", v.into());
        }
        if let Some(v) = self.cpu_period {
            put("cpu", "period", v.into());
        }
        if let Some(v) = self.cpu_quota {
            put("cpu", "quota", v.into());
        }
        if let Some(v) = self.cpu_share {
            put("cpu", "shares", v.into());
        }
        if let Some(v) = self.cpu_rt_period {
            put("cpu", "realtimePeriod", v.into());
        }
        if let Some(v) = self.cpu_rt_runtime {
            put("cpu", "realtimeRuntime", v.into());
        }
        if let Some(v) = &self.cpuset_cpus {
            put("cpu", "cpus", v.clone().into());
        }
        if let Some(v) = &self.cpuset_mems {
            put("cpu", "mems", v.clone().into());
        }
        if let Some(v) = &self.memory {
            put("memory", "limit", parse_bytes("memory", v)?.into());
        }
        if let Some(v) = &self.memory_reservation {
            put(
                "memory",
                "reservation",
                parse_bytes("memory-reservation", v)?.into(),
            );
        }
        if let Some(v) = &self.memory_swap {
            put("memory", "swap", parse_bytes("memory-swap", v)?.into());
        }
        if let Some(v) = self.pids_limit {
            put("pids", "limit", v.into());
        }
        Ok(doc)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (init waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Print the OCI state of a container.
    State { id: String },
    /// Send a signal to a container.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        /// Signal name or number (default SIGTERM).
        signal: Option<String>,
    },
    /// Delete a container.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create, start and wait for a container.
    Run {
        #[command(flatten)]
        c: CreateArgs,
        /// Return once started.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run a process in a running container.
    Exec {
        /// process.json to run.
        #[arg(short, long)]
        process: Option<PathBuf>,
        /// Working directory.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Extra environment (KEY=VALUE).
        #[arg(short, long)]
        env: Vec<String>,
        /// uid[:gid]
        #[arg(short, long)]
        user: Option<String>,
        /// Additional gids.
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        /// Allocate a pty.
        #[arg(short, long)]
        tty: bool,
        /// Unix socket receiving the pty master.
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// File to write the pid to.
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Return once started.
        #[arg(short, long)]
        detach: bool,
        /// Set no_new_privs.
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        /// Pass N extra fds (from 3).
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        id: String,
        /// Command and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// List containers.
    List {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// List a container's processes.
    Ps {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
    },
    /// Freeze a container.
    Pause { id: String },
    /// Thaw a container.
    Resume { id: String },
    /// Print the runtime's features (JSON).
    Features,
    /// Print container resource statistics (JSON lines, like runc).
    Events {
        /// Print the statistics once and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between statistics without --stats (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Update a container's resource limits live (runc's `update`).
    Update(UpdateArgs),
    /// Write a default config.json.
    Spec {
        /// Bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

fn create_opts(c: &CreateArgs) -> CreateOptions {
    CreateOptions {
        bundle: c.bundle.clone(),
        console_socket: c.console_socket.clone(),
        pid_file: c.pid_file.clone(),
        preserve_fds: c.preserve_fds,
    }
}

#[allow(clippy::too_many_arguments)]
fn exec_process(
    cli: &Cli,
    id: &str,
    process: &Option<PathBuf>,
    cwd: &Option<PathBuf>,
    env: &[String],
    user: &Option<String>,
    gids: &[u32],
    tty: bool,
    nnp: bool,
    args: &[String],
) -> Result<Process> {
    if let Some(p) = process {
        let data = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
        return serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()));
    }
    if args.is_empty() {
        bail!("exec: no command given");
    }
    let spec = container::config(&cli.root, id)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(args.to_vec()));
    p.set_terminal(Some(tty));
    p.set_console_size(None);
    if let Some(c) = cwd {
        p.set_cwd(c.clone());
    }
    let mut e = p.env().clone().unwrap_or_default();
    for kv in env {
        let key = kv.split('=').next().unwrap_or_default();
        e.retain(|x| x.split('=').next() != Some(key));
        e.push(kv.clone());
    }
    p.set_env(Some(e));
    if let Some(u) = user {
        let rootfs = container::state(&cli.root, id)?.rootfs;
        let (uid, gid, sgids) = users::resolve(&rootfs, u)?;
        let gids = if gids.is_empty() { &sgids[..] } else { gids };
        p.set_user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .additional_gids(gids.to_vec())
                .build()?,
        );
    } else if !gids.is_empty() {
        let mut u2 = p.user().clone();
        u2.set_additional_gids(Some(gids.to_vec()));
        p.set_user(u2);
    }
    if nnp {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

fn run(cli: &Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        bail!("unsupported: --systemd-cgroup (berth-runtime manages cgroupfs paths only)");
    }
    let root = &cli.root;
    if matches!(cli.cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec { .. }) {
        // These fork processes that enter the container: never let them run from a file
        // that a container could write to (CVE-2019-5736).
        sealed::ensure_sealed()?;
    }
    match &cli.cmd {
        Cmd::Create(c) => {
            container::create(root, &c.id, &create_opts(c))?;
        }
        Cmd::Start { id } => container::start(root, id)?,
        Cmd::State { id } => {
            let s = container::state(root, id)?;
            outln!("{}", serde_json::to_string_pretty(&s)?);
        }
        Cmd::Kill { all, id, signal } => {
            let sig = match signal {
                Some(s) => {
                    runtime::util::parse_signal(s).ok_or_else(|| anyhow!("invalid signal {s:?}"))?
                }
                None => libc::SIGTERM,
            };
            container::kill(root, id, sig, *all)?;
        }
        Cmd::Delete { force, id } => container::delete(root, id, *force)?,
        Cmd::Run { c, detach, keep } => {
            return Ok(container::run(
                root,
                &c.id,
                &create_opts(c),
                *detach,
                *keep,
            )?)
        }
        Cmd::Exec {
            process,
            cwd,
            env,
            user,
            additional_gids,
            tty,
            console_socket,
            pid_file,
            detach,
            no_new_privs,
            preserve_fds,
            id,
            args,
        } => {
            let p = exec_process(
                cli,
                id,
                process,
                cwd,
                env,
                user,
                additional_gids,
                *tty,
                *no_new_privs,
                args,
            )?;
            let o = ExecOptions {
                process: p,
                console_socket: console_socket.clone(),
                pid_file: pid_file.clone(),
                detach: *detach,
                preserve_fds: *preserve_fds,
            };
            return Ok(container::exec(root, id, &o)?);
        }
        Cmd::List { format, quiet } => {
            let l = container::list(root)?;
            let mut out = std::io::stdout().lock();
            if *quiet {
                for s in &l {
                    writeln!(out, "{}", s.id)?;
                }
            } else if format == "json" {
                writeln!(out, "{}", serde_json::to_string(&l)?)?;
            } else {
                writeln!(
                    out,
                    "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                )?;
                for s in &l {
                    writeln!(
                        out,
                        "{:<20} {:<8} {:<10} {:<40} {:<32} root",
                        s.id,
                        s.pid,
                        s.status,
                        s.bundle.display(),
                        s.created
                    )?;
                }
            }
        }
        Cmd::Ps { format, id } => {
            let pids = container::pids(root, id)?;
            if format == "json" {
                outln!("{}", serde_json::to_string(&pids)?);
            } else {
                outln!("PID");
                for p in pids {
                    outln!("{p}");
                }
            }
        }
        Cmd::Pause { id } => container::pause(root, id)?,
        Cmd::Resume { id } => container::resume(root, id)?,
        Cmd::Events {
            stats,
            interval,
            id,
        } => {
            let every = parse_interval(interval)?;
            loop {
                let v = container::stats(root, id)?;
                outln!("{v}");
                if *stats {
                    break;
                }
                std::thread::sleep(every);
            }
        }
        Cmd::Update(u) => runtime::update::update(root, &u.id, &u.document()?)?,
        Cmd::Features => {
            let f = serde_json::json!({
                "ociVersionMin": "1.0.0",
                "ociVersionMax": "1.2.0",
                "hooks": ["prestart","createRuntime","createContainer","startContainer","poststart","poststop"],
                "mountOptions": ["ro","rw","nosuid","suid","nodev","dev","noexec","exec","bind","rbind",
                    "private","rprivate","shared","rshared","slave","rslave","unbindable","runbindable",
                    "noatime","atime","nodiratime","diratime","relatime","strictatime","sync","async"],
                "linux": {
                    "namespaces": ["cgroup","ipc","mount","network","pid","time","user","uts"],
                    "capabilities": caps_names(),
                    "cgroup": {"v1": true, "v2": true, "systemd": false},
                    "seccomp": {
                        "enabled": true,
                        "actions": ["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD","SCMP_ACT_LOG","SCMP_ACT_TRACE","SCMP_ACT_TRAP"],
                        "operators": ["SCMP_CMP_EQ","SCMP_CMP_GE","SCMP_CMP_GT","SCMP_CMP_LE","SCMP_CMP_LT",
                            "SCMP_CMP_MASKED_EQ","SCMP_CMP_NE"],
                        "archs": ["SCMP_ARCH_X86","SCMP_ARCH_X86_64","SCMP_ARCH_X32"]
                    },
                    "apparmor": {"enabled": false},
                    "selinux": {"enabled": false}
                }
            });
            outln!("{}", serde_json::to_string_pretty(&f)?);
        }
        Cmd::Spec { bundle } => {
            let p = bundle.join("config.json");
            if p.exists() {
                bail!("file {} exists; remove it first", p.display());
            }
            let mut s = Spec::default();
            if let Some(mut pr) = s.process().clone() {
                pr.set_terminal(Some(true));
                s.set_process(Some(pr));
            }
            s.save(&p)
                .map_err(|e| anyhow!("write {}: {e}", p.display()))?;
        }
    }
    Ok(0)
}

/// Parses `5s`, `500ms`, `1m` or plain seconds.
fn parse_interval(s: &str) -> Result<std::time::Duration> {
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = n.parse().map_err(|_| anyhow!("invalid --interval {s:?}"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        _ => bail!("invalid --interval {s:?}"),
    };
    Ok(std::time::Duration::from_millis(ms.max(1)))
}

fn caps_names() -> Vec<String> {
    let mut v: Vec<String> = runtime_caps();
    v.sort();
    v
}

fn runtime_caps() -> Vec<String> {
    (0..=40).filter_map(cap_name).collect()
}

fn cap_name(i: u8) -> Option<String> {
    const N: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    N.get(i as usize).map(|n| format!("CAP_{n}"))
}

fn log_error(cli: &Cli, msg: &str) {
    eprintln!("berth-runtime: {msg}");
    if let Some(path) = &cli.log {
        let line = if cli.log_format == "json" {
            serde_json::json!({"level": "error", "msg": msg, "time": runtime::util::now_rfc3339()})
                .to_string()
        } else {
            format!(
                "time=\"{}\" level=error msg={:?}",
                runtime::util::now_rfc3339(),
                msg
            )
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match run(&cli) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            log_error(&cli, &msg);
            1
        }
    };
    std::process::exit(code);
}
