//! Bad input gets a clear error and changes nothing.

use integration::Daemon;

/// One raw HTTP/1.1 request over the daemon's socket; returns (status, body).
fn http(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String) {
    d.http(method, path, body)
}

#[test]
fn malformed_api_input_is_a_400_with_a_message() {
    let d = Daemon::start();
    d.import_busybox();
    let (st, body) = http(&d, "POST", "/v1.44/containers/create", "{not json");
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let (st, body) = http(
        &d,
        "POST",
        "/v1.44/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#,
    );
    assert!(st == 400, "{st} {body}");
    let (st, _) = http(&d, "GET", "/v1.99/containers/json", "");
    assert_eq!(st, 400);
    let (st, body) = http(&d, "GET", "/v1.44/containers/nosuch/json", "");
    assert_eq!(st, 404);
    assert!(body.contains("No such container"), "{body}");
    let (st, body) = http(
        &d,
        "POST",
        "/v1.44/containers/create",
        r#"{"Image":"nosuchimage"}"#,
    );
    assert_eq!(st, 404);
    assert!(body.contains("No such image"), "{body}");
    // The daemon is still fine and nothing was created.
    assert!(d.container_ids().is_empty());
    let (st, body) = http(&d, "GET", "/_ping", "");
    assert_eq!((st, body.as_str()), (200, "OK"));
}

#[test]
fn bad_flags_and_conflicts_change_nothing() {
    let d = Daemon::start();
    d.import_busybox();
    assert!(
        d.berth(["run", "--rm", "--memory", "lots", "busybox", "true"])
            .code
            != 0
    );
    assert!(
        d.berth(["run", "--rm", "--cpus", "-1", "busybox", "true"])
            .code
            != 0
    );
    assert!(d.berth(["run", "--rm", "busybox", "/no/such/binary"]).code != 0);
    assert!(
        d.container_ids().is_empty(),
        "failed runs leave nothing: {:?}",
        d.container_ids()
    );
    assert!(d
        .berth(["rm", "nosuch"])
        .err()
        .contains("No such container"));
    assert!(d.berth(["rmi", "nosuch:1"]).code != 0);
}

/// Builds a tar by hand so it can hold entries no sane tool writes.
fn tar_with(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        let size = format!("{:011o}", data.len());
        h[124..135].copy_from_slice(size.as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = *kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[test]
fn hostile_tarballs_are_rejected_or_contained() {
    let d = Daemon::start();
    let canary = d.root.join("canary");
    std::fs::create_dir_all(&canary).expect("mkdir");
    let target = canary.to_string_lossy().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            tar_with(&[("../../../../../../escape", b'0', "", b"x")]),
        ),
        (
            "symlink-parent",
            tar_with(&[
                ("evil", b'2', &target, b""),
                ("evil/escape", b'0', "", b"x"),
            ]),
        ),
        (
            "hardlink-out",
            tar_with(&[("h", b'1', "../../../../../../etc/hostname", b"")]),
        ),
    ];
    let before = std::fs::read_dir(d.data_root().join("image/layers/sha256"))
        .map(|r| r.count())
        .unwrap_or(0);
    for (what, tar) in cases {
        let out = d.berth_stdin(["import", "-", &format!("evil-{what}:1")], &tar);
        // Either refused, or (for a leading-slash style entry) contained inside the layer.
        assert!(
            !std::path::Path::new("/escape").exists(),
            "{what} wrote outside"
        );
        assert_eq!(
            std::fs::read_dir(&canary).expect("canary").count(),
            0,
            "{what} wrote into the canary"
        );
        assert!(out.code != 0, "{what} should be refused: {out:?}");
        assert!(
            !out.stderr.trim().is_empty(),
            "{what}: clear error expected"
        );
    }
    let after = std::fs::read_dir(d.data_root().join("image/layers/sha256"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(before, after, "no layer left behind");
    assert!(!d.berth(["images"]).ok().contains("evil"));
    // An absolute path is contained: stripped of its leading slash.
    let tar = tar_with(&[("/abs-file", b'0', "", b"inside")]);
    let out = d.berth_stdin(["import", "-", "abs:1"], &tar);
    if out.code == 0 {
        assert!(!std::path::Path::new("/abs-file").exists());
    }
}
