mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;
use image::{DeleteItem, Digest, ImageError, ImportOptions};

#[test]
fn import_plain_and_gzip_busybox() {
    let t = TestDir::new();
    let store = t.store();
    let tar = busybox_tar();
    let plain = import(&store, &tar, Some("busybox")).unwrap();
    assert_eq!(plain.repo_tags, vec!["busybox:latest"]);
    assert!(plain.id.starts_with("sha256:"));
    let bb_size = fs::metadata("/bin/busybox").unwrap().len();
    assert!(
        plain.size >= bb_size,
        "size {} < busybox {}",
        plain.size,
        bb_size
    );

    // Config and manifest blobs exist and verify; id is the config digest.
    let cfg_digest = Digest::parse(&plain.id).unwrap();
    let cfg_bytes = store.content().read(&cfg_digest).unwrap();
    let cfg: serde_json::Value = serde_json::from_slice(&cfg_bytes).unwrap();
    assert_eq!(cfg["os"], "linux");
    assert_eq!(cfg["rootfs"]["type"], "layers");
    assert_eq!(cfg["history"][0]["created_by"], "import");
    let diff_id = Digest::parse(cfg["rootfs"]["diff_ids"][0].as_str().unwrap()).unwrap();
    assert_eq!(
        diff_id,
        Digest::of(&tar),
        "diff id is the sha256 of the uncompressed tar"
    );
    let manifest = store
        .content()
        .read(&Digest::parse(&plain.manifest_digest).unwrap())
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["config"]["digest"], plain.id);
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(m["layers"][0]["size"], tar.len() as u64);
    assert_eq!(store.content().read(&diff_id).unwrap(), tar);

    // The layer is unpacked with busybox runnable.
    let dirs = store.layer_dirs(&plain).unwrap();
    assert_eq!(dirs.len(), 1);
    assert_eq!(
        dirs[0],
        t.image_root().join("layers/sha256").join(diff_id.hex())
    );
    let bb = fs::metadata(dirs[0].join("bin/busybox")).unwrap();
    assert_eq!(bb.len(), bb_size);
    assert_eq!(bb.mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(dirs[0].join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert_eq!(
        fs::metadata(dirs[0].join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    let out = std::process::Command::new(dirs[0].join("bin/busybox"))
        .arg("true")
        .status()
        .unwrap();
    assert!(out.success());

    // Gzip: same layer (same diff id), new image.
    let gz = import(&store, &gzip(&tar), Some("gz/busybox:1")).unwrap();
    assert_ne!(gz.id, plain.id);
    assert_eq!(gz.repo_tags, vec!["gz/busybox:1"]);
    assert_eq!(gz.config.rootfs.diff_ids, plain.config.rootfs.diff_ids);
    assert_eq!(store.list().unwrap().len(), 2);
    assert!(t.image_root().join("metadata.redb").is_file());
}

#[test]
fn import_zstd_and_changes_and_message() {
    let t = TestDir::new();
    let store = t.store();
    let tar = busybox_tar();
    let z = zstd::encode_all(&tar[..], 1).unwrap();
    let img = store
        .import(
            &z[..],
            ImportOptions {
                reference: Some("localhost:5000/zz:v1".into()),
                changes: vec![
                    r#"CMD ["/bin/sh"]"#.into(),
                    "ENV PATH=/bin".into(),
                    "WORKDIR /tmp".into(),
                    "EXPOSE 80".into(),
                ],
                message: Some("hello".into()),
            },
        )
        .unwrap();
    assert_eq!(img.repo_tags, vec!["localhost:5000/zz:v1"]);
    let cc = img.container_config();
    assert_eq!(cc.cmd.unwrap(), vec!["/bin/sh"]);
    assert_eq!(cc.env.unwrap(), vec!["PATH=/bin"]);
    assert_eq!(cc.working_dir.as_deref(), Some("/tmp"));
    assert!(cc.exposed_ports.unwrap().contains_key("80/tcp"));
    assert_eq!(img.config.history[0].comment.as_deref(), Some("hello"));
    // The stored config JSON uses Docker's PascalCase keys.
    let raw = store
        .content()
        .read(&Digest::parse(&img.id).unwrap())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["config"]["Cmd"][0], "/bin/sh");
    assert_eq!(v["config"]["WorkingDir"], "/tmp");

    // A bad change fails before anything is written.
    let err = store
        .import(
            &tar[..],
            ImportOptions {
                changes: vec!["RUN rm -rf /".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, ImageError::InvalidChange(_)), "{err}");
    let err = import(&store, &tar, Some("Bad/Name")).unwrap_err();
    assert!(matches!(err, ImageError::InvalidReference(_)), "{err}");
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn layer_stored_once() {
    let t = TestDir::new();
    let store = t.store();
    let tar = busybox_tar();
    let a = import(&store, &tar, Some("one")).unwrap();
    let b = import(&store, &tar, Some("two")).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(store.layer_dirs(&a).unwrap(), store.layer_dirs(&b).unwrap());
    assert_eq!(names(&t.image_root().join("layers/sha256")).len(), 1);
    // layer blob + 2 configs + 2 manifests
    assert_eq!(names(&t.image_root().join("content/sha256")).len(), 5);
    assert!(names(&t.image_root().join("tmp")).is_empty());

    // Removing one keeps the shared layer; removing the other frees it.
    store.remove("one", false).unwrap();
    assert_eq!(names(&t.image_root().join("layers/sha256")).len(), 1);
    assert_eq!(names(&t.image_root().join("content/sha256")).len(), 3);
    assert!(store.layer_dirs(&b).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    store.remove("two", false).unwrap();
    assert!(names(&t.image_root().join("layers/sha256")).is_empty());
    assert!(names(&t.image_root().join("content/sha256")).is_empty());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn get_by_tag_id_prefix() {
    let t = TestDir::new();
    let store = t.store();
    let img = import(&store, &busybox_tar(), Some("busybox")).unwrap();
    let hex = img.id.strip_prefix("sha256:").unwrap().to_string();
    for name in [
        "busybox".to_string(),
        "busybox:latest".to_string(),
        "library/busybox".to_string(),
        "docker.io/library/busybox:latest".to_string(),
        img.id.clone(),
        hex.clone(),
        hex[..12].to_string(),
        hex[..4].to_string(),
        format!("sha256:{}", &hex[..8]),
    ] {
        assert_eq!(store.get(&name).unwrap().id, img.id, "get({name})");
    }
    for missing in [
        "busybox:2",
        "nope",
        &hex[..3],
        "sha256:",
        "zzzz",
        "Bad Name",
    ] {
        let e = store.get(missing).unwrap_err();
        assert!(matches!(e, ImageError::NotFound(_)), "get({missing}): {e}");
    }
    // Survives a reopen.
    drop(store);
    let store = t.store();
    assert_eq!(
        store.get("busybox").unwrap().repo_tags,
        vec!["busybox:latest"]
    );
}

#[test]
fn ambiguous_prefix() {
    let t = TestDir::new();
    let store = t.store();
    let tar = busybox_tar();
    // Import until two ids share a first hex digit (at most 17 imports by pigeonhole).
    let mut ids: Vec<String> = Vec::new();
    let clash = loop {
        let img = import(&store, &tar, None).unwrap();
        let c = img.id.as_bytes()[7];
        if let Some(prev) = ids.iter().find(|i| i.as_bytes()[7] == c) {
            break (prev.clone(), img.id);
        }
        ids.push(img.id);
    };
    let (a, b) = clash;
    // Longest common prefix (≥ 1 char) padded: use the shared first char when it is ≥ 4 chars.
    let common: String = a[7..]
        .chars()
        .zip(b[7..].chars())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    let e = store.get(&format!("sha256:{common}")).unwrap_err();
    if common.len() >= 4 {
        assert!(matches!(e, ImageError::Ambiguous(_)), "{e}");
    } else {
        assert!(matches!(e, ImageError::NotFound(_)), "{e}");
    }
    // Untagged images are listed with no tags.
    assert!(store.list().unwrap().iter().all(|i| i.repo_tags.is_empty()));
}

#[test]
fn tag_untag_remove_rules() {
    let t = TestDir::new();
    let store = t.store();
    let img = import(&store, &busybox_tar(), Some("busybox")).unwrap();
    store.tag("busybox", "busybox:2").unwrap();
    store.tag(&img.id, "other/repo:x").unwrap();
    assert!(store.tag("busybox", "bad:-tag").is_err());
    assert!(matches!(
        store.tag("nope", "x"),
        Err(ImageError::NotFound(_))
    ));
    let r = store.get(&img.id).unwrap();
    assert_eq!(
        r.repo_tags,
        vec!["busybox:2", "busybox:latest", "other/repo:x"]
    );

    // By id with several tags: needs force.
    let e = store.remove(&img.id, false).unwrap_err();
    assert!(matches!(e, ImageError::Conflict(_)), "{e}");
    assert!(e.to_string().contains("must be forced"), "{e}");

    // By tag: untag only while others remain.
    assert_eq!(
        store.remove("busybox:2", false).unwrap(),
        vec![DeleteItem::Untagged("busybox:2".into())]
    );
    assert_eq!(
        store.remove("other/repo:x", false).unwrap(),
        vec![DeleteItem::Untagged("other/repo:x".into())]
    );
    assert!(matches!(
        store.remove("busybox:2", false),
        Err(ImageError::NotFound(_))
    ));
    // Last tag: untag and delete.
    assert_eq!(
        store.remove("busybox", false).unwrap(),
        vec![
            DeleteItem::Untagged("busybox:latest".into()),
            DeleteItem::Deleted(img.id.clone())
        ]
    );
    assert!(matches!(store.get(&img.id), Err(ImageError::NotFound(_))));
    assert!(names(&t.image_root().join("layers/sha256")).is_empty());

    // Force by id removes every tag.
    let img = import(&store, &busybox_tar(), Some("a")).unwrap();
    store.tag("a", "b").unwrap();
    let items = store.remove(&img.id[7..19], true).unwrap();
    assert_eq!(
        items,
        vec![
            DeleteItem::Untagged("a:latest".into()),
            DeleteItem::Untagged("b:latest".into()),
            DeleteItem::Deleted(img.id.clone())
        ]
    );
    // By id with one tag: no force needed.
    let img = import(&store, &busybox_tar(), Some("c")).unwrap();
    let items = store.remove(&img.id, false).unwrap();
    assert_eq!(items.last(), Some(&DeleteItem::Deleted(img.id.clone())));
    // Untagged image by id.
    let img = import(&store, &busybox_tar(), None).unwrap();
    assert_eq!(
        store.remove(&img.id, false).unwrap(),
        vec![DeleteItem::Deleted(img.id.clone())]
    );

    // Moving a tag leaves the old image dangling, not deleted.
    let old = import(&store, &busybox_tar(), Some("mv")).unwrap();
    let new = import(&store, &busybox_tar(), Some("mv")).unwrap();
    assert!(store.get(&old.id).unwrap().repo_tags.is_empty());
    assert_eq!(store.get("mv").unwrap().id, new.id);
    assert!(store.list().unwrap().len() == 2);
    assert!(names(&t.image_root().join("tmp")).is_empty());
}

#[test]
fn concurrent_imports_share_store() {
    let t = TestDir::new();
    let store = std::sync::Arc::new(t.store());
    let tar = std::sync::Arc::new(busybox_tar());
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let s = store.clone();
            let tar = tar.clone();
            std::thread::spawn(move || import(&s, &tar, Some(&format!("c{i}"))).unwrap())
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(store.list().unwrap().len(), 4);
    assert_eq!(names(&t.image_root().join("layers/sha256")).len(), 1);
    assert!(names(&t.image_root().join("tmp")).is_empty());
}

#[test]
fn commit_image_like_a_pull() {
    use image::reference::Reference;
    use image::NewImage;
    let t = TestDir::new();
    let store = t.store();
    let tar = busybox_tar();
    let gz = gzip(&tar);
    // The compressed blob goes to the content store; the layer is staged from it.
    let (blob, _) = store.content().write_from(&mut &gz[..], None).unwrap();
    let staged = store
        .stage_layer(store.content().open_blob(&blob).unwrap(), false)
        .unwrap();
    assert_eq!(staged.diff_id(), &Digest::of(&tar));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Healthcheck": {"Test": ["NONE"]}},
        "rootfs": {"type": "layers", "diff_ids": [staged.diff_id().to_string()]},
        "unknown_top_level": 42
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": Digest::of(&config_bytes).to_string(), "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": blob.to_string(), "size": gz.len()}]
    }))
    .unwrap();
    let mdigest = Digest::of(&manifest);
    let repo = Reference::parse("localhost:5000/pulled:1").unwrap();
    let by_digest = repo.with_digest(mdigest.as_str()).unwrap();
    let img = store
        .commit_image(NewImage {
            config: config_bytes.clone(),
            manifest,
            layers: vec![staged],
            blobs: vec![blob.clone()],
            references: vec![repo, by_digest.clone()],
            created: None,
        })
        .unwrap();
    assert_eq!(img.id, Digest::of(&config_bytes).to_string());
    assert_eq!(img.created, "2024-01-01T00:00:00Z");
    assert_eq!(img.repo_tags, vec!["localhost:5000/pulled:1"]);
    assert_eq!(img.repo_digests, vec![by_digest.familiar()]);
    assert_eq!(img.config.extra["unknown_top_level"], 42);
    assert!(img.container_config().extra.contains_key("Healthcheck"));
    assert_eq!(store.get(&by_digest.familiar()).unwrap().id, img.id);
    assert!(store.layer_dirs(&img).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    // The uncompressed tar was not kept; the compressed blob is held by the image.
    assert!(!store.content().exists(&Digest::of(&tar)));
    // A second image on the same layer needs no staging, and reuses the recorded size.
    let mut config2 = config.clone();
    config2["created"] = "2024-02-02T00:00:00Z".into();
    let img2 = store
        .commit_image(NewImage {
            config: serde_json::to_vec(&config2).unwrap(),
            manifest: b"{}".to_vec(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(img2.size, img.size);
    // A layer that is neither staged nor present is refused.
    let mut config3 = config.clone();
    config3["rootfs"]["diff_ids"] = serde_json::json!([format!("sha256:{}", "f".repeat(64))]);
    let e = store
        .commit_image(NewImage {
            config: serde_json::to_vec(&config3).unwrap(),
            manifest: b"{}".to_vec(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(e, ImageError::NotFound(_)), "{e}");
    // Removing by tag: the tag and the digest ref go, then the image and its blobs.
    let items = store.remove("localhost:5000/pulled:1", false).unwrap();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(!store.content().exists(&blob));
    assert_eq!(
        names(&t.image_root().join("layers/sha256")).len(),
        1,
        "img2 still uses the layer"
    );
    store.remove(&img2.id, false).unwrap();
    assert!(names(&t.image_root().join("layers/sha256")).is_empty());
    assert!(names(&t.image_root().join("content/sha256")).is_empty());
}

#[test]
fn reopen_cleans_tmp() {
    let t = TestDir::new();
    let store = t.store();
    drop(store);
    let tmp = t.image_root().join("tmp");
    fs::create_dir_all(tmp.join("layer-leftover/x")).unwrap();
    fs::write(tmp.join("blob-leftover"), b"x").unwrap();
    // An orphan layer dir and blob (crash between unpack and record) go too; a recorded
    // image's survive.
    let store = t.store();
    let img = import(&store, &busybox_tar(), Some("keep")).unwrap();
    drop(store);
    let orphan_layer = t.image_root().join("layers/sha256").join("e".repeat(64));
    fs::create_dir_all(orphan_layer.join("bin")).unwrap();
    let orphan_blob = t.image_root().join("content/sha256").join("e".repeat(64));
    fs::write(&orphan_blob, b"x").unwrap();
    let store = t.store();
    assert!(names(&tmp).is_empty());
    assert!(!orphan_layer.exists() && !orphan_blob.exists());
    assert!(store.layer_dirs(&img).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    assert_eq!(names(&t.image_root().join("content/sha256")).len(), 3);
    assert_eq!(store.gc().unwrap(), (0, 0));
}
