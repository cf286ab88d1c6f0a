//! Sign-in with an OpenID Connect provider (ProConnect, Keycloak…): the providers, the start of
//! a sign-in (303 to the provider), its callback (the service's own session), the sign-out that
//! gives the provider's logout URL, and an organisation's requirement of OIDC sign-in.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::access::{BearerAuth, Principal};
use super::accounts::{MeResponse, me};
use super::types::ApiTags;
use crate::commands::oidc::{self, Callback};
use crate::commands::organisations::by_member;
use crate::error::ApiResult;
use crate::state::AppState;

/// A configured identity provider.
#[derive(Debug, Clone, Object)]
pub struct OidcProviderResponse {
    /// The name used in paths (`proconnect`).
    pub name: String,
    /// What the sign-in button says (`ProConnect`).
    pub label: String,
    /// Where to send the browser to sign in.
    pub start_url: String,
}

/// The identity providers one may sign in with.
#[derive(Debug, Clone, Object)]
pub struct OidcProviderList {
    pub items: Vec<OidcProviderResponse>,
}

/// An organisation whose SIRET the provider asserted. Joining it still needs an invitation or
/// its admins: the claim grants no role.
#[derive(Debug, Clone, Object)]
pub struct ProposedOrganisation {
    pub organisation_id: Uuid,
    pub name: String,
    /// Whether the user already belongs to it.
    pub already_member: bool,
}

/// The end of a sign-in with a provider: a session token, like `POST /v1/auth/login`.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OidcSignInResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: MeResponse,
    pub provider: String,
    /// How the identity found its account: `identity` (linked earlier), `verified_email` (an
    /// existing account with the address the provider verified), `invitation` or
    /// `new_account`.
    pub linked_by: String,
    /// The authentication context the provider asserted (`acr`, e.g. `eidas1`).
    pub acr: Option<String>,
    /// The authentication methods it asserted (`amr`).
    pub amr: Vec<String>,
    /// The organisation whose SIRET the provider asserted, when one is registered.
    pub proposed_organisation: Option<ProposedOrganisation>,
    /// The organisation joined by the invitation this sign-in accepted.
    pub joined_organisation_id: Option<Uuid>,
}

/// The answer to a sign-out.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OidcLogoutResponse {
    /// Where to send the browser to end the provider's session too (its
    /// `end_session_endpoint`, with `id_token_hint` and `post_logout_redirect_uri`); absent when
    /// the session was not opened by a provider, or the provider has no such endpoint.
    pub end_session_url: Option<String>,
}

/// Whether an organisation requires OIDC sign-in of its members.
#[derive(Debug, Clone, Object)]
pub struct OidcPolicy {
    /// When true, a session opened by password does not carry the membership of this
    /// organisation, and a password sign-in of someone who belongs only to organisations that
    /// require it is refused (403 `oidc_sign_in_required`).
    pub required: bool,
}

/// Redirect to the provider.
#[derive(ApiResponse)]
pub enum StartResponse {
    /// To the provider's authorization endpoint.
    #[oai(status = 303)]
    SeeOther(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

pub struct OidcApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Accounts")]
impl OidcApi {
    /// List identity providers
    ///
    /// The OpenID Connect providers configured (`REEMPLOI_OIDC_PROVIDERS`), in order.
    #[oai(
        path = "/auth/oidc/providers",
        method = "get",
        operation_id = "list_oidc_providers"
    )]
    async fn list_oidc_providers(&self) -> ApiResult<Json<OidcProviderList>> {
        let base = &self.state.settings.public_url;
        Ok(Json(OidcProviderList {
            items: self
                .state
                .oidc
                .providers()
                .map(|p| OidcProviderResponse {
                    start_url: format!("{base}/v1/auth/oidc/{}/start", p.name),
                    name: p.name.clone(),
                    label: p.label.clone(),
                })
                .collect(),
        }))
    }

    /// Start signing in with a provider
    ///
    /// Answers 303 to the provider's authorization endpoint (authorization code flow with PKCE
    /// S256, `state` and `nonce`); the provider sends the browser back to the callback. With
    /// `invitation` (the token received by mail), the sign-in also accepts that invitation.
    /// The flow must be finished within `REEMPLOI_OIDC_FLOW_TTL_SECS`, once.
    #[oai(
        path = "/auth/oidc/:provider/start",
        method = "get",
        operation_id = "start_oidc_sign_in"
    )]
    async fn start_oidc_sign_in(
        &self,
        #[oai(validator(max_length = 32))] provider: Path<String>,
        #[oai(validator(max_length = 100))] invitation: Query<Option<String>>,
    ) -> ApiResult<StartResponse> {
        let started = oidc::start(&self.state, &provider.0, invitation.0.as_deref()).await?;
        tracing::debug!(oidc.flow = %started.flow_id, expires_at = %started.expires_at, "OIDC sign-in started");
        Ok(StartResponse::SeeOther(
            started.authorization_url,
            "no-store".into(),
        ))
    }

    /// Finish signing in with a provider
    ///
    /// The redirect URI (`<REEMPLOI_PUBLIC_URL>/v1/auth/oidc/<provider>/callback`). Exchanges
    /// the code, checks the ID token (signature RS256/ES256/PS256 by a key the provider
    /// publishes, issuer, audience, expiry, nonce), links the identity to an account (by an
    /// e-mail the provider declares verified, or by the invitation of this sign-in) and answers
    /// a session token. Refusals open no session.
    #[oai(
        path = "/auth/oidc/:provider/callback",
        method = "get",
        operation_id = "finish_oidc_sign_in"
    )]
    #[expect(clippy::too_many_arguments, reason = "the provider's query parameters")]
    async fn finish_oidc_sign_in(
        &self,
        #[oai(validator(max_length = 32))] provider: Path<String>,
        #[oai(validator(max_length = 2048))] code: Query<Option<String>>,
        #[oai(validator(max_length = 512))] state: Query<Option<String>>,
        #[oai(validator(max_length = 2048))] iss: Query<Option<String>>,
        #[oai(validator(max_length = 256))] error: Query<Option<String>>,
        #[oai(validator(max_length = 2048))] error_description: Query<Option<String>>,
        #[oai(validator(max_length = 2048))] error_uri: Query<Option<String>>,
        #[oai(validator(max_length = 512))] session_state: Query<Option<String>>,
    ) -> ApiResult<Json<OidcSignInResponse>> {
        // Sent by some providers; nothing to check in them.
        let _ = (error_uri, session_state);
        let done = oidc::finish(
            &self.state,
            &provider.0,
            Callback {
                code: code.0,
                state: state.0,
                iss: iss.0,
                error: error.0,
                error_description: error_description.0,
            },
        )
        .await?;
        let user = me(
            &self.state,
            &Principal::User {
                id: done.opened.user_id,
                session_id: done.session_id,
            },
        )
        .await?;
        Ok(Json(OidcSignInResponse {
            token: done.opened.token,
            expires_at: done.opened.expires_at,
            user,
            provider: done.provider,
            linked_by: done.linked_by.into(),
            acr: done.acr,
            amr: done.amr,
            proposed_organisation: done.proposed_organisation.map(|p| ProposedOrganisation {
                organisation_id: p.organisation_id,
                name: p.name,
                already_member: p.already_member,
            }),
            joined_organisation_id: done.joined_organisation,
        }))
    }

    /// Sign out, also of the provider
    ///
    /// Revokes the session token used for this call, like `POST /v1/auth/logout`, and answers
    /// the provider's logout URL when a provider opened the session: send the browser there to
    /// end the provider's session too.
    #[oai(
        path = "/auth/oidc/logout",
        method = "post",
        operation_id = "logout_oidc"
    )]
    async fn logout_oidc(&self, auth: BearerAuth) -> ApiResult<Json<OidcLogoutResponse>> {
        auth.0.authorize("logout_oidc", None)?;
        let end_session_url = match auth.0.principal {
            Principal::User { id, session_id } => oidc::logout(&self.state, id, session_id).await?,
            Principal::ApiKey { .. } => None,
        };
        Ok(Json(OidcLogoutResponse { end_session_url }))
    }

    /// Read an organisation's OIDC requirement
    ///
    /// Whether its members must sign in through an identity provider to act for it.
    #[oai(
        path = "/organisations/:id/oidc-policy",
        method = "get",
        operation_id = "get_oidc_policy"
    )]
    async fn get_oidc_policy(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<OidcPolicy>> {
        auth.0.authorize("get_oidc_policy", Some(id.0))?;
        Ok(Json(OidcPolicy {
            required: crate::store::oidc::required(&self.state.db, id.0).await?,
        }))
    }

    /// Require OIDC sign-in of an organisation's members
    ///
    /// For its admins. When required, its memberships only count in sessions a provider
    /// opened. Requiring it is only accepted from such a session (403 `oidc_sign_in_required`
    /// otherwise), so that an admin cannot lock the organisation out.
    #[oai(
        path = "/organisations/:id/oidc-policy",
        method = "put",
        operation_id = "set_oidc_policy"
    )]
    async fn set_oidc_policy(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<OidcPolicy>,
    ) -> ApiResult<Json<OidcPolicy>> {
        let actor = auth.0.authorize("set_oidc_policy", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        let session_id = match auth.0.principal {
            Principal::User { session_id, .. } => Some(session_id),
            Principal::ApiKey { .. } => None,
        };
        let required =
            oidc::set_policy(&self.state, &by, id.0, body.0.required, session_id).await?;
        Ok(Json(OidcPolicy { required }))
    }
}
