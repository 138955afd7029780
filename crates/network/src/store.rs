//! Network and endpoint records in redb (`D/network/metadata.redb`). Endpoint records are
//! also the IPAM state: an address is allocated exactly when an endpoint holds it, so an
//! allocation and its endpoint are written in one transaction.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{db_err, NetworkError, Result};
use crate::ports::PortMapping;

const NETWORKS: TableDefinition<&str, &str> = TableDefinition::new("networks");
const ENDPOINTS: TableDefinition<&str, &str> = TableDefinition::new("endpoints");

/// Network driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Linux bridge + veth (default).
    Bridge,
    /// The host's own netns.
    Host,
    /// Loopback only (`none`).
    Null,
    /// macvlan on `-o parent=`.
    Macvlan,
    /// ipvlan (L2) on `-o parent=`.
    Ipvlan,
}

impl Driver {
    /// Parse docker's driver names (`bridge`, `host`, `null`, `macvlan`, `ipvlan`).
    pub fn parse(s: &str) -> Result<Driver> {
        match s {
            "" | "bridge" => Ok(Driver::Bridge),
            "host" => Ok(Driver::Host),
            "null" => Ok(Driver::Null),
            "macvlan" => Ok(Driver::Macvlan),
            "ipvlan" => Ok(Driver::Ipvlan),
            other => Err(NetworkError::NotFound(format!(
                "plugin \"{other}\" (driver)"
            ))),
        }
    }
    /// Docker's name of the driver.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
            Driver::Macvlan => "macvlan",
            Driver::Ipvlan => "ipvlan",
        }
    }
}

/// A network as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex chars
    pub id: String,
    /// unique name
    pub name: String,
    /// driver
    pub driver: Driver,
    /// RFC3339 creation time
    pub created: String,
    /// IPv4 subnet (None for host/none)
    pub subnet: Option<Ipv4Net>,
    /// gateway address (bridge address for bridge networks)
    pub gateway: Option<Ipv4Addr>,
    /// sub-range containers are allocated from (`--ip-range`)
    pub ip_range: Option<Ipv4Net>,
    /// no outbound traffic, no published ports
    pub internal: bool,
    /// labels
    pub labels: BTreeMap<String, String>,
    /// driver options (`-o`)
    pub options: BTreeMap<String, String>,
    /// Linux bridge name (bridge driver) or parent interface (macvlan/ipvlan)
    pub interface: Option<String>,
    /// MTU of container interfaces
    pub mtu: u32,
    /// predefined (`bridge`, `host`, `none`): cannot be removed
    pub predefined: bool,
    /// `IPAM.Options` as given (None when unset: docker shows null)
    #[serde(default)]
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// `IPAM.Config[0].AuxiliaryAddresses` as given (addresses kept out of allocation)
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, String>,
}

impl NetworkRecord {
    /// First 12 chars of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
    /// Whether this is a user-defined network (embedded DNS, `--ip`, aliases).
    pub fn is_user_defined(&self) -> bool {
        !self.predefined
    }
}

/// An endpoint (one container on one network) as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// 64 hex chars
    pub id: String,
    /// network id
    pub network_id: String,
    /// container id
    pub container_id: String,
    /// container name (without leading `/`)
    pub container_name: String,
    /// DNS aliases on this network
    pub aliases: Vec<String>,
    /// the container's netns file
    pub netns: PathBuf,
    /// address (None on host/none)
    pub ip: Option<Ipv4Addr>,
    /// whether `ip` was asked for (`--ip`)
    pub fixed_ip: bool,
    /// MAC address of the container interface
    pub mac: String,
    /// interface name inside the container (eth0, eth1...)
    pub if_name: String,
    /// host-side veth name (bridge driver)
    pub host_if: Option<String>,
    /// published ports (resolved)
    pub ports: Vec<PortMapping>,
}

fn ep_key(network_id: &str, container_id: &str) -> String {
    format!("{network_id}/{container_id}")
}

/// In-memory snapshot of the DB.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub networks: BTreeMap<String, NetworkRecord>,
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

impl State {
    pub fn endpoints_of(&self, network_id: &str) -> impl Iterator<Item = &EndpointRecord> {
        let prefix = format!("{network_id}/");
        self.endpoints
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
    }
    pub fn endpoint(&self, network_id: &str, container_id: &str) -> Option<&EndpointRecord> {
        self.endpoints.get(&ep_key(network_id, container_id))
    }
    /// Find a network by full id, name, or unique id prefix.
    pub fn find(&self, id_or_name: &str) -> Result<&NetworkRecord> {
        if let Some(n) = self.networks.get(id_or_name) {
            return Ok(n);
        }
        if let Some(n) = self.networks.values().find(|n| n.name == id_or_name) {
            return Ok(n);
        }
        let m: Vec<&NetworkRecord> = self
            .networks
            .values()
            .filter(|n| !id_or_name.is_empty() && n.id.starts_with(id_or_name))
            .collect();
        match m.as_slice() {
            [one] => Ok(one),
            [] => Err(NetworkError::NotFound(id_or_name.to_string())),
            _ => Err(NetworkError::InvalidArgument(format!(
                "network {id_or_name} is ambiguous ({} matches found based on ID prefix)",
                m.len()
            ))),
        }
    }
}

/// One change for [`Store::commit`].
pub(crate) enum Op {
    PutNetwork(Box<NetworkRecord>),
    DeleteNetwork(String),
    PutEndpoint(Box<EndpointRecord>),
    DeleteEndpoint(String, String),
}

/// The DB.
pub(crate) struct Store {
    db: Database,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| NetworkError::io("create dir", dir, e))?;
        }
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(NETWORKS).map_err(db_err)?;
        txn.open_table(ENDPOINTS).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(Store { db })
    }

    pub fn load(&self) -> Result<State> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let mut st = State::default();
        let nets = txn.open_table(NETWORKS).map_err(db_err)?;
        for item in nets.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let rec: NetworkRecord = serde_json::from_str(v.value())
                .map_err(|e| NetworkError::Corrupt(format!("network {}: {e}", k.value())))?;
            st.networks.insert(rec.id.clone(), rec);
        }
        let eps = txn.open_table(ENDPOINTS).map_err(db_err)?;
        for item in eps.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let rec: EndpointRecord = serde_json::from_str(v.value())
                .map_err(|e| NetworkError::Corrupt(format!("endpoint {}: {e}", k.value())))?;
            st.endpoints.insert(k.value().to_string(), rec);
        }
        Ok(st)
    }

    pub fn commit(&self, ops: Vec<Op>) -> Result<()> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut nets = txn.open_table(NETWORKS).map_err(db_err)?;
            let mut eps = txn.open_table(ENDPOINTS).map_err(db_err)?;
            for op in ops {
                match op {
                    Op::PutNetwork(n) => {
                        let j = serde_json::to_string(&n)
                            .map_err(|e| NetworkError::Corrupt(e.to_string()))?;
                        nets.insert(n.id.as_str(), j.as_str()).map_err(db_err)?;
                    }
                    Op::DeleteNetwork(id) => {
                        nets.remove(id.as_str()).map_err(db_err)?;
                    }
                    Op::PutEndpoint(e) => {
                        let j = serde_json::to_string(&e)
                            .map_err(|e| NetworkError::Corrupt(e.to_string()))?;
                        let k = ep_key(&e.network_id, &e.container_id);
                        eps.insert(k.as_str(), j.as_str()).map_err(db_err)?;
                    }
                    Op::DeleteEndpoint(n, c) => {
                        eps.remove(ep_key(&n, &c).as_str()).map_err(db_err)?;
                    }
                }
            }
        }
        txn.commit().map_err(db_err)
    }
}

/// 64 random hex chars.
pub(crate) fn new_id() -> String {
    (0..32)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

/// Current time as RFC3339 with nanoseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}
