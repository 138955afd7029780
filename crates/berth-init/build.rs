//! Link `berth-init` statically without a musl target: it is bind-mounted into containers
//! whose images have no (or another) libc, as Docker does with docker-init.
//!
//! rustc links std against the shared `-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc` after a
//! `-Bdynamic`, and a build script cannot turn on `crt-static` for one crate. So OUT_DIR
//! (searched before the system directories) gets a `lib<name>.so` linker script for each of
//! them that points at the static archive (`libgcc_s` → `libgcc_eh.a` + `libgcc.a`, the
//! static form of the same unwinder), and the binary is linked `-static-pie`. A host without
//! the static archives (no `libc6-dev`) gets a dynamic binary and a warning.

use std::path::PathBuf;
use std::process::Command;

/// `gcc -print-file-name=NAME` when it names an existing file.
fn gcc_file(name: &str) -> Option<PathBuf> {
    let out = Command::new("gcc")
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (p.is_absolute() && p.exists()).then_some(p)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("musl") || !target.contains("linux-gnu") {
        return; // musl targets link statically by default
    }
    let mut scripts = Vec::new();
    for (lib, archives) in [
        ("gcc_s", &["libgcc_eh.a", "libgcc.a"][..]),
        ("util", &["libutil.a"][..]),
        ("rt", &["librt.a"][..]),
        ("pthread", &["libpthread.a"][..]),
        ("m", &["libm.a"][..]),
        ("dl", &["libdl.a"][..]),
        ("c", &["libc.a"][..]),
    ] {
        let mut paths = Vec::new();
        for a in archives {
            match gcc_file(a) {
                Some(p) => paths.push(p.to_string_lossy().into_owned()),
                None => {
                    println!(
                        "cargo:warning=berth-init: {a} not found; the binary is dynamic and will not run in images without a compatible libc"
                    );
                    return;
                }
            }
        }
        scripts.push((lib, format!("GROUP ( {} )\n", paths.join(" "))));
    }
    for (lib, text) in scripts {
        std::fs::write(out.join(format!("lib{lib}.so")), text).expect("write linker script");
    }
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-arg-bins=-static-pie");
}
