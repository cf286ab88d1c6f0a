//! Request body size limit: 413 `payload_too_large` beyond the configured size, whether the
//! client declares `Content-Length` or streams a chunked body.

use poem::http::{StatusCode, header};
use poem::{Body, Endpoint, Error, Request, Result};

/// Refuses bodies larger than `max` bytes.
pub async fn limit_body<E: Endpoint>(next: E, mut req: Request, max: usize) -> Result<E::Output> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => {
            return Err(Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        Some(_) => {}
        None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
            use tokio::io::AsyncReadExt;
            let mut buf = Vec::new();
            let reader = req.take_body().into_async_read();
            let read = reader
                .take(max as u64 + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(|_| Error::from_status(StatusCode::BAD_REQUEST))?;
            if read > max {
                return Err(Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
            }
            req.set_body(Body::from(buf));
        }
        None => {}
    }
    next.call(req).await
}
