//! The build context: a tar stream (plain or compressed) unpacked into a private directory,
//! with `.dockerignore` applied (excluded files never reach the builder or a cache key).

use crate::error::{BuildError, Result};
use crate::ignore::Ignore;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// An unpacked context; its directory is removed on drop.
#[derive(Debug)]
pub struct Context {
    dir: PathBuf,
    /// The `.dockerignore` rules of the context (empty when there is none).
    pub ignore: Ignore,
}

impl Context {
    /// Unpacks `reader` (tar, optionally gzip/zstd/bzip2 compressed) into `dir` (created; must
    /// not exist) and removes what `.dockerignore` excludes (`Dockerfile` and `.dockerignore`
    /// themselves stay, as with docker).
    pub fn unpack(reader: impl Read + Send, dir: PathBuf, dockerfile: &str) -> Result<Context> {
        fs::create_dir_all(&dir)?;
        let ctx = Context {
            dir,
            ignore: Ignore::default(),
        };
        let rd = image::compression::decompress(reader)
            .map_err(|e| BuildError::Invalid(format!("Error processing tar file: {e}")))?;
        let mut ar = tar::Archive::new(rd);
        ar.set_preserve_permissions(true);
        ar.set_preserve_mtime(true);
        ar.set_unpack_xattrs(false);
        let entries = ar
            .entries()
            .map_err(|e| BuildError::Invalid(format!("Error processing tar file: {e}")))?;
        for ent in entries {
            let mut ent =
                ent.map_err(|e| BuildError::Invalid(format!("Error processing tar file: {e}")))?;
            ent.unpack_in(&ctx.dir)
                .map_err(|e| BuildError::Invalid(format!("Error processing tar file: {e}")))?;
        }
        let mut ctx = ctx;
        // resolved inside the context: a `.dockerignore` symlink to a host file is not read
        let text = safepath::Root::open(&ctx.dir)
            .and_then(|r| r.open_file(".dockerignore"))
            .ok()
            .and_then(|mut f| {
                let mut t = String::new();
                f.read_to_string(&mut t).ok().map(|_| t)
            });
        if let Some(text) = text {
            ctx.ignore = Ignore::parse(&text);
            let keep = [
                crate::ignore::clean(dockerfile),
                ".dockerignore".to_string(),
            ];
            prune(&ctx.dir, "", &ctx.ignore, &keep)?;
        }
        Ok(ctx)
    }

    /// The context root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes excluded entries below `root/rel`; a directory goes only when it is excluded and
/// nothing below it was kept by an exception.
fn prune(root: &Path, rel: &str, ig: &Ignore, keep: &[String]) -> Result<bool> {
    let dir = root.join(rel);
    let mut kept_any = false;
    for e in fs::read_dir(&dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type()?;
        if ft.is_dir() {
            let kept_below = prune(root, &r, ig, keep)?;
            if ig.excluded(&r) && !kept_below && !keep.contains(&r) {
                fs::remove_dir_all(e.path())?;
            } else {
                kept_any = true;
            }
        } else if ig.excluded(&r) && !keep.contains(&r) {
            fs::remove_file(e.path())?;
        } else {
            kept_any = true;
        }
    }
    Ok(kept_any)
}
