//! `docker import --change` / `docker commit --change`: Dockerfile instructions that edit an
//! image's [`ContainerConfig`].
//!
//! Supported: CMD, ENTRYPOINT (JSON or shell form), ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME,
//! STOPSIGNAL, HEALTHCHECK, ONBUILD — what docker accepts there. Anything else is an
//! [`ImageError::InvalidChange`].
//!
//! This is not the `build` crate's Dockerfile parser because imports run one way: `build`
//! depends on `engine` and `image`, and `docker commit`/`import` are served by the engine
//! through this crate.

use std::collections::BTreeMap;

use crate::config::ContainerConfig;
use crate::error::{ImageError, Result};

/// Applies each instruction of `changes` in order to `config`.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<()> {
    for change in changes {
        apply_one(config, change)?;
    }
    Ok(())
}

fn bad(change: &str, why: &str) -> ImageError {
    ImageError::InvalidChange(format!("{change:?}: {why}"))
}

fn apply_one(cfg: &mut ContainerConfig, change: &str) -> Result<()> {
    let line = change.trim();
    let (kw, rest) = match line.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim()),
        None => (line, ""),
    };
    if kw.is_empty() {
        return Err(bad(change, "empty instruction"));
    }
    let kw_up = kw.to_ascii_uppercase();
    if rest.is_empty() {
        return Err(bad(
            change,
            &format!("{kw_up} requires at least one argument"),
        ));
    }
    match kw_up.as_str() {
        "CMD" => cfg.cmd = Some(command_form(change, rest)?),
        "ENTRYPOINT" => cfg.entrypoint = Some(command_form(change, rest)?),
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(change, rest)? {
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix) && e != &k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in key_values(change, rest)? {
                labels.insert(k, v);
            }
        }
        "WORKDIR" => {
            let dir = if rest.starts_with('/') {
                rest.to_string()
            } else {
                let base = cfg.working_dir.as_deref().unwrap_or("/");
                format!("{}/{}", base.trim_end_matches('/'), rest)
            };
            cfg.working_dir = Some(dir);
        }
        "USER" => cfg.user = Some(rest.to_string()),
        "STOPSIGNAL" => cfg.stop_signal = Some(rest.to_string()),
        "EXPOSE" => {
            let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for word in split_words(rest).map_err(|e| bad(change, &e))? {
                for p in expand_port(&word).map_err(|e| bad(change, &e))? {
                    ports.insert(p, serde_json::json!({}));
                }
            }
        }
        "VOLUME" => {
            let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
            let list = match json_array(rest) {
                Some(v) => v,
                None => split_words(rest).map_err(|e| bad(change, &e))?,
            };
            for v in list {
                if v.is_empty() {
                    return Err(bad(change, "VOLUME specified can not be an empty string"));
                }
                vols.insert(v, serde_json::json!({}));
            }
        }
        "HEALTHCHECK" => {
            let hc = healthcheck(change, rest)?;
            cfg.extra.insert("Healthcheck".into(), hc);
        }
        "ONBUILD" => {
            let (inner, _) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let inner = inner.to_ascii_uppercase();
            if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(bad(
                    change,
                    &format!("{inner} isn't allowed as an ONBUILD trigger"),
                ));
            }
            let list = cfg
                .extra
                .entry("OnBuild".to_string())
                .or_insert_with(|| serde_json::json!([]));
            if !list.is_array() {
                *list = serde_json::json!([]);
            }
            if let Some(a) = list.as_array_mut() {
                a.push(serde_json::Value::String(rest.to_string()));
            }
        }
        other => {
            return Err(bad(
                change,
                &format!(
                    "{other} is not a valid change command (supported: CMD, ENTRYPOINT, ENV, \
                     EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)"
                ),
            ))
        }
    }
    Ok(())
}

/// `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
/// [--retries=N] CMD …` or `HEALTHCHECK NONE` → the config's `Healthcheck` object.
fn healthcheck(change: &str, rest: &str) -> Result<serde_json::Value> {
    let mut hc = serde_json::Map::new();
    let mut rest = rest.trim_start();
    while let Some(opt) = rest.strip_prefix("--") {
        let (word, tail) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        rest = tail.trim_start();
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| bad(change, &format!("option --{word} needs a value")))?;
        let key = match k {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let n: i64 = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad(change, &format!("invalid --retries value {v:?}")))?;
                hc.insert("Retries".into(), serde_json::json!(n));
                continue;
            }
            _ => return Err(bad(change, &format!("unknown flag: --{k}"))),
        };
        let ns = go_duration(v).ok_or_else(|| bad(change, &format!("invalid duration {v:?}")))?;
        hc.insert(key.into(), serde_json::json!(ns));
    }
    let (kw, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let cmd = cmd.trim();
    let test = match kw.to_ascii_uppercase().as_str() {
        "NONE" if cmd.is_empty() => vec!["NONE".to_string()],
        "NONE" => return Err(bad(change, "HEALTHCHECK NONE takes no arguments")),
        "CMD" if cmd.is_empty() => {
            return Err(bad(change, "missing command after HEALTHCHECK CMD"))
        }
        "CMD" => match json_array(cmd) {
            Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
            None => vec!["CMD-SHELL".to_string(), cmd.to_string()],
        },
        _ => return Err(bad(change, "HEALTHCHECK takes CMD or NONE")),
    };
    hc.insert("Test".into(), serde_json::json!(test));
    Ok(serde_json::Value::Object(hc))
}

/// A Go duration (`1h2m3.5s`, `300ms`, `0`) in nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * mult;
    }
    Some(total as i64)
}

/// JSON form `["a","b"]` or shell form `a b` → `["/bin/sh","-c","a b"]`.
fn command_form(change: &str, rest: &str) -> Result<Vec<String>> {
    if let Some(v) = json_array(rest) {
        return Ok(v);
    }
    if rest.is_empty() {
        return Err(bad(change, "empty command"));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// `k=v k2="v 2"` pairs, or the legacy single `key value...` form.
fn key_values(change: &str, rest: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest).map_err(|e| bad(change, &e))?;
    let first = words.first().ok_or_else(|| bad(change, "missing key"))?;
    if !first.contains('=') {
        // Legacy form: the first word is the key, everything after it the value.
        let (k, v) = match rest.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => return Err(bad(change, "missing value")),
        };
        let v = split_words(v)
            .map(|w| w.join(" "))
            .map_err(|e| bad(change, &e))?;
        return Ok(vec![(k.to_string(), v)]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => return Err(bad(change, &format!("{w:?} is not key=value"))),
        }
    }
    Ok(out)
}

/// Splits on white space, honouring "double", 'single' quotes and backslash escapes.
fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            '"' | '\'' => {
                in_word = true;
                let q = c;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".into()),
                        Some(x) if x == q => break,
                        Some('\\') if q == '"' => match chars.next() {
                            Some(n) => cur.push(n),
                            None => return Err("unterminated quote".into()),
                        },
                        Some(x) => cur.push(x),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, … (ranges expanded).
fn expand_port(word: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {proto:?} in {word:?}"));
    }
    let parse = |p: &str| -> std::result::Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("invalid port {p:?} in {word:?}")),
        }
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!("invalid port range {ports:?}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(changes: &[&str]) -> Result<ContainerConfig> {
        let mut c = ContainerConfig::default();
        let v: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &v)?;
        Ok(c)
    }

    #[test]
    fn all_instructions() {
        let c = cfg(&[
            r#"CMD ["/bin/sh","-c","echo hi"]"#,
            "ENTRYPOINT /bin/app --flag",
            r#"ENV A=1 B="two words""#,
            "ENV LEGACY some value",
            "ENV A=3",
            "WORKDIR /srv",
            "WORKDIR data",
            "USER 1000:1000",
            "EXPOSE 80 53/udp 8000-8001",
            r#"LABEL maintainer="me" x=y"#,
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "stopsignal SIGINT",
            "HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost",
            "ONBUILD RUN echo hi",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(
            c.entrypoint.unwrap(),
            vec!["/bin/sh", "-c", "/bin/app --flag"]
        );
        assert_eq!(
            c.env.unwrap(),
            vec!["B=two words", "LEGACY=some value", "A=3"]
        );
        assert_eq!(c.working_dir.as_deref(), Some("/srv/data"));
        assert_eq!(c.user.as_deref(), Some("1000:1000"));
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["maintainer"], "me");
        assert_eq!(labels["x"], "y");
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, vec!["/cache", "/data", "/logs"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(
            c.extra["Healthcheck"],
            serde_json::json!({"Interval": 5_000_000_000i64, "Retries": 3,
                "Test": ["CMD-SHELL", "wget -q localhost"]})
        );
        assert_eq!(c.extra["OnBuild"], serde_json::json!(["RUN echo hi"]));
    }

    #[test]
    fn rejects_bad_changes() {
        for bad in [
            "RUN echo",
            "FROM x",
            "CMD",
            "EXPOSE 80/xyz",
            "EXPOSE 0",
            "ENV =x",
            "LABEL a=\"b",
            "HEALTHCHECK --interval=x CMD true",
            "HEALTHCHECK BOGUS",
            "ONBUILD FROM x",
        ] {
            assert!(
                matches!(cfg(&[bad]), Err(ImageError::InvalidChange(_))),
                "{bad} should fail"
            );
        }
    }
}
