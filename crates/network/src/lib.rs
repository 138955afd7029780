//! Container networks: bridge, IPAM, NAT, DNS, macvlan, ipvlan.
//!
//! Not yet implemented: filled by a later issue.
