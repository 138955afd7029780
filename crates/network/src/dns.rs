//! Embedded DNS for user networks: one UDP server per container, listening inside the
//! container's netns on 127.0.0.11:53 (the socket is bound from a thread that briefly joins
//! the netns; the server thread itself stays in the host netns, so forwarding to the host's
//! resolvers, even 127.0.0.53, goes out from the host). Names of containers on the same user
//! networks (name, aliases, 12-char id, `name.network`) answer with A records, rotated for
//! round robin; other names are forwarded verbatim to the upstreams.
//!
//! The DNS wire format is handled by hand (header, one question, A answers): it is all we
//! need, and a full DNS crate would triple this crate's build time.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

use crate::error::{NetworkError, Result};

/// The address the embedded DNS listens on inside each container.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Looks a name up for the querying container: `Some(ips)` when it is a container name
/// known on its networks, `None` to forward.
pub type Resolver = Arc<dyn Fn(&str) -> Option<Vec<Ipv4Addr>> + Send + Sync>;

/// A running server; stops when dropped.
pub struct DnsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bind a UDP socket on `addr` inside the netns at `netns`.
pub fn bind_in_netns(netns: &Path, addr: SocketAddr) -> Result<UdpSocket> {
    let file = std::fs::File::open(netns).map_err(|e| NetworkError::io("open netns", netns, e))?;
    let path = netns.to_path_buf();
    std::thread::spawn(move || -> std::io::Result<UdpSocket> {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET)?;
        UdpSocket::bind(addr)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("dns bind thread panicked")))
    .map_err(|e| NetworkError::io("bind dns socket in", path, e))
}

impl DnsServer {
    /// Start serving on 127.0.0.11:53 inside `netns`.
    pub fn start(
        netns: &Path,
        resolver: Resolver,
        upstreams: Vec<SocketAddr>,
    ) -> Result<DnsServer> {
        let sock = bind_in_netns(netns, SocketAddr::from((DNS_ADDR, 53)))?;
        Self::serve(sock, resolver, upstreams)
    }

    /// Serve queries arriving on `sock`.
    pub fn serve(
        sock: UdpSocket,
        resolver: Resolver,
        upstreams: Vec<SocketAddr>,
    ) -> Result<DnsServer> {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| NetworkError::io("dns socket timeout", "", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let upstreams = Arc::new(upstreams);
        let rr = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("berth-dns".into())
            .spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop2.load(Ordering::SeqCst) {
                    let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let query = buf[..n].to_vec();
                    handle(&sock, peer, query, &resolver, &upstreams, &rr);
                }
            })
            .map_err(|e| NetworkError::io("spawn dns thread", "", e))?;
        Ok(DnsServer {
            stop,
            thread: Some(thread),
        })
    }
}

struct Question {
    name: String,
    qtype: u16,
    end: usize,
}

fn parse_question(q: &[u8]) -> Option<Question> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        end: i + 4,
    })
}

fn reply(query: &[u8], q: &Question, rcode: u8, ips: &[Ipv4Addr]) -> Vec<u8> {
    let mut r = Vec::with_capacity(q.end + ips.len() * 16);
    r.extend_from_slice(&query[..2]);
    let rd = query[2] & 0x01;
    r.push(0x80 | 0x04 | rd); // QR, AA, RD copied
    r.push(0x80 | (rcode & 0x0F)); // RA, rcode
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&query[12..q.end]);
    for ip in ips {
        r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        r.extend_from_slice(&600u32.to_be_bytes());
        r.extend_from_slice(&[0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    r
}

fn handle(
    sock: &UdpSocket,
    peer: SocketAddr,
    query: Vec<u8>,
    resolver: &Resolver,
    upstreams: &Arc<Vec<SocketAddr>>,
    rr: &AtomicUsize,
) {
    let Some(q) = parse_question(&query) else {
        return;
    };
    if let Some(mut ips) = resolver(&q.name) {
        let ips = if q.qtype == 1 || q.qtype == 255 {
            if !ips.is_empty() {
                let k = rr.fetch_add(1, Ordering::Relaxed) % ips.len();
                ips.rotate_left(k);
            }
            ips
        } else {
            Vec::new()
        };
        let _ = sock.send_to(&reply(&query, &q, 0, &ips), peer);
        return;
    }
    let Ok(out) = sock.try_clone() else { return };
    let upstreams = upstreams.clone();
    // Forward in its own thread so one slow upstream does not stall local answers.
    let _ = std::thread::Builder::new()
        .name("berth-dns-fwd".into())
        .spawn(move || {
            for up in upstreams.iter() {
                let bind: SocketAddr = if up.is_ipv4() {
                    "0.0.0.0:0".parse().unwrap_or(*up)
                } else {
                    "[::]:0".parse().unwrap_or(*up)
                };
                let Ok(s) = UdpSocket::bind(bind) else {
                    continue;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.send_to(&query, up).is_err() {
                    continue;
                }
                let mut buf = [0u8; 4096];
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    let _ = out.send_to(&buf[..n], peer);
                    return;
                }
            }
            let _ = out.send_to(&reply(&query, &q, 2, &[]), peer);
        });
}

/// Nameservers of a resolv.conf text as socket addresses (port 53).
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|a| SocketAddr::new(a, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_a_query() {
        // query for "web" type A
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&[3, b'w', b'e', b'b', 0, 0, 1, 0, 1]);
        let p = parse_question(&q).unwrap();
        assert_eq!(p.name, "web");
        let r = reply(&q, &p, 0, &[Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(&r[r.len() - 4..], &[10, 0, 0, 2]);
    }
}
