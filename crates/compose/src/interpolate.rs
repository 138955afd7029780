//! Variable interpolation as the compose spec defines it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}` and `$$` for a literal `$`. Defaults and alternatives are interpolated too
//! (`${A:-${B}}`).

use serde_json::Value;

/// Where variables come from (the shell environment over the `.env` file).
pub trait Lookup {
    /// The value of `name`, or `None` when unset.
    fn get(&self, name: &str) -> Option<String>;
}

impl Lookup for indexmap::IndexMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        indexmap::IndexMap::get(self, name).cloned()
    }
}

/// Interpolates one string; the error is the message to show (without the path).
pub fn interpolate_str(input: &str, env: &dyn Lookup) -> Result<String, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let end = matching_brace(&chars, i + 1)
                    .ok_or_else(|| format!("invalid interpolation format for {input:?}: unclosed '${{'"))?;
                let inner: String = chars[i + 2..end].iter().collect();
                out.push_str(&braced(&inner, input, env)?);
                i = end + 1;
            }
            Some(c2) if c2.is_ascii_alphabetic() || *c2 == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&env.get(&name).unwrap_or_default());
                i = j;
            }
            _ => {
                return Err(format!(
                    "invalid interpolation format for {input:?}: you may need to escape any $ with another $"
                ))
            }
        }
    }
    Ok(out)
}

/// Index of the `}` closing the `{` at `open`, honouring nested `${…}`.
fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(inner: &str, whole: &str, env: &dyn Lookup) -> Result<String, String> {
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_name {
        return Err(format!(
            "invalid interpolation format for {whole:?}: bad variable name in \"${{{inner}}}\""
        ));
    }
    let rest = &inner[name_end..];
    let value = env.get(name);
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err(format!(
            "invalid interpolation format for {whole:?}: unknown operator in \"${{{inner}}}\""
        ));
    };
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(match op {
        "" => value.unwrap_or_default(),
        ":-" if set_nonempty => value.unwrap_or_default(),
        ":-" => interpolate_str(arg, env)?,
        "-" => match value {
            Some(v) => v,
            None => interpolate_str(arg, env)?,
        },
        ":?" if set_nonempty => value.unwrap_or_default(),
        ":?" => {
            return Err(format!(
                "required variable {name} is missing a value: {}",
                interpolate_str(arg, env)?
            ))
        }
        "?" => match value {
            Some(v) => v,
            None => {
                return Err(format!(
                    "required variable {name} is missing a value: {}",
                    interpolate_str(arg, env)?
                ))
            }
        },
        ":+" if set_nonempty => interpolate_str(arg, env)?,
        ":+" => String::new(),
        "+" if value.is_some() => interpolate_str(arg, env)?,
        _ => String::new(),
    })
}

/// Interpolates every string value of a parsed file (keys are left alone, as compose does).
/// Errors name the dotted path of the value.
pub fn interpolate_value(
    v: &mut Value,
    env: &dyn Lookup,
    path: &str,
) -> Result<(), (String, String)> {
    match v {
        Value::String(s) => {
            *s = interpolate_str(s, env).map_err(|m| (path.to_string(), m))?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, env, &format!("{path}[{i}]"))?;
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate_value(item, env, &p)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn env() -> IndexMap<String, String> {
        let mut m = IndexMap::new();
        m.insert("SET".to_string(), "val".to_string());
        m.insert("EMPTY".to_string(), String::new());
        m
    }

    #[test]
    fn plain_and_braced() {
        let e = env();
        assert_eq!(
            interpolate_str("a-$SET-${SET}-b", &e).unwrap(),
            "a-val-val-b"
        );
        assert_eq!(interpolate_str("${UNSET}x", &e).unwrap(), "x");
        assert_eq!(
            interpolate_str("$$SET costs $$5", &e).unwrap(),
            "$SET costs $5"
        );
    }

    #[test]
    fn defaults_distinguish_unset_and_empty() {
        let e = env();
        assert_eq!(interpolate_str("${UNSET:-d}", &e).unwrap(), "d");
        assert_eq!(interpolate_str("${EMPTY:-d}", &e).unwrap(), "d");
        assert_eq!(interpolate_str("${EMPTY-d}", &e).unwrap(), "");
        assert_eq!(interpolate_str("${UNSET-d}", &e).unwrap(), "d");
        assert_eq!(interpolate_str("${SET:-d}", &e).unwrap(), "val");
        assert_eq!(interpolate_str("${UNSET:-${SET}}", &e).unwrap(), "val");
        assert_eq!(interpolate_str("${SET:+alt}", &e).unwrap(), "alt");
        assert_eq!(interpolate_str("${EMPTY:+alt}", &e).unwrap(), "");
        assert_eq!(interpolate_str("${EMPTY+alt}", &e).unwrap(), "alt");
    }

    #[test]
    fn required_variables() {
        let e = env();
        let err = interpolate_str("${UNSET:?set it please}", &e).unwrap_err();
        assert!(
            err.contains("UNSET") && err.contains("set it please"),
            "{err}"
        );
        assert!(interpolate_str("${EMPTY:?x}", &e).is_err());
        assert_eq!(interpolate_str("${EMPTY?x}", &e).unwrap(), "");
        assert!(interpolate_str("${UNSET?x}", &e).is_err());
    }

    #[test]
    fn bad_syntax_is_an_error() {
        let e = env();
        assert!(interpolate_str("${SET", &e).is_err());
        assert!(interpolate_str("${1X}", &e).is_err());
        assert!(interpolate_str("cost $5", &e).is_err());
        assert!(interpolate_str("${SET!x}", &e).is_err());
    }

    #[test]
    fn values_carry_their_path() {
        let e = env();
        let mut v =
            serde_json::json!({"services": {"web": {"image": "${NOPE:?no image}", "n": 3}}});
        let (path, msg) = interpolate_value(&mut v, &e, "").unwrap_err();
        assert_eq!(path, "services.web.image");
        assert!(msg.contains("no image"));
        let mut v = serde_json::json!({"a": ["${SET}", {"b": "$SET"}]});
        interpolate_value(&mut v, &e, "").unwrap();
        assert_eq!(v, serde_json::json!({"a": ["val", {"b": "val"}]}));
    }
}
