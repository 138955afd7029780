//! Docker API fidelity for what docker-compose and scripts rely on (root): network
//! disconnect/connect round trips, `EndpointSettings` echoed on created containers, IPAM
//! fields, the `ps` filter table and `400 invalid filter` for unknown keys on every list,
//! `ContainerConfig` in image inspect, and the real docker-compose 1.29 on a two-network
//! project. Each test has its own daemon, names and subnets and removes what it made.

use integration::daemon::unique;
use integration::netcfg::pick_subnet;
use integration::Daemon;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

/// One raw HTTP/1.1 request over the daemon's socket; returns (status, body).
fn http(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String) {
    d.http(method, path, body)
}

/// GET returning JSON (asserting 200).
#[track_caller]
fn get_json(d: &Daemon, path: &str) -> Value {
    let (st, body) = http(d, "GET", path, "");
    assert_eq!(st, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// URL-encode a filters JSON for a query string.
fn enc(v: &Value) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn finish(d: Daemon) {
    d.finish();
}

fn network_mode(d: &Daemon, c: &str) -> String {
    let v = get_json(d, &format!("/v1.44/containers/{c}/json"));
    v["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn networks_of(d: &Daemon, c: &str) -> Value {
    get_json(d, &format!("/v1.44/containers/{c}/json"))["NetworkSettings"]["Networks"].clone()
}

#[test]
fn disconnect_then_connect_keeps_network_mode_in_every_state() {
    let d = Daemon::with_busybox();
    let net = unique("fnet");
    let subnet = pick_subnet();
    d.berth(["network", "create", "--subnet", &subnet, &net])
        .ok();
    let c = unique("fc");
    d.berth([
        "create",
        "--name",
        &c,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    // created: the API round trip
    let body = json!({"Container": c}).to_string();
    let (st, b) = http(
        &d,
        "POST",
        &format!("/v1.44/networks/{net}/disconnect"),
        &body,
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(network_mode(&d, &c), net);
    let (st, b) = http(&d, "POST", &format!("/v1.44/networks/{net}/connect"), &body);
    assert_eq!(st, 200, "second connect: {b}");
    assert_eq!(network_mode(&d, &c), net);
    // running: the docker CLI round trip, the address comes back
    d.berth(["start", &c]).ok();
    if d.docker_cmd().is_some() {
        d.docker(["network", "disconnect", &net, &c]).ok();
        assert!(networks_of(&d, &c).get(&net).is_none());
        d.docker(["network", "connect", &net, &c]).ok();
    } else {
        d.berth(["network", "disconnect", &net, &c]).ok();
        d.berth(["network", "connect", &net, &c]).ok();
    }
    assert_eq!(network_mode(&d, &c), net);
    let ip = networks_of(&d, &c)[&net]["IPAddress"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!ip.is_empty(), "no address after reconnect");
    let inside = d.berth(["exec", &c, "ip", "-4", "addr"]).ok();
    assert!(inside.contains(&ip), "{inside}");
    // stopped: disconnect, connect, start again on the network
    d.berth(["stop", "-t", "0", &c]).ok();
    d.berth(["network", "disconnect", &net, &c]).ok();
    d.berth(["network", "connect", &net, &c]).ok();
    d.berth(["start", &c]).ok();
    assert_eq!(network_mode(&d, &c), net);
    assert!(!networks_of(&d, &c)[&net]["IPAddress"]
        .as_str()
        .unwrap_or("")
        .is_empty());
    d.berth(["rm", "-f", &c]).ok();
    d.berth(["network", "rm", &net]).ok();
    finish(d);
}

#[test]
fn created_container_echoes_endpoint_settings_and_ipam_fields() {
    let d = Daemon::with_busybox();
    let net = unique("enet");
    let net2 = unique("enet");
    let subnet = pick_subnet();
    let base = subnet.trim_end_matches(".0/24").to_string();
    let create = json!({
        "Name": net, "IPAM": {"Driver": "default", "Options": null, "Config": [{
            "Subnet": subnet, "AuxiliaryAddresses": {"router": format!("{base}.2")}
        }]}
    });
    let (st, b) = http(&d, "POST", "/v1.44/networks/create", &create.to_string());
    assert_eq!(st, 201, "{b}");
    let n = get_json(&d, &format!("/v1.44/networks/{net}"));
    assert!(n["IPAM"]["Options"].is_null(), "{n}");
    assert_eq!(
        n["IPAM"]["Config"][0]["AuxiliaryAddresses"]["router"],
        json!(format!("{base}.2")),
        "{n}"
    );
    d.berth(["network", "create", "--subnet", &pick_subnet(), &net2])
        .ok();
    let name = unique("ec");
    let body = json!({
        "Image": "busybox", "Cmd": ["sleep", "300"], "Hostname": "myhost",
        "HostConfig": {"NetworkMode": net},
        "NetworkingConfig": {"EndpointsConfig": {net.clone(): {
            "Aliases": ["svc"],
            "IPAMConfig": {"IPv4Address": format!("{base}.9")},
            "DriverOpts": {"k": "v"},
        }}}
    });
    let (st, b) = http(
        &d,
        "POST",
        &format!("/v1.44/containers/create?name={name}"),
        &body.to_string(),
    );
    assert_eq!(st, 201, "{b}");
    let id = serde_json::from_str::<Value>(&b).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let short = &id[..12];
    // a network connected before start is listed too
    d.berth(["network", "connect", &net2, &name]).ok();
    let nets = networks_of(&d, &name);
    let ep = &nets[&net];
    assert_eq!(
        ep["IPAMConfig"]["IPv4Address"],
        json!(format!("{base}.9")),
        "{ep}"
    );
    assert_eq!(ep["DriverOpts"]["k"], json!("v"), "{ep}");
    let aliases: Vec<&str> = ep["Aliases"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for want in ["svc", short, "myhost"] {
        assert!(aliases.contains(&want), "{want} missing from {aliases:?}");
    }
    assert!(nets.get(&net2).is_some(), "{nets}");
    // after start the address asked for is used and the echo stays
    d.berth(["start", &name]).ok();
    let nets = networks_of(&d, &name);
    assert_eq!(
        nets[&net]["IPAddress"],
        json!(format!("{base}.9")),
        "{nets}"
    );
    assert_eq!(nets[&net]["DriverOpts"]["k"], json!("v"));
    assert!(!nets[&net2]["IPAddress"].as_str().unwrap_or("").is_empty());
    d.berth(["rm", "-f", &name]).ok();
    d.berth(["network", "rm", &net, &net2]).ok();
    finish(d);
}

fn ps_names(d: &Daemon, filters: &Value) -> BTreeSet<String> {
    let v = get_json(
        d,
        &format!("/v1.44/containers/json?all=1&filters={}", enc(filters)),
    );
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["Names"][0].as_str())
        .map(|n| n.trim_start_matches('/').to_string())
        .collect()
}

#[test]
fn ps_filters_table_and_unknown_keys_are_refused_everywhere() {
    let d = Daemon::with_busybox();
    let p = unique("pf");
    let (a, b, c) = (format!("{p}a"), format!("{p}b"), format!("{p}c"));
    let vol = unique("pfv");
    d.berth(["run", "--name", &a, "-l", "tier=web", "busybox", "true"])
        .ok();
    let exited = d.berth([
        "run",
        "--name",
        &b,
        "-l",
        "tier=db",
        "-v",
        &format!("{vol}:/data"),
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(exited.code, 3, "{exited:?}");
    d.berth([
        "run",
        "-d",
        "--name",
        &c,
        "-p",
        "127.0.0.1::8080/udp",
        "--expose",
        "9000",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let set = |v: &[&String]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let table: Vec<(Value, BTreeSet<String>)> = vec![
        (json!({"name": [format!("^/{p}[ab]$")]}), set(&[&a, &b])),
        (json!({"name": [format!("{p}c")]}), set(&[&c])),
        (json!({"label": ["tier"], "name": [&p]}), set(&[&a, &b])),
        (json!({"label": ["tier=db"]}), set(&[&b])),
        (json!({"exited": ["3"]}), set(&[&b])),
        (json!({"exited": ["0"], "name": [&p]}), set(&[&a])),
        (json!({"status": ["running"], "name": [&p]}), set(&[&c])),
        (json!({"status": ["exited"], "name": [&p]}), set(&[&a, &b])),
        (json!({"volume": [&vol]}), set(&[&b])),
        (json!({"volume": ["/data"], "name": [&p]}), set(&[&b])),
        (json!({"volume": ["nosuchvolume"]}), set(&[])),
        (json!({"publish": ["8080/udp"]}), set(&[&c])),
        (json!({"publish": ["8080"]}), set(&[])),
        (json!({"publish": ["8000-8100/udp"]}), set(&[&c])),
        (json!({"expose": ["9000"]}), set(&[&c])),
        (json!({"expose": ["8999-9001/tcp"]}), set(&[&c])),
        (json!({"before": [&c], "name": [&p]}), set(&[&a, &b])),
        (json!({"since": [&a], "name": [&p]}), set(&[&b, &c])),
        (
            json!({"ancestor": ["busybox"], "name": [&p]}),
            set(&[&a, &b, &c]),
        ),
        (
            json!({"health": ["none"], "name": [&p]}),
            set(&[&a, &b, &c]),
        ),
        (json!({"health": ["healthy"], "name": [&p]}), set(&[])),
        (json!({"is-task": ["true"]}), set(&[])),
        (
            json!({"isolation": ["default"], "name": [&p]}),
            set(&[&a, &b, &c]),
        ),
        (
            json!({"network": ["bridge"], "name": [&p]}),
            set(&[&a, &b, &c]),
        ),
    ];
    for (f, want) in &table {
        assert_eq!(&ps_names(&d, f), want, "filter {f}");
    }
    // the dangerous one: an unknown key must not mean "everything"
    for path in [
        "/v1.44/containers/json",
        "/v1.44/images/json",
        "/v1.44/volumes",
        "/v1.44/networks",
    ] {
        let (st, body) = http(
            &d,
            "GET",
            &format!("{path}?filters={}", enc(&json!({"nosuchkey": ["x"]}))),
            "",
        );
        assert_eq!(st, 400, "{path}: {body}");
        assert!(
            body.to_lowercase().contains("invalid filter 'nosuchkey'"),
            "{path}: {body}"
        );
    }
    // bad values are refused too
    for f in [
        json!({"status": ["sleepy"]}),
        json!({"exited": ["x"]}),
        json!({"publish": ["80/icmp"]}),
    ] {
        let (st, body) = http(
            &d,
            "GET",
            &format!("/v1.44/containers/json?filters={}", enc(&f)),
            "",
        );
        assert_eq!(st, 400, "{f}: {body}");
    }
    if d.docker_cmd().is_some() {
        let out = d.docker(["ps", "-aq", "-f", "volume=nosuchvolume"]).ok();
        assert!(out.is_empty(), "{out}");
        let err = d.docker(["ps", "-a", "-f", "bogus=1"]).err();
        assert!(err.to_lowercase().contains("invalid filter"), "{err}");
    }
    d.berth(["rm", "-f", &a, &b, &c]).ok();
    d.berth(["volume", "rm", &vol]).ok();
    finish(d);
}

#[test]
fn image_inspect_carries_container_config() {
    let d = Daemon::with_busybox();
    let v = get_json(&d, "/v1.44/images/busybox/json");
    assert!(v["ContainerConfig"].is_object(), "{v}");
    assert_eq!(v["ContainerConfig"]["Cmd"], json!(["sh"]), "{v}");
    assert!(v["ContainerConfig"].get("Volumes").is_some(), "{v}");
    finish(d);
}

fn compose(d: &Daemon, dir: &std::path::Path, project: &str, args: &[&str]) -> integration::Out {
    let out = Command::new("/usr/bin/docker-compose")
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .env("DOCKER_CONFIG", d.root.join("docker-config"))
        .args(["-p", project, "--no-ansi"])
        .args(args)
        .output()
        .expect("run docker-compose");
    integration::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn compose_file(env: &str, s1: &str, s2: &str) -> String {
    format!(
        "version: '3.7'\nservices:\n  web:\n    image: busybox:latest\n    command: ['sleep', '300']\n    networks: [front, back]\n  db:\n    image: busybox:latest\n    command: ['sleep', '300']\n    environment:\n      MODE: {env}\n    networks: [back]\nnetworks:\n  front:\n    ipam:\n      config:\n        - subnet: {s1}\n  back:\n    ipam:\n      config:\n        - subnet: {s2}\n"
    )
}

fn id_of(d: &Daemon, name: &str) -> String {
    d.berth(["inspect", "-f", "{{.Id}}", name]).ok()
}

#[test]
fn docker_compose_two_networks_up_recreate_down() {
    if !std::path::Path::new("/usr/bin/docker-compose").exists() {
        eprintln!("docker-compose not installed; skipped");
        return;
    }
    let d = Daemon::with_busybox();
    let project = unique("cp").to_lowercase();
    let dir = d.root.join("compose");
    std::fs::create_dir_all(&dir).unwrap();
    let (s1, s2) = (pick_subnet(), pick_subnet());
    std::fs::write(
        dir.join("docker-compose.yml"),
        compose_file("one", &s1, &s2),
    )
    .unwrap();
    let up = compose(&d, &dir, &project, &["up", "-d"]);
    assert_eq!(up.code, 0, "up: {up:?}\n{}", d.log());
    let web = format!("{project}_web_1");
    let db = format!("{project}_db_1");
    // services reach each other by name on the shared network
    d.berth(["exec", &db, "ping", "-c", "1", "-W", "3", "web"])
        .ok();
    d.berth(["exec", &web, "ping", "-c", "1", "-W", "3", "db"])
        .ok();
    let (web_id, db_id) = (id_of(&d, &web), id_of(&d, &db));
    // change one service: only it is recreated
    std::fs::write(
        dir.join("docker-compose.yml"),
        compose_file("two", &s1, &s2),
    )
    .unwrap();
    let up = compose(&d, &dir, &project, &["up", "-d"]);
    assert_eq!(up.code, 0, "second up: {up:?}\n{}", d.log());
    assert_eq!(id_of(&d, &web), web_id, "web was recreated: {up:?}");
    let new_db = id_of(&d, &db);
    assert_ne!(new_db, db_id, "db was not recreated: {up:?}");
    let env = d.berth(["inspect", "-f", "{{json .Config.Env}}", &db]).ok();
    assert!(env.contains("MODE=two"), "{env}");
    d.berth(["exec", &db, "ping", "-c", "1", "-W", "3", "web"])
        .ok();
    let down = compose(&d, &dir, &project, &["down"]);
    assert_eq!(down.code, 0, "down: {down:?}");
    assert!(d.container_ids().is_empty());
    let nets = d.docker(["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(!nets.contains(&project), "{nets}");
    finish(d);
}
