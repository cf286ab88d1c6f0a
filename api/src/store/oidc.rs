//! Queries of the OpenID Connect sign-in: identities, the sessions a provider opened, and the
//! organisations that require OIDC sign-in (whose memberships a password session does not carry).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::access::CallerMembership;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::entities::{
    membership, oidc_identity, oidc_session, organisation, organisation_oidc_policy,
};

/// The identity `(provider, subject)`, if linked.
pub async fn identity<C: ConnectionTrait>(
    db: &C,
    provider: &str,
    subject: &str,
) -> ApiResult<Option<oidc_identity::Model>> {
    Ok(oidc_identity::Entity::find()
        .filter(oidc_identity::Column::Provider.eq(provider))
        .filter(oidc_identity::Column::Subject.eq(subject))
        .one(db)
        .await?)
}

/// What a provider asserted for `session_id`, when a provider opened it.
pub async fn session<C: ConnectionTrait>(
    db: &C,
    session_id: Uuid,
) -> ApiResult<Option<oidc_session::Model>> {
    Ok(oidc_session::Entity::find_by_id(session_id).one(db).await?)
}

/// The organisations among `ids` that require OIDC sign-in.
async fn requiring<C: ConnectionTrait>(db: &C, ids: Vec<Uuid>) -> ApiResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(organisation_oidc_policy::Entity::find()
        .filter(organisation_oidc_policy::Column::OrganisationId.is_in(ids))
        .filter(organisation_oidc_policy::Column::Required.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.organisation_id)
        .collect())
}

/// Whether organisation `id` requires OIDC sign-in.
pub async fn required<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<bool> {
    Ok(!requiring(db, vec![id]).await?.is_empty())
}

/// The memberships a session carries: all of them for a session an OIDC provider opened;
/// for any other session, none of an organisation that requires OIDC sign-in.
pub async fn carried_memberships<C: ConnectionTrait>(
    db: &C,
    session_id: Uuid,
    memberships: Vec<CallerMembership>,
) -> ApiResult<Vec<CallerMembership>> {
    let ids = memberships.iter().map(|m| m.organisation_id).collect();
    let requiring = requiring(db, ids).await?;
    if requiring.is_empty() || session(db, session_id).await?.is_some() {
        return Ok(memberships);
    }
    Ok(memberships
        .into_iter()
        .filter(|m| !requiring.contains(&m.organisation_id))
        .collect())
}

/// Refuses a password sign-in (403 `oidc_sign_in_required`) when every organisation the user
/// belongs to requires OIDC sign-in: such a session could do nothing. A user who also belongs
/// to another organisation signs in, without the memberships that require OIDC.
pub async fn refuse_password_sign_in<C: ConnectionTrait>(db: &C, user_id: Uuid) -> ApiResult<()> {
    let orgs: Vec<Uuid> = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.organisation_id)
        .collect();
    let requiring = requiring(db, orgs.clone()).await?;
    if orgs.is_empty() || requiring.len() < orgs.len() {
        return Ok(());
    }
    let names: Vec<String> = organisation::Entity::find()
        .filter(organisation::Column::Id.is_in(requiring))
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.name)
        .collect();
    Err(ApiError::new(ErrorCode::OidcSignInRequired).detail(
        format!(
            "{} : connectez-vous par le fournisseur d'identité (GET /v1/auth/oidc/providers)",
            names.join(", ")
        ),
        format!(
            "{}: sign in through the identity provider (GET /v1/auth/oidc/providers)",
            names.join(", ")
        ),
    ))
}
