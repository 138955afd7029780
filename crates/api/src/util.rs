//! Request/response helpers: query parsing, lenient booleans, filters, JSON bodies, errors.

use bytes::Bytes;
use engine::EngineError;
use futures_util::StreamExt;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;

/// The response body type of every handler.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;
/// A response.
pub type Resp = Response<Body>;

/// Parsed query string.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parse a raw query string.
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    /// First value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// All values of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
    /// Lenient boolean: absent → false; "", "0", "no", "false", "none" → false; else true.
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).map(lenient_bool).unwrap_or(false)
    }
    /// Like [`Query::bool`] with a default for an absent key.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key).map(lenient_bool).unwrap_or(default)
    }
    /// Integer value of `key`; an unparsable value is a 400.
    pub fn int(&self, key: &str) -> Result<Option<i64>, EngineError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                EngineError::InvalidParameter(format!("invalid value for {key}: {v:?}"))
            }),
        }
    }
}

/// Docker's lenient boolean parsing.
pub fn lenient_bool(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
}

/// Parse `filters` JSON in list form `{"k":["v"]}` or map form `{"k":{"v":true}}`.
pub fn parse_filters(raw: Option<&str>) -> Result<HashMap<String, Vec<String>>, EngineError> {
    let mut out = HashMap::new();
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(out);
    };
    let v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| EngineError::InvalidParameter(format!("invalid filter: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| EngineError::InvalidParameter("invalid filter: not an object".into()))?;
    for (k, vals) in obj {
        let list: Vec<String> = match vals {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(_, b)| b.as_bool().unwrap_or(true))
                .map(|(s, _)| s.clone())
                .collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid filter value for {k}"
                )))
            }
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// An empty body.
pub fn empty() -> Body {
    Full::new(Bytes::new()).boxed_unsync()
}

/// A full body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

/// A JSON response with `status`.
pub fn json<T: serde::Serialize>(status: u16, v: &T) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    let mut b = body;
    b.push(b'\n');
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("Content-Type", "application/json")
        .body(full(b))
        .unwrap_or_else(|_| Response::new(empty()))
}

/// A bare status response.
pub fn status(code: u16) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .body(empty())
        .unwrap_or_else(|_| Response::new(empty()))
}

/// `{"message": …}` with a status.
pub fn error_resp(code: u16, msg: &str) -> Resp {
    json(code, &serde_json::json!({ "message": msg }))
}

/// Response for an engine error.
pub fn engine_error(e: &EngineError) -> Resp {
    error_resp(e.status(), &e.to_string())
}

/// A streaming body fed by a channel of chunks.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Vec<u8>>) -> Body {
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(Bytes::from(b))), rx))
    });
    BodyExt::boxed_unsync(StreamBody::new(s))
}

/// A streaming body made of one chunk computed later (for `/wait`).
pub fn deferred_body<F>(fut: F) -> Body
where
    F: std::future::Future<Output = Vec<u8>> + Send + 'static,
{
    let s = futures_util::stream::once(async move {
        Ok::<_, Infallible>(Frame::data(Bytes::from(fut.await)))
    })
    .boxed();
    BodyExt::boxed_unsync(StreamBody::new(s))
}

/// Read a whole request body (with a size cap).
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, EngineError> {
    let collected = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| EngineError::InvalidParameter(format!("reading request body: {e}")))?;
    Ok(collected.to_bytes())
}

/// Parse a JSON request body; empty means `T::default()`; malformed is a 400.
pub async fn json_body<T: serde::de::DeserializeOwned + Default>(
    body: Incoming,
) -> Result<T, EngineError> {
    let b = read_body(body, 16 << 20).await?;
    if b.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(&b)
        .map_err(|e| EngineError::InvalidParameter(format!("invalid JSON: {e}")))
}

/// Unix seconds of an RFC 3339 timestamp (0 if unparsable).
pub fn unix_secs(t: &str) -> i64 {
    chrono_like_parse(t).unwrap_or(0)
}

fn chrono_like_parse(t: &str) -> Option<i64> {
    let st = monitor::timefmt::parse_rfc3339(t)?;
    st.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// Docker's human-readable duration (`units.HumanDuration`).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let hours = s / 3600;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if s / 60 == 1 {
        "About a minute".into()
    } else if s / 60 < 60 {
        format!("{} minutes", s / 60)
    } else if (hours as f64 + 0.5) as i64 == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// Seconds since the unix epoch now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_and_filters() {
        assert!(lenient_bool("True"));
        assert!(lenient_bool("1"));
        assert!(!lenient_bool("False"));
        assert!(!lenient_bool("none"));
        let f = parse_filters(Some(r#"{"label":["a=b"],"status":{"running":true}}"#)).unwrap();
        assert_eq!(f["label"], vec!["a=b"]);
        assert_eq!(f["status"], vec!["running"]);
        assert!(parse_filters(Some("{")).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(61), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
    }
}
