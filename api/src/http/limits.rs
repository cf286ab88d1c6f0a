//! Request limits: body size (413), JSON nesting depth and string length (400), and a per-address
//! rate limit on anonymous calls (429 with `Retry-After`). All configurable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use poem::http::{StatusCode, header};
use poem::web::RemoteAddr;
use poem::{Body, Endpoint, Error, IntoResponse, Request, Response, Result};

use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::RateLimiter;

/// The limits applied before any handler runs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Larger limits for some paths (file uploads), streamed rather than buffered.
    pub upload_routes: Vec<(&'static str, usize)>,
    /// Same, for paths ending with these suffixes (`/v1/items/{id}/photos`).
    pub upload_suffixes: Vec<(&'static str, usize)>,
    /// Streamed uploads by path prefix (documents checked at `/v1/verify/{code}`).
    pub upload_prefixes: Vec<(&'static str, usize)>,
    /// Deepest nesting of arrays and objects in a JSON body.
    pub max_json_depth: usize,
    /// Longest string (in bytes) anywhere in a JSON body.
    pub max_json_string_bytes: usize,
    /// Calls without credentials, per client address and minute.
    pub anonymous: Arc<RateLimiter>,
    /// The query parameters each operation declares.
    pub query: super::problem::QueryParameters,
}

/// Why a JSON body is refused before parsing.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonShape {
    TooDeep,
    StringTooLong,
}

/// Scans a JSON text without parsing it: nesting depth and string lengths.
pub fn check_json_shape(
    bytes: &[u8],
    max_depth: usize,
    max_string: usize,
) -> std::result::Result<(), JsonShape> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_len = 0usize;
    for &b in bytes {
        if in_string {
            string_len += 1;
            if string_len > max_string {
                return Err(JsonShape::StringTooLong);
            }
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_len = 0;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(JsonShape::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"))
}

fn client_key(req: &Request) -> String {
    match req.remote_addr() {
        RemoteAddr(poem::Addr::SocketAddr(addr)) => addr.ip().to_string(),
        other => other.to_string(),
    }
}

/// Applies [`Limits`] to a request.
pub async fn apply<E: Endpoint>(next: E, mut req: Request, limits: &Limits) -> Result<Response> {
    let anonymous = !req.headers().contains_key(header::AUTHORIZATION);
    let path = req.uri().path();
    let exempt =
        path.starts_with("/health/") || path.starts_with("/docs") || path.starts_with("/openapi.");
    if anonymous
        && !exempt
        && let Err(retry_after) = limits.anonymous.hit(&client_key(&req))
    {
        let mut e = ApiError::new(ErrorCode::RateLimited);
        e.retry_after = Some(retry_after);
        return Err(e.into());
    }

    // A query parameter the operation does not declare (a typo, or one without a name) is
    // refused rather than silently ignored.
    if let Some(q) = req.uri().query()
        && let Some(name) = limits
            .query
            .unknown(req.method().as_str(), req.uri().path(), q)
    {
        let shown: String = name.chars().take(40).collect();
        return Err(ApiError::new(ErrorCode::MalformedRequest)
            .detail(
                format!("Paramètre de requête inconnu : « {shown} »."),
                format!("Unknown query parameter `{shown}`."),
            )
            .into());
    }
    let path = req.uri().path().to_owned();
    let upload = limits
        .upload_routes
        .iter()
        .find(|(p, _)| *p == path)
        .or_else(|| {
            limits
                .upload_suffixes
                .iter()
                .find(|(suffix, _)| path.ends_with(suffix))
        })
        .or_else(|| {
            limits
                .upload_prefixes
                .iter()
                .find(|(prefix, _)| path.starts_with(prefix))
        });
    if let Some((_, upload_max)) = upload {
        let upload_max = *upload_max;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > upload_max as u64) {
            return Err(too_large(upload_max));
        }
        let body = req.take_body().into_async_read();
        let exceeded = Arc::new(AtomicBool::new(false));
        req.set_body(Body::from_async_read(Limited {
            inner: Box::pin(body),
            left: upload_max as u64 + 1,
            exceeded: exceeded.clone(),
        }));
        let answer = next.call(req).await.map(IntoResponse::into_response);
        // However the handler reported the failed read (a multipart parse error, an unreadable
        // file…), a body cut at its limit is 413: the client sent too much, not something malformed.
        if exceeded.load(Ordering::Relaxed) {
            return Err(too_large(upload_max));
        }
        return answer;
    }
    let max = limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large(max));
    }
    let chunked = declared.is_none() && req.headers().contains_key(header::TRANSFER_ENCODING);
    if chunked || is_json(&req) {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let read = req
            .take_body()
            .into_async_read()
            .take(max as u64 + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(|_| Error::from_status(StatusCode::BAD_REQUEST))?;
        if read > max {
            return Err(too_large(max));
        }
        if is_json(&req) {
            match check_json_shape(&buf, limits.max_json_depth, limits.max_json_string_bytes) {
                Ok(()) => {}
                Err(JsonShape::TooDeep) => {
                    return Err(ApiError::new(ErrorCode::MalformedRequest)
                        .detail(
                            format!(
                                "Le JSON est trop imbriqué (profondeur maximale {}).",
                                limits.max_json_depth
                            ),
                            format!(
                                "The JSON is nested too deeply (maximum depth {}).",
                                limits.max_json_depth
                            ),
                        )
                        .into());
                }
                Err(JsonShape::StringTooLong) => {
                    return Err(ApiError::new(ErrorCode::MalformedRequest)
                        .detail(
                            format!(
                                "Une chaîne du JSON est trop longue (au plus {} octets).",
                                limits.max_json_string_bytes
                            ),
                            format!(
                                "A JSON string is too long (at most {} bytes).",
                                limits.max_json_string_bytes
                            ),
                        )
                        .into());
                }
            }
        }
        req.set_body(Body::from(buf));
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// The 413 problem for a body over `max` bytes, saying the limit.
fn too_large(max: usize) -> Error {
    let (fr, en) = if max >= 1024 * 1024 {
        let mb = max / (1024 * 1024);
        (format!("{mb} Mo"), format!("{mb} MB"))
    } else {
        let kb = max.div_ceil(1024);
        (format!("{kb} Ko"), format!("{kb} KB"))
    };
    ApiError::new(ErrorCode::PayloadTooLarge)
        .detail(
            format!("Le corps de la requête dépasse la limite de {fr}."),
            format!("The request body is over the limit of {en}."),
        )
        .into()
}

/// The message of the IO error a [`Limited`] body raises once over its limit.
pub const TOO_LARGE: &str = "request body too large";

/// A body reader that fails once more than its limit has been read.
struct Limited {
    inner: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    left: u64,
    /// Set once the limit is crossed, for the middleware to answer 413 whatever the handler made
    /// of the read error.
    exceeded: Arc<AtomicBool>,
}

impl tokio::io::AsyncRead for Limited {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = self.inner.as_mut().poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &poll {
            let read = (buf.filled().len() - before) as u64;
            if read >= self.left {
                self.exceeded.store(true, Ordering::Relaxed);
                return std::task::Poll::Ready(Err(std::io::Error::other(TOO_LARGE)));
            }
            self.left -= read;
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_are_measured_outside_strings() {
        assert_eq!(check_json_shape(br#"{"a":[[1]]}"#, 3, 10), Ok(()));
        assert_eq!(
            check_json_shape(br#"{"a":[[[1]]]}"#, 3, 10),
            Err(JsonShape::TooDeep)
        );
        assert_eq!(check_json_shape(br#"{"a":"[[[[[[["}"#, 2, 100), Ok(()));
        assert_eq!(
            check_json_shape(br#"{"a":"0123456789A"}"#, 5, 10),
            Err(JsonShape::StringTooLong)
        );
        assert_eq!(check_json_shape(br#"{"a":"\"\"\""}"#, 5, 10), Ok(()));
    }
}
