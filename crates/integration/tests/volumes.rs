//! Volumes end to end: named, anonymous (image `VOLUME`), bind (`:ro`), tmpfs, `--mount`,
//! `--volumes-from`, `--read-only`, the `volume` verbs, bad input, berthd restarts and the
//! real docker CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration::daemon::unique;
use integration::{busybox_tar, docker_cli, Daemon};

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox();
    d
}

fn volume_names(d: &Daemon) -> Vec<String> {
    d.berth(["volume", "ls", "-q"])
        .ok()
        .lines()
        .map(str::to_string)
        .collect()
}

fn inspect(d: &Daemon, what: &str) -> serde_json::Value {
    let out = d.berth(["inspect", what]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

fn volume_inspect(d: &Daemon, name: &str) -> serde_json::Value {
    let out = d.berth(["volume", "inspect", name]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).expect("volume inspect JSON");
    v[0].clone()
}

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let p = PathBuf::from(format!("/tmp/{}", unique(prefix)));
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Imports busybox plus `/data/seed` ("seeded", mode 0640) and `VOLUME /data` as `reference`.
fn import_seeded_image(d: &Daemon, reference: &str) {
    let tmp = TempDir::new("vtar");
    let tar = tmp.0.join("rootfs.tar");
    std::fs::copy(busybox_tar(), &tar).expect("copy busybox tar");
    let extra = tmp.0.join("extra");
    std::fs::create_dir_all(extra.join("data")).expect("mkdir data");
    std::fs::write(extra.join("data/seed"), "seeded\n").expect("write seed");
    let st = Command::new("chmod")
        .args(["0640", &extra.join("data/seed").to_string_lossy()])
        .status()
        .expect("chmod");
    assert!(st.success());
    let st = Command::new("tar")
        .arg("-rf")
        .arg(&tar)
        .arg("-C")
        .arg(&extra)
        .args([
            "--owner=0",
            "--group=0",
            "--no-recursion",
            "data",
            "data/seed",
        ])
        .status()
        .expect("run tar");
    assert!(st.success(), "tar -r failed");
    let bytes = std::fs::read(&tar).expect("read tar");
    d.berth_stdin(
        [
            "import",
            "--change",
            "CMD [\"sh\"]",
            "--change",
            "VOLUME /data",
            "-",
            reference,
        ],
        &bytes,
    )
    .ok();
}

#[test]
fn named_volume_data_outlives_the_container() {
    let d = daemon();
    let vol = unique("named");
    let w = unique("writer");
    d.berth([
        "run",
        "--name",
        &w,
        "-v",
        &format!("{vol}:/data"),
        "busybox",
        "sh",
        "-c",
        "echo persisted > /data/file",
    ])
    .ok();
    let c = inspect(&d, &w);
    let m = &c["Mounts"][0];
    assert_eq!(m["Type"], "volume", "{c}");
    assert_eq!(m["Name"], vol.as_str());
    assert_eq!(m["Destination"], "/data");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["RW"], true);
    d.berth(["rm", "-v", &w]).ok();
    assert!(volume_names(&d).contains(&vol), "rm -v keeps named volumes");
    let out = d
        .berth([
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/data"),
            "busybox",
            "cat",
            "/data/file",
        ])
        .ok();
    assert_eq!(out, "persisted");
    let v = volume_inspect(&d, &vol);
    assert_eq!(v["Name"], vol.as_str());
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    let mp = v["Mountpoint"].as_str().unwrap_or("").to_string();
    assert_eq!(
        Path::new(&mp),
        d.data_root().join("volumes").join(&vol).join("_data")
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(&mp).join("file")).unwrap(),
        "persisted\n"
    );
}

#[test]
fn image_volume_content_is_copied_into_named_and_anonymous_volumes() {
    let d = daemon();
    let img = format!("{}:v1", unique("seeded"));
    import_seeded_image(&d, &img);
    // A named volume at the image's VOLUME path starts with the image's content.
    let vol = unique("seedvol");
    let out = d
        .berth([
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/data"),
            &img,
            "sh",
            "-c",
            "cat /data/seed; stat -c %a /data/seed",
        ])
        .ok();
    assert_eq!(out, "seeded\n640");
    // It is copied once: later changes stay.
    d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        &img,
        "rm",
        "/data/seed",
    ])
    .ok();
    let out = d
        .berth([
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/data"),
            &img,
            "ls",
            "/data",
        ])
        .ok();
    assert_eq!(out, "");
    // An anonymous volume for the image's VOLUME.
    let before = volume_names(&d);
    let anon = unique("anon");
    let out = d
        .berth(["run", "--name", &anon, &img, "cat", "/data/seed"])
        .ok();
    assert_eq!(out, "seeded");
    let c = inspect(&d, &anon);
    let name = c["Mounts"][0]["Name"].as_str().unwrap_or("").to_string();
    assert_eq!(name.len(), 64, "anonymous volume name: {c}");
    assert_eq!(c["Mounts"][0]["Destination"], "/data");
    let after = volume_names(&d);
    assert!(
        after.contains(&name) && !before.contains(&name),
        "{after:?}"
    );
    let v = volume_inspect(&d, &name);
    assert!(
        v["Labels"].get("com.docker.volume.anonymous").is_some(),
        "{v}"
    );
    // `rm -v` removes the anonymous volume.
    d.berth(["rm", "-v", &anon]).ok();
    assert!(!volume_names(&d).contains(&name));
    // Plain `rm` keeps it; `-v /path` makes another anonymous one.
    let keep = unique("keep");
    d.berth(["run", "--name", &keep, "-v", "/other", &img, "true"])
        .ok();
    let c = inspect(&d, &keep);
    let names: Vec<String> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names.len(), 2, "{c}");
    d.berth(["rm", &keep]).ok();
    let left = volume_names(&d);
    assert!(
        names.iter().all(|n| left.contains(n)),
        "plain rm keeps them: {left:?}"
    );
    // --rm removes anonymous volumes like docker's.
    let before = volume_names(&d);
    d.berth(["run", "--rm", &img, "true"]).ok();
    assert_eq!(volume_names(&d), before);
}

#[test]
fn ro_bind_refuses_writes_and_rw_bind_writes_to_host() {
    let d = daemon();
    let host = TempDir::new("bind");
    std::fs::write(host.0.join("in"), "from host\n").unwrap();
    let hp = host.0.to_string_lossy().to_string();
    let out = d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{hp}:/m:ro"),
        "busybox",
        "sh",
        "-c",
        "cat /m/in; echo x > /m/new",
    ]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("from host"), "{out:?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
    assert!(!host.0.join("new").exists());
    d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{hp}:/m"),
        "busybox",
        "sh",
        "-c",
        "echo w > /m/new",
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(host.0.join("new")).unwrap(), "w\n");
    // -v creates a missing host directory.
    let missing = host.0.join("made/by/v");
    d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{}:/x", missing.display()),
        "busybox",
        "true",
    ])
    .ok();
    assert!(missing.is_dir());
    // --mount bind with readonly, and inspect shows the bind.
    let name = unique("mb");
    let out = d.berth([
        "run",
        "--name",
        &name,
        "--mount",
        &format!("type=bind,src={hp},dst=/mm,readonly"),
        "busybox",
        "touch",
        "/mm/z",
    ]);
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
    let c = inspect(&d, &name);
    assert_eq!(c["Mounts"][0]["Type"], "bind");
    assert_eq!(c["Mounts"][0]["Source"], hp.as_str());
    assert_eq!(c["Mounts"][0]["RW"], false);
    assert_eq!(c["Mounts"][0]["Propagation"], "rprivate");
    d.berth(["rm", &name]).ok();
}

#[test]
fn read_only_root_with_writable_volume_and_tmpfs() {
    let d = daemon();
    let vol = unique("rovol");
    let out = d.berth([
        "run",
        "--rm",
        "--read-only",
        "-v",
        &format!("{vol}:/data"),
        "--tmpfs",
        "/scratch:size=1m",
        "--mount",
        "type=tmpfs,dst=/t2",
        "busybox",
        "sh",
        "-c",
        "echo ok > /data/f && echo ok > /scratch/f && echo ok > /t2/f && cat /data/f && \
         grep ' /scratch ' /proc/mounts; touch /rootfile",
    ]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("ok\n"), "{out:?}");
    assert!(out.stdout.contains("tmpfs /scratch tmpfs"), "{out:?}");
    assert!(out.stdout.contains("size=1024k"), "{out:?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
}

#[test]
fn two_containers_share_a_named_volume_concurrently() {
    let d = daemon();
    let vol = unique("shared");
    let spec = format!("{vol}:/s");
    let a = unique("a");
    d.berth([
        "run", "-d", "--name", &a, "-v", &spec, "busybox", "sh", "-c",
        "echo from-a > /s/a; i=0; while [ ! -f /s/b ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; \
         cat /s/b",
    ])
    .ok();
    let out = d
        .berth([
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "i=0; while [ ! -f /s/a ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; \
             cat /s/a; echo from-b > /s/b",
        ])
        .ok();
    assert_eq!(out, "from-a");
    assert_eq!(d.berth(["wait", &a]).ok(), "0");
    assert_eq!(d.berth(["logs", &a]).ok(), "from-b");
    // --volumes-from shares the same volume (read-only with :ro).
    let out = d
        .berth([
            "run",
            "--rm",
            "--volumes-from",
            &a,
            "busybox",
            "cat",
            "/s/a",
        ])
        .ok();
    assert_eq!(out, "from-a");
    let out = d.berth([
        "run",
        "--rm",
        "--volumes-from",
        &format!("{a}:ro"),
        "busybox",
        "touch",
        "/s/c",
    ]);
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
    d.berth(["rm", &a]).ok();
}

#[test]
fn volume_rm_refuses_in_use_and_prune_removes_only_unused() {
    let d = daemon();
    let used = unique("used");
    let free = unique("free");
    assert_eq!(
        d.berth(["volume", "create", "--label", "team=a", &used])
            .ok(),
        used
    );
    assert_eq!(d.berth(["volume", "create", &free]).ok(), free);
    let c = unique("user");
    d.berth([
        "run",
        "-d",
        "--name",
        &c,
        "-v",
        &format!("{used}:/u"),
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{used}:/u"),
        "busybox",
        "sh",
        "-c",
        "echo keep > /u/k",
    ])
    .ok();
    for args in [
        vec!["volume", "rm", used.as_str()],
        vec!["volume", "rm", "-f", used.as_str()],
    ] {
        let err = d.berth(&args).err();
        assert!(err.contains("volume is in use"), "{err}");
        assert!(err.contains(&format!("remove {used}")), "{err}");
    }
    assert!(volume_names(&d).contains(&used));
    // ls filters
    let out = d.berth(["volume", "ls", "-q", "-f", "label=team=a"]).ok();
    assert_eq!(out, used);
    let dangling = d.berth(["volume", "ls", "-q", "-f", "dangling=true"]).ok();
    assert!(
        dangling.contains(&free) && !dangling.contains(&used),
        "{dangling}"
    );
    let ls = d.berth(["volume", "ls"]).ok();
    assert!(
        ls.starts_with("DRIVER") && ls.contains(&format!("local     {free}")),
        "{ls}"
    );
    // An unused anonymous volume (plain rm keeps it).
    let k = unique("k");
    d.berth(["run", "--name", &k, "-v", "/anon", "busybox", "true"])
        .ok();
    let anon = inspect(&d, &k)["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    d.berth(["rm", &k]).ok();
    // Default prune: anonymous unused volumes only.
    let out = d.berth(["volume", "prune", "-f"]).ok();
    assert!(out.contains(&anon) && !out.contains(&free), "{out}");
    let names = volume_names(&d);
    assert!(!names.contains(&anon) && names.contains(&free) && names.contains(&used));
    // -a: every unused volume, never one in use.
    let out = d.berth(["volume", "prune", "-f", "-a"]).ok();
    assert!(out.contains(&free) && !out.contains(&used), "{out}");
    assert_eq!(volume_names(&d), vec![used.clone()]);
    let out = d
        .berth([
            "run",
            "--rm",
            "-v",
            &format!("{used}:/u"),
            "busybox",
            "cat",
            "/u/k",
        ])
        .ok();
    assert_eq!(out, "keep");
    d.berth(["rm", "-f", &c]).ok();
    assert_eq!(d.berth(["volume", "rm", &used]).ok(), used);
    assert!(volume_names(&d).is_empty());
    let err = d.berth(["volume", "rm", &used]).err();
    assert!(err.contains("no such volume"), "{err}");
    d.berth(["volume", "rm", "-f", &used]).ok();
}

#[test]
fn bad_input_gives_clear_errors_and_creates_nothing() {
    let d = daemon();
    let host = TempDir::new("bad");
    let missing = host.0.join("missing");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["-v".into(), "./rel:/x".into()], "must be absolute"),
        (
            vec!["-v".into(), "a/b:/x".into()],
            "includes invalid characters for a local volume name",
        ),
        (
            vec!["-v".into(), "vol1:/x/../y".into()],
            "invalid mount path",
        ),
        (vec!["-v".into(), "vol1:relative".into()], "invalid"),
        (vec!["-v".into(), "vol1:/x:bogus".into()], "invalid mode"),
        (
            vec![
                "--mount".into(),
                "type=volume,src=vol1,dst=/x,bogus=1".into(),
            ],
            "bogus",
        ),
        (
            vec!["--mount".into(), "type=bind,src=rel,dst=/x".to_string()],
            "must be absolute",
        ),
        (
            vec![
                "--mount".into(),
                format!("type=bind,src={},dst=/x", missing.display()),
            ],
            "bind source path does not exist",
        ),
        (vec!["--tmpfs".into(), "/t:bogus".into()], "bogus"),
        (
            vec!["-v".into(), "vol1:/x".into(), "-v".into(), "vol2:/x".into()],
            "Duplicate mount point",
        ),
        (
            vec!["--volumes-from".into(), "nosuchctr".into()],
            "No such container",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run".to_string(), "--rm".to_string()];
        args.extend(flags.iter().cloned());
        args.extend(["busybox".to_string(), "true".to_string()]);
        let err = d.berth(&args).err();
        assert!(err.contains(want), "{flags:?}: want {want:?} in {err:?}");
    }
    let out = d.berth(["volume", "create", "a/b"]);
    assert!(out.err().contains("includes invalid characters"), "{out:?}");
    let out = d.berth(["volume", "create", "-o", "bogus=1", "badopt"]);
    assert_ne!(out.code, 0, "{out:?}");
    let out = d.berth(["volume", "create", "--driver", "nope", "baddrv"]);
    assert!(out.err().contains("plugin \"nope\" not found"), "{out:?}");
    assert!(d.container_ids().is_empty());
    assert!(volume_names(&d).is_empty(), "{:?}", volume_names(&d));
    assert!(!missing.exists());
}

#[test]
fn volumes_and_data_survive_a_daemon_restart() {
    let mut d = daemon();
    let vol = unique("durable");
    d.berth(["volume", "create", "--label", "keep=yes", &vol])
        .ok();
    d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/d"),
        "busybox",
        "sh",
        "-c",
        "echo v1 > /d/f",
    ])
    .ok();
    let k = unique("k");
    d.berth([
        "run",
        "--name",
        &k,
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo a > /anon/f",
    ])
    .ok();
    let anon = inspect(&d, &k)["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let r = unique("r");
    d.berth([
        "run",
        "-d",
        "--name",
        &r,
        "-v",
        &format!("{vol}:/d"),
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    d.restart();
    let names = volume_names(&d);
    assert!(names.contains(&vol) && names.contains(&anon), "{names:?}");
    assert_eq!(volume_inspect(&d, &vol)["Labels"]["keep"], "yes");
    // Still referenced after the restart.
    assert!(d
        .berth(["volume", "rm", &vol])
        .err()
        .contains("volume is in use"));
    let out = d
        .berth([
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/d"),
            "busybox",
            "cat",
            "/d/f",
        ])
        .ok();
    assert_eq!(out, "v1");
    d.berth(["start", "-a", &k]).ok();
    d.berth(["rm", "-v", &k]).ok();
    assert!(!volume_names(&d).contains(&anon));
    d.berth(["rm", "-f", &r]).ok();
    d.berth(["volume", "rm", &vol]).ok();
}

#[test]
fn docker_cli_volume_commands_and_run_v() {
    if docker_cli().is_none() {
        eprintln!("docker CLI not installed; skipping");
        return;
    }
    let d = daemon();
    let vol = unique("dv");
    assert_eq!(
        d.docker(["volume", "create", "--label", "a=b", &vol]).ok(),
        vol
    );
    let ls = d.docker(["volume", "ls", "-q"]).ok();
    assert!(ls.lines().any(|l| l == vol), "{ls}");
    let out = d
        .docker([
            "volume",
            "ls",
            "--filter",
            "label=a=b",
            "--format",
            "{{.Name}}",
        ])
        .ok();
    assert_eq!(out, vol);
    let v: serde_json::Value =
        serde_json::from_str(&d.docker(["volume", "inspect", &vol]).ok()).unwrap();
    assert_eq!(v[0]["Name"], vol.as_str());
    assert_eq!(v[0]["Labels"]["a"], "b");
    assert_eq!(v[0]["Driver"], "local");
    let spec = format!("{vol}:/x");
    d.docker([
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo via-docker > /x/f",
    ])
    .ok();
    let out = d
        .docker(["run", "--rm", "-v", &spec, "busybox", "cat", "/x/f"])
        .ok();
    assert_eq!(out, "via-docker");
    let c = unique("dc");
    d.docker([
        "create",
        "--name",
        &c,
        "--mount",
        &format!("type=volume,src={vol},dst=/m"),
        "busybox",
    ])
    .ok();
    let m = d
        .docker([
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
            &c,
        ])
        .ok();
    assert_eq!(m, format!("volume {vol} /m"));
    let err = d.docker(["volume", "rm", &vol]).err();
    assert!(err.contains("volume is in use"), "{err}");
    d.docker(["rm", &c]).ok();
    assert_eq!(d.docker(["volume", "rm", &vol]).ok(), vol);
    assert!(!d
        .docker(["volume", "ls", "-q"])
        .ok()
        .lines()
        .any(|l| l == vol));
    let out = d.docker(["volume", "create"]).ok();
    assert_eq!(out.len(), 64, "{out}");
    let out = d.docker(["volume", "prune", "-f", "-a"]).ok();
    assert!(out.contains("Total reclaimed space"), "{out}");
}
