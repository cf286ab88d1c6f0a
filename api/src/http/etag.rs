//! Entity tags on reads for mobile clients: a GET answered 200 gets an `ETag` (its version when
//! the handler set one, else a hash of the body), and `If-None-Match` turns a match into 304.

use poem::http::{Method, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use sha2::{Digest, Sha256};

/// The middleware.
pub struct ETagMiddleware;

impl<E: Endpoint> Middleware<E> for ETagMiddleware {
    type Output = ETagEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ETagEndpoint { inner: ep }
    }
}

/// The endpoint wrapped by [`ETagMiddleware`].
pub struct ETagEndpoint<E> {
    inner: E,
}

fn matches(if_none_match: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match.trim() == "*" || if_none_match.split(',').any(|t| bare(t) == bare(tag))
}

impl<E: Endpoint> Endpoint for ETagEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let is_get = req.method() == Method::GET;
        let if_none_match = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut resp = self.inner.call(req).await?.into_response();
        if !is_get || resp.status() != StatusCode::OK {
            return Ok(resp);
        }
        let tag = match resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
        {
            Some(tag) => tag.to_owned(),
            None => {
                let body = resp.take_body().into_bytes().await?;
                let tag = format!("W/\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
                resp.set_body(Body::from(body));
                if let Ok(v) = tag.parse() {
                    resp.headers_mut().insert(header::ETAG, v);
                }
                tag
            }
        };
        if if_none_match.is_some_and(|inm| matches(&inm, &tag)) {
            let mut not_modified = Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .finish();
            if let Ok(v) = tag.parse() {
                not_modified.headers_mut().insert(header::ETAG, v);
            }
            return Ok(not_modified);
        }
        Ok(resp)
    }
}
