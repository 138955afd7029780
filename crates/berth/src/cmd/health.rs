//! `run`/`create` healthcheck flags (`--health-*`, `--no-healthcheck`) → `Config.Healthcheck`.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use serde_json::{json, Value};

/// Docker's healthcheck flags.
#[derive(Args, Debug, Default)]
pub struct HealthFlags {
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

impl HealthFlags {
    fn any(&self) -> bool {
        self.cmd.is_some()
            || self.interval.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
            || self.timeout.is_some()
    }

    /// Set `config.Healthcheck` as the docker CLI does.
    pub fn apply(&self, config: &mut Value) -> Result<()> {
        if self.no_healthcheck {
            if self.any() {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            config["Healthcheck"] = json!({"Test": ["NONE"]});
            return Ok(());
        }
        if !self.any() {
            return Ok(());
        }
        let d = |name: &str, v: &Option<String>| -> Result<i64> {
            let Some(s) = v else { return Ok(0) };
            let ns = parse_duration(s).ok_or_else(|| {
                anyhow!(
                    "invalid argument {s:?} for \"--{name}\" flag: time: invalid duration {s:?}"
                )
            })?;
            if ns < 0 {
                bail!("--{name} cannot be negative");
            }
            Ok(ns)
        };
        let interval = d("health-interval", &self.interval)?;
        let timeout = d("health-timeout", &self.timeout)?;
        let start_period = d("health-start-period", &self.start_period)?;
        let start_interval = d("health-start-interval", &self.start_interval)?;
        let retries = self.retries.unwrap_or(0);
        if retries < 0 {
            bail!("--health-retries cannot be negative");
        }
        let test: Vec<String> = match &self.cmd {
            Some(c) if !c.is_empty() => vec!["CMD-SHELL".into(), c.clone()],
            _ => Vec::new(),
        };
        config["Healthcheck"] = json!({
            "Test": test,
            "Interval": interval,
            "Timeout": timeout,
            "StartPeriod": start_period,
            "StartInterval": start_interval,
            "Retries": retries,
        });
        Ok(())
    }
}

/// Go's `time.ParseDuration` (`300ms`, `1.5h`, `2h45m`, `-1s`) in nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * mult;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1s"), Some(1_000_000_000));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("-1s"), Some(-1_000_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("abc"), None);
    }
}
