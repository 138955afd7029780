//! Command-line parsing (no dependency: a handful of `--flag VALUE` options).

use std::ffi::OsString;
use std::path::PathBuf;

/// The monitor's options (see docs/INTERFACES.md, "Monitor").
#[derive(Debug, Default)]
pub struct Args {
    pub id: String,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    pub bundle: PathBuf,
    pub socket_dir: PathBuf,
    pub log_file: PathBuf,
    pub exit_file: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    /// json-file rotation (`--log-max-size N --log-max-file N --log-compress`).
    pub rotation: monitor::logfile::Rotation,
    /// `--no-log`: the log driver is `none`.
    pub no_log: bool,
}

fn abs(p: OsString) -> PathBuf {
    let p = PathBuf::from(p);
    std::path::absolute(&p).unwrap_or(p)
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(mut it: impl Iterator<Item = OsString>) -> Result<Args, String> {
        let mut a = Args::default();
        while let Some(flag) = it.next() {
            let flag = flag.to_string_lossy().into_owned();
            match flag.as_str() {
                "--tty" => a.tty = true,
                "--stdin" => a.stdin = true,
                "--log-compress" => a.rotation.compress = true,
                "--no-log" => a.no_log = true,
                "--log-max-size" | "--log-max-file" => {
                    let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                    let v = v.to_string_lossy();
                    let bad = || format!("{flag}: bad number {v:?}");
                    if flag == "--log-max-size" {
                        a.rotation.max_size = v.parse().map_err(|_| bad())?;
                    } else {
                        a.rotation.max_file = v.parse().map_err(|_| bad())?;
                    }
                }
                "--id" | "--runtime" | "--runtime-root" | "--bundle" | "--socket-dir"
                | "--log-file" | "--exit-file" => {
                    let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                    match flag.as_str() {
                        "--id" => a.id = v.to_string_lossy().into_owned(),
                        "--runtime" => a.runtime = PathBuf::from(v),
                        "--runtime-root" => a.runtime_root = abs(v),
                        "--bundle" => a.bundle = abs(v),
                        "--socket-dir" => a.socket_dir = abs(v),
                        "--log-file" => a.log_file = abs(v),
                        _ => a.exit_file = abs(v),
                    }
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        for (name, empty) in [
            ("--id", a.id.is_empty()),
            ("--runtime", a.runtime.as_os_str().is_empty()),
            ("--runtime-root", a.runtime_root.as_os_str().is_empty()),
            ("--bundle", a.bundle.as_os_str().is_empty()),
            ("--socket-dir", a.socket_dir.as_os_str().is_empty()),
            ("--log-file", a.log_file.as_os_str().is_empty()),
            ("--exit-file", a.exit_file.as_os_str().is_empty()),
        ] {
            if empty {
                return Err(format!("missing {name}"));
            }
        }
        // A runtime given as a relative path with a slash must survive chdir("/").
        if a.runtime.components().count() > 1 && a.runtime.is_relative() {
            a.runtime = abs(a.runtime.clone().into_os_string());
        }
        Ok(a)
    }
}
