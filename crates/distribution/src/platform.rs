//! Platforms (`os/arch[/variant]`) and picking a manifest from an index.

use std::fmt;

use crate::error::DistributionError;

/// A platform, e.g. `linux/amd64` or `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// Architecture, OCI naming (`amd64`, `arm64`).
    pub architecture: String,
    /// Variant (`v7`, `v8`), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// This machine: `linux/<arch>[/<variant>]`.
    pub fn host() -> Self {
        let (arch, variant) = image::config::host_platform();
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses `os/arch[/variant]` (as `--platform` takes it).
    pub fn parse(s: &str) -> Result<Self, DistributionError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad =
            || DistributionError::invalid("platform", format!("{s:?} is not os/arch[/variant]"));
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                architecture: normalize_arch(arch),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                architecture: normalize_arch(arch),
                variant: Some(v.to_lowercase()),
            }),
            _ => Err(bad()),
        }
    }

    /// How well the `platform` object of an index entry fits: None = not at all, higher is
    /// better.
    pub fn score(&self, p: &serde_json::Value) -> Option<u8> {
        let os = p.get("os")?.as_str()?;
        let arch = normalize_arch(p.get("architecture")?.as_str()?);
        if os != self.os || arch != self.architecture {
            return None;
        }
        let theirs = p
            .get("variant")
            .and_then(|v| v.as_str())
            .map(str::to_lowercase);
        let default_variant = if self.architecture == "arm64" {
            Some("v8")
        } else {
            None
        };
        let mine = self.variant.as_deref().or(default_variant);
        let theirs_n = theirs.as_deref().or(default_variant);
        match (mine, theirs_n) {
            (a, b) if a == b => Some(2),
            (_, None) => Some(1),
            (None, Some(_)) => Some(1),
            _ => None,
        }
    }
}

fn normalize_arch(a: &str) -> String {
    match a.to_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "i386" => "386".into(),
        other => other.to_string(),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            p.score(&json!({"os":"linux","architecture":"arm64","variant":"v8"})),
            Some(2)
        );
        assert_eq!(p.score(&json!({"os":"linux","architecture":"amd64"})), None);
        let a = Platform::parse("linux/amd64").unwrap();
        assert_eq!(
            a.score(&json!({"os":"linux","architecture":"amd64"})),
            Some(2)
        );
        assert_eq!(
            a.score(&json!({"os":"unknown","architecture":"unknown"})),
            None
        );
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(
            v7.score(&json!({"os":"linux","architecture":"arm","variant":"v6"})),
            None
        );
        assert!(Platform::parse("linux").is_err());
    }
}
