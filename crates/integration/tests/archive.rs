//! `docker cp` (HEAD/GET/PUT /containers/{id}/archive), `docker commit` and `docker diff`,
//! through the real docker CLI and the berth CLI against a private berthd: running, stopped
//! and never-started containers, volumes and bind mounts, tars on stdin/stdout, Docker's
//! errors, hostile tars and the symlink-swap race of CVE-2018-15664.

use std::fs;
use std::path::{Path, PathBuf};

use integration::{unique, Daemon, Out};

/// A temp dir on the host, removed at drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new() -> Tmp {
        let p = PathBuf::from(format!("/tmp/{}", unique("arc")));
        fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn p(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
    fn s(&self, s: &str) -> String {
        self.p(s).display().to_string()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The clients under test; the docker CLI only when it is installed.
fn clis() -> Vec<&'static str> {
    if integration::docker_cli().is_some() {
        vec!["docker", "berth"]
    } else {
        vec!["berth"]
    }
}

fn cli(d: &Daemon, which: &str, args: &[&str]) -> Out {
    if which == "docker" {
        d.docker(args)
    } else {
        d.berth(args)
    }
}

fn cli_stdin(d: &Daemon, which: &str, args: &[&str], input: &[u8]) -> Out {
    if which == "docker" {
        d.docker_stdin(args, input)
    } else {
        d.berth_stdin(args, input)
    }
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A tar whose one entry has the raw name `name` (the tar crate refuses `..` itself).
fn raw_tar(name: &[u8], kind: tar::EntryType) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(0);
    if kind == tar::EntryType::Char {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn names_in_tar(data: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn cp_in_and_out_of_running_stopped_and_never_started_containers() {
    let d = Daemon::with_busybox();
    let t = Tmp::new();
    fs::write(t.p("hello.txt"), "hello cp\n").unwrap();
    fs::create_dir_all(t.p("tree/sub")).unwrap();
    fs::write(t.p("tree/sub/deep.txt"), "deep\n").unwrap();
    for which in clis() {
        let run = unique("cprun");
        d.berth(["run", "-d", "--name", &run, "busybox", "sleep", "1000"])
            .ok();
        let stopped = unique("cpstop");
        d.berth(["run", "--name", &stopped, "busybox", "true"]).ok();
        let fresh = unique("cpnew");
        d.berth(["create", "--name", &fresh, "busybox", "true"])
            .ok();
        for c in [&run, &stopped, &fresh] {
            // a file into an existing directory, then renamed to a new name
            cli(&d, which, &["cp", &t.s("hello.txt"), &format!("{c}:/tmp/")]).ok();
            cli(
                &d,
                which,
                &["cp", &t.s("hello.txt"), &format!("{c}:/tmp/renamed.txt")],
            )
            .ok();
            // a directory tree
            cli(&d, which, &["cp", &t.s("tree"), &format!("{c}:/srv")]).ok();
            // and back out
            let out = t.p(&format!("{which}-{c}"));
            fs::create_dir_all(&out).unwrap();
            cli(
                &d,
                which,
                &["cp", &format!("{c}:/tmp/hello.txt"), out.to_str().unwrap()],
            )
            .ok();
            assert_eq!(
                fs::read_to_string(out.join("hello.txt")).unwrap(),
                "hello cp\n"
            );
            cli(
                &d,
                which,
                &[
                    "cp",
                    &format!("{c}:/tmp/renamed.txt"),
                    out.join("r.txt").to_str().unwrap(),
                ],
            )
            .ok();
            assert_eq!(fs::read_to_string(out.join("r.txt")).unwrap(), "hello cp\n");
            cli(
                &d,
                which,
                &[
                    "cp",
                    &format!("{c}:/srv"),
                    out.join("srv-copy").to_str().unwrap(),
                ],
            )
            .ok();
            assert_eq!(
                fs::read_to_string(out.join("srv-copy/sub/deep.txt")).unwrap(),
                "deep\n"
            );
            // content of a directory with `/.`
            cli(
                &d,
                which,
                &[
                    "cp",
                    &format!("{c}:/srv/."),
                    out.join("dot").to_str().unwrap(),
                ],
            )
            .ok();
            assert!(out.join("dot/sub/deep.txt").is_file());
        }
        // the running container sees the files
        assert_eq!(
            d.berth(["exec", &run, "cat", "/srv/sub/deep.txt"]).ok(),
            "deep"
        );
        assert_eq!(
            d.berth(["exec", &run, "cat", "/tmp/renamed.txt"]).ok(),
            "hello cp"
        );
        // the never-started one too, once started
        d.berth(["start", &fresh]).ok();
        d.berth(["rm", "-f", &run, &stopped, &fresh]).ok();
    }
}

#[test]
fn cp_into_volume_and_bind_mount_and_tar_streams() {
    let d = Daemon::with_busybox();
    let t = Tmp::new();
    fs::create_dir_all(t.p("bind")).unwrap();
    fs::write(t.p("f.txt"), "through the mount\n").unwrap();
    for which in clis() {
        let vol = unique("cpvol");
        let c = unique("cpmnt");
        let bind = format!("{}:/b", t.s("bind"));
        let v = format!("{vol}:/v");
        d.berth([
            "run", "-d", "--name", &c, "-v", &v, "-v", &bind, "busybox", "sleep", "1000",
        ])
        .ok();
        cli(&d, which, &["cp", &t.s("f.txt"), &format!("{c}:/v/")]).ok();
        cli(
            &d,
            which,
            &["cp", &t.s("f.txt"), &format!("{c}:/b/{which}.txt")],
        )
        .ok();
        // the bind's host dir got it, the volume holds it for another container
        assert_eq!(
            fs::read_to_string(t.p(&format!("bind/{which}.txt"))).unwrap(),
            "through the mount\n"
        );
        assert_eq!(
            d.berth(["run", "--rm", "-v", &v, "busybox", "cat", "/v/f.txt"])
                .ok(),
            "through the mount"
        );
        // reading out of a mount of a stopped container
        d.berth(["stop", "-t", "0", &c]).ok();
        let o = cli(&d, which, &["cp", &format!("{c}:/v/f.txt"), "-"]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(names_in_tar(o.stdout.as_bytes()), vec!["f.txt"]);
        // `-`: a tar on stdin is extracted as it is
        let tar = tar_of(&[("a/one.txt", b"1\n"), ("two.txt", b"2\n")]);
        cli_stdin(&d, which, &["cp", "-", &format!("{c}:/tmp")], &tar).ok();
        let o = d.berth(["cp", &format!("{c}:/tmp/a"), "-"]);
        let names = names_in_tar(o.stdout.as_bytes());
        assert!(names.contains(&"a/one.txt".to_string()), "{names:?}");
        d.berth(["rm", "-f", &c]).ok();
        d.berth(["volume", "rm", &vol]).ok();
    }
}

#[test]
fn cp_errors_missing_read_only_and_hostile_tars() {
    let d = Daemon::with_busybox();
    let t = Tmp::new();
    fs::write(t.p("f.txt"), "x\n").unwrap();
    let c = unique("cperr");
    let vol = unique("cperrv");
    let rov = format!("{vol}:/data:ro");
    d.berth([
        "create",
        "--name",
        &c,
        "--read-only",
        "-v",
        &rov,
        "busybox",
        "true",
    ])
    .ok();
    for which in clis() {
        let e = cli(
            &d,
            which,
            &["cp", &format!("{c}:/nonexistent"), &t.s("out")],
        )
        .err();
        assert!(
            e.contains(&format!(
                "Could not find the file /nonexistent in container {c}"
            )),
            "{which}: {e}"
        );
        let e = cli(&d, which, &["cp", &t.s("f.txt"), &format!("{c}:/")]).err();
        assert!(
            e.contains("container rootfs is marked read-only"),
            "{which}: {e}"
        );
        let e = cli(&d, which, &["cp", &t.s("f.txt"), &format!("{c}:/data/")]).err();
        assert!(e.contains("marked read-only"), "{which}: {e}");
        // nothing was written
        let e = cli(&d, which, &["cp", &format!("{c}:/f.txt"), &t.s("out")]).err();
        assert!(e.contains("Could not find the file"), "{e}");
    }
    let w = unique("cphost");
    d.berth(["create", "--name", &w, "busybox", "true"]).ok();
    for which in clis() {
        let e = cli_stdin(
            &d,
            which,
            &["cp", "-", &format!("{w}:/tmp")],
            &raw_tar(b"../../escape.txt", tar::EntryType::Regular),
        )
        .err();
        assert!(e.contains(".."), "{which}: {e}");
        let e = cli_stdin(
            &d,
            which,
            &["cp", "-", &format!("{w}:/tmp")],
            &raw_tar(b"null-dev", tar::EntryType::Char),
        )
        .err();
        assert!(e.contains("device"), "{which}: {e}");
    }
    assert!(!Path::new("/escape.txt").exists() && !Path::new("/tmp/escape.txt").exists());
    let o = d.berth(["cp", &format!("{w}:/tmp"), "-"]).ok();
    assert!(!o.contains("null-dev"));
    d.berth(["rm", "-f", &c, &w]).ok();
    d.berth(["volume", "rm", &vol]).ok();
}

#[test]
fn cp_symlink_swap_race_never_touches_the_host() {
    let d = Daemon::with_busybox();
    let t = Tmp::new();
    // A host dir with a secret marker; in the container, /w/d is a dir that a loop swaps
    // with a symlink to `/` all the time.
    let secret = unique("SECRET");
    let hostdir = t.0.clone();
    fs::write(hostdir.join("marker"), &secret).unwrap();
    fs::write(t.p("payload"), "payload\n").unwrap();
    let rel = hostdir.strip_prefix("/").unwrap().display().to_string();
    let c = unique("cprace");
    d.berth([
        "run",
        "-d",
        "--name",
        &c,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /w/d; while :; do mv /w/d /w/t; ln -s / /w/d; rm /w/d; mv /w/t /w/d; done",
    ])
    .ok();
    let evil = tar_of(&[(&format!("{rel}/evil"), b"evil\n")]);
    let (mut outs, mut ins) = (0, 0);
    for i in 0..60 {
        let which = clis()[i % clis().len()];
        // out: the marker's path through the link
        let o = cli(&d, which, &["cp", &format!("{c}:/w/d/{rel}/marker"), "-"]);
        assert!(
            !o.stdout.contains(&secret),
            "host file read through the link"
        );
        if o.code == 0 {
            outs += 1;
        }
        // in: a tar into the swapped dir, and a file next to the marker's path
        if cli_stdin(&d, which, &["cp", "-", &format!("{c}:/w/d")], &evil).code == 0 {
            ins += 1;
        }
        let _ = cli(
            &d,
            which,
            &["cp", &t.s("payload"), &format!("{c}:/w/d/{rel}/")],
        );
    }
    assert!(ins > 0, "no copy into the swapped dir succeeded");
    // the container kept swapping all along
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Running}}", &c]).ok(),
        "true"
    );
    eprintln!("race: {ins} copies in and {outs} copies out succeeded");
    let mut names: Vec<String> = fs::read_dir(&hostdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["marker", "payload"], "a host file was written");
    assert_eq!(fs::read_to_string(hostdir.join("marker")).unwrap(), secret);
    d.berth(["rm", "-f", &c]).ok();
}

#[test]
fn commit_with_changes_message_author_and_run_it() {
    let d = Daemon::with_busybox();
    for which in clis() {
        let c = unique("cmt");
        d.berth([
            "run",
            "-d",
            "--name",
            &c,
            "busybox",
            "sh",
            "-c",
            "echo committed > /data.txt; rm /bin/ls; sleep 1000",
        ])
        .ok();
        // wait for the shell to write its file
        for _ in 0..50 {
            if d.berth(["exec", &c, "cat", "/data.txt"]).code == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let img = format!("{}/committed:v1", unique("repo"));
        let id = cli(
            &d,
            which,
            &[
                "commit",
                "-c",
                "CMD [\"cat\", \"/data.txt\"]",
                "-c",
                "ENV FOO=bar",
                "-c",
                "LABEL made.by=test",
                "-c",
                "EXPOSE 8080",
                "-c",
                "WORKDIR /tmp",
                "-c",
                "HEALTHCHECK --interval=30s CMD true",
                "-m",
                "a message",
                "-a",
                "An Author <a@example.com>",
                &c,
                &img,
            ],
        )
        .ok();
        assert!(id.starts_with("sha256:"), "{id}");
        // still running (paused and resumed)
        assert_eq!(
            d.berth(["inspect", "-f", "{{.State.Status}}", &c]).ok(),
            "running"
        );
        let f = |tpl: &str| d.berth(["image", "inspect", "-f", tpl, &img]).ok();
        assert_eq!(f("{{.Author}}"), "An Author <a@example.com>");
        assert_eq!(f("{{json .Config.Cmd}}"), r#"["cat","/data.txt"]"#);
        assert!(f("{{json .Config.Env}}").contains("FOO=bar"));
        assert_eq!(f("{{index .Config.Labels \"made.by\"}}"), "test");
        assert_eq!(f("{{.Config.WorkingDir}}"), "/tmp");
        assert!(f("{{json .Config.ExposedPorts}}").contains("8080/tcp"));
        assert!(f("{{json .Config.Healthcheck}}").contains("true"));
        let hist = d.berth(["history", "--no-trunc", &img]).ok();
        assert!(hist.contains("a message"), "{hist}");
        // the new image runs, with the upper layer (file added, ls deleted)
        assert_eq!(d.berth(["run", "--rm", &img]).ok(), "committed");
        let o = d.berth(["run", "--rm", &img, "ls", "/"]);
        assert_ne!(o.code, 0, "ls was deleted: {o:?}");
        // --pause=false works too
        cli(&d, which, &["commit", "--pause=false", &c]).ok();
        // bad -c names the line
        let e = cli(&d, which, &["commit", "-c", "RUN echo nope", &c]).err();
        assert!(e.contains("RUN"), "{which}: {e}");
        d.berth(["rm", "-f", &c]).ok();
        let e = cli(&d, which, &["commit", &c]).err();
        assert!(e.contains("No such container"), "{which}: {e}");
        d.berth(["rmi", &img]).ok();
    }
}

#[test]
fn diff_lists_added_changed_and_deleted() {
    let d = Daemon::with_busybox();
    let c = unique("diff");
    d.berth([
        "run",
        "--name",
        &c,
        "busybox",
        "sh",
        "-c",
        "mkdir /newdir && touch /newdir/f && echo x >> /etc/passwd && rm /bin/ls",
    ])
    .ok();
    let expect = "C /bin\nD /bin/ls\nC /etc\nC /etc/passwd\nA /newdir\nA /newdir/f";
    for which in clis() {
        assert_eq!(cli(&d, which, &["diff", &c]).ok(), expect, "{which}");
    }
    let fresh = unique("diff0");
    d.berth(["create", "--name", &fresh, "busybox", "true"])
        .ok();
    for which in clis() {
        assert_eq!(cli(&d, which, &["diff", &fresh]).ok(), "", "{which}");
    }
    d.berth(["rm", "-f", &c, &fresh]).ok();
}
