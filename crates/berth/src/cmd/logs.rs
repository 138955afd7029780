//! `berth logs`.

use anyhow::Result;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use crate::cli::LogsArgs;
use crate::client::{enc, Client};
use crate::stream::{emit, Demuxer, Target};

/// `berth logs`: inspect for `Config.Tty`, then stream the logs.
pub async fn logs(client: &Client, args: LogsArgs) -> Result<i32> {
    let name = enc(&args.container);
    let info = client.get(&format!("/containers/{name}/json")).await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut path = format!(
        "/containers/{name}/logs?stdout=1&stderr=1&tail={}",
        enc(&args.tail)
    );
    if args.follow {
        path.push_str("&follow=1");
    }
    if args.timestamps {
        path.push_str("&timestamps=1");
    }
    if let Some(since) = &args.since {
        path.push_str(&format!("&since={}", enc(&timestamp(since))));
    }
    if let Some(until) = &args.until {
        path.push_str(&format!("&until={}", enc(&timestamp(until))));
    }
    let resp = client.request(Method::GET, &path, None, None).await?;
    let mut body = resp.into_body();
    let mut demux = Demuxer::default();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            if tty {
                emit(Target::Stdout, data);
            } else {
                demux.feed(data, &mut |t, d| emit(t, d));
            }
        }
    }
    Ok(0)
}

/// Docker's `GetTimestamp`: a relative duration ("10m", "1h30m", "90s") becomes unix
/// seconds before now; anything else (unix seconds, RFC 3339) is passed through.
pub fn timestamp(value: &str) -> String {
    let mut total = 0f64;
    let mut num = String::new();
    let mut any_unit = false;
    for c in value.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mult = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            _ => return value.to_string(),
        };
        let Ok(n) = num.parse::<f64>() else {
            return value.to_string();
        };
        total += n * mult;
        num.clear();
        any_unit = true;
    }
    if !any_unit || !num.is_empty() {
        return value.to_string();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    format!("{:.9}", now - total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("1700000000"), "1700000000");
        assert_eq!(timestamp("2013-01-02T13:23:37Z"), "2013-01-02T13:23:37Z");
        let t: f64 = timestamp("1h30m").parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - t - 5400.0).abs() < 5.0);
    }
}
