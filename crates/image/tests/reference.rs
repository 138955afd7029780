use image::reference::Reference;

#[test]
fn normalisation_table() {
    let table = [
        (
            "busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        ),
        (
            "busybox:1.36",
            "docker.io/library/busybox:1.36",
            "busybox:1.36",
        ),
        (
            "library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        ),
        (
            "docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        ),
        (
            "index.docker.io/library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        ),
        ("user/app:1", "docker.io/user/app:1", "user/app:1"),
        (
            "docker.io/user/app",
            "docker.io/user/app:latest",
            "user/app:latest",
        ),
        ("a/b/c", "docker.io/a/b/c:latest", "a/b/c:latest"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        (
            "localhost:5000/x:1",
            "localhost:5000/x:1",
            "localhost:5000/x:1",
        ),
        (
            "quay.io/ns/name:v1.0-rc_1",
            "quay.io/ns/name:v1.0-rc_1",
            "quay.io/ns/name:v1.0-rc_1",
        ),
        (
            "my_repo.name__x-y--z",
            "docker.io/library/my_repo.name__x-y--z:latest",
            "my_repo.name__x-y--z:latest",
        ),
        ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
        (
            "Registry.Example.com/x",
            "Registry.Example.com/x:latest",
            "Registry.Example.com/x:latest",
        ),
    ];
    for (input, full, familiar) in table {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.to_string(), full, "full form of {input}");
        assert_eq!(r.familiar(), familiar, "familiar form of {input}");
        // Round trip.
        assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        assert_eq!(Reference::parse(&r.familiar()).unwrap(), r);
    }
}

#[test]
fn digests() {
    let hex = "a".repeat(64);
    let r = Reference::parse(&format!("host:5000/ns/name@sha256:{hex}")).unwrap();
    assert_eq!(r.domain(), "host:5000");
    assert_eq!(r.path(), "ns/name");
    assert_eq!(r.tag(), None);
    assert_eq!(r.digest(), Some(format!("sha256:{hex}").as_str()));
    assert_eq!(r.to_string(), format!("host:5000/ns/name@sha256:{hex}"));

    let r = Reference::parse(&format!("busybox:1@sha256:{hex}")).unwrap();
    assert_eq!(r.tag(), Some("1"));
    assert_eq!(r.familiar(), format!("busybox:1@sha256:{hex}"));
    assert_eq!(
        r.to_string(),
        format!("docker.io/library/busybox:1@sha256:{hex}")
    );
}

#[test]
fn parts_and_named() {
    let r = Reference::parse_named("busybox").unwrap();
    assert_eq!(r.tag(), None);
    assert_eq!(r.name(), "docker.io/library/busybox");
    assert_eq!(r.familiar_name(), "busybox");
    assert_eq!(r.with_tag("2").unwrap().familiar(), "busybox:2");
}

#[test]
fn invalid_references() {
    let hex = "a".repeat(64);
    let bad = [
        "".to_string(),
        "Busybox".to_string(),
        "user/App".to_string(),
        "busybox:".to_string(),
        "busybox:-bad".to_string(),
        format!("busybox:{}", "t".repeat(129)),
        "busybox:a/b".to_string(),
        "busybox@sha256:abc".to_string(),
        format!("busybox@sha256:{}", "A".repeat(64)),
        format!("busybox@md5:{hex}"),
        "busybox@".to_string(),
        hex.clone(),
        "-bad".to_string(),
        "a//b".to_string(),
        "a/b/".to_string(),
        "bad-.name".to_string(),
        "a___b".to_string(),
        "host:port/x".to_string(),
        "-host.com/x".to_string(),
        "a".repeat(256),
    ];
    for b in bad {
        let e = Reference::parse(&b);
        assert!(
            e.is_err(),
            "{b:?} should be rejected, got {:?}",
            e.map(|r| r.to_string())
        );
    }
    let msg = Reference::parse("Busybox").unwrap_err().to_string();
    assert!(msg.contains("must be lowercase"), "{msg}");
    let msg = Reference::parse("x:bad tag").unwrap_err().to_string();
    assert!(msg.contains("invalid"), "{msg}");
}
