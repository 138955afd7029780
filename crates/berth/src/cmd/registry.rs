//! Registry and tarball verbs: `pull`, `push`, `login`, `logout`, `registry serve`,
//! `save`, `load`, `export`, `history`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{enc, Client};
use crate::cmd::progress::Renderer;
use crate::format::{ago, human_size, render_rows};

/// `berth pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

/// `berth push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub image: String,
}

/// `berth login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// SERVER
    pub server: Option<String>,
}

/// `berth logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// SERVER
    pub server: Option<String>,
}

/// `berth save`.
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `berth export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// CONTAINER
    pub container: String,
}

/// `berth history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// IMAGE
    pub image: String,
}

/// `berth registry ...`.
#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Run an OCI distribution registry in the foreground
    Serve(ServeArgs),
}

/// `berth registry serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: std::net::SocketAddr,
    /// Storage directory
    #[arg(long)]
    pub root: PathBuf,
    /// htpasswd file (bcrypt entries) enabling basic auth
    #[arg(long)]
    pub htpasswd: Option<PathBuf>,
}

/// `X-Registry-Auth` for `domain` from the docker config file (empty JSON when none).
fn auth_header(domain: &str) -> String {
    let creds = distribution::auth::credentials_from_config(
        &distribution::auth::default_config_path(),
        domain,
    )
    .ok()
    .flatten();
    let v = match creds {
        Some(c) => json!({"username": c.username, "password": c.password, "serveraddress": domain}),
        None => json!({}),
    };
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

/// Streams a progress answer into `r`.
async fn render(resp: hyper::Response<hyper::body::Incoming>, r: &mut Renderer) -> Result<()> {
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the daemon's answer")?;
        if let Ok(d) = frame.into_data() {
            r.feed(&d);
        }
    }
    r.finish();
    r.result()
}

/// Pulls `image`, showing progress on stdout (or stderr for `run`); returns the full name.
pub async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
    to_stderr: bool,
) -> Result<String> {
    let r = image::Reference::parse(image).map_err(|e| anyhow!("invalid reference format: {e}"))?;
    let (from, tag) = match (r.digest(), r.tag()) {
        (Some(d), _) => (r.name().to_string(), d.to_string()),
        (None, Some(t)) => (r.name().to_string(), t.to_string()),
        (None, None) => (r.name().to_string(), "latest".to_string()),
    };
    let mut path = format!("/images/create?fromImage={}&tag={}", enc(&from), enc(&tag));
    if let Some(p) = platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let resp = client
        .request_with(
            Method::POST,
            &path,
            None,
            None,
            &[("X-Registry-Auth", auth_header(r.domain()))],
        )
        .await?;
    let mut rend = Renderer::new(to_stderr);
    if quiet {
        // Consume the stream, keeping only errors.
        let mut body = resp.into_body();
        let mut sink = Renderer::new(true);
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame?.into_data() {
                for line in d.split(|b| *b == b'\n') {
                    if line.windows(7).any(|w| w == b"\"error\"") {
                        sink.feed(line);
                        sink.feed(b"\n");
                    }
                }
            }
        }
        sink.result()?;
    } else {
        render(resp, &mut rend).await?;
    }
    Ok(r.to_string())
}

/// `berth pull`.
pub async fn pull(client: &Client, args: PullArgs) -> Result<i32> {
    if !args.quiet {
        let r = image::Reference::parse(&args.image)
            .map_err(|e| anyhow!("invalid reference format: {e}"))?;
        if r.tag().is_none() && r.digest().is_none() {
            println!("Using default tag: latest");
        }
    }
    let name = pull_image(
        client,
        &args.image,
        args.platform.as_deref(),
        args.quiet,
        false,
    )
    .await?;
    println!("{name}");
    Ok(0)
}

/// `berth push`.
pub async fn push(client: &Client, args: PushArgs) -> Result<i32> {
    let r = image::Reference::parse(&args.image)
        .map_err(|e| anyhow!("invalid reference format: {e}"))?;
    let name = r.name().to_string();
    let mut path = format!("/images/{name}/push");
    if let Some(t) = r.tag() {
        path.push_str(&format!("?tag={}", enc(t)));
    }
    if r.tag().is_none() && !args.quiet {
        println!("Using default tag: latest");
    }
    let resp = client
        .request_with(
            Method::POST,
            &path,
            None,
            None,
            &[("X-Registry-Auth", auth_header(r.domain()))],
        )
        .await?;
    let mut rend = Renderer::new(false);
    if args.quiet {
        quiet_result(resp).await?;
        println!("{}", r.familiar());
    } else {
        render(resp, &mut rend).await?;
    }
    Ok(0)
}

fn read_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s)?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

/// `berth login`: checks the credentials through the daemon (`POST /auth`), then stores them
/// in the docker config file.
pub async fn login(client: &Client, args: LoginArgs) -> Result<i32> {
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| "https://index.docker.io/v1/".into());
    let domain = distribution::client::server_domain(&server);
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let username = match &args.username {
        Some(u) => u.clone(),
        None if args.password_stdin => bail!("Must provide --username with --password-stdin"),
        None => read_line("Username: ")?,
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s.trim_end_matches(['\r', '\n']).to_string()
        }
        (None, false) => read_line("Password: ")?,
    };
    if username.is_empty() || password.is_empty() {
        bail!("Username and password are required");
    }
    let body = json!({"username": username, "password": password, "serveraddress": domain});
    let v = client.json(Method::POST, "/auth", Some(&body)).await?;
    let creds = distribution::auth::Credentials { username, password };
    let path = distribution::auth::default_config_path();
    distribution::auth::store_credentials(&path, &domain, &creds)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        path.display()
    );
    println!();
    println!(
        "{}",
        v.get("Status")
            .and_then(Value::as_str)
            .unwrap_or("Login Succeeded")
    );
    Ok(0)
}

/// `berth logout`.
pub fn logout(args: LogoutArgs) -> Result<i32> {
    let server = args
        .server
        .unwrap_or_else(|| "https://index.docker.io/v1/".into());
    let domain = distribution::client::server_domain(&server);
    let path = distribution::auth::default_config_path();
    if distribution::auth::remove_credentials(&path, &domain)? {
        println!("Removing login credentials for {domain}");
    } else {
        println!("Not logged in to {domain}");
    }
    Ok(0)
}

/// `berth registry serve`: the distribution server in the foreground.
pub async fn registry(c: RegistryCommand) -> Result<i32> {
    match c {
        RegistryCommand::Serve(a) => {
            std::fs::create_dir_all(&a.root)
                .with_context(|| format!("creating {}", a.root.display()))?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let (listen, root, htpasswd) = (a.listen, a.root.clone(), a.htpasswd.clone());
            // A multi-threaded runtime of its own: the CLI's is single-threaded.
            std::thread::spawn(move || {
                rt.block_on(distribution::server::serve(listen, root, htpasswd))
            })
            .join()
            .map_err(|_| anyhow!("registry server thread panicked"))??;
            Ok(0)
        }
    }
}

/// Copies a streamed answer body to a file or stdout.
async fn body_to(
    resp: hyper::Response<hyper::body::Incoming>,
    out: Option<&PathBuf>,
) -> Result<()> {
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => {
            if crate::term::is_tty(1) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            Box::new(std::io::stdout().lock())
        }
    };
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the daemon's answer")?;
        if let Ok(d) = frame.into_data() {
            w.write_all(&d)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// `berth save`.
pub async fn save(client: &Client, args: SaveArgs) -> Result<i32> {
    let q: Vec<String> = args
        .images
        .iter()
        .map(|n| format!("names={}", enc(n)))
        .collect();
    let resp = client
        .request(
            Method::GET,
            &format!("/images/get?{}", q.join("&")),
            None,
            None,
        )
        .await?;
    let res = body_to(resp, args.output.as_ref()).await;
    if res.is_err() {
        if let Some(p) = &args.output {
            let _ = std::fs::remove_file(p);
        }
    }
    res?;
    Ok(0)
}

/// `berth load`.
pub async fn load(client: &Client, args: LoadArgs) -> Result<i32> {
    let src = args.input.clone().unwrap_or_else(|| "-".into());
    if src == "-" && crate::term::is_tty(0) {
        bail!("requested load from stdin, but stdin is empty");
    }
    let body = crate::cmd::images::file_body(&src)?;
    let path = format!("/images/load?quiet={}", u8::from(args.quiet));
    let resp = client
        .request(Method::POST, &path, Some(body), Some("application/x-tar"))
        .await?;
    let mut r = Renderer::new(false);
    if args.quiet {
        quiet_result(resp).await?;
    } else {
        render(resp, &mut r).await?;
    }
    Ok(0)
}

/// `berth export`.
pub async fn export(client: &Client, args: ExportArgs) -> Result<i32> {
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/export", enc(&args.container)),
            None,
            None,
        )
        .await?;
    body_to(resp, args.output.as_ref()).await?;
    Ok(0)
}

/// `berth history`.
pub async fn history(client: &Client, args: HistoryArgs) -> Result<i32> {
    let v = client
        .get(&format!("/images/{}/history", enc(&args.image)))
        .await?;
    let empty = Vec::new();
    let rows_in = v.as_array().unwrap_or(&empty);
    let mut rows = Vec::new();
    for h in rows_in {
        let id = h.get("Id").and_then(Value::as_str).unwrap_or("<missing>");
        let shown = if id == "<missing>" || args.no_trunc {
            id.to_string()
        } else {
            crate::cmd::ps::short_id(id)
        };
        if args.quiet {
            println!("{shown}");
            continue;
        }
        let created = h.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let mut by = h
            .get("CreatedBy")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !args.no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let size = h.get("Size").and_then(Value::as_f64).unwrap_or(0.0);
        rows.push(json!({
            "ID": shown,
            "CreatedSince": ago(created),
            "CreatedBy": by,
            "Size": if args.human { human_size(size) } else { (size as u64).to_string() },
            "Comment": h.get("Comment").and_then(Value::as_str).unwrap_or_default(),
        }));
    }
    if !args.quiet {
        let headers = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY",
            "Size": "SIZE", "Comment": "COMMENT"});
        print!(
            "{}",
            render_rows(
                "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
                &headers,
                &rows
            )?
        );
    }
    Ok(0)
}

/// `-q`: reads a JSON-lines answer without printing progress; fails with its error line, if any.
async fn quiet_result(resp: hyper::Response<hyper::body::Incoming>) -> Result<()> {
    let bytes = resp.into_body().collect().await?.to_bytes();
    let mut sink = Renderer::new(true);
    for line in bytes.split(|b| *b == b'\n') {
        if line.windows(7).any(|w| w == b"\"error\"") {
            sink.feed(line);
            sink.feed(b"\n");
        }
    }
    sink.result()
}
