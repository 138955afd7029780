//! Embedded DNS for user networks: one UDP+TCP server per container, listening inside the
//! container's netns on 127.0.0.11:53 (the socket is bound from a thread that briefly joins
//! the netns; the server thread itself stays in the host netns, so forwarding to the host's
//! resolvers, even 127.0.0.53, goes out from the host). Names of containers on the same user
//! networks (name, aliases, 12-char id, `name.network`) answer with A records, rotated for
//! round robin; other names are forwarded verbatim to the upstreams.
//!
//! The DNS wire format is handled by hand (header, one question, A answers): it is all we
//! need, and a full DNS crate would triple this crate's build time.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
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
    tcp: Option<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(t) = self.tcp.take() {
            let _ = t.join();
        }
    }
}

/// Run `f` in a short-lived thread that joined the netns at `netns` (sockets it creates stay
/// in that netns).
fn in_netns<T: Send + 'static>(
    netns: &Path,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let file = std::fs::File::open(netns).map_err(|e| NetworkError::io("open netns", netns, e))?;
    std::thread::spawn(move || -> std::io::Result<T> {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET)?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
    .map_err(|e| NetworkError::io("bind dns socket in", netns, e))
}

/// Bind a UDP socket on `addr` inside the netns at `netns`.
pub fn bind_in_netns(netns: &Path, addr: SocketAddr) -> Result<UdpSocket> {
    in_netns(netns, move || UdpSocket::bind(addr))
}

impl DnsServer {
    /// Start serving on 127.0.0.11:53 (UDP and TCP) inside `netns`.
    pub fn start(
        netns: &Path,
        resolver: Resolver,
        upstreams: Vec<SocketAddr>,
    ) -> Result<DnsServer> {
        let addr = SocketAddr::from((DNS_ADDR, 53));
        let sock = bind_in_netns(netns, addr)?;
        let tcp = in_netns(netns, move || TcpListener::bind(addr))?;
        let mut srv = Self::serve(sock, resolver.clone(), upstreams.clone())?;
        srv.tcp = Some(serve_tcp(
            tcp,
            resolver,
            Arc::new(upstreams),
            srv.stop.clone(),
        )?);
        Ok(srv)
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
            tcp: None,
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

/// The answer for a local name, or None when the name must be forwarded.
fn local_answer(
    query: &[u8],
    q: &Question,
    resolver: &Resolver,
    rr: &AtomicUsize,
) -> Option<Vec<u8>> {
    let mut ips = resolver(&q.name)?;
    let ips = if q.qtype == 1 || q.qtype == 255 {
        if !ips.is_empty() {
            let k = rr.fetch_add(1, Ordering::Relaxed) % ips.len();
            ips.rotate_left(k);
        }
        ips
    } else {
        Vec::new()
    };
    Some(reply(query, q, 0, &ips))
}

/// Ask the upstreams in turn (UDP; three tries of 1 s each, like a stub resolver, as
/// datagrams can be lost); SERVFAIL when none answers.
fn forward(query: &[u8], q: &Question, upstreams: &[SocketAddr]) -> Vec<u8> {
    for up in upstreams {
        let bind = if up.is_ipv4() {
            SocketAddr::from(([0u8; 4], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        for _ in 0..3 {
            if s.send_to(query, up).is_err() {
                break;
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            let mut buf = [0u8; 4096];
            // wait up to 1 s for the matching answer (EINTR and strays don't end the wait)
            while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                match s.recv_from(&mut buf) {
                    Ok((n, from)) if from == *up && n >= 2 && buf[..2] == query[..2] => {
                        return buf[..n].to_vec();
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }
    reply(query, q, 2, &[])
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
    if let Some(r) = local_answer(&query, &q, resolver, rr) {
        let _ = sock.send_to(&r, peer);
        return;
    }
    let Ok(out) = sock.try_clone() else { return };
    let upstreams = upstreams.clone();
    // Forward in its own thread so one slow upstream does not stall local answers.
    let _ = std::thread::Builder::new()
        .name("berth-dns-fwd".into())
        .spawn(move || {
            let r = forward(&query, &q, &upstreams);
            let _ = out.send_to(&r, peer);
        });
}

/// One DNS-over-TCP connection: 2-byte length prefixed messages until EOF or 5 s idle.
fn serve_conn(
    mut c: TcpStream,
    resolver: Resolver,
    upstreams: Arc<Vec<SocketAddr>>,
    rr: Arc<AtomicUsize>,
) {
    let _ = c.set_nonblocking(false);
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let mut len = [0u8; 2];
        if c.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
        if c.read_exact(&mut query).is_err() {
            return;
        }
        let Some(q) = parse_question(&query) else {
            return;
        };
        let r = local_answer(&query, &q, &resolver, &rr)
            .unwrap_or_else(|| forward(&query, &q, &upstreams));
        let mut out = (r.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&r);
        if c.write_all(&out).is_err() {
            return;
        }
    }
}

/// DNS over TCP, one thread per connection.
fn serve_tcp(
    l: TcpListener,
    resolver: Resolver,
    upstreams: Arc<Vec<SocketAddr>>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    l.set_nonblocking(true)
        .map_err(|e| NetworkError::io("dns tcp nonblocking", "", e))?;
    let rr = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("berth-dns-tcp".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                };
                let (res, ups, rr) = (resolver.clone(), upstreams.clone(), rr.clone());
                let _ = std::thread::Builder::new()
                    .name("berth-dns-conn".into())
                    .spawn(move || serve_conn(c, res, ups, rr));
            }
        })
        .map_err(|e| NetworkError::io("spawn dns thread", "", e))
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
