//! The bearer security scheme of the HTTP layer; the access table itself is [`crate::access`].

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

pub use crate::access::*;
use crate::error::ApiError;
use crate::state::AppState;

/// Bearer token: a session token from `POST /v1/auth/login` or an organisation API key.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    // Resolved once already by the limits middleware, which needed to know whether the
    // credential is valid.
    if let Some(super::limits::Resolved(resolved)) = req.data::<super::limits::Resolved>() {
        return resolved.clone().map_err(|code| {
            let mut e = ApiError::new(code);
            if code == crate::error::ErrorCode::Unavailable {
                e.retry_after = Some(crate::error::UNAVAILABLE_RETRY_AFTER_SECS);
            }
            poem::Error::from(e)
        });
    }
    let state = req
        .data::<AppState>()
        .ok_or_else(|| poem::Error::from(ApiError::new(crate::error::ErrorCode::Internal)))?;
    resolve(state, &bearer.token)
        .await
        .map_err(poem::Error::from)
}
