//! `save`/`load` (docker-archive and OCI layout), `export`, `image prune`, hostile archives,
//! and the round trip with a real dockerd.

mod regutil;

use std::path::Path;

use integration::Daemon;
use regutil::*;

fn tmpdir() -> Tmp {
    Tmp::new("ia")
}

/// What the store holds, for "nothing half-written" checks.
fn store_listing(d: &Daemon) -> (Vec<String>, Vec<String>, Vec<String>, String) {
    let root = d.data_root().join("image");
    (
        files_under(&root.join("content")),
        files_under(&root.join("layers")),
        files_under(&root.join("tmp")),
        d.berth(["images", "-a", "-q", "--no-trunc"]).ok(),
    )
}

fn load(d: &Daemon, tar: &Path) -> integration::Out {
    d.berth(["load", "-i", tar.to_str().unwrap()])
}

#[test]
fn save_load_round_trip_and_oci_layout_load() {
    let d = Daemon::with_busybox();
    let tmp = tmpdir();
    d.berth(["tag", "busybox", "saved/bb:v1"]).ok();
    let tar = tmp.join("bb.tar");
    d.berth(["save", "-o", tar.to_str().unwrap(), "saved/bb:v1"])
        .ok();
    // The archive is a docker-archive.
    let list = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    assert!(names.contains("manifest.json"), "{names}");
    assert!(names.contains("repositories"), "{names}");
    assert!(names.contains("/layer.tar"), "{names}");
    let d2 = Daemon::start();
    let out = load(&d2, &tar).ok();
    assert!(out.contains("Loaded image: saved/bb:v1"), "{out}");
    assert_eq!(
        d2.berth(["run", "--rm", "saved/bb:v1", "echo", "loaded"])
            .ok(),
        "loaded"
    );
    // Same image id on both sides.
    assert_eq!(
        d.berth(["image", "inspect", "-f", "{{.Id}}", "saved/bb:v1"])
            .ok(),
        d2.berth(["image", "inspect", "-f", "{{.Id}}", "saved/bb:v1"])
            .ok()
    );
    // -q prints nothing on success.
    assert_eq!(
        d2.berth(["load", "-q", "-i", tar.to_str().unwrap()]).ok(),
        ""
    );
    // An OCI image layout tarball with two gzip layers loads too.
    let layout = tmp.join("layout");
    write_oci_layout(
        &layout,
        &[busybox_layer(), tar_of(&[("msg", b"from an OCI layout\n")])],
        &["cat", "/msg"],
        "oci.example/app:7",
    );
    let oci_tar = tmp.join("oci.tar");
    std::fs::write(&oci_tar, tar_dir(&layout)).unwrap();
    let out = load(&d2, &oci_tar).ok();
    assert!(out.contains("Loaded image: oci.example/app:7"), "{out}");
    assert_eq!(
        d2.berth(["run", "--rm", "oci.example/app:7"]).ok(),
        "from an OCI layout"
    );
}

#[test]
fn export_writes_the_container_filesystem() {
    let d = Daemon::with_busybox();
    let tmp = tmpdir();
    let name = integration::daemon::unique("ex");
    d.berth([
        "run",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo exported > /data.txt",
    ])
    .ok();
    let tar = tmp.join("fs.tar");
    d.berth(["export", "-o", tar.to_str().unwrap(), &name]).ok();
    let list = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    assert!(
        names
            .lines()
            .any(|l| l.trim_start_matches("./") == "data.txt"),
        "{names}"
    );
    assert!(names.contains("bin/busybox"), "{names}");
    let x = std::process::Command::new("tar")
        .arg("xOf")
        .arg(&tar)
        .arg("data.txt")
        .output()
        .unwrap();
    let text = if x.status.success() {
        String::from_utf8_lossy(&x.stdout).into_owned()
    } else {
        let x = std::process::Command::new("tar")
            .arg("xOf")
            .arg(&tar)
            .arg("./data.txt")
            .output()
            .unwrap();
        String::from_utf8_lossy(&x.stdout).into_owned()
    };
    assert_eq!(text, "exported\n");
    d.berth(["rm", &name]).ok();
}

#[test]
fn image_prune_removes_dangling_and_unused_but_never_used_images() {
    let d = Daemon::with_busybox();
    let tmp = tmpdir();
    // An untagged (dangling) image: an OCI layout without a name.
    let layout = tmp.join("l");
    write_oci_layout(
        &layout,
        &[busybox_layer(), tar_of(&[("x", b"x")])],
        &["sh"],
        "latest",
    );
    let t = tmp.join("l.tar");
    std::fs::write(&t, tar_dir(&layout)).unwrap();
    let out = load(&d, &t).ok();
    assert!(out.contains("Loaded image ID: sha256:"), "{out}");
    assert_eq!(
        d.berth(["images", "-q", "-f", "dangling=true"])
            .ok()
            .lines()
            .count(),
        1
    );
    let out = d.berth(["image", "prune", "-f"]).ok();
    assert!(out.contains("deleted: sha256:"), "{out}");
    assert_eq!(d.berth(["images", "-q", "-f", "dangling=true"]).ok(), "");
    // `-a` removes unused tagged images, never one a container uses.
    d.berth(["tag", "busybox", "unused:1"]).ok();
    let name = integration::daemon::unique("pr");
    d.berth(["create", "--name", &name, "busybox", "true"]).ok();
    d.berth(["image", "prune", "-a", "-f"]).ok();
    let left = d
        .berth(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(left.contains("busybox:latest"), "{left}");
    assert!(
        left.contains("unused:1"),
        "same image as busybox, in use: {left}"
    );
    d.berth(["rm", &name]).ok();
    d.berth(["image", "prune", "-a", "-f"]).ok();
    assert_eq!(d.berth(["images", "-q"]).ok(), "");
    assert_eq!(
        std::fs::read_dir(d.data_root().join("image/layers/sha256"))
            .unwrap()
            .count(),
        0,
        "layers reclaimed"
    );
}

/// A docker-archive holding one image whose single layer is `layer` (uncompressed or not),
/// with the config's diff id `diff_id`.
fn docker_archive(layer: &[u8], diff_id: &str) -> Vec<u8> {
    let config = config_json(&[diff_id.to_string()], &["sh"], None);
    let cname = format!("{}.json", sha(&config).trim_start_matches("sha256:"));
    let manifest = serde_json::json!([{"Config": cname, "RepoTags": ["bad/img:1"], "Layers": ["l/layer.tar"]}]);
    archive_of(&[
        (cname, config),
        ("l/layer.tar".into(), layer.to_vec()),
        ("manifest.json".into(), manifest.to_string().into_bytes()),
    ])
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing_behind() {
    let d = Daemon::with_busybox();
    let tmp = tmpdir();
    let before = store_listing(&d);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();

    // 1. A layer whose content does not match the config's diff id.
    let good = tar_of(&[("a", b"a")]);
    let other = tar_of(&[("b", b"b")]);
    cases.push((
        "digest mismatch",
        docker_archive(&other, &sha(&good)),
        "digest mismatch",
    ));

    // 2. OCI layout: a blob whose bytes do not match its name.
    let layout = tmp.join("mismatch");
    write_oci_layout(
        &layout,
        std::slice::from_ref(&good),
        &["sh"],
        "bad.example/x:1",
    );
    let gz = gzip(&good);
    std::fs::write(
        layout
            .join("blobs/sha256")
            .join(sha(&gz).trim_start_matches("sha256:")),
        gzip(&other),
    )
    .unwrap();
    cases.push(("OCI blob mismatch", tar_dir(&layout), "digest mismatch"));

    // 3. OCI layout: the manifest references a blob that is not there.
    let layout = tmp.join("missing");
    write_oci_layout(
        &layout,
        std::slice::from_ref(&good),
        &["sh"],
        "bad.example/x:1",
    );
    std::fs::remove_file(
        layout
            .join("blobs/sha256")
            .join(sha(&gz).trim_start_matches("sha256:")),
    )
    .unwrap();
    cases.push(("missing blob", tar_dir(&layout), "missing"));

    // 4. A layer with a path-traversal entry.
    let evil = raw_tar_entry("../../evil", b"pwned");
    cases.push((
        "traversal in layer",
        docker_archive(&evil, &sha(&evil)),
        "evil",
    ));

    // 5. The archive itself with a path-traversal entry.
    cases.push((
        "traversal in archive",
        raw_tar_entry("../outside.json", b"{}"),
        "outside",
    ));

    // 6. A truncated gzip layer (digest of the truncated bytes, so only gzip can tell).
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let layer = tar_of(&[("big", &big)]);
    let layout = tmp.join("trunc");
    write_oci_layout(
        &layout,
        std::slice::from_ref(&layer),
        &["sh"],
        "bad.example/x:1",
    );
    let gz = gzip(&layer);
    let cut = &gz[..gz.len() / 2];
    let blobs = layout.join("blobs/sha256");
    std::fs::remove_file(blobs.join(sha(&gz).trim_start_matches("sha256:"))).unwrap();
    std::fs::write(blobs.join(sha(cut).trim_start_matches("sha256:")), cut).unwrap();
    // Point the manifest at the truncated blob.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mpath = blobs.join(md.trim_start_matches("sha256:"));
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["layers"][0]["digest"] = serde_json::json!(sha(cut));
    m["layers"][0]["size"] = serde_json::json!(cut.len());
    let mbytes = serde_json::to_vec(&m).unwrap();
    std::fs::remove_file(&mpath).unwrap();
    std::fs::write(
        blobs.join(sha(&mbytes).trim_start_matches("sha256:")),
        &mbytes,
    )
    .unwrap();
    let mut index = index;
    index["manifests"][0]["digest"] = serde_json::json!(sha(&mbytes));
    index["manifests"][0]["size"] = serde_json::json!(mbytes.len());
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    cases.push(("truncated gzip", tar_dir(&layout), "layer"));

    // 7. Not an image archive at all.
    cases.push(("garbage", b"this is not a tar".repeat(100), ""));

    for (what, bytes, needle) in cases {
        let f = tmp.join("case.tar");
        std::fs::write(&f, &bytes).unwrap();
        let out = load(&d, &f);
        assert_ne!(out.code, 0, "{what}: loaded?! {out:?}");
        let err = out.stderr.to_lowercase();
        assert!(err.contains(needle), "{what}: unclear error {err:?}");
        assert!(!err.contains("panick"), "{what}: {err}");
        assert_eq!(store_listing(&d), before, "{what}: store changed");
    }
    // The daemon is still fine.
    assert_eq!(d.berth(["run", "--rm", "busybox", "echo", "ok"]).ok(), "ok");
}

#[test]
fn docker_archives_move_between_berth_and_a_real_dockerd() {
    let Some(dk) = AnchorDockerd::start() else {
        return;
    };
    let tmp = tmpdir();
    let bb = integration::busybox_tar();
    // dockerd → berth.
    dk.docker(&["import", "-", "fromdocker:1"], Some(&bb)).ok();
    let from_docker = tmp.join("from-docker.tar");
    dk.docker(
        &["save", "-o", from_docker.to_str().unwrap(), "fromdocker:1"],
        None,
    )
    .ok();
    let d = Daemon::start();
    let out = load(&d, &from_docker).ok();
    assert!(out.contains("Loaded image: fromdocker:1"), "{out}");
    assert_eq!(
        d.berth([
            "run",
            "--rm",
            "fromdocker:1",
            "echo",
            "berth runs docker's image"
        ])
        .ok(),
        "berth runs docker's image"
    );
    // berth → dockerd.
    d.import_busybox_as("fromberth:2");
    let from_berth = tmp.join("from-berth.tar");
    d.berth(["save", "-o", from_berth.to_str().unwrap(), "fromberth:2"])
        .ok();
    let out = dk
        .docker(&["load", "-i", from_berth.to_str().unwrap()], None)
        .ok();
    assert!(out.contains("Loaded image: fromberth:2"), "{out}");
    let out = dk
        .docker(
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "fromberth:2",
                "echo",
                "docker runs berth's image",
            ],
            None,
        )
        .ok();
    assert_eq!(out, "docker runs berth's image");
}

#[test]
fn docker_cli_save_load_history_export_through_berthd() {
    if integration::docker_cli().is_none() {
        return;
    }
    let d = Daemon::with_busybox();
    let tmp = tmpdir();
    let tar = tmp.join("dk.tar");
    d.docker(["save", "-o", tar.to_str().unwrap(), "busybox"])
        .ok();
    d.docker(["rmi", "busybox"]).ok();
    let out = d.docker(["load", "-i", tar.to_str().unwrap()]).ok();
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let h = d.docker(["history", "busybox"]).ok();
    assert!(h.starts_with("IMAGE"), "{h}");
    let name = integration::daemon::unique("dx");
    d.docker(["create", "--name", &name, "busybox", "true"])
        .ok();
    let fs = tmp.join("fs.tar");
    d.docker(["export", "-o", fs.to_str().unwrap(), &name]).ok();
    assert!(std::fs::metadata(&fs).unwrap().len() > 100_000);
    d.docker(["rm", &name]).ok();
    let out = d.docker(["image", "prune", "-a", "-f"]).ok();
    assert!(out.contains("deleted: sha256:"), "{out}");
}
