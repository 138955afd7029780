//! Real networking tests (root): netns stand-in containers on test-made bridges, veths and
//! nft tables with unique names; traffic only between the host's loopback/bridges and the
//! test's own namespaces. Each test ends with `Fixture::finish`, which asserts that no link,
//! netns or nft table of the test is left.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use common::*;
use network::{parse_publish, CreateRequest, NetworkError};

fn user_net(fx: &Fixture, name: &str, subnet: &str, internal: bool) -> network::NetworkRecord {
    fx.mgr()
        .create(CreateRequest {
            name: format!("{}-{name}", fx.tag),
            subnet: Some(subnet.into()),
            internal,
            ..Default::default()
        })
        .expect("create network")
}

#[test]
fn bridge_endpoints_talk_and_rm_rules() {
    let mut fx = Fixture::new("10.231.10.0/24");
    let net = user_net(&fx, "n1", "10.231.11.0/24", false);
    let a = fx.container("a");
    let b = fx.container("b");
    let ea = fx
        .mgr()
        .attach(&net.name, fx.req("a", &a))
        .expect("attach a");
    let eb = fx
        .mgr()
        .attach(&net.name, fx.req("b", &b))
        .expect("attach b");
    assert_eq!(ea.ip, Some(Ipv4Addr::new(10, 231, 11, 2)));
    assert_eq!(eb.ip, Some(Ipv4Addr::new(10, 231, 11, 3)));
    assert_eq!(ea.if_name, "eth0");
    assert_eq!(ea.mac, "02:42:0a:e7:0b:02");
    assert!(ip_in(&a, &["route", "show", "default"]).contains("via 10.231.11.1"));
    assert!(ip_in(&a, &["link", "show", "eth0"]).contains("mtu 1500"));
    let addr = SocketAddr::from((eb.ip.unwrap(), 7000));
    let srv = tcp_echo(Some(&b), addr, 1);
    let got = tcp_talk(Some(&a), addr, "hello").expect("a reaches b");
    assert_eq!(got, "hello from 10.231.11.2");
    srv.join().unwrap();
    // docker shape
    let j = fx.mgr().inspect_json(&net.name).unwrap();
    assert_eq!(j["Driver"], "bridge");
    assert_eq!(j["IPAM"]["Config"][0]["Subnet"], "10.231.11.0/24");
    assert_eq!(j["IPAM"]["Config"][0]["Gateway"], "10.231.11.1");
    assert_eq!(j["Containers"].as_object().unwrap().len(), 2);
    // rm refused while endpoints exist; predefined refused
    assert!(matches!(
        fx.mgr().remove(&net.name),
        Err(NetworkError::Forbidden(_))
    ));
    assert!(matches!(
        fx.mgr().remove("bridge"),
        Err(NetworkError::Forbidden(_))
    ));
    fx.mgr()
        .detach(&net.name, &fx.req("a", &a).container_id)
        .unwrap();
    assert!(!ip_in(&a, &["link"]).contains("eth0"));
    fx.mgr()
        .detach(&net.name, &fx.req("b", &b).container_id)
        .unwrap();
    let bridge = net.interface.clone().unwrap();
    assert!(std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    fx.mgr().remove(&net.name).unwrap();
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    assert!(matches!(
        fx.mgr().get(&net.name),
        Err(NetworkError::NotFound(_))
    ));
    // list has the predefined ones
    let names: Vec<String> = fx
        .mgr()
        .list()
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert!(
        names.contains(&"bridge".to_string())
            && names.contains(&"host".to_string())
            && names.contains(&"none".to_string())
    );
    fx.finish();
}

#[test]
fn published_tcp_port_on_loopback_bridge_ip_and_hairpin() {
    let mut fx = Fixture::new("10.231.20.0/24");
    let a = fx.container("a");
    let c = fx.container("c");
    let hp = port();
    let mut req = fx.req("a", &a);
    req.ports = parse_publish(&format!("{hp}:80")).unwrap();
    let ea = fx.mgr().attach("bridge", req).expect("attach with port");
    assert_eq!(ea.ports[0].host_port, hp);
    let _ec = fx
        .mgr()
        .attach("bridge", fx.req("c", &c))
        .expect("attach c");
    let srv = tcp_echo(Some(&a), SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80)), 3);
    let got = tcp_talk(None, SocketAddr::from((Ipv4Addr::LOCALHOST, hp)), "lo")
        .expect("127.0.0.1 reaches published port");
    assert!(got.starts_with("lo from "), "{got}");
    let gw = Ipv4Addr::new(10, 231, 20, 1);
    let got =
        tcp_talk(None, SocketAddr::from((gw, hp)), "br").expect("bridge ip reaches published port");
    assert!(got.starts_with("br from "), "{got}");
    let got = tcp_talk(Some(&c), SocketAddr::from((gw, hp)), "hairpin")
        .expect("another container reaches the published port");
    assert!(got.starts_with("hairpin from "), "{got}");
    srv.join().unwrap();
    // the same host port again: clear error, nothing left behind
    let b = fx.container("b");
    let mut req = fx.req("b", &b);
    req.ports = parse_publish(&format!("{hp}:80")).unwrap();
    let err = fx.mgr().attach("bridge", req).unwrap_err();
    assert!(
        err.to_string().contains("port is already allocated"),
        "{err}"
    );
    assert!(!ip_in(&b, &["link"]).contains("eth0"));
    assert_eq!(fx.mgr().endpoints("bridge").unwrap().len(), 2);
    // a host address that is not ours: clear error
    let mut req = fx.req("b", &b);
    req.ports = parse_publish(&format!("10.231.199.9:{hp}:80")).unwrap();
    let err = fx.mgr().attach("bridge", req).unwrap_err();
    assert!(err.to_string().contains("cannot publish"), "{err}");
    // -P style random port
    let mut req = fx.req("b", &b);
    req.ports = parse_publish("81").unwrap();
    let eb = fx.mgr().attach("bridge", req).unwrap();
    assert!(eb.ports[0].host_port >= 49153);
    // after detach the port is gone
    fx.mgr()
        .detach("bridge", &fx.req("a", &a).container_id)
        .unwrap();
    assert!(tcp_talk(None, SocketAddr::from((Ipv4Addr::LOCALHOST, hp)), "x").is_none());
    fx.finish();
}

#[test]
fn published_udp_port() {
    let mut fx = Fixture::new("10.231.30.0/24");
    let a = fx.container("a");
    let hp = port();
    let mut req = fx.req("a", &a);
    req.ports = parse_publish(&format!("127.0.0.1:{hp}:5353/udp")).unwrap();
    fx.mgr().attach("bridge", req).expect("attach");
    let srv = udp_echo(&a, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5353)), 1);
    let got = udp_talk(SocketAddr::from((Ipv4Addr::LOCALHOST, hp)), "ping-udp");
    assert_eq!(got.as_deref(), Some("ping-udp"));
    srv.join().unwrap();
    fx.finish();
}

#[test]
fn user_networks_are_isolated() {
    let mut fx = Fixture::new("10.231.40.0/24");
    let n1 = user_net(&fx, "n1", "10.231.41.0/24", false);
    let n2 = user_net(&fx, "n2", "10.231.42.0/24", false);
    let a = fx.container("a");
    let b = fx.container("b");
    fx.mgr().attach(&n1.name, fx.req("a", &a)).unwrap();
    let eb = fx.mgr().attach(&n2.name, fx.req("b", &b)).unwrap();
    let addr = SocketAddr::from((eb.ip.unwrap(), 7000));
    let _srv = tcp_echo(Some(&b), addr, 1);
    assert!(
        tcp_talk(Some(&a), addr, "x").is_none(),
        "n1 must not reach n2"
    );
    // connect a to n2 too: now it reaches b over n2
    let ea2 = fx.mgr().attach(&n2.name, fx.req("a", &a)).unwrap();
    assert_eq!(ea2.if_name, "eth1");
    assert!(tcp_talk(Some(&a), addr, "y").is_some());
    fx.finish();
}

/// An "outside" host: a veth pair from the host into a test netns with 10.231.52.2.
fn outside(fx: &mut Fixture) -> std::path::PathBuf {
    let o = fx.container("out");
    let h = format!("{}o0", fx.tag);
    assert!(sh(&[
        "ip",
        "link",
        "add",
        &h,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        o.to_str().unwrap()
    ]));
    fx.extra_links.push(h.clone());
    assert!(sh(&["ip", "addr", "add", "10.231.52.1/24", "dev", &h]));
    assert!(sh(&["ip", "link", "set", &h, "up"]));
    ip_in(&o, &["addr", "add", "10.231.52.2/24", "dev", "eth0"]);
    ip_in(&o, &["link", "set", "eth0", "up"]);
    o
}

#[test]
fn outbound_nat_and_internal_network_has_none() {
    let mut fx = Fixture::new("10.231.50.0/24");
    let o = outside(&mut fx);
    let ext = SocketAddr::from((Ipv4Addr::new(10, 231, 52, 2), 7100));
    let srv = tcp_echo(Some(&o), ext, 1);
    let open = user_net(&fx, "open", "10.231.53.0/24", false);
    let internal = user_net(&fx, "int", "10.231.54.0/24", true);
    let a = fx.container("a");
    let i = fx.container("i");
    fx.mgr().attach(&open.name, fx.req("a", &a)).unwrap();
    let ei = fx.mgr().attach(&internal.name, fx.req("i", &i)).unwrap();
    assert_eq!(ei.gateway, None);
    assert!(ip_in(&i, &["route", "show", "default"]).trim().is_empty());
    // a subnet already routed on the host is refused, nothing made
    let clash = fx.mgr().create(CreateRequest {
        name: format!("{}-clash", fx.tag),
        subnet: Some("10.231.52.0/25".into()),
        ..Default::default()
    });
    assert!(clash
        .unwrap_err()
        .to_string()
        .contains("overlaps the host route"));
    assert!(fx.mgr().get(&format!("{}-clash", fx.tag)).is_err());
    // masqueraded: the outside sees the host's address, not the container's
    let got = tcp_talk(Some(&a), ext, "out").expect("outbound from a normal network");
    assert_eq!(got, "out from 10.231.52.1");
    srv.join().unwrap();
    let ext2 = SocketAddr::from((Ipv4Addr::new(10, 231, 52, 2), 7101));
    let _srv = tcp_echo(Some(&o), ext2, 2);
    assert!(
        tcp_talk(Some(&i), ext2, "out").is_none(),
        "internal network must have no outbound"
    );
    // even with a route added by hand, the forward rules drop it
    // (and the outside knows the way back, so only our drop rule can stop it)
    ip_in(&i, &["route", "add", "default", "via", "10.231.54.1"]);
    ip_in(
        &o,
        &["route", "add", "10.231.54.0/24", "via", "10.231.52.1"],
    );
    assert!(
        tcp_talk(Some(&i), ext2, "out").is_none(),
        "internal network must have no outbound"
    );
    // published ports are not set up on internal networks
    let j = fx.container("j");
    let mut req = fx.req("j", &j);
    req.ports = parse_publish(&format!("{}:80", port())).unwrap();
    let ej = fx.mgr().attach(&internal.name, req).unwrap();
    assert!(ej.ports.is_empty());
    fx.finish();
}

#[test]
fn ipam_exhaustion_fixed_ip_and_bad_input() {
    let mut fx = Fixture::new("10.231.60.0/24");
    let small = user_net(&fx, "small", "10.231.61.0/30", false);
    let a = fx.container("a");
    let b = fx.container("b");
    let ea = fx.mgr().attach(&small.name, fx.req("a", &a)).unwrap();
    assert_eq!(ea.ip, Some(Ipv4Addr::new(10, 231, 61, 2)));
    let err = fx.mgr().attach(&small.name, fx.req("b", &b)).unwrap_err();
    assert!(matches!(err, NetworkError::PoolExhausted(_)), "{err}");
    assert!(
        !ip_in(&b, &["link"]).contains("eth0"),
        "no half-made interface"
    );
    assert_eq!(fx.mgr().endpoints(&small.name).unwrap().len(), 1);
    // released on detach
    fx.mgr()
        .detach(&small.name, &fx.req("a", &a).container_id)
        .unwrap();
    assert_eq!(
        fx.mgr().attach(&small.name, fx.req("b", &b)).unwrap().ip,
        Some(Ipv4Addr::new(10, 231, 61, 2))
    );
    // fixed --ip
    let big = user_net(&fx, "big", "10.231.62.0/24", false);
    let mut req = fx.req("a", &a);
    req.ip = Some(Ipv4Addr::new(10, 231, 62, 77));
    assert_eq!(
        fx.mgr().attach(&big.name, req).unwrap().ip,
        Some(Ipv4Addr::new(10, 231, 62, 77))
    );
    let c = fx.container("c");
    let mut req = fx.req("c", &c);
    req.ip = Some(Ipv4Addr::new(10, 231, 62, 77));
    assert!(matches!(
        fx.mgr().attach(&big.name, req),
        Err(NetworkError::Conflict(_))
    ));
    let mut req = fx.req("c", &c);
    req.ip = Some(Ipv4Addr::new(10, 231, 99, 5));
    assert!(matches!(
        fx.mgr().attach(&big.name, req),
        Err(NetworkError::InvalidArgument(_))
    ));
    let mut req = fx.req("c", &c);
    req.ip = Some(Ipv4Addr::new(10, 231, 60, 5));
    assert!(
        fx.mgr().attach("bridge", req).is_err(),
        "--ip only on user networks"
    );
    assert!(!ip_in(&c, &["link"]).contains("eth0"));
    // overlapping subnets, invalid CIDR, unknown network, duplicate name: no bridge made
    let before = std::fs::read_dir("/sys/class/net").unwrap().count();
    let ov = fx.mgr().create(CreateRequest {
        name: format!("{}-ov", fx.tag),
        subnet: Some("10.231.62.128/25".into()),
        ..Default::default()
    });
    assert!(ov.unwrap_err().to_string().contains("overlaps"));
    let ov = fx.mgr().create(CreateRequest {
        name: format!("{}-ov2", fx.tag),
        subnet: Some("10.231.60.0/24".into()),
        ..Default::default()
    });
    assert!(ov.is_err(), "overlap with the default bridge");
    let bad = fx.mgr().create(CreateRequest {
        name: format!("{}-bad", fx.tag),
        subnet: Some("10.231.300.0/24".into()),
        ..Default::default()
    });
    assert!(matches!(bad, Err(NetworkError::InvalidArgument(_))));
    let dup = fx.mgr().create(CreateRequest {
        name: big.name.clone(),
        subnet: Some("10.231.63.0/24".into()),
        ..Default::default()
    });
    assert!(matches!(dup, Err(NetworkError::Conflict(_))));
    assert!(matches!(
        fx.mgr().attach("nope-net", fx.req("c", &c)),
        Err(NetworkError::NotFound(_))
    ));
    assert_eq!(std::fs::read_dir("/sys/class/net").unwrap().count(), before);
    // prune removes unused user networks only
    let unused = user_net(&fx, "unused", "10.231.64.0/24", false);
    let pruned = fx.mgr().prune(&[]).unwrap();
    assert_eq!(pruned, vec![unused.name.clone()]);
    fx.finish();
}

fn vlan_net(fx: &mut Fixture, driver: &str, subnet: &str) -> Option<network::NetworkRecord> {
    let parent = format!("{}p0", fx.tag);
    let peer = format!("{}p1", fx.tag);
    if !std::path::Path::new("/sys/class/net")
        .join(&parent)
        .exists()
    {
        assert!(sh(&[
            "ip", "link", "add", &parent, "type", "veth", "peer", "name", &peer
        ]));
        fx.extra_links.push(parent.clone());
        assert!(sh(&["ip", "link", "set", &parent, "up"]));
        assert!(sh(&["ip", "link", "set", &peer, "up"]));
    }
    let mut options = BTreeMap::new();
    options.insert("parent".to_string(), parent);
    Some(
        fx.mgr()
            .create(CreateRequest {
                name: format!("{}-{driver}", fx.tag),
                driver: driver.into(),
                subnet: Some(subnet.into()),
                options,
                ..Default::default()
            })
            .expect("create vlan network"),
    )
}

#[test]
fn macvlan_endpoints_talk() {
    let mut fx = Fixture::new("10.231.70.0/24");
    let net = vlan_net(&mut fx, "macvlan", "10.231.71.0/24").unwrap();
    let a = fx.container("a");
    let b = fx.container("b");
    fx.mgr().attach(&net.name, fx.req("a", &a)).unwrap();
    let eb = fx.mgr().attach(&net.name, fx.req("b", &b)).unwrap();
    assert!(ip_in(&b, &["-d", "link", "show", "eth0"]).contains("macvlan"));
    let addr = SocketAddr::from((eb.ip.unwrap(), 7000));
    let srv = tcp_echo(Some(&b), addr, 1);
    assert_eq!(
        tcp_talk(Some(&a), addr, "mv").as_deref(),
        Some("mv from 10.231.71.2")
    );
    srv.join().unwrap();
    // missing parent is a clear error
    let mut options = BTreeMap::new();
    options.insert("parent".to_string(), format!("{}zz", fx.tag));
    let err = fx.mgr().create(CreateRequest {
        name: format!("{}-np", fx.tag),
        driver: "macvlan".into(),
        subnet: Some("10.231.72.0/24".into()),
        options,
        ..Default::default()
    });
    assert!(err.unwrap_err().to_string().contains("parent"));
    fx.finish();
}

#[test]
fn ipvlan_endpoints_talk() {
    // This kernel may lack ipvlan: probe with a throwaway link first.
    let probe = format!("{}q", tag());
    let ok = sh(&[
        "ip",
        "link",
        "add",
        &probe,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{probe}x"),
    ]);
    let supported = ok
        && sh(&[
            "ip",
            "link",
            "add",
            "link",
            &probe,
            "name",
            &format!("{probe}i"),
            "type",
            "ipvlan",
            "mode",
            "l2",
        ]);
    let _ = sh(&["ip", "link", "del", &probe]);
    if !supported {
        eprintln!("SKIP: kernel has no ipvlan");
        return;
    }
    let mut fx = Fixture::new("10.231.75.0/24");
    let net = vlan_net(&mut fx, "ipvlan", "10.231.76.0/24").unwrap();
    let a = fx.container("a");
    let b = fx.container("b");
    fx.mgr().attach(&net.name, fx.req("a", &a)).unwrap();
    let eb = fx.mgr().attach(&net.name, fx.req("b", &b)).unwrap();
    let addr = SocketAddr::from((eb.ip.unwrap(), 7000));
    let srv = tcp_echo(Some(&b), addr, 1);
    assert!(tcp_talk(Some(&a), addr, "iv").is_some());
    srv.join().unwrap();
    fx.finish();
}

#[test]
fn embedded_dns_names_aliases_round_robin_and_forwarding() {
    // upstream resolver stand-in on host loopback: answers every query with SERVFAIL-free
    // empty NOERROR marked by id
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap();
    let upstream = std::thread::spawn(move || {
        up.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut buf = [0u8; 512];
        let mut seen = Vec::new();
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(60) {
            let (k, peer) = match up.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) => {
                    // e.g. EINTR; keep serving
                    seen.push(format!("ERR {e}"));
                    continue;
                }
            };
            seen.push(String::from_utf8_lossy(&buf[12..k]).to_string());
            let mut r = buf[..k].to_vec();
            r[2] |= 0x80;
            r[3] = 0x83; // RA + NXDOMAIN: proves the answer came from here
            let _ = up.send_to(&r, peer);
            if r.windows(7).any(|w| w == b"invalid") {
                break;
            }
        }
        seen
    });
    let tag = tag();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg =
        network::Config::new(dir.path().join("d"), dir.path().join("e")).with_prefix(&tag);
    cfg.default_subnet = "10.231.80.0/24".parse().unwrap();
    cfg.dns_upstreams = Some(vec![up_addr]);
    let mut fx = Fixture {
        tag,
        dir,
        mgr: Some(network::NetworkManager::open(cfg).unwrap()),
        netns: vec![],
        extra_links: vec![],
    };
    let net = user_net(&fx, "dns", "10.231.81.0/24", false);
    let a = fx.container("a");
    let b = fx.container("b");
    let c = fx.container("c");
    let mut ra = fx.req("web1", &a);
    ra.aliases = vec!["web".into()];
    let mut rb = fx.req("web2", &b);
    rb.aliases = vec!["web".into()];
    let ea = fx.mgr().attach(&net.name, ra).unwrap();
    let eb = fx.mgr().attach(&net.name, rb).unwrap();
    fx.mgr().attach(&net.name, fx.req("client", &c)).unwrap();
    let (rc, ips) = dns_query(&c, "web1").expect("dns answer");
    assert_eq!((rc, ips), (0, vec![ea.ip.unwrap()]));
    let (_, ips) = dns_query(&c, &format!("web2.{}", net.name)).unwrap();
    assert_eq!(ips, vec![eb.ip.unwrap()]);
    let (_, first) = dns_query(&c, "web").unwrap();
    let (_, second) = dns_query(&c, "web").unwrap();
    assert_eq!(first.len(), 2);
    assert_ne!(first[0], second[0], "round robin");
    assert_eq!(dns_query_tcp(&c, "web"), Some(2), "DNS over TCP");
    let (rc, ips) = dns_query(&c, "example.invalid").expect("forwarded answer");
    assert_eq!((rc, ips.len()), (3, 0), "answer from the upstream");
    let seen = upstream.join().unwrap();
    assert!(
        seen.iter()
            .all(|n| n.contains("invalid") || n.starts_with("ERR")),
        "only unknown names are forwarded: {seen:?}"
    );
    // resolv.conf / hosts for a user-network container
    let cid = fx.req("client", &c).container_id;
    let rcf = fx.mgr().resolv_conf(&cid, &[], &[], &[]).unwrap();
    assert!(rcf.contains("nameserver 127.0.0.11"), "{rcf}");
    let hosts = fx.mgr().hosts_file(&cid, "client", &[]).unwrap();
    assert!(hosts.contains("10.231.81.4\tclient"), "{hosts}");
    // after detach the name is gone
    fx.mgr()
        .detach(&net.name, &fx.req("web1", &a).container_id)
        .unwrap();
    assert_eq!(fx.mgr().resolve(&cid, "web1"), None);
    fx.finish();
}

#[test]
fn restore_after_restart_keeps_addresses() {
    let mut fx = Fixture::new("10.231.90.0/24");
    let net = user_net(&fx, "r", "10.231.91.0/24", false);
    let a = fx.container("a");
    let b = fx.container("b");
    let hp = port();
    let mut ra = fx.req("a", &a);
    ra.ports = parse_publish(&format!("{hp}:80")).unwrap();
    let ea = fx.mgr().attach("bridge", ra).unwrap();
    let ea2 = fx.mgr().attach(&net.name, fx.req("a", &a)).unwrap();
    let eb = fx.mgr().attach(&net.name, fx.req("b", &b)).unwrap();
    // daemon "stops" and its host state is wiped (as after cleanup_all)
    let cfg = fx.mgr().config().clone();
    fx.mgr().cleanup_all().unwrap();
    fx.mgr = None;
    let mgr = network::NetworkManager::open(cfg).unwrap();
    let rep = mgr.restore().unwrap();
    assert_eq!(rep.restored.len(), 3, "{rep:?}");
    assert!(rep.stale.is_empty());
    fx.mgr = Some(mgr);
    let now: Vec<_> = fx
        .mgr()
        .container_endpoints(&fx.req("a", &a).container_id)
        .unwrap();
    let ips: Vec<_> = now.iter().map(|(_, e)| e.ip).collect();
    assert!(ips.contains(&ea.ip) && ips.contains(&ea2.ip));
    let addr = SocketAddr::from((eb.ip.unwrap(), 7000));
    let srv = tcp_echo(Some(&b), addr, 1);
    assert!(tcp_talk(Some(&a), addr, "again").is_some());
    srv.join().unwrap();
    let srv = tcp_echo(Some(&a), SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80)), 1);
    let ok = tcp_talk(None, SocketAddr::from((Ipv4Addr::LOCALHOST, hp)), "p").is_some();
    assert!(ok, "published port restored");
    srv.join().unwrap();
    fx.finish();
}

#[test]
fn host_and_none_networks_only_record() {
    let mut fx = Fixture::new("10.231.95.0/24");
    let a = fx.container("a");
    let e = fx.mgr().attach("none", fx.req("a", &a)).unwrap();
    assert_eq!(e.ip, None);
    assert!(fx.mgr().attach("bridge", fx.req("a", &a)).is_err());
    let j = fx.mgr().inspect_json("none").unwrap();
    assert_eq!(j["Driver"], "null");
    assert_eq!(j["Containers"].as_object().unwrap().len(), 1);
    assert_eq!(
        network::NetworkMode::parse("container:abc"),
        network::NetworkMode::Container("abc".into())
    );
    fx.finish();
}

#[test]
fn engine_flow_netns_under_exec_root_and_new_netns_keeps_address() {
    let fx = Fixture::new("10.231.96.0/24");
    let net = user_net(&fx, "eng", "10.231.97.0/24", false);
    let id = format!("{}{}", fx.tag, "e".repeat(58));
    let p1 = fx.mgr().config().netns_path(&id);
    network::netns::create(&p1).unwrap();
    assert!(network::netns::exists(&p1));
    let req = network::AttachRequest {
        container_id: id.clone(),
        container_name: "eng1".into(),
        netns: p1.clone(),
        ..Default::default()
    };
    let e1 = fx.mgr().attach(&net.name, req.clone()).unwrap();
    assert_eq!(dns_query(&p1, "eng1").unwrap().1, vec![e1.ip.unwrap()]);
    // the container restarts in a fresh netns: same address, DNS follows
    network::netns::remove(&p1).unwrap();
    let p2 = fx.mgr().config().netns_path(&format!("{id}2"));
    network::netns::create(&p2).unwrap();
    let e2 = fx
        .mgr()
        .attach(
            &net.name,
            network::AttachRequest {
                netns: p2.clone(),
                ..req
            },
        )
        .unwrap();
    assert_eq!(e2.ip, e1.ip);
    assert_eq!(e2.endpoint_id, e1.endpoint_id);
    assert_eq!(dns_query(&p2, "eng1").unwrap().1, vec![e1.ip.unwrap()]);
    fx.mgr().detach_all(&id).unwrap();
    assert!(fx.mgr().container_endpoints(&id).unwrap().is_empty());
    network::netns::remove(&p2).unwrap();
    let exec_netns = fx.mgr().config().exec_root.join("netns");
    fx.mgr().cleanup_all().unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&exec_netns.to_string_lossy().to_string()),
        "E/netns mount left"
    );
    fx.finish();
}

#[test]
fn default_bridge_subnet_clash_with_host_route() {
    let tag = tag();
    // a host route standing in for dockerd's docker0 on the default subnet
    let h = format!("{tag}h0");
    assert!(sh(&[
        "ip",
        "link",
        "add",
        &h,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{tag}h1")
    ]));
    assert!(sh(&["ip", "addr", "add", "10.231.57.1/24", "dev", &h]));
    assert!(sh(&["ip", "link", "set", &h, "up"]));
    let dir = tempfile::tempdir().unwrap();
    let mk = |auto: bool| {
        let mut cfg =
            network::Config::new(dir.path().join(format!("d{auto}")), dir.path().join("e"))
                .with_prefix(&tag);
        cfg.default_subnet = "10.231.57.0/24".parse().unwrap();
        cfg.default_pools = vec![
            "10.231.57.0/24".parse().unwrap(),
            "10.231.58.0/24".parse().unwrap(),
        ];
        cfg.default_subnet_auto = auto;
        network::NetworkManager::open(cfg).unwrap()
    };
    let auto = mk(true);
    assert_eq!(
        auto.get("bridge").unwrap().subnet,
        Some("10.231.58.0/24".parse().unwrap())
    );
    drop(auto);
    let mut fx = Fixture {
        tag: tag.clone(),
        dir: tempfile::tempdir().unwrap(),
        mgr: Some(mk(false)),
        netns: vec![],
        extra_links: vec![h],
    };
    let a = fx.container("a");
    let err = fx.mgr().attach("bridge", fx.req("a", &a)).unwrap_err();
    assert!(err.to_string().contains("overlaps the host route"), "{err}");
    assert!(!ip_in(&a, &["link"]).contains("eth0"));
    fx.finish();
}
