//! The queries of the lot aggregate: lots, their devices and claims, who may see a lot, the
//! refurbisher directory and the partnerships that decide `partners` visibility.

use reemploi_domain::geo::Coordinates;
use reemploi_domain::lot::{
    self as dom, AllocationPolicy, CessionMode, ClaimStatus, LotStatus, Visibility,
};
use reemploi_domain::organisation::{OrganisationKind, VerificationStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::entities::{claim, item, lot, organisation, partnership, site};
use super::tx::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// A stored value no enum of `domain` knows: a defect or a foreign write, never a default.
fn unknown(what: &str, id: Uuid, value: &str) -> ApiError {
    tracing::error!(lot.id = %id, field = what, value, "unknown stored value");
    ApiError::new(ErrorCode::Internal)
}

/// The lot's status.
pub fn status(l: &lot::Model) -> ApiResult<LotStatus> {
    LotStatus::parse(&l.status).ok_or_else(|| unknown("status", l.id, &l.status))
}

/// The lot's allocation policy.
pub fn policy(l: &lot::Model) -> ApiResult<AllocationPolicy> {
    AllocationPolicy::parse(&l.allocation_policy)
        .ok_or_else(|| unknown("allocation_policy", l.id, &l.allocation_policy))
}

/// The lot's visibility.
pub fn visibility(l: &lot::Model) -> ApiResult<Visibility> {
    Visibility::parse(&l.visibility).ok_or_else(|| unknown("visibility", l.id, &l.visibility))
}

/// The lot's cession mode.
pub fn cession_mode(l: &lot::Model) -> ApiResult<CessionMode> {
    CessionMode::parse(&l.cession_mode)
        .ok_or_else(|| unknown("cession_mode", l.id, &l.cession_mode))
}

/// The claim's status.
pub fn claim_status(c: &claim::Model) -> ApiResult<ClaimStatus> {
    ClaimStatus::parse(&c.status).ok_or_else(|| unknown("claim.status", c.lot_id, &c.status))
}

/// A lot, or 404.
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<lot::Model> {
    lot::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A lot that is still published, if any (search hits are checked against it).
pub async fn find_published<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<Option<lot::Model>> {
    Ok(lot::Entity::find_by_id(id)
        .filter(lot::Column::Status.eq(LotStatus::Published.as_str()))
        .one(db)
        .await?)
}

/// Re-reads a lot inside a write and locks its row until commit (`SELECT … FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction already holds the database), so that every change to
/// one lot is decided on its latest state. Its search document is refreshed after commit.
pub async fn lock(tx: &Tx, id: Uuid) -> ApiResult<lot::Model> {
    let l = lot::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(ApiError::not_found)?;
    crate::search::indexer::lots_changed(tx, &[id]).await?;
    Ok(l)
}

/// The devices of a lot, by id.
pub async fn items<C: ConnectionTrait>(db: &C, lot_id: Uuid) -> ApiResult<Vec<item::Model>> {
    Ok(item::Entity::find()
        .filter(item::Column::LotId.eq(lot_id))
        .order_by_asc(item::Column::Id)
        .all(db)
        .await?)
}

/// A device by id.
pub async fn find_item<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<Option<item::Model>> {
    Ok(item::Entity::find_by_id(id).one(db).await?)
}

/// An organisation, or 404.
pub async fn find_org<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A site by id.
pub async fn find_site<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<Option<site::Model>> {
    Ok(site::Entity::find_by_id(id).one(db).await?)
}

/// A claim, or 404.
pub async fn find_claim<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<claim::Model> {
    claim::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Re-reads a claim inside a write and locks its row (after its lot's: lot, then claims).
pub async fn lock_claim(tx: &Tx, id: Uuid) -> ApiResult<claim::Model> {
    claim::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The pending claims of a lot, in id order.
pub async fn pending_claims<C: ConnectionTrait>(
    db: &C,
    lot_id: Uuid,
) -> ApiResult<Vec<claim::Model>> {
    Ok(claim::Entity::find()
        .filter(claim::Column::LotId.eq(lot_id))
        .filter(claim::Column::Status.eq(ClaimStatus::Pending.as_str()))
        .order_by_asc(claim::Column::Id)
        .all(db)
        .await?)
}

/// The refurbisher who won the lot, if a claim was accepted.
pub async fn winner<C: ConnectionTrait>(db: &C, l: &lot::Model) -> ApiResult<Option<Uuid>> {
    Ok(match l.accepted_claim_id {
        Some(id) => claim::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|c| c.refurbisher_id),
        None => None,
    })
}

/// The lots of a public body, optionally of one status (to be paged).
pub fn of_body(organisation_id: Uuid, status: Option<LotStatus>) -> sea_orm::Select<lot::Entity> {
    let select = lot::Entity::find().filter(lot::Column::OrganisationId.eq(organisation_id));
    match status {
        Some(s) => select.filter(lot::Column::Status.eq(s.as_str())),
        None => select,
    }
}

/// The claims on a lot (to be paged).
pub fn claims_of_lot(lot_id: Uuid) -> sea_orm::Select<claim::Entity> {
    claim::Entity::find().filter(claim::Column::LotId.eq(lot_id))
}

/// The claims of a refurbisher (to be paged).
pub fn claims_of_refurbisher(organisation_id: Uuid) -> sea_orm::Select<claim::Entity> {
    claim::Entity::find().filter(claim::Column::RefurbisherId.eq(organisation_id))
}

/// The verified refurbishers (to be paged).
pub fn verified_refurbishers() -> sea_orm::Select<organisation::Entity> {
    organisation::Entity::find()
        .filter(organisation::Column::Kind.eq(OrganisationKind::Refurbisher.as_str()))
        .filter(organisation::Column::Status.eq(VerificationStatus::Verified.as_str()))
}

/// Up to `limit` published lots after `after` (by id) that `refurbisher` may see, and whether
/// more follow. Visibility is decided per lot, so pages fill from successive batches.
pub async fn open_lots_for<C: ConnectionTrait>(
    db: &C,
    refurbisher: Uuid,
    mut after: Option<Uuid>,
    limit: usize,
) -> ApiResult<(Vec<lot::Model>, bool)> {
    let viewer = viewer(db, refurbisher).await?;
    let mut out = Vec::new();
    loop {
        let mut select = lot::Entity::find()
            .filter(lot::Column::Status.eq(LotStatus::Published.as_str()))
            .order_by_asc(lot::Column::Id)
            .limit(200);
        if let Some(a) = after {
            select = select.filter(lot::Column::Id.gt(a));
        }
        let batch = select.all(db).await?;
        if batch.is_empty() {
            return Ok((out, false));
        }
        let site_ids: Vec<Uuid> = batch.iter().map(|l| l.pickup_site_id).collect();
        let sites = sites_by_id(db, &site_ids).await?;
        for l in batch {
            after = Some(l.id);
            if viewer.sees(&l, sites.get(&l.pickup_site_id))? {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(l);
            }
        }
    }
}

/// What decides which published lots one refurbisher may see: its verification, the public
/// bodies it is a partner of, and its places (seat and workshops). Read once for a page of lots.
pub struct LotViewer {
    refurbisher: Uuid,
    verified: bool,
    partner_of: std::collections::HashSet<Uuid>,
    places: Vec<Coordinates>,
}

/// The [`LotViewer`] of a refurbisher (three queries, whatever the number of lots judged).
pub async fn viewer<C: ConnectionTrait>(db: &C, refurbisher: Uuid) -> ApiResult<LotViewer> {
    let org = find_org(db, refurbisher).await?;
    let partner_of = partnership::Entity::find()
        .filter(partnership::Column::RefurbisherId.eq(refurbisher))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.public_body_id)
        .collect();
    let mut places: Vec<Coordinates> = Vec::new();
    if let (Some(lat), Some(lon)) = (org.latitude, org.longitude) {
        places.extend(Coordinates::parse(lat, lon).ok());
    }
    for s in site::Entity::find()
        .filter(site::Column::OrganisationId.eq(refurbisher))
        .filter(site::Column::ArchivedAt.is_null())
        .all(db)
        .await?
    {
        if let (Some(lat), Some(lon)) = (s.latitude, s.longitude) {
            places.extend(Coordinates::parse(lat, lon).ok());
        }
    }
    Ok(LotViewer {
        refurbisher,
        verified: org.status == VerificationStatus::Verified.as_str(),
        partner_of,
        places,
    })
}

impl LotViewer {
    /// The refurbisher this viewer judges for.
    pub fn refurbisher(&self) -> Uuid {
        self.refurbisher
    }

    /// Whether this refurbisher may see `l`, whose pickup site is `pickup` (the site row, read
    /// by the caller, perhaps in a batch).
    pub fn sees(&self, l: &lot::Model, pickup: Option<&site::Model>) -> ApiResult<bool> {
        let pickup = pickup.and_then(|s| Coordinates::parse(s.latitude?, s.longitude?).ok());
        Ok(dom::visible_to(
            &dom::LotAudience {
                visibility: visibility(l)?,
                radius_km: l.radius_km,
                pickup,
            },
            &dom::Viewer {
                verified: self.verified,
                is_partner: self.partner_of.contains(&l.organisation_id),
                places: self.places.clone(),
            },
        ))
    }
}

/// Whether a refurbisher may see (and so claim) a published lot, by the lot's visibility.
pub async fn visible_to<C: ConnectionTrait>(
    db: &C,
    l: &lot::Model,
    refurbisher: Uuid,
) -> ApiResult<bool> {
    let viewer = viewer(db, refurbisher).await?;
    let pickup = find_site(db, l.pickup_site_id).await?;
    viewer.sees(l, pickup.as_ref())
}

/// The published lots among `ids` (any order).
pub async fn find_published_many<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> ApiResult<Vec<lot::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(lot::Entity::find()
        .filter(lot::Column::Id.is_in(ids.to_vec()))
        .filter(lot::Column::Status.eq(LotStatus::Published.as_str()))
        .all(db)
        .await?)
}

/// The sites among `ids`, by id.
pub async fn sites_by_id<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> ApiResult<std::collections::HashMap<Uuid, site::Model>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(site::Entity::find()
        .filter(site::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect())
}

/// Whether a refurbisher may read a lot and its devices: a pending or accepted claim on it, or
/// the lot is published and visible to it now (a rejected or withdrawn claim is no tie).
pub async fn refurbisher_reads<C: ConnectionTrait>(
    db: &C,
    l: &lot::Model,
    refurbisher: Uuid,
) -> ApiResult<bool> {
    let claim = claim::Entity::find()
        .filter(claim::Column::LotId.eq(l.id))
        .filter(claim::Column::RefurbisherId.eq(refurbisher))
        .one(db)
        .await?;
    let claim = match claim {
        Some(c) => Some(claim_status(&c)?),
        None => None,
    };
    let status = status(l)?;
    if dom::refurbisher_reads_lot(status, claim, false) {
        return Ok(true);
    }
    let visible = status == LotStatus::Published && visible_to(db, l, refurbisher).await?;
    Ok(dom::refurbisher_reads_lot(status, claim, visible))
}

/// A partnership, or 404.
pub async fn find_partnership<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<partnership::Model> {
    partnership::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A public body's partnerships with each partner, by id.
pub fn partnerships_of(public_body_id: Uuid) -> sea_orm::Select<partnership::Entity> {
    partnership::Entity::find().filter(partnership::Column::PublicBodyId.eq(public_body_id))
}

/// Each partnership of a page with its refurbisher.
pub async fn with_refurbishers<C: ConnectionTrait>(
    db: &C,
    rows: Vec<partnership::Model>,
) -> ApiResult<Vec<(partnership::Model, organisation::Model)>> {
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        let org = find_org(db, p.refurbisher_id).await?;
        out.push((p, org));
    }
    Ok(out)
}
