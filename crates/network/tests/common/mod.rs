//! Test fixture: a network manager with unique names, stand-in containers as netns files in
//! /run/netns/<tag>-<n> (so `ip netns exec` works too), and helpers that run socket code
//! inside a netns from a thread that joined it. Traffic stays on loopback and test netns.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use network::{AttachRequest, Config, NetworkManager};

/// Retry `f` while it fails with EINTR (signals do reach this multi-threaded test process).
pub fn eintr<T>(mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

pub struct Fixture {
    pub tag: String,
    pub dir: tempfile::TempDir,
    pub mgr: Option<NetworkManager>,
    pub netns: Vec<PathBuf>,
    pub extra_links: Vec<String>,
}

pub fn tag() -> String {
    format!("bt{:04x}", fastrand::u16(..))
}

impl Fixture {
    /// `default_subnet`: the default bridge's subnet for this test (10.231.x.0/24).
    pub fn new(default_subnet: &str) -> Fixture {
        let tag = tag();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg =
            Config::new(dir.path().join("data"), dir.path().join("exec")).with_prefix(&tag);
        cfg.default_subnet = default_subnet.parse().expect("subnet");
        let mgr = NetworkManager::open(cfg).expect("open");
        Fixture {
            tag,
            dir,
            mgr: Some(mgr),
            netns: vec![],
            extra_links: vec![],
        }
    }

    pub fn mgr(&self) -> &NetworkManager {
        self.mgr.as_ref().expect("manager")
    }

    /// A stand-in container: a netns at /run/netns/<tag>-<name>.
    pub fn container(&mut self, name: &str) -> PathBuf {
        let p = PathBuf::from(format!("/run/netns/{}-{name}", self.tag));
        network::netns::create(&p).expect("create netns");
        self.netns.push(p.clone());
        p
    }

    pub fn req(&self, name: &str, ns: &Path) -> AttachRequest {
        AttachRequest {
            container_id: format!("{}{}", name, "0".repeat(64 - name.len().min(64))),
            container_name: name.to_string(),
            netns: ns.to_path_buf(),
            ..Default::default()
        }
    }

    fn teardown(&mut self) {
        if let Some(m) = &self.mgr {
            for n in m.list().unwrap_or_default() {
                for e in m.endpoints(&n.id).unwrap_or_default() {
                    let _ = m.detach(&n.id, &e.container_id);
                }
                let _ = m.remove(&n.id);
            }
            let _ = m.cleanup_all();
        }
        self.mgr = None;
        for p in self.netns.drain(..) {
            let _ = network::netns::remove(&p);
        }
        for l in self.extra_links.drain(..) {
            let _ = Command::new("ip").args(["link", "del", &l]).status();
        }
    }

    /// Clean up and assert that nothing of this test is left on the host.
    pub fn finish(mut self) {
        self.teardown();
        let links = Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .expect("ip");
        let links = String::from_utf8_lossy(&links.stdout).to_string();
        let left: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .filter(|n| n.starts_with(&self.tag))
            .collect();
        assert!(left.is_empty(), "leftover links: {left:?}");
        let ns_left: Vec<String> = std::fs::read_dir("/run/netns")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.starts_with(&self.tag))
                    .collect()
            })
            .unwrap_or_default();
        assert!(ns_left.is_empty(), "leftover netns: {ns_left:?}");
        let t = Command::new("nft")
            .args(["list", "table", "ip", &format!("berth-{}", self.tag)])
            .output()
            .expect("nft");
        assert!(!t.status.success(), "leftover nft table berth-{}", self.tag);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Run `f` in a thread that joined the netns at `ns`.
pub fn in_ns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(ns).expect("open netns");
    std::thread::spawn(move || {
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

/// A TCP echo server bound (inside `ns`, or the host if None) on `addr`; serves `n` connections.
pub fn tcp_echo(ns: Option<&Path>, addr: SocketAddr, n: usize) -> std::thread::JoinHandle<()> {
    let l = match ns {
        Some(ns) => in_ns(ns, move || TcpListener::bind(addr).expect("bind")),
        None => TcpListener::bind(addr).expect("bind"),
    };
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, peer)) = eintr(|| l.accept()) else {
                return;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 256];
            if let Ok(k) = eintr(|| s.read(&mut buf)) {
                let mut out = buf[..k].to_vec();
                out.extend_from_slice(format!(" from {}", peer.ip()).as_bytes());
                let _ = s.write_all(&out);
            }
        }
    })
}

/// Connect (from `ns` or the host), send `msg`, return the echo (None on failure).
pub fn tcp_talk(ns: Option<&Path>, addr: SocketAddr, msg: &str) -> Option<String> {
    let msg = msg.to_string();
    let f = move || -> Option<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(1500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        s.write_all(msg.as_bytes()).ok()?;
        let mut buf = [0u8; 256];
        let k = eintr(|| s.read(&mut buf)).ok()?;
        Some(String::from_utf8_lossy(&buf[..k]).to_string())
    };
    match ns {
        Some(ns) => in_ns(ns, f),
        None => f(),
    }
}

/// A UDP echo socket inside `ns`; answers `n` datagrams.
pub fn udp_echo(ns: &Path, addr: SocketAddr, n: usize) -> std::thread::JoinHandle<()> {
    let s = in_ns(ns, move || UdpSocket::bind(addr).expect("bind udp"));
    std::thread::spawn(move || {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = [0u8; 512];
        for _ in 0..n {
            let Ok((k, peer)) = eintr(|| s.recv_from(&mut buf)) else {
                return;
            };
            let _ = s.send_to(&buf[..k], peer);
        }
    })
}

/// Send one UDP datagram from the host, return the echo.
pub fn udp_talk(addr: SocketAddr, msg: &str) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.send_to(msg.as_bytes(), addr).ok()?;
    let mut buf = [0u8; 512];
    let (k, _) = eintr(|| s.recv_from(&mut buf)).ok()?;
    Some(String::from_utf8_lossy(&buf[..k]).to_string())
}

/// A DNS A query for `name` sent from inside `ns` to 127.0.0.11:53; returns the A records.
pub fn dns_query(ns: &Path, name: &str) -> Option<(u8, Vec<Ipv4Addr>)> {
    let name = name.to_string();
    in_ns(ns, move || {
        let s = UdpSocket::bind("127.0.0.1:0").ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        s.send_to(&q, "127.0.0.11:53").ok()?;
        let mut buf = [0u8; 1500];
        let (k, _) = eintr(|| s.recv_from(&mut buf)).ok()?;
        let r = &buf[..k];
        let rcode = r[3] & 0x0f;
        let an = u16::from_be_bytes([r[6], r[7]]) as usize;
        let mut ips = Vec::new();
        let mut i = q.len();
        for _ in 0..an {
            // name pointer (2) type (2) class (2) ttl (4) rdlen (2) rdata
            let rdlen = u16::from_be_bytes([r[i + 10], r[i + 11]]) as usize;
            if rdlen == 4 {
                ips.push(Ipv4Addr::new(r[i + 12], r[i + 13], r[i + 14], r[i + 15]));
            }
            i += 12 + rdlen;
        }
        Some((rcode, ips))
    })
}

pub fn ip_in(ns: &Path, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .arg("ip")
        .args(args)
        .output()
        .expect("nsenter");
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn port() -> u16 {
    20000 + fastrand::u16(..9000)
}

/// The same A query over TCP (2-byte length prefix); returns the answer count.
pub fn dns_query_tcp(ns: &Path, name: &str) -> Option<usize> {
    let name = name.to_string();
    in_ns(ns, move || {
        let mut s =
            TcpStream::connect_timeout(&"127.0.0.11:53".parse().ok()?, Duration::from_secs(2))
                .ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let mut msg = (q.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(&q);
        s.write_all(&msg).ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).ok()?;
        let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut r).ok()?;
        Some(u16::from_be_bytes([r[6], r[7]]) as usize)
    })
}
