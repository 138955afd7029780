//! nftables: one `ip` table per daemon holds every rule berth makes, so deleting the table
//! removes them all. Per-network and per-port state lives in sets and maps whose elements
//! are added and deleted by value (no rule handles to track):
//!
//! - `masq_nets` (subnets to masquerade when leaving through a non-berth interface),
//! - `bridges` (all berth bridges, for isolation between networks),
//! - `fwd_from` / `fwd_to` (bridge name → jump to that network's forward chains),
//! - `anyports` / `ipports` (published ports → container address and port, DNAT'ed in
//!   PREROUTING and OUTPUT for local destinations, so 127.0.0.1 and the host's own addresses
//!   both work; `route_localnet` is set on the bridge and loopback sources are masqueraded).

use std::net::Ipv4Addr;

use std::sync::atomic::{AtomicBool, Ordering};

use ipnet::Ipv4Net;

use crate::cmd;
use crate::error::Result;

/// A published port as stored in the DNAT maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnatEntry {
    pub proto: u8,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub dest_ip: Ipv4Addr,
    pub dest_port: u16,
}

/// The daemon's nft table.
#[derive(Debug)]
pub(crate) struct Nft {
    pub table: String,
    /// set once this daemon made (or found) the table, so adding ports need not list it
    /// first; cleared when the table is deleted or an add fails
    known: AtomicBool,
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

impl Nft {
    /// The table `table` (nothing is made yet).
    pub fn new(table: String) -> Nft {
        Nft {
            table,
            known: AtomicBool::new(false),
        }
    }

    fn apply(&self, script: &str) -> Result<()> {
        cmd::run_input("nft", &["-f", "-"], Some(script)).map(|_| ())
    }

    /// Whether the table exists.
    pub fn exists(&self) -> bool {
        cmd::run("nft", &["list", "table", "ip", &self.table]).is_ok()
    }

    /// Create the table with its base chains, sets and maps if missing.
    pub fn ensure_table(&self) -> Result<()> {
        if self.exists() {
            self.known.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let t = &self.table;
        let script = format!(
            r#"table ip {t} {{
  set bridges {{ type ifname; }}
  set masq_nets {{ type ipv4_addr; flags interval; }}
  map fwd_from {{ type ifname : verdict; }}
  map fwd_to {{ type ifname : verdict; }}
  map anyports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map ipports {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain ports {{
    dnat to ip daddr . meta l4proto . th dport map @ipports
    dnat to meta l4proto . th dport map @anyports
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local jump ports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat ip saddr 127.0.0.0/8 masquerade
    ct status dnat ip saddr @masq_nets oifname @bridges masquerade
    ip saddr @masq_nets oifname != @bridges masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    iifname vmap @fwd_from
    oifname vmap @fwd_to
  }}
}}
"#
        );
        self.apply(&script)?;
        self.known.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn chain_names(bridge: &str) -> (String, String) {
        (format!("from-{bridge}"), format!("to-{bridge}"))
    }

    /// Install the rules of one bridge network (idempotent: re-adds after removing).
    pub fn add_network(
        &self,
        bridge: &str,
        subnet: Ipv4Net,
        internal: bool,
        masquerade: bool,
    ) -> Result<()> {
        self.ensure_table()?;
        self.remove_network(bridge, subnet);
        let t = &self.table;
        let (from, to) = Self::chain_names(bridge);
        let b = q(bridge);
        let mut s = String::new();
        s += &format!("add element ip {t} bridges {{ {b} }}\n");
        s += &format!("add chain ip {t} {from}\n");
        s += &format!("add rule ip {t} {from} oifname {b} accept\n");
        s += &format!("add rule ip {t} {from} ct status dnat accept\n");
        s += &format!("add rule ip {t} {from} oifname @bridges drop\n");
        if internal {
            s += &format!("add rule ip {t} {from} drop\n");
        }
        s += &format!("add chain ip {t} {to}\n");
        s += &format!("add rule ip {t} {to} iifname {b} accept\n");
        if !internal {
            s += &format!("add rule ip {t} {to} ct status dnat accept\n");
        }
        s += &format!("add rule ip {t} {to} drop\n");
        s += &format!("add element ip {t} fwd_from {{ {b} : jump {from} }}\n");
        s += &format!("add element ip {t} fwd_to {{ {b} : jump {to} }}\n");
        if masquerade && !internal {
            s += &format!("add element ip {t} masq_nets {{ {subnet} }}\n");
        }
        self.apply(&s)
    }

    /// Remove the rules of one bridge network; missing pieces are ignored.
    pub fn remove_network(&self, bridge: &str, subnet: Ipv4Net) {
        if !self.exists() {
            return;
        }
        let t = &self.table;
        let (from, to) = Self::chain_names(bridge);
        let b = q(bridge);
        for stmt in [
            format!("delete element ip {t} fwd_from {{ {b} }}"),
            format!("delete element ip {t} fwd_to {{ {b} }}"),
            format!("delete element ip {t} bridges {{ {b} }}"),
            format!("delete element ip {t} masq_nets {{ {subnet} }}"),
            format!("delete chain ip {t} {from}"),
            format!("delete chain ip {t} {to}"),
        ] {
            let _ = self.apply(&stmt);
        }
    }

    fn dnat_element(e: &DnatEntry) -> (String, String) {
        let value = format!("{} . {}", e.dest_ip, e.dest_port);
        if e.host_ip.is_unspecified() {
            (
                "anyports".into(),
                format!("{} . {} : {value}", e.proto, e.host_port),
            )
        } else {
            (
                "ipports".into(),
                format!("{} . {} . {} : {value}", e.host_ip, e.proto, e.host_port),
            )
        }
    }

    /// Add published-port DNAT entries (all or nothing), in one `nft` run when the table
    /// is known to exist.
    pub fn add_ports(&self, entries: &[DnatEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let t = &self.table;
        let mut s = String::new();
        for e in entries {
            let (map, el) = Self::dnat_element(e);
            s += &format!("add element ip {t} {map} {{ {el} }}\n");
        }
        if self.known.load(Ordering::SeqCst) {
            if self.apply(&s).is_ok() {
                return Ok(());
            }
            // the table may have gone meanwhile: check, make it again, retry once
            self.known.store(false, Ordering::SeqCst);
        }
        self.ensure_table()?;
        self.apply(&s)
    }

    /// Remove published-port DNAT entries; missing ones are ignored. One `nft` run for
    /// all of them; only when that fails (a missing element fails the whole batch) are they
    /// removed one by one.
    pub fn remove_ports(&self, entries: &[DnatEntry]) {
        if entries.is_empty() {
            return;
        }
        let t = &self.table;
        let stmts: Vec<String> = entries
            .iter()
            .map(|e| {
                let (map, el) = Self::dnat_element(e);
                let key = el.split(" : ").next().unwrap_or_default().to_string();
                format!("delete element ip {t} {map} {{ {key} }}\n")
            })
            .collect();
        if self.apply(&stmts.concat()).is_ok() || stmts.len() == 1 || !self.exists() {
            return;
        }
        for s in &stmts {
            let _ = self.apply(s);
        }
    }

    /// Empty both published-port maps (daemon start: they are rebuilt from the endpoint
    /// store, so an element added just before a crash, with no endpoint record, goes).
    pub fn flush_ports(&self) {
        if self.exists() {
            let t = &self.table;
            for map in ["ipports", "anyports"] {
                let _ = self.apply(&format!("flush map ip {t} {map}\n"));
            }
        }
    }

    /// Delete the whole table (every rule of this daemon).
    pub fn delete_table(&self) {
        self.known.store(false, Ordering::SeqCst);
        if self.exists() {
            let _ = self.apply(&format!("delete table ip {}\n", self.table));
        }
    }
}
