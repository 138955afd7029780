//! The create-request rule of issue 12 (root): a non-default field berth does not implement is
//! a 400 naming it and creates nothing; and the fields made real — `--device`,
//! `--device-cgroup-rule`, `--group-add`, `--pid container:X`, `--ipc shareable|container:X|
//! none|host`, `--add-host NAME:host-gateway`, `--domainname`, `--cgroupns private`,
//! annotations, MaskedPaths, MemorySwappiness/OomKillDisable — behave as Docker's, through the
//! berth CLI, the raw API and the real docker CLI.

use integration::daemon::unique;
use integration::Daemon;
use serde_json::{json, Value};

fn finish(d: Daemon) {
    d.finish();
}

/// The default bridge's gateway: the first address of the daemon's `--bip` subnet.
fn gateway(d: &Daemon) -> String {
    let net = d.bip.split('/').next().unwrap();
    let (head, last) = net.rsplit_once('.').unwrap();
    format!("{head}.{}", last.parse::<u8>().unwrap() | 1)
}

fn create(d: &Daemon, body: Value) -> (u16, String) {
    d.http("POST", "/v1.44/containers/create", &body.to_string())
}

fn run(d: &Daemon, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    d.berth(&a).ok()
}

fn bundle_config(d: &Daemon, name: &str) -> Value {
    let id = d.berth(["inspect", "-f", "{{.Id}}", name]).ok();
    let p = d
        .data_root()
        .join("containers")
        .join(id.trim())
        .join("bundle/config.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

#[test]
fn unsupported_fields_are_refused_by_name_and_create_nothing() {
    let d = Daemon::with_busybox();
    let base = json!({"Image": "busybox", "Cmd": ["true"]});
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "HostConfig.CpuRealtimeRuntime",
            json!({}),
            json!({"CpuRealtimeRuntime": 950000}),
        ),
        (
            "HostConfig.BlkioDeviceReadBps",
            json!({}),
            json!({"BlkioDeviceReadBps": [{"Path": "/dev/vda", "Rate": 1000}]}),
        ),
        (
            "HostConfig.Links",
            json!({}),
            json!({"Links": ["other:alias"]}),
        ),
        (
            "HostConfig.CgroupParent",
            json!({}),
            json!({"CgroupParent": "/mine"}),
        ),
        (
            "HostConfig.DeviceRequests",
            json!({}),
            json!({"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]}),
        ),
        (
            "HostConfig.Runtime",
            json!({}),
            json!({"Runtime": "nvidia"}),
        ),
        (
            "HostConfig.Isolation",
            json!({}),
            json!({"Isolation": "hyperv"}),
        ),
        (
            "HostConfig.UsernsMode",
            json!({}),
            json!({"UsernsMode": "private"}),
        ),
        ("HostConfig.PidMode", json!({}), json!({"PidMode": "bogus"})),
        (
            "HostConfig.MemorySwappiness",
            json!({}),
            json!({"MemorySwappiness": 101}),
        ),
        (
            "HostConfig.VolumeDriver",
            json!({}),
            json!({"VolumeDriver": "flocker"}),
        ),
        (
            "Config.MacAddress",
            json!({"MacAddress": "02:42:ac:11:00:09"}),
            json!({}),
        ),
        (
            "Config.NetworkDisabled",
            json!({"NetworkDisabled": true}),
            json!({}),
        ),
    ];
    for (field, cfg, host) in cases {
        let mut body = base.clone();
        for (k, v) in cfg.as_object().unwrap() {
            body[k] = v.clone();
        }
        body["HostConfig"] = host;
        let (st, msg) = create(&d, body);
        assert_eq!(st, 400, "{field}: {msg}");
        assert!(msg.contains(field), "{field} not named: {msg}");
    }
    // zero values are what clients send when nothing is set: accepted
    let (st, msg) = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["true"], "MacAddress": "", "NetworkDisabled": false,
               "HostConfig": {"CpuRealtimeRuntime": 0, "Links": null, "BlkioDeviceReadBps": [],
                              "CgroupParent": "", "Runtime": "runc", "Isolation": "default",
                              "MemorySwappiness": -1, "KernelMemory": 0}}),
    );
    assert_eq!(st, 201, "{msg}");
    let w: Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(w["Warnings"], json!([]), "{msg}");
    // Docker only warns about a kernel memory limit
    let (st, msg) = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"KernelMemory": 16777216}}),
    );
    assert_eq!(st, 201, "{msg}");
    assert!(msg.contains("kernel memory"), "{msg}");
    assert_eq!(
        d.container_ids().len(),
        2,
        "a refused create left a container"
    );
    finish(d);
}

#[test]
fn devices_groups_domainname_gateway_and_paths_are_applied() {
    let d = Daemon::with_busybox();
    // --device: the host node under another name, with the permissions asked
    let out = run(
        &d,
        &[
            "--device",
            "/dev/null:/dev/mynull:rw",
            "busybox",
            "sh",
            "-c",
            "ls -l /dev/mynull && echo x > /dev/mynull && echo wrote",
        ],
    );
    assert!(
        out.contains("1,") && out.contains("3") && out.contains("wrote"),
        "{out}"
    );
    let bad = d.berth(["run", "--rm", "--device", "/etc/passwd", "busybox", "true"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("not a device node"), "{bad:?}");
    // --device-cgroup-rule: a node made in the container is usable only with a rule for it
    let probe = "mknod /tmp/l b 7 0 && (dd if=/tmp/l of=/dev/null bs=512 count=1 2>&1; true)";
    let denied = run(&d, &["busybox", "sh", "-c", probe]);
    assert!(denied.contains("Operation not permitted"), "{denied}");
    let allowed = run(
        &d,
        &[
            "--device-cgroup-rule",
            "b 7:0 r",
            "busybox",
            "sh",
            "-c",
            probe,
        ],
    );
    assert!(!allowed.contains("Operation not permitted"), "{allowed}");
    // --group-add: names from the image's /etc/group and numbers
    let ids = run(
        &d,
        &[
            "--group-add",
            "www-data",
            "--group-add",
            "4242",
            "busybox",
            "id",
            "-G",
        ],
    );
    let gids: Vec<&str> = ids.split_whitespace().collect();
    assert!(gids.contains(&"33") && gids.contains(&"4242"), "{ids}");
    let unknown = d.berth(["run", "--rm", "--group-add", "nosuchgrp", "busybox", "true"]);
    assert!(unknown.stderr.contains("nosuchgrp"), "{unknown:?}");
    // --domainname
    let dn = run(
        &d,
        &[
            "--domainname",
            "example.test",
            "busybox",
            "cat",
            "/proc/sys/kernel/domainname",
        ],
    );
    assert_eq!(dn.trim(), "example.test");
    // --add-host NAME:host-gateway → the default bridge's gateway
    let gw = gateway(&d);
    let hosts = run(
        &d,
        &[
            "--add-host",
            "gw.internal:host-gateway",
            "busybox",
            "cat",
            "/etc/hosts",
        ],
    );
    assert!(hosts.contains(&format!("{gw}\tgw.internal")), "{hosts}");
    assert!(!hosts.contains("host-gateway"), "{hosts}");
    // --cgroupns private: the container sees its own cgroup as the root
    let cg = run(
        &d,
        &[
            "--cgroupns",
            "private",
            "busybox",
            "cat",
            "/proc/self/cgroup",
        ],
    );
    assert!(
        cg.lines()
            .filter(|l| l.contains("memory"))
            .all(|l| l.ends_with(":/")),
        "{cg}"
    );
    // MaskedPaths from the API replace the defaults
    let (st, body) = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "cat /proc/version | wc -c"],
               "HostConfig": {"MaskedPaths": ["/proc/version"], "MemorySwappiness": 17,
                              "OomKillDisable": true, "Annotations": {"org.test.k": "v1"}}}),
    );
    assert_eq!(st, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    d.berth(["start", "-a", &id]).ok();
    let spec = bundle_config(&d, &id);
    assert_eq!(spec["annotations"]["org.test.k"], "v1");
    assert_eq!(spec["linux"]["maskedPaths"], json!(["/proc/version"]));
    assert_eq!(spec["linux"]["resources"]["memory"]["swappiness"], 17);
    assert_eq!(
        spec["linux"]["resources"]["memory"]["disableOOMKiller"],
        true
    );
    let logs = d.berth(["logs", &id]).ok();
    assert_eq!(logs.trim(), "0", "masked /proc/version is readable: {logs}");
    finish(d);
}

#[test]
fn pid_and_ipc_namespaces_are_shared_as_docker() {
    let d = Daemon::with_busybox();
    let a = unique("nsa");
    let token = unique("tok");
    d.berth([
        "run",
        "-d",
        "--name",
        &a,
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        &format!("echo {token} > /dev/shm/t; exec sleep 1000"),
    ])
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let a_pid = d.berth(["inspect", "-f", "{{.State.Pid}}", &a]).ok();
    let host_ns = |kind: &str| {
        std::fs::read_link(format!("/proc/{}/ns/{kind}", a_pid.trim()))
            .unwrap()
            .to_string_lossy()
            .to_string()
    };
    // --pid container:A sees A's processes in A's namespace
    let ps = run(
        &d,
        &[
            "--pid",
            &format!("container:{a}"),
            "busybox",
            "sh",
            "-c",
            "ps -o args; readlink /proc/self/ns/pid",
        ],
    );
    assert!(ps.contains("sleep 1000"), "{ps}");
    assert!(ps.contains(&host_ns("pid")), "{ps}");
    // --ipc container:A shares A's IPC namespace and /dev/shm
    let shm = run(
        &d,
        &[
            "--ipc",
            &format!("container:{a}"),
            "busybox",
            "sh",
            "-c",
            "cat /dev/shm/t; readlink /proc/self/ns/ipc",
        ],
    );
    assert!(
        shm.contains(&token) && shm.contains(&host_ns("ipc")),
        "{shm}"
    );
    // a private donor cannot be joined; a stopped one neither
    let b = unique("nsb");
    d.berth(["run", "-d", "--name", &b, "busybox", "sleep", "1000"])
        .ok();
    let refused = d.berth([
        "run",
        "--rm",
        "--ipc",
        &format!("container:{b}"),
        "busybox",
        "true",
    ]);
    assert!(refused.stderr.contains("non-shareable"), "{refused:?}");
    d.berth(["stop", "-t", "0", &b]).ok();
    let stopped = d.berth([
        "run",
        "--rm",
        "--pid",
        &format!("container:{b}"),
        "busybox",
        "true",
    ]);
    assert!(stopped.stderr.contains("non running"), "{stopped:?}");
    // --ipc none: no /dev/shm; --ipc host: the host's /dev/shm
    let none = run(
        &d,
        &[
            "--ipc",
            "none",
            "busybox",
            "sh",
            "-c",
            "grep -c ' /dev/shm ' /proc/mounts; true",
        ],
    );
    assert_eq!(none.trim(), "0", "{none}");
    let host_file = format!("/dev/shm/{}", unique("berth-ipc"));
    std::fs::write(&host_file, &token).unwrap();
    let seen = run(&d, &["--ipc", "host", "busybox", "cat", &host_file]);
    std::fs::remove_file(&host_file).unwrap();
    assert_eq!(seen.trim(), token);
    finish(d);
}

#[test]
fn docker_cli_sends_the_same_fields() {
    let d = Daemon::with_busybox();
    if d.docker_cmd().is_none() {
        eprintln!("skipped: no docker CLI");
        finish(d);
        return;
    }
    let gw = gateway(&d);
    let out = d
        .docker([
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/dn",
            "--group-add",
            "4243",
            "--add-host",
            "gw:host-gateway",
            "--domainname",
            "dom.test",
            "busybox",
            "sh",
            "-c",
            "ls /dev/dn && id -G && grep gw /etc/hosts && cat /proc/sys/kernel/domainname",
        ])
        .ok();
    assert!(out.contains("/dev/dn") && out.contains("4243"), "{out}");
    assert!(
        out.contains(&format!("{gw}\tgw")) && out.contains("dom.test"),
        "{out}"
    );
    let refused = d.docker(["run", "--rm", "--cgroup-parent", "/x", "busybox", "true"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("CgroupParent"), "{refused:?}");
    finish(d);
}

/// `POST /exec/{id}/start` upgraded as the docker CLI does it; returns what follows the 101.
fn hijacked_exec_start(d: &Daemon, id: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    let req = format!(
        "POST /v1.44/exec/{id}/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    assert!(text.starts_with("HTTP/1.1 101"), "{text:?}");
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

#[test]
fn exec_keeps_the_container_ulimits_and_the_create_tty() {
    let d = Daemon::with_busybox();
    let c = unique("ul");
    d.berth([
        "run",
        "-d",
        "--name",
        &c,
        "--ulimit",
        "nofile=123:456",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let soft = d
        .berth(["exec", &c, "sh", "-c", "ulimit -n; ulimit -Hn"])
        .ok();
    assert_eq!(
        soft.split_whitespace().collect::<Vec<_>>(),
        ["123", "456"],
        "{soft}"
    );
    // exec created without a TTY stays without one even if the start body asks for one
    let (st, body) = d.http(
        "POST",
        &format!("/v1.44/containers/{c}/exec"),
        &json!({"Cmd": ["sh", "-c", "test -t 1 && echo tty || echo notty"],
                "AttachStdout": true, "Tty": false})
        .to_string(),
    );
    assert_eq!(st, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = hijacked_exec_start(&d, &id, &json!({"Detach": false, "Tty": true}).to_string());
    // the stream is multiplexed (no TTY): the output arrives in stdcopy frames
    assert!(out.contains("notty") && out.starts_with('\u{1}'), "{out:?}");
    finish(d);
}
