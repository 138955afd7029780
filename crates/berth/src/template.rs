//! A small subset of Go's text/template, enough for `inspect -f`/`--format`.
//!
//! Supported: literal text, `{{.}}`, field paths `{{.A.B}}`, functions `json`, `upper`,
//! `lower`, `len`, `index X KEY...`, `join X SEP`, `title`, and pipelines `{{.A | json}}`.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

/// Renders `template` against `data`.
pub fn render(template: &str, data: &Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow!("template: unclosed action"))?;
        let mut action = &after[..end];
        // Whitespace trimming markers {{- and -}}.
        if let Some(a) = action.strip_prefix("- ") {
            action = a;
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
        }
        let mut trim_after = false;
        if let Some(a) = action.strip_suffix(" -") {
            action = a;
            trim_after = true;
        }
        let value = eval_pipeline(action.trim(), data)?;
        out.push_str(&to_text(&value));
        rest = &after[end + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn eval_pipeline(action: &str, data: &Value) -> Result<Value> {
    let mut value: Option<Value> = None;
    for stage in split_pipes(action) {
        let tokens = tokenize(stage.trim())?;
        if tokens.is_empty() {
            bail!("template: empty command");
        }
        value = Some(eval_command(&tokens, data, value)?);
    }
    value.ok_or_else(|| anyhow!("template: empty action"))
}

fn split_pipes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quote = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '|' if !in_quote => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[derive(Debug)]
enum Tok {
    Field(String),
    Str(String),
    Num(i64),
    Ident(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut j = i + 1;
            let mut text = String::new();
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' && j + 1 < chars.len() {
                    j += 1;
                    text.push(match chars[j] {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    text.push(chars[j]);
                }
                j += 1;
            }
            if j >= chars.len() {
                bail!("template: unterminated quoted string");
            }
            toks.push(Tok::Str(text));
            i = j + 1;
        } else {
            let mut j = i;
            while j < chars.len() && !chars[j].is_whitespace() {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            if word.starts_with('.') {
                toks.push(Tok::Field(word));
            } else if let Ok(n) = word.parse::<i64>() {
                toks.push(Tok::Num(n));
            } else {
                toks.push(Tok::Ident(word));
            }
            i = j;
        }
    }
    Ok(toks)
}

fn lookup(path: &str, data: &Value) -> Value {
    let mut cur = data;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return Value::Null,
        }
    }
    cur.clone()
}

fn arg_value(tok: &Tok, data: &Value) -> Result<Value> {
    Ok(match tok {
        Tok::Field(p) => lookup(p, data),
        Tok::Str(s) => Value::String(s.clone()),
        Tok::Num(n) => Value::from(*n),
        Tok::Ident(f) => bail!("template: function {f:?} used as a value"),
    })
}

fn eval_command(tokens: &[Tok], data: &Value, piped: Option<Value>) -> Result<Value> {
    let name = match &tokens[0] {
        Tok::Ident(name) => name.as_str(),
        other => {
            if tokens.len() > 1 {
                bail!("template: can't give arguments to a non-function");
            }
            return arg_value(other, data);
        }
    };
    let mut args = tokens[1..]
        .iter()
        .map(|t| arg_value(t, data))
        .collect::<Result<Vec<_>>>()?;
    if let Some(p) = piped {
        args.push(p);
    }
    let first = || {
        args.first()
            .cloned()
            .ok_or_else(|| anyhow!("template: {name}: missing argument"))
    };
    Ok(match name {
        "json" => Value::String(serde_json::to_string(&first()?)?),
        "upper" => Value::String(to_text(&first()?).to_uppercase()),
        "lower" => Value::String(to_text(&first()?).to_lowercase()),
        "title" => {
            let t = to_text(&first()?);
            let mut c = t.chars();
            Value::String(match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            })
        }
        "len" => Value::from(match first()? {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::String(s) => s.len(),
            _ => 0,
        }),
        "join" => {
            let list = first()?;
            let sep = args.get(1).map(to_text).unwrap_or_default();
            let items: Vec<String> = list
                .as_array()
                .map(|a| a.iter().map(to_text).collect())
                .unwrap_or_default();
            Value::String(items.join(&sep))
        }
        "index" => {
            let mut cur = first()?;
            for key in &args[1..] {
                cur = match key {
                    Value::Number(n) => n
                        .as_u64()
                        .and_then(|i| cur.get(i as usize).cloned())
                        .unwrap_or(Value::Null),
                    other => cur.get(to_text(other)).cloned().unwrap_or(Value::Null),
                };
            }
            cur
        }
        "println" => Value::String(args.iter().map(to_text).collect::<Vec<_>>().join(" ") + "\n"),
        "print" => Value::String(args.iter().map(to_text).collect::<Vec<_>>().concat()),
        other => bail!("template: function {other:?} not defined"),
    })
}

/// Go's `%v` rendering of a JSON value, as text/template prints it.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(to_text).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", k, to_text(&o[k.as_str()])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({"Id": "abc", "State": {"ExitCode": 3, "Running": false},
               "Config": {"Hostname": "h", "Cmd": ["sh", "-c"], "Labels": {"b": "2", "a": "1"}}})
    }

    #[test]
    fn fields_and_text() {
        assert_eq!(render("{{.Id}}", &data()).unwrap(), "abc");
        assert_eq!(
            render("code={{.State.ExitCode}} {{.State.Running}}", &data()).unwrap(),
            "code=3 false"
        );
        assert_eq!(render("{{.Config.Cmd}}", &data()).unwrap(), "[sh -c]");
        assert_eq!(render("{{.Nope}}", &data()).unwrap(), "<no value>");
        assert_eq!(
            render("{{.Config.Labels}}", &data()).unwrap(),
            "map[a:1 b:2]"
        );
    }

    #[test]
    fn functions() {
        assert_eq!(
            render("{{json .Config.Cmd}}", &data()).unwrap(),
            r#"["sh","-c"]"#
        );
        assert_eq!(
            render("{{.Config.Cmd | json}}", &data()).unwrap(),
            r#"["sh","-c"]"#
        );
        assert_eq!(
            render(r#"{{index .Config.Labels "a"}}"#, &data()).unwrap(),
            "1"
        );
        assert_eq!(
            render(r#"{{join .Config.Cmd ","}}"#, &data()).unwrap(),
            "sh,-c"
        );
        assert_eq!(render("{{upper .Id}}", &data()).unwrap(), "ABC");
        assert!(render("{{nofunc .Id}}", &data()).is_err());
    }
}
