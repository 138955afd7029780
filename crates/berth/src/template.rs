//! A subset of Go's text/template, enough for `inspect -f` and `--format`.
//!
//! Supported: text, `{{.}}`, field paths `{{.A.B}}`, variables (`$`, `$x := …`,
//! `range $k, $v := …`), pipelines `{{.A | json}}`, parenthesised expressions with a
//! trailing field (`{{(index .A 0).B}}`), `if`/`else if`/`else`, `range` (with `else`),
//! `with`, trim markers `{{-`/`-}}`, and the functions `json`, `upper`, `lower`, `title`,
//! `len`, `index`, `join`, `split`, `print`, `println`, `printf` (%s %d %v %q), `eq`,
//! `ne`, `lt`, `le`, `gt`, `ge`, `not`, `and`, `or`.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

/// Renders `template` against `data`.
pub fn render(template: &str, data: &Value) -> Result<String> {
    let pieces = split(template)?;
    let mut pos = 0;
    let nodes = parse_nodes(&pieces, &mut pos, &[])?;
    if pos < pieces.len() {
        bail!("template: unexpected {{{{{}}}}}", describe(&pieces[pos]));
    }
    let mut out = String::new();
    let mut vars = vec![HashMap::from([("$".to_string(), data.clone())])];
    exec_nodes(&nodes, data, &mut vars, &mut out)?;
    Ok(out)
}

/// Raw template pieces: text or the inside of one action.
enum Piece {
    Text(String),
    Action(String),
}

fn describe(p: &Piece) -> String {
    match p {
        Piece::Text(t) => t.clone(),
        Piece::Action(a) => a.clone(),
    }
}

fn split(template: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = template;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let after = &rest[start + 2..];
        let end = find_close(after).ok_or_else(|| anyhow!("template: unclosed action"))?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix('-') {
            if a.starts_with(char::is_whitespace) {
                action = a;
                text = text.trim_end().to_string();
            }
        }
        trim_next = false;
        if let Some(a) = action.strip_suffix('-') {
            if a.ends_with(char::is_whitespace) {
                action = a;
                trim_next = true;
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        pieces.push(Piece::Action(action.trim().to_string()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

/// Finds the closing `}}` of an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i] == b'}' && b.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone)]
enum Tok {
    Field(Vec<String>),
    Chain(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(f64, bool),
    Bool(bool),
    Nil,
    Ident(String),
    LParen,
    RParen,
    Pipe,
    Assign,
    Comma,
}

fn path_of(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

fn lex(s: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let word_end = |mut j: usize| {
        while j < chars.len()
            && !chars[j].is_whitespace()
            && !matches!(chars[j], '(' | ')' | '|' | ',')
        {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
                if chars.get(i) == Some(&'.') {
                    let j = word_end(i);
                    let w: String = chars[i..j].iter().collect();
                    toks.push(Tok::Chain(path_of(&w)));
                    i = j;
                }
            }
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Assign);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '"' => {
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
            }
            '`' => {
                let j = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '`')
                    .map(|p| p + i + 1)
                    .ok_or_else(|| anyhow!("template: unterminated raw string"))?;
                toks.push(Tok::Str(chars[i + 1..j].iter().collect()));
                i = j + 1;
            }
            _ => {
                let j = word_end(i);
                let w: String = chars[i..j].iter().collect();
                i = j;
                if w.starts_with('.') {
                    toks.push(Tok::Field(path_of(&w)));
                } else if let Some(v) = w.strip_prefix('$') {
                    let (name, path) = match v.split_once('.') {
                        Some((n, p)) => (n, path_of(p)),
                        None => (v, Vec::new()),
                    };
                    toks.push(Tok::Var(format!("${name}"), path));
                } else if w == "true" || w == "false" {
                    toks.push(Tok::Bool(w == "true"));
                } else if w == "nil" {
                    toks.push(Tok::Nil);
                } else if let Ok(n) = w.parse::<i64>() {
                    toks.push(Tok::Num(n as f64, true));
                } else if let Ok(n) = w.parse::<f64>() {
                    toks.push(Tok::Num(n, false));
                } else {
                    toks.push(Tok::Ident(w));
                }
            }
        }
    }
    Ok(toks)
}

#[derive(Debug, Clone)]
enum Operand {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Lit(Value),
    Func(String),
    Paren(Pipeline, Vec<String>),
}

#[derive(Debug, Clone, Default)]
struct Pipeline {
    decl: Vec<String>,
    cmds: Vec<Vec<Operand>>,
}

fn parse_pipeline(toks: &[Tok]) -> Result<Pipeline> {
    let mut p = Pipeline::default();
    let mut body = toks;
    // Declarations: `$x :=` or `$i, $e :=`.
    if let Some(pos) = toks.iter().position(|t| matches!(t, Tok::Assign)) {
        let names: Vec<String> = toks[..pos]
            .iter()
            .filter_map(|t| match t {
                Tok::Var(n, path) if path.is_empty() => Some(n.clone()),
                _ => None,
            })
            .collect();
        if !names.is_empty()
            && toks[..pos]
                .iter()
                .all(|t| matches!(t, Tok::Var(..) | Tok::Comma))
        {
            p.decl = names;
            body = &toks[pos + 1..];
        }
    }
    let mut i = 0;
    p.cmds = parse_cmds(body, &mut i, false)?;
    if p.cmds.is_empty() {
        bail!("template: missing value for command");
    }
    Ok(p)
}

fn parse_cmds(toks: &[Tok], i: &mut usize, in_paren: bool) -> Result<Vec<Vec<Operand>>> {
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    while *i < toks.len() {
        let t = toks[*i].clone();
        *i += 1;
        match t {
            Tok::Pipe => {
                if cur.is_empty() {
                    bail!("template: missing command before |");
                }
                cmds.push(std::mem::take(&mut cur));
            }
            Tok::RParen => {
                if !in_paren {
                    bail!("template: unexpected )");
                }
                if !cur.is_empty() {
                    cmds.push(cur);
                }
                return Ok(cmds);
            }
            Tok::LParen => {
                let inner = parse_cmds(toks, i, true)?;
                let chain = match toks.get(*i) {
                    Some(Tok::Chain(p)) => {
                        *i += 1;
                        p.clone()
                    }
                    _ => Vec::new(),
                };
                cur.push(Operand::Paren(
                    Pipeline {
                        decl: Vec::new(),
                        cmds: inner,
                    },
                    chain,
                ));
            }
            Tok::Field(p) => cur.push(Operand::Field(p)),
            Tok::Var(n, p) => cur.push(Operand::Var(n, p)),
            Tok::Str(s) => cur.push(Operand::Lit(Value::String(s))),
            Tok::Num(n, int) => cur.push(Operand::Lit(if int {
                Value::from(n as i64)
            } else {
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            })),
            Tok::Bool(b) => cur.push(Operand::Lit(Value::Bool(b))),
            Tok::Nil => cur.push(Operand::Lit(Value::Null)),
            Tok::Ident(f) => cur.push(Operand::Func(f)),
            Tok::Chain(_) | Tok::Assign | Tok::Comma => bail!("template: unexpected token"),
        }
    }
    if in_paren {
        bail!("template: unclosed (");
    }
    if !cur.is_empty() {
        cmds.push(cur);
    }
    Ok(cmds)
}

enum Node {
    Text(String),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

fn keyword(action: &str) -> (&str, &str) {
    let mut it = action.splitn(2, char::is_whitespace);
    let first = it.next().unwrap_or_default();
    (first, it.next().unwrap_or_default().trim())
}

/// Parses nodes until one of `stops` (`end`, `else`) is met; `pos` is left on it.
fn parse_nodes(pieces: &[Piece], pos: &mut usize, stops: &[&str]) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    while *pos < pieces.len() {
        match &pieces[*pos] {
            Piece::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                *pos += 1;
            }
            Piece::Action(a) => {
                let (kw, rest) = keyword(a);
                if stops.contains(&kw) {
                    return Ok(nodes);
                }
                *pos += 1;
                if a.starts_with("/*") {
                    continue;
                }
                match kw {
                    "if" => {
                        let mut branches = vec![(parse_pipeline(&lex(rest)?)?, Vec::new())];
                        let mut otherwise = Vec::new();
                        loop {
                            let body = parse_nodes(pieces, pos, &["else", "end"])?;
                            if let Some(last) = branches.last_mut() {
                                last.1 = body;
                            }
                            let Some(Piece::Action(a)) = pieces.get(*pos) else {
                                bail!("template: unexpected EOF in if");
                            };
                            *pos += 1;
                            let (kw, rest) = keyword(a);
                            if kw == "end" {
                                break;
                            }
                            let (kw2, rest2) = keyword(rest);
                            if kw2 == "if" {
                                branches.push((parse_pipeline(&lex(rest2)?)?, Vec::new()));
                                continue;
                            }
                            otherwise = parse_nodes(pieces, pos, &["end"])?;
                            if pieces.get(*pos).is_none() {
                                bail!("template: unexpected EOF in if");
                            }
                            *pos += 1;
                            break;
                        }
                        nodes.push(Node::If(branches, otherwise));
                    }
                    "range" | "with" => {
                        let pipe = parse_pipeline(&lex(rest)?)?;
                        let body = parse_nodes(pieces, pos, &["else", "end"])?;
                        let Some(Piece::Action(a)) = pieces.get(*pos) else {
                            bail!("template: unexpected EOF in {kw}");
                        };
                        *pos += 1;
                        let mut otherwise = Vec::new();
                        if keyword(a).0 == "else" {
                            otherwise = parse_nodes(pieces, pos, &["end"])?;
                            if pieces.get(*pos).is_none() {
                                bail!("template: unexpected EOF in {kw}");
                            }
                            *pos += 1;
                        }
                        nodes.push(if kw == "range" {
                            Node::Range(pipe, body, otherwise)
                        } else {
                            Node::With(pipe, body, otherwise)
                        });
                    }
                    "end" | "else" => bail!("template: unexpected {{{{{kw}}}}}"),
                    "define" | "template" | "block" => {
                        bail!("template: {kw} is not supported")
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(&lex(a)?)?)),
                }
            }
        }
    }
    Ok(nodes)
}

type Vars = Vec<HashMap<String, Value>>;

fn lookup_var(vars: &Vars, name: &str) -> Result<Value> {
    vars.iter()
        .rev()
        .find_map(|scope| scope.get(name).cloned())
        .ok_or_else(|| anyhow!("template: undefined variable: {name}"))
}

fn set_var(vars: &mut Vars, name: &str, v: Value) {
    if let Some(scope) = vars.last_mut() {
        scope.insert(name.to_string(), v);
    }
}

fn walk(mut v: Value, path: &[String]) -> Value {
    for part in path {
        v = match v.get(part.as_str()) {
            Some(x) => x.clone(),
            None => return Value::Null,
        };
    }
    v
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn exec_nodes(nodes: &[Node], dot: &Value, vars: &mut Vars, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipeline(p, dot, vars)?;
                if p.decl.is_empty() {
                    out.push_str(&to_text(&v));
                } else {
                    for name in &p.decl {
                        set_var(vars, name, v.clone());
                    }
                }
            }
            Node::If(branches, otherwise) => {
                let mut done = false;
                for (cond, body) in branches {
                    if truthy(&eval_pipeline(cond, dot, vars)?) {
                        scoped(body, dot, vars, out)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    scoped(otherwise, dot, vars, out)?;
                }
            }
            Node::With(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, vars)?;
                if truthy(&v) {
                    scoped(body, &v, vars, out)?;
                } else {
                    scoped(otherwise, dot, vars, out)?;
                }
            }
            Node::Range(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, vars)?;
                let items: Vec<(Value, Value)> = match &v {
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Value::from(i), x.clone()))
                        .collect(),
                    Value::Object(o) => {
                        let mut keys: Vec<&String> = o.keys().collect();
                        keys.sort();
                        keys.into_iter()
                            .map(|k| (Value::String(k.clone()), o[k.as_str()].clone()))
                            .collect()
                    }
                    Value::Number(n) => (0..n.as_i64().unwrap_or(0))
                        .map(|i| (Value::from(i), Value::from(i)))
                        .collect(),
                    Value::Null => Vec::new(),
                    other => bail!("template: range can't iterate over {}", to_text(other)),
                };
                if items.is_empty() {
                    scoped(otherwise, dot, vars, out)?;
                }
                for (key, item) in items {
                    vars.push(HashMap::new());
                    match p.decl.as_slice() {
                        [e] => set_var(vars, e, item.clone()),
                        [k, e, ..] => {
                            set_var(vars, k, key);
                            set_var(vars, e, item.clone());
                        }
                        [] => {}
                    }
                    let r = exec_nodes(body, &item, vars, out);
                    vars.pop();
                    r?;
                }
            }
        }
    }
    Ok(())
}

fn scoped(nodes: &[Node], dot: &Value, vars: &mut Vars, out: &mut String) -> Result<()> {
    vars.push(HashMap::new());
    let r = exec_nodes(nodes, dot, vars, out);
    vars.pop();
    r
}

fn eval_pipeline(p: &Pipeline, dot: &Value, vars: &Vars) -> Result<Value> {
    let mut piped: Option<Value> = None;
    for cmd in &p.cmds {
        piped = Some(eval_command(cmd, dot, vars, piped)?);
    }
    piped.ok_or_else(|| anyhow!("template: empty pipeline"))
}

fn eval_operand(op: &Operand, dot: &Value, vars: &Vars) -> Result<Value> {
    Ok(match op {
        Operand::Field(path) => walk(dot.clone(), path),
        Operand::Var(name, path) => walk(lookup_var(vars, name)?, path),
        Operand::Lit(v) => v.clone(),
        Operand::Paren(p, path) => walk(eval_pipeline(p, dot, vars)?, path),
        Operand::Func(f) => call(f, Vec::new())?,
    })
}

fn eval_command(cmd: &[Operand], dot: &Value, vars: &Vars, piped: Option<Value>) -> Result<Value> {
    let Some(first) = cmd.first() else {
        bail!("template: empty command");
    };
    if let Operand::Func(name) = first {
        let mut args = cmd[1..]
            .iter()
            .map(|o| eval_operand(o, dot, vars))
            .collect::<Result<Vec<_>>>()?;
        args.extend(piped);
        return call(name, args);
    }
    if cmd.len() > 1 || piped.is_some() {
        bail!("template: can't give argument to non-function");
    }
    eval_operand(first, dot, vars)
}

fn cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn printf(args: &[Value]) -> Result<String> {
    let Some(fmt) = args.first().and_then(Value::as_str) else {
        bail!("template: printf needs a format string");
    };
    let mut out = String::new();
    let mut rest = args[1..].iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&crate::format::go_quote(&to_text(
                rest.next().unwrap_or(&Value::Null),
            ))),
            Some(_) => out.push_str(&to_text(rest.next().unwrap_or(&Value::Null))),
            None => out.push('%'),
        }
    }
    Ok(out)
}

fn call(name: &str, args: Vec<Value>) -> Result<Value> {
    let arg = |i: usize| -> Result<&Value> {
        args.get(i)
            .ok_or_else(|| anyhow!("template: {name}: missing argument"))
    };
    Ok(match name {
        "json" => Value::String(serde_json::to_string(arg(0)?)?),
        "upper" => Value::String(to_text(arg(0)?).to_uppercase()),
        "lower" => Value::String(to_text(arg(0)?).to_lowercase()),
        "title" => {
            let t = to_text(arg(0)?);
            let mut c = t.chars();
            Value::String(match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            })
        }
        "len" => Value::from(match arg(0)? {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::String(s) => s.len(),
            _ => 0,
        }),
        "join" => {
            let sep = args.get(1).map(to_text).unwrap_or_default();
            let items: Vec<String> = arg(0)?
                .as_array()
                .map(|a| a.iter().map(to_text).collect())
                .unwrap_or_default();
            Value::String(items.join(&sep))
        }
        "split" => {
            let s = to_text(arg(0)?);
            let sep = to_text(arg(1)?);
            Value::Array(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect(),
            )
        }
        "index" => {
            let mut cur = arg(0)?.clone();
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
        "print" => Value::String(args.iter().map(to_text).collect::<Vec<_>>().concat()),
        "println" => Value::String(args.iter().map(to_text).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => Value::String(printf(&args)?),
        "eq" => {
            let a = arg(0)?;
            Value::Bool(
                args[1..]
                    .iter()
                    .any(|b| b == a || cmp(a, b) == Some(std::cmp::Ordering::Equal)),
            )
        }
        "ne" => Value::Bool(arg(0)? != arg(1)?),
        "lt" | "le" | "gt" | "ge" => {
            let o = cmp(arg(0)?, arg(1)?)
                .ok_or_else(|| anyhow!("template: {name}: incompatible types"))?;
            Value::Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "not" => Value::Bool(!truthy(arg(0)?)),
        "and" => args
            .iter()
            .find(|v| !truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|v| truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
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
               "Config": {"Hostname": "h", "Cmd": ["sh", "-c"], "Labels": {"b": "2", "a": "1"}},
               "Mounts": [{"Source": "/s1", "Destination": "/d1"}, {"Source": "/s2", "Destination": "/d2"}],
               "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}})
    }

    fn r(t: &str) -> String {
        render(t, &data()).unwrap()
    }

    #[test]
    fn fields_and_text() {
        assert_eq!(r("{{.Id}}"), "abc");
        assert_eq!(
            r("code={{.State.ExitCode}} {{.State.Running}}"),
            "code=3 false"
        );
        assert_eq!(r("{{.Config.Cmd}}"), "[sh -c]");
        assert_eq!(r("{{.Nope}}"), "<no value>");
        assert_eq!(r("{{.Config.Labels}}"), "map[a:1 b:2]");
        assert_eq!(r("{{ .Id }}"), "abc");
    }

    #[test]
    fn functions() {
        assert_eq!(r("{{json .Config.Cmd}}"), r#"["sh","-c"]"#);
        assert_eq!(r("{{.Config.Cmd | json}}"), r#"["sh","-c"]"#);
        assert_eq!(r(r#"{{index .Config.Labels "a"}}"#), "1");
        assert_eq!(r(r#"{{join .Config.Cmd ","}}"#), "sh,-c");
        assert_eq!(r("{{upper .Id}}"), "ABC");
        assert_eq!(r(r#"{{printf "%s-%d" .Id .State.ExitCode}}"#), "abc-3");
        assert!(render("{{nofunc .Id}}", &data()).is_err());
    }

    #[test]
    fn control_flow() {
        assert_eq!(
            r("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}"),
            "/s1:/d1 /s2:/d2 "
        );
        assert_eq!(
            r("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}"),
            "a=1;b=2;"
        );
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}"), "down");
        assert_eq!(
            r("{{if eq .State.ExitCode 3}}three{{else if eq .State.ExitCode 4}}four{{end}}"),
            "three"
        );
        assert_eq!(r("{{with .Config}}{{.Hostname}}{{end}}"), "h");
        assert_eq!(r("{{range .Nope}}x{{else}}empty{{end}}"), "empty");
        assert_eq!(
            r(r#"{{(index (index .Ports "80/tcp") 0).HostPort}}"#),
            "8080"
        );
        assert_eq!(r("{{$x := .Id}}{{$x}}-{{$.Id}}"), "abc-abc");
        assert_eq!(r("a {{- .Id -}} b"), "aabcb");
        assert!(render("{{if .Id}}x", &data()).is_err());
        assert!(render("{{end}}", &data()).is_err());
    }
}
