//! Lots: a public body groups devices and offers them to refurbishers; refurbishers claim; one
//! claim is accepted (at most one per lot, enforced by the database); the devices are collected.
//! Also the partnerships used by `partners` visibility and the refurbisher directory.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::geo::Coordinates;
use reemploi_domain::item::Category as DomCategory;
use reemploi_domain::lifecycle::{Facts, ItemStatus as DomStatus};
use reemploi_domain::lot::{
    self as dom, AllocationPolicy as DomPolicy, CessionMode as DomMode, ClaimRefusal,
    ClaimStatus as DomClaim, LotStatus as DomLot, Visibility as DomVisibility,
};
use reemploi_domain::organisation::{OrganisationKind, VerificationStatus};
use reemploi_domain::text::{LongText, Name, Text};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::access::{Acting, BearerAuth, Caller};
use super::items::{Category, ItemResponse};
use super::pagination::PageRequest;
use super::transitions::{self, By};
use super::types::{
    ApiTags, Created, NoContent, Str, Versioned, check_if_match, etag, mirror_enum,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{
    claim, handover, handover_item, item, lot, organisation, partnership, site,
};
use crate::store::{self, begin_write, is_unique_violation};

mirror_enum!(
    /// Status of a lot.
    LotStatus <=> DomLot { Draft, Published, Awarded, Collected, Withdrawn }
);
mirror_enum!(
    /// How the refurbisher is chosen: the first claim, or a selection after the claim deadline.
    AllocationPolicy <=> DomPolicy { FirstCome, Selection }
);
mirror_enum!(
    /// Who sees a published lot: every verified refurbisher, the body's partners, or those within `radius_km`.
    Visibility <=> DomVisibility { AllVerified, Partners, RadiusKm }
);
mirror_enum!(
    /// Who owns the devices after collection: the refurbisher, or still the body (refurbishing as a service).
    CessionMode <=> DomMode { ToRefurbisher, Service }
);
mirror_enum!(
    /// Status of a claim.
    ClaimStatus <=> DomClaim { Pending, Accepted, Rejected, Withdrawn }
);

/// A lot as the public body describes it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LotRequest {
    /// The public body offering it, when the caller belongs to several.
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    #[oai(validator(max_length = 200))]
    pub title: Str,
    #[oai(nullable, validator(max_length = 2000))]
    pub description: Option<Str>,
    /// One of the body's sites, where the devices are collected.
    pub pickup_site_id: Uuid,
    pub pickup_from: NaiveDate,
    pub pickup_until: NaiveDate,
    pub allocation_policy: AllocationPolicy,
    /// Required with `selection`: claims are received until this date.
    #[oai(nullable)]
    pub claim_deadline: Option<NaiveDate>,
    /// With `first_come`, accept the first claim at once (default true).
    #[oai(nullable)]
    pub auto_accept: Option<bool>,
    pub visibility: Visibility,
    /// Required with `radius_km` visibility (1 to 1000).
    #[oai(nullable)]
    pub radius_km: Option<i32>,
    pub cession_mode: CessionMode,
}

/// Where a lot is collected.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PickupSite {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub insee_code: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub access_notes: Option<String>,
}

/// How many devices of a category a lot holds.
#[derive(Debug, Clone, Object)]
pub struct CategoryCount {
    pub category: Category,
    pub count: u64,
}

/// A lot.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LotResponse {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub organisation_name: String,
    pub title: String,
    pub description: Option<String>,
    pub pickup_site: PickupSite,
    /// Département of the pickup site.
    pub departement: String,
    pub pickup_from: NaiveDate,
    pub pickup_until: NaiveDate,
    pub allocation_policy: AllocationPolicy,
    pub claim_deadline: Option<NaiveDate>,
    pub auto_accept: bool,
    pub visibility: Visibility,
    pub radius_km: Option<i32>,
    pub cession_mode: CessionMode,
    pub status: LotStatus,
    pub published_at: Option<DateTime<Utc>>,
    pub accepted_claim_id: Option<Uuid>,
    pub item_count: u64,
    pub categories: Vec<CategoryCount>,
    /// The devices, in the detail view.
    pub items: Option<Vec<ItemResponse>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of lots.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LotPage {
    pub items: Vec<LotResponse>,
    pub next_cursor: Option<String>,
}

/// Devices to add to a lot.
#[derive(Debug, Clone, Object)]
pub struct AddLotItemsRequest {
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub item_ids: Vec<Uuid>,
}

/// A refurbisher's claim on a lot.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClaimRequest {
    /// The refurbisher claiming, when the caller belongs to several.
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    #[oai(nullable, validator(max_length = 2000))]
    pub message: Option<Str>,
    #[oai(nullable)]
    pub proposed_pickup_date: Option<NaiveDate>,
}

/// A claim.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClaimResponse {
    pub id: Uuid,
    pub lot_id: Uuid,
    pub refurbisher_id: Uuid,
    pub refurbisher_name: String,
    pub message: Option<String>,
    pub proposed_pickup_date: Option<NaiveDate>,
    pub status: ClaimStatus,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A page of claims.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClaimPage {
    pub items: Vec<ClaimResponse>,
    pub next_cursor: Option<String>,
}

/// Someone who signs a handover.
#[derive(Debug, Clone, Object)]
pub struct Signatory {
    #[oai(validator(max_length = 200))]
    pub name: Str,
    /// Their function ("Responsable du patrimoine", "Directrice").
    #[oai(validator(max_length = 200))]
    pub role: Str,
}

/// What happened on collection day.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CollectionRequest {
    pub occurred_on: NaiveDate,
    /// Devices of the lot that were not there; they return to the inventory.
    #[oai(default, validator(max_items = 10000))]
    pub missing_item_ids: Vec<Uuid>,
    /// Who signed for the public body.
    pub public_body_signatory: Signatory,
    /// Who signed for the refurbisher.
    pub refurbisher_signatory: Signatory,
    #[oai(nullable, validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// The recorded collection.
#[derive(Debug, Clone, Object)]
pub struct CollectionResponse {
    pub handover_id: Uuid,
    pub lot_id: Uuid,
    pub collected: u64,
    pub missing: u64,
    /// Whether ownership passed to the refurbisher (`to_refurbisher` mode).
    pub ownership_transferred: bool,
}

/// A verified refurbisher, for public bodies choosing partners.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RefurbisherSummary {
    pub id: Uuid,
    pub name: String,
    pub city: String,
    pub departement: String,
    pub esus_reference: Option<String>,
    pub esus_expires_on: Option<NaiveDate>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A page of refurbishers.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RefurbisherPage {
    pub items: Vec<RefurbisherSummary>,
    pub next_cursor: Option<String>,
}

/// A partnership to declare.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PartnershipRequest {
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    pub refurbisher_id: Uuid,
}

/// A partnership between a public body and a refurbisher.
#[derive(Debug, Clone, Object)]
pub struct PartnershipResponse {
    pub id: Uuid,
    pub public_body_id: Uuid,
    pub refurbisher_id: Uuid,
    pub refurbisher_name: String,
    pub created_at: DateTime<Utc>,
}

/// The partnerships of a public body.
#[derive(Debug, Clone, Object)]
pub struct PartnershipList {
    pub items: Vec<PartnershipResponse>,
}

fn parse_lot(req: &LotRequest) -> Result<lot::ActiveModel, FieldErrors> {
    let mut errors = FieldErrors::new();
    let title = errors.check("title", Name::parse(&req.title));
    let description = errors
        .check(
            "description",
            LongText::parse_optional(req.description.as_deref()),
        )
        .flatten();
    if req.pickup_until < req.pickup_from {
        errors.push("pickup_until", Invalid::OutOfRange);
    }
    let policy: DomPolicy = req.allocation_policy.into();
    match (policy, req.claim_deadline) {
        (DomPolicy::Selection, None) => errors.push("claim_deadline", Invalid::Required),
        (DomPolicy::Selection, Some(d)) if d > req.pickup_until => {
            errors.push("claim_deadline", Invalid::OutOfRange)
        }
        (DomPolicy::FirstCome, Some(_)) => {
            errors.push("claim_deadline", Invalid::NotAllowedForKind)
        }
        _ => {}
    }
    let visibility: DomVisibility = req.visibility.into();
    match (visibility, req.radius_km) {
        (DomVisibility::RadiusKm, None) => errors.push("radius_km", Invalid::Required),
        (DomVisibility::RadiusKm, Some(km)) if !(1..=1000).contains(&km) => {
            errors.push("radius_km", Invalid::OutOfRange)
        }
        (DomVisibility::AllVerified | DomVisibility::Partners, Some(_)) => {
            errors.push("radius_km", Invalid::NotAllowedForKind)
        }
        _ => {}
    }
    errors.finish(|| {
        Some(lot::ActiveModel {
            title: Set(title?.into_inner()),
            description: Set(description.map(|d| d.into_inner())),
            pickup_site_id: Set(req.pickup_site_id),
            pickup_from: Set(req.pickup_from),
            pickup_until: Set(req.pickup_until),
            allocation_policy: Set(policy.as_str().to_owned()),
            claim_deadline: Set(req.claim_deadline),
            auto_accept: Set(req.auto_accept.unwrap_or(true)),
            visibility: Set(visibility.as_str().to_owned()),
            radius_km: Set(req.radius_km),
            cession_mode: Set(DomMode::from(req.cession_mode).as_str().to_owned()),
            ..Default::default()
        })
    })
}

async fn find_lot<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<lot::Model> {
    lot::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn find_org<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Checks the pickup site: one of the body's live sites, with coordinates for radius visibility.
async fn check_site<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    site_id: Uuid,
    needs_coordinates: bool,
) -> ApiResult<site::Model> {
    let s = site::Entity::find_by_id(site_id)
        .one(db)
        .await?
        .filter(|s| s.organisation_id == org && s.archived_at.is_none())
        .ok_or_else(|| {
            ApiError::field("pickup_site_id", Invalid::InvalidFormat).detail(
                "Ce site n'existe pas parmi les sites de votre organisation.",
                "This site is not one of your organisation's sites.",
            )
        })?;
    if needs_coordinates && (s.latitude.is_none() || s.longitude.is_none()) {
        return Err(ApiError::field("pickup_site_id", Invalid::Required).detail(
            "La visibilité par rayon demande un site de retrait géolocalisé.",
            "Radius visibility needs a pickup site with coordinates.",
        ));
    }
    Ok(s)
}

/// Serialises changes to a lot: the no-op update takes its row lock on PostgreSQL until commit.
async fn lock_lot(txn: &crate::store::tx::Tx, id: Uuid) -> ApiResult<lot::Model> {
    let locked = lot::Entity::update_many()
        .col_expr(lot::Column::Version, Expr::col(lot::Column::Version))
        .filter(lot::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(ApiError::not_found());
    }
    // Whatever the write does to the lot, its search document is refreshed after commit.
    crate::search::indexer::lots_changed(txn, &[id]).await?;
    find_lot(txn, id).await
}

async fn lot_items<C: ConnectionTrait>(db: &C, lot_id: Uuid) -> ApiResult<Vec<item::Model>> {
    Ok(item::Entity::find()
        .filter(item::Column::LotId.eq(lot_id))
        .order_by_asc(item::Column::Id)
        .all(db)
        .await?)
}

pub(crate) async fn lot_response<C: ConnectionTrait>(
    db: &C,
    m: lot::Model,
    with_items: bool,
) -> ApiResult<LotResponse> {
    let org = find_org(db, m.organisation_id).await?;
    let s = site::Entity::find_by_id(m.pickup_site_id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let items = lot_items(db, m.id).await?;
    let mut counts: std::collections::BTreeMap<DomCategory, u64> =
        std::collections::BTreeMap::new();
    for i in &items {
        *counts
            .entry(DomCategory::parse(&i.category).unwrap_or(DomCategory::Other))
            .or_default() += 1;
    }
    let departement = reemploi_domain::ids::InseeCode::parse(&s.insee_code)
        .map(|c| c.departement().to_owned())
        .unwrap_or_default();
    Ok(LotResponse {
        id: m.id,
        organisation_id: m.organisation_id,
        organisation_name: org.name,
        title: m.title,
        description: m.description,
        pickup_site: PickupSite {
            id: s.id,
            name: s.name,
            address: s.address,
            postcode: s.postcode,
            city: s.city,
            insee_code: s.insee_code,
            latitude: s.latitude,
            longitude: s.longitude,
            access_notes: s.access_notes,
        },
        departement,
        pickup_from: m.pickup_from,
        pickup_until: m.pickup_until,
        allocation_policy: DomPolicy::parse(&m.allocation_policy)
            .unwrap_or(DomPolicy::FirstCome)
            .into(),
        claim_deadline: m.claim_deadline,
        auto_accept: m.auto_accept,
        visibility: DomVisibility::parse(&m.visibility)
            .unwrap_or(DomVisibility::AllVerified)
            .into(),
        radius_km: m.radius_km,
        cession_mode: DomMode::parse(&m.cession_mode)
            .unwrap_or(DomMode::Service)
            .into(),
        status: DomLot::parse(&m.status).unwrap_or(DomLot::Draft).into(),
        published_at: m.published_at,
        accepted_claim_id: m.accepted_claim_id,
        item_count: items.len() as u64,
        categories: counts
            .into_iter()
            .map(|(c, count)| CategoryCount {
                category: c.into(),
                count,
            })
            .collect(),
        items: with_items.then(|| items.into_iter().map(Into::into).collect()),
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

async fn claim_response<C: ConnectionTrait>(db: &C, c: claim::Model) -> ApiResult<ClaimResponse> {
    let org = find_org(db, c.refurbisher_id).await?;
    Ok(ClaimResponse {
        id: c.id,
        lot_id: c.lot_id,
        refurbisher_id: c.refurbisher_id,
        refurbisher_name: org.name,
        message: c.message,
        proposed_pickup_date: c.proposed_pickup_date,
        status: DomClaim::parse(&c.status)
            .unwrap_or(DomClaim::Pending)
            .into(),
        created_at: c.created_at,
        decided_at: c.decided_at,
    })
}

/// One page of claims, as answered.
async fn claim_page<C: ConnectionTrait>(
    db: &C,
    page: &PageRequest,
    select: sea_orm::Select<claim::Entity>,
) -> ApiResult<ClaimPage> {
    let (rows, next_cursor) = page.fetch(db, select, claim::Column::Id, |c| c.id).await?;
    let mut items = Vec::with_capacity(rows.len());
    for c in rows {
        items.push(claim_response(db, c).await?);
    }
    Ok(ClaimPage { items, next_cursor })
}

/// Whether a refurbisher may see a published lot.
pub(crate) async fn visible_to<C: ConnectionTrait>(
    db: &C,
    l: &lot::Model,
    refurbisher: Uuid,
) -> ApiResult<bool> {
    let org = find_org(db, refurbisher).await?;
    let is_partner = partnership::Entity::find()
        .filter(partnership::Column::PublicBodyId.eq(l.organisation_id))
        .filter(partnership::Column::RefurbisherId.eq(refurbisher))
        .one(db)
        .await?
        .is_some();
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
    let pickup = site::Entity::find_by_id(l.pickup_site_id)
        .one(db)
        .await?
        .and_then(|s| Coordinates::parse(s.latitude?, s.longitude?).ok());
    Ok(dom::visible_to(
        &dom::LotAudience {
            visibility: DomVisibility::parse(&l.visibility).unwrap_or(DomVisibility::AllVerified),
            radius_km: l.radius_km,
            pickup,
        },
        &dom::Viewer {
            verified: org.status == VerificationStatus::Verified.as_str(),
            is_partner,
            places,
        },
    ))
}

fn by(caller: &Caller, acting: &Acting) -> By {
    By {
        actor: Some(acting.actor),
        actor_ref: caller.actor_ref(),
        organisation_id: acting.organisation_id,
    }
}

fn lot_status(l: &lot::Model) -> DomLot {
    DomLot::parse(&l.status).unwrap_or(DomLot::Draft)
}

/// Accepts `claim` on `lot` in `txn`: the lot is awarded (only if still published: of two
/// concurrent acceptances one wins), other pending claims are rejected, the devices are awarded.
async fn accept(
    txn: &crate::store::tx::Tx,
    l: &lot::Model,
    c: &claim::Model,
    by: &By,
) -> ApiResult<()> {
    let now = store::now();
    let awarded = lot::Entity::update_many()
        .col_expr(lot::Column::Status, Expr::value(DomLot::Awarded.as_str()))
        .col_expr(lot::Column::AcceptedClaimId, Expr::value(Some(c.id)))
        .col_expr(lot::Column::Version, Expr::col(lot::Column::Version).add(1))
        .col_expr(lot::Column::UpdatedAt, Expr::value(now))
        .filter(lot::Column::Id.eq(l.id))
        .filter(lot::Column::Status.eq(DomLot::Published.as_str()))
        .exec(txn)
        .await?;
    if awarded.rows_affected != 1 {
        return Err(ApiError::new(ErrorCode::LotAlreadyAwarded));
    }
    let accepted = claim::Entity::update_many()
        .col_expr(
            claim::Column::Status,
            Expr::value(DomClaim::Accepted.as_str()),
        )
        .col_expr(claim::Column::DecidedAt, Expr::value(Some(now)))
        .filter(claim::Column::Id.eq(c.id))
        .filter(claim::Column::Status.eq(DomClaim::Pending.as_str()))
        .exec(txn)
        .await;
    match accepted {
        Ok(r) if r.rows_affected == 1 => {}
        Ok(_) => return Err(ApiError::new(ErrorCode::InvalidTransition)),
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::new(ErrorCode::LotAlreadyAwarded));
        }
        Err(e) => return Err(e.into()),
    }
    claim::Entity::update_many()
        .col_expr(
            claim::Column::Status,
            Expr::value(DomClaim::Rejected.as_str()),
        )
        .col_expr(claim::Column::DecidedAt, Expr::value(Some(now)))
        .filter(claim::Column::LotId.eq(l.id))
        .filter(claim::Column::Status.eq(DomClaim::Pending.as_str()))
        .exec(txn)
        .await?;
    let facts = Facts {
        accepted_claim: true,
        ..Facts::default()
    };
    for i in lot_items(txn, l.id).await? {
        transitions::fire(
            txn,
            &i,
            "award",
            by,
            &facts,
            vec![],
            serde_json::json!({ "lot_id": l.id, "claim_id": c.id, "to_organisation_id": c.refurbisher_id }),
        )
        .await?;
    }
    crate::http::organisations::org_event(
        txn,
        l.organisation_id,
        by.actor_ref.clone(),
        "lot_awarded",
        serde_json::json!({ "lot_id": l.id, "claim_id": c.id, "refurbisher_id": c.refurbisher_id }),
    )
    .await?;
    // The convention de cession (to the refurbisher) can be signed from the award on.
    crate::documents::enqueue(
        txn,
        &[(
            crate::documents::Kind::ConventionCession,
            crate::documents::Subject::Lot(l.id),
        )],
    )
    .await?;
    Ok(())
}

/// Appends a lot event to the body's audit log.
async fn lot_event(
    txn: &crate::store::tx::Tx,
    l: &lot::Model,
    actor: String,
    kind: &'static str,
    payload: serde_json::Value,
) -> ApiResult<()> {
    crate::http::organisations::org_event(txn, l.organisation_id, actor, kind, payload).await
}

/// Takes a device that is not listed out of its lot (no status change).
async fn detach(txn: &crate::store::tx::Tx, it: &item::Model) -> ApiResult<()> {
    item::Entity::update_many()
        .col_expr(item::Column::LotId, Expr::value(Option::<Uuid>::None))
        .col_expr(
            item::Column::Version,
            Expr::col(item::Column::Version).add(1),
        )
        .filter(item::Column::Id.eq(it.id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Sets or clears the lot of devices with a plain column change (no status change).
fn set_lot(value: Option<Uuid>) -> Vec<(item::Column, SimpleExpr)> {
    vec![(item::Column::LotId, Expr::value(value))]
}

pub struct LotsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Lots")]
impl LotsApi {
    /// Create a lot
    ///
    /// A draft lot of the public body: title, pickup site and window, allocation policy,
    /// visibility and cession mode. Add devices, then publish it.
    #[oai(path = "/lots", method = "post", operation_id = "create_lot")]
    async fn create_lot(
        &self,
        auth: BearerAuth,
        body: Json<LotRequest>,
    ) -> ApiResult<Created<LotResponse>> {
        let acting = auth.0.acting_as("create_lot", body.0.organisation_id)?;
        let mut am = parse_lot(&body.0)?;
        let radius = body.0.visibility == Visibility::RadiusKm;
        check_site(
            &self.state.db,
            acting.organisation_id,
            body.0.pickup_site_id,
            radius,
        )
        .await?;
        let now = store::now();
        let id = store::new_id();
        am.id = Set(id);
        am.organisation_id = Set(acting.organisation_id);
        am.status = Set(DomLot::Draft.as_str().to_owned());
        am.published_at = Set(None);
        am.accepted_claim_id = Set(None);
        am.version = Set(1);
        am.created_at = Set(now);
        am.updated_at = Set(now);
        let txn = begin_write(&self.state.db).await?;
        lot::Entity::insert(am).exec_without_returning(&txn).await?;
        let l = find_lot(&txn, id).await?;
        lot_event(
            &txn,
            &l,
            auth.0.actor_ref(),
            "lot_created",
            serde_json::json!({ "lot_id": id, "title": l.title }),
        )
        .await?;
        let resp = lot_response(&txn, l, true).await?;
        txn.commit().await?;
        Ok(Created::Created(Json(resp), format!("/v1/lots/{id}")))
    }

    /// List the body's lots
    ///
    /// The lots of the caller's public body, oldest first, optionally by status.
    #[oai(path = "/lots", method = "get", operation_id = "list_lots")]
    async fn list_lots(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        status: Query<Option<LotStatus>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<LotPage>> {
        let acting = auth.0.acting_as("list_lots", organisation_id.0)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let mut select =
            lot::Entity::find().filter(lot::Column::OrganisationId.eq(acting.organisation_id));
        if let Some(s) = status.0 {
            select = select.filter(lot::Column::Status.eq(DomLot::from(s).as_str()));
        }
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, lot::Column::Id, |m| m.id)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for l in rows {
            items.push(lot_response(&self.state.db, l, false).await?);
        }
        Ok(Json(LotPage { items, next_cursor }))
    }

    /// Open lots for a refurbisher
    ///
    /// Published lots the caller's refurbisher may claim: all verified refurbishers, the body's
    /// partners, or those within the lot's radius. Only verified refurbishers see lots.
    #[oai(path = "/lots/open", method = "get", operation_id = "list_open_lots")]
    async fn list_open_lots(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<LotPage>> {
        let acting = auth.0.acting_as("list_open_lots", organisation_id.0)?;
        acting.require_verified()?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        // Visibility is checked per lot; pages are filled from successive batches.
        let mut after = page.after;
        let mut out = Vec::new();
        let mut next_cursor = None;
        'scan: loop {
            let mut select = lot::Entity::find()
                .filter(lot::Column::Status.eq(DomLot::Published.as_str()))
                .order_by_asc(lot::Column::Id)
                .limit(200);
            if let Some(a) = after {
                select = select.filter(lot::Column::Id.gt(a));
            }
            let batch = select.all(&self.state.db).await?;
            if batch.is_empty() {
                break;
            }
            for l in batch {
                after = Some(l.id);
                if visible_to(&self.state.db, &l, acting.organisation_id).await? {
                    if out.len() == page.limit as usize {
                        next_cursor = out
                            .last()
                            .map(|r: &LotResponse| super::pagination::encode_cursor(r.id));
                        break 'scan;
                    }
                    out.push(lot_response(&self.state.db, l, false).await?);
                }
            }
        }
        Ok(Json(LotPage {
            items: out,
            next_cursor,
        }))
    }

    /// Read a lot
    ///
    /// With its devices. The public body sees its lots; a refurbisher sees a published lot it may
    /// claim, or a lot it has claimed.
    #[oai(path = "/lots/:id", method = "get", operation_id = "get_lot")]
    async fn get_lot(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Versioned<LotResponse>> {
        let db = &self.state.db;
        let l = find_lot(db, id.0).await?;
        let mut related = vec![l.organisation_id];
        for m in auth
            .0
            .memberships
            .iter()
            .filter(|m| m.kind == OrganisationKind::Refurbisher)
        {
            let claimed = claim::Entity::find()
                .filter(claim::Column::LotId.eq(l.id))
                .filter(claim::Column::RefurbisherId.eq(m.organisation_id))
                .one(db)
                .await?
                .is_some();
            if claimed
                || (lot_status(&l) == DomLot::Published
                    && visible_to(db, &l, m.organisation_id).await?)
            {
                related.push(m.organisation_id);
            }
        }
        auth.0.authorize_related("get_lot", &related)?;
        let tag = etag(l.version);
        Ok(Versioned::Ok(Json(lot_response(db, l, true).await?), tag))
    }

    /// Update a draft lot
    ///
    /// Replaces the description of a lot that is not yet published. `If-Match` avoids
    /// overwriting a colleague's change.
    #[oai(path = "/lots/:id", method = "put", operation_id = "update_lot")]
    async fn update_lot(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<LotRequest>,
    ) -> ApiResult<Versioned<LotResponse>> {
        let current = find_lot(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("update_lot", &[current.organisation_id])?;
        let mut am = parse_lot(&body.0)?;
        let radius = body.0.visibility == Visibility::RadiusKm;
        check_site(
            &self.state.db,
            current.organisation_id,
            body.0.pickup_site_id,
            radius,
        )
        .await?;
        let txn = begin_write(&self.state.db).await?;
        let current = lock_lot(&txn, id.0).await?;
        check_if_match(if_match.0.as_deref(), current.version)?;
        if lot_status(&current) != DomLot::Draft {
            return Err(ApiError::new(ErrorCode::LotNotEditable));
        }
        am.version = Set(current.version + 1);
        am.updated_at = Set(store::now());
        lot::Entity::update_many()
            .set(am)
            .filter(lot::Column::Id.eq(current.id))
            .exec(&txn)
            .await?;
        let l = find_lot(&txn, id.0).await?;
        lot_event(
            &txn,
            &l,
            auth.0.actor_ref(),
            "lot_updated",
            serde_json::json!({ "lot_id": l.id, "version": l.version }),
        )
        .await?;
        let tag = etag(l.version);
        let resp = lot_response(&txn, l, true).await?;
        txn.commit().await?;
        Ok(Versioned::Ok(Json(resp), tag))
    }

    /// Add devices to a lot
    ///
    /// Only devices of the same body, in its inventory (`inventoried`) and in no other lot.
    /// Added to a published lot, they are listed at once.
    #[oai(
        path = "/lots/:id/items",
        method = "post",
        operation_id = "add_lot_items"
    )]
    async fn add_lot_items(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AddLotItemsRequest>,
    ) -> ApiResult<Json<LotResponse>> {
        let l = find_lot(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("add_lot_items", &[l.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        let txn = begin_write(&self.state.db).await?;
        let l = lock_lot(&txn, id.0).await?;
        let status = lot_status(&l);
        if !status.is_editable() {
            return Err(ApiError::new(ErrorCode::LotNotEditable));
        }
        let by = by(&auth.0, &acting);
        let mut seen = std::collections::HashSet::new();
        for (i, item_id) in body.0.item_ids.iter().enumerate() {
            if !seen.insert(*item_id) {
                continue;
            }
            let field = format!("item_ids[{i}]");
            let it = item::Entity::find_by_id(*item_id)
                .one(&txn)
                .await?
                .filter(|it| {
                    it.organisation_id == l.organisation_id && it.owner_id == l.organisation_id
                })
                .ok_or_else(|| {
                    ApiError::field(field.clone(), Invalid::InvalidFormat).detail(
                        format!(
                            "L'équipement {item_id} n'appartient pas à l'inventaire de l'organisme."
                        ),
                        format!("Device {item_id} is not in the body's inventory."),
                    )
                })?;
            if it.lot_id == Some(l.id) {
                continue;
            }
            if it.lot_id.is_some() || it.status != DomStatus::Inventoried.as_str() {
                return Err(ApiError::new(ErrorCode::ItemNotEditable).detail(
                    format!(
                        "L'équipement {} est déjà dans un lot ou n'est plus à l'inventaire.",
                        it.inventory_number
                    ),
                    format!(
                        "Device {} is already in a lot or no longer in the inventory.",
                        it.inventory_number
                    ),
                ));
            }
            if status == DomLot::Published {
                transitions::fire(
                    &txn,
                    &it,
                    "list",
                    &by,
                    &Facts::default(),
                    set_lot(Some(l.id)),
                    serde_json::json!({ "lot_id": l.id }),
                )
                .await?;
            } else {
                item::Entity::update_many()
                    .col_expr(item::Column::LotId, Expr::value(Some(l.id)))
                    .col_expr(
                        item::Column::Version,
                        Expr::col(item::Column::Version).add(1),
                    )
                    .filter(item::Column::Id.eq(it.id))
                    .filter(item::Column::Version.eq(it.version))
                    .exec(&txn)
                    .await?;
            }
        }
        let resp = lot_response(&txn, find_lot(&txn, l.id).await?, true).await?;
        txn.commit().await?;
        Ok(Json(resp))
    }

    /// Remove a device from a lot
    ///
    /// Possible while the lot is a draft or published; a listed device returns to the inventory.
    #[oai(
        path = "/lots/:id/items/:item_id",
        method = "delete",
        operation_id = "remove_lot_item"
    )]
    async fn remove_lot_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        item_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let l = find_lot(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("remove_lot_item", &[l.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        let txn = begin_write(&self.state.db).await?;
        let l = lock_lot(&txn, id.0).await?;
        if !lot_status(&l).is_editable() {
            return Err(ApiError::new(ErrorCode::LotNotEditable));
        }
        let it = item::Entity::find_by_id(item_id.0)
            .one(&txn)
            .await?
            .filter(|it| it.lot_id == Some(l.id))
            .ok_or_else(ApiError::not_found)?;
        if it.status == DomStatus::Listed.as_str() {
            transitions::fire(
                &txn,
                &it,
                "unlist",
                &by(&auth.0, &acting),
                &Facts::default(),
                set_lot(None),
                serde_json::json!({ "lot_id": l.id }),
            )
            .await?;
        } else {
            detach(&txn, &it).await?;
        }
        txn.commit().await?;
        Ok(NoContent::NoContent)
    }

    /// Publish a lot
    ///
    /// Offers a draft lot to refurbishers; its devices become `listed`. The body must be verified
    /// by the operator and the lot must hold at least one device.
    #[oai(
        path = "/lots/:id/publish",
        method = "post",
        operation_id = "publish_lot"
    )]
    async fn publish_lot(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<LotResponse>> {
        let l = find_lot(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("publish_lot", &[l.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        acting.require_verified()?;
        let txn = begin_write(&self.state.db).await?;
        let l = lock_lot(&txn, id.0).await?;
        if lot_status(&l) != DomLot::Draft {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!(
                    "Seul un lot en brouillon peut être publié (statut actuel : {}).",
                    l.status
                ),
                format!(
                    "Only a draft lot can be published (current status: {}).",
                    l.status
                ),
            ));
        }
        let items = lot_items(&txn, l.id).await?;
        if items.is_empty() {
            return Err(ApiError::new(ErrorCode::LotEmpty));
        }
        let by = by(&auth.0, &acting);
        for it in &items {
            transitions::fire(
                &txn,
                it,
                "list",
                &by,
                &Facts::default(),
                vec![],
                serde_json::json!({ "lot_id": l.id }),
            )
            .await?;
        }
        let now = store::now();
        lot::Entity::update_many()
            .col_expr(lot::Column::Status, Expr::value(DomLot::Published.as_str()))
            .col_expr(lot::Column::PublishedAt, Expr::value(Some(now)))
            .col_expr(lot::Column::Version, Expr::value(l.version + 1))
            .col_expr(lot::Column::UpdatedAt, Expr::value(now))
            .filter(lot::Column::Id.eq(l.id))
            .exec(&txn)
            .await?;
        lot_event(
            &txn,
            &l,
            auth.0.actor_ref(),
            "lot_published",
            serde_json::json!({ "lot_id": l.id, "items": items.len() }),
        )
        .await?;
        let resp = lot_response(&txn, find_lot(&txn, l.id).await?, true).await?;
        txn.commit().await?;
        Ok(Json(resp))
    }

    /// Withdraw a lot
    ///
    /// Takes a draft or published lot back: its devices return to the inventory and pending
    /// claims are rejected. An awarded lot cannot be withdrawn.
    #[oai(
        path = "/lots/:id/withdraw",
        method = "post",
        operation_id = "withdraw_lot"
    )]
    async fn withdraw_lot(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<LotResponse>> {
        let l = find_lot(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("withdraw_lot", &[l.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        let txn = begin_write(&self.state.db).await?;
        let l = lock_lot(&txn, id.0).await?;
        if !lot_status(&l).is_editable() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!("Un lot « {} » ne peut pas être retiré.", l.status),
                format!("A `{}` lot cannot be withdrawn.", l.status),
            ));
        }
        let by = by(&auth.0, &acting);
        for it in lot_items(&txn, l.id).await? {
            if it.status == DomStatus::Listed.as_str() {
                transitions::fire(
                    &txn,
                    &it,
                    "unlist",
                    &by,
                    &Facts::default(),
                    set_lot(None),
                    serde_json::json!({ "lot_id": l.id }),
                )
                .await?;
            } else {
                detach(&txn, &it).await?;
            }
        }
        let now = store::now();
        claim::Entity::update_many()
            .col_expr(
                claim::Column::Status,
                Expr::value(DomClaim::Rejected.as_str()),
            )
            .col_expr(claim::Column::DecidedAt, Expr::value(Some(now)))
            .filter(claim::Column::LotId.eq(l.id))
            .filter(claim::Column::Status.eq(DomClaim::Pending.as_str()))
            .exec(&txn)
            .await?;
        lot::Entity::update_many()
            .col_expr(lot::Column::Status, Expr::value(DomLot::Withdrawn.as_str()))
            .col_expr(lot::Column::Version, Expr::value(l.version + 1))
            .col_expr(lot::Column::UpdatedAt, Expr::value(now))
            .filter(lot::Column::Id.eq(l.id))
            .exec(&txn)
            .await?;
        lot_event(
            &txn,
            &l,
            auth.0.actor_ref(),
            "lot_withdrawn",
            serde_json::json!({ "lot_id": l.id }),
        )
        .await?;
        let resp = lot_response(&txn, find_lot(&txn, l.id).await?, true).await?;
        txn.commit().await?;
        Ok(Json(resp))
    }

    /// Claim a lot
    ///
    /// A verified refurbisher that may see the lot asks for it. In `to_refurbisher` mode only an
    /// ESUS-accredited re-use organisation may claim (422 otherwise). With `first_come` and
    /// automatic acceptance the first claim wins at once: of simultaneous claims exactly one is
    /// accepted, the others get 409 `lot_already_awarded`.
    #[oai(path = "/lots/:id/claims", method = "post", operation_id = "claim_lot")]
    async fn claim_lot(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ClaimRequest>,
    ) -> ApiResult<Created<ClaimResponse>> {
        let acting = auth.0.acting_as("claim_lot", body.0.organisation_id)?;
        acting.require_verified()?;
        let message = Text::<2000>::parse_optional(body.0.message.as_deref())
            .map_err(|r| ApiError::field("message", r))?;
        let db = &self.state.db;
        let l = find_lot(db, id.0).await?;
        if lot_status(&l) == DomLot::Draft
            || lot_status(&l) == DomLot::Withdrawn
            || !visible_to(db, &l, acting.organisation_id).await?
        {
            return Err(ApiError::not_found());
        }
        let refurbisher = find_org(db, acting.organisation_id).await?;
        let today = self.state.settings.today();
        dom::check_claim(
            DomMode::parse(&l.cession_mode).unwrap_or(DomMode::Service),
            DomPolicy::parse(&l.allocation_policy).unwrap_or(DomPolicy::FirstCome),
            l.claim_deadline,
            refurbisher.esus_reference.as_deref(),
            refurbisher.esus_expires_on,
            today,
        )
        .map_err(|refusal| {
            let code = match refusal {
                ClaimRefusal::EsusRequired => ErrorCode::EsusRequired,
                ClaimRefusal::EsusExpired => ErrorCode::EsusExpired,
                ClaimRefusal::DeadlinePassed => ErrorCode::ClaimDeadlinePassed,
            };
            ApiError::new(code).detail(refusal.message_fr(), refusal.message_en())
        })?;

        let txn = begin_write(db).await?;
        let l = lock_lot(&txn, id.0).await?;
        if lot_status(&l) != DomLot::Published {
            return Err(ApiError::new(ErrorCode::LotAlreadyAwarded));
        }
        let now = store::now();
        let claim_id = store::new_id();
        let inserted = claim::Entity::insert(claim::ActiveModel {
            id: Set(claim_id),
            lot_id: Set(l.id),
            refurbisher_id: Set(acting.organisation_id),
            message: Set(message.map(|m| m.into_inner())),
            proposed_pickup_date: Set(body.0.proposed_pickup_date),
            status: Set(DomClaim::Pending.as_str().to_owned()),
            created_by: Set(auth.0.user_id().unwrap_or_default()),
            created_at: Set(now),
            decided_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(ErrorCode::AlreadyClaimed));
            }
            Err(e) => return Err(e.into()),
        }
        lot_event(&txn, &l, auth.0.actor_ref(), "lot_claimed", serde_json::json!({ "lot_id": l.id, "claim_id": claim_id, "refurbisher_id": acting.organisation_id })).await?;
        let c = claim::Entity::find_by_id(claim_id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if l.allocation_policy == DomPolicy::FirstCome.as_str() && l.auto_accept {
            accept(&txn, &l, &c, &by(&auth.0, &acting)).await?;
        }
        let c = claim::Entity::find_by_id(claim_id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let resp = claim_response(&txn, c).await?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(resp),
            format!("/v1/claims/{claim_id}"),
        ))
    }

    /// Claims on a lot
    ///
    /// For the public body: every claim received, oldest first.
    #[oai(
        path = "/lots/:id/claims",
        method = "get",
        operation_id = "list_lot_claims"
    )]
    async fn list_lot_claims(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ClaimPage>> {
        let l = find_lot(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("list_lot_claims", &[l.organisation_id])?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select = claim::Entity::find().filter(claim::Column::LotId.eq(l.id));
        Ok(Json(claim_page(&self.state.db, &page, select).await?))
    }

    /// The refurbisher's claims
    #[oai(path = "/claims", method = "get", operation_id = "list_my_claims")]
    async fn list_my_claims(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ClaimPage>> {
        let acting = auth.0.acting_as("list_my_claims", organisation_id.0)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select =
            claim::Entity::find().filter(claim::Column::RefurbisherId.eq(acting.organisation_id));
        Ok(Json(claim_page(&self.state.db, &page, select).await?))
    }

    /// Accept a claim
    ///
    /// The public body chooses this refurbisher: the lot and its devices are awarded, the other
    /// claims rejected. At most one claim is ever accepted per lot.
    #[oai(
        path = "/claims/:id/accept",
        method = "post",
        operation_id = "accept_claim"
    )]
    async fn accept_claim(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ClaimResponse>> {
        let c = claim::Entity::find_by_id(id.0)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let l = find_lot(&self.state.db, c.lot_id).await?;
        let acting = auth
            .0
            .authorize_related("accept_claim", &[l.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        let txn = begin_write(&self.state.db).await?;
        let l = lock_lot(&txn, l.id).await?;
        let c = claim::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if c.status != DomClaim::Pending.as_str() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!("Cette candidature est « {} ».", c.status),
                format!("This claim is `{}`.", c.status),
            ));
        }
        if lot_status(&l) != DomLot::Published {
            return Err(ApiError::new(ErrorCode::LotAlreadyAwarded));
        }
        accept(&txn, &l, &c, &by(&auth.0, &acting)).await?;
        let resp = claim_response(
            &txn,
            claim::Entity::find_by_id(c.id)
                .one(&txn)
                .await?
                .ok_or_else(ApiError::not_found)?,
        )
        .await?;
        txn.commit().await?;
        Ok(Json(resp))
    }

    /// Reject a claim
    #[oai(
        path = "/claims/:id/reject",
        method = "post",
        operation_id = "reject_claim"
    )]
    async fn reject_claim(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ClaimResponse>> {
        let c = claim::Entity::find_by_id(id.0)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let l = find_lot(&self.state.db, c.lot_id).await?;
        auth.0
            .authorize_related("reject_claim", &[l.organisation_id])?;
        self.close_claim(&auth.0, c.id, DomClaim::Rejected, "claim_rejected")
            .await
    }

    /// Withdraw a claim
    ///
    /// The refurbisher takes back a pending claim.
    #[oai(
        path = "/claims/:id/withdraw",
        method = "post",
        operation_id = "withdraw_claim"
    )]
    async fn withdraw_claim(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ClaimResponse>> {
        let c = claim::Entity::find_by_id(id.0)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        auth.0
            .authorize_related("withdraw_claim", &[c.refurbisher_id])?;
        self.close_claim(&auth.0, c.id, DomClaim::Withdrawn, "claim_withdrawn")
            .await
    }

    /// Record the collection of a lot
    ///
    /// On collection day, by the public body or the awarded refurbisher: the devices present pass
    /// into the refurbisher's custody (and ownership in `to_refurbisher` mode) and become
    /// `collected`; missing ones return to the inventory. Both signatories are recorded.
    #[oai(
        path = "/lots/:id/collection",
        method = "post",
        operation_id = "record_collection"
    )]
    async fn record_collection(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CollectionRequest>,
    ) -> ApiResult<Created<CollectionResponse>> {
        let db = &self.state.db;
        let l = find_lot(db, id.0).await?;
        let winner = match l.accepted_claim_id {
            Some(cid) => claim::Entity::find_by_id(cid)
                .one(db)
                .await?
                .map(|c| c.refurbisher_id),
            None => None,
        };
        let mut related = vec![l.organisation_id];
        related.extend(winner);
        let acting = auth
            .0
            .authorize_related("record_collection", &related)?
            .ok_or_else(ApiError::forbidden)?;
        let mut errors = FieldErrors::new();
        let from_name = errors.check(
            "public_body_signatory.name",
            Name::parse(&body.0.public_body_signatory.name),
        );
        let from_role = errors.check(
            "public_body_signatory.role",
            Name::parse(&body.0.public_body_signatory.role),
        );
        let to_name = errors.check(
            "refurbisher_signatory.name",
            Name::parse(&body.0.refurbisher_signatory.name),
        );
        let to_role = errors.check(
            "refurbisher_signatory.role",
            Name::parse(&body.0.refurbisher_signatory.role),
        );
        let notes = errors
            .check("notes", LongText::parse_optional(body.0.notes.as_deref()))
            .flatten();
        let today = self.state.settings.today();
        if body.0.occurred_on > today {
            errors.push("occurred_on", Invalid::OutOfRange);
        }
        let (Some(from_name), Some(from_role), Some(to_name), Some(to_role), true) =
            (from_name, from_role, to_name, to_role, errors.is_empty())
        else {
            return Err(errors.into());
        };

        let txn = begin_write(db).await?;
        let l = lock_lot(&txn, id.0).await?;
        if lot_status(&l) != DomLot::Awarded {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!(
                    "Seul un lot attribué peut être enlevé (statut actuel : {}).",
                    l.status
                ),
                format!(
                    "Only an awarded lot can be collected (current status: {}).",
                    l.status
                ),
            ));
        }
        let refurbisher = winner.ok_or_else(|| ApiError::new(ErrorCode::Internal))?;
        let items = lot_items(&txn, l.id).await?;
        for (i, missing) in body.0.missing_item_ids.iter().enumerate() {
            if !items.iter().any(|it| it.id == *missing) {
                return Err(ApiError::field(
                    format!("missing_item_ids[{i}]"),
                    Invalid::InvalidFormat,
                )
                .detail(
                    "Cet équipement ne fait pas partie du lot.",
                    "This device is not part of the lot.",
                ));
            }
        }
        let transfer = l.cession_mode == DomMode::ToRefurbisher.as_str();
        let handover_id = store::new_id();
        handover::Entity::insert(handover::ActiveModel {
            id: Set(handover_id),
            kind: Set("collection".to_owned()),
            lot_id: Set(Some(l.id)),
            from_organisation_id: Set(l.organisation_id),
            to_organisation_id: Set(refurbisher),
            occurred_on: Set(body.0.occurred_on),
            from_signatory_name: Set(from_name.into_inner()),
            from_signatory_role: Set(from_role.into_inner()),
            to_signatory_name: Set(to_name.into_inner()),
            to_signatory_role: Set(to_role.into_inner()),
            ownership_transferred: Set(transfer),
            notes: Set(notes.map(|n| n.into_inner())),
            created_by: Set(auth.0.actor_ref()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(&txn)
        .await?;
        let by = by(&auth.0, &acting);
        let (mut collected, mut missing) = (0u64, 0u64);
        for it in &items {
            let present = !body.0.missing_item_ids.contains(&it.id);
            handover_item::Entity::insert(handover_item::ActiveModel {
                handover_id: Set(handover_id),
                item_id: Set(it.id),
                present: Set(present),
            })
            .exec_without_returning(&txn)
            .await?;
            if present {
                let mut extra = vec![(item::Column::CustodianId, Expr::value(refurbisher))];
                if transfer {
                    extra.push((item::Column::OwnerId, Expr::value(refurbisher)));
                }
                let facts = Facts {
                    signed_handover: true,
                    ..Facts::default()
                };
                transitions::fire(
                    &txn,
                    it,
                    "collect",
                    &by,
                    &facts,
                    extra,
                    serde_json::json!({ "lot_id": l.id, "handover_id": handover_id, "from_organisation_id": l.organisation_id, "to_organisation_id": refurbisher, "ownership_transferred": transfer }),
                )
                .await?;
                collected += 1;
            } else {
                transitions::fire(
                    &txn,
                    it,
                    "report_missing",
                    &by,
                    &Facts::default(),
                    set_lot(None),
                    serde_json::json!({ "lot_id": l.id, "handover_id": handover_id }),
                )
                .await?;
                missing += 1;
            }
        }
        lot::Entity::update_many()
            .col_expr(lot::Column::Status, Expr::value(DomLot::Collected.as_str()))
            .col_expr(lot::Column::Version, Expr::value(l.version + 1))
            .col_expr(lot::Column::UpdatedAt, Expr::value(store::now()))
            .filter(lot::Column::Id.eq(l.id))
            .exec(&txn)
            .await?;
        lot_event(&txn, &l, auth.0.actor_ref(), "lot_collected", serde_json::json!({ "lot_id": l.id, "handover_id": handover_id, "collected": collected, "missing": missing })).await?;
        {
            use crate::documents::{Kind, Subject, enqueue};
            let s = Subject::Lot(l.id);
            enqueue(
                &txn,
                &[
                    (Kind::PvEnlevement, s),
                    (Kind::ConventionCession, s),
                    (Kind::CertificatSortie, s),
                ],
            )
            .await?;
        }
        txn.commit().await?;
        Ok(Created::Created(
            Json(CollectionResponse {
                handover_id,
                lot_id: l.id,
                collected,
                missing,
                ownership_transferred: transfer,
            }),
            format!("/v1/lots/{}", l.id),
        ))
    }

    /// Verified refurbishers
    ///
    /// The directory public bodies choose partners from, by name.
    #[oai(
        path = "/refurbishers",
        method = "get",
        operation_id = "list_refurbishers"
    )]
    async fn list_refurbishers(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<RefurbisherPage>> {
        auth.0.acting_as("list_refurbishers", organisation_id.0)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select = organisation::Entity::find()
            .filter(organisation::Column::Kind.eq(OrganisationKind::Refurbisher.as_str()))
            .filter(organisation::Column::Status.eq(VerificationStatus::Verified.as_str()));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, organisation::Column::Id, |o| o.id)
            .await?;
        Ok(Json(RefurbisherPage {
            items: rows
                .into_iter()
                .map(|o| RefurbisherSummary {
                    id: o.id,
                    name: o.name,
                    city: o.city,
                    departement: o.departement,
                    esus_reference: o.esus_reference,
                    esus_expires_on: o.esus_expires_on,
                    latitude: o.latitude,
                    longitude: o.longitude,
                })
                .collect(),
            next_cursor,
        }))
    }

    /// Declare a partner refurbisher
    ///
    /// Partners see the body's lots published with `partners` visibility.
    #[oai(
        path = "/partnerships",
        method = "post",
        operation_id = "create_partnership"
    )]
    async fn create_partnership(
        &self,
        auth: BearerAuth,
        body: Json<PartnershipRequest>,
    ) -> ApiResult<Created<PartnershipResponse>> {
        let acting = auth
            .0
            .acting_as("create_partnership", body.0.organisation_id)?;
        let refurbisher = organisation::Entity::find_by_id(body.0.refurbisher_id)
            .one(&self.state.db)
            .await?
            .filter(|o| o.kind == OrganisationKind::Refurbisher.as_str())
            .ok_or_else(|| {
                ApiError::field("refurbisher_id", Invalid::InvalidFormat).detail(
                    "Aucun reconditionneur n'a cet identifiant.",
                    "No refurbisher has this id.",
                )
            })?;
        let now = store::now();
        let id = store::new_id();
        let txn = begin_write(&self.state.db).await?;
        let inserted = partnership::Entity::insert(partnership::ActiveModel {
            id: Set(id),
            public_body_id: Set(acting.organisation_id),
            refurbisher_id: Set(refurbisher.id),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(ErrorCode::Conflict).detail(
                    "Ce reconditionneur est déjà partenaire.",
                    "This refurbisher is already a partner.",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        // Partners-only lots of the body become visible to the new partner.
        crate::search::indexer::organisation_changed(&txn, acting.organisation_id).await?;
        crate::http::organisations::org_event(
            &txn,
            acting.organisation_id,
            auth.0.actor_ref(),
            "partnership_created",
            serde_json::json!({ "partnership_id": id, "refurbisher_id": refurbisher.id }),
        )
        .await?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(PartnershipResponse {
                id,
                public_body_id: acting.organisation_id,
                refurbisher_id: refurbisher.id,
                refurbisher_name: refurbisher.name,
                created_at: now,
            }),
            format!("/v1/partnerships/{id}"),
        ))
    }

    /// The body's partner refurbishers
    #[oai(
        path = "/partnerships",
        method = "get",
        operation_id = "list_partnerships"
    )]
    async fn list_partnerships(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<PartnershipList>> {
        let acting = auth.0.acting_as("list_partnerships", organisation_id.0)?;
        let rows = partnership::Entity::find()
            .filter(partnership::Column::PublicBodyId.eq(acting.organisation_id))
            .order_by_asc(partnership::Column::Id)
            .all(&self.state.db)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for p in rows {
            let org = find_org(&self.state.db, p.refurbisher_id).await?;
            items.push(PartnershipResponse {
                id: p.id,
                public_body_id: p.public_body_id,
                refurbisher_id: p.refurbisher_id,
                refurbisher_name: org.name,
                created_at: p.created_at,
            });
        }
        Ok(Json(PartnershipList { items }))
    }

    /// End a partnership
    #[oai(
        path = "/partnerships/:id",
        method = "delete",
        operation_id = "delete_partnership"
    )]
    async fn delete_partnership(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<NoContent> {
        let p = partnership::Entity::find_by_id(id.0)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        auth.0
            .authorize_related("delete_partnership", &[p.public_body_id])?;
        let txn = begin_write(&self.state.db).await?;
        partnership::Entity::delete_by_id(p.id).exec(&txn).await?;
        crate::search::indexer::organisation_changed(&txn, p.public_body_id).await?;
        crate::http::organisations::org_event(
            &txn,
            p.public_body_id,
            auth.0.actor_ref(),
            "partnership_ended",
            serde_json::json!({ "partnership_id": p.id, "refurbisher_id": p.refurbisher_id }),
        )
        .await?;
        txn.commit().await?;
        Ok(NoContent::NoContent)
    }
}

impl LotsApi {
    async fn close_claim(
        &self,
        caller: &Caller,
        id: Uuid,
        to: DomClaim,
        kind: &'static str,
    ) -> ApiResult<Json<ClaimResponse>> {
        let txn = begin_write(&self.state.db).await?;
        let c = claim::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let done = claim::Entity::update_many()
            .col_expr(claim::Column::Status, Expr::value(to.as_str()))
            .col_expr(claim::Column::DecidedAt, Expr::value(Some(store::now())))
            .filter(claim::Column::Id.eq(id))
            .filter(claim::Column::Status.eq(DomClaim::Pending.as_str()))
            .exec(&txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!("Cette candidature est « {} ».", c.status),
                format!("This claim is `{}`.", c.status),
            ));
        }
        let l = find_lot(&txn, c.lot_id).await?;
        lot_event(
            &txn,
            &l,
            caller.actor_ref(),
            kind,
            serde_json::json!({ "lot_id": l.id, "claim_id": c.id }),
        )
        .await?;
        let resp = claim_response(
            &txn,
            claim::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(ApiError::not_found)?,
        )
        .await?;
        txn.commit().await?;
        Ok(Json(resp))
    }
}
