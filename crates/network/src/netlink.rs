//! In-process rtnetlink for the per-container link work (veth pairs, addresses, default
//! routes, loopback up, deletion), so attaching a container costs no helper processes.
//!
//! Why a small synchronous request/ack helper over `netlink-sys` + `netlink-packet-route`
//! rather than the `rtnetlink` crate: `rtnetlink` is async-only (a tokio runtime per call
//! inside a synchronous library whose callers already use `spawn_blocking`), while each
//! operation here is one request and one ack (or one dump) on a blocking socket.
//!
//! Work inside a container's netns: a netlink socket belongs to the netns it was created
//! in for its whole life, so [`Nl::in_netns`] creates it in a short-lived thread that
//! joined the netns with `setns(CLONE_NEWNET)` (which affects only that thread) and hands
//! the socket back; no thread of the daemon ever changes its namespace.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{NetworkError, Result};

/// A blocking rtnetlink socket in one network namespace.
pub(crate) struct Nl {
    sock: Socket,
    seq: u32,
    /// what the socket's netns is, for error messages
    place: String,
}

/// The error of a netlink request: errno plus what was asked.
fn nl_err(what: &str, place: &str, e: std::io::Error) -> NetworkError {
    NetworkError::Command {
        cmd: format!("netlink {what} ({place})"),
        stderr: e.to_string(),
    }
}

fn mac_bytes(mac: &str) -> Result<Vec<u8>> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| NetworkError::InvalidArgument(format!("bad MAC address {mac}")))?;
    if bytes.len() != 6 {
        return Err(NetworkError::InvalidArgument(format!(
            "bad MAC address {mac}"
        )));
    }
    Ok(bytes)
}

impl Nl {
    /// A socket in the calling thread's netns (`place` names it in errors).
    pub fn open_here(place: String) -> std::io::Result<Nl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Nl {
            sock,
            seq: 0,
            place,
        })
    }

    /// A socket in the daemon's (host) netns.
    pub fn host() -> Result<Nl> {
        Nl::open_here("host".into()).map_err(|e| nl_err("socket", "host", e))
    }

    /// A socket in the netns bind-mounted at `netns` (see the module doc).
    pub fn in_netns(netns: &Path) -> Result<Nl> {
        let place = netns.display().to_string();
        let file =
            std::fs::File::open(netns).map_err(|e| NetworkError::io("open netns", netns, e))?;
        let p = place.clone();
        std::thread::spawn(move || -> std::io::Result<Nl> {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
            Nl::open_here(p)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
        .map_err(|e| NetworkError::io("enter netns", netns, e))
    }

    /// Send one request; return the messages of the answer (a dump's parts, or nothing
    /// for an acked request). An error answer becomes an `io::Error` with its errno.
    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> std::io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        hdr.sequence_number = seq;
        let mut req = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        loop {
            match self.sock.send(&buf, 0) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.map(|_| ())?,
            }
        }
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        let mut rx: Vec<u8> = Vec::with_capacity(64 * 1024);
        loop {
            rx.clear();
            let n = match self.sock.recv(&mut rx, 0) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n == 0 {
                return Err(std::io::Error::other("netlink socket closed"));
            }
            let mut off = 0;
            while off < rx.len() {
                let m = <NetlinkMessage<RouteNetlinkMessage>>::deserialize(&rx[off..])
                    .map_err(|e| std::io::Error::other(format!("bad netlink answer: {e}")))?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Err(std::io::Error::other("bad netlink answer length"));
                }
                off += (len + 3) & !3;
                if m.header.sequence_number != seq {
                    continue; // a stale answer of an earlier request
                }
                match m.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            Some(_) => Err(e.to_io()),
                            None => Ok(out),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(inner) => {
                        out.push(inner);
                        if !dump {
                            // a non-dump answer without ack request: one message
                            if flags & NLM_F_ACK == 0 {
                                return Ok(out);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn ack(&mut self, what: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        let place = self.place.clone();
        self.exchange(msg, NLM_F_ACK | flags)
            .map(|_| ())
            .map_err(|e| nl_err(what, &place, e))
    }

    /// Index of the link `name`; `None` when there is none.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.exchange(RouteNetlinkMessage::GetLink(m), 0) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl_err(&format!("get link {name}"), &self.place, e)),
        }
    }

    /// Names of all links.
    pub fn link_names(&mut self) -> Result<Vec<String>> {
        let place = self.place.clone();
        let msgs = self
            .exchange(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| nl_err("list links", &place, e))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }

    /// Set the link `name` up (by name: the kernel looks it up).
    pub fn link_up(&mut self, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.ack(
            &format!("set link {name} up"),
            RouteNetlinkMessage::SetLink(m),
            0,
        )
    }

    /// Delete the link `name`.
    pub fn link_del(&mut self, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.ack(
            &format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(m),
            0,
        )
    }

    /// A veth pair: `host_if` (mtu, enslaved to the link with index `master`) here, its
    /// peer `peer` (MAC, mtu) created directly in the netns open as `peer_netns`.
    pub fn add_veth(
        &mut self,
        host_if: &str,
        master: u32,
        peer: &str,
        mac: &str,
        mtu: u32,
        peer_netns: &std::fs::File,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes = vec![
            LinkAttribute::IfName(peer.to_string()),
            LinkAttribute::Address(mac_bytes(mac)?),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::NetNsFd(peer_netns.as_raw_fd()),
        ];
        let mut m = LinkMessage::default();
        m.attributes = vec![
            LinkAttribute::IfName(host_if.to_string()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::Controller(master),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
            ]),
        ];
        self.ack(
            &format!("add veth {host_if}/{peer}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Add `ip/prefix` to the link with index `index` (as `ip addr add` does: local and
    /// address both `ip`, no broadcast).
    pub fn addr_add(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(ip)),
            AddressAttribute::Address(IpAddr::V4(ip)),
        ];
        self.ack(
            &format!("add address {ip}/{prefix}"),
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// IPv4 addresses of the link with index `index`.
    pub fn addrs_of(&mut self, index: u32) -> Result<Vec<Ipv4Addr>> {
        let mut q = AddressMessage::default();
        q.header.family = AddressFamily::Inet;
        let place = self.place.clone();
        let msgs = self
            .exchange(RouteNetlinkMessage::GetAddress(q), NLM_F_DUMP)
            .map_err(|e| nl_err("list addresses", &place, e))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .flat_map(|a| a.attributes)
            .filter_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some(ip),
                _ => None,
            })
            .collect())
    }

    /// Whether the main table has an IPv4 default route.
    pub fn has_default_route(&mut self) -> Result<bool> {
        let mut q = RouteMessage::default();
        q.header.address_family = AddressFamily::Inet;
        let place = self.place.clone();
        let msgs = self
            .exchange(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)
            .map_err(|e| nl_err("list routes", &place, e))?;
        Ok(msgs.into_iter().any(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => {
                let table = r
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(r.header.table as u32);
                r.header.address_family == AddressFamily::Inet
                    && r.header.destination_prefix_length == 0
                    && table == RouteHeader::RT_TABLE_MAIN as u32
            }
            _ => false,
        }))
    }

    /// `ip route add default via gw dev <index>`.
    pub fn add_default_route(&mut self, gw: Ipv4Addr, index: u32) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = 0;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet(gw)),
            RouteAttribute::Oif(index),
        ];
        self.ack(
            &format!("add default route via {gw}"),
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}
