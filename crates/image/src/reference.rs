//! Docker image references: parsing after Docker's grammar and normalisation.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component ( "/" path-component )*
//! domain     := host [ ":" port ]            (first component with '.', ':', "localhost" or upper case)
//! path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" hex
//! ```
//! Normalisation: no domain → `docker.io`; `index.docker.io` → `docker.io`; a one-component path
//! on `docker.io` gets `library/`; no tag and no digest → tag `latest`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The default registry domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The legacy default domain that is rewritten to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of official images on the default domain.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag used when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A reference that does not follow Docker's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format: {reason} (in {input:?})")]
pub struct ReferenceError {
    /// The string that was parsed.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A normalised image reference: `domain/path[:tag][@digest]`.
///
/// `Reference::parse("busybox")` is `docker.io/library/busybox:latest`; its
/// [`familiar`](Reference::familiar) form is `busybox:latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalises a reference; adds tag `latest` when there is neither tag nor digest.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parses and normalises a reference without adding a default tag (for a repository name
    /// used as a filter, e.g. `docker images busybox`).
    pub fn parse_named(s: &str) -> Result<Self, ReferenceError> {
        let err = |reason: String| ReferenceError {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty reference".into()));
        }
        if crate::digest::is_sha256_hex(s) {
            return Err(err(
                "repository name cannot be a 64-byte hexadecimal string".into(),
            ));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                validate_digest(d).map_err(&err)?;
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is a ':' after the last '/'.
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(err(format!("invalid tag {t:?}")));
            }
        }
        if name.is_empty() {
            return Err(err("empty repository name".into()));
        }
        let (mut domain, mut path) = split_domain(name);
        if let Some(d) = &domain {
            validate_domain(d).map_err(&err)?;
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(format!("repository name ({path}) must be lowercase")));
        }
        for comp in path.split('/') {
            if !valid_path_component(comp) {
                return Err(err(format!("invalid repository name component {comp:?}")));
            }
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(err(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        let d = match domain.take() {
            None => DEFAULT_DOMAIN.to_string(),
            Some(d) if d == LEGACY_DEFAULT_DOMAIN => DEFAULT_DOMAIN.to_string(),
            Some(d) => d,
        };
        if d == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_REPO_PREFIX}{path}");
        }
        Ok(Reference {
            domain: d,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:<hex>`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as people write it, e.g. `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The whole reference as people write it, e.g. `busybox:latest`, `localhost:5000/x:1`.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    /// This repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError {
                input: tag.to_string(),
                reason: "invalid tag".into(),
            });
        }
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// This repository with a digest (and no tag), e.g. for `repo_digests`.
    pub fn with_digest(&self, digest: &str) -> Result<Self, ReferenceError> {
        validate_digest(digest).map_err(|reason| ReferenceError {
            input: digest.to_string(),
            reason,
        })?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        })
    }

    fn render(&self, name: String) -> String {
        let mut s = name;
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    /// The full normalised form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        Reference::parse(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Splits off the domain the way Docker does: the first component is a domain when it has a
/// `.` or `:`, is `localhost`, or has upper case letters.
fn split_domain(name: &str) -> (Option<String>, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first.to_string()), rest.to_string())
        }
        _ => (None, name.to_string()),
    }
}

fn validate_domain(d: &str) -> Result<(), String> {
    let bad = || Err(format!("invalid domain {d:?}"));
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [IPv6]:port
        let Some((v6, after)) = rest.split_once(']') else {
            return bad();
        };
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return bad();
        }
        match after {
            "" => return Ok(()),
            p => match p.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return bad(),
            },
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return bad();
        }
    }
    if !host.is_empty() || !d.starts_with('[') {
        if host.is_empty() {
            return bad();
        }
        for label in host.split('.') {
            let b = label.as_bytes();
            let ok = !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-';
            if !ok {
                return bad();
            }
        }
    }
    Ok(())
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn validate_digest(d: &str) -> Result<(), String> {
    let Some((algo, hex)) = d.split_once(':') else {
        return Err(format!("invalid digest {d:?}: missing algorithm"));
    };
    let want = match algo {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(format!(
                "invalid digest {d:?}: unsupported algorithm {algo:?}"
            ))
        }
    };
    if hex.len() != want
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "invalid digest {d:?}: want {want} lowercase hex characters"
        ));
    }
    Ok(())
}
