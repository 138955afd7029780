//! The daemon's access controls, as dockerd has them: the unix socket's owner group and mode,
//! remote access over mutual TLS (certificates made here with rcgen, 127.0.0.1 only) for the
//! berth CLI and the real docker CLI, plain HTTP refused on a TLS port, an unauthenticated
//! client refused, plain TCP only with a loud warning, and idle connections timed out.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use integration::daemon::bin;
use integration::{capture, docker_cli, Daemon, Out};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A free loopback port (bound and released; the daemon binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A CA and its key.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("ca key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = p.self_signed(&key).expect("self-sign ca");
    Ca { cert, key }
}

/// Writes `ca.pem`, `cert.pem`, `key.pem` for one party into `dir` (docker's file names).
fn issue(ca: &Ca, dir: &Path, names: &[&str], usage: ExtendedKeyUsagePurpose) {
    std::fs::create_dir_all(dir).unwrap();
    let key = KeyPair::generate().expect("key");
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).expect("sign");
    std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The berth CLI pointed at `host` with `extra` global flags.
fn berth_at(host: &str, extra: &[&str], args: &[&str]) -> Out {
    capture(
        Command::new(bin("berth"))
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_HOST")
            .args(["-H", host])
            .args(extra)
            .args(args),
    )
}

/// Waits until `addr` accepts TCP connections.
fn wait_listening(addr: &str, d: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{addr} never listened:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends raw bytes and reads what comes back until the peer closes (or 5 s pass).
fn raw_exchange(addr: &str, send: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(send).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn mutual_tls_for_berth_and_docker_clients() {
    let root = PathBuf::from(format!("/tmp/{}", integration::unique("tls")));
    let ca = make_ca("berth test CA");
    let rogue = make_ca("someone else");
    let server_dir = root.join("server");
    let client_dir = root.join("client");
    let rogue_dir = root.join("rogue");
    issue(
        &ca,
        &server_dir,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    issue(
        &ca,
        &client_dir,
        &["client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    issue(
        &rogue,
        &rogue_dir,
        &["intruder"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    // The rogue client trusts the right CA for the server but presents its own certificate.
    std::fs::copy(client_dir.join("ca.pem"), rogue_dir.join("ca.pem")).unwrap();

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tcp = format!("tcp://{addr}");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let d = Daemon::start_with(&[
        "-H",
        &tcp,
        "--tlsverify",
        "--tlscacert",
        &s(&server_dir.join("ca.pem")),
        "--tlscert",
        &s(&server_dir.join("cert.pem")),
        "--tlskey",
        &s(&server_dir.join("key.pem")),
    ]);
    d.import_busybox();
    wait_listening(&addr, &d);

    // The berth CLI with docker's --tls* flags: plain requests and a hijacked stream.
    let flags = [
        "--tlsverify".to_string(),
        "--tlscacert".to_string(),
        s(&client_dir.join("ca.pem")),
        "--tlscert".to_string(),
        s(&client_dir.join("cert.pem")),
        "--tlskey".to_string(),
        s(&client_dir.join("key.pem")),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let v = berth_at(&tcp, &flags, &["version"]).ok();
    assert!(v.contains("Server"), "{v}");
    let out = berth_at(
        &tcp,
        &flags,
        &["run", "--rm", "busybox", "echo", "over-tls"],
    )
    .ok();
    assert_eq!(out, "over-tls");
    let out = berth_at(
        &tcp,
        &flags,
        &["run", "--rm", "-i", "busybox", "sh", "-c", "exit 3"],
    );
    assert_eq!(out.code, 3, "{out:?}");

    // The same through docker's environment variables.
    let env_out = capture(
        Command::new(bin("berth"))
            .env("DOCKER_HOST", &tcp)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &client_dir)
            .args(["ps", "-a"]),
    )
    .ok();
    assert!(env_out.starts_with("CONTAINER ID"), "{env_out}");

    // Refused: no client certificate, a certificate from another CA, an unverified server
    // name (the server's certificate does not name 10.x), and plain HTTP on the TLS port.
    let no_cert = berth_at(
        &tcp,
        &["--tlsverify", "--tlscacert", &s(&client_dir.join("ca.pem"))],
        &["version"],
    );
    assert_ne!(
        no_cert.code, 0,
        "a client without certificate got in: {no_cert:?}"
    );
    let rogue_out = capture(
        Command::new(bin("berth"))
            .env("DOCKER_HOST", &tcp)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &rogue_dir)
            .args(["ps"]),
    );
    assert_ne!(
        rogue_out.code, 0,
        "a foreign certificate got in: {rogue_out:?}"
    );
    let wrong_ca = berth_at(
        &tcp,
        &[
            "--tlsverify",
            "--tlscacert",
            &s(&rogue_dir.join("cert.pem")),
            "--tlscert",
            &s(&client_dir.join("cert.pem")),
            "--tlskey",
            &s(&client_dir.join("key.pem")),
        ],
        &["version"],
    );
    assert_ne!(wrong_ca.code, 0, "server not verified: {wrong_ca:?}");
    let plain = raw_exchange(&addr, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(plain.starts_with("HTTP/1.0 400"), "{plain:?}");
    assert!(!plain.contains("OK"), "{plain:?}");
    let plain_cli = berth_at(&tcp, &[], &["version"]);
    assert_ne!(plain_cli.code, 0, "{plain_cli:?}");

    // The real docker CLI over mutual TLS.
    if let Some(cli) = docker_cli() {
        let docker = |args: &[&str], cert_dir: &Path| {
            capture(
                Command::new(&cli)
                    .env("DOCKER_HOST", &tcp)
                    .env("DOCKER_TLS_VERIFY", "1")
                    .env("DOCKER_CERT_PATH", cert_dir)
                    .env("DOCKER_CONFIG", root.join("docker-config"))
                    .env_remove("DOCKER_CONTEXT")
                    .args(args),
            )
        };
        let v = docker(&["version", "--format", "{{.Server.Version}}"], &client_dir).ok();
        assert!(!v.is_empty());
        let out = docker(
            &["run", "--rm", "busybox", "echo", "docker-tls"],
            &client_dir,
        )
        .ok();
        assert_eq!(out, "docker-tls");
        let refused = docker(&["ps"], &rogue_dir);
        assert_ne!(refused.code, 0, "{refused:?}");
    }
    drop(d);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn plain_tcp_warns_and_idle_connections_time_out() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tcp = format!("tcp://{addr}");
    let d = Daemon::start_with(&["-H", &tcp, "--api-header-timeout", "1"]);
    wait_listening(&addr, &d);
    assert!(
        d.log().contains("WITHOUT TLS"),
        "no warning for plain TCP:\n{}",
        d.log()
    );
    let v = berth_at(&tcp, &[], &["version"]).ok();
    assert!(v.contains("Server"), "{v}");

    // A client that connects and sends nothing (or only half a request head) is cut off
    // after the header timeout, on TCP and on the unix socket.
    for partial in [&b""[..], &b"GET /_ping HTTP/1.1\r\nHo"[..]] {
        let t0 = Instant::now();
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(partial).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let waited = t0.elapsed();
        assert!(
            waited < Duration::from_secs(5),
            "idle TCP connection held for {waited:?}"
        );
    }
    let t0 = Instant::now();
    let mut u = UnixStream::connect(&d.socket).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let _ = u.read_to_end(&mut buf);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "idle unix connection held for {:?}",
        t0.elapsed()
    );
    // A long-lived stream that did send its request is not cut by the header timeout.
    let c = d.berth(["run", "-d", "busybox", "sleep", "1000"]);
    if c.code == 0 {
        let id = c.ok();
        let t0 = Instant::now();
        let waited = berth_at(&tcp, &[], &["exec", &id, "sh", "-c", "sleep 2; echo done"]).ok();
        assert_eq!(waited, "done");
        assert!(t0.elapsed() >= Duration::from_secs(2));
        d.berth(["rm", "-f", &id]).ok();
    }
    drop(d);
}

#[test]
fn socket_owner_group_and_mode() {
    // Root only by default (no `berth` group on a test machine, or the one that exists).
    let d = Daemon::start();
    let md = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(md.mode() & 0o777, 0o660, "socket mode");
    let berth_gid = nix::unistd::Group::from_name("berth").ok().flatten();
    assert_eq!(md.gid(), berth_gid.map_or(0, |g| g.gid.as_raw()));
    // A user outside the group cannot connect.
    let denied = capture(Command::new("setpriv").args([
        "--reuid",
        "nobody",
        "--regid",
        "nogroup",
        "--clear-groups",
        "curl",
        "-sS",
        "--unix-socket",
        d.socket.to_str().unwrap(),
        "http://x/_ping",
    ]));
    assert_ne!(
        denied.code, 0,
        "nobody reached the root-only socket: {denied:?}"
    );
    assert!(
        denied.stderr.contains("Permission denied")
            || denied.stderr.contains("Couldn't connect")
            || denied.stderr.contains("Failed to connect"),
        "{denied:?}"
    );
    drop(d);

    // --group daemon (gid 1 on Debian): the socket belongs to it, and its members get in.
    let d = Daemon::start_with(&["--group", "daemon"]);
    let md = std::fs::metadata(&d.socket).unwrap();
    let daemon_gid = nix::unistd::Group::from_name("daemon")
        .unwrap()
        .expect("group daemon")
        .gid
        .as_raw();
    assert_eq!(md.gid(), daemon_gid);
    assert_eq!(md.mode() & 0o777, 0o660);
    // The socket's directory must be traversable for the member (the test's own root is).
    let member = capture(Command::new("setpriv").args([
        "--reuid",
        "nobody",
        "--regid",
        "nogroup",
        "--groups",
        &daemon_gid.to_string(),
        "curl",
        "-sS",
        "--unix-socket",
        d.socket.to_str().unwrap(),
        "http://x/_ping",
    ]));
    assert_eq!(member.stdout, "OK", "{member:?}");
    drop(d);

    // A group that does not exist is one clear error at start, not a daemon without access
    // control.
    let tmp = PathBuf::from(format!("/tmp/{}", integration::unique("grp")));
    let out = capture(
        Command::new(bin("berthd"))
            .arg("--data-root")
            .arg(tmp.join("d"))
            .arg("--exec-root")
            .arg(tmp.join("e"))
            .args(["--group", "no-such-group-berth-test", "-H"])
            .arg(format!("unix://{}/s.sock", tmp.display())),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("no-such-group-berth-test"), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

#[test]
fn restart_right_after_sigterm_and_a_second_daemon_on_the_same_root() {
    let mut d = Daemon::with_busybox();
    let name = integration::unique("lk");
    d.berth(["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
        .ok();
    // a second berthd on the same data root: one clear line naming the owner's pid
    let owner = d.pid().expect("running");
    let other_root = PathBuf::from(format!("/tmp/{}", integration::unique("lk2")));
    std::fs::create_dir_all(&other_root).unwrap();
    let second = capture(
        Command::new(bin("berthd"))
            .arg("--data-root")
            .arg(d.data_root())
            .arg("--exec-root")
            .arg(other_root.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", other_root.join("s.sock").display())),
    );
    let _ = std::fs::remove_dir_all(&other_root);
    assert_ne!(second.code, 0, "{second:?}");
    assert!(
        second.stderr.contains(&format!("pid {owner}")) && !second.stderr.contains("panicked"),
        "{second:?}"
    );
    assert!(second.stderr.trim().lines().count() <= 2, "{second:?}");
    // an init system's restart: the next daemon starts while the last one is stopping
    for round in 0..5 {
        d.restart_at_once();
        let state = d.berth(["inspect", "-f", "{{.State.Status}}", &name]).ok();
        assert_eq!(state, "running", "round {round}:\n{}", d.log());
    }
    assert!(!d.log().contains("panicked"), "{}", d.log());
    d.finish();
}
