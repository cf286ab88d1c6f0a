//! Writes of the OpenID Connect sign-in: starting a flow (kept in the database, so any instance
//! finishes it, once), finishing it (the identity linked to an account by a verified e-mail or
//! an invitation, then the service's own session), signing out of an OIDC session, and an
//! organisation's requirement of OIDC sign-in. Flow events go to the stream `oidc_flow/<id>`.

use chrono::{DateTime, TimeDelta, Utc};
use reemploi_domain::email::Email;
use reemploi_domain::text::Name;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::By;
use super::accounts::{self, OpenedSession, open_session_in, user_stream};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::oidc::{Asserted, Oidc};
use crate::security;
use crate::state::AppState;
use crate::store::entities::{
    invitation, oidc_flow, oidc_identity, oidc_session, organisation, organisation_oidc_policy,
    user,
};
use crate::store::events::{NewEvent, organisation_stream};
use crate::store::organisations::{find_user, invitation_by_token_hash, user_by_email};
use crate::store::{self, is_unique_violation};

fn flow_stream(id: Uuid) -> String {
    format!("oidc_flow/{id}")
}

/// A started sign-in: where to send the browser.
pub struct Started {
    pub flow_id: Uuid,
    pub authorization_url: String,
    pub expires_at: DateTime<Utc>,
}

/// Starts a sign-in with `provider`, optionally accepting the invitation `invitation` (its
/// token) at the end. The provider's discovery happens first: when it is unreachable, nothing
/// is written (503 `oidc_provider_unavailable`).
pub async fn start(cx: &AppState, provider: &str, invitation: Option<&str>) -> ApiResult<Started> {
    cx.oidc.settings(provider)?;
    let now = store::now();
    let invitation_id = match invitation.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(token) => Some(
            invitation_by_token_hash(&cx.db, &security::token_hash(token))
                .await?
                .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
                .ok_or_else(|| ApiError::new(ErrorCode::InvitationInvalid))?
                .id,
        ),
    };
    let (state, nonce, verifier) = (
        Oidc::random_secret(),
        Oidc::random_secret(),
        Oidc::random_secret(),
    );
    let authorization_url = cx
        .oidc
        .authorization_url(provider, &state, &nonce, &verifier)
        .await?;
    let id = store::new_id();
    let expires_at = now + TimeDelta::seconds(cx.settings.oidc.flow_ttl_secs as i64);
    let row = oidc_flow::ActiveModel {
        id: Set(id),
        provider: Set(provider.to_owned()),
        state_hash: Set(security::token_hash(&state)),
        nonce: Set(nonce),
        pkce_verifier: Set(verifier),
        invitation_id: Set(invitation_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    };
    write_tx!(&cx.db, |tx| {
        oidc_flow::Entity::insert(row.clone())
            .exec_without_returning(tx)
            .await?;
        tx.event(NewEvent {
            stream: flow_stream(id),
            organisation_id: None,
            actor: "anonymous".into(),
            kind: "oidc_sign_in_started",
            payload: serde_json::json!({
                "flow_id": id, "provider": provider, "invitation_id": invitation_id,
                "expires_at": expires_at,
            }),
        })
        .await?;
        Ok(())
    })?;
    Ok(Started {
        flow_id: id,
        authorization_url,
        expires_at,
    })
}

/// What the provider sent back to the redirect URI.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// An organisation whose SIRET the provider asserted: proposed to the user, never joined.
pub struct Proposed {
    pub organisation_id: Uuid,
    pub name: String,
    pub already_member: bool,
}

/// A finished sign-in.
pub struct SignedIn {
    pub opened: OpenedSession,
    pub session_id: Uuid,
    pub provider: String,
    /// How the identity found its account: `identity` (linked before), `verified_email`,
    /// `invitation` or `new_account`.
    pub linked_by: &'static str,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub proposed_organisation: Option<Proposed>,
    /// The organisation joined by the invitation of this flow.
    pub joined_organisation: Option<Uuid>,
}

/// Consumes the flow named by `state` (single use, not expired, of this provider).
async fn consume(cx: &AppState, provider: &str, state: &str) -> ApiResult<oidc_flow::Model> {
    let state_hash = security::token_hash(state);
    write_tx!(&cx.db, |tx| {
        let now = store::now();
        let consumed = oidc_flow::Entity::update_many()
            .col_expr(oidc_flow::Column::UsedAt, Expr::value(Some(now)))
            .filter(oidc_flow::Column::StateHash.eq(state_hash.clone()))
            .filter(oidc_flow::Column::Provider.eq(provider))
            .filter(oidc_flow::Column::UsedAt.is_null())
            .filter(oidc_flow::Column::ExpiresAt.gt(now))
            .exec(tx)
            .await?;
        if consumed.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::OidcStateInvalid));
        }
        let flow = oidc_flow::Entity::find()
            .filter(oidc_flow::Column::StateHash.eq(state_hash.clone()))
            .one(tx)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::OidcStateInvalid))?;
        tx.event(NewEvent {
            stream: flow_stream(flow.id),
            organisation_id: None,
            actor: "anonymous".into(),
            kind: "oidc_flow_consumed",
            payload: serde_json::json!({ "flow_id": flow.id, "provider": flow.provider }),
        })
        .await?;
        Ok(flow)
    })
}

/// Records why a consumed flow opened no session, then answers that refusal.
async fn refuse(cx: &AppState, flow: &oidc_flow::Model, e: ApiError) -> ApiError {
    tracing::info!(oidc.provider = %flow.provider, code = e.code.code(), "OIDC sign-in refused");
    let (id, provider, code) = (flow.id, flow.provider.as_str(), e.code.code());
    let recorded: ApiResult<()> = write_tx!(&cx.db, |tx| {
        tx.event(NewEvent {
            stream: flow_stream(id),
            organisation_id: None,
            actor: "anonymous".into(),
            kind: "oidc_sign_in_refused",
            payload: serde_json::json!({ "flow_id": id, "provider": provider, "code": code }),
        })
        .await?;
        Ok(())
    });
    if let Err(err) = recorded {
        tracing::error!(error = %err, "OIDC refusal not recorded");
    }
    e
}

fn unverified(fr: &str, en: &str) -> ApiError {
    ApiError::new(ErrorCode::OidcEmailUnverified).detail(fr, en)
}

fn display_name(a: &Asserted, email: &str) -> String {
    let full = [a.given_name.as_deref(), a.family_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let candidate = if full.is_empty() {
        email.split('@').next().unwrap_or(email).to_owned()
    } else {
        full
    };
    Name::parse(&candidate)
        .map(|n| n.into_inner())
        .unwrap_or_else(|_| "Utilisateur".into())
}

/// Finishes a sign-in: consumes the flow, checks the provider's answer, links the identity and
/// opens a session. Every refusal leaves no session.
pub async fn finish(cx: &AppState, provider: &str, cb: Callback) -> ApiResult<SignedIn> {
    cx.oidc.settings(provider)?;
    let state = cb
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::new(ErrorCode::OidcStateInvalid))?;
    let flow = consume(cx, provider, state).await?;
    if let Some(error) = cb.error.as_deref() {
        let description = cb.error_description.as_deref().unwrap_or_default();
        let e = ApiError::new(ErrorCode::OidcProviderRefused).detail(
            format!("réponse du fournisseur : {error} {description}"),
            format!("the provider answered: {error} {description}"),
        );
        return Err(refuse(cx, &flow, e).await);
    }
    let Some(code) = cb.code.as_deref().filter(|c| !c.is_empty()) else {
        let e = ApiError::new(ErrorCode::OidcProviderRefused).detail(
            "le fournisseur n'a renvoyé aucun code",
            "the provider sent no code back",
        );
        return Err(refuse(cx, &flow, e).await);
    };
    let asserted = match cx
        .oidc
        .finish(
            provider,
            code,
            &flow.pkce_verifier,
            &flow.nonce,
            cb.iss.as_deref(),
        )
        .await
    {
        Ok(a) => a,
        Err(e) => return Err(refuse(cx, &flow, e).await),
    };
    match link_and_open(cx, &flow, &asserted).await {
        Ok(signed_in) => Ok(signed_in),
        Err(e) if e.code != ErrorCode::Internal && e.code != ErrorCode::Unavailable => {
            Err(refuse(cx, &flow, e).await)
        }
        Err(e) => Err(e),
    }
}

async fn link_and_open(
    cx: &AppState,
    flow: &oidc_flow::Model,
    a: &Asserted,
) -> ApiResult<SignedIn> {
    let token = security::new_token(security::SESSION_PREFIX);
    let ttl = cx.settings.session_ttl_hours;
    let email = a
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
        .map(|e| e.as_str().to_owned());
    let amr_json = (!a.amr.is_empty()).then(|| serde_json::json!(a.amr).to_string());
    let provider = flow.provider.as_str();
    let (user_id, session_id, expires_at, linked_by, joined) = write_tx!(&cx.db, |tx| {
        let now = store::now();
        let invitation = match flow.invitation_id {
            None => None,
            Some(id) => Some(
                invitation::Entity::find_by_id(id)
                    .one(tx)
                    .await?
                    .filter(|i| {
                        i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now
                    })
                    .ok_or_else(|| ApiError::new(ErrorCode::InvitationInvalid))?,
            ),
        };
        let (user_id, identity_id, linked_by) =
            match store::oidc::identity(tx, provider, &a.subject).await? {
                Some(identity) => {
                    oidc_identity::Entity::update_many()
                        .col_expr(oidc_identity::Column::LastSeenAt, Expr::value(now))
                        .col_expr(oidc_identity::Column::Email, Expr::value(email.clone()))
                        .col_expr(
                            oidc_identity::Column::EmailVerified,
                            Expr::value(a.email_verified),
                        )
                        .col_expr(oidc_identity::Column::Siret, Expr::value(a.siret.clone()))
                        .col_expr(oidc_identity::Column::Acr, Expr::value(a.acr.clone()))
                        .col_expr(oidc_identity::Column::Amr, Expr::value(amr_json.clone()))
                        .filter(oidc_identity::Column::Id.eq(identity.id))
                        .exec(tx)
                        .await?;
                    (identity.user_id, identity.id, "identity")
                }
                None => {
                    // The address the account must have: the invitation's, or the asserted one.
                    let target = match (&invitation, &email) {
                        (Some(inv), _) => inv.email.clone(),
                        (None, Some(e)) => e.clone(),
                        (None, None) => {
                            return Err(unverified(
                                "le fournisseur n'a communiqué aucune adresse e-mail",
                                "the provider gave no e-mail address",
                            ));
                        }
                    };
                    let vouched = a.email_verified && email.as_deref() == Some(target.as_str());
                    let (user_id, linked_by) = match user_by_email(tx, &target).await? {
                        Some(u) if vouched => (u.id, "verified_email"),
                        Some(_) => {
                            return Err(unverified(
                                "un compte existe avec cette adresse, mais le fournisseur ne la \
                                 déclare pas vérifiée (email_verified) : connectez-vous par mot de \
                                 passe",
                                "an account exists with this address, but the provider does not \
                                 declare it verified (email_verified): sign in with your password",
                            ));
                        }
                        None if vouched || invitation.is_some() => {
                            let id = store::new_id();
                            user::Entity::insert(user::ActiveModel {
                                id: Set(id),
                                email: Set(target.clone()),
                                display_name: Set(display_name(a, &target)),
                                password_hash: Set(None),
                                // The provider vouched for the address, or the invitation
                                // mailed to it was used.
                                email_verified_at: Set(Some(now)),
                                language: Set("fr".to_owned()),
                                created_at: Set(now),
                                updated_at: Set(now),
                            })
                            .exec_without_returning(tx)
                            .await
                            .map_err(|e| {
                                if is_unique_violation(&e) {
                                    ApiError::new(ErrorCode::EmailTaken)
                                } else {
                                    e.into()
                                }
                            })?;
                            let by = if vouched { "new_account" } else { "invitation" };
                            (id, by)
                        }
                        None => {
                            return Err(unverified(
                                "sans invitation, une adresse que le fournisseur ne déclare pas \
                                 vérifiée ne peut pas ouvrir de compte",
                                "without an invitation, an address the provider does not declare \
                                 verified cannot open an account",
                            ));
                        }
                    };
                    let identity_id = store::new_id();
                    oidc_identity::Entity::insert(oidc_identity::ActiveModel {
                        id: Set(identity_id),
                        user_id: Set(user_id),
                        provider: Set(provider.to_owned()),
                        subject: Set(a.subject.clone()),
                        email: Set(email.clone()),
                        email_verified: Set(a.email_verified),
                        siret: Set(a.siret.clone()),
                        acr: Set(a.acr.clone()),
                        amr: Set(amr_json.clone()),
                        linked_by: Set(linked_by.to_owned()),
                        created_at: Set(now),
                        last_seen_at: Set(now),
                    })
                    .exec_without_returning(tx)
                    .await?;
                    tx.event(NewEvent {
                        stream: user_stream(user_id),
                        organisation_id: None,
                        actor: format!("user/{user_id}"),
                        kind: "oidc_identity_linked",
                        payload: serde_json::json!({
                            "identity_id": identity_id, "provider": provider,
                            "subject": a.subject, "linked_by": linked_by,
                        }),
                    })
                    .await?;
                    (user_id, identity_id, linked_by)
                }
            };
        let mut joined = None;
        if let Some(inv) = &invitation {
            let account = find_user(tx, user_id)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::InvitationInvalid))?;
            if account.email != inv.email {
                return Err(ApiError::new(ErrorCode::InvitationInvalid).detail(
                    "cette invitation est adressée à un autre compte",
                    "this invitation is addressed to another account",
                ));
            }
            let consumed = invitation::Entity::update_many()
                .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
                .filter(invitation::Column::Id.eq(inv.id))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .exec(tx)
                .await?;
            if consumed.rows_affected != 1 {
                return Err(ApiError::new(ErrorCode::InvitationInvalid));
            }
            super::accounts::add_invited_member(tx, user_id, inv, now, Some("oidc")).await?;
            joined = Some(inv.organisation_id);
        }
        let (session_id, expires_at) = open_session_in(tx, ttl, user_id, &token, "oidc").await?;
        oidc_session::Entity::insert(oidc_session::ActiveModel {
            session_id: Set(session_id),
            identity_id: Set(identity_id),
            provider: Set(provider.to_owned()),
            acr: Set(a.acr.clone()),
            amr: Set(amr_json.clone()),
            id_token: Set(a.id_token.clone()),
            created_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        Ok((user_id, session_id, expires_at, linked_by, joined))
    })?;
    tracing::info!(user.id = %user_id, oidc.provider = provider, "signed in with OIDC");
    let proposed_organisation = match a.siret.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(siret) => match organisation::Entity::find()
            .filter(organisation::Column::Siret.eq(siret))
            .one(&cx.db)
            .await?
        {
            None => None,
            Some(org) => Some(Proposed {
                already_member: crate::store::organisations::find_membership(
                    &cx.db, org.id, user_id,
                )
                .await
                .is_ok(),
                organisation_id: org.id,
                name: org.name,
            }),
        },
    };
    Ok(SignedIn {
        opened: OpenedSession {
            user_id,
            token,
            expires_at,
        },
        session_id,
        provider: provider.to_owned(),
        linked_by,
        acr: a.acr.clone(),
        amr: a.amr.clone(),
        proposed_organisation,
        joined_organisation: joined,
    })
}

/// Signs out of `session_id` and answers the provider's logout URL when a provider opened it.
pub async fn logout(cx: &AppState, user_id: Uuid, session_id: Uuid) -> ApiResult<Option<String>> {
    let opened_by = store::oidc::session(&cx.db, session_id).await?;
    accounts::logout(cx, user_id, session_id).await?;
    Ok(match opened_by {
        Some(s) => cx.oidc.end_session_url(&s.provider, &s.id_token).await,
        None => None,
    })
}

/// Sets whether organisation `org` requires OIDC sign-in. Requiring it from a session a
/// provider did not open is refused (403 `oidc_sign_in_required`): that session would lose the
/// membership it acts through, and its admin could lock everyone out.
pub async fn set_policy(
    cx: &AppState,
    by: &By,
    org: Uuid,
    required: bool,
    session_id: Option<Uuid>,
) -> ApiResult<bool> {
    if required {
        let from_oidc = match session_id {
            Some(id) => store::oidc::session(&cx.db, id).await?.is_some(),
            None => false,
        };
        if !from_oidc {
            return Err(ApiError::new(ErrorCode::OidcSignInRequired).detail(
                "connectez-vous d'abord par un fournisseur d'identité pour l'exiger de vos membres",
                "sign in through an identity provider first to require it of your members",
            ));
        }
    }
    write_tx!(&cx.db, |tx| {
        let now = store::now();
        let previous = store::oidc::required(tx, org).await?;
        organisation_oidc_policy::Entity::insert(organisation_oidc_policy::ActiveModel {
            organisation_id: Set(org),
            required: Set(required),
            updated_by: Set(by.actor_ref.clone()),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(organisation_oidc_policy::Column::OrganisationId)
                .update_columns([
                    organisation_oidc_policy::Column::Required,
                    organisation_oidc_policy::Column::UpdatedBy,
                    organisation_oidc_policy::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
        tx.event(NewEvent {
            stream: organisation_stream(org),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "oidc_policy_set",
            payload: serde_json::json!({ "required": required, "previous": previous }),
        })
        .await?;
        Ok(required)
    })
}
