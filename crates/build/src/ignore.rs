//! `.dockerignore`: patterns with Go `filepath.Match` syntax per path segment, `**` for any
//! number of segments, `!` exceptions; the last matching pattern decides, and a pattern that
//! matches a parent directory matches everything below it (docker's patternmatcher).

/// One pattern.
#[derive(Debug, Clone)]
struct Pattern {
    segs: Vec<String>,
    exclusion: bool,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// Lexically cleans a slash path (Go's `filepath.Clean`), without a leading `/`.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

impl Ignore {
    /// Parses the file's text (`#` comments, blank lines skipped).
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (exclusion, body) = match l.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, l),
            };
            let c = clean(body);
            if c.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                segs: c.split('/').map(str::to_string).collect(),
                exclusion,
            });
        }
        Ignore { patterns }
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let p = clean(path);
        if p.is_empty() {
            return false;
        }
        let segs: Vec<&str> = p.split('/').collect();
        let mut excluded = false;
        for pat in &self.patterns {
            let hit = (1..=segs.len()).any(|n| match_segs(&pat.segs, &segs[..n]));
            if hit {
                excluded = !pat.exclusion;
            }
        }
        excluded
    }
}

fn match_segs(pat: &[String], path: &[&str]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|k| match_segs(&pat[1..], &path[k..])),
        Some(p) => !path.is_empty() && glob(p, path[0]) && match_segs(&pat[1..], &path[1..]),
    }
}

/// Go's `filepath.Match` for one segment: `*`, `?`, `[...]` (ranges, `^` negation), `\` escape.
pub fn glob(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    let Some(&c) = p.first() else {
        return n.is_empty();
    };
    match c {
        '*' => (0..=n.len()).any(|k| glob_at(&p[1..], &n[k..])),
        '?' => !n.is_empty() && glob_at(&p[1..], &n[1..]),
        '[' => {
            let Some(&ch) = n.first() else { return false };
            let mut i = 1;
            let negate = matches!(p.get(1), Some('^') | Some('!'));
            if negate {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < p.len() && (p[i] != ']' || first) {
                first = false;
                let mut lo = p[i];
                if lo == '\\' && i + 1 < p.len() {
                    i += 1;
                    lo = p[i];
                }
                let mut hi = lo;
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&c| c != ']') {
                    hi = p[i + 2];
                    i += 2;
                }
                if lo <= ch && ch <= hi {
                    matched = true;
                }
                i += 1;
            }
            if i >= p.len() {
                return false; // malformed class
            }
            matched != negate && glob_at(&p[i + 1..], &n[1..])
        }
        '\\' if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        c => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_semantics() {
        assert!(glob("*.txt", "a.txt"));
        assert!(!glob("*.txt", "a.txt.bak"));
        assert!(glob("a?c", "abc"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[^a-c]x", "bx"));
        assert!(glob("\\*", "*"));
    }

    #[test]
    fn dockerignore_rules() {
        let ig = Ignore::parse(
            "# c\n*.log\n!keep.log\nbuild/\n**/tmp\n/secret\ndocs/*.md\n!docs/README.md\n",
        );
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(!ig.excluded("sub/a.log"), "* does not cross /");
        assert!(ig.excluded("build/x/y"));
        assert!(ig.excluded("tmp"));
        assert!(ig.excluded("a/b/tmp/c"));
        assert!(ig.excluded("secret"));
        assert!(ig.excluded("docs/x.md"));
        assert!(!ig.excluded("docs/README.md"));
        assert!(!ig.excluded("src/main.rs"));
        let ig = Ignore::parse("**\n!Dockerfile\n!src/**\n");
        assert!(ig.excluded("x"));
        assert!(!ig.excluded("Dockerfile"));
        assert!(!ig.excluded("src/a/b"));
    }
}
