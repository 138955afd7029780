//! `berth cp`: copies between a container and the local filesystem through
//! `HEAD`/`GET`/`PUT /containers/{id}/archive`, with docker's flags (`-a`, `-L`, `-` for a tar
//! on stdin/stdout) and docker's naming rules (into an existing directory, or renamed).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use crate::client::{enc, is_status, Client, ReqBody};

/// `berth cp`.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// SRC: CONTAINER:SRC_PATH, a local path or `-`
    pub src: String,
    /// DEST: CONTAINER:DEST_PATH, a local path or `-`
    pub dest: String,
}

/// `CONTAINER:PATH` → (container, path); a local path (absolute, or `./…`) → None.
fn split_remote(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    if c.is_empty() {
        return None;
    }
    Some((c, p))
}

/// The `X-Docker-Container-Path-Stat` of a path; None when it does not exist.
async fn stat(client: &Client, ctr: &str, path: &str) -> Result<Option<Value>> {
    let url = format!("/containers/{}/archive?path={}", enc(ctr), enc(path));
    let resp = match client.request(Method::HEAD, &url, None, None).await {
        Ok(r) => r,
        Err(e) if is_status(&e, 404) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(h) = resp.headers().get("X-Docker-Container-Path-Stat") else {
        bail!("the daemon sent no path stat for {path}");
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h.as_bytes())
        .context("decoding the path stat")?;
    Ok(Some(
        serde_json::from_slice(&raw).context("parsing the path stat")?,
    ))
}

fn stat_is_dir(v: &Value) -> bool {
    v.get("mode").and_then(Value::as_u64).unwrap_or(0) & (1 << 31) != 0
}

fn link_target(v: &Value) -> Option<String> {
    v.get("linkTarget")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A writer feeding a streamed request body (used from a plain thread).
struct ChanWriter(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(b)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends the local `src` as `name` (recursively), the top followed when `follow`.
fn append_local<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    name: &Path,
    follow: bool,
    keep_ids: bool,
) -> std::io::Result<()> {
    let meta = if follow {
        fs::metadata(src)?
    } else {
        fs::symlink_metadata(src)?
    };
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if !keep_ids {
        // docker cp: files copied in belong to root unless -a.
        h.set_uid(0);
        h.set_gid(0);
        let _ = h.set_username("");
        let _ = h.set_groupname("");
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        h.set_size(0);
        let mut dn = name.as_os_str().to_os_string();
        dn.push("/");
        b.append_data(&mut h, Path::new(&dn), std::io::empty())?;
        let mut kids: Vec<PathBuf> = fs::read_dir(src)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        kids.sort();
        for k in kids {
            let kn = name.join(k.file_name().unwrap_or_default());
            append_local(b, &k, &kn, false, keep_ids)?;
        }
        Ok(())
    } else if ft.is_symlink() {
        h.set_size(0);
        let t = fs::read_link(src)?;
        b.append_link(&mut h, name, t)
    } else if ft.is_file() {
        b.append_data(&mut h, name, fs::File::open(src)?)
    } else {
        // fifos, devices, sockets: the header says it all
        h.set_size(0);
        b.append_data(&mut h, name, std::io::empty())
    }
}

/// A streamed tar of the local `src` named `name` (`None`: the directory's content).
fn tar_body(src: PathBuf, name: Option<PathBuf>, follow: bool, keep_ids: bool) -> ReqBody {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    std::thread::spawn(move || {
        let err_tx = tx.clone();
        let mut b = tar::Builder::new(ChanWriter(tx));
        b.follow_symlinks(false);
        let res = (|| -> std::io::Result<()> {
            match &name {
                Some(n) => append_local(&mut b, &src, n, follow, keep_ids)?,
                None => {
                    let mut kids: Vec<PathBuf> = fs::read_dir(&src)?
                        .map(|e| e.map(|e| e.path()))
                        .collect::<std::io::Result<_>>()?;
                    kids.sort();
                    for k in kids {
                        let kn = PathBuf::from(k.file_name().unwrap_or_default());
                        append_local(&mut b, &k, &kn, false, keep_ids)?;
                    }
                }
            }
            b.finish()
        })();
        if let Err(e) = res {
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    ReqBody::Stream(rx)
}

fn parent_and_base(p: &str) -> (String, String) {
    let t = p.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some(("", b)) => ("/".into(), b.into()),
        Some((a, b)) => (a.into(), b.into()),
        None => (".".into(), t.into()),
    }
}

async fn copy_in(client: &Client, args: &CpArgs, ctr: &str, dst: &str) -> Result<i32> {
    let put = |path: String, body: ReqBody| async move {
        let url = format!(
            "/containers/{}/archive?path={}&noOverwriteDirNonDir=true&copyUIDGID={}",
            enc(ctr),
            enc(&path),
            args.archive
        );
        client
            .request(Method::PUT, &url, Some(body), Some("application/x-tar"))
            .await
            .map(|_| ())
    };
    let mut dst = dst.to_string();
    if dst.is_empty() {
        dst = "/".into();
    }
    if args.src == "-" {
        let body = crate::cmd::images::file_body("-")?;
        put(dst, body).await?;
        return Ok(0);
    }
    let src = PathBuf::from(&args.src);
    let contents = args.src.ends_with("/.");
    let smeta = if args.follow_link {
        fs::metadata(&src)
    } else {
        fs::symlink_metadata(&src)
    }
    .with_context(|| format!("lstat {}", src.display()))?;
    let mut st = stat(client, ctr, &dst).await?;
    if let Some(t) = st.as_ref().and_then(link_target) {
        dst = t;
        st = stat(client, ctr, &dst).await?;
    }
    // -L follows the link's target but keeps the link's name, as docker.
    let src_base = src
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    match st {
        Some(s) if stat_is_dir(&s) => {
            let name = if contents { None } else { Some(src_base) };
            put(dst, tar_body(src, name, args.follow_link, args.archive)).await?;
        }
        Some(_) => {
            if smeta.is_dir() {
                bail!("cannot copy a directory to a file: {dst}");
            }
            let (parent, base) = parent_and_base(&dst);
            put(
                parent,
                tar_body(src, Some(base.into()), args.follow_link, args.archive),
            )
            .await?;
        }
        None => {
            if dst.ends_with('/') && !smeta.is_dir() {
                bail!("destination directory {dst} does not exist");
            }
            let (parent, base) = parent_and_base(&dst);
            put(
                parent,
                tar_body(src, Some(base.into()), args.follow_link, args.archive),
            )
            .await?;
        }
    }
    Ok(0)
}

/// Reads a response body as a blocking `Read` (fed by a task).
struct BodyRead {
    rx: std::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for BodyRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(Ok(b)) => self.cur = b,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

async fn copy_out(client: &Client, args: &CpArgs, ctr: &str, src: &str) -> Result<i32> {
    let mut src = src.to_string();
    if src.is_empty() {
        src = "/".into();
    }
    let st = match stat(client, ctr, &src).await? {
        Some(s) => s,
        None => {
            // The GET gives the daemon's own message (404 "Could not find the file…").
            let url = format!("/containers/{}/archive?path={}", enc(ctr), enc(&src));
            client.request(Method::GET, &url, None, None).await?;
            bail!("Could not find the file {src} in container {ctr}");
        }
    };
    let (_, orig_base) = parent_and_base(&src);
    if args.follow_link {
        if let Some(t) = link_target(&st) {
            src = t;
        }
    }
    let url = format!("/containers/{}/archive?path={}", enc(ctr), enc(&src));
    let resp = client.request(Method::GET, &url, None, None).await?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Bytes>>(8);
    let pump = async move {
        let mut body = resp.into_body();
        while let Some(f) = body.frame().await {
            let item = f
                .map_err(std::io::Error::other)
                .map(|f| f.into_data().unwrap_or_default());
            let tx2 = tx.clone();
            let ok = tokio::task::spawn_blocking(move || tx2.send(item).is_ok())
                .await
                .unwrap_or(false);
            if !ok {
                break;
            }
        }
    };
    let reader = BodyRead {
        rx,
        cur: Bytes::new(),
    };
    if args.dest == "-" {
        let job = tokio::task::spawn_blocking(move || {
            let mut r = reader;
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut r, &mut out)?;
            out.flush()
        });
        pump.await;
        job.await??;
        return Ok(0);
    }
    let contents = src.ends_with("/.");
    let (_, tar_base) = parent_and_base(&src);
    let dst = PathBuf::from(&args.dest);
    let src_is_dir = stat_is_dir(&st) || (args.follow_link && link_target(&st).is_some());
    let keep_ids = args.archive;
    let job = tokio::task::spawn_blocking(move || -> Result<()> {
        let unpack_in = |dir: &Path, r: &mut dyn Read| -> Result<()> {
            let mut a = tar::Archive::new(r);
            a.set_preserve_permissions(true);
            a.set_preserve_mtime(true);
            a.set_preserve_ownerships(keep_ids);
            a.set_overwrite(true);
            for e in a.entries()? {
                let mut e = e?;
                e.unpack_in(dir)
                    .with_context(|| format!("extracting into {}", dir.display()))?;
            }
            Ok(())
        };
        let mut r = reader;
        let dst_meta = fs::metadata(&dst).ok();
        if contents {
            if dst_meta.as_ref().is_some_and(|m| !m.is_dir()) {
                bail!("cannot copy a directory to a file: {}", dst.display());
            }
            fs::create_dir_all(&dst)?;
            return unpack_in(&dst, &mut r);
        }
        let final_path = match &dst_meta {
            Some(m) if m.is_dir() => dst.join(&orig_base),
            Some(_) if src_is_dir => bail!("cannot copy a directory to a file: {}", dst.display()),
            _ => {
                if args_dest_is_dir_syntax(&dst) && dst_meta.is_none() {
                    bail!("destination directory {} does not exist", dst.display());
                }
                dst.clone()
            }
        };
        let parent = final_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let fname = final_path.file_name().unwrap_or_default().to_owned();
        if fname == std::ffi::OsStr::new(&tar_base) {
            return unpack_in(&parent, &mut r);
        }
        let tmp = parent.join(format!(".berth-cp-{}", std::process::id()));
        fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let res = unpack_in(&tmp, &mut r).and_then(|()| {
            let got = tmp.join(&tar_base);
            if final_path.is_dir() && got.is_dir() {
                // merge into the existing directory
                unpack_dir_merge(&got, &final_path)
            } else {
                fs::rename(&got, &final_path)
                    .with_context(|| format!("renaming into {}", final_path.display()))
            }
        });
        let _ = fs::remove_dir_all(&tmp);
        res
    });
    pump.await;
    job.await??;
    Ok(0)
}

fn args_dest_is_dir_syntax(p: &Path) -> bool {
    let s = p.as_os_str().to_string_lossy();
    s.ends_with('/')
}

/// Moves the entries of `from` into the existing directory `to`, recursively.
fn unpack_dir_merge(from: &Path, to: &Path) -> Result<()> {
    for e in fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() && target.is_dir() {
            unpack_dir_merge(&e.path(), &target)?;
        } else {
            if target.is_dir() {
                fs::remove_dir_all(&target)?;
            }
            fs::rename(e.path(), &target)?;
        }
    }
    Ok(())
}

/// `berth cp`.
pub async fn cp(client: &Client, args: CpArgs) -> Result<i32> {
    match (split_remote(&args.src), split_remote(&args.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((c, p)), None) => copy_out(client, &args, c, p).await,
        (None, Some((c, p))) => copy_in(client, &args, c, p).await,
    }
}
