//! `login`: checks credentials against a registry's `/v2/` endpoint (what `docker login`
//! asks the daemon to do through `POST /auth`).

use image::Reference;
use reqwest::StatusCode;

use super::session::Session;
use super::ClientOptions;
use crate::auth::Credentials;
use crate::error::DistributionError;

/// Verifies `creds` against the registry `server` (`host[:port]`, or a URL such as
/// `https://index.docker.io/v1/`): pings `/v2/`, answers its challenge (basic or bearer) and
/// pings again with the authorization. `Ok(())` means the registry accepted them.
pub async fn login(
    server: &str,
    creds: &Credentials,
    options: &ClientOptions,
) -> Result<(), DistributionError> {
    let domain = server_domain(server);
    // Any repository name will do: the session is only used for `/v2/`.
    let r = Reference::parse(&format!("{domain}/berth-login-check"))?;
    let s = Session::open(
        &r,
        Some(creds.clone()),
        &options.insecure_registries,
        "pull",
    )
    .await?;
    let url = format!("{}/v2/", s.base);
    let resp = s.send(&url, |h| Ok(h.get(&url))).await?;
    match resp.status() {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(DistributionError::Unauthorized(
            format!("{url}: incorrect username or password"),
        )),
        other => Err(DistributionError::Registry {
            url,
            status: other.as_u16(),
            code: String::new(),
            message: "unexpected answer to the login check".into(),
        }),
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/` → `host:5000`.
pub fn server_domain(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::server_domain;

    #[test]
    fn domains() {
        assert_eq!(server_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(server_domain("localhost:5000"), "localhost:5000");
        assert_eq!(server_domain("http://127.0.0.1:5000/"), "127.0.0.1:5000");
    }
}
