//! Small pure checks shared by the parsers: volume names, container paths, sizes, booleans.

use crate::error::{Result, VolumeError};

/// Checks a local volume name against docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_volume_name(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::InvalidVolumeName(name.to_string()))
    }
}

/// Validates a container path and returns it cleaned (`//` and `/./` collapsed, no trailing
/// `/`). Refuses relative paths, any `..` component, NUL bytes and `/` itself.
pub fn clean_target(target: &str) -> Result<String> {
    let bad = |reason: &str| VolumeError::InvalidTarget {
        target: target.to_string(),
        reason: reason.to_string(),
    };
    if target.is_empty() {
        return Err(bad("mount path must not be empty"));
    }
    if target.contains('\0') {
        return Err(bad("mount path must not contain NUL"));
    }
    if !target.starts_with('/') {
        return Err(bad("mount path must be absolute"));
    }
    let mut out = String::new();
    for comp in target.split('/') {
        match comp {
            "" | "." => continue,
            ".." => return Err(bad("mount path must not contain '..'")),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        return Err(VolumeError::InvalidSpec(format!(
            "{target}': destination can't be '/"
        )));
    }
    Ok(out)
}

/// Parses a size like docker's `RAMInBytes`: `1024`, `64m`, `1.5g`, `100MiB`, `2kb`
/// (binary multiples, case-insensitive).
pub fn parse_size(s: &str) -> Result<u64> {
    let bad = || VolumeError::InvalidOption(format!("invalid size: '{s}'"));
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(bad()),
    };
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses an octal file mode (`1777`, `0755`, `0o700`).
pub fn parse_mode(s: &str) -> Result<u32> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(m),
        _ => Err(VolumeError::InvalidOption(format!("invalid mode: '{s}'"))),
    }
}

/// Parses a boolean the way Go's `strconv.ParseBool` does.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A random 64-hex-digit name for an anonymous volume.
pub fn random_name() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["ab", "my-vol", "a.b_c-1", "0x", "Data"] {
            validate_volume_name(ok).unwrap();
        }
        for bad in ["", "a", "-ab", ".ab", "_ab", "a/b", "a b", "a:b", "é1"] {
            assert!(validate_volume_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(clean_target("/data/").unwrap(), "/data");
        assert_eq!(clean_target("//a/./b").unwrap(), "/a/b");
        assert!(clean_target("data").is_err());
        assert!(clean_target("/a/../b").is_err());
        assert!(clean_target("/..").is_err());
        assert!(clean_target("/").is_err());
        assert!(clean_target("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("2kb").unwrap(), 2048);
        for bad in ["", "m", "12x", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_mode("1777").unwrap(), 0o1777);
        assert!(parse_mode("999").is_err());
        assert_eq!(random_name().len(), 64);
    }
}
