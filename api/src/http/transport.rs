//! What the edge does to every answer on its way out: compression negotiated with
//! `Accept-Encoding` (brotli or gzip), CORS for the origins the operator lists, and the `Vary`
//! header that tells caches which request headers chose the representation.
//!
//! Compression covers text (JSON, problem details, CSV, YAML, HTML) of more than
//! [`MIN_COMPRESSED_BYTES`]; PDFs and images are compressed already. Request bodies are never
//! decompressed: a small compressed body could expand past every size limit.
//!
//! CORS is off unless `REEMPLOI_CORS_ORIGINS` lists origins. A listed origin's preflight is
//! answered here (204); an unlisted origin gets no CORS header, and its browser keeps the answer
//! from the page. Credentials are bearer tokens, never cookies, so no `Allow-Credentials`.

use std::sync::Arc;

use async_compression::Level;
use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder};
use http_body::Body as _;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Body, Endpoint, Request, Response, Result};
use tokio::io::BufReader;

/// Smaller bodies go as they are: the saving would not pay for the encoder.
pub const MIN_COMPRESSED_BYTES: u64 = 1024;

/// Methods a cross-origin page may use.
const CORS_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
/// Request headers a cross-origin page may send.
const CORS_REQUEST_HEADERS: &str =
    "authorization, content-type, accept-language, idempotency-key, if-match, if-none-match";
/// Answer headers a cross-origin page may read.
const CORS_EXPOSED_HEADERS: &str = "etag, location, retry-after, idempotent-replayed, \
     content-disposition, content-language, www-authenticate";
/// How long a browser keeps a preflight's answer, in seconds.
const CORS_MAX_AGE: &str = "600";

/// A content coding the service answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// The coding `accept_encoding` prefers (highest `q`; brotli over gzip at equal weight), or
/// none: `identity`, unknown codings and `q=0` are never chosen.
pub fn negotiate(accept_encoding: &str) -> Option<Coding> {
    let mut best: Option<(u16, Coding)> = None;
    let mut star: Option<u16> = None;
    let mut listed = Vec::new();
    for part in accept_encoding.split(',') {
        let mut fields = part.split(';').map(str::trim);
        let name = fields.next().unwrap_or_default().to_ascii_lowercase();
        let q = fields
            .find_map(|f| f.strip_prefix("q=").or_else(|| f.strip_prefix("Q=")))
            .map_or(Some(1000), parse_q);
        let Some(q) = q else { continue };
        let coding = match name.as_str() {
            "br" => Coding::Brotli,
            "gzip" | "x-gzip" => Coding::Gzip,
            "*" => {
                star = Some(q);
                continue;
            }
            _ => continue,
        };
        listed.push(coding);
        if q > 0 && best.is_none_or(|(bq, bc)| q > bq || (q == bq && bc == Coding::Gzip)) {
            best = Some((q, coding));
        }
    }
    if let Some(q) = star.filter(|q| *q > 0) {
        for coding in [Coding::Brotli, Coding::Gzip] {
            if !listed.contains(&coding)
                && best.is_none_or(|(bq, bc)| q > bq || (q == bq && bc == Coding::Gzip))
            {
                best = Some((q, coding));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// A `q` value in thousandths (`0` to `1000`), `None` when malformed.
fn parse_q(raw: &str) -> Option<u16> {
    let q: f32 = raw.parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

/// Whether a media type gains from compression (text; not PDFs, images or archives).
fn compressible(content_type: &str) -> bool {
    let essence = super::raw_body::essence(content_type);
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/yaml"
                | "application/xml"
                | "application/javascript"
                | "image/svg+xml"
        )
}

/// The CORS origins allowed, from `REEMPLOI_CORS_ORIGINS` (lowercase, no trailing slash).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Arc<Vec<String>>,
}

impl Cors {
    pub fn new(origins: Vec<String>) -> Self {
        Self {
            origins: Arc::new(origins),
        }
    }

    /// The `Access-Control-Allow-Origin` to send to `origin`, if it is allowed.
    fn allow(&self, origin: &str) -> Option<HeaderValue> {
        if self.origins.iter().any(|o| o == "*") {
            return Some(HeaderValue::from_static("*"));
        }
        let lower = origin.to_ascii_lowercase();
        self.origins
            .contains(&lower)
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }

    fn enabled(&self) -> bool {
        !self.origins.is_empty()
    }
}

/// Applies CORS, then compression, then `Vary`, to one exchange.
pub async fn apply<E: Endpoint>(next: E, req: Request, cors: &Cors) -> Result<Response> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let allowed = origin
        .as_deref()
        .filter(|_| cors.enabled())
        .and_then(|o| cors.allow(o));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if let (true, Some(allow)) = (preflight, allowed.clone()) {
        let mut resp = Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow)
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, CORS_METHODS)
            .header(header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_REQUEST_HEADERS)
            .header(header::ACCESS_CONTROL_MAX_AGE, CORS_MAX_AGE)
            .finish();
        set_vary(&mut resp, cors);
        return Ok(resp);
    }
    let coding = (req.method() != Method::HEAD)
        .then(|| {
            req.headers()
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",")
        })
        .and_then(|accepted| negotiate(&accepted));
    let mut resp = next.get_response(req).await;
    if let Some(coding) = coding {
        resp = compress(resp, coding);
    }
    if let Some(allow) = allowed {
        let headers = resp.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSED_HEADERS),
        );
    }
    set_vary(&mut resp, cors);
    Ok(resp)
}

/// Messages, labels and pages follow `Accept-Language`, the coding `Accept-Encoding`, and with
/// CORS the allowed origin `Origin`: caches must key on them.
fn set_vary(resp: &mut Response, cors: &Cors) {
    let vary = if cors.enabled() {
        "Accept-Language, Accept-Encoding, Origin"
    } else {
        "Accept-Language, Accept-Encoding"
    };
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static(vary));
}

/// `resp` encoded with `coding` when that helps (see the module's documentation).
fn compress(mut resp: Response, coding: Coding) -> Response {
    let status = resp.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || resp.headers().contains_key(header::CONTENT_ENCODING)
        || resp.headers().contains_key(header::CONTENT_RANGE)
        || !resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(compressible)
    {
        return resp;
    }
    let body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> =
        resp.take_body().into();
    let small = body
        .size_hint()
        .upper()
        .is_some_and(|n| n < MIN_COMPRESSED_BYTES);
    let body = Body::from(body);
    if small {
        resp.set_body(body);
        return resp;
    }
    let reader = BufReader::new(body.into_async_read());
    let encoded = match coding {
        // Quality 4: most of brotli's gain over gzip at a cost close to gzip's.
        Coding::Brotli => {
            Body::from_async_read(BrotliEncoder::with_quality(reader, Level::Precise(4)))
        }
        Coding::Gzip => Body::from_async_read(GzipEncoder::with_quality(reader, Level::Default)),
    };
    resp.set_body(encoded);
    let headers = resp.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferred_acceptable_coding_is_chosen() {
        assert_eq!(negotiate("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(negotiate("gzip"), Some(Coding::Gzip));
        assert_eq!(negotiate("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(negotiate("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(negotiate("gzip;q=0, br;q=0"), None);
        assert_eq!(negotiate("*"), Some(Coding::Brotli));
        assert_eq!(negotiate("br;q=0, *"), Some(Coding::Gzip));
        assert_eq!(negotiate("deflate, zstd"), None);
        assert_eq!(negotiate("gzip;q=2"), None);
    }

    #[test]
    fn text_is_compressed_and_pdfs_and_images_are_not() {
        assert!(compressible("application/json; charset=utf-8"));
        assert!(compressible("application/problem+json"));
        assert!(compressible("text/csv; charset=utf-8"));
        assert!(compressible("text/html; charset=utf-8"));
        assert!(!compressible("application/pdf"));
        assert!(!compressible("image/jpeg"));
        assert!(!compressible("application/octet-stream"));
    }

    #[test]
    fn only_listed_origins_are_allowed() {
        let cors = Cors::new(vec!["https://app.example.org".into()]);
        assert!(cors.allow("https://app.example.org").is_some());
        assert!(cors.allow("https://APP.example.org").is_some());
        assert!(cors.allow("https://evil.example.org").is_none());
        assert!(cors.allow("null").is_none());
        let any = Cors::new(vec!["*".into()]);
        assert_eq!(
            any.allow("https://anywhere.example"),
            Some(HeaderValue::from_static("*"))
        );
        assert!(!Cors::default().enabled());
    }
}
