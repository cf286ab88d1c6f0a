//! The demand side, as the associations' mobile app uses it: catalogue details, reservations
//! (by the association, or proposed by a refurbisher against a request), the handover that makes
//! devices `donated`, receipt, requests, and the refurbisher's fair-share cap.
//!
//! Exactly one association holds a device: holding it inserts its row in `item_holds`, whose
//! primary key is the device, in the same transaction as the `reserve` transition.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::eligibility::{self, Beneficiary, Cession, Decision, Giver, ItemFacts};
use reemploi_domain::item::Category as DomCategory;
use reemploi_domain::lifecycle::{Facts, ItemStatus as DomStatus};
use reemploi_domain::lot::CessionMode as DomMode;
use reemploi_domain::organisation::{BeneficiaryCategory, OrganisationKind, PublicBodyType};
use reemploi_domain::text::{LongText, Name};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use super::access::{Acting, BearerAuth, Caller};
use super::items::{Category, ItemSpecs};
use super::lots::Signatory;
use super::pagination::PageRequest;
use super::photos::PhotoResponse;
use super::search::{CatalogueItem, catalogue_item};
use super::transitions::{self, By};
use super::types::{ApiTags, Created, Str};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::state::AppState;
use crate::store::entities::{
    handover, handover_item, item, item_hold, lot, membership, organisation, photo, request,
    request_line, reservation, reservation_item, user,
};
use crate::store::outbox::{self, Topic};
use crate::store::{self, begin_write, is_unique_violation};

/// Devices one association may hold at one refurbisher when it set no cap.
pub const DEFAULT_FAIR_SHARE: i32 = 10;

/// Where a reservation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Proposed by the refurbisher against a request; the association accepts or declines.
    Proposed,
    /// Held for the association until `expires_at`.
    Active,
    Cancelled,
    Declined,
    Expired,
    /// Handed over: the devices are the association's.
    HandedOver,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Active => "active",
            Self::Cancelled => "cancelled",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::HandedOver => "handed_over",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "proposed" => Self::Proposed,
            "active" => Self::Active,
            "cancelled" => Self::Cancelled,
            "declined" => Self::Declined,
            "expired" => Self::Expired,
            _ => Self::HandedOver,
        }
    }
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RequestStatus {
    Draft,
    Open,
    PartiallyFulfilled,
    Fulfilled,
    Cancelled,
    Expired,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "draft" => Self::Draft,
            "open" => Self::Open,
            "partially_fulfilled" => Self::PartiallyFulfilled,
            "fulfilled" => Self::Fulfilled,
            "cancelled" => Self::Cancelled,
            _ => Self::Expired,
        }
    }
    /// Refurbishers may still propose devices.
    fn accepts_proposals(self) -> bool {
        matches!(self, Self::Open | Self::PartiallyFulfilled)
    }
}

/// How devices reach the association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HandoverMode {
    /// The association collects them at the refurbisher's.
    Pickup,
    /// The refurbisher delivers them.
    Delivery,
}

/// How to reach the refurbisher holding the devices (a human channel for every reservation).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Contact {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

fn contact(o: &organisation::Model) -> Contact {
    Contact {
        id: o.id,
        name: o.name.clone(),
        address: o.address.clone(),
        postcode: o.postcode.clone(),
        city: o.city.clone(),
        phone: o.phone.clone(),
        email: o.contact_email.clone(),
    }
}

/// A device of the catalogue with its photos and the refurbisher's contact.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CatalogueItemDetail {
    pub item: CatalogueItem,
    pub condition_notes: Option<String>,
    pub photos: Vec<PhotoResponse>,
    pub refurbisher_contact: Contact,
}

/// A device of a reservation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReservedItem {
    pub id: Uuid,
    pub public_code: String,
    pub category: Category,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub grade: Option<String>,
    pub specs: ItemSpecs,
    /// The request line it answers, when proposed against a request.
    pub request_line: Option<i32>,
}

/// A reservation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReservationResponse {
    pub id: Uuid,
    pub association_id: Uuid,
    pub association_name: String,
    pub refurbisher: Contact,
    pub request_id: Option<Uuid>,
    pub status: ReservationStatus,
    /// `service`: the public body gives to the association; `to_refurbisher`: the refurbisher does.
    pub cession_mode: String,
    /// The organisation giving the devices.
    pub giver_id: Uuid,
    /// The legal basis recorded when the cession was found eligible, as printed on documents.
    pub legal_basis: Option<String>,
    /// What the association may do with the devices (no resale, or a capped solidarity price).
    pub resale_terms: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub items: Vec<ReservedItem>,
    pub handover_id: Option<Uuid>,
    pub handover_on: Option<NaiveDate>,
    pub commitment_no_resale: bool,
    pub commitment_reuse: bool,
    pub received_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

/// A page of reservations.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReservationPage {
    pub items: Vec<ReservationResponse>,
    pub next_cursor: Option<String>,
}

/// Reserve available devices (all held by one refurbisher).
#[derive(Debug, Clone, Object)]
pub struct ReservationRequest {
    /// The association acting, when the caller belongs to several.
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    #[oai(validator(min_items = 1, max_items = 50, unique_items))]
    pub item_ids: Vec<Uuid>,
    /// One of the association's open requests the devices answer, with the line (`position`).
    #[oai(nullable)]
    pub request_id: Option<Uuid>,
    #[oai(nullable)]
    pub line: Option<i32>,
}

/// Devices proposed against a request.
#[derive(Debug, Clone, Object)]
pub struct ProposalRequest {
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    #[oai(validator(min_items = 1, max_items = 50, unique_items))]
    pub item_ids: Vec<Uuid>,
    /// The request line (its `position`) the devices answer.
    pub line: i32,
}

/// The handover of a reservation's devices to the association.
#[derive(Debug, Clone, Object)]
pub struct HandoverRequest {
    pub mode: HandoverMode,
    pub occurred_on: NaiveDate,
    /// Who signs for the association.
    pub association_signatory: Signatory,
    /// Who signs for the refurbisher.
    pub refurbisher_signatory: Signatory,
    /// The association commits not to resell (or only at the capped solidarity price its
    /// category allows, see `resale_terms`).
    pub commitment_no_resale: bool,
    /// The association commits to re-use the devices (counted in the public body's re-use rate).
    pub commitment_reuse: bool,
    #[oai(validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// When and how the handover will happen.
#[derive(Debug, Clone, Object)]
pub struct ScheduleRequest {
    pub mode: HandoverMode,
    /// The planned date; the reservation is kept at least until the end of that day.
    pub planned_on: NaiveDate,
    #[oai(validator(max_length = 2000))]
    pub message: Option<Str>,
}

/// One line of a request.
#[derive(Debug, Clone, Object)]
pub struct RequestLineInput {
    pub category: Category,
    #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
    pub quantity: i32,
    #[oai(validator(minimum(value = "0"), maximum(value = "4096")))]
    pub min_ram_gb: Option<i32>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub min_storage_gb: Option<i32>,
    #[oai(validator(minimum(value = "0"), maximum(value = "200")))]
    pub min_screen_inches: Option<f64>,
}

/// A new request.
#[derive(Debug, Clone, Object)]
pub struct RequestInput {
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    /// What the equipment is for.
    #[oai(validator(max_length = 2000))]
    pub purpose: Str,
    /// How many people benefit.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub beneficiaries: i32,
    /// One of the association's sites.
    #[oai(nullable)]
    pub delivery_site_id: Option<Uuid>,
    pub needed_by: NaiveDate,
    #[oai(validator(min_items = 1, max_items = 20))]
    pub lines: Vec<RequestLineInput>,
    /// Keep it as a draft instead of opening it to refurbishers.
    #[oai(default)]
    pub draft: bool,
}

/// A line of a request with its fulfilment.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RequestLineResponse {
    pub position: i32,
    pub category: Category,
    pub quantity: i32,
    pub fulfilled: i32,
    pub min_ram_gb: Option<i32>,
    pub min_storage_gb: Option<i32>,
    pub min_screen_inches: Option<f64>,
}

/// A request.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RequestResponse {
    pub id: Uuid,
    pub association_id: Uuid,
    pub association_name: String,
    pub purpose: String,
    pub beneficiaries: i32,
    pub delivery_site_id: Option<Uuid>,
    pub needed_by: NaiveDate,
    pub status: RequestStatus,
    pub lines: Vec<RequestLineResponse>,
    /// From the query point to the delivery site (or the association's seat), in km.
    pub distance_km: Option<f64>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

/// A page of requests.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RequestPage {
    pub items: Vec<RequestResponse>,
    pub next_cursor: Option<String>,
}

/// The fair-share cap of a refurbisher.
#[derive(Debug, Clone, Object)]
pub struct FairShare {
    /// Most devices one association may hold (reserved, not yet handed over) at once.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub max_items_per_association: i32,
}

fn by(caller: &Caller, acting: &Acting) -> By {
    By {
        actor: Some(acting.actor),
        actor_ref: caller.actor_ref(),
        organisation_id: acting.organisation_id,
    }
}

async fn find_org<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<organisation::Model> {
    organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn find_reservation<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Mails every admin of an organisation (and its contact address) through the outbox.
async fn notify<C: ConnectionTrait>(db: &C, org: Uuid, subject: &str, body: &str) -> ApiResult<()> {
    let mut to: Vec<String> = Vec::new();
    for m in membership::Entity::find()
        .filter(membership::Column::OrganisationId.eq(org))
        .filter(membership::Column::Role.eq("admin"))
        .all(db)
        .await?
    {
        if let Some(u) = user::Entity::find_by_id(m.user_id).one(db).await? {
            to.push(u.email);
        }
    }
    if let Some(o) = organisation::Entity::find_by_id(org).one(db).await?
        && let Some(e) = o.contact_email
    {
        to.push(e);
    }
    to.sort();
    to.dedup();
    for address in to {
        let mail = Mail {
            to: address,
            subject: subject.to_owned(),
            body: body.to_owned(),
        };
        outbox::enqueue(db, Topic::Mail, &mail).await?;
    }
    Ok(())
}

/// The legal check of giving `items` to `association`: the legal basis and resale terms to record,
/// or 422 `not_eligible` with every legal reason.
async fn check_eligibility<C: ConnectionTrait>(
    db: &C,
    association: &organisation::Model,
    items: &[item::Model],
    mode: DomMode,
    today: NaiveDate,
) -> ApiResult<(String, String)> {
    let giver = match mode {
        DomMode::ToRefurbisher => Giver::Refurbisher,
        DomMode::Service => {
            let body = find_org(db, items[0].organisation_id).await?;
            Giver::PublicBody(
                body.public_body_type
                    .as_deref()
                    .and_then(PublicBodyType::parse)
                    .unwrap_or(PublicBodyType::Commune),
            )
        }
    };
    let facts: Vec<ItemFacts> = items
        .iter()
        .map(|i| ItemFacts {
            reference: i.inventory_number.clone(),
            category: DomCategory::parse(&i.category).unwrap_or(DomCategory::Other),
            net_book_value_cents: i.net_book_value_cents,
            acquisition_date: i.acquisition_date,
            age_override: i.age_override_reason.is_some(),
        })
        .collect();
    let category = association
        .beneficiary_category
        .as_deref()
        .and_then(BeneficiaryCategory::parse)
        .unwrap_or(BeneficiaryCategory::Other);
    match eligibility::check(&Cession {
        giver,
        beneficiary: Beneficiary::Association(category),
        mode,
        items: &facts,
        date: today,
    }) {
        Decision::Allowed {
            legal_basis, terms, ..
        } => {
            let mut resale: Vec<String> = terms.into_iter().map(|t| t.text_fr).collect();
            resale.dedup();
            Ok((legal_basis.text_fr, resale.join("\n")))
        }
        Decision::Refused { reasons } => {
            let fr: Vec<String> = reasons.iter().map(|r| r.message_fr.clone()).collect();
            let en: Vec<String> = reasons.iter().map(|r| r.message_en.clone()).collect();
            Err(ApiError::new(ErrorCode::NotEligible).detail(fr.join(" "), en.join(" ")))
        }
    }
}

/// Holds `ids` for `association` in a new reservation (status `status`), checking availability,
/// one refurbisher and one cession mode, the fair-share cap and the law.
#[allow(clippy::too_many_arguments)]
async fn hold(
    state: &AppState,
    txn: &crate::store::tx::Tx,
    association: &organisation::Model,
    ids: &[Uuid],
    status: ReservationStatus,
    request: Option<(Uuid, i32)>,
    by: &By,
    refurbisher_acting: Option<Uuid>,
) -> ApiResult<reservation::Model> {
    let mut items = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let Some(m) = item::Entity::find_by_id(*id).one(txn).await? else {
            return Err(
                ApiError::field(format!("item_ids[{i}]"), Invalid::InvalidFormat).detail(
                    "Aucun équipement n'a cet identifiant.",
                    "No device has this id.",
                ),
            );
        };
        if m.status != DomStatus::Available.as_str() {
            return Err(ApiError::new(ErrorCode::ItemNotAvailable));
        }
        items.push(m);
    }
    let refurbisher = items[0].custodian_id;
    if let Some(r) = refurbisher_acting
        && r != refurbisher
    {
        return Err(ApiError::forbidden().detail(
            "Vous ne pouvez proposer que des équipements que vous détenez.",
            "You may only propose devices you hold.",
        ));
    }
    let mut modes = Vec::new();
    for m in &items {
        let mode = match m.lot_id {
            Some(l) => lot::Entity::find_by_id(l)
                .one(txn)
                .await?
                .and_then(|l| DomMode::parse(&l.cession_mode))
                .unwrap_or(DomMode::ToRefurbisher),
            None => DomMode::ToRefurbisher,
        };
        modes.push(mode);
    }
    if items.iter().any(|m| m.custodian_id != refurbisher) || modes.iter().any(|m| *m != modes[0]) {
        return Err(ApiError::new(ErrorCode::MixedReservation));
    }
    let mode = modes[0];
    let holder = find_org(txn, refurbisher).await?;
    let cap = holder.fair_share_cap.unwrap_or(DEFAULT_FAIR_SHARE);
    let held = item_hold::Entity::find()
        .filter(item_hold::Column::RefurbisherId.eq(refurbisher))
        .filter(item_hold::Column::AssociationId.eq(association.id))
        .count(txn)
        .await?;
    if held + items.len() as u64 > cap as u64 {
        return Err(ApiError::new(ErrorCode::FairShareExceeded).detail(
            format!("Ce reconditionneur permet {cap} équipement(s) à la fois par association ; vous en détenez déjà {held}."),
            format!("This refurbisher allows {cap} device(s) at a time per association; you already hold {held}."),
        ));
    }
    let today = state.settings.today();
    let (legal_basis, resale_terms) =
        check_eligibility(txn, association, &items, mode, today).await?;
    let now = store::now();
    let id = store::new_id();
    let giver = match mode {
        DomMode::Service => items[0].organisation_id,
        DomMode::ToRefurbisher => refurbisher,
    };
    reservation::Entity::insert(reservation::ActiveModel {
        id: Set(id),
        association_id: Set(association.id),
        refurbisher_id: Set(refurbisher),
        request_id: Set(request.map(|r| r.0)),
        status: Set(status.as_str().to_owned()),
        cession_mode: Set(mode.as_str().to_owned()),
        giver_id: Set(giver),
        legal_basis: Set(Some(legal_basis)),
        resale_terms: Set(Some(resale_terms)),
        expires_at: Set(now + TimeDelta::days(i64::from(state.settings.reservation_days))),
        reminded_at: Set(None),
        handover_id: Set(None),
        handover_on: Set(None),
        commitment_no_resale: Set(false),
        commitment_reuse: Set(false),
        received_at: Set(None),
        created_by: Set(by.actor_ref.clone()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    for m in &items {
        reservation_item::Entity::insert(reservation_item::ActiveModel {
            reservation_id: Set(id),
            item_id: Set(m.id),
            request_line_position: Set(request.map(|r| r.1)),
        })
        .exec_without_returning(txn)
        .await?;
        let held = item_hold::Entity::insert(item_hold::ActiveModel {
            item_id: Set(m.id),
            reservation_id: Set(id),
            association_id: Set(association.id),
            refurbisher_id: Set(refurbisher),
        })
        .exec_without_returning(txn)
        .await;
        match held {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(ErrorCode::ItemNotAvailable));
            }
            Err(e) => return Err(e.into()),
        }
        let facts = Facts {
            eligible_beneficiary: true,
            ..Facts::default()
        };
        // A proposal is made by the refurbisher on the association's behalf: the platform fires.
        let fire_by = if status == ReservationStatus::Proposed {
            By {
                actor: None,
                ..by.clone()
            }
        } else {
            by.clone()
        };
        transitions::fire(
            txn,
            m,
            "reserve",
            &fire_by,
            &facts,
            Vec::new(),
            serde_json::json!({ "reservation_id": id, "association_id": association.id }),
        )
        .await
        .map_err(|e| {
            if e.code == ErrorCode::Conflict {
                ApiError::new(ErrorCode::ItemNotAvailable)
            } else {
                e
            }
        })?;
    }
    if mode == DomMode::Service {
        // The public body's convention with the association can be signed before the handover.
        crate::documents::enqueue(
            txn,
            &[(
                crate::documents::Kind::ConventionCession,
                crate::documents::Subject::Reservation(id),
            )],
        )
        .await?;
    }
    find_reservation(txn, id).await
}

/// Returns a reservation's devices to the catalogue and ends it with `status`.
pub async fn release(
    txn: &crate::store::tx::Tx,
    r: &reservation::Model,
    status: ReservationStatus,
    by: &By,
) -> ApiResult<()> {
    let done = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(status.as_str()))
        .col_expr(reservation::Column::Version, Expr::value(r.version + 1))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(store::now()))
        .filter(reservation::Column::Id.eq(r.id))
        .filter(reservation::Column::Version.eq(r.version))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ApiError::new(ErrorCode::Conflict));
    }
    for h in item_hold::Entity::find()
        .filter(item_hold::Column::ReservationId.eq(r.id))
        .all(txn)
        .await?
    {
        item_hold::Entity::delete_by_id(h.item_id).exec(txn).await?;
        if let Some(m) = item::Entity::find_by_id(h.item_id).one(txn).await?
            && m.status == DomStatus::Reserved.as_str()
        {
            transitions::fire(
                txn,
                &m,
                "release",
                by,
                &Facts::default(),
                Vec::new(),
                serde_json::json!({ "reservation_id": r.id, "outcome": status.as_str() }),
            )
            .await?;
        }
    }
    Ok(())
}

async fn reservation_response<C: ConnectionTrait>(
    db: &C,
    r: reservation::Model,
) -> ApiResult<ReservationResponse> {
    let association = find_org(db, r.association_id).await?;
    let refurbisher = find_org(db, r.refurbisher_id).await?;
    let mut items = Vec::new();
    for ri in reservation_item::Entity::find()
        .filter(reservation_item::Column::ReservationId.eq(r.id))
        .order_by_asc(reservation_item::Column::ItemId)
        .all(db)
        .await?
    {
        if let Some(m) = item::Entity::find_by_id(ri.item_id).one(db).await? {
            items.push(ReservedItem {
                id: m.id,
                public_code: m.public_code,
                category: DomCategory::parse(&m.category)
                    .unwrap_or(DomCategory::Other)
                    .into(),
                brand: m.brand,
                model: m.model,
                grade: m.grade,
                specs: ItemSpecs {
                    cpu: m.cpu,
                    ram_gb: m.ram_gb,
                    storage_gb: m.storage_gb,
                    storage_kind: None,
                    screen_inches: m.screen_inches,
                    battery_health_percent: m.battery_health_percent,
                },
                request_line: ri.request_line_position,
            });
        }
    }
    Ok(ReservationResponse {
        id: r.id,
        association_id: r.association_id,
        association_name: association.name,
        refurbisher: contact(&refurbisher),
        request_id: r.request_id,
        status: ReservationStatus::parse(&r.status),
        cession_mode: r.cession_mode,
        giver_id: r.giver_id,
        legal_basis: r.legal_basis,
        resale_terms: r.resale_terms,
        expires_at: r.expires_at,
        items,
        handover_id: r.handover_id,
        handover_on: r.handover_on,
        commitment_no_resale: r.commitment_no_resale,
        commitment_reuse: r.commitment_reuse,
        received_at: r.received_at,
        version: r.version,
        created_at: r.created_at,
    })
}

async fn request_response<C: ConnectionTrait>(
    db: &C,
    r: request::Model,
    distance_km: Option<f64>,
) -> ApiResult<RequestResponse> {
    let association = find_org(db, r.association_id).await?;
    let lines = request_line::Entity::find()
        .filter(request_line::Column::RequestId.eq(r.id))
        .order_by_asc(request_line::Column::Position)
        .all(db)
        .await?;
    Ok(RequestResponse {
        id: r.id,
        association_id: r.association_id,
        association_name: association.name,
        purpose: r.purpose,
        beneficiaries: r.beneficiaries,
        delivery_site_id: r.delivery_site_id,
        needed_by: r.needed_by,
        status: RequestStatus::parse(&r.status),
        lines: lines
            .into_iter()
            .map(|l| RequestLineResponse {
                position: l.position,
                category: DomCategory::parse(&l.category)
                    .unwrap_or(DomCategory::Other)
                    .into(),
                quantity: l.quantity,
                fulfilled: l.fulfilled,
                min_ram_gb: l.min_ram_gb,
                min_storage_gb: l.min_storage_gb,
                min_screen_inches: l.min_screen_inches,
            })
            .collect(),
        distance_km: distance_km.map(|d| (d * 10.0).round() / 10.0),
        version: r.version,
        created_at: r.created_at,
    })
}

/// Locks a reservation row for the rest of the transaction (a no-op update) and reads it.
async fn lock_reservation(txn: &crate::store::tx::Tx, id: Uuid) -> ApiResult<reservation::Model> {
    let locked = reservation::Entity::update_many()
        .col_expr(
            reservation::Column::Version,
            Expr::col(reservation::Column::Version),
        )
        .filter(reservation::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(ApiError::not_found());
    }
    find_reservation(txn, id).await
}

fn wrong_status(r: &reservation::Model) -> ApiError {
    ApiError::new(ErrorCode::InvalidTransition).detail(
        format!(
            "Impossible pour une réservation au statut « {} ».",
            r.status
        ),
        format!("Not possible for a reservation in status `{}`.", r.status),
    )
}

/// Demand-side endpoints.
pub struct DemandApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Demand")]
impl DemandApi {
    /// Read a catalogue device
    ///
    /// An available device with its photos, grade, specs and the refurbisher's contact (phone and
    /// address: a human channel for every reservation).
    #[oai(
        path = "/catalogue/items/:id",
        method = "get",
        operation_id = "get_catalogue_item"
    )]
    async fn get_catalogue_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        organisation_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<CatalogueItemDetail>> {
        let acting = auth.0.acting_as("get_catalogue_item", organisation_id.0)?;
        acting.require_verified()?;
        let db = &self.state.db;
        let m = item::Entity::find_by_id(id.0)
            .one(db)
            .await?
            .filter(|m| m.status == DomStatus::Available.as_str())
            .ok_or_else(ApiError::not_found)?;
        let holder = find_org(db, m.custodian_id).await?;
        let notes = m.condition_notes.clone();
        let mut photos = Vec::new();
        for p in photo::Entity::find()
            .filter(photo::Column::ItemId.eq(m.id))
            .order_by_asc(photo::Column::Id)
            .all(db)
            .await?
        {
            photos.push(
                super::photos::response(
                    &self.state.blobs,
                    self.state.settings.blob_url_ttl_secs,
                    p,
                )
                .await?,
            );
        }
        Ok(Json(CatalogueItemDetail {
            item: catalogue_item(&self.state, m, &holder, None).await?,
            condition_notes: notes,
            photos,
            refurbisher_contact: contact(&holder),
        }))
    }

    /// Reserve devices
    ///
    /// A verified association holds available devices of one refurbisher until `expires_at`
    /// (`REEMPLOI_RESERVATION_DAYS`, 7 by default). In `service` mode the public body gives, so
    /// the association's category and each device's net book value (≤ 300 €) and age are checked
    /// (422 `not_eligible` with the legal reason); the legal basis is recorded. Exactly one
    /// association can hold a device: the others get 409 `item_not_available`.
    #[oai(
        path = "/reservations",
        method = "post",
        operation_id = "create_reservation"
    )]
    async fn create_reservation(
        &self,
        auth: BearerAuth,
        body: Json<ReservationRequest>,
    ) -> ApiResult<Created<ReservationResponse>> {
        let acting = auth
            .0
            .acting_as("create_reservation", body.0.organisation_id)?;
        acting.require_verified()?;
        let by = by(&auth.0, &acting);
        let db = &self.state.db;
        let request = match (body.0.request_id, body.0.line) {
            (None, None) => None,
            (Some(rid), Some(pos)) => {
                let r = request::Entity::find_by_id(rid)
                    .one(db)
                    .await?
                    .filter(|r| r.association_id == acting.organisation_id)
                    .ok_or_else(|| ApiError::field("request_id", Invalid::InvalidFormat))?;
                if !RequestStatus::parse(&r.status).accepts_proposals() {
                    return Err(
                        ApiError::field("request_id", Invalid::InvalidFormat).detail(
                            "Cette demande n'est plus ouverte.",
                            "This request is no longer open.",
                        ),
                    );
                }
                let line = matching_line(db, &r, pos, &body.0.item_ids).await?;
                Some((r.id, line.position))
            }
            (None, Some(_)) => return Err(ApiError::field("request_id", Invalid::Required)),
            (Some(_), None) => return Err(ApiError::field("line", Invalid::Required)),
        };
        let txn = begin_write(db).await?;
        let association = find_org(&txn, acting.organisation_id).await?;
        let r = hold(
            &self.state,
            &txn,
            &association,
            &body.0.item_ids,
            ReservationStatus::Active,
            request,
            &by,
            None,
        )
        .await?;
        txn.commit().await?;
        let id = r.id;
        Ok(Created::Created(
            Json(reservation_response(&self.state.db, r).await?),
            format!("/v1/reservations/{id}"),
        ))
    }

    /// List reservations
    ///
    /// The acting association's reservations, or those of the acting refurbisher's devices;
    /// newest last (cursor pagination).
    #[oai(
        path = "/reservations",
        method = "get",
        operation_id = "list_reservations"
    )]
    async fn list_reservations(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ReservationPage>> {
        let acting = auth.0.acting_as("list_reservations", organisation_id.0)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let column = if acting.actor.kind == OrganisationKind::Association {
            reservation::Column::AssociationId
        } else {
            reservation::Column::RefurbisherId
        };
        let select = reservation::Entity::find().filter(column.eq(acting.organisation_id));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, reservation::Column::Id, |r| r.id)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(reservation_response(&self.state.db, r).await?);
        }
        Ok(Json(ReservationPage { items, next_cursor }))
    }

    /// Read a reservation
    #[oai(
        path = "/reservations/:id",
        method = "get",
        operation_id = "get_reservation"
    )]
    async fn get_reservation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ReservationResponse>> {
        let r = find_reservation(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_reservation", &[r.association_id, r.refurbisher_id])?;
        Ok(Json(reservation_response(&self.state.db, r).await?))
    }

    /// Cancel a reservation
    ///
    /// By the association (or the refurbisher); the devices return to the catalogue.
    #[oai(
        path = "/reservations/:id/cancel",
        method = "post",
        operation_id = "cancel_reservation"
    )]
    async fn cancel_reservation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ReservationResponse>> {
        self.end(
            auth,
            id.0,
            "cancel_reservation",
            ReservationStatus::Cancelled,
        )
        .await
    }

    /// Accept a proposal
    ///
    /// The association accepts devices a refurbisher proposed against its request: the
    /// reservation becomes `active` until its expiry.
    #[oai(
        path = "/reservations/:id/accept",
        method = "post",
        operation_id = "accept_proposal"
    )]
    async fn accept_proposal(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ReservationResponse>> {
        let r = find_reservation(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("accept_proposal", &[r.association_id])?
            .ok_or_else(ApiError::forbidden)?;
        let txn = begin_write(&self.state.db).await?;
        let r = lock_reservation(&txn, r.id).await?;
        if r.status != ReservationStatus::Proposed.as_str() {
            return Err(wrong_status(&r));
        }
        reservation::Entity::update_many()
            .col_expr(
                reservation::Column::Status,
                Expr::value(ReservationStatus::Active.as_str()),
            )
            .col_expr(
                reservation::Column::ExpiresAt,
                Expr::value(
                    store::now() + TimeDelta::days(i64::from(self.state.settings.reservation_days)),
                ),
            )
            .col_expr(reservation::Column::Version, Expr::value(r.version + 1))
            .col_expr(reservation::Column::UpdatedAt, Expr::value(store::now()))
            .filter(reservation::Column::Id.eq(r.id))
            .exec(&txn)
            .await?;
        let r = find_reservation(&txn, r.id).await?;
        txn.commit().await?;
        Ok(Json(reservation_response(&self.state.db, r).await?))
    }

    /// Decline a proposal
    ///
    /// The devices return to the catalogue.
    #[oai(
        path = "/reservations/:id/decline",
        method = "post",
        operation_id = "decline_proposal"
    )]
    async fn decline_proposal(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ReservationResponse>> {
        self.end(auth, id.0, "decline_proposal", ReservationStatus::Declined)
            .await
    }

    /// Hand devices over to the association
    ///
    /// The refurbisher records the pickup or delivery with both signatories and the
    /// association's commitments (not to resell, or only at the capped solidarity price its
    /// category allows; to re-use). The devices become `donated`, owned by the association, and
    /// the request lines they answer are fulfilled.
    #[oai(
        path = "/reservations/:id/handover",
        method = "post",
        operation_id = "record_handover"
    )]
    async fn record_handover(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<HandoverRequest>,
    ) -> ApiResult<Json<ReservationResponse>> {
        let db = &self.state.db;
        let r = find_reservation(db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("record_handover", &[r.refurbisher_id])?
            .ok_or_else(ApiError::forbidden)?;
        let mut errors = FieldErrors::new();
        let a_name = errors.check(
            "association_signatory.name",
            Name::parse(&body.0.association_signatory.name),
        );
        let a_role = errors.check(
            "association_signatory.role",
            Name::parse(&body.0.association_signatory.role),
        );
        let r_name = errors.check(
            "refurbisher_signatory.name",
            Name::parse(&body.0.refurbisher_signatory.name),
        );
        let r_role = errors.check(
            "refurbisher_signatory.role",
            Name::parse(&body.0.refurbisher_signatory.role),
        );
        let notes = errors
            .check("notes", LongText::parse_optional(body.0.notes.as_deref()))
            .flatten();
        if body.0.occurred_on > self.state.settings.today() {
            errors.push("occurred_on", Invalid::OutOfRange);
        }
        if !body.0.commitment_no_resale {
            errors.push("commitment_no_resale", Invalid::Required);
        }
        if !body.0.commitment_reuse {
            errors.push("commitment_reuse", Invalid::Required);
        }
        let (Some(a_name), Some(a_role), Some(r_name), Some(r_role), true) =
            (a_name, a_role, r_name, r_role, errors.is_empty())
        else {
            return Err(errors.into());
        };
        let by = by(&auth.0, &acting);
        let txn = begin_write(db).await?;
        let r = lock_reservation(&txn, r.id).await?;
        if r.status != ReservationStatus::Active.as_str() {
            return Err(wrong_status(&r));
        }
        let handover_id = store::new_id();
        let mode = match body.0.mode {
            HandoverMode::Pickup => "pickup",
            HandoverMode::Delivery => "delivery",
        };
        handover::Entity::insert(handover::ActiveModel {
            id: Set(handover_id),
            kind: Set(mode.to_owned()),
            lot_id: Set(None),
            from_organisation_id: Set(r.refurbisher_id),
            to_organisation_id: Set(r.association_id),
            occurred_on: Set(body.0.occurred_on),
            from_signatory_name: Set(r_name.into_inner()),
            from_signatory_role: Set(r_role.into_inner()),
            to_signatory_name: Set(a_name.into_inner()),
            to_signatory_role: Set(a_role.into_inner()),
            ownership_transferred: Set(true),
            notes: Set(notes.map(|n| n.into_inner())),
            created_by: Set(auth.0.actor_ref()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(&txn)
        .await?;
        let held = reservation_item::Entity::find()
            .filter(reservation_item::Column::ReservationId.eq(r.id))
            .all(&txn)
            .await?;
        for ri in &held {
            let m = item::Entity::find_by_id(ri.item_id)
                .one(&txn)
                .await?
                .ok_or_else(ApiError::not_found)?;
            handover_item::Entity::insert(handover_item::ActiveModel {
                handover_id: Set(handover_id),
                item_id: Set(m.id),
                present: Set(true),
            })
            .exec_without_returning(&txn)
            .await?;
            let records = super::workshop::attempts(&txn, m.id).await?;
            let facts = Facts {
                signed_handover: true,
                eligible_beneficiary: r.legal_basis.is_some(),
                has_data_storage: m.has_data_storage,
                storage_sanitised: super::workshop::sanitised(&records),
                ..Facts::default()
            };
            transitions::fire(
                &txn,
                &m,
                "donate",
                &by,
                &facts,
                vec![
                    (item::Column::OwnerId, Expr::value(r.association_id)),
                    (item::Column::CustodianId, Expr::value(r.association_id)),
                ],
                serde_json::json!({
                    "reservation_id": r.id, "handover_id": handover_id, "mode": mode,
                    "from_organisation_id": r.refurbisher_id, "to_organisation_id": r.association_id,
                    "legal_basis": r.legal_basis, "commitment_no_resale": true, "commitment_reuse": true
                }),
            )
            .await?;
            item_hold::Entity::delete_by_id(m.id).exec(&txn).await?;
            if let (Some(req), Some(pos)) = (r.request_id, ri.request_line_position) {
                request_line::Entity::update_many()
                    .col_expr(
                        request_line::Column::Fulfilled,
                        Expr::col(request_line::Column::Fulfilled).add(1),
                    )
                    .filter(request_line::Column::RequestId.eq(req))
                    .filter(request_line::Column::Position.eq(pos))
                    .exec(&txn)
                    .await?;
            }
        }
        if let Some(req) = r.request_id {
            refresh_request_status(&txn, req).await?;
        }
        {
            use crate::documents::{Kind, Subject, enqueue};
            let s = Subject::Reservation(r.id);
            enqueue(
                &txn,
                &[
                    (Kind::PvRemise, s),
                    (Kind::AttestationDon, s),
                    (Kind::ConventionCession, s),
                    (Kind::CertificatSortie, s),
                ],
            )
            .await?;
        }
        reservation::Entity::update_many()
            .col_expr(
                reservation::Column::Status,
                Expr::value(ReservationStatus::HandedOver.as_str()),
            )
            .col_expr(
                reservation::Column::HandoverId,
                Expr::value(Some(handover_id)),
            )
            .col_expr(
                reservation::Column::HandoverOn,
                Expr::value(Some(body.0.occurred_on)),
            )
            .col_expr(reservation::Column::CommitmentNoResale, Expr::value(true))
            .col_expr(reservation::Column::CommitmentReuse, Expr::value(true))
            .col_expr(reservation::Column::Version, Expr::value(r.version + 1))
            .col_expr(reservation::Column::UpdatedAt, Expr::value(store::now()))
            .filter(reservation::Column::Id.eq(r.id))
            .exec(&txn)
            .await?;
        notify(
            &txn,
            r.association_id,
            "Remise d'équipements enregistrée",
            &format!(
                "Bonjour,\n\nLa remise de {} équipement(s) a été enregistrée le {} ({}). Ils vous appartiennent désormais ; \
                 merci de confirmer leur réception dans l'application.\n\nRéemploi",
                held.len(),
                body.0.occurred_on.format("%d/%m/%Y"),
                if mode == "pickup" { "retrait" } else { "livraison" }
            ),
        )
        .await?;
        let r = find_reservation(&txn, r.id).await?;
        txn.commit().await?;
        Ok(Json(reservation_response(db, r).await?))
    }

    /// Schedule the handover
    ///
    /// The refurbisher plans the pickup or delivery; the association is notified, and the
    /// reservation is kept until that day.
    #[oai(
        path = "/reservations/:id/schedule",
        method = "post",
        operation_id = "schedule_handover"
    )]
    async fn schedule_handover(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ScheduleRequest>,
    ) -> ApiResult<Json<ReservationResponse>> {
        let db = &self.state.db;
        let r = find_reservation(db, id.0).await?;
        auth.0
            .authorize_related("schedule_handover", &[r.refurbisher_id])?
            .ok_or_else(ApiError::forbidden)?;
        let mut errors = FieldErrors::new();
        let message = errors
            .check(
                "message",
                LongText::parse_optional(body.0.message.as_deref()),
            )
            .flatten();
        let today = self.state.settings.today();
        if body.0.planned_on < today || body.0.planned_on > today + TimeDelta::days(90) {
            errors.push("planned_on", Invalid::OutOfRange);
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let txn = begin_write(db).await?;
        let r = lock_reservation(&txn, r.id).await?;
        if r.status != ReservationStatus::Active.as_str() {
            return Err(wrong_status(&r));
        }
        let end_of_day = body
            .0
            .planned_on
            .and_hms_opt(23, 59, 59)
            .map(|t| t.and_utc())
            .unwrap_or(r.expires_at);
        reservation::Entity::update_many()
            .col_expr(
                reservation::Column::HandoverOn,
                Expr::value(Some(body.0.planned_on)),
            )
            .col_expr(
                reservation::Column::ExpiresAt,
                Expr::value(Ord::max(r.expires_at, end_of_day)),
            )
            .col_expr(reservation::Column::Version, Expr::value(r.version + 1))
            .col_expr(reservation::Column::UpdatedAt, Expr::value(store::now()))
            .filter(reservation::Column::Id.eq(r.id))
            .exec(&txn)
            .await?;
        let holder = find_org(&txn, r.refurbisher_id).await?;
        let how = match body.0.mode {
            HandoverMode::Pickup => format!(
                "retrait chez {}, {} {} {}",
                holder.name, holder.address, holder.postcode, holder.city
            ),
            HandoverMode::Delivery => format!("livraison par {}", holder.name),
        };
        notify(
            &txn,
            r.association_id,
            "Remise d'équipements programmée",
            &format!(
                "Bonjour,\n\nLa remise de vos équipements est programmée le {} ({how}).{}\n\n\
                 Contact : {}{}.\n\nRéemploi",
                body.0.planned_on.format("%d/%m/%Y"),
                message
                    .map(|m| format!("\n\nMessage : {}", m.as_str()))
                    .unwrap_or_default(),
                holder.phone.clone().unwrap_or_default(),
                holder
                    .contact_email
                    .as_ref()
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default()
            ),
        )
        .await?;
        let r = find_reservation(&txn, r.id).await?;
        txn.commit().await?;
        Ok(Json(reservation_response(db, r).await?))
    }

    /// Confirm receipt
    ///
    /// The association confirms it received the handed-over devices (proof of re-use).
    #[oai(
        path = "/reservations/:id/receipt",
        method = "post",
        operation_id = "confirm_receipt"
    )]
    async fn confirm_receipt(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ReservationResponse>> {
        let db = &self.state.db;
        let r = find_reservation(db, id.0).await?;
        auth.0
            .authorize_related("confirm_receipt", &[r.association_id])?
            .ok_or_else(ApiError::forbidden)?;
        let txn = begin_write(db).await?;
        let r = lock_reservation(&txn, r.id).await?;
        if r.status != ReservationStatus::HandedOver.as_str() {
            return Err(wrong_status(&r));
        }
        if r.received_at.is_none() {
            reservation::Entity::update_many()
                .col_expr(
                    reservation::Column::ReceivedAt,
                    Expr::value(Some(store::now())),
                )
                .col_expr(reservation::Column::Version, Expr::value(r.version + 1))
                .filter(reservation::Column::Id.eq(r.id))
                .exec(&txn)
                .await?;
        }
        let r = find_reservation(&txn, r.id).await?;
        txn.commit().await?;
        Ok(Json(reservation_response(db, r).await?))
    }

    /// File a request
    ///
    /// An association's need: lines of category, quantity and minimum specs, purpose, number of
    /// beneficiaries, delivery site and date. Opened to refurbishers unless `draft`.
    #[oai(path = "/requests", method = "post", operation_id = "create_request")]
    async fn create_request(
        &self,
        auth: BearerAuth,
        body: Json<RequestInput>,
    ) -> ApiResult<Created<RequestResponse>> {
        let acting = auth.0.acting_as("create_request", body.0.organisation_id)?;
        acting.require_verified()?;
        let b = body.0;
        let mut errors = FieldErrors::new();
        let purpose = errors.check("purpose", LongText::parse(&b.purpose));
        if b.needed_by < self.state.settings.today() {
            errors.push("needed_by", Invalid::OutOfRange);
        }
        let db = &self.state.db;
        if let Some(site) = b.delivery_site_id {
            let ok = crate::store::entities::site::Entity::find_by_id(site)
                .one(db)
                .await?
                .is_some_and(|s| {
                    s.organisation_id == acting.organisation_id && s.archived_at.is_none()
                });
            if !ok {
                errors.push("delivery_site_id", Invalid::InvalidFormat);
            }
        }
        let (Some(purpose), true) = (purpose, errors.is_empty()) else {
            return Err(errors.into());
        };
        let now = store::now();
        let id = store::new_id();
        let status = if b.draft {
            RequestStatus::Draft
        } else {
            RequestStatus::Open
        };
        let txn = begin_write(db).await?;
        request::Entity::insert(request::ActiveModel {
            id: Set(id),
            association_id: Set(acting.organisation_id),
            purpose: Set(purpose.into_inner()),
            beneficiaries: Set(b.beneficiaries),
            delivery_site_id: Set(b.delivery_site_id),
            needed_by: Set(b.needed_by),
            status: Set(status.as_str().to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        for (i, l) in b.lines.iter().enumerate() {
            request_line::Entity::insert(request_line::ActiveModel {
                id: Set(store::new_id()),
                request_id: Set(id),
                position: Set(i as i32 + 1),
                category: Set(DomCategory::from(l.category).as_str().to_owned()),
                quantity: Set(l.quantity),
                min_ram_gb: Set(l.min_ram_gb),
                min_storage_gb: Set(l.min_storage_gb),
                min_screen_inches: Set(l.min_screen_inches.filter(|v| v.is_finite())),
                fulfilled: Set(0),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        let r = request::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(request_response(db, r, None).await?),
            format!("/v1/requests/{id}"),
        ))
    }

    /// List my requests
    #[oai(path = "/requests", method = "get", operation_id = "list_requests")]
    async fn list_requests(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<RequestPage>> {
        let acting = auth.0.acting_as("list_requests", organisation_id.0)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select = request::Entity::find()
            .filter(request::Column::AssociationId.eq(acting.organisation_id));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, request::Column::Id, |r| r.id)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(request_response(&self.state.db, r, None).await?);
        }
        Ok(Json(RequestPage { items, next_cursor }))
    }

    /// Open requests near me
    ///
    /// For verified refurbishers: requests still open (or partly fulfilled), nearest to
    /// `lat`/`lon` (the refurbisher's seat by default) first, within `within_km` when given.
    #[oai(
        path = "/requests/open",
        method = "get",
        operation_id = "list_open_requests"
    )]
    async fn list_open_requests(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "-90"), maximum(value = "90")))] lat: Query<Option<f64>>,
        #[oai(validator(minimum(value = "-180"), maximum(value = "180")))] lon: Query<Option<f64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] within_km: Query<
            Option<f64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<RequestPage>> {
        let acting = auth.0.acting_as("list_open_requests", organisation_id.0)?;
        acting.require_verified()?;
        let db = &self.state.db;
        let me = find_org(db, acting.organisation_id).await?;
        let point = match (lat.0, lon.0) {
            (Some(a), Some(o)) if a.is_finite() && o.is_finite() => Some((a, o)),
            (None, None) => me.latitude.zip(me.longitude),
            _ => {
                return Err(ApiError::field(
                    if lat.0.is_none() { "lat" } else { "lon" },
                    Invalid::Required,
                ));
            }
        };
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
                Some(s) => crate::store::entities::site::Entity::find_by_id(s)
                    .one(db)
                    .await?
                    .and_then(|s| s.latitude.zip(s.longitude)),
                None => {
                    let a = find_org(db, r.association_id).await?;
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
            if let Some(km) = within_km.0
                && distance.is_none_or(|d| d > km)
            {
                continue;
            }
            found.push((distance.unwrap_or(f64::MAX), r, distance));
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        let mut items = Vec::new();
        for (_, r, d) in found.into_iter().take(limit.0.unwrap_or(50) as usize) {
            items.push(request_response(db, r, d).await?);
        }
        Ok(Json(RequestPage {
            items,
            next_cursor: None,
        }))
    }

    /// Read a request
    ///
    /// The association sees its requests; verified refurbishers see open ones.
    #[oai(path = "/requests/:id", method = "get", operation_id = "get_request")]
    async fn get_request(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<RequestResponse>> {
        let db = &self.state.db;
        let r = request::Entity::find_by_id(id.0)
            .one(db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let owner = auth.0.authorize_related("get_request", &[r.association_id]);
        let refurbisher_may = RequestStatus::parse(&r.status).accepts_proposals()
            && auth.0.memberships.iter().any(|m| {
                m.kind == OrganisationKind::Refurbisher
                    && m.status == reemploi_domain::organisation::VerificationStatus::Verified
            });
        if owner.is_err() && !refurbisher_may {
            return Err(ApiError::not_found());
        }
        Ok(Json(request_response(db, r, None).await?))
    }

    /// Cancel a request
    ///
    /// Pending proposals against it are declined and their devices return to the catalogue.
    #[oai(
        path = "/requests/:id/cancel",
        method = "post",
        operation_id = "cancel_request"
    )]
    async fn cancel_request(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<RequestResponse>> {
        let db = &self.state.db;
        let r = request::Entity::find_by_id(id.0)
            .one(db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let acting = auth
            .0
            .authorize_related("cancel_request", &[r.association_id])?
            .ok_or_else(ApiError::forbidden)?;
        let by = by(&auth.0, &acting);
        let txn = begin_write(db).await?;
        let done = request::Entity::update_many()
            .col_expr(
                request::Column::Status,
                Expr::value(RequestStatus::Cancelled.as_str()),
            )
            .col_expr(request::Column::Version, Expr::value(r.version + 1))
            .col_expr(request::Column::UpdatedAt, Expr::value(store::now()))
            .filter(request::Column::Id.eq(r.id))
            .filter(request::Column::Version.eq(r.version))
            .filter(request::Column::Status.is_in([
                RequestStatus::Draft.as_str(),
                RequestStatus::Open.as_str(),
                RequestStatus::PartiallyFulfilled.as_str(),
            ]))
            .exec(&txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!("Impossible pour une demande au statut « {} ».", r.status),
                format!("Not possible for a request in status `{}`.", r.status),
            ));
        }
        for p in reservation::Entity::find()
            .filter(reservation::Column::RequestId.eq(r.id))
            .filter(reservation::Column::Status.eq(ReservationStatus::Proposed.as_str()))
            .all(&txn)
            .await?
        {
            release(&txn, &p, ReservationStatus::Declined, &by).await?;
        }
        let r = request::Entity::find_by_id(r.id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        txn.commit().await?;
        Ok(Json(request_response(db, r, None).await?))
    }

    /// Propose devices against a request
    ///
    /// A verified refurbisher holds available devices it has for one line of an open request;
    /// the association is notified and accepts or declines. The same legal checks as a
    /// reservation apply, and the devices must match the line's category and minimum specs.
    #[oai(
        path = "/requests/:id/proposals",
        method = "post",
        operation_id = "propose_items"
    )]
    async fn propose_items(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ProposalRequest>,
    ) -> ApiResult<Created<ReservationResponse>> {
        let acting = auth.0.acting_as("propose_items", body.0.organisation_id)?;
        acting.require_verified()?;
        let db = &self.state.db;
        let r = request::Entity::find_by_id(id.0)
            .one(db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if !RequestStatus::parse(&r.status).accepts_proposals() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!(
                    "La demande n'accepte pas de proposition (statut « {} »).",
                    r.status
                ),
                format!("The request takes no proposal (status `{}`).", r.status),
            ));
        }
        let line = matching_line(db, &r, body.0.line, &body.0.item_ids).await?;
        let by = by(&auth.0, &acting);
        let txn = begin_write(db).await?;
        let association = find_org(&txn, r.association_id).await?;
        let res = hold(
            &self.state,
            &txn,
            &association,
            &body.0.item_ids,
            ReservationStatus::Proposed,
            Some((r.id, line.position)),
            &by,
            Some(acting.organisation_id),
        )
        .await?;
        let holder = find_org(&txn, acting.organisation_id).await?;
        notify(
            &txn,
            r.association_id,
            "Proposition d'équipements reçue",
            &format!(
                "Bonjour,\n\n{} vous propose {} équipement(s) pour votre demande « {} ». \
                 Acceptez ou déclinez la proposition dans l'application avant le {}.\n\nRéemploi",
                holder.name,
                body.0.item_ids.len(),
                r.purpose,
                res.expires_at.format("%d/%m/%Y")
            ),
        )
        .await?;
        txn.commit().await?;
        let rid = res.id;
        Ok(Created::Created(
            Json(reservation_response(db, res).await?),
            format!("/v1/reservations/{rid}"),
        ))
    }

    /// Set the fair-share cap
    ///
    /// The most devices one association may hold at once at this refurbisher (10 by default).
    #[oai(
        path = "/organisations/:id/fair-share",
        method = "put",
        operation_id = "set_fair_share"
    )]
    async fn set_fair_share(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<FairShare>,
    ) -> ApiResult<Json<FairShare>> {
        auth.0.authorize("set_fair_share", Some(id.0))?;
        let org = find_org(&self.state.db, id.0).await?;
        if org.kind != OrganisationKind::Refurbisher.as_str() {
            return Err(ApiError::forbidden());
        }
        organisation::Entity::update_many()
            .col_expr(
                organisation::Column::FairShareCap,
                Expr::value(Some(body.0.max_items_per_association)),
            )
            .filter(organisation::Column::Id.eq(id.0))
            .exec(&self.state.db)
            .await?;
        Ok(Json(body.0))
    }
}

impl DemandApi {
    /// Ends a reservation that still holds devices (cancel, decline).
    async fn end(
        &self,
        auth: BearerAuth,
        id: Uuid,
        op: &str,
        outcome: ReservationStatus,
    ) -> ApiResult<Json<ReservationResponse>> {
        let db = &self.state.db;
        let r = find_reservation(db, id).await?;
        let parties: &[Uuid] = if outcome == ReservationStatus::Declined {
            &[r.association_id]
        } else {
            &[r.association_id, r.refurbisher_id]
        };
        let acting = auth
            .0
            .authorize_related(op, parties)?
            .ok_or_else(ApiError::forbidden)?;
        let by = by(&auth.0, &acting);
        let txn = begin_write(db).await?;
        let r = lock_reservation(&txn, r.id).await?;
        let allowed = match outcome {
            ReservationStatus::Declined => r.status == ReservationStatus::Proposed.as_str(),
            _ => {
                r.status == ReservationStatus::Active.as_str()
                    || r.status == ReservationStatus::Proposed.as_str()
            }
        };
        if !allowed {
            return Err(wrong_status(&r));
        }
        release(&txn, &r, outcome, &by).await?;
        let r = find_reservation(&txn, r.id).await?;
        txn.commit().await?;
        Ok(Json(reservation_response(db, r).await?))
    }
}

/// The line `position` of `r`, checked against the devices (category and minimum specs).
async fn matching_line<C: ConnectionTrait>(
    db: &C,
    r: &request::Model,
    position: i32,
    item_ids: &[Uuid],
) -> ApiResult<request_line::Model> {
    let line = request_line::Entity::find()
        .filter(request_line::Column::RequestId.eq(r.id))
        .filter(request_line::Column::Position.eq(position))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::field("line", Invalid::InvalidFormat))?;
    for (i, item_id) in item_ids.iter().enumerate() {
        let Some(m) = item::Entity::find_by_id(*item_id).one(db).await? else {
            return Err(ApiError::field(
                format!("item_ids[{i}]"),
                Invalid::InvalidFormat,
            ));
        };
        let fits = m.category == line.category
            && line
                .min_ram_gb
                .is_none_or(|v| m.ram_gb.is_some_and(|x| x >= v))
            && line
                .min_storage_gb
                .is_none_or(|v| m.storage_gb.is_some_and(|x| x >= v))
            && line
                .min_screen_inches
                .is_none_or(|v| m.screen_inches.is_some_and(|x| x >= v));
        if !fits {
            return Err(ApiError::field(format!("item_ids[{i}]"), Invalid::OutOfRange).detail(
                "Cet équipement ne correspond pas à la ligne de la demande (catégorie ou caractéristiques minimales).",
                "This device does not match the request line (category or minimum specs).",
            ));
        }
    }
    Ok(line)
}

/// Recomputes a request's status from its lines' fulfilment.
async fn refresh_request_status(txn: &crate::store::tx::Tx, id: Uuid) -> ApiResult<()> {
    let lines = request_line::Entity::find()
        .filter(request_line::Column::RequestId.eq(id))
        .all(txn)
        .await?;
    let status = if lines.iter().all(|l| l.fulfilled >= l.quantity) {
        RequestStatus::Fulfilled
    } else if lines.iter().any(|l| l.fulfilled > 0) {
        RequestStatus::PartiallyFulfilled
    } else {
        return Ok(());
    };
    request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(status.as_str()))
        .col_expr(request::Column::UpdatedAt, Expr::value(store::now()))
        .filter(request::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Background upkeep: reminds associations a day before a reservation expires, returns expired
/// reservations' devices to the catalogue, and expires requests past their date. Returns how
/// many reservations expired.
pub async fn upkeep(db: &sea_orm::DatabaseConnection, today: NaiveDate) -> ApiResult<u64> {
    let now = store::now();
    let due = reservation::Entity::find()
        .filter(reservation::Column::Status.eq(ReservationStatus::Active.as_str()))
        .filter(reservation::Column::RemindedAt.is_null())
        .filter(reservation::Column::ExpiresAt.gt(now))
        .filter(reservation::Column::ExpiresAt.lte(now + TimeDelta::days(1)))
        .all(db)
        .await?;
    for r in due {
        let txn = begin_write(db).await?;
        let claimed = reservation::Entity::update_many()
            .col_expr(reservation::Column::RemindedAt, Expr::value(Some(now)))
            .filter(reservation::Column::Id.eq(r.id))
            .filter(reservation::Column::RemindedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 1 {
            notify(
                &txn,
                r.association_id,
                "Votre réservation expire bientôt",
                &format!(
                    "Bonjour,\n\nVotre réservation expire le {} à {} (UTC). Sans remise d'ici là, \
                     les équipements retourneront au catalogue.\n\nRéemploi",
                    r.expires_at.format("%d/%m/%Y"),
                    r.expires_at.format("%H:%M")
                ),
            )
            .await?;
        }
        txn.commit().await?;
    }
    let expired = reservation::Entity::find()
        .filter(reservation::Column::Status.is_in([
            ReservationStatus::Active.as_str(),
            ReservationStatus::Proposed.as_str(),
        ]))
        .filter(reservation::Column::ExpiresAt.lte(now))
        .all(db)
        .await?;
    let mut n = 0;
    for r in expired {
        let txn = begin_write(db).await?;
        let r = lock_reservation(&txn, r.id).await?;
        let holding = r.status == ReservationStatus::Active.as_str()
            || r.status == ReservationStatus::Proposed.as_str();
        if holding && r.expires_at <= now {
            let by = By {
                actor: None,
                actor_ref: "system".into(),
                organisation_id: r.refurbisher_id,
            };
            release(&txn, &r, ReservationStatus::Expired, &by).await?;
            n += 1;
        }
        txn.commit().await?;
    }
    request::Entity::update_many()
        .col_expr(
            request::Column::Status,
            Expr::value(RequestStatus::Expired.as_str()),
        )
        .col_expr(request::Column::UpdatedAt, Expr::value(now))
        .filter(request::Column::Status.is_in([
            RequestStatus::Draft.as_str(),
            RequestStatus::Open.as_str(),
            RequestStatus::PartiallyFulfilled.as_str(),
        ]))
        .filter(request::Column::NeededBy.lt(today))
        .exec(db)
        .await?;
    Ok(n)
}
