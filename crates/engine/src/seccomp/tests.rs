use super::*;
use std::collections::BTreeSet;

fn default_caps() -> Vec<String> {
    crate::spec::DEFAULT_CAPS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn amd64() -> Target {
    Target {
        go_arch: "amd64".into(),
        scmp_arch: "SCMP_ARCH_X86_64".into(),
        kernel: (6, 1),
    }
}

/// Names with an `SCMP_ACT_ALLOW` rule (with or without argument filters).
fn allowed(oci: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in oci["syscalls"].as_array().into_iter().flatten() {
        if r["action"] == "SCMP_ACT_ALLOW" {
            for n in r["names"].as_array().into_iter().flatten() {
                out.insert(n.as_str().unwrap_or_default().to_string());
            }
        }
    }
    out
}

fn rules_for<'a>(oci: &'a Value, name: &str) -> Vec<&'a Value> {
    oci["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["names"]
                .as_array()
                .is_some_and(|n| n.iter().any(|x| x == name))
        })
        .collect()
}

#[test]
fn builtin_parses_and_targets_x86_64() {
    let p = Profile::parse(BUILTIN).expect("builtin profile parses");
    let oci = p.to_oci(&default_caps(), &amd64());
    assert_eq!(oci["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(oci["defaultErrnoRet"], 1);
    assert_eq!(
        oci["architectures"],
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    let a = allowed(&oci);
    for n in [
        "read",
        "execve",
        "arch_prctl",
        "modify_ldt",
        "ptrace",
        "chroot",
        "socket",
    ] {
        assert!(a.contains(n), "{n} allowed by default");
    }
    for n in [
        "mount",
        "unshare",
        "setns",
        "reboot",
        "bpf",
        "keyctl",
        "init_module",
        "acct",
    ] {
        assert!(!a.contains(n), "{n} denied by default");
    }
    // clone only without namespace flags; clone3 -> ENOSYS
    let clone = rules_for(&oci, "clone");
    assert_eq!(clone.len(), 1);
    assert_eq!(clone[0]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
    assert_eq!(clone[0]["args"][0]["value"], 0x7E02_0000u64);
    let clone3 = rules_for(&oci, "clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0]["action"], "SCMP_ACT_ERRNO");
    assert_eq!(clone3[0]["errnoRet"], 38);
    assert_eq!(rules_for(&oci, "personality").len(), 5);
    // arm-only calls are not in an x86_64 filter
    assert!(!a.contains("cacheflush"));
}

#[test]
fn capabilities_open_their_groups() {
    let p = Profile::builtin();
    let mut caps = default_caps();
    caps.push("CAP_SYS_ADMIN".into());
    let oci = p.to_oci(&caps, &amd64());
    let a = allowed(&oci);
    for n in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "sethostname",
    ] {
        assert!(a.contains(n), "{n} with CAP_SYS_ADMIN");
    }
    // with CAP_SYS_ADMIN clone is unconditional and clone3 is allowed
    assert!(rules_for(&oci, "clone")
        .iter()
        .all(|r| r.get("args").is_none()));
    assert!(rules_for(&oci, "clone3")
        .iter()
        .all(|r| r["action"] == "SCMP_ACT_ALLOW"));
    for (cap, call) in [
        ("CAP_SYS_PTRACE", "kcmp"),
        ("CAP_SYS_MODULE", "finit_module"),
        ("CAP_SYS_BOOT", "reboot"),
        ("CAP_SYS_TIME", "settimeofday"),
        ("CAP_SYSLOG", "syslog"),
        ("CAP_SYS_RAWIO", "iopl"),
        ("CAP_SYS_NICE", "mbind"),
        ("CAP_SYS_PACCT", "acct"),
        ("CAP_SYS_TTY_CONFIG", "vhangup"),
        ("CAP_BPF", "bpf"),
        ("CAP_PERFMON", "perf_event_open"),
        ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
    ] {
        assert!(!allowed(&p.to_oci(&default_caps(), &amd64())).contains(call));
        let mut c = default_caps();
        c.push(cap.into());
        assert!(
            allowed(&p.to_oci(&c, &amd64())).contains(call),
            "{cap} opens {call}"
        );
    }
    // dropping CAP_SYS_CHROOT closes chroot
    let c: Vec<String> = default_caps()
        .into_iter()
        .filter(|c| c != "CAP_SYS_CHROOT")
        .collect();
    assert!(!allowed(&p.to_oci(&c, &amd64())).contains("chroot"));
}

#[test]
fn min_kernel_and_arches() {
    let p = Profile::builtin();
    let old = Target {
        kernel: (4, 4),
        ..amd64()
    };
    assert!(!allowed(&p.to_oci(&default_caps(), &old)).contains("ptrace"));
    let arm = Target {
        go_arch: "arm64".into(),
        scmp_arch: "SCMP_ARCH_AARCH64".into(),
        kernel: (6, 1),
    };
    let oci = p.to_oci(&default_caps(), &arm);
    assert_eq!(
        oci["architectures"],
        json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    );
    let a = allowed(&oci);
    assert!(a.contains("cacheflush") && !a.contains("arch_prctl"));
}

/// Compares the built-in profile with the containers-common profile Debian's podman package
/// ships. Every difference must be listed here with its reason.
#[test]
fn builtin_matches_containers_common() {
    let path = "/usr/share/containers/seccomp.json";
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("{path} not installed: skipped");
        return;
    };
    let theirs = Profile::parse(&text).expect("containers-common profile parses");
    let t = amd64();
    let theirs = allowed(&theirs.to_oci(&default_caps(), &t));
    let ours = allowed(&Profile::builtin().to_oci(&default_caps(), &t));
    // Allowed by containers-common, denied by berth (as by Docker's default profile).
    let only_theirs: BTreeSet<&str> = [
        // podman leaves these to capabilities; Docker filters them without CAP_SYS_ADMIN
        "mount",
        "umount",
        "umount2",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "pivot_root",
        "unshare",
        "setns",
        "syslog",
        "clone3",
        // Docker requires CAP_SYS_BOOT / CAP_SYS_NICE / CAP_SYS_PTRACE for these
        "reboot",
        "get_mempolicy",
        "mbind",
        "set_mempolicy",
        "pidfd_getfd",
        // the kernel keyring is not namespaced: Docker denies keyctl
        "keyctl",
        // legacy 32-bit entry points podman adds; Docker's default list omits them
        "readdir",
        "sigaction",
        "signal",
        "sigpending",
        "sigsuspend",
        "syscall",
        "timerfd",
    ]
    .into_iter()
    .collect();
    // Allowed by berth (as by Docker), not by containers-common 0.50.
    let only_ours: BTreeSet<&str> = [
        // newer than containers-common 0.50 (2022)
        "cachestat",
        "fchmodat2",
        "futex_requeue",
        "futex_wait",
        "futex_waitv",
        "futex_wake",
        "map_shadow_stack",
        // containers-common denies these explicitly; Docker allows them
        "io_pgetevents",
        "io_pgetevents_time64",
        "vmsplice",
    ]
    .into_iter()
    .collect();
    let got_theirs: BTreeSet<&str> = theirs.difference(&ours).map(String::as_str).collect();
    let got_ours: BTreeSet<&str> = ours.difference(&theirs).map(String::as_str).collect();
    assert_eq!(
        got_theirs, only_theirs,
        "unexplained: only in containers-common"
    );
    assert_eq!(got_ours, only_ours, "unexplained: only in berth's profile");
}

#[test]
fn bad_profiles_are_refused() {
    for (text, want) in [
        ("{", "Decoding seccomp profile failed"),
        ("/etc/profile.json", "Decoding seccomp profile failed"),
        (r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#, "unknown action"),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[]}"#,
            "either",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":9,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
            "index",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"EQ"}]}]}"#,
            "operator",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            "NOTIFY",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_Z80"]}"#,
            "architecture",
        ),
    ] {
        let e = Profile::parse(text).expect_err(text).to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
    let ok = Profile::parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"}]}"#)
        .expect("custom profile");
    let oci = ok.to_oci(&[], &amd64());
    assert_eq!(oci["syscalls"][0]["names"], json!(["mkdir"]));
    assert_eq!(oci["architectures"], json!([]));
}
