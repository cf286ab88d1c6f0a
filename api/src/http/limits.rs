//! Request limits: body size (413), JSON nesting depth and string length (400), the longest
//! pause while a body is read (408), and a per-address rate limit on calls without a valid
//! credential (429 with `Retry-After`). All configurable.
//!
//! The bearer credential is resolved here, once per request: a valid one exempts the call from
//! the anonymous limit and is handed to the handler's security scheme (no second lookup); an
//! invalid one (`Bearer junk`) counts as anonymous, so that inventing tokens does not lift
//! the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use poem::http::{StatusCode, header};
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
    /// Longest pause while a request body is read.
    pub body_pause: Duration,
    /// The query parameters each operation declares.
    pub operations: super::validation::Operations,
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

/// The caller a valid bearer credential names, resolved by [`apply`] for the security scheme.
#[derive(Debug, Clone)]
pub struct Resolved(pub std::result::Result<super::access::Caller, ErrorCode>);

/// Resolves the request's bearer token, if any: `None` when the call carries no valid one.
async fn authenticate(req: &mut Request) -> Option<()> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim()
        .to_owned();
    let state = req.data::<crate::state::AppState>()?.clone();
    let resolved = super::access::resolve(&state, &token).await;
    let valid = resolved.is_ok();
    if let Ok(caller) = &resolved
        && let Some(slot) = req.data::<super::log::CallerOrganisations>()
    {
        let orgs: Vec<String> = caller
            .memberships
            .iter()
            .map(|m| m.organisation_id.to_string())
            .collect();
        let _ = slot.0.set(orgs.join(","));
    }
    req.set_data(Resolved(resolved.map_err(|e| e.code)));
    valid.then_some(())
}

/// Applies [`Limits`] to a request.
pub async fn apply<E: Endpoint>(next: E, mut req: Request, limits: &Limits) -> Result<Response> {
    let anonymous = authenticate(&mut req).await.is_none();
    let path = req.uri().path();
    let exempt = path.starts_with("/health/")
        || path.starts_with("/docs")
        || path.starts_with("/openapi.")
        || path == "/metrics";
    if anonymous
        && !exempt
        && let Err(retry_after) = limits.anonymous.hit(&super::log::client_ip(&req).0)
    {
        let mut e = ApiError::new(ErrorCode::RateLimited);
        e.retry_after = Some(u32::try_from(retry_after).unwrap_or(u32::MAX));
        return Err(e.into());
    }

    // The path and query are checked against the operation's declaration: every bad or
    // undeclared parameter (a typo must not silently return everything) is listed at once.
    // A caller without valid credentials on a protected operation gets its 401 from the
    // operation, before its input is looked at.
    let validate = !anonymous
        || limits
            .operations
            .is_public(req.method().as_str(), req.uri().path());
    let issues = if validate {
        limits.operations.check_parameters(
            req.method().as_str(),
            req.uri().path(),
            req.uri().query().unwrap_or_default(),
        )
    } else {
        Vec::new()
    };
    if !issues.is_empty() {
        return Err(invalid(issues));
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
        let (body, flags) = Limited::wrap(&mut req, upload_max, limits.body_pause);
        req.set_body(Body::from_async_read(body));
        let answer = next.call(req).await.map(IntoResponse::into_response);
        // However the handler reported the failed read (a multipart parse error, an unreadable
        // file…), a body cut at its limit is 413: the client sent too much, not something
        // malformed; and a body that stalled is 408.
        return flags.verdict(upload_max).map_or(answer, Err);
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
        let (mut body, flags) = Limited::wrap(&mut req, max, limits.body_pause);
        let read = body.read_to_end(&mut buf).await;
        if let Some(refusal) = flags.verdict(max) {
            return Err(refusal);
        }
        read.map_err(|_| Error::from_status(StatusCode::BAD_REQUEST))?;
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
        if is_json(&req) && validate {
            match limits
                .operations
                .check_body(req.method().as_str(), req.uri().path(), &buf)
            {
                Ok(issues) if issues.is_empty() => {}
                Ok(issues) => return Err(invalid(issues)),
                Err(at) => {
                    return Err(ApiError::new(ErrorCode::MalformedRequest)
                        .detail(
                            format!(
                                "Le corps de la requête n'est pas du JSON lisible (ligne {}, colonne {}).",
                                at.line, at.column
                            ),
                            format!(
                                "The request body is not readable JSON (line {}, column {}).",
                                at.line, at.column
                            ),
                        )
                        .into());
                }
            }
        }
        req.set_body(Body::from(buf));
    } else if declared.is_some_and(|len| len > 0) {
        // Other bodies (forms, files of the pages) are read by the handler: the same limits
        // apply while it reads.
        let (body, flags) = Limited::wrap(&mut req, max, limits.body_pause);
        req.set_body(Body::from_async_read(body));
        let answer = next.call(req).await.map(IntoResponse::into_response);
        return flags.verdict(max).map_or(answer, Err);
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// The 408 problem for a body that stopped arriving for longer than `pause`.
/// The 422 listing every refused value.
fn invalid(issues: Vec<super::validation::Issue>) -> Error {
    let mut e = ApiError::new(ErrorCode::ValidationFailed);
    e.located = Some(Box::new(
        issues
            .into_iter()
            .map(|i| (i.location, i.field, i.reason))
            .collect(),
    ));
    e.into()
}

fn too_slow(pause: Duration) -> Error {
    let secs = pause.as_secs();
    ApiError::new(ErrorCode::RequestTimeout)
        .detail(
            format!(
                "Le corps de la requête a cessé d'arriver pendant plus de {secs} s ; rien n'a été enregistré."
            ),
            format!("The request body stopped arriving for more than {secs} s; nothing was saved."),
        )
        .into()
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

/// The message of the IO error a [`Limited`] body raises once it stalled.
pub const TOO_SLOW: &str = "request body too slow";

/// What happened to a [`Limited`] body, for the middleware to answer 413 or 408 whatever the
/// handler made of the read error.
#[derive(Debug, Clone)]
struct Flags {
    exceeded: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    pause: Duration,
}

impl Flags {
    fn verdict(&self, max: usize) -> Option<Error> {
        if self.exceeded.load(Ordering::Relaxed) {
            Some(too_large(max))
        } else if self.stalled.load(Ordering::Relaxed) {
            Some(too_slow(self.pause))
        } else {
            None
        }
    }
}

/// A body reader that fails once more than its limit has been read, or when no byte came for
/// longer than its pause.
struct Limited {
    inner: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    left: u64,
    pause: Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Whether the handler began reading (the pause counts from then).
    started: bool,
    flags: Flags,
}

impl Limited {
    /// Takes the request's body, to be read at most `max` bytes with pauses under `pause`.
    fn wrap(req: &mut Request, max: usize, pause: Duration) -> (Limited, Flags) {
        let flags = Flags {
            exceeded: Arc::default(),
            stalled: Arc::default(),
            pause,
        };
        let body = Limited {
            inner: Box::pin(req.take_body().into_async_read()),
            left: max as u64 + 1,
            pause,
            deadline: Box::pin(tokio::time::sleep(pause)),
            started: false,
            flags: flags.clone(),
        };
        (body, flags)
    }
}

impl tokio::io::AsyncRead for Limited {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.started {
            self.started = true;
            let first = tokio::time::Instant::now() + self.pause;
            self.deadline.as_mut().reset(first);
        }
        let before = buf.filled().len();
        let poll = self.inner.as_mut().poll_read(cx, buf);
        match &poll {
            std::task::Poll::Ready(Ok(())) => {
                let read = (buf.filled().len() - before) as u64;
                if read >= self.left {
                    self.flags.exceeded.store(true, Ordering::Relaxed);
                    // An error reads nothing: what this call put in the buffer is taken back.
                    buf.set_filled(before);
                    return std::task::Poll::Ready(Err(std::io::Error::other(TOO_LARGE)));
                }
                self.left -= read;
                let next = tokio::time::Instant::now() + self.pause;
                self.deadline.as_mut().reset(next);
            }
            std::task::Poll::Pending => {
                if self.deadline.as_mut().poll(cx).is_ready() {
                    self.flags.stalled.store(true, Ordering::Relaxed);
                    return std::task::Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        TOO_SLOW,
                    )));
                }
            }
            std::task::Poll::Ready(Err(_)) => {}
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
