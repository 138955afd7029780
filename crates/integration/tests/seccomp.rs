//! seccomp and the other `--security-opt` options: the built-in profile on every container and
//! exec, `seccomp=unconfined|FILE`, no-new-privileges, refused options, daemon defaults and
//! `info` SecurityOptions, through the berth CLI and the real docker CLI, with berth-runtime
//! and runc.

use std::path::PathBuf;

use integration::{docker_cli, unique, Daemon};

/// The `Seccomp:` mode of /proc/<who>/status printed by `cmd`.
fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {out:?}"))
}

fn profile_file(d: &Daemon, text: &str) -> PathBuf {
    let p = d.root.join(format!("{}.json", unique("prof")));
    std::fs::write(&p, text).expect("write profile");
    p
}

const DENY_MKDIR: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;

fn check_default_filter(d: &Daemon) {
    let c = d.berth(["run", "-d", "busybox", "sleep", "1000"]).ok();
    let init = d.berth(["exec", &c, "cat", "/proc/1/status"]).ok();
    assert_eq!(field(&init, "Seccomp:"), "2", "init is filtered");
    let exec = d.berth(["exec", &c, "cat", "/proc/self/status"]).ok();
    assert_eq!(field(&exec, "Seccomp:"), "2", "exec is filtered");
    let un = d.berth(["exec", &c, "unshare", "-U", "true"]);
    assert!(un.code != 0, "unshare -U in exec must fail: {un:?}");
    d.berth(["rm", "-f", &c]).ok();
    let un = d.berth(["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(
        un.code != 0 && un.stderr.contains("Operation not permitted"),
        "unshare -U fails with EPERM: {un:?}"
    );
}

#[test]
fn seccomp_default_profile_unconfined_and_capabilities() {
    let d = Daemon::with_busybox();
    check_default_filter(&d);
    // unconfined: no filter, unshare works
    let st = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "0");
    d.berth([
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ])
    .ok();
    // CAP_SYS_ADMIN opens the namespace group, still filtered
    let st = d
        .berth([
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "busybox",
            "sh",
            "-c",
            "unshare -U -m true && cat /proc/self/status",
        ])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "2");
    // --privileged runs unconfined, as with Docker
    let st = d
        .berth([
            "run",
            "--rm",
            "--privileged",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "0");
    // the built-in profile knows personality's argument filter: PER_LINUX32 allowed
    d.berth(["run", "--rm", "busybox", "linux32", "true"]).ok();
    // info lists the default profile
    let info = d.berth(["info"]).ok();
    assert!(
        info.contains("seccomp") && info.contains("Profile: builtin"),
        "{info}"
    );
}

#[test]
fn seccomp_custom_profile_file_and_bad_profiles() {
    let d = Daemon::with_busybox();
    let deny = profile_file(&d, DENY_MKDIR);
    let opt = format!("seccomp={}", deny.display());
    let out = d.berth([
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "mkdir",
        "/newdir",
    ]);
    assert!(
        out.code != 0 && out.stderr.contains("Operation not permitted"),
        "mkdir denied by the custom profile: {out:?}"
    );
    let st = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "2");
    // not JSON: the CLI refuses to read it
    let junk = profile_file(&d, "this is { not json");
    let e = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            &format!("seccomp={}", junk.display()),
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("seccomp profile"), "{e}");
    // JSON but not a valid profile: the daemon answers 400 at create
    let bad = profile_file(&d, r#"{"defaultAction":"SCMP_ACT_NOPE","syscalls":[]}"#);
    let e = d
        .berth([
            "create",
            "--security-opt",
            &format!("seccomp={}", bad.display()),
            "busybox",
            "true",
        ])
        .err();
    assert!(
        e.contains("invalid seccomp profile") && e.contains("SCMP_ACT_NOPE"),
        "{e}"
    );
    // a raw API client that sends a path instead of the content gets a 400 naming the problem
    let body = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"SecurityOpt":["seccomp=/etc/nothing.json"]}}"#;
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/stderr",
            "-w",
            "%{http_code}",
            "--unix-socket",
        ])
        .arg(&d.socket)
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            "http://x/containers/create",
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "400");
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("Decoding seccomp profile failed"), "{msg}");
    assert!(d.container_ids().is_empty(), "no container was created");
}

#[test]
fn security_opt_no_new_privileges_and_refused_options() {
    let d = Daemon::with_busybox();
    let nnp = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "cat", "/proc/self/status"]);
        field(&d.berth(&a).ok(), "NoNewPrivs:")
    };
    assert_eq!(nnp(&[]), "0");
    assert_eq!(nnp(&["--security-opt", "no-new-privileges"]), "1");
    assert_eq!(nnp(&["--security-opt", "no-new-privileges=true"]), "1");
    assert_eq!(nnp(&["--security-opt", "no-new-privileges=false"]), "0");
    // an exec into a no-new-privileges container has it too
    let c = d
        .berth([
            "run",
            "-d",
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    let st = d.berth(["exec", &c, "cat", "/proc/self/status"]).ok();
    assert_eq!(field(&st, "NoNewPrivs:"), "1");
    d.berth(["rm", "-f", &c]).ok();
    // accepted as Docker does
    d.berth([
        "run",
        "--rm",
        "--security-opt",
        "label=disable",
        "--security-opt",
        "apparmor=unconfined",
        "busybox",
        "true",
    ])
    .ok();
    // refused, with the option named
    let e = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "foo=bar",
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("invalid --security-opt 2: \"foo=bar\""), "{e}");
    let e = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "nonsense",
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("invalid --security-opt 1: \"nonsense\""), "{e}");
    let e = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges=maybe",
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("invalid --security-opt"), "{e}");
    if !std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        let e = d
            .berth([
                "run",
                "--rm",
                "--security-opt",
                "apparmor=docker-default",
                "busybox",
                "true",
            ])
            .err();
        assert!(
            e.contains("apparmor=docker-default") && e.contains("AppArmor"),
            "{e}"
        );
    }
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        let e = d
            .berth([
                "run",
                "--rm",
                "--security-opt",
                "label=type:svirt_t",
                "busybox",
                "true",
            ])
            .err();
        assert!(e.contains("SELinux"), "{e}");
    }
    assert!(d.container_ids().is_empty());
}

#[test]
fn daemon_security_defaults() {
    let d = Daemon::start_with(&["--seccomp-profile", "unconfined", "--no-new-privileges"]);
    d.import_busybox();
    let info = d.berth(["info"]).ok();
    assert!(info.contains("Profile: unconfined"), "{info}");
    assert!(info.contains("  no-new-privileges"), "{info}");
    let st = d
        .berth(["run", "--rm", "busybox", "cat", "/proc/self/status"])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "0");
    assert_eq!(field(&st, "NoNewPrivs:"), "1");
    // a container can still ask for the built-in profile and opt out of nnp
    let st = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "seccomp=builtin",
            "--security-opt",
            "no-new-privileges=false",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "2");
    assert_eq!(field(&st, "NoNewPrivs:"), "0");
    drop(d);
    // a daemon-wide custom profile
    let dir = std::env::temp_dir().join(unique("seccomp-prof"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let prof = dir.join("deny-mkdir.json");
    std::fs::write(&prof, DENY_MKDIR).expect("write");
    let p = prof.to_string_lossy().to_string();
    let d = Daemon::start_with(&["--seccomp-profile", &p]);
    d.import_busybox();
    let info = d.berth(["info"]).ok();
    assert!(info.contains("Profile: custom"), "{info}");
    let out = d.berth(["run", "--rm", "busybox", "mkdir", "/x"]);
    assert!(
        out.code != 0 && out.stderr.contains("Operation not permitted"),
        "{out:?}"
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seccomp_with_runc() {
    let runc = std::env::var("BERTH_TEST_RUNTIME").unwrap_or_else(|_| "/usr/sbin/runc".into());
    if !std::path::Path::new(&runc).exists() {
        eprintln!("{runc} missing: skipped");
        return;
    }
    let d = Daemon::start_with(&["--runtime", &runc]);
    d.import_busybox();
    check_default_filter(&d);
    let deny = profile_file(&d, DENY_MKDIR);
    let out = d.berth([
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", deny.display()),
        "busybox",
        "mkdir",
        "/newdir",
    ]);
    assert!(
        out.code != 0 && out.stderr.contains("Operation not permitted"),
        "{out:?}"
    );
    let st = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(field(&st, "NoNewPrivs:"), "1");
}

#[test]
fn seccomp_through_docker_cli() {
    if docker_cli().is_none() {
        eprintln!("docker CLI missing: skipped");
        return;
    }
    let d = Daemon::with_busybox();
    let st = d
        .docker(["run", "--rm", "busybox", "cat", "/proc/1/status"])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "2");
    let un = d.docker(["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(un.code != 0, "{un:?}");
    let st = d
        .docker([
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "cat",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(field(&st, "Seccomp:"), "0");
    assert_eq!(field(&st, "NoNewPrivs:"), "1");
    let deny = profile_file(&d, DENY_MKDIR);
    let out = d.docker([
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", deny.display()),
        "busybox",
        "mkdir",
        "/newdir",
    ]);
    assert!(
        out.code != 0 && out.stderr.contains("Operation not permitted"),
        "{out:?}"
    );
    let e = d
        .docker([
            "run",
            "--rm",
            "--security-opt",
            "foo=bar",
            "busybox",
            "true",
        ])
        .err();
    assert!(e.contains("invalid --security-opt 2"), "{e}");
    let info = d
        .docker(["info", "--format", "{{json .SecurityOptions}}"])
        .ok();
    assert!(info.contains("name=seccomp,profile=builtin"), "{info}");
}
