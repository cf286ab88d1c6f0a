//! Documents: lookups by id and by verification code, the documents about a lot, reservation or
//! device, the signatures of a series, and what decides who reads them.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::entities::{
    claim, document, document_signature, handover, item, lot, organisation, reservation,
};
use super::tx::Tx;
use crate::error::{ApiError, ApiResult};

/// A document (one version), or 404.
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<document::Model> {
    document::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The document printed with verification `code` (any case, surrounding blanks ignored).
pub async fn by_code<C: ConnectionTrait>(db: &C, code: &str) -> ApiResult<document::Model> {
    document::Entity::find()
        .filter(document::Column::Code.eq(code.trim().to_uppercase()))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Every version of every document about a lot (its own and its devices').
pub async fn of_lot<C: ConnectionTrait>(db: &C, lot_id: Uuid) -> ApiResult<Vec<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::LotId.eq(lot_id))
        .all(db)
        .await?)
}

/// Every version of every document about a reservation.
pub async fn of_reservation<C: ConnectionTrait>(
    db: &C,
    reservation_id: Uuid,
) -> ApiResult<Vec<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::ReservationId.eq(reservation_id))
        .all(db)
        .await?)
}

/// Every version of every document about a device.
pub async fn of_item<C: ConnectionTrait>(db: &C, item_id: Uuid) -> ApiResult<Vec<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::ItemId.eq(item_id))
        .all(db)
        .await?)
}

/// Every version of the conventions de cession, oldest first.
pub async fn conventions<C: ConnectionTrait>(db: &C) -> ApiResult<Vec<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::Kind.eq("convention_cession"))
        .order_by_asc(document::Column::CreatedAt)
        .all(db)
        .await?)
}

/// The newest version of a series.
pub async fn newest_of_series<C: ConnectionTrait>(
    db: &C,
    series_id: Uuid,
) -> ApiResult<Option<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::SeriesId.eq(series_id))
        .order_by_desc(document::Column::Version)
        .one(db)
        .await?)
}

/// The newest version of a series, locked until the end of the transaction (signers of one
/// series wait for each other, so that `signed` is written from every signature).
pub async fn lock_newest_of_series(tx: &Tx, series_id: Uuid) -> ApiResult<document::Model> {
    document::Entity::find()
        .filter(document::Column::SeriesId.eq(series_id))
        .order_by_desc(document::Column::Version)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Every version of a series, oldest first.
pub async fn versions<C: ConnectionTrait>(
    db: &C,
    series_id: Uuid,
) -> ApiResult<Vec<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::SeriesId.eq(series_id))
        .order_by_asc(document::Column::Version)
        .all(db)
        .await?)
}

/// Every version of every document about a handover.
pub async fn of_handover<C: ConnectionTrait>(
    db: &C,
    handover_id: Uuid,
) -> ApiResult<Vec<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::HandoverId.eq(handover_id))
        .all(db)
        .await?)
}

/// The signatures recorded on a series.
pub async fn signatures<C: ConnectionTrait>(
    db: &C,
    series_id: Uuid,
) -> ApiResult<Vec<document_signature::Model>> {
    Ok(document_signature::Entity::find()
        .filter(document_signature::Column::SeriesId.eq(series_id))
        .all(db)
        .await?)
}

/// An organisation's name (empty when it is gone).
pub async fn organisation_name<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<String> {
    Ok(organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|o| o.name)
        .unwrap_or_default())
}

/// A lot, or 404.
pub async fn find_lot<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<lot::Model> {
    lot::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A lot, locked until the end of the transaction, or 404.
pub async fn lock_lot(tx: &Tx, id: Uuid) -> ApiResult<lot::Model> {
    lot::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A lot with the organisations party to it: its public body, and the refurbisher whose claim
/// was accepted.
pub async fn lot_parties<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<(lot::Model, Vec<Uuid>)> {
    let l = find_lot(db, id).await?;
    let mut related = vec![l.organisation_id];
    if let Some(c) = l.accepted_claim_id
        && let Some(c) = claim::Entity::find_by_id(c).one(db).await?
    {
        related.push(c.refurbisher_id);
    }
    Ok((l, related))
}

/// A reservation, if it exists.
pub async fn find_reservation<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<Option<reservation::Model>> {
    Ok(reservation::Entity::find_by_id(id).one(db).await?)
}

/// A device, if it exists.
pub async fn find_item<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<Option<item::Model>> {
    Ok(item::Entity::find_by_id(id).one(db).await?)
}

/// A handover, if it exists.
pub async fn find_handover<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<Option<handover::Model>> {
    Ok(handover::Entity::find_by_id(id).one(db).await?)
}

/// The reservations a handover covers.
pub async fn handover_reservations<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<Vec<reservation::Model>> {
    Ok(reservation::Entity::find()
        .filter(reservation::Column::HandoverId.eq(id))
        .order_by_asc(reservation::Column::Id)
        .all(db)
        .await?)
}

/// The organisations party to a handover and to the reservations it covers (their givers).
pub async fn handover_parties<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<Vec<Uuid>> {
    let h = find_handover(db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut orgs = vec![h.from_organisation_id, h.to_organisation_id];
    for r in handover_reservations(db, id).await? {
        orgs.push(r.giver_id);
    }
    orgs.dedup();
    Ok(orgs)
}
