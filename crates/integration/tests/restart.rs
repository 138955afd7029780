//! The monitor keeps containers alive across `kill -9 berthd`; the database keeps records.

use std::time::Duration;

use integration::daemon::unique;
use integration::Daemon;

#[test]
fn kill9_of_berthd_leaves_containers_running_and_restart_finds_them() {
    let mut d = Daemon::start();
    d.import_busybox();
    let keep = unique("keep");
    let ends = unique("ends");
    d.berth([
        "run",
        "-d",
        "--name",
        &keep,
        "busybox",
        "sh",
        "-c",
        "echo before; while true; do sleep 0.1; done",
    ])
    .ok();
    d.berth([
        "run",
        "-d",
        "--name",
        &ends,
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo bye; exit 9",
    ])
    .ok();
    d.berth(["create", "--name", "justcreated", "busybox", "true"])
        .ok();
    let pid = d.berth(["inspect", "-f", "{{.State.Pid}}", &keep]).ok();
    d.kill9();
    // The container's init is still alive without the daemon.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "container died with berthd"
    );
    d.restart();
    let ps = d.berth(["ps"]).ok();
    assert!(ps.contains(&keep), "{ps}");
    assert!(!ps.contains(&ends), "{ps}");
    let psa = d.berth(["ps", "-a"]).ok();
    assert!(
        psa.contains("justcreated") && psa.contains("Created"),
        "{psa}"
    );
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.ExitCode}}", &ends])
            .ok(),
        "9"
    );
    assert!(d.berth(["logs", &ends]).ok().contains("bye"));
    assert!(d.berth(["logs", &keep]).ok().contains("before"));
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Pid}}", &keep]).ok(),
        pid
    );
    // Images survive too.
    assert!(d.berth(["images"]).ok().contains("busybox"));
    d.berth(["stop", "-t", "1", &keep]).ok();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let psa = d.berth(["ps", "-a"]).ok();
    assert!(psa.contains(&keep) && psa.contains("Exited"), "{psa}");
}

#[test]
fn graceful_restart_keeps_everything() {
    let mut d = Daemon::start();
    d.import_busybox();
    let name = unique("g");
    d.berth(["run", "--name", &name, "busybox", "echo", "persisted"])
        .ok();
    d.restart();
    assert_eq!(d.berth(["logs", &name]).ok(), "persisted");
    assert_eq!(d.berth(["start", "-a", &name]).ok(), "persisted");
}
