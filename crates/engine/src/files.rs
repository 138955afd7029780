//! Generated per-container files: /etc/hostname, /etc/hosts, /etc/resolv.conf.

use crate::types::HostConfig;
use std::path::Path;

/// Contents of /etc/hosts for a container without networking; `extra` = its `--add-host`
/// entries (name, address) with `host-gateway` already resolved.
pub fn hosts(extra: &[(String, String)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}

fn is_loopback(ns: &str) -> bool {
    ns.starts_with("127.") || ns == "::1" || ns == "0:0:0:0:0:0:0:1"
}

/// Contents of /etc/resolv.conf: the host's (`host_resolv`) without loopback nameservers,
/// with `--dns`, `--dns-search`, `--dns-option` overrides; Google DNS when nothing is left.
pub fn resolv_conf(host_resolv: &str, h: &HostConfig) -> String {
    let mut nameservers = Vec::new();
    let mut search = None;
    let mut options = None;
    for line in host_resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ns) = words.next() {
                    if !is_loopback(ns) {
                        nameservers.push(ns.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => search = Some(words.collect::<Vec<_>>().join(" ")),
            Some("options") => options = Some(words.collect::<Vec<_>>().join(" ")),
            _ => {}
        }
    }
    if let Some(d) = h.dns.as_ref().filter(|d| !d.is_empty()) {
        nameservers = d.clone();
    }
    if nameservers.is_empty() {
        nameservers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    if let Some(s) = h.dns_search.as_ref().filter(|d| !d.is_empty()) {
        search = Some(s.join(" "));
    }
    if let Some(o) = h.dns_options.as_ref().filter(|d| !d.is_empty()) {
        options = Some(o.join(" "));
    }
    let mut out = String::new();
    if let Some(s) = search.filter(|s| !s.is_empty()) {
        out.push_str(&format!("search {s}\n"));
    }
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if let Some(o) = options.filter(|s| !s.is_empty()) {
        out.push_str(&format!("options {o}\n"));
    }
    out
}

/// Write the three files into `dir` (`hostname`, `hosts`, `resolv.conf`).
pub fn write_all(
    dir: &Path,
    hostname: &str,
    h: &HostConfig,
    extra: &[(String, String)],
) -> std::io::Result<()> {
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let hosts_text = if h.network_mode == "host" {
        // `--network host` sees the host's names.
        let mut t = std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| hosts(&[]));
        for (name, ip) in extra {
            t.push_str(&format!("{ip}\t{name}\n"));
        }
        t
    } else {
        hosts(extra)
    };
    std::fs::write(dir.join("hosts"), hosts_text)?;
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let no_overrides = h.dns.as_ref().is_none_or(|d| d.is_empty())
        && h.dns_search.as_ref().is_none_or(|d| d.is_empty())
        && h.dns_options.as_ref().is_none_or(|d| d.is_empty());
    if h.network_mode == "host" && no_overrides && !host.is_empty() {
        // The host's loopback resolvers are reachable in the host's network namespace.
        return std::fs::write(dir.join("resolv.conf"), host);
    }
    std::fs::write(dir.join("resolv.conf"), resolv_conf(&host, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_loopback() {
        let r = resolv_conf(
            "nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch x\n",
            &HostConfig::default(),
        );
        assert_eq!(r, "search x\nnameserver 1.1.1.1\n");
        let r = resolv_conf("nameserver 127.0.0.1\n", &HostConfig::default());
        assert!(r.contains("8.8.8.8"));
    }
}
