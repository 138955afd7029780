//! `berth exec`.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use hyper::Method;
use serde_json::{json, Value};

use crate::cli::ExecArgs;
use crate::client::{enc, Client};
use crate::cmd::container::{resize, watch_winch};
use crate::{stream, term, Exit};

/// `berth exec`: create the exec, start it hijacked, then report its exit code.
pub async fn exec(client: Arc<Client>, args: ExecArgs) -> Result<i32> {
    let container = &args.args[0];
    let cmd = &args.args[1..];
    if args.interactive && args.tty && !args.detach && !term::is_tty(0) {
        eprintln!("the input device is not a TTY");
        return Err(Exit(1).into());
    }
    let attach = !args.detach;
    // Like docker: the file's entries first, `-e` after (a later entry wins).
    let mut env = Vec::new();
    for f in &args.env_file {
        env.extend(crate::cmd::container::read_env_file(f)?);
    }
    env.extend(args.env.iter().cloned());
    let mut body = json!({
        "AttachStdin": attach && args.interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": args.tty,
        "Env": env,
        "Cmd": cmd,
        "Privileged": args.privileged,
    });
    if let Some(w) = &args.workdir {
        body["WorkingDir"] = json!(w);
    }
    if let Some(u) = &args.user {
        body["User"] = json!(u);
    }
    let created = client
        .json(
            Method::POST,
            &format!("/containers/{}/exec", enc(container)),
            Some(&body),
        )
        .await?;
    let exec_id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("daemon returned no exec id"))?
        .to_string();
    let start_path = format!("/exec/{exec_id}/start");
    if args.detach {
        client
            .call(
                Method::POST,
                &start_path,
                Some(&json!({"Detach": true, "Tty": args.tty})),
            )
            .await?;
        return Ok(0);
    }
    let conn = client
        .hijack(
            &start_path,
            Some(&json!({"Detach": false, "Tty": args.tty})),
        )
        .await?;
    let raw = if args.tty {
        let resize_path = format!("/exec/{exec_id}/resize");
        resize(&client, &resize_path).await;
        watch_winch(client.clone(), resize_path);
        if args.interactive {
            term::RawMode::enter()
        } else {
            None
        }
    } else {
        None
    };
    let pumped = stream::pump(conn, args.tty, args.interactive).await;
    drop(raw);
    if pumped? == stream::Ended::Detached {
        return Ok(0);
    }
    let info = client.get(&format!("/exec/{exec_id}/json")).await?;
    Ok(info.get("ExitCode").and_then(Value::as_i64).unwrap_or(0) as i32)
}
