//! Links: bridges, veth pairs, macvlan/ipvlan interfaces, addresses and routes. Per-container
//! work (veths, addresses, routes, deletion) goes over in-process netlink (`netlink`); bridge
//! creation, macvlan/ipvlan creation and host route queries (rare) still use `ip`.

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;

use crate::cmd::{self, ip};
use crate::error::{NetworkError, Result};
use crate::netlink::Nl;

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

/// Delete the bridge of a network; a link of that name that is not a bridge (a host
/// interface, a veth) is never deleted.
pub(crate) fn delete_bridge(name: &str) -> Result<()> {
    if !Path::new("/sys/class/net")
        .join(name)
        .join("bridge")
        .is_dir()
    {
        return Ok(());
    }
    delete_link(name)
}

/// Delete a host link; a missing link is fine.
pub(crate) fn delete_link(name: &str) -> Result<()> {
    if !cmd::link_exists(name) {
        return Ok(());
    }
    match Nl::host()?.link_del(name) {
        // gone meanwhile (e.g. with its veth peer's netns)
        Err(_) if !cmd::link_exists(name) => Ok(()),
        r => r,
    }
}

/// First free `ethN` name inside the netns.
pub(crate) fn free_if_name(netns: &Path) -> Result<String> {
    let names = Nl::in_netns(netns)?.link_names()?;
    Ok((0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !names.contains(n))
        .unwrap_or_else(|| "eth0".into()))
}

/// Whether `if_name` exists inside the netns and carries `addr` (an interface name alone
/// is not enough: after a restart another endpoint may have been given the same name).
pub(crate) fn live_in(netns: &Path, if_name: &str, addr: Option<Ipv4Addr>) -> bool {
    let check = || -> Result<bool> {
        let mut nl = Nl::in_netns(netns)?;
        let Some(idx) = nl.link_index(if_name)? else {
            return Ok(false);
        };
        Ok(match addr {
            Some(a) => nl.addrs_of(idx)?.contains(&a),
            None => true,
        })
    };
    check().unwrap_or(false)
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

/// Address, link up, default route inside the netns (over a netlink socket of that netns).
fn configure_inside(c: &IfaceConfig) -> Result<()> {
    let mut nl = Nl::in_netns(c.netns)?;
    let idx = nl
        .link_index(c.if_name)?
        .ok_or_else(|| NetworkError::Command {
            cmd: format!("netlink get link {} ({})", c.if_name, c.netns.display()),
            stderr: "no such device".into(),
        })?;
    nl.addr_add(idx, c.ip, c.subnet.prefix_len())?;
    nl.link_up(c.if_name)?;
    if let Some(gw) = c.gateway {
        if !nl.has_default_route()? {
            nl.add_default_route(gw, idx)?;
        }
    }
    Ok(())
}

/// A veth pair: `host_if` on `bridge`, its peer inside the netns as `c.if_name`.
pub(crate) fn add_veth(bridge: &str, host_if: &str, c: &IfaceConfig) -> Result<()> {
    let ns =
        std::fs::File::open(c.netns).map_err(|e| NetworkError::io("open netns", c.netns, e))?;
    let mut nl = Nl::host()?;
    let master = nl
        .link_index(bridge)?
        .ok_or_else(|| NetworkError::Command {
            cmd: format!("netlink get link {bridge} (host)"),
            stderr: "no such device".into(),
        })?;
    nl.add_veth(host_if, master, c.if_name, c.mac, c.mtu, &ns)?;
    let res = nl.link_up(host_if).and_then(|()| configure_inside(c));
    if res.is_err() {
        let _ = nl.link_del(host_if);
    }
    res
}

/// A macvlan (bridge mode) or ipvlan (l2) interface on `parent`, created inside the netns
/// (with `ip`: once per container on these rarer drivers; the rest goes over netlink).
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
        let _ = Nl::in_netns(c.netns).and_then(|mut nl| nl.link_del(c.if_name));
    }
    res
}

/// Remove the container's interface (the veth peer goes with it).
pub(crate) fn remove_iface(netns: &Path, if_name: &str, host_if: Option<&str>) {
    if !if_name.is_empty() && netns.exists() {
        let _ = Nl::in_netns(netns).and_then(|mut nl| nl.link_del(if_name));
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
