//! Registries end to end: skopeo, Debian's reference registry, `berth registry serve`, berth
//! pull/push/login through berthd, and the real docker CLI pulling and pushing through berthd.

mod regutil;

use std::process::{Command, Stdio};

use integration::Daemon;
use regutil::*;

/// A two-layer image (busybox + one file) and a second one sharing its busybox layer, as OCI
/// layouts, copied by skopeo into the registry at `addr` as `test/app:v1` and `test/other:v1`.
fn seed(addr: &str, tmp: &std::path::Path) {
    let base = busybox_layer();
    let app = tmp.join("app");
    write_oci_layout(
        &app,
        &[
            base.clone(),
            tar_of(&[("hello.txt", b"hello from the registry\n")]),
        ],
        &["cat", "/hello.txt"],
        "v1",
    );
    let other = tmp.join("other");
    write_oci_layout(
        &other,
        &[base, tar_of(&[("other.txt", b"other image\n")])],
        &["cat", "/other.txt"],
        "v1",
    );
    for (dir, name) in [(&app, "app"), (&other, "other")] {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", dir.display()),
            &format!("docker://{addr}/test/{name}:v1"),
        ]);
    }
}

fn layer_dirs(d: &Daemon) -> usize {
    std::fs::read_dir(d.data_root().join("image/layers/sha256"))
        .map(|r| r.count())
        .unwrap_or(0)
}

fn tmpdir() -> Tmp {
    Tmp::new("rt")
}

#[test]
fn skopeo_into_reference_registry_then_berth_pull_and_run() {
    if !have_reference_registry() || !have_skopeo() {
        eprintln!("docker-registry or skopeo missing: skipping");
        return;
    }
    let reg = reference_registry();
    let tmp = tmpdir();
    seed(&reg.addr, &tmp);
    let d = Daemon::start();
    let image = format!("{}/test/app:v1", reg.addr);
    let out = d.berth(["pull", &image]).ok();
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {image}")),
        "{out}"
    );
    assert_eq!(layer_dirs(&d), 2);
    let run = d.berth(["run", "--rm", &image]).ok();
    assert_eq!(run, "hello from the registry");
    // The second image shares the busybox layer: stored once, not fetched again.
    let other = format!("{}/test/other:v1", reg.addr);
    let out = d.berth(["pull", &other]).ok();
    assert!(out.contains("Already exists"), "{out}");
    assert_eq!(layer_dirs(&d), 3, "the shared base layer is stored once");
    assert_eq!(d.berth(["run", "--rm", &other]).ok(), "other image");
    // Pulling again: up to date.
    let out = d.berth(["pull", &image]).ok();
    assert!(out.contains("Image is up to date"), "{out}");
    // Digests are listed and inspected like docker's.
    let list = d.berth(["images", "--digests"]).ok();
    assert!(
        list.contains("DIGEST") && list.contains("sha256:"),
        "{list}"
    );
    let rd = d
        .berth(["image", "inspect", "-f", "{{json .RepoDigests}}", &image])
        .ok();
    assert!(
        rd.contains(&format!("{}/test/app@sha256:", reg.addr)),
        "{rd}"
    );
    // A missing tag is a clear error.
    let err = d
        .berth(["pull", &format!("{}/test/app:nope", reg.addr)])
        .err();
    assert!(
        err.contains("not found") || err.contains("unknown"),
        "{err}"
    );
    // A pulled image (gzip blobs in the store) saves as a docker-archive that loads and runs.
    let saved = tmp.join("pulled.tar");
    d.berth(["save", "-o", saved.to_str().unwrap(), &image])
        .ok();
    let d3 = Daemon::start();
    let out = d3.berth(["load", "-i", saved.to_str().unwrap()]).ok();
    assert!(out.contains(&format!("Loaded image: {image}")), "{out}");
    assert_eq!(
        d3.berth(["run", "--rm", &image]).ok(),
        "hello from the registry"
    );
    // history shows both layers.
    let h = d.berth(["history", &image]).ok();
    assert_eq!(h.lines().count(), 3, "{h}");
}

#[test]
fn run_pulls_a_missing_image_first() {
    if !have_reference_registry() || !have_skopeo() {
        return;
    }
    let reg = reference_registry();
    let tmp = tmpdir();
    seed(&reg.addr, &tmp);
    let d = Daemon::start();
    let image = format!("{}/test/app:v1", reg.addr);
    let out = d.berth(["run", "--rm", "--pull", "never", &image]);
    assert_ne!(out.code, 0);
    let out = d.berth(["run", "--rm", &image]);
    assert_eq!(out.ok(), "hello from the registry");
    assert!(
        out.stderr
            .contains(&format!("Unable to find image '{image}' locally")),
        "{out:?}"
    );
}

#[test]
fn berth_registry_serve_with_skopeo_and_berth_push() {
    if !have_skopeo() {
        return;
    }
    let reg = berth_registry(&[]);
    let tmp = tmpdir();
    seed(&reg.addr, &tmp);
    let inspect = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/test/app:v1", reg.addr),
    ]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(
        v["Layers"].as_array().map(|l| l.len()),
        Some(2),
        "{inspect}"
    );
    assert!(v["Digest"].as_str().unwrap().starts_with("sha256:"));
    // And back out of it.
    let out_dir = tmp.join("out");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/test/app:v1", reg.addr),
        &format!("oci:{}:v1", out_dir.display()),
    ]);
    assert!(out_dir.join("index.json").exists());
    // berth pushes a local image into it; a fresh daemon pulls it back and runs it.
    let d = Daemon::with_busybox();
    let name = format!("{}/mine/bb:1", reg.addr);
    d.berth(["tag", "busybox", &name]).ok();
    let out = d.berth(["push", &name]).ok();
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("digest: sha256:"), "{out}");
    let out = d.berth(["push", &name]).ok();
    assert!(out.contains("Layer already exists"), "{out}");
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/mine/bb", reg.addr),
    ]);
    assert!(tags.contains("\"1\""), "{tags}");
    let d2 = Daemon::start();
    d2.berth(["pull", "-q", &name]).ok();
    assert_eq!(d2.berth(["run", "--rm", &name, "echo", "ok"]).ok(), "ok");
}

fn docker_pull_push(d: &Daemon, addr: &str) {
    let image = format!("{addr}/test/app:v1");
    let out = d.docker(["pull", &image]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Pull complete"), "{out:?}");
    assert!(
        out.stdout.contains(&format!("{addr}/test/app:v1")),
        "{out:?}"
    );
    let run = d.docker(["run", "--rm", &image]).ok();
    assert_eq!(run, "hello from the registry");
    let pushed = format!("{addr}/copy/app:v2");
    d.docker(["tag", &image, &pushed]).ok();
    let out = d.docker(["push", &pushed]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("v2: digest: sha256:"), "{out:?}");
    let inspect = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{pushed}"),
    ]);
    assert!(inspect.contains("\"Layers\""), "{inspect}");
    let out = d.docker(["pull", &format!("{addr}/test/nothere:v1")]);
    assert_ne!(out.code, 0, "{out:?}");
}

#[test]
fn docker_cli_pulls_and_pushes_through_berthd() {
    if integration::docker_cli().is_none() || !have_skopeo() || !have_reference_registry() {
        eprintln!("docker CLI, skopeo or docker-registry missing: skipping");
        return;
    }
    let tmp = tmpdir();
    let reference = reference_registry();
    let ours = berth_registry(&[]);
    seed(&reference.addr, &tmp.join("a"));
    seed(&ours.addr, &tmp.join("b"));
    let d = Daemon::start();
    docker_pull_push(&d, &reference.addr);
    let d2 = Daemon::start();
    docker_pull_push(&d2, &ours.addr);
}

#[test]
fn login_and_logout_against_an_htpasswd_registry() {
    let reg = berth_registry(&[("alice", "s3cret!")]);
    let d = Daemon::with_busybox();
    let cfg = d.root.join("cli-config");
    let berth = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new(integration::daemon::bin("berth"));
        c.env("DOCKER_CONFIG", &cfg)
            .arg("-H")
            .arg(d.host())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        {
            use std::io::Write;
            let mut i = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                i.write_all(s.as_bytes()).unwrap();
            }
        }
        let o = child.wait_with_output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let name = format!("{}/alice/bb:1", reg.addr);
    d.berth(["tag", "busybox", &name]).ok();
    // Without credentials the push is refused.
    let (code, _, err) = berth(&["push", &name], None);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("unauthorized"), "{err}");
    let (code, _, err) = berth(&["login", "-u", "alice", "-p", "wrong", &reg.addr], None);
    assert_ne!(code, 0, "{err}");
    assert!(
        !cfg.join("config.json").exists()
            || !std::fs::read_to_string(cfg.join("config.json"))
                .unwrap()
                .contains(&reg.addr)
    );
    let (code, out, err) = berth(
        &["login", "-u", "alice", "--password-stdin", &reg.addr],
        Some("s3cret!\n"),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("Login Succeeded"), "{out}");
    let conf = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&conf).unwrap();
    assert!(v["auths"][&reg.addr]["auth"].is_string(), "{conf}");
    let (code, out, err) = berth(&["push", &name], None);
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, _) = berth(&["logout", &reg.addr], None);
    assert_eq!(code, 0);
    assert!(out.contains("Removing login credentials"), "{out}");
    let conf = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(!conf.contains(&reg.addr), "{conf}");
    let (code, _, err) = berth(&["pull", &name], None);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("unauthorized"), "{err}");
    // The real docker CLI logs in through berthd (POST /auth) and pulls with X-Registry-Auth.
    if integration::docker_cli().is_some() {
        let out = d.docker(["login", "-u", "alice", "-p", "nope", &reg.addr]);
        assert_ne!(out.code, 0, "{out:?}");
        let out = d.docker(["login", "-u", "alice", "-p", "s3cret!", &reg.addr]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("Login Succeeded"), "{out:?}");
        let d2 = Daemon::start();
        let mut c = d2.docker_cmd().unwrap();
        let out = c
            .env("DOCKER_CONFIG", d.root.join("docker-config"))
            .args(["pull", &name])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}
