//! Container networking end to end (root): published ports from the host's loopback and
//! from another container, user networks with the embedded DNS, connect/disconnect,
//! isolation, UDP, macvlan/ipvlan on a test-made dummy parent, bad input, the docker CLI.
//! Every test ends with `finish`, which removes the containers, stops the daemon (it runs with
//! `--network-cleanup-on-exit`) and asserts that no bridge, veth, netns or nft table of that
//! daemon is left. Traffic only flows between 127.0.0.1, the daemon's bridges and the test's
//! own containers.

use integration::netcfg::{free_port, pick_subnet};
use integration::{Daemon, Out};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The static probe (crates/integration/probe/netprobe.rs), compiled once per process.
fn probe() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-netprobe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let out = dir.join("netprobe");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/probe/netprobe.rs");
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let st = Command::new(rustc)
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
                src,
                "-o",
            ])
            .arg(&out)
            .status()
            .expect("run rustc");
        assert!(st.success(), "compiling netprobe failed");
        out
    })
    .clone()
}

fn probe_mount() -> String {
    format!("{}:/netprobe:ro", probe().display())
}

/// A busybox httpd serving `text` at `/` on port 80: the `sh -c` script.
fn httpd_script(text: &str) -> String {
    format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// GET / from 127.0.0.1:port until it answers (or 20 s).
fn host_get(port: u16) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        match try_get(port) {
            Ok(b) => return Ok(b),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

fn try_get(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.contains(" 200 ") => Ok(body.trim().to_string()),
        _ => Err(format!("bad response: {text:?}")),
    }
}

fn inspect(d: &Daemon, what: &str) -> serde_json::Value {
    let out = d.berth(["inspect", what]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect json");
    v[0].clone()
}

fn ip_of(d: &Daemon, c: &str, net: &str) -> String {
    inspect(d, c)["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Run `sh -c script` in a fresh busybox container on `net` (with the probe mounted).
fn run_in(d: &Daemon, net: &str, script: &str) -> Out {
    d.berth([
        "run",
        "--rm",
        "--network",
        net,
        "-v",
        &probe_mount(),
        "busybox",
        "sh",
        "-c",
        script,
    ])
}

fn finish(d: Daemon) {
    d.finish();
}

#[test]
fn published_port_from_host_and_other_container() {
    let d = Daemon::with_busybox();
    let port = free_port();
    let name = integration::daemon::unique("web");
    d.berth([
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd_script("hello-published"),
    ])
    .ok();
    assert_eq!(host_get(port).unwrap(), "hello-published");
    // docker's view of it
    let j = inspect(&d, &name);
    let ns = &j["NetworkSettings"];
    let ip = ns["IPAddress"].as_str().unwrap().to_string();
    let gw = ns["Gateway"].as_str().unwrap().to_string();
    let subnet_base = d.bip.trim_end_matches("0/24");
    assert!(ip.starts_with(subnet_base), "{ip} in {}", d.bip);
    assert_eq!(gw, format!("{subnet_base}1"));
    assert_eq!(ns["Ports"]["80/tcp"][0]["HostPort"], port.to_string());
    assert!(ns["Networks"]["bridge"]["MacAddress"]
        .as_str()
        .unwrap()
        .starts_with("02:42:"));
    assert_eq!(
        j["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        port.to_string()
    );
    assert_eq!(
        d.berth(["port", &name]).ok(),
        format!("80/tcp -> 0.0.0.0:{port}")
    );
    let ps = d.berth(["ps"]).ok();
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    // another container through the host's published port (the daemon's bridge address)
    let out = run_in(
        &d,
        "bridge",
        &format!("wget -q -O - http://{gw}:{port}/ && wget -q -O - http://{ip}/"),
    )
    .ok();
    assert_eq!(out, "hello-published\nhello-published");
    // /etc/hosts and resolv.conf as docker writes them
    let hosts = d.berth(["exec", &name, "cat", "/etc/hosts"]).ok();
    assert!(hosts.contains(&format!("{ip}\t")), "{hosts}");
    // restart: networking comes back
    d.berth(["restart", "-t", "1", &name]).ok();
    assert_eq!(host_get(port).unwrap(), "hello-published");
    // a stopped container frees its host port (docker's behaviour): another may take it,
    // and the first cannot start again until it is given back
    d.berth(["stop", "-t", "1", &name]).ok();
    assert!(try_get(port).is_err());
    let other = integration::daemon::unique("other");
    d.berth([
        "run",
        "-d",
        "--name",
        &other,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd_script("hello-other"),
    ])
    .ok();
    assert_eq!(host_get(port).unwrap(), "hello-other");
    let e = d.berth(["start", &name]).err();
    assert!(e.contains("already allocated"), "{e}");
    d.berth(["rm", "-f", &other]).ok();
    d.berth(["start", &name]).ok();
    assert_eq!(host_get(port).unwrap(), "hello-published");
    assert_eq!(ip_of(&d, &name, "bridge"), ip);
    // -P publishes EXPOSEd ports on random host ports
    let name2 = integration::daemon::unique("pall");
    d.berth([
        "run",
        "-d",
        "--name",
        &name2,
        "--expose",
        "80",
        "-P",
        "busybox",
        "sh",
        "-c",
        &httpd_script("hello-random"),
    ])
    .ok();
    let line = d.berth(["port", &name2, "80"]).ok();
    let p2: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port line {line:?}"));
    assert!(p2 > 0);
    assert_eq!(host_get(p2).unwrap(), "hello-random");
    // a 127.0.0.1-only binding
    let p3 = free_port();
    let name3 = integration::daemon::unique("lo");
    d.berth([
        "run",
        "-d",
        "--name",
        &name3,
        "-p",
        &format!("127.0.0.1:{p3}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd_script("hello-loopback"),
    ])
    .ok();
    assert_eq!(host_get(p3).unwrap(), "hello-loopback");
    // rm releases the port: a new container can publish it again
    d.berth(["rm", "-f", &name3]).ok();
    assert!(try_get(p3).is_err());
    finish(d);
}

#[test]
fn daemon_restart_keeps_addresses_and_ports() {
    let mut d = Daemon::with_busybox();
    let port = free_port();
    let subnet = pick_subnet();
    let net = integration::daemon::unique("rn");
    d.berth(["network", "create", "--subnet", &subnet, &net])
        .ok();
    let name = integration::daemon::unique("keep");
    d.berth([
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd_script("hello-kept"),
    ])
    .ok();
    assert_eq!(host_get(port).unwrap(), "hello-kept");
    let ip = ip_of(&d, &name, &net);
    d.kill9();
    d.restart();
    assert_eq!(ip_of(&d, &name, &net), ip);
    assert_eq!(host_get(port).unwrap(), "hello-kept");
    // a stop/start on a user network keeps the address too
    d.berth(["stop", "-t", "1", &name]).ok();
    d.berth(["start", &name]).ok();
    assert_eq!(ip_of(&d, &name, &net), ip);
    assert_eq!(host_get(port).unwrap(), "hello-kept");
    d.berth(["rm", "-f", &name]).ok();
    d.berth(["network", "rm", &net]).ok();
    finish(d);
}

#[test]
fn user_network_dns_disconnect_and_isolation() {
    let d = Daemon::with_busybox();
    let (s1, s2) = (pick_subnet(), pick_subnet());
    let n1 = integration::daemon::unique("na");
    let n2 = integration::daemon::unique("nb");
    d.berth(["network", "create", "--subnet", &s1, "--label", "t=1", &n1])
        .ok();
    d.berth(["network", "create", "--subnet", &s2, &n2]).ok();
    let ls = d.berth(["network", "ls"]).ok();
    assert!(
        ls.contains(&n1) && ls.contains(&n2) && ls.contains("bridge"),
        "{ls}"
    );
    let a = integration::daemon::unique("a");
    d.berth([
        "run",
        "-d",
        "--name",
        &a,
        "--network",
        &n1,
        "--network-alias",
        "websvc",
        "busybox",
        "sh",
        "-c",
        &httpd_script("hello-from-a"),
    ])
    .ok();
    let a_ip = ip_of(&d, &a, &n1);
    assert!(a_ip.starts_with(s1.trim_end_matches("0/24")), "{a_ip}");
    // b on the same network finds a by name and by alias through the embedded DNS
    let b = integration::daemon::unique("b");
    d.berth([
        "run",
        "-d",
        "--name",
        &b,
        "--network",
        &n1,
        "-v",
        &probe_mount(),
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let resolv = d.berth(["exec", &b, "cat", "/etc/resolv.conf"]).ok();
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let fetch = |target: &str| d.berth(["exec", &b, "/netprobe", "tcp-get", target, "80", "/"]);
    loop {
        let out = fetch(&a);
        if out.code == 0 {
            assert_eq!(out.stdout.trim(), "hello-from-a");
            break;
        }
        assert!(Instant::now() < deadline, "b cannot reach a: {out:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(fetch("websvc").ok(), "hello-from-a");
    assert_eq!(d.berth(["exec", &b, "/netprobe", "resolve", &a]).ok(), a_ip);
    // busybox wget by name (nslookup/wget through 127.0.0.11)
    let w = d.berth(["exec", &b, "wget", "-q", "-O", "-", &format!("http://{a}/")]);
    if w.code == 0 {
        assert_eq!(w.stdout.trim(), "hello-from-a");
    } else {
        eprintln!("busybox wget cannot resolve names here (static glibc, no NSS): {w:?}");
    }
    // a container on the other network cannot reach a
    let out = run_in(&d, &n2, &format!("/netprobe tcp-get {a_ip} 80 /"));
    assert_ne!(out.code, 0, "isolation broken: {out:?}");
    let out = run_in(&d, &n2, &format!("/netprobe resolve {a}"));
    assert_ne!(out.code, 0, "other network resolves a: {out:?}");
    // connect c (on n2) to n1: now it reaches a by name
    let c = integration::daemon::unique("c");
    d.berth([
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &n2,
        "-v",
        &probe_mount(),
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    d.berth(["network", "connect", "--alias", "cc", &n1, &c])
        .ok();
    assert_eq!(
        d.berth(["exec", &c, "/netprobe", "tcp-get", &a, "80", "/"])
            .ok(),
        "hello-from-a"
    );
    let j = inspect(&d, &c);
    assert!(j["NetworkSettings"]["Networks"][&n1]["IPAddress"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let ni: serde_json::Value =
        serde_json::from_str(&d.berth(["network", "inspect", &n1]).ok()).unwrap();
    assert_eq!(ni[0]["Containers"].as_object().unwrap().len(), 3);
    assert_eq!(ni[0]["Labels"]["t"], "1");
    // disconnect b: it can no longer reach a
    d.berth(["network", "disconnect", &n1, &b]).ok();
    let out = d.berth(["exec", &b, "/netprobe", "tcp-get", &a_ip, "80", "/"]);
    assert_ne!(out.code, 0, "still reaches a: {out:?}");
    assert!(inspect(&d, &b)["NetworkSettings"]["Networks"][&n1].is_null());
    // a network with endpoints cannot be removed; prune leaves it
    let e = d.berth(["network", "rm", &n1]).err();
    assert!(e.contains("active endpoints"), "{e}");
    d.berth(["rm", "-f", &a, &b, &c]).ok();
    let pruned = d
        .berth(["network", "prune", "-f", "--filter", "label=t=1"])
        .ok();
    assert!(pruned.contains(&n1), "{pruned}");
    d.berth(["network", "rm", &n2]).ok();
    let ls = d.berth(["network", "ls", "-q"]).ok();
    assert_eq!(ls.lines().count(), 3, "{ls}");
    finish(d);
}

#[test]
fn udp_published_port() {
    let d = Daemon::with_busybox();
    let port = free_port();
    let name = integration::daemon::unique("udp");
    d.berth([
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &probe_mount(),
        "-p",
        &format!("{port}:9999/udp"),
        "busybox",
        "/netprobe",
        "udp-echo",
        "9999",
    ])
    .ok();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        s.send_to(b"ping-udp", ("127.0.0.1", port)).unwrap();
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            break String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        assert!(Instant::now() < deadline, "no UDP reply\n{}", d.log());
    };
    assert_eq!(got, "echo:ping-udp");
    assert_eq!(
        d.berth(["port", &name]).ok(),
        format!("9999/udp -> 0.0.0.0:{port}")
    );
    // and from another container via the host's published port
    let gw = inspect(&d, &name)["NetworkSettings"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run_in(
        &d,
        "bridge",
        &format!("/netprobe udp-ask {gw} {port} hairpin"),
    )
    .ok();
    assert_eq!(out, "echo:hairpin");
    finish(d);
}

fn link_kind_supported(kind: &str, parent: &str) -> bool {
    let probe_name = format!("{}p", &parent[..parent.len().min(13)]);
    let ok = Command::new("ip")
        .args([
            "link",
            "add",
            "link",
            parent,
            "name",
            &probe_name,
            "type",
            kind,
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let _ = Command::new("ip")
        .args(["link", "del", &probe_name])
        .stderr(std::process::Stdio::null())
        .status();
    ok
}

#[test]
fn macvlan_and_ipvlan_on_a_test_made_parent() {
    let d = Daemon::with_busybox();
    // the parent: one end of a test-made veth pair (this kernel may have no `dummy`)
    let parent = format!("{}pa", d.net_tag);
    let peer = format!("{}pb", d.net_tag);
    let st = Command::new("ip")
        .args([
            "link", "add", &parent, "type", "veth", "peer", "name", &peer,
        ])
        .status()
        .unwrap();
    assert!(st.success(), "cannot make a veth pair");
    for l in [&parent, &peer] {
        Command::new("ip")
            .args(["link", "set", l, "up"])
            .status()
            .unwrap();
    }
    let mut tried = 0;
    for kind in ["macvlan", "ipvlan"] {
        if !link_kind_supported(kind, &parent) {
            eprintln!("skipping {kind}: the kernel cannot make {kind} links here");
            continue;
        }
        tried += 1;
        let subnet = pick_subnet();
        let net = integration::daemon::unique(&kind[..2]);
        d.berth([
            "network",
            "create",
            "-d",
            kind,
            "--subnet",
            &subnet,
            "-o",
            &format!("parent={parent}"),
            &net,
        ])
        .ok();
        let a = integration::daemon::unique("ma");
        d.berth([
            "run",
            "-d",
            "--name",
            &a,
            "--network",
            &net,
            "busybox",
            "sh",
            "-c",
            &httpd_script(&format!("hello-{kind}")),
        ])
        .ok();
        let a_ip = ip_of(&d, &a, &net);
        assert!(a_ip.starts_with(subnet.trim_end_matches("0/24")), "{a_ip}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = run_in(
                &d,
                &net,
                &format!("/netprobe tcp-get {a_ip} 80 / && /netprobe tcp-get {a} 80 /"),
            );
            if out.code == 0 {
                assert_eq!(out.stdout.trim(), format!("hello-{kind}\nhello-{kind}"));
                break;
            }
            assert!(Instant::now() < deadline, "{kind}: no traffic: {out:?}");
            std::thread::sleep(Duration::from_millis(300));
        }
        d.berth(["rm", "-f", &a]).ok();
        d.berth(["network", "rm", &net]).ok();
    }
    let _ = Command::new("ip").args(["link", "del", &parent]).status();
    assert!(tried > 0, "neither macvlan nor ipvlan available");
    finish(d);
}

#[test]
fn bad_network_input_is_refused_cleanly() {
    let d = Daemon::with_busybox();
    let s = pick_subnet();
    let n1 = integration::daemon::unique("ok");
    d.berth(["network", "create", "--subnet", &s, &n1]).ok();
    // overlapping subnet
    let half = format!("{}128/25", s.trim_end_matches("0/24"));
    let n2 = integration::daemon::unique("ov");
    let e = d.berth(["network", "create", "--subnet", &half, &n2]).err();
    assert!(e.to_lowercase().contains("overlap"), "{e}");
    // invalid CIDRs
    for bad in ["10.1.2.300/24", "abc", "10.1.2.0/33"] {
        let e = d.berth(["network", "create", "--subnet", bad, &n2]).err();
        assert!(!e.trim().is_empty(), "{bad}");
    }
    // duplicate name
    let e = d.berth(["network", "create", &n1]).err();
    assert!(e.contains("already exists"), "{e}");
    let ls = d.berth(["network", "ls"]).ok();
    assert!(!ls.contains(&n2), "half-made network: {ls}");
    // unknown network: no container is made
    let before = d.container_ids().len();
    let e = d
        .berth(["run", "--network", "no-such-net", "busybox", "true"])
        .err();
    assert!(e.contains("no-such-net") && e.contains("not found"), "{e}");
    assert_eq!(d.container_ids().len(), before);
    // a bad port spec
    let e = d.berth(["run", "-p", "99999:80", "busybox", "true"]).err();
    assert!(!e.trim().is_empty());
    // a host port already published: the second container does not start and leaves no
    // endpoint, netns or rule behind; the first keeps serving
    let port = free_port();
    let a = integration::daemon::unique("pa");
    d.berth([
        "run",
        "-d",
        "--name",
        &a,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd_script("first"),
    ])
    .ok();
    assert_eq!(host_get(port).unwrap(), "first");
    let b = integration::daemon::unique("pb");
    let e = d
        .berth([
            "run",
            "-d",
            "--name",
            &b,
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sleep",
            "100",
        ])
        .err();
    assert!(
        e.contains("already allocated") || e.contains("in use"),
        "{e}"
    );
    let jb = inspect(&d, &b);
    assert_eq!(jb["State"]["Running"], false);
    assert!(
        jb["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{jb}"
    );
    let full_b = jb["Id"].as_str().unwrap().to_string();
    assert!(!d.exec_root().join("netns").join(&full_b).exists());
    let nb: serde_json::Value =
        serde_json::from_str(&d.berth(["network", "inspect", "bridge"]).ok()).unwrap();
    assert_eq!(nb[0]["Containers"].as_object().unwrap().len(), 1, "{nb}");
    assert_eq!(host_get(port).unwrap(), "first");
    // --ip on the default bridge
    let e = d
        .berth(["run", "--ip", "10.0.0.5", "busybox", "true"])
        .err();
    assert!(e.contains("user defined networks"), "{e}");
    // --ip outside the subnet
    let e = d
        .berth([
            "run",
            "--network",
            &n1,
            "--ip",
            "192.0.2.77",
            "busybox",
            "true",
        ])
        .err();
    assert!(!e.trim().is_empty());
    // removing predefined networks is refused
    let e = d.berth(["network", "rm", "bridge"]).err();
    assert!(e.contains("pre-defined"), "{e}");
    d.berth(["network", "rm", &n1]).ok();
    finish(d);
}

#[test]
fn host_none_and_container_modes() {
    let d = Daemon::with_busybox();
    let out = d
        .berth([
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    assert_eq!(out.lines().count(), 1, "{out}");
    let a = integration::daemon::unique("ns");
    d.berth([
        "run",
        "-d",
        "--name",
        &a,
        "busybox",
        "sh",
        "-c",
        &httpd_script("shared-netns"),
    ])
    .ok();
    let ip = ip_of(&d, &a, "bridge");
    // container:<a> sees a's interfaces and reaches its server on localhost
    let out = d
        .berth([
            "run",
            "--rm",
            "--network",
            &format!("container:{a}"),
            "busybox",
            "sh",
            "-c",
            "ip -o -4 addr show eth0; wget -q -O - http://127.0.0.1/",
        ])
        .ok();
    assert!(out.contains(&ip), "{out}");
    assert!(out.contains("shared-netns"), "{out}");
    // host: the host's links
    let host_links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let n_host = String::from_utf8_lossy(&host_links.stdout).lines().count();
    let out = d
        .berth([
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    assert!(out.lines().count() + 3 >= n_host, "{out}");
    // --add-host, --hostname, --dns land in the files
    let out = d
        .berth([
            "run",
            "--rm",
            "--hostname",
            "hn1",
            "--add-host",
            "extra.example:192.0.2.9",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "corp.example",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hostname /etc/hosts /etc/resolv.conf",
        ])
        .ok();
    assert!(out.contains("hn1"), "{out}");
    assert!(out.contains("192.0.2.9\textra.example"), "{out}");
    assert!(out.contains("nameserver 192.0.2.53"), "{out}");
    assert!(out.contains("search corp.example"), "{out}");
    finish(d);
}

#[test]
fn docker_cli_networks_and_published_port() {
    if integration::docker_cli().is_none() {
        eprintln!("skipping: no docker CLI");
        return;
    }
    let d = Daemon::with_busybox();
    let s = pick_subnet();
    let n = integration::daemon::unique("dn");
    let id = d
        .docker(["network", "create", "--subnet", &s, "--label", "k=v", &n])
        .ok();
    assert_eq!(id.len(), 64, "{id}");
    let ls = d.docker(["network", "ls"]).ok();
    assert!(
        ls.contains(&n) && ls.contains("bridge") && ls.contains("host"),
        "{ls}"
    );
    let ls = d
        .docker([
            "network",
            "ls",
            "--filter",
            "label=k=v",
            "--format",
            "{{.Name}}",
        ])
        .ok();
    assert_eq!(ls, n);
    let subnet = d
        .docker([
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            &n,
        ])
        .ok();
    assert_eq!(subnet, s);
    let port = free_port();
    let w = integration::daemon::unique("dw");
    d.docker([
        "run",
        "-d",
        "--name",
        &w,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd_script("hello-docker-cli"),
    ])
    .ok();
    // curl from the host
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new("curl")
            .args(["-s", "-m", "3", &format!("http://127.0.0.1:{port}/")])
            .output()
            .unwrap();
        if out.status.success() {
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "hello-docker-cli"
            );
            break;
        }
        assert!(Instant::now() < deadline, "curl never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(d.docker(["port", &w, "80"]).ok(), format!("0.0.0.0:{port}"));
    let ip = d
        .docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &w])
        .ok();
    assert!(ip.starts_with(d.bip.trim_end_matches("0/24")), "{ip}");
    let ps = d.docker(["ps", "--format", "{{.Ports}}"]).ok();
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    d.docker(["network", "connect", &n, &w]).ok();
    let ip2 = d
        .docker([
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{n}\").IPAddress}}}}"),
            &w,
        ])
        .ok();
    assert!(ip2.starts_with(s.trim_end_matches("0/24")), "{ip2}");
    d.docker(["network", "disconnect", &n, &w]).ok();
    d.docker(["rm", "-f", &w]).ok();
    assert_eq!(d.docker(["network", "rm", &n]).ok(), n);
    let e = d.docker(["network", "inspect", &n]).err();
    assert!(e.contains("not found"), "{e}");
    d.docker(["network", "create", "--subnet", &pick_subnet(), &n])
        .ok();
    let pruned = d.docker(["network", "prune", "-f"]).ok();
    assert!(pruned.contains(&n), "{pruned}");
    finish(d);
}
