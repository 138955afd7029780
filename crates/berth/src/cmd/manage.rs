//! `stop`, `kill`, `rm`, `wait`: verbs applied to several containers in turn.

use anyhow::Result;
use hyper::Method;
use serde_json::Value;

use crate::cli::{KillArgs, NamesArgs, RmArgs, StopArgs};
use crate::client::{enc, Client};

/// Runs `op` for each name; prints the name on success, the error otherwise.
/// Returns exit status 1 when any failed.
pub async fn each<F, Fut>(names: &[String], op: F) -> Result<i32>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    let mut failed = false;
    for name in names {
        match op(name.clone()).await {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => {}
            Err(e) => {
                if e.downcast_ref::<crate::client::ConnectError>().is_some() {
                    return Err(e);
                }
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

/// `berth stop`.
pub async fn stop(client: &Client, args: StopArgs) -> Result<i32> {
    let mut query = Vec::new();
    if let Some(t) = args.time {
        query.push(format!("t={t}"));
    }
    if let Some(s) = &args.signal {
        query.push(format!("signal={}", enc(s)));
    }
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    each(&args.containers, |name| {
        let path = format!("/containers/{}/stop{q}", enc(&name));
        async move {
            client.call(Method::POST, &path, None).await?;
            Ok(Some(name))
        }
    })
    .await
}

/// `berth kill`.
pub async fn kill(client: &Client, args: KillArgs) -> Result<i32> {
    let q = match &args.signal {
        Some(s) => format!("?signal={}", enc(s)),
        None => String::new(),
    };
    each(&args.containers, |name| {
        let path = format!("/containers/{}/kill{q}", enc(&name));
        async move {
            client.call(Method::POST, &path, None).await?;
            Ok(Some(name))
        }
    })
    .await
}

/// `berth rm`.
pub async fn rm(client: &Client, args: RmArgs) -> Result<i32> {
    let q = format!(
        "?force={}&v={}",
        u8::from(args.force),
        u8::from(args.volumes)
    );
    each(&args.containers, |name| {
        let path = format!("/containers/{}{q}", enc(&name));
        let force = args.force;
        async move {
            match client.call(Method::DELETE, &path, None).await {
                Ok(_) => Ok(Some(name)),
                // Like docker: `rm -f` of a missing container is not an error.
                Err(e) if force && crate::client::is_status(&e, 404) => Ok(None),
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// `berth wait`.
pub async fn wait(client: &Client, args: NamesArgs) -> Result<i32> {
    each(&args.containers, |name| {
        let path = format!("/containers/{}/wait", enc(&name));
        async move {
            let v = client.json(Method::POST, &path, None).await?;
            Ok(Some(
                v.get("StatusCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(-1)
                    .to_string(),
            ))
        }
    })
    .await
}
