//! IPv4 address management over a network's subnet: gateway reserved, network and
//! broadcast addresses never handed out, fixed addresses checked, lowest free address
//! otherwise. Allocation state = the endpoints' addresses (see `store`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{NetworkError, Result};

/// Parse a CIDR (`10.1.0.0/24`); host bits must be zero, as docker requires.
pub fn parse_subnet(s: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| NetworkError::InvalidArgument(format!("invalid CIDR address: {s}")))?;
    if net.trunc() != net {
        return Err(NetworkError::InvalidArgument(format!(
            "invalid subnet {s}: it should be {}",
            net.trunc()
        )));
    }
    if net.prefix_len() > 30 {
        return Err(NetworkError::InvalidArgument(format!(
            "subnet {s} is too small (at most /30)"
        )));
    }
    Ok(net)
}

/// Whether two subnets share any address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The default gateway of a subnet: its first host address.
pub fn default_gateway(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

/// Check that `ip` may be handed to a container of `net` with gateway `gw`.
pub fn check_fixed(
    net: Ipv4Net,
    gw: Option<Ipv4Addr>,
    ip: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<()> {
    if !net.contains(&ip) || ip == net.network() || ip == net.broadcast() {
        return Err(NetworkError::InvalidArgument(format!(
            "invalid address {ip}: it does not belong to any of this network's subnets ({net})"
        )));
    }
    if Some(ip) == gw || used.contains(&ip) {
        return Err(NetworkError::Conflict(format!(
            "Address already in use: {ip}"
        )));
    }
    Ok(())
}

/// Lowest free address of `pool` (within `net`), skipping `gw` and `used`.
pub fn allocate(
    net: Ipv4Net,
    pool: Option<Ipv4Net>,
    gw: Option<Ipv4Addr>,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let range = pool.unwrap_or(net);
    let first = u32::from(range.network()).max(u32::from(net.network()) + 1);
    let last = u32::from(range.broadcast()).min(u32::from(net.broadcast()) - 1);
    for n in first..=last {
        let ip = Ipv4Addr::from(n);
        if Some(ip) != gw && !used.contains(&ip) {
            return Ok(ip);
        }
    }
    Err(NetworkError::PoolExhausted(net.to_string()))
}

/// Docker-style MAC derived from the address: 02:42:a:b:c:d.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_and_exhausts() {
        let net = parse_subnet("10.231.9.0/30").unwrap();
        let gw = Some(default_gateway(net));
        let mut used = BTreeSet::new();
        let a = allocate(net, None, gw, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 231, 9, 2));
        used.insert(a);
        assert!(matches!(
            allocate(net, None, gw, &used),
            Err(NetworkError::PoolExhausted(_))
        ));
        assert!(parse_subnet("10.231.9.1/24").is_err());
        assert!(parse_subnet("nope").is_err());
        assert!(overlaps(
            parse_subnet("10.0.0.0/8").unwrap(),
            parse_subnet("10.231.0.0/16").unwrap()
        ));
        assert!(check_fixed(net, gw, Ipv4Addr::new(10, 231, 9, 1), &used).is_err());
    }
}
