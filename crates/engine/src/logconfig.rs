//! Log drivers: `HostConfig.LogConfig` and the daemon-wide default
//! (`berthd --log-driver --log-opt`), merged and checked as dockerd does.
//!
//! berth has `json-file` (with `max-size`, `max-file`, `compress`) and `none`. Any other
//! driver or option is refused at create with an error naming it — nothing is accepted
//! and ignored.

use crate::error::{EngineError, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The json-file driver.
pub const JSON_FILE: &str = "json-file";
/// The `none` driver (nothing is written; logs cannot be read).
pub const NONE: &str = "none";

/// A log driver and its options (`LogConfig{Type,Config}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Driver name (`json-file`, `none`).
    pub driver: String,
    /// Driver options (`--log-opt k=v`).
    pub opts: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            driver: JSON_FILE.into(),
            opts: BTreeMap::new(),
        }
    }
}

/// What the monitor needs from a log config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// The driver is `none`.
    pub none: bool,
    /// json-file rotation.
    pub rotation: monitor::logfile::Rotation,
}

/// Docker's `units.RAMInBytes`: `10m`, `1g`, `512k`, `100` (binary multiples, an optional
/// trailing `b`, case-insensitive).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        'p' => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some((n * mult as f64) as u64)
}

fn bad(msg: String) -> EngineError {
    EngineError::InvalidParameter(msg)
}

impl LogConfig {
    /// Parses `--log-opt k=v` strings (daemon flags).
    pub fn from_flags(driver: Option<&str>, opts: &[String]) -> Result<LogConfig> {
        let mut c = LogConfig {
            driver: driver.unwrap_or(JSON_FILE).to_string(),
            opts: BTreeMap::new(),
        };
        for o in opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| bad(format!("invalid log opt {o:?}: expected key=value")))?;
            c.opts.insert(k.to_string(), v.to_string());
        }
        c.settings()?;
        Ok(c)
    }

    /// Reads a `LogConfig` JSON value (missing/null fields are empty).
    pub fn from_value(v: Option<&Value>) -> Result<LogConfig> {
        let mut c = LogConfig {
            driver: String::new(),
            opts: BTreeMap::new(),
        };
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(c);
        };
        let obj = v
            .as_object()
            .ok_or_else(|| bad("LogConfig must be an object".into()))?;
        match obj.get("Type") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => c.driver = s.clone(),
            Some(_) => return Err(bad("LogConfig.Type must be a string".into())),
        }
        match obj.get("Config") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let v = v
                        .as_str()
                        .ok_or_else(|| bad(format!("log opt {k:?} must be a string")))?;
                    c.opts.insert(k.clone(), v.to_string());
                }
            }
            Some(_) => return Err(bad("LogConfig.Config must be an object".into())),
        }
        Ok(c)
    }

    /// dockerd's merge: an empty driver is the daemon's; with the daemon's driver, the
    /// daemon's options fill in those not given. The result is checked.
    pub fn merged(mut self, daemon: &LogConfig) -> Result<LogConfig> {
        if self.driver.is_empty() {
            self.driver = daemon.driver.clone();
        }
        if self.driver == daemon.driver {
            for (k, v) in &daemon.opts {
                self.opts.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        self.settings()?;
        Ok(self)
    }

    /// The JSON stored in `HostConfig.LogConfig` (and shown by inspect).
    pub fn to_value(&self) -> Value {
        let m: Map<String, Value> = self
            .opts
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({"Type": self.driver, "Config": m})
    }

    /// Checks the driver and options and turns them into monitor settings.
    pub fn settings(&self) -> Result<LogSettings> {
        match self.driver.as_str() {
            NONE => {
                if let Some(k) = self.opts.keys().next() {
                    return Err(bad(format!("unknown log opt '{k}' for none log driver")));
                }
                Ok(LogSettings {
                    none: true,
                    ..Default::default()
                })
            }
            JSON_FILE => {
                let mut rot = monitor::logfile::Rotation {
                    max_size: 0,
                    max_file: 1,
                    compress: false,
                };
                for (k, v) in &self.opts {
                    match k.as_str() {
                        "max-size" => {
                            rot.max_size = if v == "-1" {
                                0
                            } else {
                                parse_size(v).ok_or_else(|| {
                                    bad(format!("invalid value for log opt max-size: {v:?}"))
                                })?
                            }
                        }
                        "max-file" => {
                            let n: i64 = v.parse().map_err(|_| {
                                bad(format!("invalid value for log opt max-file: {v:?}"))
                            })?;
                            if n < 1 {
                                return Err(bad("max-file cannot be less than 1".into()));
                            }
                            rot.max_file = u32::try_from(n).map_err(|_| {
                                bad(format!("invalid value for log opt max-file: {v:?}"))
                            })?;
                        }
                        "compress" => {
                            rot.compress = match v.as_str() {
                                "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                                "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                                _ => {
                                    return Err(bad(format!(
                                        "invalid value for log opt compress: {v:?}"
                                    )))
                                }
                            }
                        }
                        other => {
                            return Err(bad(format!(
                                "unknown log opt '{other}' for json-file log driver"
                            )))
                        }
                    }
                }
                if rot.max_size == 0 {
                    // Without max-size nothing rotates (as Docker: max-file is then moot).
                    rot.max_file = 1;
                }
                Ok(LogSettings {
                    none: false,
                    rotation: rot,
                })
            }
            "local" => Err(bad(
                "log driver 'local' is not supported by berth (use json-file or none)".into(),
            )),
            other => Err(bad(format!(
                "logger: no log driver named '{other}' is registered"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1K"), Some(1024));
        assert_eq!(parse_size("2gb"), Some(2 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn merge_and_check() {
        let daemon = LogConfig::from_flags(Some("json-file"), &["max-size=1m".into()]).unwrap();
        let c = LogConfig::from_value(Some(&json!({"Type": "", "Config": {"max-file": "2"}})))
            .unwrap()
            .merged(&daemon)
            .unwrap();
        assert_eq!(c.driver, "json-file");
        assert_eq!(c.opts.get("max-size").map(String::as_str), Some("1m"));
        let s = c.settings().unwrap();
        assert_eq!(s.rotation.max_size, 1 << 20);
        assert_eq!(s.rotation.max_file, 2);
        let none = LogConfig::from_value(Some(&json!({"Type": "none"})))
            .unwrap()
            .merged(&daemon)
            .unwrap();
        assert!(none.settings().unwrap().none);
        assert!(none.opts.is_empty());
        for (t, opt, want) in [
            ("syslog", None, "syslog"),
            ("asdf", None, "asdf"),
            ("local", None, "local"),
            ("json-file", Some(("labels", "a")), "labels"),
            ("json-file", Some(("max-size", "lots")), "max-size"),
            ("json-file", Some(("max-file", "0")), "max-file"),
            ("none", Some(("max-size", "1m")), "max-size"),
        ] {
            let mut cfg = json!({"Type": t, "Config": {}});
            if let Some((k, v)) = opt {
                cfg["Config"][k] = json!(v);
            }
            let e = LogConfig::from_value(Some(&cfg))
                .unwrap()
                .merged(&LogConfig::default())
                .unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
