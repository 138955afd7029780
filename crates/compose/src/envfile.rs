//! `.env` and `env_file` files: `KEY=VALUE` lines, `#` comments, blank lines, an optional
//! `export ` prefix, single- or double-quoted values; a bare `KEY` takes the shell's value.

use indexmap::IndexMap;

use crate::error::{ComposeError, Result};

/// Parses an env file's text; `path` is only used in errors. A bare `KEY` maps to `None`.
pub fn parse(text: &str, path: &str) -> Result<IndexMap<String, Option<String>>> {
    let mut out = IndexMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v.trim()))),
            None => (line, None),
        };
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        if !valid {
            return Err(ComposeError::EnvFile {
                path: path.to_string(),
                line: i + 1,
                message: format!("invalid variable name {key:?}"),
            });
        }
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        let inner = &v[1..v.len() - 1];
        if v.starts_with('"') {
            return inner.replace("\\n", "\n").replace("\\\"", "\"");
        }
        return inner.to_string();
    }
    // an unquoted value ends at ` #`
    match v.find(" #") {
        Some(i) => v[..i].trim_end().to_string(),
        None => v.to_string(),
    }
}

/// Reads an env file from disk.
pub fn read(path: &std::path::Path) -> Result<IndexMap<String, Option<String>>> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let m = parse(
            "# c\nA=1\nexport B = two \nC=\"x y\"\nD='$E'\nF=v # note\nG\n\n",
            "f",
        )
        .unwrap();
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"].as_deref(), Some("two"));
        assert_eq!(m["C"].as_deref(), Some("x y"));
        assert_eq!(m["D"].as_deref(), Some("$E"));
        assert_eq!(m["F"].as_deref(), Some("v"));
        assert_eq!(m["G"], None);
    }

    #[test]
    fn bad_names_name_the_line() {
        let e = parse("A=1\n1B=2\n", ".env").unwrap_err().to_string();
        assert!(e.contains(".env:2"), "{e}");
    }
}
