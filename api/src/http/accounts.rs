//! Accounts: sign-in and sign-out with opaque bearer tokens, the current user, and accepting
//! an invitation.

use chrono::{DateTime, TimeDelta, Utc};
use poem::web::RemoteAddr;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::FieldErrors;
use reemploi_domain::email::Email;
use reemploi_domain::organisation::{self as dom, check_password};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::access::{BearerAuth, Principal, memberships_of};
use super::organisations::{find_organisation, org_event};
use super::types::{ApiTags, NoContent, OrganisationKind, Role, Str, VerificationStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::security;
use crate::state::AppState;
use crate::store::entities::{invitation, membership, session, user};
use crate::store::{self, begin_write, is_unique_violation};

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

async fn me(state: &AppState, principal: &Principal) -> ApiResult<MeResponse> {
    match principal {
        Principal::User { id, .. } => {
            let u = user::Entity::find_by_id(*id)
                .one(&state.db)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            let mut memberships = Vec::new();
            for m in memberships_of(state, *id).await? {
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

async fn open_session(state: &AppState, user_id: Uuid) -> ApiResult<(String, DateTime<Utc>)> {
    let token = security::new_token(security::SESSION_PREFIX);
    let now = store::now();
    let expires_at = now + TimeDelta::hours(i64::from(state.settings.session_ttl_hours));
    session::Entity::insert(session::ActiveModel {
        id: Set(store::new_id()),
        user_id: Set(user_id),
        token_hash: Set(security::token_hash(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    })
    .exec_without_returning(&state.db)
    .await?;
    Ok((token, expires_at))
}

fn client_ip(addr: &RemoteAddr) -> String {
    addr.as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn rate_limited(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(ErrorCode::RateLimited);
    e.retry_after = Some(retry_after);
    e
}

pub struct AccountsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Accounts")]
impl AccountsApi {
    /// Sign in
    ///
    /// Exchanges an e-mail and password for a bearer token. Attempts are limited per account and
    /// per client address (429 with `Retry-After`).
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        remote: &RemoteAddr,
        body: Json<LoginRequest>,
    ) -> ApiResult<Json<LoginResponse>> {
        let state = &self.state;
        let email_key = body.0.email.trim().to_lowercase();
        state
            .login_per_ip
            .hit(&client_ip(remote))
            .map_err(rate_limited)?;
        state
            .login_per_account
            .hit(&email_key)
            .map_err(rate_limited)?;

        let found = match Email::parse(&body.0.email) {
            Ok(email) => {
                user::Entity::find()
                    .filter(user::Column::Email.eq(email.as_str()))
                    .one(&state.db)
                    .await?
            }
            Err(_) => None,
        };
        let hash = found
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| security::dummy_hash().to_owned());
        let password = body.0.password.clone();
        let valid =
            tokio::task::spawn_blocking(move || security::verify_password(&password, &hash))
                .await
                .unwrap_or(false);
        let Some(user) = found.filter(|u| valid && u.password_hash.is_some()) else {
            return Err(ApiError::new(ErrorCode::InvalidCredentials));
        };
        state.login_per_account.reset(&email_key);
        let (token, expires_at) = open_session(state, user.id).await?;
        let me = me(
            state,
            &Principal::User {
                id: user.id,
                session_id: Uuid::nil(),
            },
        )
        .await?;
        tracing::info!(user.id = %user.id, "signed in");
        Ok(Json(LoginResponse {
            token,
            expires_at,
            user: me,
        }))
    }

    /// Sign out
    ///
    /// Revokes the session token used for this call. API keys are revoked by their organisation's
    /// admins instead.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth) -> ApiResult<NoContent> {
        auth.0.authorize("logout", None)?;
        if let Principal::User { session_id, .. } = auth.0.principal {
            session::Entity::update_many()
                .col_expr(session::Column::RevokedAt, Expr::value(Some(store::now())))
                .filter(session::Column::Id.eq(session_id))
                .exec(&self.state.db)
                .await?;
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
        remote: &RemoteAddr,
        body: Json<AcceptInvitationRequest>,
    ) -> ApiResult<Json<LoginResponse>> {
        let state = &self.state;
        state
            .login_per_ip
            .hit(&client_ip(remote))
            .map_err(rate_limited)?;
        let now = store::now();
        let invalid = || ApiError::new(ErrorCode::InvitationInvalid);
        let inv = invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(security::token_hash(body.0.token.trim())))
            .one(&state.db)
            .await?
            .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
            .ok_or_else(invalid)?;
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(inv.email.clone()))
            .one(&state.db)
            .await?;
        let password = body.0.password.clone();
        let new_user = match &existing {
            Some(u) => {
                let hash = u
                    .password_hash
                    .clone()
                    .unwrap_or_else(|| security::dummy_hash().to_owned());
                let ok = tokio::task::spawn_blocking(move || {
                    security::verify_password(&password, &hash)
                })
                .await
                .unwrap_or(false);
                if !ok {
                    return Err(ApiError::new(ErrorCode::InvalidCredentials));
                }
                None
            }
            None => {
                let mut errors = FieldErrors::new();
                let name = errors.check(
                    "display_name",
                    reemploi_domain::text::Name::parse(&body.0.display_name),
                );
                if let Err(reason) = check_password(&body.0.password) {
                    errors.push("password", reason);
                }
                let Some(name) = name.filter(|_| errors.is_empty()) else {
                    return Err(errors.into());
                };
                let hash = tokio::task::spawn_blocking(move || security::hash_password(&password))
                    .await
                    .map_err(anyhow::Error::from)??;
                Some((name.into_inner(), hash))
            }
        };

        let txn = begin_write(&state.db).await?;
        // Consume the token first: of two concurrent acceptances only one updates the row.
        let consumed = invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
            .filter(invitation::Column::Id.eq(inv.id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if consumed.rows_affected != 1 {
            return Err(invalid());
        }
        let user_id = match (&existing, new_user) {
            (Some(u), _) => u.id,
            (None, Some((display_name, hash))) => {
                let id = store::new_id();
                let res = user::Entity::insert(user::ActiveModel {
                    id: Set(id),
                    email: Set(inv.email.clone()),
                    display_name: Set(display_name),
                    password_hash: Set(Some(hash)),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .exec_without_returning(&txn)
                .await;
                match res {
                    Ok(_) => id,
                    Err(e) if is_unique_violation(&e) => {
                        return Err(ApiError::new(ErrorCode::EmailTaken));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            (None, None) => return Err(invalid()),
        };
        let added = membership::Entity::insert(membership::ActiveModel {
            id: Set(store::new_id()),
            user_id: Set(user_id),
            organisation_id: Set(inv.organisation_id),
            role: Set(inv.role.clone()),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await;
        match added {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(ErrorCode::AlreadyMember));
            }
            Err(e) => return Err(e.into()),
        }
        org_event(
            &txn,
            inv.organisation_id,
            format!("user/{user_id}"),
            "member_added",
            serde_json::json!({ "user_id": user_id, "role": inv.role, "invitation_id": inv.id }),
        )
        .await?;
        txn.commit().await?;
        let (token, expires_at) = open_session(state, user_id).await?;
        let me = me(
            state,
            &Principal::User {
                id: user_id,
                session_id: Uuid::nil(),
            },
        )
        .await?;
        Ok(Json(LoginResponse {
            token,
            expires_at,
            user: me,
        }))
    }
}
