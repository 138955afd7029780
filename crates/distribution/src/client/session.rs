//! One registry repository as seen by the client: endpoint, scheme and authentication.

use std::sync::Mutex;

use image::Reference;
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::auth::{parse_challenge, Challenge, Credentials};
use crate::error::DistributionError;

type Result<T, E = DistributionError> = std::result::Result<T, E>;

/// A repository on a registry, with the authorization obtained so far.
pub(crate) struct Session {
    pub http: reqwest::Client,
    /// `http(s)://host[:port]`.
    pub base: String,
    /// Repository path, e.g. `library/busybox`.
    pub repo: String,
    creds: Option<Credentials>,
    /// Token scopes asked for (e.g. `repository:x:pull,push`).
    scopes: Vec<String>,
    authorization: Mutex<Option<String>>,
}

/// True when `domain` may be spoken to over plain HTTP (localhost, 127.0.0.1, ::1, or listed).
pub fn is_insecure(domain: &str, insecure: &[String]) -> bool {
    let host = match domain.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
        || insecure.iter().any(|i| i == domain || i == host)
}

impl Session {
    /// Prepares a session for `r`'s repository with `actions` (`pull` or `pull,push`).
    pub async fn open(
        r: &Reference,
        creds: Option<Credentials>,
        insecure: &[String],
        actions: &str,
    ) -> Result<Self> {
        let domain = r.domain();
        let host = if domain == "docker.io" {
            "registry-1.docker.io"
        } else {
            domain
        };
        let insecure_ok = is_insecure(domain, insecure);
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(insecure_ok)
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| DistributionError::http(host, e))?;
        let mut s = Session {
            http,
            base: format!("https://{host}"),
            repo: r.path().to_string(),
            creds,
            scopes: vec![format!("repository:{}:{actions}", r.path())],
            authorization: Mutex::new(None),
        };
        // Ping /v2/: picks the scheme and does the auth dance up front.
        let ping = format!("{}/v2/", s.base);
        let first = s.http.get(&ping).send().await;
        let resp = match first {
            Ok(r) => r,
            Err(e) if insecure_ok => {
                // Plain HTTP is allowed for this registry: fall back to it.
                let _ = e;
                s.base = format!("http://{host}");
                let ping = format!("{}/v2/", s.base);
                s.http
                    .get(&ping)
                    .send()
                    .await
                    .map_err(|e| DistributionError::http(&ping, e))?
            }
            Err(e) => return Err(DistributionError::http(&ping, e)),
        };
        if resp.status() == StatusCode::UNAUTHORIZED {
            s.authenticate(resp.headers()).await?;
        }
        Ok(s)
    }

    /// Also asks for `pull` on another repository (cross-repository mounts).
    pub async fn add_pull_scope(&mut self, repo: &str) -> Result<()> {
        let scope = format!("repository:{repo}:pull");
        if self.scopes.contains(&scope) {
            return Ok(());
        }
        self.scopes.push(scope);
        let bearer = self
            .authorization
            .lock()
            .map(|a| a.as_deref().is_some_and(|v| v.starts_with("Bearer ")))
            .unwrap_or(false);
        if bearer {
            let ping = format!("{}/v2/", self.base);
            let resp = self
                .http
                .get(&ping)
                .send()
                .await
                .map_err(|e| DistributionError::http(&ping, e))?;
            if resp.status() == StatusCode::UNAUTHORIZED {
                self.authenticate(resp.headers()).await?;
            }
        }
        Ok(())
    }

    /// URL of `/v2/<repo>/<tail>`.
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repo)
    }

    fn current_auth(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|a| a.clone())
    }

    /// Answers a 401's challenge: basic credentials, or a bearer token from the realm.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<()> {
        let ch = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
            .ok_or_else(|| {
                DistributionError::Unauthorized(format!(
                    "{}: authentication required and no usable challenge",
                    self.base
                ))
            })?;
        let value = match ch {
            Challenge::Basic => match &self.creds {
                Some(c) => c.basic_header(),
                None => {
                    return Err(DistributionError::Unauthorized(format!(
                        "{}: authentication required (no credentials)",
                        self.base
                    )))
                }
            },
            Challenge::Bearer { realm, service, .. } => {
                let mut url = url::Url::parse(&realm)
                    .map_err(|e| DistributionError::invalid("token realm", e))?;
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    for s in &self.scopes {
                        q.append_pair("scope", s);
                    }
                }
                let mut req = self.http.get(url.as_str());
                if let Some(c) = &self.creds {
                    req = req.header(AUTHORIZATION, c.basic_header());
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| DistributionError::http(url.as_str(), e))?;
                if !resp.status().is_success() {
                    return Err(DistributionError::Unauthorized(format!(
                        "token request to {realm}: {}",
                        resp.status()
                    )));
                }
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| DistributionError::http(&realm, e))?;
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| DistributionError::invalid("token response", e))?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| DistributionError::invalid("token response", "no token"))?;
                format!("Bearer {token}")
            }
        };
        if let Ok(mut a) = self.authorization.lock() {
            *a = Some(value);
        }
        Ok(())
    }

    /// Sends a request built by `build` with the current authorization; on a 401 answers the
    /// challenge once and sends it again (so `build` is called at most twice).
    pub async fn send(
        &self,
        url: &str,
        build: impl Fn(&reqwest::Client) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        for attempt in 0..2 {
            let mut rb = build(&self.http)?;
            if let Some(a) = self.current_auth() {
                rb = rb.header(AUTHORIZATION, a);
            }
            let resp = rb
                .send()
                .await
                .map_err(|e| DistributionError::http(url, e))?;
            if resp.status() == StatusCode::UNAUTHORIZED {
                if attempt == 0 {
                    self.authenticate(resp.headers()).await?;
                    continue;
                }
                return Err(DistributionError::Unauthorized(format!(
                    "{url}: access denied"
                )));
            }
            return Ok(resp);
        }
        Err(DistributionError::Unauthorized(format!(
            "{url}: access denied"
        )))
    }
}

/// Turns a non-success answer into [`DistributionError::Registry`] (spec error JSON parsed).
pub(crate) async fn check(url: &str, resp: Response) -> Result<Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    let (code, message) = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.get(0)?.clone();
            Some((
                e.get("code")?.as_str()?.to_string(),
                e.get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .to_string(),
            ))
        })
        .unwrap_or_else(|| {
            (
                String::new(),
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            )
        });
    Err(DistributionError::Registry {
        url: url.to_string(),
        status,
        code,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_hosts() {
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("example.com:5000", &[]));
        assert!(is_insecure(
            "example.com:5000",
            &["example.com:5000".into()]
        ));
        assert!(!is_insecure("docker.io", &[]));
    }
}
