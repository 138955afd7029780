//! netprobe: a tiny static network probe bind-mounted into test containers (compiled by the
//! tests with `rustc -C target-feature=+crt-static`; std only, no NSS).
//!
//! netprobe udp-echo PORT                 echo every datagram back as "echo:<data>"
//! netprobe udp-ask IP PORT MSG           send MSG, print the reply (5 tries, 1 s each)
//! netprobe resolve NAME                  A records via the nameserver of /etc/resolv.conf
//! netprobe tcp-get HOST PORT PATH        HTTP/1.0 GET, print the body (HOST may be a name)
//! netprobe tcp-sink PORT                 accept one connection, count bytes, print them
//! netprobe tcp-source IP PORT BYTES      send BYTES zero bytes, print "BYTES SECONDS"

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

fn die(msg: &str) -> ! {
    eprintln!("netprobe: {msg}");
    std::process::exit(1)
}

fn nameserver() -> Ipv4Addr {
    let rc = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    rc.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse().ok())
        .next()
        .unwrap_or_else(|| die("no IPv4 nameserver in /etc/resolv.conf"))
}

fn resolve(name: &str) -> Vec<Ipv4Addr> {
    if let Ok(ip) = name.parse() {
        return vec![ip];
    }
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let s = UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| die(&format!("bind: {e}")));
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let ns = SocketAddr::from((nameserver(), 53));
    let mut buf = [0u8; 1500];
    for _ in 0..3 {
        if s.send_to(&q, ns).is_err() {
            continue;
        }
        let Ok((n, _)) = s.recv_from(&mut buf) else {
            continue;
        };
        return parse_answers(&buf[..n]);
    }
    Vec::new()
}

fn skip_name(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        let l = b[i] as usize;
        if l == 0 {
            return i + 1;
        }
        if l & 0xc0 == 0xc0 {
            return i + 2;
        }
        i += l + 1;
    }
    i
}

fn parse_answers(b: &[u8]) -> Vec<Ipv4Addr> {
    if b.len() < 12 || b[3] & 0x0f != 0 {
        return Vec::new();
    }
    let an = u16::from_be_bytes([b[6], b[7]]) as usize;
    let mut i = skip_name(b, 12) + 4;
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(b, i);
        if i + 10 > b.len() {
            break;
        }
        let ty = u16::from_be_bytes([b[i], b[i + 1]]);
        let len = u16::from_be_bytes([b[i + 8], b[i + 9]]) as usize;
        i += 10;
        if ty == 1 && len == 4 && i + 4 <= b.len() {
            out.push(Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]));
        }
        i += len;
    }
    out
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize| a.get(i).cloned().unwrap_or_else(|| die("missing argument"));
    match a.get(1).map(String::as_str) {
        Some("udp-echo") => {
            let s = UdpSocket::bind(("0.0.0.0", arg(2).parse::<u16>().unwrap_or(0)))
                .unwrap_or_else(|e| die(&format!("bind: {e}")));
            let mut buf = [0u8; 65536];
            loop {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let mut r = b"echo:".to_vec();
                    r.extend_from_slice(&buf[..n]);
                    let _ = s.send_to(&r, from);
                }
            }
        }
        Some("udp-ask") => {
            let ip = resolve(&arg(2))
                .first()
                .copied()
                .unwrap_or_else(|| die("cannot resolve"));
            let port: u16 = arg(3).parse().unwrap_or_else(|_| die("bad port"));
            let s = UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| die(&format!("bind: {e}")));
            s.set_read_timeout(Some(Duration::from_secs(1))).ok();
            let mut buf = [0u8; 65536];
            for _ in 0..5 {
                let _ = s.send_to(arg(4).as_bytes(), (ip, port));
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    println!("{}", String::from_utf8_lossy(&buf[..n]));
                    return;
                }
            }
            die("no reply")
        }
        Some("resolve") => {
            let ips = resolve(&arg(2));
            if ips.is_empty() {
                die("no address");
            }
            for ip in ips {
                println!("{ip}");
            }
        }
        Some("tcp-get") => {
            let ip = resolve(&arg(2))
                .first()
                .copied()
                .unwrap_or_else(|| die("cannot resolve"));
            let port: u16 = arg(3).parse().unwrap_or_else(|_| die("bad port"));
            let mut s = TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_secs(3))
                .unwrap_or_else(|e| die(&format!("connect {ip}:{port}: {e}")));
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let _ = write!(s, "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n", arg(4), arg(2));
            let mut resp = Vec::new();
            let _ = s.read_to_end(&mut resp);
            let text = String::from_utf8_lossy(&resp);
            match text.split_once("\r\n\r\n") {
                Some((_, body)) => print!("{body}"),
                None => die("bad HTTP response"),
            }
        }
        Some("tcp-sink") => {
            let l = TcpListener::bind(("0.0.0.0", arg(2).parse::<u16>().unwrap_or(0)))
                .unwrap_or_else(|e| die(&format!("bind: {e}")));
            let (mut c, _) = l.accept().unwrap_or_else(|e| die(&format!("accept: {e}")));
            let mut buf = vec![0u8; 1 << 16];
            let mut total: u64 = 0;
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            println!("{total}");
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        Some("tcp-source") => {
            let ip = resolve(&arg(2))
                .first()
                .copied()
                .unwrap_or_else(|| die("cannot resolve"));
            let port: u16 = arg(3).parse().unwrap_or_else(|_| die("bad port"));
            let mut left: u64 = arg(4).parse().unwrap_or_else(|_| die("bad size"));
            let total = left;
            // the server may still be starting: retry the connect for 10 s
            let mut tries = 0;
            let mut s = loop {
                match TcpStream::connect((ip, port)) {
                    Ok(s) => break s,
                    Err(e) if tries >= 100 => die(&format!("connect {ip}:{port}: {e}")),
                    Err(_) => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            };
            let t0 = std::time::Instant::now();
            let buf = vec![0u8; 1 << 16];
            while left > 0 {
                let n = (left as usize).min(buf.len());
                match s.write(&buf[..n]) {
                    Ok(w) => left -= w as u64,
                    Err(e) => die(&format!("write: {e}")),
                }
            }
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            println!("{total} {:.6}", t0.elapsed().as_secs_f64());
        }
        _ => die("usage: netprobe udp-echo|udp-ask|resolve|tcp-get|tcp-sink|tcp-source ..."),
    }
}
