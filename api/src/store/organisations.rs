//! Organisations and what hangs off them: accounts, sessions, memberships, invitations, API
//! keys, sites, and the organisation's stream of events. Lookups and the selects that list pages
//! of them; the writes themselves are in `commands`.

use reemploi_domain::organisation::{self as dom, Profile};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Select,
};
use uuid::Uuid;

use super::entities::{api_key, event, invitation, membership, organisation, site, user};
use super::events::{NewEvent, organisation_stream};
use super::tx::Tx;
use crate::error::{ApiError, ApiResult};

/// Loads an organisation or answers 404.
pub async fn find_organisation<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The organisations among `ids`, by id.
pub async fn organisations_by_id<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> ApiResult<std::collections::HashMap<Uuid, organisation::Model>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(organisation::Entity::find()
        .filter(organisation::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect())
}

/// Loads an organisation and locks its row until the end of the transaction (`FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction already excludes other writers). Changes to its
/// profile, status and membership are serialised on this lock.
pub async fn lock_organisation(tx: &Tx, id: Uuid) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The platform operator's organisation, if it was created.
pub async fn operator_organisation<C: ConnectionTrait>(
    db: &C,
) -> ApiResult<Option<organisation::Model>> {
    Ok(organisation::Entity::find()
        .filter(organisation::Column::Kind.eq(dom::OrganisationKind::Operator.as_str()))
        .one(db)
        .await?)
}

/// Every organisation, optionally of one kind and status (for the operator's list).
pub fn organisations_select(
    kind: Option<dom::OrganisationKind>,
    status: Option<dom::VerificationStatus>,
) -> Select<organisation::Entity> {
    let mut select = organisation::Entity::find();
    if let Some(kind) = kind {
        select = select.filter(organisation::Column::Kind.eq(kind.as_str()));
    }
    if let Some(status) = status {
        select = select.filter(organisation::Column::Status.eq(status.as_str()));
    }
    select
}

/// Writes a parsed profile into the columns of an organisation.
pub fn profile_columns(am: &mut organisation::ActiveModel, p: &Profile) {
    am.name = Set(p.name.as_str().to_owned());
    am.siren = Set(p.siren.as_ref().map(|s| s.as_str().to_owned()));
    am.siret = Set(p.siret.as_ref().map(|s| s.as_str().to_owned()));
    am.rna = Set(p.rna.as_ref().map(|s| s.as_str().to_owned()));
    am.insee_code = Set(p.insee_code.as_str().to_owned());
    am.departement = Set(p.insee_code.departement().to_owned());
    am.address = Set(p.address.as_str().to_owned());
    am.postcode = Set(p.postcode.as_str().to_owned());
    am.city = Set(p.city.as_str().to_owned());
    am.latitude = Set(p.coordinates.map(|c| c.latitude()));
    am.longitude = Set(p.coordinates.map(|c| c.longitude()));
    am.contact_email = Set(p.contact_email.as_ref().map(|e| e.as_str().to_owned()));
    am.phone = Set(p.phone.as_ref().map(|t| t.as_str().to_owned()));
    am.public_body_type = Set(p.public_body_type.map(|t| t.as_str().to_owned()));
    am.esus_reference = Set(p.esus_reference.as_ref().map(|t| t.as_str().to_owned()));
    am.esus_expires_on = Set(p.esus_expires_on);
    am.beneficiary_category = Set(p.beneficiary_category.map(|c| c.as_str().to_owned()));
    am.public_utility = Set(p.public_utility);
    am.statutory_purpose = Set(p.statutory_purpose.as_ref().map(|t| t.as_str().to_owned()));
}

/// Appends an event to an organisation's stream.
pub async fn org_event(
    tx: &Tx,
    organisation_id: Uuid,
    actor: String,
    kind: &'static str,
    payload: serde_json::Value,
) -> ApiResult<()> {
    tx.event(NewEvent {
        stream: organisation_stream(organisation_id),
        organisation_id: Some(organisation_id),
        actor,
        kind,
        payload,
    })
    .await?;
    Ok(())
}

/// The events whose admins are this organisation's, oldest first by id.
pub fn organisation_events_select(organisation_id: Uuid) -> Select<event::Entity> {
    event::Entity::find().filter(event::Column::OrganisationId.eq(organisation_id))
}

// ---------------------------------------------------------------------------------------------
// Accounts.

/// A user by id.
pub async fn find_user<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

/// A user by (normalised) e-mail address.
pub async fn user_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?)
}

// ---------------------------------------------------------------------------------------------
// Memberships and invitations.

/// The membership of `user` in `org`, or 404.
pub async fn find_membership<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    user: Uuid,
) -> ApiResult<membership::Model> {
    membership::Entity::find()
        .filter(membership::Column::OrganisationId.eq(org))
        .filter(membership::Column::UserId.eq(user))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// How many admins an organisation has.
pub async fn admin_count<C: ConnectionTrait>(db: &C, org: Uuid) -> ApiResult<u64> {
    Ok(membership::Entity::find()
        .filter(membership::Column::OrganisationId.eq(org))
        .filter(membership::Column::Role.eq(dom::Role::Admin.as_str()))
        .count(db)
        .await?)
}

/// The memberships of an organisation.
pub fn members_select(org: Uuid) -> Select<membership::Entity> {
    membership::Entity::find().filter(membership::Column::OrganisationId.eq(org))
}

/// The invitations of an organisation.
pub fn invitations_select(org: Uuid) -> Select<invitation::Entity> {
    invitation::Entity::find().filter(invitation::Column::OrganisationId.eq(org))
}

/// An invitation of `org`, or 404.
pub async fn find_invitation<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    id: Uuid,
) -> ApiResult<invitation::Model> {
    invitation::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|i| i.organisation_id == org)
        .ok_or_else(ApiError::not_found)
}

/// The invitation whose token hashes to `token_hash`.
pub async fn invitation_by_token_hash<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> ApiResult<Option<invitation::Model>> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?)
}

// ---------------------------------------------------------------------------------------------
// API keys.

/// The API keys of an organisation.
pub fn api_keys_select(org: Uuid) -> Select<api_key::Entity> {
    api_key::Entity::find().filter(api_key::Column::OrganisationId.eq(org))
}

/// An API key of `org`, or 404.
pub async fn find_api_key<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    id: Uuid,
) -> ApiResult<api_key::Model> {
    api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|k| k.organisation_id == org)
        .ok_or_else(ApiError::not_found)
}

// ---------------------------------------------------------------------------------------------
// Sites.

/// The sites of an organisation that are not archived.
pub fn sites_select(org: Uuid) -> Select<site::Entity> {
    site::Entity::find()
        .filter(site::Column::OrganisationId.eq(org))
        .filter(site::Column::ArchivedAt.is_null())
}

/// A site of `org` that is not archived, or 404.
pub async fn find_site<C: ConnectionTrait>(db: &C, org: Uuid, id: Uuid) -> ApiResult<site::Model> {
    site::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|s| s.organisation_id == org && s.archived_at.is_none())
        .ok_or_else(ApiError::not_found)
}

/// Locks a site of `org` that is not archived, or 404.
pub async fn lock_site(tx: &Tx, org: Uuid, id: Uuid) -> ApiResult<site::Model> {
    site::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .filter(|s| s.organisation_id == org && s.archived_at.is_none())
        .ok_or_else(ApiError::not_found)
}
