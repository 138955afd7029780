//! Durations (`1m30s`, `500ms`) and sizes (`64m`, `1g`) as the compose spec writes them.

/// A Go-style duration (`1h2m3.5s`, `10ms`, a bare number = seconds) in nanoseconds.
pub fn duration_ns(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Ok((secs * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("invalid duration {text:?}: missing unit"))?;
        if num_end == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            u => return Err(format!("invalid duration {text:?}: unknown unit {u:?}")),
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Ok(total as i64)
}

/// A byte size (`1024`, `64m`, `1.5g`, `512kb`) in bytes.
pub fn size_bytes(text: &str) -> Result<i64, String> {
    let t = text.trim().to_ascii_lowercase();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t[..num_end]
        .parse()
        .map_err(|_| format!("invalid size {text:?}"))?;
    let mult = match t[num_end..].trim() {
        "" | "b" => 1f64,
        "k" | "kb" => 1024f64,
        "m" | "mb" => 1024f64 * 1024.0,
        "g" | "gb" => 1024f64 * 1024.0 * 1024.0,
        u => return Err(format!("invalid size {text:?}: unknown unit {u:?}")),
    };
    Ok((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(duration_ns("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(duration_ns("10").unwrap(), 10_000_000_000);
        assert!(duration_ns("5x").is_err());
        assert!(duration_ns("s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(size_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(size_bytes("100").unwrap(), 100);
        assert!(size_bytes("12q").is_err());
    }
}
