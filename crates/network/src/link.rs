//! Links: bridges, veth pairs, macvlan/ipvlan interfaces, addresses and routes (via `ip`,
//! see `cmd` for why).

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;

use crate::cmd::{self, ip, ip_in};
use crate::error::Result;

/// Create (or complete) a bridge `name` with address `gw/prefix`, up, with
/// `route_localnet` so 127.0.0.1 DNAT to containers works.
pub(crate) fn ensure_bridge(name: &str, gw: Ipv4Addr, subnet: Ipv4Net, mtu: u32) -> Result<()> {
    if !cmd::link_exists(name) {
        ip(&["link", "add", "name", name, "type", "bridge"])?;
    }
    let mtu_s = mtu.to_string();
    let addr = format!("{gw}/{}", subnet.prefix_len());
    let res = (|| {
        ip(&["link", "set", name, "mtu", &mtu_s])?;
        let have = ip(&["-4", "-o", "addr", "show", "dev", name])?;
        if !have.contains(&format!(" {addr} ")) {
            ip(&["addr", "add", &addr, "dev", name])?;
        }
        ip(&["link", "set", name, "up"])?;
        cmd::sysctl(&format!("net.ipv4.conf.{name}.route_localnet"), "1")
    })();
    if res.is_err() {
        let _ = delete_link(name);
    }
    res
}

/// Delete a host link; a missing link is fine.
pub(crate) fn delete_link(name: &str) -> Result<()> {
    if !cmd::link_exists(name) {
        return Ok(());
    }
    ip(&["link", "del", name]).map(|_| ())
}

/// First free `ethN` name inside the netns.
pub(crate) fn free_if_name(netns: &Path) -> Result<String> {
    let out = ip_in(netns, &["-o", "link", "show"])?;
    let names: Vec<String> = out
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect();
    Ok((0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !names.contains(n))
        .unwrap_or_else(|| "eth0".into()))
}

/// Whether `if_name` exists inside the netns and carries `addr` (an interface name alone
/// is not enough: after a restart another endpoint may have been given the same name).
pub(crate) fn live_in(netns: &Path, if_name: &str, addr: Option<Ipv4Addr>) -> bool {
    match ip_in(netns, &["-4", "-o", "addr", "show", "dev", if_name]) {
        Ok(out) => match addr {
            Some(a) => out.contains(&format!(" {a}/")),
            None => true,
        },
        Err(_) => false,
    }
}

/// What the container side gets.
pub(crate) struct IfaceConfig<'a> {
    pub netns: &'a Path,
    pub if_name: &'a str,
    pub ip: Ipv4Addr,
    pub subnet: Ipv4Net,
    pub mac: &'a str,
    pub mtu: u32,
    /// default route via this gateway (when the netns has none yet)
    pub gateway: Option<Ipv4Addr>,
}

/// Address, link up, default route inside the netns.
fn configure_inside(c: &IfaceConfig) -> Result<()> {
    let addr = format!("{}/{}", c.ip, c.subnet.prefix_len());
    ip_in(c.netns, &["addr", "add", &addr, "dev", c.if_name])?;
    ip_in(c.netns, &["link", "set", c.if_name, "up"])?;
    if let Some(gw) = c.gateway {
        let routes = ip_in(c.netns, &["-4", "route", "show", "default"])?;
        if routes.trim().is_empty() {
            ip_in(
                c.netns,
                &[
                    "route",
                    "add",
                    "default",
                    "via",
                    &gw.to_string(),
                    "dev",
                    c.if_name,
                ],
            )?;
        }
    }
    Ok(())
}

/// A veth pair: `host_if` on `bridge`, its peer inside the netns as `c.if_name`.
pub(crate) fn add_veth(bridge: &str, host_if: &str, c: &IfaceConfig) -> Result<()> {
    let mtu = c.mtu.to_string();
    let ns = c.netns.to_string_lossy();
    ip(&[
        "link", "add", host_if, "mtu", &mtu, "type", "veth", "peer", "name", c.if_name, "address",
        c.mac, "mtu", &mtu, "netns", &ns,
    ])?;
    let res = (|| {
        ip(&["link", "set", host_if, "master", bridge])?;
        ip(&["link", "set", host_if, "up"])?;
        configure_inside(c)
    })();
    if res.is_err() {
        let _ = delete_link(host_if);
    }
    res
}

/// A macvlan (bridge mode) or ipvlan (l2) interface on `parent`, created inside the netns.
pub(crate) fn add_vlan_child(kind: &str, parent: &str, c: &IfaceConfig) -> Result<()> {
    let mtu = c.mtu.to_string();
    let ns = c.netns.to_string_lossy();
    let mut args = vec![
        "link", "add", "link", parent, "name", c.if_name, "mtu", &mtu, "netns", &ns,
    ];
    if kind == "macvlan" {
        args.extend_from_slice(&["address", c.mac, "type", "macvlan", "mode", "bridge"]);
    } else {
        args.extend_from_slice(&["type", "ipvlan", "mode", "l2"]);
    }
    ip(&args)?;
    let res = configure_inside(c);
    if res.is_err() {
        let _ = ip_in(c.netns, &["link", "del", c.if_name]);
    }
    res
}

/// Remove the container's interface (the veth peer goes with it).
pub(crate) fn remove_iface(netns: &Path, if_name: &str, host_if: Option<&str>) {
    if !if_name.is_empty() && netns.exists() {
        let _ = ip_in(netns, &["link", "del", if_name]);
    }
    if let Some(h) = host_if {
        let _ = delete_link(h);
    }
}

/// With br_netfilter loaded, bridged and routed container traffic also passes the iptables
/// `filter FORWARD` chain, whose policy dockerd sets to DROP. When that chain exists (and only
/// then: we never create iptables tables), accept traffic from/to `bridge` there, as dockerd
/// does for its own bridges; our own nft table still filters (isolation, internal). `add =
/// false` removes the two rules again.
pub(crate) fn iptables_forward_accept(bridge: &str, add: bool) {
    if cmd::run("nft", &["list", "chain", "ip", "filter", "FORWARD"]).is_err() {
        return;
    }
    for dir in ["-i", "-o"] {
        let rule = [
            dir,
            bridge,
            "-j",
            "ACCEPT",
            "-m",
            "comment",
            "--comment",
            "berth",
        ];
        let present = {
            let mut a = vec!["-C", "FORWARD"];
            a.extend_from_slice(&rule);
            cmd::run("iptables", &a).is_ok()
        };
        let op = match (add, present) {
            (true, false) => "-I",
            (false, true) => "-D",
            _ => continue,
        };
        let mut a = vec![op, "FORWARD"];
        a.extend_from_slice(&rule);
        let _ = cmd::run("iptables", &a);
    }
}

/// Routes of the host's main table other than the default route, as (destination, device).
pub(crate) fn host_routes() -> Vec<(Ipv4Net, String)> {
    let Ok(out) = ip(&["-o", "-4", "route", "show", "table", "main"]) else {
        return vec![];
    };
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let dst = w.next()?;
            let net: Ipv4Net = if dst.contains('/') {
                dst.parse().ok()?
            } else {
                format!("{dst}/32").parse().ok()?
            };
            let words: Vec<&str> = l.split_whitespace().collect();
            let dev = words
                .iter()
                .position(|x| *x == "dev")
                .and_then(|i| words.get(i + 1))
                .map(|d| d.to_string())
                .unwrap_or_default();
            Some((net, dev))
        })
        .collect()
}
