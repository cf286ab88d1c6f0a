//! Accounts: sign-in and sign-out with opaque bearer tokens, the current user, and accepting
//! an invitation.

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::organisation as dom;
use uuid::Uuid;

use super::access::{BearerAuth, Principal, memberships_of};
use super::log::ClientIp;
use super::types::{ApiTags, NoContent, OrganisationKind, Role, Str, VerificationStatus};
use crate::commands::accounts::{self, OpenedSession};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::organisations::{find_organisation, find_user};

/// Credentials.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: Str,
    #[oai(validator(max_length = 256))]
    pub password: Str,
}

/// A session token to send as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: MeResponse,
}

/// One organisation the user belongs to.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MembershipResponse {
    pub organisation_id: Uuid,
    pub organisation_name: String,
    pub kind: OrganisationKind,
    pub status: VerificationStatus,
    pub role: Role,
}

/// The signed-in user (or the organisation of an API key) and its memberships.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MeResponse {
    /// The user id; absent when the caller is an API key.
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Set when the caller is an API key.
    pub api_key_id: Option<Uuid>,
    /// Language of the user's mails (`fr` or `en`).
    pub language: Option<String>,
    /// Whether the user proved they read mail at `email`.
    pub email_verified: Option<bool>,
    pub memberships: Vec<MembershipResponse>,
}

/// Accepting an invitation: the token received by mail and the password to set.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AcceptInvitationRequest {
    #[oai(validator(max_length = 100))]
    pub token: Str,
    /// Name shown to other members (for a new account).
    #[oai(validator(max_length = 200))]
    pub display_name: Str,
    /// The password of the new account, or the current password of an existing one.
    #[oai(validator(max_length = 256))]
    pub password: Str,
}

pub(crate) async fn me(state: &AppState, principal: &Principal) -> ApiResult<MeResponse> {
    match principal {
        Principal::User { id, session_id } => {
            let u = find_user(&state.db, *id)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            let mut memberships = Vec::new();
            let carried = crate::store::oidc::carried_memberships(
                &state.db,
                *session_id,
                memberships_of(state, *id).await?,
            )
            .await?;
            for m in carried {
                let org = find_organisation(&state.db, m.organisation_id).await?;
                memberships.push(MembershipResponse {
                    organisation_id: org.id,
                    organisation_name: org.name,
                    kind: m.kind.into(),
                    status: m.status.into(),
                    role: m.role.into(),
                });
            }
            Ok(MeResponse {
                user_id: Some(u.id),
                email: Some(u.email),
                display_name: Some(u.display_name),
                api_key_id: None,
                language: Some(u.language),
                email_verified: Some(u.email_verified_at.is_some()),
                memberships,
            })
        }
        Principal::ApiKey {
            id,
            organisation_id,
        } => {
            let org = find_organisation(&state.db, *organisation_id).await?;
            Ok(MeResponse {
                user_id: None,
                email: None,
                display_name: None,
                api_key_id: Some(*id),
                language: None,
                email_verified: None,
                memberships: vec![MembershipResponse {
                    organisation_id: org.id,
                    kind: dom::OrganisationKind::parse(&org.kind)
                        .unwrap_or(dom::OrganisationKind::Association)
                        .into(),
                    status: dom::VerificationStatus::parse(&org.status)
                        .unwrap_or(dom::VerificationStatus::Pending)
                        .into(),
                    organisation_name: org.name,
                    role: Role::Agent,
                }],
            })
        }
    }
}

/// The answer to a sign-in or an accepted invitation.
async fn signed_in(state: &AppState, opened: OpenedSession) -> ApiResult<Json<LoginResponse>> {
    let user = me(
        state,
        &Principal::User {
            id: opened.user_id,
            session_id: Uuid::nil(),
        },
    )
    .await?;
    Ok(Json(LoginResponse {
        token: opened.token,
        expires_at: opened.expires_at,
        user,
    }))
}

pub(crate) fn rate_limited(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(ErrorCode::RateLimited);
    e.retry_after = Some(u32::try_from(retry_after).unwrap_or(u32::MAX));
    e
}

pub struct AccountsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Accounts")]
impl AccountsApi {
    /// Sign in
    ///
    /// Exchanges an e-mail and password for a bearer token. After a few failures of one account
    /// from one client address, that pair waits a delay that doubles with each failure (429
    /// with `Retry-After`); other addresses are not delayed. Attempts per client address are
    /// limited too.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        remote: ClientIp,
        body: Json<LoginRequest>,
    ) -> ApiResult<Json<LoginResponse>> {
        let state = &self.state;
        let email_key = body.0.email.trim().to_lowercase();
        let address = remote.0.clone();
        state.login_per_ip.hit(&address).map_err(rate_limited)?;
        state
            .login_throttle
            .check(&email_key, &address)
            .map_err(rate_limited)?;
        let opened = match accounts::login(state, &body.0.email, &body.0.password).await {
            Ok(opened) => opened,
            Err(e) => {
                if e.code == ErrorCode::InvalidCredentials {
                    state.login_throttle.failed(&email_key, &address);
                }
                return Err(e);
            }
        };
        state.login_throttle.succeeded(&email_key, &address);
        signed_in(state, opened).await
    }

    /// Sign out
    ///
    /// Revokes the session token used for this call. API keys are revoked by their organisation's
    /// admins instead.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth) -> ApiResult<NoContent> {
        auth.0.authorize("logout", None)?;
        if let Principal::User { id, session_id } = auth.0.principal {
            accounts::logout(&self.state, id, session_id).await?;
        }
        Ok(NoContent::NoContent)
    }

    /// Current user
    ///
    /// The signed-in user with the organisations it belongs to and its role in each.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn get_me(&self, auth: BearerAuth) -> ApiResult<Json<MeResponse>> {
        auth.0.authorize("get_me", None)?;
        Ok(Json(me(&self.state, &auth.0.principal).await?))
    }

    /// Update my profile
    ///
    /// The name shown to other members and the language of my mails (`fr` or `en`).
    #[oai(path = "/me", method = "patch", operation_id = "update_me")]
    async fn update_me(
        &self,
        auth: BearerAuth,
        body: Json<super::credentials::UpdateMeRequest>,
    ) -> ApiResult<Json<MeResponse>> {
        let (user_id, _) = super::credentials::user_of(&auth, "update_me")?;
        let name = match &body.0.display_name {
            Some(n) => Some(
                reemploi_domain::text::Name::parse(n)
                    .map_err(|r| ApiError::field("display_name", r))?,
            ),
            None => None,
        };
        crate::commands::credentials::update_profile(
            &self.state,
            user_id,
            name,
            body.0.language.map(Into::into),
        )
        .await?;
        Ok(Json(me(&self.state, &auth.0.principal).await?))
    }

    /// Erase my personal data
    ///
    /// Anonymises the signed-in user everywhere: the account (its address and name are
    /// replaced, it can no longer sign in), its memberships and sessions end, and its name is
    /// blanked on signatures, workshop records, handovers and queued mails. The audit log keeps
    /// every event (they refer to people by opaque references), so every history still
    /// verifies. Signatures on acts of a public body keep the name the law requires
    /// (`docs/personal-data.md`). 422 `last_admin` while the user is the last admin of an
    /// organisation.
    #[oai(path = "/me", method = "delete", operation_id = "erase_me")]
    async fn erase_me(
        &self,
        auth: BearerAuth,
    ) -> ApiResult<Json<super::personal::ErasureResponse>> {
        Ok(Json(super::personal::erase_me(&self.state, &auth).await?))
    }

    /// Accept an invitation
    ///
    /// With the one-time token received by mail: creates the account (or, for an existing
    /// account, checks its password) and adds the membership. Answers a session token.
    #[oai(
        path = "/invitations/accept",
        method = "post",
        operation_id = "accept_invitation"
    )]
    async fn accept_invitation(
        &self,
        remote: ClientIp,
        body: Json<AcceptInvitationRequest>,
    ) -> ApiResult<Json<LoginResponse>> {
        let state = &self.state;
        state.login_per_ip.hit(&remote.0).map_err(rate_limited)?;
        let body = body.0;
        let opened = accounts::accept_invitation(
            state,
            accounts::Acceptance {
                token: body.token.to_string(),
                display_name: body.display_name.to_string(),
                password: body.password.to_string(),
            },
        )
        .await?;
        signed_in(state, opened).await
    }
}
