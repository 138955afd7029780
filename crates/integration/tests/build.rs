//! `berth build` / `docker build` (classic builder) against berthd: multi-stage builds, the
//! layer cache (also across a daemon restart), `.dockerignore`, and bad input.

use std::path::{Path, PathBuf};

use integration::daemon::unique;
use integration::{docker_cli, Daemon};

/// A fresh context dir with the given files.
fn context(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("berth-buildctx-"));
    std::fs::create_dir_all(&dir).expect("mkdir context");
    for (name, body) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, body).expect("write context file");
    }
    dir
}

fn build(d: &Daemon, ctx: &Path, extra: &[&str]) -> integration::daemon::Out {
    let mut args: Vec<String> = vec!["build".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(ctx.to_string_lossy().into_owned());
    d.berth(args)
}

/// Full image id of `name`.
fn image_id(d: &Daemon, name: &str) -> String {
    d.berth(["inspect", "--format", "{{.Id}}", name]).ok()
}

fn cached_steps(out: &str) -> usize {
    out.matches(" ---> Using cache").count()
}

/// Nothing of a build is left: no build snapshots, mounts, bundles, runtime state or cgroups.
#[track_caller]
fn assert_no_build_leftovers(d: &Daemon, out: &str) {
    let snaps = d.data_root().join("image/snapshots");
    let left: Vec<String> = std::fs::read_dir(&snaps)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("build-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "build snapshots left: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let root = d.root.to_string_lossy().into_owned();
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(&root) && l.contains("build-")),
        "build mounts left"
    );
    let run = d.data_root().join("build/run");
    let bundles = std::fs::read_dir(&run).map(|rd| rd.count()).unwrap_or(0);
    assert_eq!(bundles, 0, "build bundles left in {}", run.display());
    assert!(d.container_ids().is_empty(), "containers left");
    for line in out.lines() {
        if let Some(id) = line.trim().strip_prefix("---> Running in ") {
            let id = id.trim();
            for ctrl in ["memory", "pids", "cpu", "unified"] {
                let base = Path::new("/sys/fs/cgroup").join(ctrl).join("berth");
                if let Ok(rd) = std::fs::read_dir(&base) {
                    for e in rd.flatten() {
                        let n = e.file_name().to_string_lossy().into_owned();
                        assert!(!n.starts_with(id), "cgroup {ctrl}/berth/{n} left");
                    }
                }
            }
            let state = d.exec_root().join("runtime");
            if let Ok(rd) = std::fs::read_dir(&state) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    assert!(!n.starts_with(id), "runtime state {n} left");
                }
            }
        }
    }
}

#[test]
fn build_multistage_image_runs_with_its_config() {
    let d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            r#"# syntax=docker/dockerfile:1
ARG GREETING=hello
FROM busybox AS gen
ARG GREETING
RUN mkdir /out \
 && echo "$GREETING from the build stage" > /out/msg.txt \
 && printf '#!/bin/sh\necho "app: $(cat /app/msg.txt) $*"\n' > /out/run.sh \
 && chmod +x /out/run.sh

# never needed by the target: would fail if it were built
FROM busybox AS unused
RUN exit 7

FROM busybox
COPY --from=gen /out/ /app/
COPY data.txt /app/
ADD files.tar /app/extracted/
COPY <<EOF /app/note.txt
note for ${GREETING:-nobody}
EOF
RUN <<EOF
set -e
echo heredoc-ran > /app/heredoc.txt
chown -R 1000:1000 /app
EOF
ENV APP_MODE=prod PATH_EXTRA="a b"
WORKDIR /app
USER 1000:1000
EXPOSE 8080/tcp 9090/udp
LABEL org.example.kind="test image"
STOPSIGNAL SIGINT
ENTRYPOINT ["/app/run.sh"]
CMD ["default-arg"]
"#,
        ),
        ("data.txt", "some data\n"),
    ]);
    // files.tar holds inner/x.txt (ADD extracts it).
    let src = ctx.join("tarsrc/inner");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("x.txt"), "from the tar\n").unwrap();
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(ctx.join("files.tar"))
        .arg("-C")
        .arg(ctx.join("tarsrc"))
        .arg("inner")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(ctx.join(".dockerignore"), "tarsrc\n").unwrap();

    let tag = format!("{}:v1", unique("bms"));
    let iid = ctx.join("iid");
    let out = build(
        &d,
        &ctx,
        &[
            "-t",
            &tag,
            "--build-arg",
            "GREETING=hi",
            "--iidfile",
            iid.to_str().unwrap(),
            "--label",
            "built.by=berth",
        ],
    );
    let text = out.ok();
    assert!(text.contains("Successfully built"), "{text}");
    assert!(
        text.contains(&format!("Successfully tagged {tag}")),
        "{text}"
    );
    assert!(!text.contains("exit 7"), "unused stage was built: {text}");
    let id = image_id(&d, &tag);
    assert_eq!(std::fs::read_to_string(&iid).unwrap().trim(), id);

    assert_eq!(
        d.berth(["run", "--rm", &tag]).ok(),
        "app: hi from the build stage default-arg"
    );
    assert_eq!(
        d.berth(["run", "--rm", &tag, "x", "y"]).ok(),
        "app: hi from the build stage x y"
    );
    let probe = d
        .berth([
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            &tag,
            "-c",
            "id -u; id -g; pwd; echo $APP_MODE; echo \"$PATH_EXTRA\"; cat data.txt extracted/inner/x.txt note.txt heredoc.txt; ls -n /app/msg.txt | awk '{print $3}'",
        ])
        .ok();
    assert_eq!(
        probe,
        "1000\n1000\n/app\nprod\na b\nsome data\nfrom the tar\nnote for nobody\nheredoc-ran\n1000"
    );
    let cfg = d
        .berth(["inspect", "--format", "{{json .Config}}", &tag])
        .ok();
    let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["User"], "1000:1000");
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/app/run.sh"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["default-arg"]));
    assert!(cfg["ExposedPorts"].get("8080/tcp").is_some(), "{cfg}");
    assert!(cfg["ExposedPorts"].get("9090/udp").is_some(), "{cfg}");
    assert_eq!(cfg["Labels"]["org.example.kind"], "test image");
    assert_eq!(cfg["Labels"]["built.by"], "berth");
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert!(cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "APP_MODE=prod"));
    // The build arg is not persisted in the image.
    assert!(!cfg.to_string().contains("GREETING=hi"), "{cfg}");

    // History: one row per instruction of the final stage (plus busybox's own).
    let hist = d
        .berth(["inspect", "--format", "{{json .RootFS.Layers}}", &tag])
        .ok();
    let layers: Vec<String> = serde_json::from_str(&hist).unwrap();
    // busybox + COPY --from + COPY + ADD + COPY heredoc + RUN
    assert_eq!(layers.len(), 6, "{layers:?}");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn build_cache_reuses_steps_until_the_changed_copy_and_survives_restart() {
    let mut d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy-a\nCOPY b.txt /b.txt\nRUN cat /b.txt > /copy-b\nCMD [\"cat\", \"/copy-a\", \"/copy-b\"]\n",
        ),
        ("a.txt", "A1\n"),
        ("b.txt", "B1\n"),
    ]);
    let tag = unique("bcache");
    let first = build(&d, &ctx, &["-t", &tag]).ok();
    assert_eq!(cached_steps(&first), 0, "{first}");
    let id1 = image_id(&d, &tag);
    assert_eq!(d.berth(["run", "--rm", &tag]).ok(), "A1\nB1");

    // Unchanged: every step after FROM is cached, same image.
    let second = build(&d, &ctx, &["-t", &tag]).ok();
    assert_eq!(cached_steps(&second), 5, "{second}");
    assert!(!second.contains("Running in"), "{second}");
    assert_eq!(image_id(&d, &tag), id1);

    // Changing b.txt: steps 2-3 cached, 4-6 rebuilt.
    std::fs::write(ctx.join("b.txt"), "B2\n").unwrap();
    let third = build(&d, &ctx, &["-t", &tag]).ok();
    assert_eq!(cached_steps(&third), 2, "{third}");
    let step4 = third.find("Step 4/6").expect("step 4");
    assert!(!third[step4..].contains("Using cache"), "{third}");
    assert_eq!(third.matches("Running in").count(), 1, "{third}");
    let id3 = image_id(&d, &tag);
    assert_ne!(id3, id1);
    assert_eq!(d.berth(["run", "--rm", &tag]).ok(), "A1\nB2");

    // The cache survives a daemon restart.
    d.restart();
    let fourth = build(&d, &ctx, &["-t", &tag]).ok();
    assert_eq!(cached_steps(&fourth), 5, "{fourth}");
    assert_eq!(image_id(&d, &tag), id3);

    // --no-cache runs everything again.
    let fifth = build(&d, &ctx, &["-t", &tag, "--no-cache"]).ok();
    assert_eq!(cached_steps(&fifth), 0, "{fifth}");
    assert_eq!(fifth.matches("Running in").count(), 2, "{fifth}");
    assert_no_build_leftovers(&d, &fifth);
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn build_dockerignore_keeps_files_out_of_context_and_cache_keys() {
    let d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY . /ctx/\nRUN find /ctx -type f | sort > /list\nCMD [\"cat\", \"/list\"]\n",
        ),
        (".dockerignore", "# comments are fine\nsecret.txt\n*.log\n!keep.log\nbuild/\n**/*.tmp\n"),
        ("secret.txt", "s3cret\n"),
        ("app.log", "noise\n"),
        ("keep.log", "kept\n"),
        ("build/out.bin", "x\n"),
        ("src/main.c", "int main;\n"),
        ("src/deep/x.tmp", "tmp\n"),
    ]);
    let tag = unique("bign");
    build(&d, &ctx, &["-t", &tag]).ok();
    let list = d.berth(["run", "--rm", &tag]).ok();
    assert_eq!(
        list,
        "/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/keep.log\n/ctx/src/main.c"
    );
    let id = image_id(&d, &tag);
    // Changing excluded files does not touch the cache.
    std::fs::write(ctx.join("secret.txt"), "changed\n").unwrap();
    std::fs::write(ctx.join("app.log"), "more noise\n").unwrap();
    std::fs::write(ctx.join("src/deep/y.tmp"), "new\n").unwrap();
    let again = build(&d, &ctx, &["-t", &tag]).ok();
    assert_eq!(cached_steps(&again), 3, "{again}");
    assert_eq!(image_id(&d, &tag), id);
    // Changing an included file does.
    std::fs::write(ctx.join("keep.log"), "kept 2\n").unwrap();
    let third = build(&d, &ctx, &["-t", &tag]).ok();
    assert_eq!(cached_steps(&third), 0, "{third}");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn build_bad_input_fails_cleanly_naming_the_line() {
    let d = Daemon::with_busybox();
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "FROM busybox\nRUN true\nFROBNICATE now\n",
            "unknown",
            &["line 3", "unknown instruction: FROBNICATE"],
        ),
        (
            "FROM busybox\nRUN echo ok\nRUN <<EOF\necho never closed\n",
            "heredoc",
            &["line 3", "unterminated heredoc"],
        ),
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            "missing",
            &["line 2", "missing.txt"],
        ),
        (
            "FROM busybox\nRUN echo fine > /f\nRUN echo failing; exit 3\nCMD [\"sh\"]\n",
            "failrun",
            &["line 3", "returned a non-zero code: 3"],
        ),
        (
            "FROM 127.0.0.1:1/nonexistent-image-xyz:1\n",
            "nobase",
            &["nonexistent-image-xyz"],
        ),
    ];
    for (dockerfile, what, needles) in cases {
        let ctx = context(&[("Dockerfile", dockerfile)]);
        let tag = unique(&format!("bbad{what}"));
        let out = build(&d, &ctx, &["-t", &tag]);
        let err = out.err();
        for n in needles {
            assert!(err.contains(n), "{what}: {n:?} not in {err:?} ({out:?})");
        }
        assert_ne!(
            d.berth(["inspect", "--format", "{{.Id}}", &tag]).code,
            0,
            "{what}: image was tagged"
        );
        assert_no_build_leftovers(&d, &out.stdout);
        let _ = std::fs::remove_dir_all(&ctx);
    }
    // The failing RUN printed its output before the error.
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo visible-output; exit 1\n",
    )]);
    let out = build(&d, &ctx, &[]);
    assert!(out.stdout.contains("visible-output"), "{out:?}");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn docker_cli_legacy_build_against_berthd() {
    if docker_cli().is_none() {
        eprintln!("SKIP: no docker CLI installed");
        return;
    }
    let d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY hello.txt /hello.txt\nRUN wc -c < /hello.txt > /size\nCMD [\"sh\", \"-c\", \"cat /hello.txt /size\"]\n",
        ),
        ("hello.txt", "hello docker\n"),
    ]);
    let tag = unique("bdock");
    let mut c = d.docker_cmd().unwrap();
    let out = c
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-t", &tag])
        .arg(&ctx)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Successfully built"), "{stdout}");
    assert!(
        stdout.contains(&format!("Successfully tagged {tag}:latest")),
        "{stdout}"
    );
    assert_eq!(d.docker(["run", "--rm", &tag]).ok(), "hello docker\n13");
    // Second build: cached, and `docker history` shows one row per instruction.
    let mut c = d.docker_cmd().unwrap();
    let out = c
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &tag])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(out.status.success());
    let qid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(qid, image_id(&d, &tag));
    let hist = d
        .docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag])
        .ok();
    let rows: Vec<&str> = hist.lines().collect();
    assert!(rows.len() >= 4, "{hist}");
    assert!(rows[0].contains("CMD"), "{hist}");
    assert!(rows[1].contains("wc -c"), "{hist}");
    assert!(rows[2].contains("COPY"), "{hist}");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn build_metadata_instructions_onbuild_shell_and_stdin_dockerfile() {
    let d = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        r#"FROM busybox AS base
ONBUILD RUN echo triggered > /onbuild.txt
FROM base
SHELL ["/bin/sh", "-e", "-c"]
RUN test "$(cat /onbuild.txt)" = triggered && echo shell-ok > /shell.txt
HEALTHCHECK --interval=5s --retries=2 CMD true
VOLUME ["/data"]
MAINTAINER someone@example.com
STOPSIGNAL SIGUSR1
ENV A=1 \
    B=${A}2
ARG V=three
ENV C=${V:+set}${V:-unset}
WORKDIR /newdir
WORKDIR sub
"#,
    )]);
    let tag = unique("bmeta");
    let out = build(&d, &ctx, &["-t", &tag]).ok();
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    let cfg: serde_json::Value = serde_json::from_str(
        &d.berth(["inspect", "--format", "{{json .Config}}", &tag])
            .ok(),
    )
    .unwrap();
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 2);
    assert!(cfg["Volumes"].get("/data").is_some(), "{cfg}");
    assert_eq!(cfg["StopSignal"], "SIGUSR1");
    assert_eq!(cfg["Shell"], serde_json::json!(["/bin/sh", "-e", "-c"]));
    assert!(
        cfg.get("OnBuild")
            .is_none_or(|v| v.is_null() || v == &serde_json::json!([])),
        "{cfg}"
    );
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    // As in docker, one ENV's substitutions see the values from before it.
    assert!(env.contains(&"B=2".to_string()), "{env:?}");
    assert!(env.contains(&"C=setthree".to_string()), "{env:?}");
    assert_eq!(
        d.berth(["inspect", "--format", "{{.Author}}", &tag]).ok(),
        "someone@example.com"
    );
    assert_eq!(
        d.berth(["run", "--rm", &tag, "cat", "/shell.txt", "/onbuild.txt"])
            .ok(),
        "shell-ok\ntriggered"
    );
    // WORKDIR made the (relative) directory in the image.
    assert_eq!(d.berth(["run", "--rm", &tag, "pwd"]).ok(), "/newdir/sub");
    // A Dockerfile on stdin (no context), and -q printing only the id.
    let out = d.berth_stdin(
        ["build", "-q", "-t", &format!("{tag}-stdin"), "-"],
        b"FROM busybox\nRUN echo from-stdin > /s\n",
    );
    let id = out.ok();
    assert!(id.starts_with("sha256:") && !id.contains('\n'), "{id}");
    assert_eq!(image_id(&d, &format!("{tag}-stdin")), id);
    // ADD of a URL is refused clearly (no network during builds).
    let out = d.berth_stdin(
        ["build", "-"],
        b"FROM busybox\nADD http://192.0.2.1/file /file\n",
    );
    let err = out.err();
    assert!(
        err.contains("not supported") && err.contains("line 2"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn build_run_network_is_none_by_default_and_host_on_request() {
    let d = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN ls /sys/class/net > /nets\nCMD [\"cat\", \"/nets\"]\n",
    )]);
    let tag = unique("bnet");
    build(&d, &ctx, &["-t", &tag]).ok();
    assert_eq!(d.berth(["run", "--rm", &tag]).ok(), "lo");
    build(&d, &ctx, &["-t", &tag, "--no-cache", "--network", "host"]).ok();
    let host_nets = d.berth(["run", "--rm", &tag]).ok();
    let got: Vec<&str> = host_nets.lines().collect();
    assert!(
        got.len() > 1 && got.iter().all(|n| !n.is_empty()),
        "{host_nets}"
    );
    assert!(got.contains(&"lo"), "{host_nets}");
    let out = build(&d, &ctx, &["--network", "bridge"]);
    assert!(out.err().contains("not supported"), "{out:?}");
    let _ = std::fs::remove_dir_all(&ctx);
}

#[test]
fn build_leftovers_of_a_killed_daemon_are_cleaned_by_the_next_build() {
    let mut d = Daemon::with_busybox();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN sleep 60\n")]);
    let mut child = std::process::Command::new(integration::daemon::bin("berth"))
        .arg("-H")
        .arg(d.host())
        .arg("build")
        .arg(&ctx)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = d.data_root().join("build/run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut id = None;
    while id.is_none() && std::time::Instant::now() < deadline {
        id = std::fs::read_dir(&run)
            .ok()
            .and_then(|mut rd| rd.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let id = id.expect("the RUN step never started");
    // Let the runtime start the container, then kill the daemon mid-step.
    let state = d.exec_root().join("runtime").join(&id);
    while !state.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.kill9();
    let _ = child.wait();
    d.restart();
    let ctx2 = context(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    let out = build(&d, &ctx2, &[]);
    out.ok();
    // The stale container is gone (runtime state, cgroups), as are its snapshot and bundle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!state.exists(), "runtime state of {id} left");
    let fake = format!(" ---> Running in {}\n", &id[..12]);
    assert_no_build_leftovers(&d, &format!("{}{fake}", out.stdout));
    let _ = std::fs::remove_dir_all(&ctx);
    let _ = std::fs::remove_dir_all(&ctx2);
}

#[test]
fn build_independent_stages_run_concurrently_and_unneeded_ones_are_skipped() {
    let d = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS a\nRUN date +%s > /start && sleep 3 && date +%s > /end\n\
         FROM busybox AS b\nRUN date +%s > /start && sleep 3 && date +%s > /end\n\
         FROM busybox AS skipped\nRUN echo never-built-stage\n\
         FROM busybox\nCOPY --from=a /start /a-start\nCOPY --from=a /end /a-end\n\
         COPY --from=b /start /b-start\nCOPY --from=b /end /b-end\n\
         CMD [\"cat\", \"/a-start\", \"/a-end\", \"/b-start\", \"/b-end\"]\n",
    )]);
    let tag = unique("bpar");
    let out = build(&d, &ctx, &["-t", &tag]).ok();
    assert!(!out.contains("never-built-stage"), "{out}");
    let times: Vec<u64> = d
        .berth(["run", "--rm", &tag])
        .ok()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let (a0, a1, b0, b1) = (times[0], times[1], times[2], times[3]);
    // The two RUN steps overlapped in time.
    assert!(
        a0 < b1 && b0 < a1,
        "stages ran one after the other: {times:?}"
    );
    // `--target` builds only what that stage needs.
    let out = build(&d, &ctx, &["--target", "skipped"]).ok();
    assert!(out.contains("never-built-stage"), "{out}");
    assert!(!out.contains("sleep 3"), "{out}");
    let _ = std::fs::remove_dir_all(&ctx);
}
