//! The Dockerfile parser: parser directives, comments, line continuations, heredocs, flags and
//! JSON (exec) vs shell form. Instruction-specific meaning is given by [`crate::instr`].

use crate::error::{BuildError, Result};

/// Every instruction keyword the builder knows.
pub const KEYWORDS: [&str; 18] = [
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "COPY",
    "ADD",
    "EXPOSE",
    "VOLUME",
    "LABEL",
    "HEALTHCHECK",
    "SHELL",
    "STOPSIGNAL",
    "ONBUILD",
    "MAINTAINER",
];

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// `# syntax=` directive, if any (recorded, not acted on).
    pub syntax: Option<String>,
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// Instructions in order.
    pub instructions: Vec<Instruction>,
}

/// A heredoc attached to an instruction (`<<EOF` … `EOF`).
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The delimiter word.
    pub name: String,
    /// The body (each line with its newline).
    pub content: String,
    /// Whether variables are expanded in it (unquoted delimiter).
    pub expand: bool,
}

/// The argument part of an instruction.
#[derive(Debug, Clone, PartialEq)]
pub enum Args {
    /// JSON array form `["a", "b"]`.
    Exec(Vec<String>),
    /// Anything else, verbatim (continuations joined).
    Shell(String),
}

/// One instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// 1-based line where it starts.
    pub line: usize,
    /// Upper-case keyword.
    pub keyword: String,
    /// `--name=value` flags before the arguments (`--name` alone has an empty value).
    pub flags: Vec<(String, String)>,
    /// The arguments.
    pub args: Args,
    /// Heredocs, in the order they were opened.
    pub heredocs: Vec<Heredoc>,
    /// The instruction as written (keyword, flags, args; continuations joined), for step
    /// messages, history and cache keys.
    pub original: String,
}

impl Instruction {
    /// The value of flag `name` (last wins).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The argument text (JSON form re-joined with spaces).
    pub fn text(&self) -> String {
        match &self.args {
            Args::Shell(s) => s.clone(),
            Args::Exec(v) => v.join(" "),
        }
    }
}

fn parse_err(line: usize, message: impl Into<String>) -> BuildError {
    BuildError::Parse {
        line,
        message: message.into(),
    }
}

/// Reads leading parser directives; returns (syntax, escape, index of the first other line).
fn directives(lines: &[&str]) -> Result<(Option<String>, char, usize)> {
    let mut syntax = None;
    let mut escape = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        let Some(rest) = t.strip_prefix('#') else {
            return Ok((syntax, escape.unwrap_or('\\'), i));
        };
        let Some((k, v)) = rest.split_once('=') else {
            return Ok((syntax, escape.unwrap_or('\\'), i));
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().to_string();
        if k.contains(char::is_whitespace) || k.is_empty() {
            return Ok((syntax, escape.unwrap_or('\\'), i));
        }
        match k.as_str() {
            "syntax" if syntax.is_none() => syntax = Some(v),
            "escape" if escape.is_none() => {
                escape = Some(match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(parse_err(
                            i + 1,
                            format!("invalid escape token '{v}' does not match ` or \\"),
                        ))
                    }
                })
            }
            "syntax" | "escape" => {
                return Err(parse_err(
                    i + 1,
                    format!("only one {k} parser directive can be used"),
                ))
            }
            _ => return Ok((syntax, escape.unwrap_or('\\'), i)),
        }
    }
    Ok((syntax, escape.unwrap_or('\\'), lines.len()))
}

/// Whether a (trimmed-right) line ends with an unescaped escape char (a continuation).
fn continues(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end();
    let body = t.strip_suffix(escape)?;
    // `\\` at the end is an escaped escape, not a continuation.
    let n = body.chars().rev().take_while(|&c| c == escape).count();
    if n % 2 == 1 {
        return None;
    }
    Some(body)
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Finds heredoc openers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`) outside quotes.
fn heredoc_openers(s: &str) -> Vec<(String, bool, bool)> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == '<' && chars.get(i + 1) == Some(&'<') && chars.get(i + 2) != Some(&'<') {
            let mut j = i + 2;
            let strip = chars.get(j) == Some(&'-');
            if strip {
                j += 1;
            }
            let q = match chars.get(j) {
                Some(&c) if c == '"' || c == '\'' => {
                    j += 1;
                    Some(c)
                }
                _ => None,
            };
            let start = j;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > start {
                let name: String = chars[start..j].iter().collect();
                if let Some(q) = q {
                    if chars.get(j) != Some(&q) {
                        i = j;
                        continue;
                    }
                    j += 1;
                }
                out.push((name, strip, q.is_none()));
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// Splits leading `--flag[=value]` words off the argument text.
fn split_flags(mut rest: &str) -> (Vec<(String, String)>, &str) {
    let mut flags = Vec::new();
    loop {
        let t = rest.trim_start();
        if !t.starts_with("--") {
            return (flags, t);
        }
        let end = t.find(char::is_whitespace).unwrap_or(t.len());
        let word = &t[2..end];
        match word.split_once('=') {
            Some((k, v)) => flags.push((k.to_string(), v.to_string())),
            None => flags.push((word.to_string(), String::new())),
        }
        rest = &t[end..];
    }
}

/// Parses the argument text as a JSON array of strings when it looks like one.
fn exec_form(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') || !t.ends_with(']') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Parses a whole Dockerfile.
pub fn parse(src: &str) -> Result<Dockerfile> {
    let lines: Vec<&str> = src.lines().collect();
    let (syntax, escape, first) = directives(&lines)?;
    let mut instructions = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || is_comment(line) {
            i += 1;
            continue;
        }
        let start = i + 1;
        // Join continuation lines; comment and empty lines inside are dropped.
        let mut logical = String::new();
        let mut cur = line;
        loop {
            match continues(cur, escape) {
                Some(body) => {
                    logical.push_str(body);
                    i += 1;
                    while i < lines.len() && (is_comment(lines[i]) || lines[i].trim().is_empty()) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i];
                }
                None => {
                    logical.push_str(cur);
                    i += 1;
                    break;
                }
            }
        }
        let logical = logical.trim();
        let (kw, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], &logical[p..]),
            None => (logical, ""),
        };
        let keyword = kw.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(parse_err(start, format!("unknown instruction: {kw}")));
        }
        let (flags, argtext) = split_flags(rest);
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") && exec_form(argtext).is_none() {
            for (name, strip, expand) in heredoc_openers(argtext) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let cmp = if strip { l.trim_start_matches('\t') } else { l };
                    if cmp == name {
                        closed = true;
                        break;
                    }
                    content.push_str(cmp);
                    content.push('\n');
                }
                if !closed {
                    return Err(parse_err(
                        start,
                        format!("unterminated heredoc <<{name} (no line {name} before the end of the Dockerfile)"),
                    ));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        let args = match exec_form(argtext) {
            Some(v) => Args::Exec(v),
            None => Args::Shell(argtext.to_string()),
        };
        if matches!(args, Args::Shell(ref s) if s.is_empty())
            && !matches!(keyword.as_str(), "CMD" | "ENTRYPOINT" | "HEALTHCHECK")
        {
            return Err(parse_err(
                start,
                format!("{keyword} requires at least one argument"),
            ));
        }
        instructions.push(Instruction {
            line: start,
            keyword,
            flags,
            args,
            heredocs,
            original: logical.to_string(),
        });
    }
    Ok(Dockerfile {
        syntax,
        escape,
        instructions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_forms() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\nFROM busybox AS b\n# comment\nRUN echo a \\\n  # inner comment\n  && echo b\nCMD [\"sh\", \"-c\", \"x\"]\nentrypoint echo hi\n",
        )
        .unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.instructions.len(), 4);
        assert_eq!(df.instructions[1].keyword, "RUN");
        assert_eq!(df.instructions[1].line, 5);
        assert_eq!(
            df.instructions[1].args,
            Args::Shell("echo a   && echo b".into())
        );
        assert_eq!(
            df.instructions[2].args,
            Args::Exec(vec!["sh".into(), "-c".into(), "x".into()])
        );
        assert_eq!(df.instructions[3].keyword, "ENTRYPOINT");
        assert_eq!(df.instructions[3].line, 9);
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(
            df.instructions[1].args,
            Args::Shell("dir c:\\   && echo".into())
        );
        // A directive after an instruction is just a comment.
        let df = parse("FROM x\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.instructions[1].args, Args::Shell("a  b".into()));
    }

    #[test]
    fn flags() {
        let df = parse("COPY --from=build --chown=1:2 /a /b\n").unwrap();
        let i = &df.instructions[0];
        assert_eq!(i.flag("from"), Some("build"));
        assert_eq!(i.flag("chown"), Some("1:2"));
        assert_eq!(i.args, Args::Shell("/a /b".into()));
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM x\nRUN <<EOF\necho $A\nEOF\nCOPY <<-'END' /f\n\thello\n\tEND\nRUN cat <<A <<B\n1\nA\n2\nB\nCMD x\n",
        )
        .unwrap();
        let ins = &df.instructions;
        assert_eq!(ins.len(), 5);
        assert_eq!(ins[1].heredocs[0].content, "echo $A\n");
        assert!(ins[1].heredocs[0].expand);
        assert_eq!(ins[2].heredocs[0].content, "hello\n");
        assert!(!ins[2].heredocs[0].expand);
        assert_eq!(ins[3].heredocs.len(), 2);
        assert_eq!(ins[3].heredocs[1].content, "2\n");
        assert_eq!(ins[4].line, 13);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM x\n\nFOO bar\n").unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("unknown instruction: FOO"),
            "{e}"
        );
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("unterminated heredoc"),
            "{e}"
        );
        let e = parse("FROM x\nRUN\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
