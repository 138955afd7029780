//! Docker's word processing for instructions it expands (`ENV`, `ARG`, `COPY`, `WORKDIR` …):
//! quote removal, escapes and `$VAR` / `${VAR}` / `${VAR:-d}` / `${VAR:+a}` substitution.
//! RUN/CMD/ENTRYPOINT are not processed here: their shell does it.

use crate::error::{BuildError, Result};

/// Looks a variable up; `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands `s` as one word (quotes removed, variables substituted, no splitting).
pub fn word(s: &str, escape: char, env: Lookup<'_>) -> Result<String> {
    Ok(process(s, escape, env, false)?.join(" "))
}

/// Expands `s` and splits it into words on unquoted whitespace.
pub fn words(s: &str, escape: char, env: Lookup<'_>) -> Result<Vec<String>> {
    process(s, escape, env, true)
}

/// Splits `s` into raw words on unquoted whitespace, keeping quotes and escapes (for
/// `ENV a=b c="d e"` before each value is processed).
pub fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => {
                any = true;
                cur.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn process(s: &str, escape: char, env: Lookup<'_>, split: bool) -> Result<Vec<String>> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_word = true;
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                cur.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err(BuildError::Syntax(
                    "unexpected end of statement while looking for matching single-quote".into(),
                ));
            }
            i += 1;
        } else if c == '"' {
            in_word = true;
            i += 1;
            loop {
                if i >= chars.len() {
                    return Err(BuildError::Syntax(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ));
                }
                let d = chars[i];
                if d == '"' {
                    i += 1;
                    break;
                }
                if d == escape && i + 1 < chars.len() {
                    let n = chars[i + 1];
                    if n == '"' || n == '$' || n == escape {
                        cur.push(n);
                        i += 2;
                        continue;
                    }
                }
                if d == '$' {
                    let (val, next) = dollar(&chars, i, escape, env)?;
                    cur.push_str(&val);
                    i = next;
                    continue;
                }
                cur.push(d);
                i += 1;
            }
        } else if c == escape {
            in_word = true;
            if i + 1 < chars.len() {
                cur.push(chars[i + 1]);
                i += 2;
            } else {
                i += 1;
            }
        } else if c == '$' {
            let (val, next) = dollar(&chars, i, escape, env)?;
            if split {
                // Unquoted expansions are split on whitespace.
                let mut parts = val.split_whitespace().peekable();
                let starts_ws = val.starts_with(char::is_whitespace);
                if starts_ws && in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                while let Some(p) = parts.next() {
                    cur.push_str(p);
                    in_word = true;
                    if parts.peek().is_some() {
                        words.push(std::mem::take(&mut cur));
                    }
                }
                if val.ends_with(char::is_whitespace) && in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            } else {
                cur.push_str(&val);
                in_word = true;
            }
            i = next;
        } else if split && c.is_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
            i += 1;
        } else {
            cur.push(c);
            in_word = true;
            i += 1;
        }
    }
    if in_word || (!split && words.is_empty()) {
        words.push(cur);
    }
    Ok(words)
}

/// Expands the `$…` at `chars[i]`; returns the value and the index after it.
fn dollar(chars: &[char], i: usize, escape: char, env: Lookup<'_>) -> Result<(String, usize)> {
    let mut j = i + 1;
    if j >= chars.len() {
        return Ok(("$".into(), j));
    }
    if chars[j] == '{' {
        j += 1;
        let start = j;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let name: String = chars[start..j].iter().collect();
        if name.is_empty() {
            return Err(BuildError::Syntax(format!(
                "bad substitution in {}",
                chars.iter().collect::<String>()
            )));
        }
        if j < chars.len() && chars[j] == '}' {
            return Ok((env(&name).unwrap_or_default(), j + 1));
        }
        // Modifier: `:-`, `:+`, `:?`, `-`, `+`, `?`.
        let mut colon = false;
        if j < chars.len() && chars[j] == ':' {
            colon = true;
            j += 1;
        }
        let Some(&op) = chars.get(j) else {
            return Err(BuildError::Syntax(
                "missing '}' in variable substitution".into(),
            ));
        };
        if !matches!(op, '-' | '+' | '?') {
            return Err(BuildError::Syntax(format!(
                "unsupported modifier ({op}) in substitution"
            )));
        }
        j += 1;
        // The word runs to the matching '}' (nested braces counted).
        let wstart = j;
        let mut depth = 0;
        while j < chars.len() {
            match chars[j] {
                c if c == escape => j += 1,
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        if j >= chars.len() {
            return Err(BuildError::Syntax(
                "missing '}' in variable substitution".into(),
            ));
        }
        let raw: String = chars[wstart..j].iter().collect();
        let alt = word(&raw, escape, env)?;
        let val = env(&name);
        let set = match (&val, colon) {
            (Some(v), true) => !v.is_empty(),
            (Some(_), false) => true,
            (None, _) => false,
        };
        let out = match op {
            '-' => {
                if set {
                    val.unwrap_or_default()
                } else {
                    alt
                }
            }
            '+' => {
                if set {
                    alt
                } else {
                    String::new()
                }
            }
            _ => {
                if set {
                    val.unwrap_or_default()
                } else {
                    return Err(BuildError::Syntax(format!(
                        "{name}: {}",
                        if alt.is_empty() {
                            "is not allowed to be unset"
                        } else {
                            &alt
                        }
                    )));
                }
            }
        };
        return Ok((out, j + 1));
    }
    let start = j;
    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if j == start {
        return Ok(("$".into(), j));
    }
    let name: String = chars[start..j].iter().collect();
    Ok((env(&name).unwrap_or_default(), j))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("x".into()),
            "E" => Some(String::new()),
            "S" => Some("a b".into()),
            _ => None,
        }
    }

    #[test]
    fn substitution_forms() {
        let e: Lookup = &env;
        assert_eq!(word("$A", '\\', e).unwrap(), "x");
        assert_eq!(word("${A}y", '\\', e).unwrap(), "xy");
        assert_eq!(word("${N:-d}", '\\', e).unwrap(), "d");
        assert_eq!(word("${E:-d}", '\\', e).unwrap(), "d");
        assert_eq!(word("${E-d}", '\\', e).unwrap(), "");
        assert_eq!(word("${A:+alt}", '\\', e).unwrap(), "alt");
        assert_eq!(word("${N:+alt}", '\\', e).unwrap(), "");
        assert_eq!(word("${N:-${A}z}", '\\', e).unwrap(), "xz");
        assert_eq!(word("'$A'", '\\', e).unwrap(), "$A");
        assert_eq!(word("\"$A b\"", '\\', e).unwrap(), "x b");
        assert_eq!(word("\\$A", '\\', e).unwrap(), "$A");
        assert_eq!(word("`$A", '`', e).unwrap(), "$A");
        assert!(word("${N:?must be set}", '\\', e).is_err());
        assert!(word("${A", '\\', e).is_err());
    }

    #[test]
    fn splitting() {
        let e: Lookup = &env;
        assert_eq!(
            words("a \"b c\" $S", '\\', e).unwrap(),
            ["a", "b c", "a", "b"]
        );
        assert_eq!(
            split_raw("a=1 b=\"x y\" c='z'", '\\'),
            ["a=1", "b=\"x y\"", "c='z'"]
        );
    }
}
