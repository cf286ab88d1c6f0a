//! Lots: a public body groups devices and offers them to refurbishers; refurbishers claim; one
//! claim is accepted (at most one per lot, enforced by the database); the devices are collected.
//! Also the partnerships used by `partners` visibility and the refurbisher directory.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::item::Category as DomCategory;
use reemploi_domain::lot::{
    AllocationPolicy as DomPolicy, CessionMode as DomMode, ClaimStatus as DomClaim,
    LotStatus as DomLot, Visibility as DomVisibility,
};
use reemploi_domain::organisation::OrganisationKind;
use reemploi_domain::text::{LongText, Name};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::{Category, ItemResponse};
use super::merge_patch::MergePatch;
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Str, Versioned, etag, mirror_enum};
use crate::commands::By;
use crate::commands::lots::{self as cmd, LotFields};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::{claim, lot, organisation, partnership};
use crate::store::lots;

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
    /// Who signs for the caller's own organisation (name and role, as they sign). Recording the
    /// collection as an admin is that party's signature of the procès-verbal d'enlèvement; the
    /// other party confirms (`sign_document`) or contests (`contest_document`) it with its own
    /// account. Recorded by an agent, it signs nothing: an admin signs the procès-verbal.
    #[oai(nullable)]
    pub signatory: Option<Signatory>,
    /// Deprecated: read as `signatory` when the caller records for the public body; ignored
    /// otherwise (no party types the other's signatory).
    #[oai(nullable, deprecated)]
    pub public_body_signatory: Option<Signatory>,
    /// Deprecated: read as `signatory` when the caller records for the refurbisher; ignored
    /// otherwise.
    #[oai(nullable, deprecated)]
    pub refurbisher_signatory: Option<Signatory>,
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
#[oai(skip_serializing_if_is_none)]
pub struct PartnershipList {
    pub items: Vec<PartnershipResponse>,
    pub next_cursor: Option<String>,
}

fn parse_lot(req: &LotRequest) -> Result<LotFields, FieldErrors> {
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
        Some(LotFields {
            title: title?.into_inner(),
            description: description.map(|d| d.into_inner()),
            pickup_site_id: req.pickup_site_id,
            pickup_from: req.pickup_from,
            pickup_until: req.pickup_until,
            allocation_policy: policy,
            claim_deadline: req.claim_deadline,
            auto_accept: req.auto_accept.unwrap_or(true),
            visibility,
            radius_km: req.radius_km,
            cession_mode: req.cession_mode.into(),
        })
    })
}

fn parse_collection(
    req: &CollectionRequest,
    today: NaiveDate,
    for_public_body: bool,
) -> Result<cmd::Collection, FieldErrors> {
    let mut errors = FieldErrors::new();
    let (field, own) = match (&req.signatory, for_public_body) {
        (Some(s), _) => ("signatory", Some(s)),
        (None, true) => ("public_body_signatory", req.public_body_signatory.as_ref()),
        (None, false) => ("refurbisher_signatory", req.refurbisher_signatory.as_ref()),
    };
    let (name, role) = match own {
        Some(s) => (
            errors.check(&format!("{field}.name"), Name::parse(&s.name)),
            errors.check(&format!("{field}.role"), Name::parse(&s.role)),
        ),
        None => {
            errors.push("signatory", Invalid::Required);
            (None, None)
        }
    };
    let notes = errors
        .check("notes", LongText::parse_optional(req.notes.as_deref()))
        .flatten();
    if req.occurred_on > today {
        errors.push("occurred_on", Invalid::OutOfRange);
    }
    errors.finish(|| {
        Some(cmd::Collection {
            occurred_on: req.occurred_on,
            missing_item_ids: req.missing_item_ids.clone(),
            signatory: (name?.into_inner(), role?.into_inner()),
            notes: notes.map(|n| n.into_inner()),
        })
    })
}

pub(crate) async fn lot_response<C: ConnectionTrait>(
    db: &C,
    m: lot::Model,
    with_items: bool,
) -> ApiResult<LotResponse> {
    let org = lots::find_org(db, m.organisation_id).await?;
    let s = lots::find_site(db, m.pickup_site_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let items = lots::items(db, m.id).await?;
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
        allocation_policy: lots::policy(&m)?.into(),
        visibility: lots::visibility(&m)?.into(),
        cession_mode: lots::cession_mode(&m)?.into(),
        status: lots::status(&m)?.into(),
        item_count: items.len() as u64,
        categories: counts
            .into_iter()
            .map(|(c, count)| CategoryCount {
                category: c.into(),
                count,
            })
            .collect(),
        items: with_items.then(|| items.into_iter().map(Into::into).collect()),
        title: m.title,
        description: m.description,
        pickup_from: m.pickup_from,
        pickup_until: m.pickup_until,
        claim_deadline: m.claim_deadline,
        auto_accept: m.auto_accept,
        radius_km: m.radius_km,
        published_at: m.published_at,
        accepted_claim_id: m.accepted_claim_id,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

async fn claim_response<C: ConnectionTrait>(db: &C, c: claim::Model) -> ApiResult<ClaimResponse> {
    let org = lots::find_org(db, c.refurbisher_id).await?;
    Ok(ClaimResponse {
        status: lots::claim_status(&c)?.into(),
        id: c.id,
        lot_id: c.lot_id,
        refurbisher_id: c.refurbisher_id,
        refurbisher_name: org.name,
        message: c.message,
        proposed_pickup_date: c.proposed_pickup_date,
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

/// Finds a lot and the caller's part in it, among the organisations related to it.
async fn lot_and_acting(
    db: &sea_orm::DatabaseConnection,
    auth: &BearerAuth,
    operation: &str,
    id: Uuid,
) -> ApiResult<(lot::Model, By)> {
    let l = lots::find(db, id).await?;
    let acting = auth
        .0
        .authorize_related(operation, &[l.organisation_id])?
        .ok_or_else(ApiError::forbidden)?;
    Ok((l, By::acting(&auth.0, &acting)))
}

/// The caller acting for the public body of a claim's lot.
async fn body_of_claim(
    db: &sea_orm::DatabaseConnection,
    auth: &BearerAuth,
    operation: &str,
    id: Uuid,
) -> ApiResult<By> {
    let c = lots::find_claim(db, id).await?;
    Ok(lot_and_acting(db, auth, operation, c.lot_id).await?.1)
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
        let fields = parse_lot(&body.0)?;
        let by = By::acting(&auth.0, &acting);
        let l = cmd::create_lot(&self.state, &by, &fields).await?;
        let id = l.id;
        let resp = lot_response(&self.state.db, l, true).await?;
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
        let select = lots::of_body(acting.organisation_id, status.0.map(Into::into));
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
        let db = &self.state.db;
        let (rows, more) =
            lots::open_lots_for(db, acting.organisation_id, page.after, page.limit as usize)
                .await?;
        let next_cursor = match rows.last() {
            Some(last) if more => Some(super::pagination::encode_cursor(last.id)),
            _ => None,
        };
        let mut items = Vec::with_capacity(rows.len());
        for l in rows {
            items.push(lot_response(db, l, false).await?);
        }
        Ok(Json(LotPage { items, next_cursor }))
    }

    /// Read a lot
    ///
    /// With its devices. The public body sees its lots; a refurbisher sees a published lot it may
    /// claim, or a lot it holds a pending or accepted claim on.
    #[oai(path = "/lots/:id", method = "get", operation_id = "get_lot")]
    async fn get_lot(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Versioned<LotResponse>> {
        let db = &self.state.db;
        let l = lots::find(db, id.0).await?;
        let mut related = vec![l.organisation_id];
        for m in auth.0.memberships.iter() {
            if m.kind == OrganisationKind::Refurbisher
                && lots::refurbisher_reads(db, &l, m.organisation_id).await?
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
    /// A JSON Merge Patch of a lot that is not yet published: the fields sent change, the
    /// others keep their value, `null` clears one. `If-Match` makes a colleague's change since
    /// your read a 412 instead.
    #[oai(path = "/lots/:id", method = "patch", operation_id = "update_lot")]
    async fn update_lot(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: MergePatch<LotRequest>,
    ) -> ApiResult<Versioned<LotResponse>> {
        let (_, by) = lot_and_acting(&self.state.db, &auth, "update_lot", id.0).await?;
        let (state, by) = (&self.state, &by);
        let l = super::merge_patch::apply(
            &body,
            if_match.0.as_deref(),
            || async move {
                let current = lots::find(&state.db, id.0).await?;
                let version = current.version;
                let site = current.pickup_site_id;
                let mut answer = lot_response(&state.db, current, false)
                    .await?
                    .to_json()
                    .unwrap_or_default();
                // The request names the pickup site by id; the answer describes it.
                answer["pickup_site_id"] = serde_json::Value::from(site.to_string());
                Ok((answer, version))
            },
            |full: LotRequest, version| async move {
                let fields = parse_lot(&full)?;
                cmd::update_lot(
                    state,
                    by,
                    id.0,
                    &fields,
                    super::merge_patch::at_version(version),
                )
                .await
            },
        )
        .await?;
        let tag = etag(l.version);
        let resp = lot_response(&self.state.db, l, true).await?;
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
        let (_, by) = lot_and_acting(&self.state.db, &auth, "add_lot_items", id.0).await?;
        let l = cmd::add_lot_items(&self.state, &by, id.0, &body.0.item_ids).await?;
        Ok(Json(lot_response(&self.state.db, l, true).await?))
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
        let (_, by) = lot_and_acting(&self.state.db, &auth, "remove_lot_item", id.0).await?;
        cmd::remove_lot_item(&self.state, &by, id.0, item_id.0).await?;
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
        let l = lots::find(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("publish_lot", &[l.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        acting.require_verified()?;
        let by = By::acting(&auth.0, &acting);
        let l = cmd::publish_lot(&self.state, &by, id.0).await?;
        Ok(Json(lot_response(&self.state.db, l, true).await?))
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
        let (_, by) = lot_and_acting(&self.state.db, &auth, "withdraw_lot", id.0).await?;
        let l = cmd::withdraw_lot(&self.state, &by, id.0).await?;
        Ok(Json(lot_response(&self.state.db, l, true).await?))
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
        let message = LongText::parse_optional(body.0.message.as_deref())
            .map_err(|r| ApiError::field("message", r))?;
        let new = cmd::NewClaim {
            message: message.map(|m| m.into_inner()),
            proposed_pickup_date: body.0.proposed_pickup_date,
            created_by: auth.0.user_id().unwrap_or_default(),
        };
        let by = By::acting(&auth.0, &acting);
        let c = cmd::claim_lot(&self.state, &by, id.0, &new).await?;
        let location = format!("/v1/claims/{}", c.id);
        let resp = claim_response(&self.state.db, c).await?;
        Ok(Created::Created(Json(resp), location))
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
        let l = lots::find(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("list_lot_claims", &[l.organisation_id])?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select = lots::claims_of_lot(l.id);
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
        let select = lots::claims_of_refurbisher(acting.organisation_id);
        Ok(Json(claim_page(&self.state.db, &page, select).await?))
    }

    /// Read a claim
    ///
    /// The refurbisher that made it and the public body of its lot may read it.
    #[oai(path = "/claims/:id", method = "get", operation_id = "get_claim")]
    async fn get_claim(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<ClaimResponse>> {
        let c = lots::find_claim(&self.state.db, id.0).await?;
        let l = lots::find(&self.state.db, c.lot_id).await?;
        auth.0
            .authorize_related("get_claim", &[c.refurbisher_id, l.organisation_id])?;
        Ok(Json(claim_response(&self.state.db, c).await?))
    }

    /// Accept a claim
    ///
    /// The public body chooses this refurbisher: the lot and its devices are awarded, the other
    /// claims rejected. At most one claim is ever accepted per lot. With `selection`, the body
    /// chooses once the claim deadline has passed (409 `claim_deadline_not_passed` before).
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
        let by = body_of_claim(&self.state.db, &auth, "accept_claim", id.0).await?;
        let c = cmd::accept_claim(&self.state, &by, id.0).await?;
        Ok(Json(claim_response(&self.state.db, c).await?))
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
        let by = body_of_claim(&self.state.db, &auth, "reject_claim", id.0).await?;
        let c = cmd::reject_claim(&self.state, &by, id.0).await?;
        Ok(Json(claim_response(&self.state.db, c).await?))
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
        let c = lots::find_claim(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("withdraw_claim", &[c.refurbisher_id])?
            .ok_or_else(ApiError::forbidden)?;
        let by = By::acting(&auth.0, &acting);
        let c = cmd::withdraw_claim(&self.state, &by, id.0).await?;
        Ok(Json(claim_response(&self.state.db, c).await?))
    }

    /// Record the collection of a lot
    ///
    /// On collection day, by the public body or the awarded refurbisher: the devices present pass
    /// into the refurbisher's custody (and ownership in `to_refurbisher` mode) and become
    /// `collected`; missing ones return to the inventory. Only the recorder's own signatory is
    /// recorded (its signature when it records as an admin); the other party confirms or
    /// contests the procès-verbal d'enlèvement with its own account.
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
    ) -> ApiResult<Json<CollectionResponse>> {
        let db = &self.state.db;
        let l = lots::find(db, id.0).await?;
        let mut related = vec![l.organisation_id];
        related.extend(lots::winner(db, &l).await?);
        let acting = auth
            .0
            .authorize_related("record_collection", &related)?
            .ok_or_else(ApiError::forbidden)?;
        let input = parse_collection(
            &body.0,
            self.state.settings.today(),
            acting.organisation_id == l.organisation_id,
        )?;
        let by = By::acting(&auth.0, &acting);
        let done = cmd::record_collection(&self.state, &by, id.0, &input).await?;
        // A transition of the lot (like accepting a claim): 200, and the lot is where it was.
        Ok(Json(CollectionResponse {
            handover_id: done.handover_id,
            lot_id: done.lot_id,
            collected: done.collected,
            missing: done.missing,
            ownership_transferred: done.ownership_transferred,
        }))
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
        let select = lots::verified_refurbishers();
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
        let by = By::acting(&auth.0, &acting);
        let (p, refurbisher) =
            cmd::create_partnership(&self.state, &by, body.0.refurbisher_id).await?;
        let location = format!("/v1/partnerships/{}", p.id);
        Ok(Created::Created(
            Json(partnership_response(p, refurbisher)),
            location,
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
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<PartnershipList>> {
        let acting = auth.0.acting_as("list_partnerships", organisation_id.0)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let db = &self.state.db;
        let (rows, next_cursor) = page
            .fetch(
                db,
                lots::partnerships_of(acting.organisation_id),
                partnership::Column::Id,
                |p| p.id,
            )
            .await?;
        Ok(Json(PartnershipList {
            items: lots::with_refurbishers(db, rows)
                .await?
                .into_iter()
                .map(|(p, org)| partnership_response(p, org))
                .collect(),
            next_cursor,
        }))
    }

    /// Read a partnership
    ///
    /// The public body and the refurbisher it names may read it.
    #[oai(
        path = "/partnerships/:id",
        method = "get",
        operation_id = "get_partnership"
    )]
    async fn get_partnership(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<PartnershipResponse>> {
        let p = lots::find_partnership(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_partnership", &[p.public_body_id, p.refurbisher_id])?;
        let refurbisher =
            crate::store::organisations::find_organisation(&self.state.db, p.refurbisher_id)
                .await?;
        Ok(Json(partnership_response(p, refurbisher)))
    }

    /// End a partnership
    #[oai(
        path = "/partnerships/:id",
        method = "delete",
        operation_id = "delete_partnership"
    )]
    async fn delete_partnership(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<NoContent> {
        let p = lots::find_partnership(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("delete_partnership", &[p.public_body_id])?
            .ok_or_else(ApiError::forbidden)?;
        let by = By::acting(&auth.0, &acting);
        cmd::delete_partnership(&self.state, &by, p.id).await?;
        Ok(NoContent::NoContent)
    }
}

fn partnership_response(
    p: partnership::Model,
    refurbisher: organisation::Model,
) -> PartnershipResponse {
    PartnershipResponse {
        id: p.id,
        public_body_id: p.public_body_id,
        refurbisher_id: p.refurbisher_id,
        refurbisher_name: refurbisher.name,
        created_at: p.created_at,
    }
}
