//! The demand side's writes: reservations (made by an association, or proposed by a refurbisher
//! against a request), their end, handover and receipt; requests; the fair-share cap; and the
//! worker's upkeep (reminders, expiry). Each runs in one write transaction (`write_tx!`) that
//! locks what it decides on (request, reservation, the association's organisation row, then
//! devices by id), checks the rules of `domain::demand` there, writes, appends its events on
//! the `reservation/<id>`, `request/<id>` or `organisation/<id>` stream, and queues its mail.

use chrono::NaiveDate;
use reemploi_domain::demand::{
    self as dom, HandoverMode, Party, Refusal, RequestStatus, ReservationStatus,
};
use reemploi_domain::eligibility::{self, Beneficiary, Cession, Decision, Giver, ItemFacts};
use reemploi_domain::item::Category;
use reemploi_domain::lifecycle::{Facts as ItemFactsLc, ItemStatus};
use reemploi_domain::lot::CessionMode;
use reemploi_domain::organisation::{OrganisationKind, PublicBodyType};
use reemploi_domain::text::{LongText, Name};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::transitions;
use super::{By, Tx};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::state::AppState;
use crate::store::demand as q;
use crate::store::entities::{
    handover, handover_item, item, item_hold, organisation, request, request_line, reservation,
    reservation_item,
};
use crate::store::events::{NewEvent, organisation_stream};
use crate::store::outbox::{self, Topic};
use crate::store::{self, is_unique_violation};

/// The stream of a reservation's events.
pub fn reservation_stream(id: Uuid) -> String {
    format!("reservation/{id}")
}

/// The stream of a request's events.
pub fn request_stream(id: Uuid) -> String {
    format!("request/{id}")
}

async fn event(
    tx: &Tx,
    stream: String,
    organisation_id: Uuid,
    by: &By,
    kind: &'static str,
    payload: serde_json::Value,
) -> ApiResult<()> {
    tx.event(NewEvent {
        stream,
        organisation_id: Some(organisation_id),
        actor: by.actor_ref.clone(),
        kind,
        payload,
    })
    .await?;
    Ok(())
}

/// Mails every admin of an organisation (and its contact address) through the outbox.
pub(crate) async fn notify(tx: &Tx, org: Uuid, subject: &str, body: &str) -> ApiResult<()> {
    for address in q::mail_recipients(tx, org).await? {
        let mail = Mail::text("notification", address, subject.to_owned(), body.to_owned());
        outbox::enqueue(tx, Topic::Mail, &mail).await?;
    }
    Ok(())
}

fn stored_reservation_status(r: &reservation::Model) -> ApiResult<ReservationStatus> {
    ReservationStatus::parse(&r.status).ok_or_else(|| {
        tracing::error!(reservation.id = %r.id, status = %r.status, "unknown stored status");
        ApiError::new(ErrorCode::Internal)
    })
}

fn stored_request_status(r: &request::Model) -> ApiResult<RequestStatus> {
    RequestStatus::parse(&r.status).ok_or_else(|| {
        tracing::error!(request.id = %r.id, status = %r.status, "unknown stored status");
        ApiError::new(ErrorCode::Internal)
    })
}

/// The party `by` is to a reservation.
fn party(by: &By, association_id: Uuid, refurbisher_id: Uuid) -> Party {
    match by.actor {
        None => Party::Platform,
        Some(_) if by.organisation_id == association_id => Party::Association,
        Some(_) if by.organisation_id == refurbisher_id => Party::Refurbisher,
        Some(_) => Party::Outsider,
    }
}

fn wrong_reservation_status(status: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidTransition).detail(
        format!("Impossible pour une réservation au statut « {status} »."),
        format!("Not possible for a reservation in status `{status}`."),
    )
}

fn wrong_request_status(status: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidTransition).detail(
        format!("Impossible pour une demande au statut « {status} »."),
        format!("Not possible for a request in status `{status}`."),
    )
}

/// Maps a refusal of the reservation table to what a client sees.
fn reservation_refusal(refusal: Refusal<ReservationStatus>) -> ApiError {
    match refusal {
        Refusal::Unknown => ApiError::new(ErrorCode::Internal),
        Refusal::NotFromHere { from, .. } => {
            wrong_reservation_status(from.map(|s| s.as_str()).unwrap_or("—"))
        }
        Refusal::NotAllowed { .. } => ApiError::forbidden(),
        Refusal::Unmet { preconditions, .. } => {
            let codes: Vec<&str> = preconditions.iter().map(|p| p.code()).collect();
            ApiError::new(ErrorCode::PreconditionsUnmet).detail(
                format!("Conditions non remplies : {}.", codes.join(", ")),
                format!("Unmet preconditions: {}.", codes.join(", ")),
            )
        }
    }
}

/// Fires `name` on a stored reservation for `by`, or the refusal a client sees.
fn fire_reservation(
    name: &str,
    r: &reservation::Model,
    by: &By,
    facts: &dom::Facts,
) -> ApiResult<ReservationStatus> {
    let from = stored_reservation_status(r)?;
    dom::fire_reservation(
        name,
        Some(from),
        party(by, r.association_id, r.refurbisher_id),
        facts,
    )
    .map_err(reservation_refusal)
}

/// Writes a reservation's new status (and other columns) under its version.
async fn update_reservation(
    tx: &Tx,
    r: &reservation::Model,
    status: ReservationStatus,
    extra: Vec<(reservation::Column, sea_orm::sea_query::SimpleExpr)>,
) -> ApiResult<()> {
    let mut update = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(status.as_str()))
        .col_expr(reservation::Column::Version, Expr::value(r.version + 1))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(store::now()));
    for (col, value) in extra {
        update = update.col_expr(col, value);
    }
    let done = update
        .filter(reservation::Column::Id.eq(r.id))
        .filter(reservation::Column::Version.eq(r.version))
        .exec(tx)
        .await?;
    if done.rows_affected != 1 {
        return Err(ApiError::new(ErrorCode::Conflict));
    }
    Ok(())
}

/// What an association reserves: devices, and optionally the request line they answer.
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub item_ids: Vec<Uuid>,
    /// One of the association's requests and the line (`position`).
    pub request: Option<(Uuid, i32)>,
}

/// Devices a refurbisher proposes against a request line.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub request_id: Uuid,
    pub line: i32,
    pub item_ids: Vec<Uuid>,
}

/// An association holds available devices of one refurbisher (`active`).
pub async fn create_reservation(
    cx: &AppState,
    by: &By,
    input: &NewReservation,
) -> ApiResult<reservation::Model> {
    write_tx!(&cx.db, |tx| {
        let request = match input.request {
            None => None,
            Some((rid, pos)) => {
                let r = q::lock_request(tx, rid)
                    .await?
                    .filter(|r| r.association_id == by.organisation_id)
                    .ok_or_else(|| ApiError::field("request_id", Invalid::InvalidFormat))?;
                if !stored_request_status(&r)?.accepts_proposals() {
                    return Err(
                        ApiError::field("request_id", Invalid::InvalidFormat).detail(
                            "Cette demande n'est plus ouverte.",
                            "This request is no longer open.",
                        ),
                    );
                }
                Some((r, pos))
            }
        };
        let r = hold(
            cx,
            tx,
            by,
            by.organisation_id,
            &input.item_ids,
            request,
            Holding::Reservation,
        )
        .await?;
        Ok(r)
    })
}

/// A refurbisher proposes devices it holds against a line of an open request (`proposed`); the
/// association is told and accepts or declines.
pub async fn propose_items(
    cx: &AppState,
    by: &By,
    input: &Proposal,
) -> ApiResult<reservation::Model> {
    write_tx!(&cx.db, |tx| {
        let r = q::lock_request(tx, input.request_id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if !stored_request_status(&r)?.accepts_proposals() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!(
                    "La demande n'accepte pas de proposition (statut « {} »).",
                    r.status
                ),
                format!("The request takes no proposal (status `{}`).", r.status),
            ));
        }
        let (association_id, purpose) = (r.association_id, r.purpose.clone());
        let res = hold(
            cx,
            tx,
            by,
            association_id,
            &input.item_ids,
            Some((r, input.line)),
            Holding::Proposal {
                reason: Some(&ProposalReason {
                    text_fr: "Proposition choisie par le reconditionneur.".to_owned(),
                    detail: serde_json::json!({ "source": "refurbisher" }),
                }),
            },
        )
        .await?;
        let holder = q::organisation(tx, by.organisation_id).await?;
        notify(
            tx,
            association_id,
            "Proposition d'équipements reçue",
            &format!(
                "Bonjour,\n\n{} vous propose {} équipement(s) pour votre demande « {} ». \
                 Acceptez ou déclinez la proposition dans l'application avant le {}.\n\nRéemploi",
                holder.name,
                input.item_ids.len(),
                purpose,
                res.expires_at.format("%d/%m/%Y")
            ),
        )
        .await?;
        Ok(res)
    })
}

/// The legal check of giving `items` to `association`: the legal basis and resale terms to
/// record, or 422 `not_eligible` with every legal reason.
async fn check_eligibility(
    tx: &Tx,
    association: &organisation::Model,
    items: &[item::Model],
    mode: CessionMode,
    today: NaiveDate,
) -> ApiResult<(String, String)> {
    let giver = match mode {
        CessionMode::ToRefurbisher => Giver::Refurbisher,
        CessionMode::Service => {
            let body = q::organisation(tx, items[0].organisation_id).await?;
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
        .map(crate::store::items::eligibility_facts)
        .collect();
    // Only what the operator accepted: a declared category without its proof is `Other`.
    let category = crate::store::verification::verified_facts(tx, association, today)
        .await?
        .category;
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

/// Checks the devices against the request line (category, minimum specs, remaining quantity).
async fn check_line(
    tx: &Tx,
    r: &request::Model,
    position: i32,
    ids: &[Uuid],
    items: &[item::Model],
) -> ApiResult<i32> {
    let line = q::line(tx, r.id, position)
        .await?
        .ok_or_else(|| ApiError::field("line", Invalid::OutOfRange))?;
    let spec = dom::LineSpec {
        category: Category::parse(&line.category).unwrap_or(Category::Other),
        min_ram_gb: line.min_ram_gb,
        min_storage_gb: line.min_storage_gb,
        min_screen_inches: line.min_screen_inches,
    };
    for (i, id) in ids.iter().enumerate() {
        let Some(m) = items.iter().find(|m| m.id == *id) else {
            continue;
        };
        let device = dom::DeviceSpec {
            category: Category::parse(&m.category),
            ram_gb: m.ram_gb,
            storage_gb: m.storage_gb,
            screen_inches: m.screen_inches,
        };
        if !dom::fits(&spec, &device) {
            return Err(ApiError::field(format!("item_ids[{i}]"), Invalid::OutOfRange).detail(
                "Cet équipement ne correspond pas à la ligne de la demande (catégorie ou caractéristiques minimales).",
                "This device does not match the request line (category or minimum specs).",
            ));
        }
    }
    let pending = q::pending_on_line(tx, r.id, position).await?;
    let left = dom::remaining(line.quantity, line.fulfilled, pending);
    if ids.len() as u64 > left {
        return Err(ApiError::new(ErrorCode::RequestLineExceeded).detail(
            format!(
                "La ligne {position} de la demande attend encore {left} équipement(s) ; {} proposé(s).",
                ids.len()
            ),
            format!(
                "Line {position} of the request still needs {left} device(s); {} given.",
                ids.len()
            ),
        ));
    }
    Ok(line.position)
}

/// How a reservation comes to hold devices.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holding<'a> {
    /// The association reserves them.
    Reservation,
    /// The refurbisher proposes them; `reason` says why (the fair order's rank and score, or the
    /// refurbisher's own choice), recorded on the reservation and in its event.
    Proposal { reason: Option<&'a ProposalReason> },
}

/// Why a proposal was made: a French sentence for people and its parts for machines.
#[derive(Debug, Clone)]
pub struct ProposalReason {
    pub text_fr: String,
    pub detail: serde_json::Value,
}

/// Holds `ids` for `association_id` in a new reservation (`proposed` for a proposal, by the
/// refurbisher `by`), checking, in this transaction: the request line, availability, one
/// refurbisher and one cession mode, the fair-share cap and the law. The request, when given,
/// is already locked by the caller.
pub(crate) async fn hold(
    cx: &AppState,
    tx: &Tx,
    by: &By,
    association_id: Uuid,
    ids: &[Uuid],
    request: Option<(request::Model, i32)>,
    holding: Holding<'_>,
) -> ApiResult<reservation::Model> {
    let (proposal, reason) = match holding {
        Holding::Reservation => (false, None),
        Holding::Proposal { reason } => (true, reason),
    };
    // The association's row serialises its fair-share count; then the devices, in id order.
    let association = q::lock_organisation(tx, association_id).await?;
    let items = q::lock_items(tx, ids).await?;
    for (i, id) in ids.iter().enumerate() {
        if !items.iter().any(|m| m.id == *id) {
            return Err(
                ApiError::field(format!("item_ids[{i}]"), Invalid::InvalidFormat).detail(
                    "Aucun équipement n'a cet identifiant.",
                    "No device has this id.",
                ),
            );
        }
    }
    let line = match &request {
        Some((r, pos)) => Some((r.id, check_line(tx, r, *pos, ids, &items).await?)),
        None => None,
    };
    if items
        .iter()
        .any(|m| m.status != ItemStatus::Available.as_str())
    {
        return Err(ApiError::new(ErrorCode::ItemNotAvailable));
    }
    let refurbisher = items[0].custodian_id;
    if proposal && by.organisation_id != refurbisher {
        return Err(ApiError::forbidden().detail(
            "Vous ne pouvez proposer que des équipements que vous détenez.",
            "You may only propose devices you hold.",
        ));
    }
    let lot_ids: Vec<Uuid> = items.iter().filter_map(|m| m.lot_id).collect();
    let lots = q::lots(tx, &lot_ids).await?;
    let modes: Vec<CessionMode> = items
        .iter()
        .map(|m| {
            m.lot_id
                .and_then(|l| lots.iter().find(|x| x.id == l))
                .and_then(|l| CessionMode::parse(&l.cession_mode))
                .unwrap_or(CessionMode::ToRefurbisher)
        })
        .collect();
    if items.iter().any(|m| m.custodian_id != refurbisher) || modes.iter().any(|m| *m != modes[0]) {
        return Err(ApiError::new(ErrorCode::MixedReservation));
    }
    let mode = modes[0];
    let holder = q::organisation(tx, refurbisher).await?;
    let held = q::held_count(tx, refurbisher, association.id).await?;
    if let Err(e) = dom::fair_share(holder.fair_share_cap, held, items.len()) {
        let (cap, held) = (e.cap, e.held);
        return Err(ApiError::new(ErrorCode::FairShareExceeded).detail(
            format!("Ce reconditionneur permet {cap} équipement(s) à la fois par association ; vous en détenez déjà {held}."),
            format!("This refurbisher allows {cap} device(s) at a time per association; you already hold {held}."),
        ));
    }
    let (legal_basis, resale_terms) =
        check_eligibility(tx, &association, &items, mode, cx.settings.today()).await?;
    // Every rule above held: the table confirms the transition.
    let (name, party) = if proposal {
        ("propose", Party::Refurbisher)
    } else {
        ("reserve", Party::Association)
    };
    let status = dom::fire_reservation(name, None, party, &dom::Facts::ALL_HOLD)
        .map_err(reservation_refusal)?;
    let now = store::now();
    let id = store::new_id();
    let giver = match mode {
        CessionMode::Service => items[0].organisation_id,
        CessionMode::ToRefurbisher => refurbisher,
    };
    let expires_at = dom::expires_at(now, cx.settings.reservation_days);
    reservation::Entity::insert(reservation::ActiveModel {
        id: Set(id),
        association_id: Set(association.id),
        refurbisher_id: Set(refurbisher),
        request_id: Set(line.map(|l| l.0)),
        status: Set(status.as_str().to_owned()),
        cession_mode: Set(mode.as_str().to_owned()),
        giver_id: Set(giver),
        legal_basis: Set(Some(legal_basis.clone())),
        resale_terms: Set(Some(resale_terms)),
        expires_at: Set(expires_at),
        reminded_at: Set(None),
        handover_id: Set(None),
        handover_on: Set(None),
        commitment_no_resale: Set(false),
        commitment_reuse: Set(false),
        received_at: Set(None),
        created_by: Set(by.actor_ref.clone()),
        proposal_reason: Set(reason.map(|r| r.text_fr.clone())),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(tx)
    .await?;
    // A proposal is made by the refurbisher on the association's behalf: the platform fires.
    let fire_by = if proposal { by.on_behalf() } else { by.clone() };
    for m in &items {
        reservation_item::Entity::insert(reservation_item::ActiveModel {
            reservation_id: Set(id),
            item_id: Set(m.id),
            request_line_position: Set(line.map(|l| l.1)),
        })
        .exec_without_returning(tx)
        .await?;
        let held = item_hold::Entity::insert(item_hold::ActiveModel {
            item_id: Set(m.id),
            reservation_id: Set(id),
            association_id: Set(association.id),
            refurbisher_id: Set(refurbisher),
        })
        .exec_without_returning(tx)
        .await;
        match held {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(ErrorCode::ItemNotAvailable));
            }
            Err(e) => return Err(e.into()),
        }
        let facts = ItemFactsLc {
            eligible_beneficiary: true,
            ..ItemFactsLc::default()
        };
        transitions::fire(
            tx,
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
    let kind = if proposal {
        "items_proposed"
    } else {
        "reservation_created"
    };
    event(
        tx,
        reservation_stream(id),
        by.organisation_id,
        by,
        kind,
        serde_json::json!({
            "reservation_id": id,
            "association_id": association.id,
            "refurbisher_id": refurbisher,
            "request_id": line.map(|l| l.0),
            "request_line": line.map(|l| l.1),
            "item_ids": items.iter().map(|m| m.id).collect::<Vec<_>>(),
            "cession_mode": mode.as_str(),
            "legal_basis": legal_basis,
            "expires_at": expires_at,
            "reason": reason.map(|r| r.detail.clone()),
        }),
    )
    .await?;
    if mode == CessionMode::Service {
        // The public body's convention with the association can be signed before the handover.
        crate::documents::enqueue(
            tx,
            &[(
                crate::documents::Kind::ConventionCession,
                crate::documents::Subject::Reservation(id),
            )],
        )
        .await?;
    }
    q::reservation(tx, id).await
}

/// Ends a locked reservation that still holds devices with `name` (`cancel`, `decline`,
/// `expire`): writes its status, returns its devices to the catalogue (in id order) and appends
/// its event.
async fn release(
    tx: &Tx,
    r: &reservation::Model,
    name: &str,
    by: &By,
    facts: &dom::Facts,
    event_org: Uuid,
) -> ApiResult<ReservationStatus> {
    let to = fire_reservation(name, r, by, facts)?;
    update_reservation(tx, r, to, Vec::new()).await?;
    let holds = q::holds_of(tx, r.id).await?;
    let ids: Vec<Uuid> = holds.iter().map(|h| h.item_id).collect();
    item_hold::Entity::delete_many()
        .filter(item_hold::Column::ReservationId.eq(r.id))
        .exec(tx)
        .await?;
    let item_by = by.on_behalf();
    for m in q::lock_items(tx, &ids).await? {
        if m.status == ItemStatus::Reserved.as_str() {
            transitions::fire(
                tx,
                &m,
                "release",
                &item_by,
                &ItemFactsLc::default(),
                Vec::new(),
                serde_json::json!({ "reservation_id": r.id, "outcome": to.as_str() }),
            )
            .await?;
        }
    }
    let kind = match to {
        ReservationStatus::Cancelled => "reservation_cancelled",
        ReservationStatus::Declined => "proposal_declined",
        ReservationStatus::Expired => "reservation_expired",
        _ => "reservation_released",
    };
    event(
        tx,
        reservation_stream(r.id),
        event_org,
        by,
        kind,
        serde_json::json!({ "reservation_id": r.id, "from": r.status, "to": to.as_str(), "item_ids": ids }),
    )
    .await?;
    Ok(to)
}

/// Locks a reservation, after the request it answers (the order every command locks in).
async fn lock_with_request(tx: &Tx, id: Uuid) -> ApiResult<reservation::Model> {
    let unlocked = q::reservation(tx, id).await?;
    if let Some(rid) = unlocked.request_id {
        q::lock_request(tx, rid).await?;
    }
    q::lock_reservation(tx, id).await
}

/// The association (or the refurbisher) cancels a reservation; its devices return to the
/// catalogue.
pub async fn cancel_reservation(cx: &AppState, by: &By, id: Uuid) -> ApiResult<reservation::Model> {
    end_reservation(cx, by, id, "cancel").await
}

/// The association declines a proposal; its devices return to the catalogue.
pub async fn decline_proposal(cx: &AppState, by: &By, id: Uuid) -> ApiResult<reservation::Model> {
    end_reservation(cx, by, id, "decline").await
}

/// Ends a reservation by `transition` of its table, returning its devices to the catalogue.
async fn end_reservation(
    cx: &AppState,
    by: &By,
    id: Uuid,
    transition: &'static str,
) -> ApiResult<reservation::Model> {
    write_tx!(&cx.db, |tx| {
        let r = lock_with_request(tx, id).await?;
        release(
            tx,
            &r,
            transition,
            by,
            &dom::Facts::ALL_HOLD,
            by.organisation_id,
        )
        .await?;
        q::reservation(tx, id).await
    })
}

/// The association accepts a proposal: it becomes `active` until its new expiry.
pub async fn accept_proposal(cx: &AppState, by: &By, id: Uuid) -> ApiResult<reservation::Model> {
    write_tx!(&cx.db, |tx| {
        let r = lock_with_request(tx, id).await?;
        let to = fire_reservation("accept", &r, by, &dom::Facts::ALL_HOLD)?;
        let expires_at = dom::expires_at(store::now(), cx.settings.reservation_days);
        update_reservation(
            tx,
            &r,
            to,
            vec![(reservation::Column::ExpiresAt, Expr::value(expires_at))],
        )
        .await?;
        event(
            tx,
            reservation_stream(r.id),
            by.organisation_id,
            by,
            "proposal_accepted",
            serde_json::json!({ "reservation_id": r.id, "expires_at": expires_at }),
        )
        .await?;
        q::reservation(tx, id).await
    })
}

/// A handover as given by the refurbisher, before checks.
#[derive(Debug, Clone)]
pub struct HandoverInput {
    /// The active reservations of one association at the caller's refurbisher it covers.
    pub reservation_ids: Vec<Uuid>,
    pub mode: HandoverMode,
    pub occurred_on: NaiveDate,
    /// Name and role of who signs for the refurbisher (the recorder, for itself only: the
    /// association confirms or contests the procès-verbal with its own account).
    pub signatory: Option<(String, String)>,
    /// The request field naming it, for refusals (`signatory`, `refurbisher_signatory`).
    pub signatory_field: &'static str,
    pub commitment_no_resale: bool,
    pub commitment_reuse: bool,
    pub notes: Option<String>,
}

struct Handover {
    mode: HandoverMode,
    occurred_on: NaiveDate,
    signatory: (Name, Name),
    notes: Option<LongText>,
}

/// Every field refusal of a handover at once (422), or what to record.
fn parse_handover(input: &HandoverInput, today: NaiveDate) -> ApiResult<Handover> {
    let mut errors = FieldErrors::new();
    let (name, role) = match &input.signatory {
        Some((n, r)) => (
            errors.check(&format!("{}.name", input.signatory_field), Name::parse(n)),
            errors.check(&format!("{}.role", input.signatory_field), Name::parse(r)),
        ),
        None => {
            errors.push(input.signatory_field, Invalid::Required);
            (None, None)
        }
    };
    let notes = errors
        .check("notes", LongText::parse_optional(input.notes.as_deref()))
        .flatten();
    if input.occurred_on > today {
        errors.push("occurred_on", Invalid::OutOfRange);
    }
    if !input.commitment_no_resale {
        errors.push("commitment_no_resale", Invalid::Required);
    }
    if !input.commitment_reuse {
        errors.push("commitment_reuse", Invalid::Required);
    }
    if input.reservation_ids.is_empty() {
        errors.push("reservation_ids", Invalid::Required);
    }
    for (i, id) in input.reservation_ids.iter().enumerate() {
        if input.reservation_ids[..i].contains(id) {
            errors.push(format!("reservation_ids[{i}]"), Invalid::InvalidFormat);
        }
    }
    match (name, role, errors.is_empty()) {
        (Some(name), Some(role), true) => Ok(Handover {
            mode: input.mode,
            occurred_on: input.occurred_on,
            signatory: (name, role),
            notes,
        }),
        _ => Err(errors.into()),
    }
}

fn mixed_handover() -> ApiError {
    ApiError::new(ErrorCode::MixedHandover).detail(
        "Toutes les réservations d'une remise doivent être celles d'une même association chez votre structure.",
        "Every reservation of a handover must be one association's at your organisation.",
    )
}

/// What a handover recorded.
#[derive(Debug, Clone)]
pub struct HandedOver {
    pub handover: handover::Model,
    pub reservations: Vec<reservation::Model>,
    pub item_ids: Vec<Uuid>,
}

/// The refurbisher hands over, in one pickup or delivery, the devices of every listed active
/// reservation of one association: they become `donated`, owned by the association, the
/// request lines they answer are fulfilled, and one procès-verbal de remise and one attestation
/// de don are queued for the whole handover. Recording it as an admin is the refurbisher's
/// signature of the procès-verbal; the association confirms or contests it with its own account.
/// Of two concurrent handovers of a same reservation, the second finds it handed over (409).
pub async fn record_handover(
    cx: &AppState,
    by: &By,
    input: &HandoverInput,
) -> ApiResult<HandedOver> {
    let today = cx.settings.today();
    let h = parse_handover(input, today)?;
    write_tx!(&cx.db, |tx| {
        // Lock order: requests, then reservations, then devices, each by id.
        let mut ids = input.reservation_ids.clone();
        ids.sort();
        let mut requests = Vec::new();
        for id in &ids {
            if let Some(req) = q::reservation(tx, *id).await?.request_id {
                requests.push(req);
            }
        }
        requests.sort();
        requests.dedup();
        for req in &requests {
            q::lock_request(tx, *req).await?;
        }
        let mut locked = Vec::with_capacity(ids.len());
        for id in &ids {
            locked.push(q::lock_reservation(tx, *id).await?);
        }
        let association_id = locked[0].association_id;
        if locked
            .iter()
            .any(|r| r.refurbisher_id != by.organisation_id || r.association_id != association_id)
        {
            return Err(mixed_handover());
        }
        let facts = dom::Facts {
            commitments_given: input.commitment_no_resale && input.commitment_reuse,
            handover_not_in_future: h.occurred_on <= today,
            ..dom::Facts::default()
        };
        let mut targets = Vec::with_capacity(locked.len());
        for r in &locked {
            targets.push(fire_reservation("hand_over", r, by, &facts)?);
        }
        let handover_id = store::new_id();
        let mode = h.mode.as_str();
        let row = handover::ActiveModel {
            id: Set(handover_id),
            kind: Set(mode.to_owned()),
            lot_id: Set(None),
            from_organisation_id: Set(by.organisation_id),
            to_organisation_id: Set(association_id),
            occurred_on: Set(h.occurred_on),
            from_signatory_name: Set(h.signatory.0.as_str().to_owned()),
            from_signatory_role: Set(h.signatory.1.as_str().to_owned()),
            // The association's signatory is its own act, on the procès-verbal.
            to_signatory_name: Set(String::new()),
            to_signatory_role: Set(String::new()),
            ownership_transferred: Set(true),
            notes: Set(h.notes.as_ref().map(|n| n.as_str().to_owned())),
            created_by: Set(by.actor_ref.clone()),
            created_at: Set(store::now()),
            signed_by_organisation_id: Set(by.is_admin().then_some(by.organisation_id)),
            signer_ref: Set(Some(by.actor_ref.clone())),
        };
        handover::Entity::insert(row)
            .exec_without_returning(tx)
            .await?;
        let mut all_items = Vec::new();
        let mut jobs = vec![
            (
                crate::documents::Kind::PvRemise,
                crate::documents::Subject::Handover(handover_id),
            ),
            (
                crate::documents::Kind::AttestationDon,
                crate::documents::Subject::Handover(handover_id),
            ),
        ];
        for (r, to) in locked.iter().zip(targets) {
            let lines = q::reservation_items(tx, r.id).await?;
            let ids: Vec<Uuid> = lines.iter().map(|l| l.item_id).collect();
            let devices = q::lock_items(tx, &ids).await?;
            if devices.len() != ids.len() {
                return Err(ApiError::not_found());
            }
            for m in &devices {
                handover_item::Entity::insert(handover_item::ActiveModel {
                    handover_id: Set(handover_id),
                    item_id: Set(m.id),
                    present: Set(true),
                })
                .exec_without_returning(tx)
                .await?;
                let facts = ItemFactsLc {
                    signed_handover: true,
                    eligible_beneficiary: r.legal_basis.is_some(),
                    has_data_storage: m.has_data_storage,
                    storage_sanitised: q::storage_sanitised(tx, m.id).await?,
                    ..ItemFactsLc::default()
                };
                transitions::fire(
                    tx,
                    m,
                    "donate",
                    by,
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
                item_hold::Entity::delete_by_id(m.id).exec(tx).await?;
                let position = lines
                    .iter()
                    .find(|l| l.item_id == m.id)
                    .and_then(|l| l.request_line_position);
                if let (Some(req), Some(pos)) = (r.request_id, position) {
                    request_line::Entity::update_many()
                        .col_expr(
                            request_line::Column::Fulfilled,
                            Expr::col(request_line::Column::Fulfilled).add(1),
                        )
                        .filter(request_line::Column::RequestId.eq(req))
                        .filter(request_line::Column::Position.eq(pos))
                        .exec(tx)
                        .await?;
                }
            }
            if r.cession_mode == CessionMode::Service.as_str() {
                let s = crate::documents::Subject::Reservation(r.id);
                jobs.push((crate::documents::Kind::ConventionCession, s));
                jobs.push((crate::documents::Kind::CertificatSortie, s));
            }
            update_reservation(
                tx,
                r,
                to,
                vec![
                    (
                        reservation::Column::HandoverId,
                        Expr::value(Some(handover_id)),
                    ),
                    (
                        reservation::Column::HandoverOn,
                        Expr::value(Some(h.occurred_on)),
                    ),
                    (reservation::Column::CommitmentNoResale, Expr::value(true)),
                    (reservation::Column::CommitmentReuse, Expr::value(true)),
                ],
            )
            .await?;
            event(
                tx,
                reservation_stream(r.id),
                by.organisation_id,
                by,
                "handover_recorded",
                serde_json::json!({
                    "reservation_id": r.id, "handover_id": handover_id, "mode": mode,
                    "occurred_on": h.occurred_on, "item_ids": ids,
                    "reservation_ids": locked.iter().map(|r| r.id).collect::<Vec<_>>(),
                    "from_organisation_id": r.refurbisher_id, "to_organisation_id": r.association_id,
                    "commitment_no_resale": true, "commitment_reuse": true,
                    "signed_by_organisation_id": by.is_admin().then_some(by.organisation_id),
                }),
            )
            .await?;
            all_items.extend(ids);
        }
        for req in &requests {
            refresh_request_status(tx, *req, by).await?;
        }
        crate::documents::enqueue(tx, &jobs).await?;
        notify(
            tx,
            association_id,
            "Remise d'équipements enregistrée",
            &format!(
                "Bonjour,\n\nLa remise de {} équipement(s) a été enregistrée le {} ({}). Ils vous appartiennent désormais ; \
                 merci de confirmer leur réception dans l'application, et de signer ou contester le procès-verbal de remise.\n\nRéemploi",
                all_items.len(),
                h.occurred_on.format("%d/%m/%Y"),
                h.mode.label_fr()
            ),
        )
        .await?;
        let handover = handover::Entity::find_by_id(handover_id)
            .one(tx)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let mut reservations = Vec::with_capacity(ids.len());
        for id in &input.reservation_ids {
            reservations.push(q::reservation(tx, *id).await?);
        }
        Ok(HandedOver {
            handover,
            reservations,
            item_ids: all_items,
        })
    })
}

/// Recomputes a request's status from its lines' fulfilment, when its table allows.
async fn refresh_request_status(tx: &Tx, id: Uuid, by: &By) -> ApiResult<()> {
    let Some(r) = q::lock_request(tx, id).await? else {
        return Ok(());
    };
    let lines = q::lines(tx, id).await?;
    let counts: Vec<(i32, i32)> = lines.iter().map(|l| (l.quantity, l.fulfilled)).collect();
    let Some(target) = dom::status_from_fulfilment(&counts) else {
        return Ok(());
    };
    let name = match target {
        RequestStatus::Fulfilled => "fulfil",
        _ => "fulfil_partly",
    };
    let from = stored_request_status(&r)?;
    let Ok(to) = dom::fire_request(name, Some(from), Party::Platform, &dom::Facts::ALL_HOLD) else {
        // An expired request still records what was handed over, in its lines.
        return Ok(());
    };
    request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(to.as_str()))
        .col_expr(request::Column::Version, Expr::value(r.version + 1))
        .col_expr(request::Column::UpdatedAt, Expr::value(store::now()))
        .filter(request::Column::Id.eq(id))
        .exec(tx)
        .await?;
    if to != from {
        event(
            tx,
            request_stream(id),
            r.association_id,
            &by.on_behalf(),
            if to == RequestStatus::Fulfilled {
                "request_fulfilled"
            } else {
                "request_partly_fulfilled"
            },
            serde_json::json!({
                "request_id": id,
                "lines": lines.iter().map(|l| serde_json::json!({ "position": l.position, "quantity": l.quantity, "fulfilled": l.fulfilled })).collect::<Vec<_>>(),
            }),
        )
        .await?;
    }
    Ok(())
}

/// When and how the handover will happen, before checks.
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    pub mode: HandoverMode,
    pub planned_on: NaiveDate,
    pub message: Option<String>,
}

/// The refurbisher plans the handover; the reservation is kept until that day and the
/// association is told.
pub async fn schedule_handover(
    cx: &AppState,
    by: &By,
    id: Uuid,
    input: &ScheduleInput,
) -> ApiResult<reservation::Model> {
    let mut errors = FieldErrors::new();
    let message = errors
        .check(
            "message",
            LongText::parse_optional(input.message.as_deref()),
        )
        .flatten();
    let today = cx.settings.today();
    let in_window = dom::within_scheduling_window(input.planned_on, today);
    if !in_window {
        errors.push("planned_on", Invalid::OutOfRange);
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    write_tx!(&cx.db, |tx| {
        let r = lock_with_request(tx, id).await?;
        let facts = dom::Facts {
            within_scheduling_window: in_window,
            ..dom::Facts::default()
        };
        let to = fire_reservation("schedule", &r, by, &facts)?;
        let kept_until = dom::kept_until(r.expires_at, input.planned_on);
        update_reservation(
            tx,
            &r,
            to,
            vec![
                (
                    reservation::Column::HandoverOn,
                    Expr::value(Some(input.planned_on)),
                ),
                (reservation::Column::ExpiresAt, Expr::value(kept_until)),
            ],
        )
        .await?;
        event(
            tx,
            reservation_stream(r.id),
            by.organisation_id,
            by,
            "handover_scheduled",
            serde_json::json!({
                "reservation_id": r.id, "mode": input.mode.as_str(),
                "planned_on": input.planned_on, "expires_at": kept_until,
            }),
        )
        .await?;
        let holder = q::organisation(tx, r.refurbisher_id).await?;
        let how = match input.mode {
            HandoverMode::Pickup => format!(
                "retrait chez {}, {} {} {}",
                holder.name, holder.address, holder.postcode, holder.city
            ),
            HandoverMode::Delivery => format!("livraison par {}", holder.name),
        };
        notify(
            tx,
            r.association_id,
            "Remise d'équipements programmée",
            &format!(
                "Bonjour,\n\nLa remise de vos équipements est programmée le {} ({how}).{}\n\n\
                 Contact : {}{}.\n\nRéemploi",
                input.planned_on.format("%d/%m/%Y"),
                message
                    .as_ref()
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
        q::reservation(tx, r.id).await
    })
}

/// Nothing to write: the transaction is abandoned (a write appends an event or does not commit).
fn nothing_to_do() -> ApiError {
    ApiError::new(ErrorCode::Conflict).detail("—", "nothing to do")
}

fn is_nothing_to_do(e: &ApiError) -> bool {
    e.code == ErrorCode::Conflict && e.detail_en.as_deref() == Some("nothing to do")
}

/// The association confirms it received the handed-over devices (once; again is a no-op).
pub async fn confirm_receipt(cx: &AppState, by: &By, id: Uuid) -> ApiResult<reservation::Model> {
    let done = write_tx!(&cx.db, |tx| {
        let r = q::lock_reservation(tx, id).await?;
        let to = fire_reservation("confirm_receipt", &r, by, &dom::Facts::ALL_HOLD)?;
        if r.received_at.is_some() {
            return Err(nothing_to_do());
        }
        let at = store::now();
        update_reservation(
            tx,
            &r,
            to,
            vec![(reservation::Column::ReceivedAt, Expr::value(Some(at)))],
        )
        .await?;
        event(
            tx,
            reservation_stream(r.id),
            by.organisation_id,
            by,
            "receipt_confirmed",
            serde_json::json!({ "reservation_id": r.id, "received_at": at }),
        )
        .await?;
        q::reservation(tx, id).await
    });
    match done {
        Err(e) if is_nothing_to_do(&e) => q::reservation(&cx.db, id).await,
        other => other,
    }
}

/// One line of a new request.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub category: Category,
    pub quantity: i32,
    pub min_ram_gb: Option<i32>,
    pub min_storage_gb: Option<i32>,
    pub min_screen_inches: Option<f64>,
}

/// A new request, before checks.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub purpose: String,
    pub beneficiaries: i32,
    pub delivery_site_id: Option<Uuid>,
    pub needed_by: NaiveDate,
    pub lines: Vec<NewLine>,
    pub draft: bool,
}

/// An association files a request (opened to refurbishers unless a draft).
pub async fn create_request(
    cx: &AppState,
    by: &By,
    input: &NewRequest,
) -> ApiResult<request::Model> {
    let mut errors = FieldErrors::new();
    let purpose = errors.check("purpose", LongText::parse(&input.purpose));
    if input.needed_by < cx.settings.today() {
        errors.push("needed_by", Invalid::OutOfRange);
    }
    if let Some(site) = input.delivery_site_id
        && !q::is_live_site_of(&cx.db, site, by.organisation_id).await?
    {
        errors.push("delivery_site_id", Invalid::InvalidFormat);
    }
    let (Some(purpose), true) = (purpose, errors.is_empty()) else {
        return Err(errors.into());
    };
    write_tx!(&cx.db, |tx| {
        let name = if input.draft { "save_draft" } else { "open" };
        let status = dom::fire_request(name, None, Party::Association, &dom::Facts::ALL_HOLD)
            .map_err(|_| ApiError::new(ErrorCode::Internal))?;
        let now = store::now();
        let id = store::new_id();
        request::Entity::insert(request::ActiveModel {
            id: Set(id),
            association_id: Set(by.organisation_id),
            purpose: Set(purpose.as_str().to_owned()),
            beneficiaries: Set(input.beneficiaries),
            delivery_site_id: Set(input.delivery_site_id),
            needed_by: Set(input.needed_by),
            status: Set(status.as_str().to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        for (i, l) in input.lines.iter().enumerate() {
            request_line::Entity::insert(request_line::ActiveModel {
                id: Set(store::new_id()),
                request_id: Set(id),
                position: Set(i as i32 + 1),
                category: Set(l.category.as_str().to_owned()),
                quantity: Set(l.quantity),
                min_ram_gb: Set(l.min_ram_gb),
                min_storage_gb: Set(l.min_storage_gb),
                min_screen_inches: Set(l.min_screen_inches.filter(|v| v.is_finite())),
                fulfilled: Set(0),
            })
            .exec_without_returning(tx)
            .await?;
        }
        event(
            tx,
            request_stream(id),
            by.organisation_id,
            by,
            "request_created",
            serde_json::json!({
                "request_id": id, "status": status.as_str(), "beneficiaries": input.beneficiaries,
                "needed_by": input.needed_by, "delivery_site_id": input.delivery_site_id,
                "lines": input.lines.iter().enumerate().map(|(i, l)| serde_json::json!({
                    "position": i + 1, "category": l.category.as_str(), "quantity": l.quantity,
                })).collect::<Vec<_>>(),
            }),
        )
        .await?;
        q::request(tx, id).await
    })
}

/// The association cancels its request: the reservations still attached to it end (proposals
/// declined, active ones cancelled) and their devices return to the catalogue.
pub async fn cancel_request(cx: &AppState, by: &By, id: Uuid) -> ApiResult<request::Model> {
    write_tx!(&cx.db, |tx| {
        let r = q::lock_request(tx, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let from = stored_request_status(&r)?;
        let to = dom::fire_request(
            "cancel",
            Some(from),
            Party::Association,
            &dom::Facts::ALL_HOLD,
        )
        .map_err(|_| wrong_request_status(&r.status))?;
        request::Entity::update_many()
            .col_expr(request::Column::Status, Expr::value(to.as_str()))
            .col_expr(request::Column::Version, Expr::value(r.version + 1))
            .col_expr(request::Column::UpdatedAt, Expr::value(store::now()))
            .filter(request::Column::Id.eq(r.id))
            .exec(tx)
            .await?;
        let platform = by.on_behalf();
        let mut ended = Vec::new();
        for p in q::lock_holding_for_request(tx, r.id).await? {
            let name = if p.status == ReservationStatus::Proposed.as_str() {
                "decline"
            } else {
                "cancel"
            };
            release(
                tx,
                &p,
                name,
                &platform,
                &dom::Facts::ALL_HOLD,
                by.organisation_id,
            )
            .await?;
            ended.push(p.id);
        }
        event(
            tx,
            request_stream(r.id),
            by.organisation_id,
            by,
            "request_cancelled",
            serde_json::json!({ "request_id": r.id, "from": from.as_str(), "reservations_ended": ended }),
        )
        .await?;
        q::request(tx, id).await
    })
}

/// A refurbisher's admin sets the most devices one association may hold at once there.
pub async fn set_fair_share(cx: &AppState, by: &By, org: Uuid, cap: i32) -> ApiResult<i32> {
    write_tx!(&cx.db, |tx| {
        let o = q::organisation(tx, org).await?;
        if o.kind != OrganisationKind::Refurbisher.as_str() {
            return Err(ApiError::forbidden());
        }
        organisation::Entity::update_many()
            .col_expr(organisation::Column::FairShareCap, Expr::value(Some(cap)))
            .filter(organisation::Column::Id.eq(org))
            .exec(tx)
            .await?;
        event(
            tx,
            organisation_stream(org),
            org,
            by,
            "fair_share_set",
            serde_json::json!({ "max_items_per_association": cap, "previous": o.fair_share_cap }),
        )
        .await?;
        Ok(cap)
    })
}

/// Background upkeep, as the platform: reminds associations a day before a reservation
/// expires, returns expired reservations' devices to the catalogue, and expires requests past
/// their date. Each is its own transaction that re-checks the rule under lock. Returns how
/// many reservations expired.
pub async fn upkeep(db: &DatabaseConnection, today: NaiveDate) -> ApiResult<u64> {
    let now = store::now();
    for due in q::reminders_due(db, now).await? {
        let by = By::system(due.association_id);
        let done = write_tx!(db, |tx| {
            let r = q::lock_reservation(tx, due.id).await?;
            if !dom::reminder_due(r.expires_at, now, r.reminded_at.is_some()) {
                return Err(nothing_to_do());
            }
            let to = fire_reservation("remind", &r, &by, &dom::Facts::ALL_HOLD)?;
            update_reservation(
                tx,
                &r,
                to,
                vec![(reservation::Column::RemindedAt, Expr::value(Some(now)))],
            )
            .await?;
            event(
                tx,
                reservation_stream(r.id),
                r.association_id,
                &by,
                "reservation_reminder_sent",
                serde_json::json!({ "reservation_id": r.id, "expires_at": r.expires_at }),
            )
            .await?;
            notify(
                tx,
                r.association_id,
                "Votre réservation expire bientôt",
                &format!(
                    "Bonjour,\n\nVotre réservation expire le {} à {} (UTC). Sans remise d'ici là, \
                     les équipements retourneront au catalogue.\n\nRéemploi",
                    r.expires_at.format("%d/%m/%Y"),
                    r.expires_at.format("%H:%M")
                ),
            )
            .await
        });
        skip_nothing(done)?;
    }
    let mut n = 0;
    for due in q::expired_reservations(db, now).await? {
        let by = By::system(due.refurbisher_id);
        let done = write_tx!(db, |tx| {
            let r = lock_with_request(tx, due.id).await?;
            let holding = stored_reservation_status(&r)?.holds_devices();
            if !holding || !dom::is_expired(r.expires_at, now) {
                return Err(nothing_to_do());
            }
            let facts = dom::Facts {
                expiry_passed: true,
                ..dom::Facts::default()
            };
            release(tx, &r, "expire", &by, &facts, r.association_id).await?;
            Ok(())
        });
        if skip_nothing(done)?.is_some() {
            n += 1;
        }
    }
    for due in q::expired_requests(db, today).await? {
        let by = By::system(due.association_id);
        let done = write_tx!(db, |tx| {
            let Some(r) = q::lock_request(tx, due.id).await? else {
                return Err(nothing_to_do());
            };
            let facts = dom::Facts {
                needed_by_passed: r.needed_by < today,
                ..dom::Facts::default()
            };
            let from = stored_request_status(&r)?;
            let Ok(to) = dom::fire_request("expire", Some(from), Party::Platform, &facts) else {
                return Err(nothing_to_do());
            };
            request::Entity::update_many()
                .col_expr(request::Column::Status, Expr::value(to.as_str()))
                .col_expr(request::Column::Version, Expr::value(r.version + 1))
                .col_expr(request::Column::UpdatedAt, Expr::value(now))
                .filter(request::Column::Id.eq(r.id))
                .exec(tx)
                .await?;
            event(
                tx,
                request_stream(r.id),
                r.association_id,
                &by,
                "request_expired",
                serde_json::json!({ "request_id": r.id, "from": from.as_str(), "needed_by": r.needed_by }),
            )
            .await
        });
        skip_nothing(done)?;
    }
    Ok(n)
}

/// `Some` when the upkeep step wrote, `None` when there was nothing left to do.
fn skip_nothing<T>(done: ApiResult<T>) -> ApiResult<Option<T>> {
    match done {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_nothing_to_do(&e) => Ok(None),
        Err(e) => Err(e),
    }
}
