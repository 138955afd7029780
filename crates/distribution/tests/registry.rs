//! End-to-end tests over real HTTP on 127.0.0.1: berth's registry server, berth's client,
//! Debian's reference registry (docker-registry) and skopeo.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use distribution::auth::Credentials;
use distribution::progress::LayerEvent;
use distribution::{pull, push, server, DistributionError};

async fn start_berth(root: &std::path::Path) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    server::spawn("127.0.0.1:0".parse().unwrap(), root.to_path_buf(), None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_roundtrip_berth_server() {
    let srv_dir = tempfile::tempdir().unwrap();
    let (addr, task) = start_berth(srv_dir.path()).await;
    let (_d1, store1) = new_store();
    let reference = format!("{addr}/test/busybox:1");
    let original = import_busybox(&store1, &reference);

    let (opts, events) = recording_options();
    let pushed = push(store1.clone(), &reference, &opts).await.unwrap();
    assert_eq!(pushed.tag.as_deref(), Some("1"));
    assert_eq!(pushed.digest, original.manifest_digest);
    assert!(has_layer_event(&events, |e| *e == LayerEvent::Pushed));

    // Pushing again: every blob is already there.
    let (opts, events) = recording_options();
    push(store1.clone(), &reference, &opts).await.unwrap();
    assert!(has_layer_event(&events, |e| *e == LayerEvent::LayerAlreadyExists));
    assert!(!has_layer_event(&events, |e| *e == LayerEvent::Pushed));

    // Another repository of the same registry: the layer is mounted, not uploaded.
    let other = format!("{addr}/other/busybox:2");
    store1.tag(&reference, &other).unwrap();
    let (opts, events) = recording_options();
    push(store1.clone(), &other, &opts).await.unwrap();
    assert!(
        has_layer_event(&events, |e| *e
            == LayerEvent::MountedFrom("test/busybox".into())),
        "{:?}",
        events.lock().unwrap()
    );

    // Pull into a fresh store.
    let (_d2, store2) = new_store();
    let (opts, events) = recording_options();
    let got = pull(store2.clone(), &reference, &opts).await.unwrap();
    assert_same_image(&store2, &original, &got.image);
    assert_eq!(got.digest, original.manifest_digest);
    assert!(!got.up_to_date);
    assert!(got.image.repo_tags.contains(&reference));
    assert!(got
        .image
        .repo_digests
        .contains(&format!("{addr}/test/busybox@{}", original.manifest_digest)));
    assert!(has_layer_event(&events, |e| *e == LayerEvent::PullComplete));
    assert!(has_layer_event(&events, |e| matches!(
        e,
        LayerEvent::Downloading { .. }
    )));

    // Again: up to date, the layer already exists.
    let (opts, events) = recording_options();
    let again = pull(store2.clone(), &reference, &opts).await.unwrap();
    assert!(again.up_to_date);
    assert!(has_layer_event(&events, |e| *e == LayerEvent::AlreadyExists));

    // By digest.
    let by_digest = format!("{addr}/other/busybox@{}", original.manifest_digest);
    let (_d3, store3) = new_store();
    let got = pull(store3.clone(), &by_digest, &recording_options().0)
        .await
        .unwrap();
    assert_same_image(&store3, &original, &got.image);

    // An unknown tag is a clear error.
    let err = pull(
        store3.clone(),
        &format!("{addr}/test/busybox:nope"),
        &recording_options().0,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DistributionError::ManifestUnknown(_)),
        "{err}"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_catalog_pagination_and_referrers() {
    let srv_dir = tempfile::tempdir().unwrap();
    let (addr, task) = start_berth(srv_dir.path()).await;
    let (_d1, store) = new_store();
    let base = format!("{addr}/pag/busybox");
    import_busybox(&store, &format!("{base}:a"));
    for t in ["b", "c", "d"] {
        store
            .tag(&format!("{base}:a"), &format!("{base}:{t}"))
            .unwrap();
    }
    for t in ["a", "b", "c", "d"] {
        push(
            store.clone(),
            &format!("{base}:{t}"),
            &recording_options().0,
        )
        .await
        .unwrap();
    }
    let second = format!("{addr}/pag2/x:latest");
    store.tag(&format!("{base}:a"), &second).unwrap();
    push(store.clone(), &second, &recording_options().0)
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://{addr}/v2/pag/busybox/tags/list?n=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let link = r
        .headers()
        .get("link")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(link, "</v2/pag/busybox/tags/list?n=2&last=b>; rel=\"next\"");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    let v: serde_json::Value = http
        .get(format!("http://{addr}/v2/pag/busybox/tags/list?n=2&last=b"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["tags"], serde_json::json!(["c", "d"]));

    let r = http
        .get(format!("http://{addr}/v2/_catalog?n=1"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("link").is_some());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["pag/busybox"]));
    let v: serde_json::Value = http
        .get(format!("http://{addr}/v2/_catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["repositories"],
        serde_json::json!(["pag/busybox", "pag2/x"])
    );

    // Referrers: an artifact manifest whose subject is the image.
    let subject = store.get(&format!("{base}:a")).unwrap();
    let mbytes = store
        .content()
        .read(&image::Digest::parse(&subject.manifest_digest).unwrap())
        .unwrap();
    let empty = b"{}";
    let empty_d = image::Digest::of(empty);
    let r = http
        .post(format!(
            "http://{addr}/v2/pag/busybox/blobs/uploads/?digest={empty_d}"
        ))
        .body(&empty[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let artifact = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_d.as_str(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_d.as_str(), "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.manifest_digest, "size": mbytes.len()},
        "annotations": {"org.example": "yes"}
    })
    .to_string();
    let art_d = image::Digest::of(artifact.as_bytes());
    let r = http
        .put(format!("http://{addr}/v2/pag/busybox/manifests/{art_d}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(artifact.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers().get("oci-subject").unwrap().to_str().unwrap(),
        subject.manifest_digest
    );
    let v: serde_json::Value = http
        .get(format!(
            "http://{addr}/v2/pag/busybox/referrers/{}",
            subject.manifest_digest
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["manifests"][0]["digest"], art_d.as_str());
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    let r = http
        .get(format!(
            "http://{addr}/v2/pag/busybox/referrers/{}?artifactType=other",
            subject.manifest_digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("oci-filters-applied").unwrap(),
        "artifactType"
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["manifests"], serde_json::json!([]));

    // Deleting by digest removes the manifest and its tags.
    let r = http
        .delete(format!(
            "http://{addr}/v2/pag2/x/manifests/{}",
            subject.manifest_digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = http
        .get(format!("http://{addr}/v2/pag2/x/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "MANIFEST_UNKNOWN");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_reference_registry() {
    let reg_dir = tempfile::tempdir().unwrap();
    let Some((addr, _guard)) = start_reference_registry(reg_dir.path()).await else {
        return;
    };
    let (_d1, store1) = new_store();
    let reference = format!("{addr}/ref/busybox:latest");
    let original = import_busybox(&store1, &reference);
    let (opts, _) = recording_options();
    let pushed = push(store1.clone(), &reference, &opts).await.unwrap();
    assert_eq!(pushed.digest, original.manifest_digest);
    // Mount into another repository of the reference registry.
    let other = format!("{addr}/ref2/busybox:latest");
    store1.tag(&reference, &other).unwrap();
    let (opts, events) = recording_options();
    push(store1.clone(), &other, &opts).await.unwrap();
    assert!(has_layer_event(&events, |e| matches!(
        e,
        LayerEvent::MountedFrom(_)
    )));

    let (_d2, store2) = new_store();
    let got = pull(store2.clone(), &other, &recording_options().0)
        .await
        .unwrap();
    assert_same_image(&store2, &original, &got.image);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_into_and_out_of_berth_server() {
    if !have_skopeo() {
        eprintln!("skopeo not installed: skipping");
        return;
    }
    let srv_dir = tempfile::tempdir().unwrap();
    let (addr, task) = start_berth(srv_dir.path()).await;
    let (_d1, store1) = new_store();
    let original = import_busybox(&store1, "local/busybox:latest");
    let layout = tempfile::tempdir().unwrap();
    write_oci_layout(&store1, &original, layout.path(), "latest");

    let dest = format!("docker://{addr}/sk/busybox:latest");
    let src = format!("oci:{}:latest", layout.path().display());
    let s2 = src.clone();
    let d2 = dest.clone();
    tokio::task::spawn_blocking(move || {
        skopeo(&["copy", "--dest-tls-verify=false", &s2, &d2]);
    })
    .await
    .unwrap();
    let d2 = dest.clone();
    let out = tokio::task::spawn_blocking(move || skopeo(&["inspect", "--tls-verify=false", &d2]))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Name"], format!("{addr}/sk/busybox"));
    assert_eq!(v["Architecture"], original.config.architecture.as_str());
    // skopeo gzips the layers for a registry: a new manifest, the same config.
    let d2 = dest.clone();
    let raw = tokio::task::spawn_blocking(move || {
        skopeo(&["inspect", "--raw", "--tls-verify=false", &d2])
    })
    .await
    .unwrap();
    assert_eq!(image::Digest::of(raw.as_bytes()).as_str(), v["Digest"]);
    let d2 = dest.clone();
    let config = tokio::task::spawn_blocking(move || {
        skopeo(&["inspect", "--config", "--raw", "--tls-verify=false", &d2])
    })
    .await
    .unwrap();
    assert_eq!(image::Digest::of(config.as_bytes()).as_str(), original.id);

    // And back out with skopeo into a directory, and with berth's client.
    let out_dir = tempfile::tempdir().unwrap();
    let d2 = dest.clone();
    let od = format!("dir:{}", out_dir.path().join("img").display());
    tokio::task::spawn_blocking(move || {
        skopeo(&["copy", "--src-tls-verify=false", &d2, &od]);
    })
    .await
    .unwrap();
    assert!(out_dir.path().join("img/manifest.json").is_file());
    let (_d2, store2) = new_store();
    let got = pull(
        store2.clone(),
        &format!("{addr}/sk/busybox:latest"),
        &recording_options().0,
    )
    .await
    .unwrap();
    assert_same_image(&store2, &original, &got.image);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_into_reference_registry_then_berth_pull() {
    if !have_skopeo() {
        eprintln!("skopeo not installed: skipping");
        return;
    }
    let reg_dir = tempfile::tempdir().unwrap();
    let Some((addr, _guard)) = start_reference_registry(reg_dir.path()).await else {
        return;
    };
    let (_d1, store1) = new_store();
    let original = import_busybox(&store1, "local/busybox:latest");
    let layout = tempfile::tempdir().unwrap();
    write_oci_layout(&store1, &original, layout.path(), "v1");
    let src = format!("oci:{}:v1", layout.path().display());
    let dest = format!("docker://{addr}/skref/busybox:v1");
    tokio::task::spawn_blocking(move || {
        // Docker schema2 with gzip layers: a different manifest, same image config.
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--format=v2s2",
            "--dest-compress",
            &src,
            &dest,
        ]);
    })
    .await
    .unwrap();
    let (_d2, store2) = new_store();
    let got = pull(
        store2.clone(),
        &format!("{addr}/skref/busybox:v1"),
        &recording_options().0,
    )
    .await
    .unwrap();
    assert_same_image(&store2, &original, &got.image);
    assert_ne!(got.image.manifest_digest, original.manifest_digest);
    // The pulled (gzip) image pushes back to berth's server unchanged.
    let srv_dir = tempfile::tempdir().unwrap();
    let (baddr, task) = start_berth(srv_dir.path()).await;
    let again = format!("{baddr}/from-ref/busybox:v1");
    store2.tag(&got.image.id, &again).unwrap();
    let pushed = push(store2.clone(), &again, &recording_options().0)
        .await
        .unwrap();
    assert_eq!(pushed.digest, got.image.manifest_digest);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_htpasswd() {
    let srv_dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let htpasswd = srv_dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let (addr, task) = server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        srv_dir.path().join("root"),
        Some(htpasswd),
    )
    .await
    .unwrap();
    let r = reqwest::get(format!("http://{addr}/v2/")).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "UNAUTHORIZED");

    let (_d1, store) = new_store();
    let reference = format!("{addr}/auth/busybox:1");
    let original = import_busybox(&store, &reference);
    let err = push(store.clone(), &reference, &recording_options().0)
        .await
        .unwrap_err();
    assert!(matches!(err, DistributionError::Unauthorized(_)), "{err}");

    // Wrong password, then right credentials from a docker config.json.
    let (mut opts, _) = recording_options();
    opts.credentials = Some(Credentials {
        username: "alice".into(),
        password: "wrong".into(),
    });
    let err = push(store.clone(), &reference, &opts).await.unwrap_err();
    assert!(matches!(err, DistributionError::Unauthorized(_)), "{err}");
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("config.json");
    distribution::auth::store_credentials(
        &cfg,
        &addr.to_string(),
        &Credentials {
            username: "alice".into(),
            password: "s3cret".into(),
        },
    )
    .unwrap();
    let (mut opts, _) = recording_options();
    opts.docker_config = Some(cfg);
    push(store.clone(), &reference, &opts).await.unwrap();
    let (_d2, store2) = new_store();
    let got = pull(store2.clone(), &reference, &opts).await.unwrap();
    assert_same_image(&store2, &original, &got.image);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_rejects_corrupt_blob_and_leaves_nothing() {
    let srv_dir = tempfile::tempdir().unwrap();
    let (addr, task) = start_berth(srv_dir.path()).await;
    let (_d1, store1) = new_store();
    let reference = format!("{addr}/corrupt/busybox:1");
    let original = import_busybox(&store1, &reference);
    push(store1.clone(), &reference, &recording_options().0)
        .await
        .unwrap();
    // Flip bytes of the layer blob on the server's disk (same size).
    let layer = &original.config.rootfs.diff_ids[0];
    let hex = layer.trim_start_matches("sha256:");
    let p = srv_dir.path().join("blobs/sha256").join(hex);
    let mut data = std::fs::read(&p).unwrap();
    let n = data.len();
    data[n / 2] ^= 0xff;
    std::fs::write(&p, &data).unwrap();

    let (d2, store2) = new_store();
    let err = pull(store2.clone(), &reference, &recording_options().0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DistributionError::DigestMismatch { .. }),
        "{err}"
    );
    assert!(store2.list().unwrap().is_empty());
    let image_root = d2.path().join("image");
    let left: Vec<_> = files_under(&image_root)
        .into_iter()
        .filter(|p| !p.starts_with("metadata.redb"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_of_the_same_blob() {
    let srv_dir = tempfile::tempdir().unwrap();
    let (addr, task) = start_berth(srv_dir.path()).await;
    let (_d1, store) = new_store();
    let base = format!("{addr}/conc/busybox");
    import_busybox(&store, &format!("{base}:0"));
    let mut refs = Vec::new();
    for i in 1..6 {
        let r = format!("{addr}/conc{i}/busybox:{i}");
        store.tag(&format!("{base}:0"), &r).unwrap();
        refs.push(r);
    }
    let store = Arc::clone(&store);
    let tasks = refs.iter().map(|r| {
        let store = store.clone();
        let r = r.clone();
        async move { push(store, &r, &recording_options().0).await }
    });
    for res in futures_util::future::join_all(tasks).await {
        res.unwrap();
    }
    for r in &refs {
        let (_d, s2) = new_store();
        pull(s2.clone(), r, &recording_options().0).await.unwrap();
    }
    assert!(files_under(&srv_dir.path().join("tmp")).is_empty());
    task.abort();
}
