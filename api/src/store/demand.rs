//! Queries of the demand side (reservations, requests, their lines and holds): the locks the
//! commands take, the counts they decide on, and the views the HTTP layer shapes into answers.
//!
//! Locks are always taken in one order — request, reservation(s), the association's
//! organisation row, then devices by id — so that two commands never wait on each other in a
//! cycle. On SQLite the write transaction already holds the database lock and these are no-ops.

use reemploi_domain::demand::ReservationStatus;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use uuid::Uuid;

use super::entities::{
    item, item_hold, lot, membership, organisation, photo, request, request_line, reservation,
    reservation_item, site, user,
};
use super::tx::Tx;
use crate::error::{ApiError, ApiResult};

/// An organisation, or 404.
pub async fn organisation<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A reservation, or 404.
pub async fn reservation<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A request, or 404.
pub async fn request<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<request::Model> {
    request::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Locks a reservation row until the end of the transaction and reads it, or 404.
pub async fn lock_reservation(tx: &Tx, id: Uuid) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Locks a request row until the end of the transaction and reads it; `None` if there is none.
pub async fn lock_request(tx: &Tx, id: Uuid) -> Result<Option<request::Model>, DbErr> {
    request::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await
}

/// Locks an organisation row, serialising what is counted per organisation (the fair share).
/// `FOR NO KEY UPDATE` on PostgreSQL: rows referencing the organisation may still be inserted.
pub async fn lock_organisation(tx: &Tx, id: Uuid) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(tx)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Locks devices in id order (the order every command uses) and reads them, sorted by id.
/// Ids that name no device are left out.
pub async fn lock_items(tx: &Tx, ids: &[Uuid]) -> Result<Vec<item::Model>, DbErr> {
    let ordered = crate::commands::lock_order(ids);
    item::Entity::find()
        .filter(item::Column::Id.is_in(ordered))
        .order_by_asc(item::Column::Id)
        .lock_exclusive()
        .all(tx)
        .await
}

/// Devices by id, in id order (unlocked).
pub async fn items<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<Vec<item::Model>, DbErr> {
    item::Entity::find()
        .filter(item::Column::Id.is_in(ids.to_vec()))
        .order_by_asc(item::Column::Id)
        .all(db)
        .await
}

/// The cession modes of lots, by id.
pub async fn lots<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<Vec<lot::Model>, DbErr> {
    lot::Entity::find()
        .filter(lot::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await
}

/// How many devices an association holds at a refurbisher (reserved, not yet handed over).
pub async fn held_count<C: ConnectionTrait>(
    db: &C,
    refurbisher_id: Uuid,
    association_id: Uuid,
) -> Result<u64, DbErr> {
    item_hold::Entity::find()
        .filter(item_hold::Column::RefurbisherId.eq(refurbisher_id))
        .filter(item_hold::Column::AssociationId.eq(association_id))
        .count(db)
        .await
}

/// The line `position` of a request.
pub async fn line<C: ConnectionTrait>(
    db: &C,
    request_id: Uuid,
    position: i32,
) -> Result<Option<request_line::Model>, DbErr> {
    request_line::Entity::find()
        .filter(request_line::Column::RequestId.eq(request_id))
        .filter(request_line::Column::Position.eq(position))
        .one(db)
        .await
}

/// The lines of a request, by position.
pub async fn lines<C: ConnectionTrait>(
    db: &C,
    request_id: Uuid,
) -> Result<Vec<request_line::Model>, DbErr> {
    request_line::Entity::find()
        .filter(request_line::Column::RequestId.eq(request_id))
        .order_by_asc(request_line::Column::Position)
        .all(db)
        .await
}

const HOLDING: [ReservationStatus; 2] = [ReservationStatus::Proposed, ReservationStatus::Active];

fn holding() -> Vec<&'static str> {
    HOLDING.iter().map(|s| s.as_str()).collect()
}

/// Devices held for a request line in proposed or active reservations.
pub async fn pending_on_line<C: ConnectionTrait>(
    db: &C,
    request_id: Uuid,
    position: i32,
) -> Result<u64, DbErr> {
    let ids: Vec<Uuid> = reservation::Entity::find()
        .filter(reservation::Column::RequestId.eq(request_id))
        .filter(reservation::Column::Status.is_in(holding()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    reservation_item::Entity::find()
        .filter(reservation_item::Column::ReservationId.is_in(ids))
        .filter(reservation_item::Column::RequestLinePosition.eq(position))
        .count(db)
        .await
}

/// Locks, in id order, the reservations attached to a request that still hold devices.
pub async fn lock_holding_for_request(
    tx: &Tx,
    request_id: Uuid,
) -> Result<Vec<reservation::Model>, DbErr> {
    reservation::Entity::find()
        .filter(reservation::Column::RequestId.eq(request_id))
        .filter(reservation::Column::Status.is_in(holding()))
        .order_by_asc(reservation::Column::Id)
        .lock_exclusive()
        .all(tx)
        .await
}

/// The holds of a reservation, by device id.
pub async fn holds_of<C: ConnectionTrait>(
    db: &C,
    reservation_id: Uuid,
) -> Result<Vec<item_hold::Model>, DbErr> {
    item_hold::Entity::find()
        .filter(item_hold::Column::ReservationId.eq(reservation_id))
        .order_by_asc(item_hold::Column::ItemId)
        .all(db)
        .await
}

/// The devices of a reservation with the request line each answers, by device id.
pub async fn reservation_items<C: ConnectionTrait>(
    db: &C,
    reservation_id: Uuid,
) -> Result<Vec<reservation_item::Model>, DbErr> {
    reservation_item::Entity::find()
        .filter(reservation_item::Column::ReservationId.eq(reservation_id))
        .order_by_asc(reservation_item::Column::ItemId)
        .all(db)
        .await
}

/// Whether a device declares storage media and each has a successful sanitisation record
/// (`domain::workshop::storage_sanitised`).
pub async fn storage_sanitised<C: ConnectionTrait>(db: &C, item_id: Uuid) -> Result<bool, DbErr> {
    Ok(super::items::storage_facts(db, item_id).await?.1)
}

/// Where an organisation's mail goes: every admin, and its contact address, deduplicated.
pub async fn mail_recipients<C: ConnectionTrait>(db: &C, org: Uuid) -> Result<Vec<String>, DbErr> {
    let admins: Vec<Uuid> = membership::Entity::find()
        .filter(membership::Column::OrganisationId.eq(org))
        .filter(membership::Column::Role.eq("admin"))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let mut to: Vec<String> = user::Entity::find()
        .filter(user::Column::Id.is_in(admins))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.email)
        .collect();
    if let Some(o) = organisation::Entity::find_by_id(org).one(db).await?
        && let Some(e) = o.contact_email
    {
        to.push(e);
    }
    to.sort();
    to.dedup();
    Ok(to)
}

/// Whether `site` is a live site of `organisation`.
pub async fn is_live_site_of<C: ConnectionTrait>(
    db: &C,
    site_id: Uuid,
    organisation_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(site::Entity::find_by_id(site_id)
        .one(db)
        .await?
        .is_some_and(|s| s.organisation_id == organisation_id && s.archived_at.is_none()))
}

/// A reservation with what its answer shows.
#[derive(Debug, Clone)]
pub struct ReservationView {
    pub reservation: reservation::Model,
    pub association: organisation::Model,
    pub refurbisher: organisation::Model,
    /// Its devices, by id, with the request line each answers.
    pub items: Vec<(item::Model, Option<i32>)>,
}

/// Loads what a reservation's answer shows.
pub async fn reservation_view<C: ConnectionTrait>(
    db: &C,
    r: reservation::Model,
) -> ApiResult<ReservationView> {
    let association = organisation(db, r.association_id).await?;
    let refurbisher = organisation(db, r.refurbisher_id).await?;
    let lines = reservation_items(db, r.id).await?;
    let ids: Vec<Uuid> = lines.iter().map(|l| l.item_id).collect();
    let devices = items(db, &ids).await?;
    let items = devices
        .into_iter()
        .map(|m| {
            let line = lines
                .iter()
                .find(|l| l.item_id == m.id)
                .and_then(|l| l.request_line_position);
            (m, line)
        })
        .collect();
    Ok(ReservationView {
        reservation: r,
        association,
        refurbisher,
        items,
    })
}

/// A request with what its answer shows.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub request: request::Model,
    pub association_name: String,
    pub lines: Vec<request_line::Model>,
    pub distance_km: Option<f64>,
}

/// Loads what a request's answer shows.
pub async fn request_view<C: ConnectionTrait>(
    db: &C,
    r: request::Model,
    distance_km: Option<f64>,
) -> ApiResult<RequestView> {
    let association = organisation(db, r.association_id).await?;
    let lines = lines(db, r.id).await?;
    Ok(RequestView {
        request: r,
        association_name: association.name,
        lines,
        distance_km,
    })
}

/// The reservations of an association (`as_association`) or of a refurbisher's devices.
pub fn reservations_of(organisation_id: Uuid, as_association: bool) -> Select<reservation::Entity> {
    let column = if as_association {
        reservation::Column::AssociationId
    } else {
        reservation::Column::RefurbisherId
    };
    reservation::Entity::find().filter(column.eq(organisation_id))
}

/// The requests of an association.
pub fn requests_of(association_id: Uuid) -> Select<request::Entity> {
    request::Entity::find().filter(request::Column::AssociationId.eq(association_id))
}

/// The id column paging walks.
pub const RESERVATION_ID: reservation::Column = reservation::Column::Id;
/// The id column paging walks.
pub const REQUEST_ID: request::Column = request::Column::Id;

/// Open (or partly fulfilled) requests, nearest to `point` first (ties by id), within
/// `within_km` when given; each with its distance from the delivery site or the association's
/// seat.
pub async fn open_requests_near<C: ConnectionTrait>(
    db: &C,
    point: Option<(f64, f64)>,
    within_km: Option<f64>,
    after: Option<(f64, Uuid)>,
    limit: usize,
) -> ApiResult<Vec<(f64, request::Model, Option<f64>)>> {
    use reemploi_domain::demand::RequestStatus;
    let rows = request::Entity::find()
        .filter(request::Column::Status.is_in([
            RequestStatus::Open.as_str(),
            RequestStatus::PartiallyFulfilled.as_str(),
        ]))
        .order_by_asc(request::Column::Id)
        .all(db)
        .await?;
    let mut found = Vec::new();
    for r in rows {
        let place = match r.delivery_site_id {
            Some(s) => site::Entity::find_by_id(s)
                .one(db)
                .await?
                .and_then(|s| s.latitude.zip(s.longitude)),
            None => {
                let a = organisation(db, r.association_id).await?;
                a.latitude.zip(a.longitude)
            }
        };
        let distance = match (point, place) {
            (Some(p), Some(q)) => Some(
                crate::search::GeoPoint { lat: p.0, lon: p.1 }
                    .distance_km(crate::search::GeoPoint { lat: q.0, lon: q.1 }),
            ),
            _ => None,
        };
        if let Some(km) = within_km
            && distance.is_none_or(|d| d > km)
        {
            continue;
        }
        found.push((distance.unwrap_or(f64::MAX), r, distance));
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    Ok(found
        .into_iter()
        .filter(|(rank, r, _)| {
            after.is_none_or(|(after_rank, after_id)| {
                rank.total_cmp(&after_rank).then(r.id.cmp(&after_id)) == std::cmp::Ordering::Greater
            })
        })
        .take(limit)
        .collect())
}

/// The associations a device is proposed to or held for: they read it, though it has left the
/// catalogue (once handed over, it is theirs and they read it as its owner).
pub async fn holders_of<C: ConnectionTrait>(db: &C, item_id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    let reservation_ids: Vec<Uuid> = reservation_item::Entity::find()
        .filter(reservation_item::Column::ItemId.eq(item_id))
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.reservation_id)
        .collect();
    if reservation_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(reservation::Entity::find()
        .filter(reservation::Column::Id.is_in(reservation_ids))
        .filter(reservation::Column::Status.is_in(holding()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.association_id)
        .collect())
}

/// A device of the catalogue with its holder and photos: available, or held for `viewer` (a
/// device it reserved or was proposed); 404 otherwise.
pub async fn catalogue_item<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    viewer: Uuid,
) -> ApiResult<(item::Model, organisation::Model, Vec<photo::Model>)> {
    let m = item::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if m.status != reemploi_domain::lifecycle::ItemStatus::Available.as_str()
        && !holders_of(db, m.id).await?.contains(&viewer)
    {
        return Err(ApiError::not_found());
    }
    let holder = organisation(db, m.custodian_id).await?;
    let photos = photo::Entity::find()
        .filter(photo::Column::ItemId.eq(m.id))
        .order_by_asc(photo::Column::Id)
        .all(db)
        .await?;
    Ok((m, holder, photos))
}

/// Active reservations expiring within a day whose association was not reminded yet.
pub async fn reminders_due<C: ConnectionTrait>(
    db: &C,
    now: super::Timestamp,
) -> Result<Vec<reservation::Model>, DbErr> {
    reservation::Entity::find()
        .filter(reservation::Column::Status.eq(ReservationStatus::Active.as_str()))
        .filter(reservation::Column::RemindedAt.is_null())
        .filter(reservation::Column::ExpiresAt.gt(now))
        .filter(reservation::Column::ExpiresAt.lte(now + chrono::TimeDelta::days(1)))
        .all(db)
        .await
}

/// Reservations still holding devices past their expiry.
pub async fn expired_reservations<C: ConnectionTrait>(
    db: &C,
    now: super::Timestamp,
) -> Result<Vec<reservation::Model>, DbErr> {
    reservation::Entity::find()
        .filter(reservation::Column::Status.is_in(holding()))
        .filter(reservation::Column::ExpiresAt.lte(now))
        .all(db)
        .await
}

/// Live requests whose `needed_by` date is before `today`.
pub async fn expired_requests<C: ConnectionTrait>(
    db: &C,
    today: chrono::NaiveDate,
) -> Result<Vec<request::Model>, DbErr> {
    use reemploi_domain::demand::RequestStatus;
    let live: Vec<&str> = RequestStatus::ALL
        .iter()
        .filter(|s| s.is_live())
        .map(|s| s.as_str())
        .collect();
    request::Entity::find()
        .filter(request::Column::Status.is_in(live))
        .filter(request::Column::NeededBy.lt(today))
        .all(db)
        .await
}
