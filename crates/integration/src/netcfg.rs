//! Per-daemon network names and subnets, so parallel test daemons never share a bridge, a
//! veth name, an nft table or a subnet; and checks that a daemon left nothing behind.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

fn base36(mut v: u64, width: usize) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = digits[(v % 36) as usize];
        v /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// IPv4 routes of the host as (network, prefix) pairs.
pub fn host_routes() -> Vec<(Ipv4Addr, u8)> {
    let out = Command::new("ip")
        .args(["-4", "-o", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let w = l.split_whitespace().next()?;
            let w = w.strip_prefix("local").unwrap_or(w);
            let (a, p) = w.split_once('/').unwrap_or((w, "32"));
            Some((a.parse().ok()?, p.parse().ok()?))
        })
        .collect()
}

fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let p = a.1.min(b.1);
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    (u32::from(a.0) & mask) == (u32::from(b.0) & mask)
}

/// Whether `a.b.c.d/len` overlaps a route of the host.
pub fn subnet_in_use(net: Ipv4Addr, len: u8) -> bool {
    host_routes()
        .into_iter()
        .filter(|r| r.1 > 0)
        .any(|r| overlaps(r, (net, len)))
}

/// A fresh (tag, default subnet) for one daemon: the tag is unique per (process, daemon);
/// the subnet is a /24 in 10.232.0.0/13 not routed on the host right now.
pub fn pick() -> (String, String) {
    let n = N.fetch_add(1, Ordering::SeqCst) as u64;
    let pid = std::process::id() as u64;
    let tag = base36((pid * 1024 + (n % 1024)) % 36u64.pow(6), 6);
    let start = (pid * 131 + n * 7) % 2048;
    for i in 0..2048u64 {
        let k = (start + i) % 2048;
        let net = Ipv4Addr::new(10, 232 + (k / 256) as u8, (k % 256) as u8, 0);
        if !subnet_in_use(net, 24) {
            return (tag, format!("{net}/24"));
        }
    }
    (tag, "10.239.255.0/24".into())
}

/// What a daemon with `tag` left on the host: links named after it, its nft table, and the
/// netns files under `exec_root/netns`. Empty = clean.
pub fn leftovers(tag: &str, exec_root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for l in links.lines() {
        let Some(name) = l.split(':').nth(1).map(str::trim) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        if name == format!("{tag}0")
            || name.starts_with(&format!("{tag}-"))
            || name.starts_with(&format!("{tag}v"))
        {
            out.push(format!("link {name}"));
        }
    }
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if tables
        .lines()
        .any(|l| l.split_whitespace().last() == Some(&format!("berth-{tag}")))
    {
        out.push(format!("nft table berth-{tag}"));
    }
    if let Ok(rd) = std::fs::read_dir(exec_root.join("netns")) {
        for e in rd.flatten() {
            out.push(format!("netns {}", e.path().display()));
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = exec_root.join("netns").display().to_string();
    if mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m.starts_with(&prefix))
    {
        out.push(format!("mount under {prefix}"));
    }
    out
}

static SUBNETS: AtomicU32 = AtomicU32::new(0);

/// A /24 for a test's own network: in 10.240.0.0/13, distinct from every other pick of this
/// process and not routed on the host right now.
pub fn pick_subnet() -> String {
    let pid = std::process::id() as u64;
    loop {
        let n = SUBNETS.fetch_add(1, Ordering::SeqCst) as u64;
        let k = (pid * 97 + n) % 2048;
        let net = Ipv4Addr::new(10, 240 + (k / 256) as u8, (k % 256) as u8, 0);
        if !subnet_in_use(net, 24) || n > 4096 {
            return format!("{net}/24");
        }
    }
}

/// A TCP (and UDP) port on 127.0.0.1 that is free right now.
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().expect("addr").port();
        drop(l);
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("0.0.0.0", p)).is_ok()
        {
            return p;
        }
    }
}
