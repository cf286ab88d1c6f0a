//! The request log: poem's `Tracing` span and lines, with one difference: the URI is written
//! with its tokens redacted (the pages people land on from mails carry a single-use token in
//! their path), so that no log level ever holds a working secret.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::{Instrument, Level};

/// The middleware.
#[derive(Debug, Default)]
pub struct RedactedTracing;

impl<E: Endpoint> Middleware<E> for RedactedTracing {
    type Output = RedactedTracingEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RedactedTracingEndpoint { inner: ep }
    }
}

/// Its endpoint.
pub struct RedactedTracingEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RedactedTracingEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let uri = req.original_uri().to_string();
        let span = tracing::span!(
            target: "poem::middleware::tracing_mw",
            Level::INFO,
            "request",
            remote_addr = %req.remote_addr(),
            version = ?req.version(),
            method = %req.method(),
            uri = %crate::security::redact_tokens(&uri),
        );
        async move {
            let now = Instant::now();
            let res = self.inner.call(req).await;
            let duration = now.elapsed();
            match res {
                Ok(resp) => {
                    let resp = resp.into_response();
                    tracing::info!(status = %resp.status(), duration = ?duration, "response");
                    Ok(resp)
                }
                Err(err) => {
                    tracing::info!(
                        status = %err.status(),
                        error = %crate::security::redact_tokens(&err.to_string()),
                        duration = ?duration,
                        "error"
                    );
                    Err(err)
                }
            }
        }
        .instrument(span)
        .await
    }
}
