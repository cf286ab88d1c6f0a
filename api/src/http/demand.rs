//! The demand side, as the associations' mobile app uses it: catalogue details, reservations
//! (by the association, or proposed by a refurbisher against a request), the handover that makes
//! devices `donated`, receipt, requests, and the refurbisher's fair-share cap.
//!
//! Exactly one association holds a device: holding it inserts its row in `item_holds`, whose
//! primary key is the device, in the same transaction as the `reserve` transition.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use reemploi_domain::Invalid;
use reemploi_domain::demand as dom;
use reemploi_domain::item::Category as DomCategory;
use reemploi_domain::organisation::{OrganisationKind, VerificationStatus};
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::{Category, ItemSpecs};
use super::lots::Signatory;
use super::pagination::PageRequest;
use super::photos::PhotoResponse;
use super::search::{CatalogueItem, catalogue_item};
use super::types::{ApiTags, Created, Str};
use crate::commands::By;
use crate::commands::demand::{
    self as cmd, HandoverInput, NewLine, NewRequest, NewReservation, Proposal, ScheduleInput,
};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::demand::{self as q, RequestView, ReservationView};
use crate::store::entities::organisation;

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

impl From<dom::ReservationStatus> for ReservationStatus {
    fn from(s: dom::ReservationStatus) -> Self {
        match s {
            dom::ReservationStatus::Proposed => Self::Proposed,
            dom::ReservationStatus::Active => Self::Active,
            dom::ReservationStatus::Cancelled => Self::Cancelled,
            dom::ReservationStatus::Declined => Self::Declined,
            dom::ReservationStatus::Expired => Self::Expired,
            dom::ReservationStatus::HandedOver => Self::HandedOver,
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

impl From<dom::RequestStatus> for RequestStatus {
    fn from(s: dom::RequestStatus) -> Self {
        match s {
            dom::RequestStatus::Draft => Self::Draft,
            dom::RequestStatus::Open => Self::Open,
            dom::RequestStatus::PartiallyFulfilled => Self::PartiallyFulfilled,
            dom::RequestStatus::Fulfilled => Self::Fulfilled,
            dom::RequestStatus::Cancelled => Self::Cancelled,
            dom::RequestStatus::Expired => Self::Expired,
        }
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

impl From<HandoverMode> for dom::HandoverMode {
    fn from(m: HandoverMode) -> Self {
        match m {
            HandoverMode::Pickup => Self::Pickup,
            HandoverMode::Delivery => Self::Delivery,
        }
    }
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
    /// Grade after refurbishment (A, B or C).
    pub grade: Option<super::workshop::Grade>,
    pub specs: ItemSpecs,
    /// The request line it answers, when proposed against a request.
    pub request_line: Option<i32>,
    /// What the refurbisher noted of its condition.
    pub condition_notes: Option<String>,
    /// Its photos, with expiring signed URLs.
    pub photos: Vec<super::photos::PhotoResponse>,
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
    pub cession_mode: super::lots::CessionMode,
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
    /// For a proposal: why it was made, in French (its rank and score in the fair order, or the
    /// refurbisher's own choice; see docs/matching.md).
    pub proposal_reason: Option<String>,
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

/// The handover of a reservation's devices to the association (see `record_handovers` for
/// several reservations at once).
#[derive(Debug, Clone, Object)]
pub struct HandoverRequest {
    pub mode: HandoverMode,
    pub occurred_on: NaiveDate,
    /// Deprecated and ignored: the association signs the procès-verbal de remise with its own
    /// account (`sign_document`), or contests it (`contest_document`).
    #[oai(nullable, deprecated)]
    pub association_signatory: Option<Signatory>,
    /// Who signs for the refurbisher (the caller's organisation): recording the handover as an
    /// admin is its signature of the procès-verbal de remise.
    pub refurbisher_signatory: Signatory,
    /// The association commits not to resell (or only at the capped solidarity price its
    /// category allows, see `resale_terms`).
    pub commitment_no_resale: bool,
    /// The association commits to re-use the devices (counted in the public body's re-use rate).
    pub commitment_reuse: bool,
    #[oai(validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// One handover of the devices of several reservations.
#[derive(Debug, Clone, Object)]
pub struct HandoversRequest {
    /// The refurbisher acting, when the caller belongs to several.
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    /// Active reservations of one association at the caller's refurbisher (direct reservations
    /// and accepted proposals alike), each listed once.
    #[oai(validator(min_items = 1, max_items = 50, unique_items))]
    pub reservation_ids: Vec<Uuid>,
    pub mode: HandoverMode,
    pub occurred_on: NaiveDate,
    /// Who signs for the refurbisher: recording the handover as an admin is its signature of
    /// the procès-verbal de remise; the association confirms or contests it with its own
    /// account. Recorded by an agent, it signs nothing: an admin signs the procès-verbal.
    pub signatory: Signatory,
    /// The association commits not to resell (or only at the capped solidarity price its
    /// category allows, see each reservation's `resale_terms`).
    pub commitment_no_resale: bool,
    /// The association commits to re-use the devices.
    pub commitment_reuse: bool,
    #[oai(validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// A recorded handover.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HandoverResponse {
    pub id: Uuid,
    pub refurbisher_id: Uuid,
    pub association_id: Uuid,
    pub mode: HandoverMode,
    pub occurred_on: NaiveDate,
    pub reservation_ids: Vec<Uuid>,
    pub item_ids: Vec<Uuid>,
    /// The party whose signature the recording is (the refurbisher, when recorded by an admin).
    pub signed_by_organisation_id: Option<Uuid>,
    /// Its one procès-verbal de remise and one attestation de don (to-refurbisher devices),
    /// issued in the background: `GET /v1/handovers/{id}/documents`.
    pub documents_url: String,
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

fn stored_status<T: Copy>(parsed: Option<T>, what: &str, id: Uuid, status: &str) -> ApiResult<T> {
    parsed.ok_or_else(|| {
        tracing::error!(%id, status, what, "unknown stored status");
        ApiError::new(crate::error::ErrorCode::Internal)
    })
}

/// A reservation as answered: its devices with their photos (one query for all of them).
pub(super) async fn full_reservation(
    state: &AppState,
    r: crate::store::entities::reservation::Model,
) -> ApiResult<ReservationResponse> {
    let mut resp = reservation_response(q::reservation_view(&state.db, r).await?)?;
    let ids: Vec<Uuid> = resp.items.iter().map(|i| i.id).collect();
    for p in crate::store::items::photos_of_items(&state.db, &ids).await? {
        let Some(item) = resp.items.iter_mut().find(|i| i.id == p.item_id) else {
            continue;
        };
        item.photos.push(
            super::photos::response(&state.blobs, state.settings.blob_url_ttl_secs, p).await?,
        );
    }
    Ok(resp)
}

fn reservation_response(v: ReservationView) -> ApiResult<ReservationResponse> {
    let r = v.reservation;
    let status = stored_status(
        dom::ReservationStatus::parse(&r.status),
        "reservation",
        r.id,
        &r.status,
    )?;
    let items = v
        .items
        .into_iter()
        .map(|(m, line)| ReservedItem {
            id: m.id,
            public_code: m.public_code,
            category: DomCategory::parse(&m.category)
                .unwrap_or(DomCategory::Other)
                .into(),
            brand: m.brand,
            model: m.model,
            grade: super::workshop::Grade::from_stored(m.grade.as_deref()),
            specs: ItemSpecs {
                cpu: m.cpu,
                ram_gb: m.ram_gb,
                storage_gb: m.storage_gb,
                storage_kind: None,
                screen_inches: m.screen_inches,
                battery_health_percent: m.battery_health_percent,
                ..ItemSpecs::default()
            },
            request_line: line,
            condition_notes: m.condition_notes,
            photos: Vec::new(),
        })
        .collect();
    Ok(ReservationResponse {
        id: r.id,
        association_id: r.association_id,
        association_name: v.association.name,
        refurbisher: contact(&v.refurbisher),
        request_id: r.request_id,
        status: status.into(),
        cession_mode: reemploi_domain::lot::CessionMode::parse(&r.cession_mode)
            .unwrap_or(reemploi_domain::lot::CessionMode::ToRefurbisher)
            .into(),
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
        proposal_reason: r.proposal_reason,
        version: r.version,
        created_at: r.created_at,
    })
}

fn request_response(v: RequestView) -> ApiResult<RequestResponse> {
    let r = v.request;
    let status = stored_status(
        dom::RequestStatus::parse(&r.status),
        "request",
        r.id,
        &r.status,
    )?;
    Ok(RequestResponse {
        id: r.id,
        association_id: r.association_id,
        association_name: v.association_name,
        purpose: r.purpose,
        beneficiaries: r.beneficiaries,
        delivery_site_id: r.delivery_site_id,
        needed_by: r.needed_by,
        status: status.into(),
        lines: v
            .lines
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
        distance_km: v.distance_km.map(|d| (d * 10.0).round() / 10.0),
        version: r.version,
        created_at: r.created_at,
    })
}

impl DemandApi {
    async fn reservation(
        &self,
        r: crate::store::entities::reservation::Model,
    ) -> ApiResult<ReservationResponse> {
        full_reservation(&self.state, r).await
    }

    async fn request(
        &self,
        r: crate::store::entities::request::Model,
        distance_km: Option<f64>,
    ) -> ApiResult<RequestResponse> {
        request_response(q::request_view(&self.state.db, r, distance_km).await?)
    }

    /// Who acts on reservation `id` for `op`, among `parties` of it.
    async fn by_party(
        &self,
        auth: &BearerAuth,
        op: &str,
        id: Uuid,
        parties: impl Fn(&crate::store::entities::reservation::Model) -> Vec<Uuid>,
    ) -> ApiResult<By> {
        let r = q::reservation(&self.state.db, id).await?;
        let acting = auth
            .0
            .authorize_related(op, &parties(&r))?
            .ok_or_else(ApiError::forbidden)?;
        Ok(By::acting(&auth.0, &acting))
    }
}

fn association(r: &crate::store::entities::reservation::Model) -> Vec<Uuid> {
    vec![r.association_id]
}

fn refurbisher(r: &crate::store::entities::reservation::Model) -> Vec<Uuid> {
    vec![r.refurbisher_id]
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
        let s = &self.state;
        let (m, holder, photos) = q::catalogue_item(&s.db, id.0, acting.organisation_id).await?;
        let notes = m.condition_notes.clone();
        let item = catalogue_item(s, m, &holder, None, photos.first()).await?;
        let mut shown = Vec::with_capacity(photos.len());
        for p in photos {
            shown.push(super::photos::response(&s.blobs, s.settings.blob_url_ttl_secs, p).await?);
        }
        Ok(Json(CatalogueItemDetail {
            item,
            condition_notes: notes,
            photos: shown,
            refurbisher_contact: contact(&holder),
        }))
    }

    /// Reserve devices
    ///
    /// A verified association holds available devices of one refurbisher until `expires_at`
    /// (`REEMPLOI_RESERVATION_DAYS`, 7 by default). In `service` mode the public body gives, so
    /// the association's category and each device's net book value (≤ 300 €) and age are checked
    /// (422 `not_eligible` with the legal reason); the legal basis is recorded. Exactly one
    /// association can hold a device: the others get 409 `item_not_available`. Against a
    /// request line, no more devices than the line still needs (422 `request_line_exceeded`).
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
        let b = body.0;
        let acting = auth.0.acting_as("create_reservation", b.organisation_id)?;
        acting.require_verified()?;
        let request = match (b.request_id, b.line) {
            (None, None) => None,
            (Some(rid), Some(pos)) => Some((rid, pos)),
            (None, Some(_)) => return Err(ApiError::field("request_id", Invalid::Required)),
            (Some(_), None) => return Err(ApiError::field("line", Invalid::Required)),
        };
        let input = NewReservation {
            item_ids: b.item_ids,
            request,
        };
        let by = By::acting(&auth.0, &acting);
        let r = cmd::create_reservation(&self.state, &by, &input).await?;
        let id = r.id;
        Ok(Created::Created(
            Json(self.reservation(r).await?),
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
        let as_association = acting.actor.kind == OrganisationKind::Association;
        let select = q::reservations_of(acting.organisation_id, as_association);
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, q::RESERVATION_ID, |r| r.id)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(self.reservation(r).await?);
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
        let r = q::reservation(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_reservation", &[r.association_id, r.refurbisher_id])?;
        Ok(Json(self.reservation(r).await?))
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
        let by = self
            .by_party(&auth, "cancel_reservation", id.0, |r| {
                vec![r.association_id, r.refurbisher_id]
            })
            .await?;
        let r = cmd::cancel_reservation(&self.state, &by, id.0).await?;
        Ok(Json(self.reservation(r).await?))
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
        let by = self
            .by_party(&auth, "accept_proposal", id.0, association)
            .await?;
        let r = cmd::accept_proposal(&self.state, &by, id.0).await?;
        Ok(Json(self.reservation(r).await?))
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
        let by = self
            .by_party(&auth, "decline_proposal", id.0, association)
            .await?;
        let r = cmd::decline_proposal(&self.state, &by, id.0).await?;
        Ok(Json(self.reservation(r).await?))
    }

    /// Hand devices over to the association
    ///
    /// The refurbisher records the pickup or delivery with its own signatory (its signature when
    /// recorded by an admin; the association signs or contests the procès-verbal with its own
    /// account) and the association's commitments (not to resell, or only at the capped solidarity price its
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
        let by = self
            .by_party(&auth, "record_handover", id.0, refurbisher)
            .await?;
        let b = body.0;
        let input = HandoverInput {
            reservation_ids: vec![id.0],
            mode: b.mode.into(),
            occurred_on: b.occurred_on,
            signatory: Some((
                b.refurbisher_signatory.name.0,
                b.refurbisher_signatory.role.0,
            )),
            signatory_field: "refurbisher_signatory",
            commitment_no_resale: b.commitment_no_resale,
            commitment_reuse: b.commitment_reuse,
            notes: b.notes.map(|n| n.0),
        };
        let done = cmd::record_handover(&self.state, &by, &input).await?;
        let r = done
            .reservations
            .into_iter()
            .next()
            .ok_or_else(ApiError::not_found)?;
        Ok(Json(self.reservation(r).await?))
    }

    /// Hand over the devices of several reservations at once
    ///
    /// One pickup or delivery covering every listed active reservation of one association at
    /// the caller's refurbisher (direct reservations and accepted proposals). The devices become
    /// `donated`, owned by the association; the request lines they answer are fulfilled; ONE
    /// procès-verbal de remise and ONE attestation de don are issued for the whole handover.
    /// Refused: reservations of several associations or refurbishers (422 `mixed_handover`),
    /// one that is not active (409 `invalid_transition`: of two concurrent handovers of a
    /// reservation, one wins), one listed twice (400).
    #[oai(
        path = "/handovers",
        method = "post",
        operation_id = "record_handovers"
    )]
    async fn record_handovers(
        &self,
        auth: BearerAuth,
        body: Json<HandoversRequest>,
    ) -> ApiResult<Created<HandoverResponse>> {
        let b = body.0;
        let acting = auth.0.acting_as("record_handovers", b.organisation_id)?;
        // A reservation the caller is no party to is not revealed.
        for id in &b.reservation_ids {
            let r = q::reservation(&self.state.db, *id).await?;
            if auth.0.membership(r.refurbisher_id).is_none()
                && auth.0.membership(r.association_id).is_none()
            {
                return Err(ApiError::not_found());
            }
        }
        let by = By::acting(&auth.0, &acting);
        let input = HandoverInput {
            reservation_ids: b.reservation_ids,
            mode: b.mode.into(),
            occurred_on: b.occurred_on,
            signatory: Some((b.signatory.name.0, b.signatory.role.0)),
            signatory_field: "signatory",
            commitment_no_resale: b.commitment_no_resale,
            commitment_reuse: b.commitment_reuse,
            notes: b.notes.map(|n| n.0),
        };
        let done = cmd::record_handover(&self.state, &by, &input).await?;
        let h = done.handover;
        let location = format!("/v1/handovers/{}/documents", h.id);
        Ok(Created::Created(
            Json(HandoverResponse {
                id: h.id,
                refurbisher_id: h.from_organisation_id,
                association_id: h.to_organisation_id,
                mode: if h.kind == "delivery" {
                    HandoverMode::Delivery
                } else {
                    HandoverMode::Pickup
                },
                occurred_on: h.occurred_on,
                reservation_ids: done.reservations.iter().map(|r| r.id).collect(),
                item_ids: done.item_ids,
                signed_by_organisation_id: h.signed_by_organisation_id,
                documents_url: location.clone(),
            }),
            location,
        ))
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
        let by = self
            .by_party(&auth, "schedule_handover", id.0, refurbisher)
            .await?;
        let input = ScheduleInput {
            mode: body.0.mode.into(),
            planned_on: body.0.planned_on,
            message: body.0.message.map(|m| m.0),
        };
        let r = cmd::schedule_handover(&self.state, &by, id.0, &input).await?;
        Ok(Json(self.reservation(r).await?))
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
        let by = self
            .by_party(&auth, "confirm_receipt", id.0, association)
            .await?;
        let r = cmd::confirm_receipt(&self.state, &by, id.0).await?;
        Ok(Json(self.reservation(r).await?))
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
        let b = body.0;
        let acting = auth.0.acting_as("create_request", b.organisation_id)?;
        acting.require_verified()?;
        let lines = b.lines.iter().map(|l| NewLine {
            category: l.category.into(),
            quantity: l.quantity,
            min_ram_gb: l.min_ram_gb,
            min_storage_gb: l.min_storage_gb,
            min_screen_inches: l.min_screen_inches,
        });
        let input = NewRequest {
            purpose: b.purpose.0,
            beneficiaries: b.beneficiaries,
            delivery_site_id: b.delivery_site_id,
            needed_by: b.needed_by,
            lines: lines.collect(),
            draft: b.draft,
        };
        let by = By::acting(&auth.0, &acting);
        let r = cmd::create_request(&self.state, &by, &input).await?;
        let id = r.id;
        Ok(Created::Created(
            Json(self.request(r, None).await?),
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
        let select = q::requests_of(acting.organisation_id);
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, q::REQUEST_ID, |r| r.id)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(self.request(r, None).await?);
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
    #[expect(clippy::too_many_arguments, reason = "the list's query parameters")]
    async fn list_open_requests(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "-90"), maximum(value = "90")))] lat: Query<Option<f64>>,
        #[oai(validator(minimum(value = "-180"), maximum(value = "180")))] lon: Query<Option<f64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] within_km: Query<
            Option<f64>,
        >,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<RequestPage>> {
        let acting = auth.0.acting_as("list_open_requests", organisation_id.0)?;
        let after = super::pagination::decode_ranked_cursor(cursor.0.as_deref())?;
        acting.require_verified()?;
        let db = &self.state.db;
        let point = match (lat.0, lon.0) {
            (Some(a), Some(o)) if a.is_finite() && o.is_finite() => Some((a, o)),
            (None, None) => {
                let me = q::organisation(db, acting.organisation_id).await?;
                me.latitude.zip(me.longitude)
            }
            _ => {
                let missing = if lat.0.is_none() { "lat" } else { "lon" };
                return Err(ApiError::field(missing, Invalid::Required));
            }
        };
        let limit = limit.0.unwrap_or(super::pagination::DEFAULT_LIMIT) as usize;
        let mut rows = q::open_requests_near(db, point, within_km.0, after, limit + 1).await?;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last()
                .map(|(rank, r, _)| super::pagination::encode_ranked_cursor(*rank, r.id))
        } else {
            None
        };
        let mut items = Vec::with_capacity(rows.len());
        for (_, r, d) in rows {
            items.push(self.request(r, d).await?);
        }
        Ok(Json(RequestPage { items, next_cursor }))
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
        let r = q::request(&self.state.db, id.0).await?;
        let owner = auth.0.authorize_related("get_request", &[r.association_id]);
        let open = dom::RequestStatus::parse(&r.status).is_some_and(|s| s.accepts_proposals());
        let refurbisher_may = open
            && auth.0.memberships.iter().any(|m| {
                m.kind == OrganisationKind::Refurbisher && m.status == VerificationStatus::Verified
            });
        if owner.is_err() && !refurbisher_may {
            return Err(ApiError::not_found());
        }
        Ok(Json(self.request(r, None).await?))
    }

    /// Cancel a request
    ///
    /// The reservations still attached to it end: pending proposals are declined, active
    /// reservations cancelled, and their devices return to the catalogue.
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
        let r = q::request(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("cancel_request", &[r.association_id])?
            .ok_or_else(ApiError::forbidden)?;
        let by = By::acting(&auth.0, &acting);
        let r = cmd::cancel_request(&self.state, &by, id.0).await?;
        Ok(Json(self.request(r, None).await?))
    }

    /// Propose devices against a request
    ///
    /// A verified refurbisher holds available devices it has for one line of an open request;
    /// the association is notified and accepts or declines. The same legal checks as a
    /// reservation apply, the devices must match the line's category and minimum specs, and
    /// they may not exceed what the line still needs (422 `request_line_exceeded`).
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
        let input = Proposal {
            request_id: id.0,
            line: body.0.line,
            item_ids: body.0.item_ids,
        };
        let by = By::acting(&auth.0, &acting);
        let r = cmd::propose_items(&self.state, &by, &input).await?;
        let rid = r.id;
        Ok(Created::Created(
            Json(self.reservation(r).await?),
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
        let actor = auth.0.authorize("set_fair_share", Some(id.0))?;
        let actor = actor.ok_or_else(ApiError::forbidden)?;
        let by = By {
            actor: Some(actor),
            actor_ref: auth.0.actor_ref(),
            organisation_id: id.0,
        };
        let cap = body.0.max_items_per_association;
        let cap = cmd::set_fair_share(&self.state, &by, id.0, cap).await?;
        Ok(Json(FairShare {
            max_items_per_association: cap,
        }))
    }
}
