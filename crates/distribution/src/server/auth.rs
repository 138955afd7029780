//! Basic authentication against an htpasswd file of bcrypt hashes.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;

use crate::error::ServerError;

/// Users and their bcrypt hashes, with a cache of credentials already verified.
#[derive(Debug)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashSet<String>>,
}

impl Htpasswd {
    /// Reads `user:hash` lines (bcrypt `$2a$`/`$2b$`/`$2y$` hashes; other lines are skipped).
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServerError::Htpasswd(format!("{}: {e}", path.display())))?;
        Ok(Self::parse(&text))
    }

    /// Parses htpasswd text.
    pub fn parse(text: &str) -> Self {
        let users = text
            .lines()
            .filter_map(|l| l.trim().split_once(':'))
            .filter(|(_, h)| h.starts_with("$2"))
            .map(|(u, h)| (u.to_string(), h.to_string()))
            .collect();
        Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// True when the `Authorization` header value carries valid basic credentials.
    /// bcrypt is slow by design: call from a blocking context.
    pub fn check(&self, header: Option<&str>) -> bool {
        let Some(b64) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        if self
            .verified
            .lock()
            .map(|v| v.contains(b64.trim()))
            .unwrap_or(false)
        {
            return true;
        }
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, pass)) = raw.split_once(':') else {
            return false;
        };
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let ok = bcrypt::verify(pass, hash).unwrap_or(false);
        if ok {
            if let Ok(mut v) = self.verified.lock() {
                v.insert(b64.trim().to_string());
            }
        }
        ok
    }
}
