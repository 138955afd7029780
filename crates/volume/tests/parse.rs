//! Parsing tables for `-v`, `--mount`, `--tmpfs`, API `Mounts`, and the bad inputs of issue 5.

use std::collections::BTreeMap;

use volume::{
    collect, from_api_mount, parse_mount_flag, parse_tmpfs_flag, parse_volume_flag,
    parse_volumes_from, tmpfs_options, ApiMount, MountRequest, MountType, Origin, Propagation,
    VolumeError,
};

#[test]
fn volume_flag_good() {
    struct Case {
        spec: &'static str,
        kind: MountType,
        source: Option<&'static str>,
        target: &'static str,
        ro: bool,
        prop: Option<Propagation>,
        nocopy: bool,
        mode: &'static str,
    }
    let cases = [
        Case {
            spec: "/data",
            kind: MountType::Volume,
            source: None,
            target: "/data",
            ro: false,
            prop: None,
            nocopy: false,
            mode: "",
        },
        Case {
            spec: "/data/",
            kind: MountType::Volume,
            source: None,
            target: "/data",
            ro: false,
            prop: None,
            nocopy: false,
            mode: "",
        },
        Case {
            spec: "myvol:/data",
            kind: MountType::Volume,
            source: Some("myvol"),
            target: "/data",
            ro: false,
            prop: None,
            nocopy: false,
            mode: "z",
        },
        Case {
            spec: "my.vol_1-x:/d:ro",
            kind: MountType::Volume,
            source: Some("my.vol_1-x"),
            target: "/d",
            ro: true,
            prop: None,
            nocopy: false,
            mode: "ro",
        },
        Case {
            spec: "v1:/d:nocopy",
            kind: MountType::Volume,
            source: Some("v1"),
            target: "/d",
            ro: false,
            prop: None,
            nocopy: true,
            mode: "nocopy",
        },
        Case {
            spec: "v1:/d:ro,nocopy,Z",
            kind: MountType::Volume,
            source: Some("v1"),
            target: "/d",
            ro: true,
            prop: None,
            nocopy: true,
            mode: "ro,nocopy,Z",
        },
        Case {
            spec: "/host:/ctr",
            kind: MountType::Bind,
            source: Some("/host"),
            target: "/ctr",
            ro: false,
            prop: None,
            nocopy: false,
            mode: "",
        },
        Case {
            spec: "/host//a/:/ctr:rw",
            kind: MountType::Bind,
            source: Some("/host/a"),
            target: "/ctr",
            ro: false,
            prop: None,
            nocopy: false,
            mode: "rw",
        },
        Case {
            spec: "/host:/ctr:ro",
            kind: MountType::Bind,
            source: Some("/host"),
            target: "/ctr",
            ro: true,
            prop: None,
            nocopy: false,
            mode: "ro",
        },
        Case {
            spec: "/host:/ctr:z",
            kind: MountType::Bind,
            source: Some("/host"),
            target: "/ctr",
            ro: false,
            prop: None,
            nocopy: false,
            mode: "z",
        },
        Case {
            spec: "/host:/ctr:ro,rshared",
            kind: MountType::Bind,
            source: Some("/host"),
            target: "/ctr",
            ro: true,
            prop: Some(Propagation::RShared),
            nocopy: false,
            mode: "ro,rshared",
        },
        Case {
            spec: "/host:/ctr:rslave",
            kind: MountType::Bind,
            source: Some("/host"),
            target: "/ctr",
            ro: false,
            prop: Some(Propagation::RSlave),
            nocopy: false,
            mode: "rslave",
        },
        Case {
            spec: "/host:/ctr:shared,Z,cached",
            kind: MountType::Bind,
            source: Some("/host"),
            target: "/ctr",
            ro: false,
            prop: Some(Propagation::Shared),
            nocopy: false,
            mode: "shared,Z,cached",
        },
        Case {
            spec: "/:/host",
            kind: MountType::Bind,
            source: Some("/"),
            target: "/host",
            ro: false,
            prop: None,
            nocopy: false,
            mode: "",
        },
    ];
    for c in cases {
        let r = parse_volume_flag(c.spec).unwrap_or_else(|e| panic!("{}: {e}", c.spec));
        assert_eq!(r.kind, c.kind, "{}", c.spec);
        assert_eq!(r.source.as_deref(), c.source, "{}", c.spec);
        assert_eq!(r.target, c.target, "{}", c.spec);
        assert_eq!(r.read_only, c.ro, "{}", c.spec);
        assert_eq!(r.propagation, c.prop, "{}", c.spec);
        assert_eq!(r.nocopy, c.nocopy, "{}", c.spec);
        assert_eq!(r.mode, c.mode, "{}", c.spec);
        assert_eq!(r.create_host_path, c.kind == MountType::Bind, "{}", c.spec);
        assert_eq!(r.origin, Origin::Bind);
    }
}

#[test]
fn volume_flag_bad() {
    let cases: &[(&str, &str)] = &[
        // relative host paths
        ("./data:/data", "mount path must be absolute"),
        ("../data:/data", "mount path must be absolute"),
        ("~/data:/data", "mount path must be absolute"),
        // volume names with '/' or bad characters
        (
            "a/b:/data",
            "includes invalid characters for a local volume name",
        ),
        ("-vol:/data", "includes invalid characters"),
        ("v:/data", "includes invalid characters"),
        ("my vol:/data", "includes invalid characters"),
        ("vol$:/data", "includes invalid characters"),
        // targets
        ("vol:data", "mount path must be absolute"),
        ("data", "mount path must be absolute"),
        ("/host:/a/../b", "must not contain '..'"),
        ("vol:/..", "must not contain '..'"),
        ("/..", "must not contain '..'"),
        ("/host:/", "destination can't be '/'"),
        ("/", "destination can't be '/'"),
        // options
        ("/host:/ctr:xyz", "invalid mode: xyz"),
        ("/host:/ctr:ro,rw", "invalid mode: ro,rw"),
        ("/host:/ctr:shared,rshared", "invalid mode"),
        ("/host:/ctr:nocopy", "invalid mode: nocopy"),
        ("vol:/ctr:rshared", "invalid mode: rshared"),
        ("vol:/ctr:ro,", "invalid mode"),
        // shapes
        ("", "invalid volume specification"),
        (":/data", "invalid volume specification"),
        ("/data:rw", "invalid volume specification"),
        ("a:/b:ro:x", "invalid volume specification"),
        ("/a:/b::", "invalid volume specification"),
    ];
    for (spec, want) in cases {
        match parse_volume_flag(spec) {
            Ok(r) => panic!("{spec}: accepted as {r:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{spec}: got {e}, want {want}"),
        }
    }
    assert!(matches!(
        parse_volume_flag("./x:/y"),
        Err(VolumeError::RelativeHostPath(_))
    ));
    assert!(matches!(
        parse_volume_flag("a/b:/y"),
        Err(VolumeError::InvalidVolumeName(_))
    ));
    assert!(matches!(
        parse_volume_flag("v1:/a/../b"),
        Err(VolumeError::InvalidTarget { .. })
    ));
    assert!(matches!(
        parse_volume_flag("v1:/b:bogus"),
        Err(VolumeError::InvalidMode(_))
    ));
}

#[test]
fn mount_flag_good() {
    let r =
        parse_mount_flag("type=bind,src=/srv,dst=/data,readonly,bind-propagation=rslave").unwrap();
    assert_eq!(r.kind, MountType::Bind);
    assert_eq!(r.source.as_deref(), Some("/srv"));
    assert_eq!(r.target, "/data");
    assert!(r.read_only);
    assert_eq!(r.propagation, Some(Propagation::RSlave));
    assert!(!r.create_host_path, "--mount must not create the host path");
    assert_eq!(r.origin, Origin::Mount);
    assert_eq!(r.mode, "");

    let r = parse_mount_flag("type=bind,source=/srv,target=/d,ro=false").unwrap();
    assert!(!r.read_only);
    let r = parse_mount_flag("type=bind,source=/srv,destination=/d,readonly=1").unwrap();
    assert!(r.read_only);

    let r = parse_mount_flag(
        "type=volume,src=db,dst=/var/lib/db,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,\"volume-opt=o=size=1m,uid=5\"",
    )
    .unwrap();
    assert_eq!(r.kind, MountType::Volume);
    assert_eq!(r.source.as_deref(), Some("db"));
    assert!(r.nocopy);
    assert_eq!(r.labels.get("a").map(String::as_str), Some("b"));
    assert_eq!(r.driver_opts.get("type").map(String::as_str), Some("tmpfs"));
    assert_eq!(
        r.driver_opts.get("o").map(String::as_str),
        Some("size=1m,uid=5")
    );

    // default type is volume; no source = anonymous
    let r = parse_mount_flag("target=/cache").unwrap();
    assert_eq!(r.kind, MountType::Volume);
    assert_eq!(r.source, None);
    let r = parse_mount_flag("dst=/x,volume-nocopy=true,volume-driver=local").unwrap();
    assert!(r.nocopy);
    assert_eq!(r.driver.as_deref(), Some("local"));

    let r = parse_mount_flag("type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
    assert_eq!(r.kind, MountType::Tmpfs);
    assert_eq!(r.tmpfs_size, Some(64 << 20));
    assert_eq!(r.tmpfs_mode, Some(0o1770));
    assert_eq!(
        tmpfs_options(&r),
        [
            "noexec",
            "nosuid",
            "nodev",
            "rprivate",
            "size=65536k",
            "mode=1770"
        ]
    );
    // keys are case-insensitive like docker's
    let r = parse_mount_flag("Type=tmpfs,Target=/t,ReadOnly").unwrap();
    assert!(r.read_only);
}

#[test]
fn mount_flag_bad() {
    let cases: &[(&str, &str)] = &[
        (
            "type=bind,src=/srv,dst=/d,bogus=1",
            "unexpected key 'bogus' in 'bogus=1'",
        ),
        ("type=bind,src=/srv,dst=/d,frob", "unexpected key 'frob'"),
        ("type=bind,src=/srv", "field Target must not be empty"),
        ("type=bind,dst=/d", "field Source must not be empty"),
        ("type=bind,src=srv,dst=/d", "mount path must be absolute"),
        ("type=bind,src=./srv,dst=/d", "mount path must be absolute"),
        ("type=bind,src=/srv,dst=d", "mount path must be absolute"),
        ("type=bind,src=/srv,dst=/a/../b", "'..'"),
        (
            "type=bind,src=/srv,dst=/d,bind-propagation=sideways",
            "invalid propagation mode",
        ),
        (
            "type=bind,src=/srv,dst=/d,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        (
            "type=bind,src=/srv,dst=/d,tmpfs-size=1m",
            "cannot mix 'tmpfs-*'",
        ),
        (
            "type=volume,src=v1,dst=/d,bind-propagation=shared",
            "cannot mix 'bind-*'",
        ),
        ("type=volume,src=a/b,dst=/d", "invalid characters"),
        ("type=volume,src=/abs,dst=/d", "needs type=bind"),
        (
            "type=volume,src=v1,dst=/d,readonly=maybe",
            "invalid value for readonly",
        ),
        (
            "type=volume,src=v1,dst=/d,volume-opt=novalue",
            "must be key=value",
        ),
        (
            "type=tmpfs,src=x,dst=/d",
            "field Source must not be specified",
        ),
        ("type=tmpfs,dst=/d,tmpfs-size=lots", "invalid size"),
        ("type=tmpfs,dst=/d,tmpfs-mode=99", "invalid mode"),
        ("type=tmpfs,dst=/d,volume-nocopy", "cannot mix 'volume-*'"),
        ("type=npipe,src=x,dst=/d", "not supported"),
        ("type=bind,src=\"/a,dst=/d", "unterminated quote"),
        ("src", "must be a key=value pair"),
    ];
    for (spec, want) in cases {
        match parse_mount_flag(spec) {
            Ok(r) => panic!("{spec}: accepted as {r:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{spec}: got {e}, want {want}"),
        }
    }
}

#[test]
fn tmpfs_flag() {
    let r = parse_tmpfs_flag("/run").unwrap();
    assert_eq!(r.kind, MountType::Tmpfs);
    assert_eq!(r.origin, Origin::Tmpfs);
    assert_eq!(tmpfs_options(&r), ["noexec", "nosuid", "nodev", "rprivate"]);
    let r = parse_tmpfs_flag("/run:rw,size=64m,exec,mode=1777,uid=1000").unwrap();
    assert_eq!(r.tmpfs_mode, Some(0o1777));
    assert_eq!(
        tmpfs_options(&r),
        [
            "nosuid",
            "nodev",
            "rprivate",
            "size=64m",
            "exec",
            "uid=1000",
            "mode=1777"
        ]
    );
    let r = parse_tmpfs_flag("/ro:ro,size=50%").unwrap();
    assert!(r.read_only);
    assert!(tmpfs_options(&r).contains(&"ro".to_string()));
    for (spec, want) in [
        ("run", "must be absolute"),
        ("/a/../b", "'..'"),
        ("/x:bogus", "invalid tmpfs option"),
        ("/x:size=huge", "invalid size"),
        ("/x:mode=9", "invalid mode"),
        ("/x:uid=root", "invalid tmpfs option value"),
        ("/x:foo=bar", "invalid tmpfs option"),
    ] {
        match parse_tmpfs_flag(spec) {
            Ok(r) => panic!("{spec}: accepted as {r:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{spec}: got {e}, want {want}"),
        }
    }
}

#[test]
fn api_mounts_json() {
    let json = r#"[
      {"Type":"bind","Source":"/srv","Target":"/d","ReadOnly":true,"BindOptions":{"Propagation":"rshared"}},
      {"Type":"volume","Source":"db","Target":"/db","VolumeOptions":{"NoCopy":true,"Labels":{"k":"v"},
         "DriverConfig":{"Name":"local","Options":{"type":"tmpfs","device":"tmpfs"}}}},
      {"Type":"volume","Target":"/anon"},
      {"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}
    ]"#;
    let mounts: Vec<ApiMount> = serde_json::from_str(json).unwrap();
    let reqs: Vec<MountRequest> = mounts.iter().map(|m| from_api_mount(m).unwrap()).collect();
    assert_eq!(reqs[0].kind, MountType::Bind);
    assert!(reqs[0].read_only);
    assert_eq!(reqs[0].propagation, Some(Propagation::RShared));
    assert!(reqs[1].nocopy);
    assert_eq!(reqs[1].driver.as_deref(), Some("local"));
    assert_eq!(reqs[1].driver_opts.len(), 2);
    assert_eq!(reqs[1].labels.get("k").map(String::as_str), Some("v"));
    assert_eq!(reqs[2].source, None);
    assert_eq!(reqs[3].tmpfs_size, Some(1 << 20));
    assert_eq!(
        tmpfs_options(&reqs[3]),
        [
            "noexec",
            "nosuid",
            "nodev",
            "rprivate",
            "size=1024k",
            "mode=700"
        ]
    );

    let bad = [
        (
            r#"{"Type":"bind","Source":"/s","Target":"/d","VolumeOptions":{}}"#,
            "VolumeOptions must not be specified",
        ),
        (
            r#"{"Type":"volume","Source":"v1","Target":"/d","BindOptions":{}}"#,
            "BindOptions must not be specified",
        ),
        (
            r#"{"Type":"tmpfs","Target":"/d","TmpfsOptions":{"SizeBytes":-1}}"#,
            "invalid tmpfs size",
        ),
        (
            r#"{"Type":"","Target":"/d"}"#,
            "mount type must not be empty",
        ),
        (
            r#"{"Type":"volume","Source":"v1","Target":"/d","VolumeOptions":{"Subpath":"x"}}"#,
            "subpath",
        ),
        (
            r#"{"Type":"bind","Source":"/s","Target":"/d","BindOptions":{"NonRecursive":true}}"#,
            "non-recursive",
        ),
    ];
    for (j, want) in bad {
        let m: ApiMount = serde_json::from_str(j).unwrap();
        match from_api_mount(&m) {
            Ok(r) => panic!("{j}: accepted as {r:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{j}: got {e}, want {want}"),
        }
    }
}

#[test]
fn collect_duplicates_and_image_volumes() {
    let tmpfs = BTreeMap::from([("/run".to_string(), "size=1m".to_string())]);
    let reqs = collect(
        &["v1:/data".into(), "/srv:/srv:ro".into()],
        &[],
        &tmpfs,
        &["/data".into(), "/var/cache/".into()],
    )
    .unwrap();
    let targets: Vec<&str> = reqs.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/data", "/srv", "/run", "/var/cache"]);
    assert_eq!(reqs[3].origin, Origin::Image);
    assert_eq!(reqs[3].source, None);

    let e = collect(
        &["v1:/data".into(), "/h:/data/".into()],
        &[],
        &BTreeMap::new(),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "Duplicate mount point: /data");
    let m: ApiMount = serde_json::from_str(r#"{"Type":"tmpfs","Target":"/x"}"#).unwrap();
    let e = collect(
        &[],
        &[m],
        &BTreeMap::from([("/x".into(), String::new())]),
        &[],
    )
    .unwrap_err();
    assert!(matches!(e, VolumeError::DuplicateMountPoint(_)));
    assert!(collect(&[], &[], &BTreeMap::new(), &["rel".into()]).is_err());
}

#[test]
fn volumes_from() {
    assert_eq!(parse_volumes_from("c1").unwrap(), ("c1".into(), None));
    assert_eq!(
        parse_volumes_from("c1:ro").unwrap(),
        ("c1".into(), Some(true))
    );
    assert_eq!(
        parse_volumes_from("c1:rw").unwrap(),
        ("c1".into(), Some(false))
    );
    assert!(parse_volumes_from("c1:xx").is_err());
    assert!(parse_volumes_from("").is_err());
    assert!(parse_volumes_from(":ro").is_err());
}

#[test]
fn error_statuses() {
    assert_eq!(VolumeError::NotFound("x".into()).http_status(), 404);
    let e = VolumeError::InUse {
        name: "v".into(),
        containers: vec!["a".into(), "b".into()],
    };
    assert_eq!(e.http_status(), 409);
    assert_eq!(e.to_string(), "remove v: volume is in use - [a, b]");
    assert_eq!(parse_volume_flag("x/y:/z").unwrap_err().http_status(), 400);
}

#[test]
fn filters_from_maps() {
    use volume::{ListFilters, PruneOptions};
    let m = |k: &str, v: &str| BTreeMap::from([(k.to_string(), vec![v.to_string()])]);
    assert!(PruneOptions::from_map(&m("all", "true")).unwrap().all);
    assert!(!PruneOptions::from_map(&m("all", "0")).unwrap().all);
    assert_eq!(
        PruneOptions::from_map(&m("label!", "k"))
            .unwrap()
            .not_labels,
        ["k"]
    );
    assert!(PruneOptions::from_map(&m("all", "maybe")).is_err());
    assert!(PruneOptions::from_map(&m("until", "1h")).is_err());
    assert_eq!(
        ListFilters::from_map(&m("label", "a=b")).unwrap().labels,
        ["a=b"]
    );
    assert!(ListFilters::from_map(&m("dangling", "yes")).is_err());
}

#[test]
fn store_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<volume::VolumeStore>();
}
