//! The writes of the lot aggregate: a public body's lots and their devices, refurbishers' claims
//! and their allocation, the collection, and partnerships. Each asks the lot and claim tables of
//! `domain::lot` inside its transaction, with the lot row locked first (then its claims, then
//! its devices in id order).

use chrono::NaiveDate;
use reemploi_domain::Invalid;
use reemploi_domain::eligibility;
use reemploi_domain::lifecycle::{Facts, ItemStatus};
use reemploi_domain::lot::{
    self as dom, AllocationPolicy, CessionMode, ClaimFacts, ClaimPrecondition, ClaimRefusal,
    ClaimStatus, ClaimTableRefusal, LotFacts, LotPrecondition, LotRefusal, LotStatus, Refusal,
    Visibility, WrongState,
};
use reemploi_domain::organisation::{Actor, OrganisationKind};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::transitions;
use super::{By, Tx, lock_order};
use crate::error::{ApiError, ApiResult, ErrorCode, RefusedItem};
use crate::state::AppState;
use crate::store::entities::{
    claim, handover, handover_item, item, lot, organisation, partnership, site,
};
use crate::store::events::{NewEvent, organisation_stream};
use crate::store::lots;
use crate::store::{self, is_unique_violation};

/// A lot as the public body describes it, parsed.
#[derive(Debug, Clone)]
pub struct LotFields {
    pub title: String,
    pub description: Option<String>,
    pub pickup_site_id: Uuid,
    pub pickup_from: NaiveDate,
    pub pickup_until: NaiveDate,
    pub allocation_policy: AllocationPolicy,
    pub claim_deadline: Option<NaiveDate>,
    pub auto_accept: bool,
    pub visibility: Visibility,
    pub radius_km: Option<i32>,
    pub cession_mode: CessionMode,
}

impl LotFields {
    fn active(&self) -> lot::ActiveModel {
        lot::ActiveModel {
            title: Set(self.title.clone()),
            description: Set(self.description.clone()),
            pickup_site_id: Set(self.pickup_site_id),
            pickup_from: Set(self.pickup_from),
            pickup_until: Set(self.pickup_until),
            allocation_policy: Set(self.allocation_policy.as_str().to_owned()),
            claim_deadline: Set(self.claim_deadline),
            auto_accept: Set(self.auto_accept),
            visibility: Set(self.visibility.as_str().to_owned()),
            radius_km: Set(self.radius_km),
            cession_mode: Set(self.cession_mode.as_str().to_owned()),
            ..Default::default()
        }
    }
}

/// A claim as the refurbisher makes it, parsed.
#[derive(Debug, Clone)]
pub struct NewClaim {
    pub message: Option<String>,
    pub proposed_pickup_date: Option<NaiveDate>,
    /// The user who claims (the nil id for an API key).
    pub created_by: Uuid,
}

/// What happened on collection day, parsed.
#[derive(Debug, Clone)]
pub struct Collection {
    pub occurred_on: NaiveDate,
    pub missing_item_ids: Vec<Uuid>,
    /// Name and role of who signs for the recorder's own organisation (typed by the recorder,
    /// for itself only: the other party confirms or contests with its own account).
    pub signatory: (String, String),
    pub notes: Option<String>,
}

/// The recorded collection.
#[derive(Debug, Clone)]
pub struct Collected {
    pub handover_id: Uuid,
    pub lot_id: Uuid,
    pub collected: u64,
    pub missing: u64,
    pub ownership_transferred: bool,
}

// ---------------------------------------------------------------------------------------------
// Refusals of the tables, as the client sees them.
// ---------------------------------------------------------------------------------------------

fn lot_refusal(refusal: LotRefusal) -> ApiError {
    match refusal {
        Refusal::Unknown => ApiError::new(ErrorCode::Internal),
        Refusal::NotAllowed { .. } => ApiError::forbidden(),
        Refusal::NotFromHere {
            reason: WrongState::NotEditable,
            ..
        } => ApiError::new(ErrorCode::LotNotEditable),
        Refusal::NotFromHere {
            reason: WrongState::AlreadyAwarded,
            ..
        } => ApiError::new(ErrorCode::LotAlreadyAwarded),
        Refusal::NotFromHere {
            transition,
            from,
            reason: WrongState::InvalidTransition,
        } => {
            let from = from.as_str();
            let (fr, en) = match transition {
                "publish" => (
                    format!("Seul un lot en brouillon peut être publié (statut actuel : {from})."),
                    format!("Only a draft lot can be published (current status: {from})."),
                ),
                "withdraw" => (
                    format!("Un lot « {from} » ne peut pas être retiré."),
                    format!("A `{from}` lot cannot be withdrawn."),
                ),
                "collect" => (
                    format!("Seul un lot attribué peut être enlevé (statut actuel : {from})."),
                    format!("Only an awarded lot can be collected (current status: {from})."),
                ),
                _ => (
                    format!("« {transition} » n'est pas possible pour un lot « {from} »."),
                    format!("`{transition}` is not possible for a `{from}` lot."),
                ),
            };
            ApiError::new(ErrorCode::InvalidTransition).detail(fr, en)
        }
        Refusal::Unmet { preconditions, .. } => match preconditions.first() {
            Some(LotPrecondition::HasDevices) => ApiError::new(ErrorCode::LotEmpty),
            Some(LotPrecondition::NoAcceptedClaim) => ApiError::new(ErrorCode::LotAlreadyAwarded),
            // An awarded lot always names its accepted claim: its absence is a defect.
            Some(LotPrecondition::AcceptedClaim) | None => {
                tracing::error!(?preconditions, "awarded lot without an accepted claim");
                ApiError::new(ErrorCode::Internal)
            }
        },
    }
}

fn claim_refusal(refusal: ClaimTableRefusal, l: &lot::Model) -> ApiError {
    match refusal {
        Refusal::Unknown => ApiError::new(ErrorCode::Internal),
        Refusal::NotAllowed { .. } => ApiError::forbidden(),
        Refusal::NotFromHere { from, .. } => ApiError::new(ErrorCode::InvalidTransition).detail(
            format!("Cette candidature est « {} ».", from.as_str()),
            format!("This claim is `{}`.", from.as_str()),
        ),
        Refusal::Unmet { preconditions, .. } => match preconditions.first() {
            Some(ClaimPrecondition::SelectionClosed) | None => {
                let deadline = l.claim_deadline.map(|d| d.to_string()).unwrap_or_default();
                ApiError::new(ErrorCode::ClaimDeadlineNotPassed).detail(
                    format!(
                        "Les candidatures sont reçues jusqu'au {deadline} : le choix se fait après cette date."
                    ),
                    format!(
                        "Claims are received until {deadline}: the choice is made after that date."
                    ),
                )
            }
        },
    }
}

fn eligibility_refusal(refusal: ClaimRefusal) -> ApiError {
    let code = match refusal {
        ClaimRefusal::EsusRequired => ErrorCode::EsusRequired,
        ClaimRefusal::EsusExpired => ErrorCode::EsusExpired,
        ClaimRefusal::DeadlinePassed => ErrorCode::ClaimDeadlinePassed,
    };
    ApiError::new(code).detail(refusal.message_fr(), refusal.message_en())
}

/// The 300 € ceiling per device of a cession to an ESUS refurbisher (CG3P L3212-2 3°, D3212-3,
/// décret n° 2022-791), checked when devices are added to a `to_refurbisher` lot and when it is
/// published: each device needs a known value (net book value, or the value its body confirmed)
/// of at most 300 €, unless the operator overrode the ceiling for it. Refused: 422
/// `ceiling_exceeded` listing each device with its reason. (In `service` mode the body cedes at
/// handover, where the same rule is checked against the association.)
fn check_ceiling(l: &lot::Model, items: &[&item::Model]) -> ApiResult<()> {
    if CessionMode::parse(&l.cession_mode) != Some(CessionMode::ToRefurbisher) {
        return Ok(());
    }
    let facts: Vec<_> = items
        .iter()
        .map(|m| store::items::eligibility_facts(m))
        .collect();
    let (reasons, _) = eligibility::ceiling_check(eligibility::Route::Alinea3, &facts);
    if reasons.is_empty() {
        return Ok(());
    }
    let refused: Vec<RefusedItem> = reasons
        .iter()
        .filter_map(|r| {
            let m = items.get(r.item?)?;
            Some(RefusedItem {
                item_id: m.id,
                inventory_number: m.inventory_number.clone(),
                code: r.code.as_str(),
                message_fr: r.message_fr.clone(),
                message_en: r.message_en.clone(),
            })
        })
        .collect();
    let n = refused.len();
    let mut e = ApiError::new(ErrorCode::CeilingExceeded).detail(
        format!(
            "{n} équipement(s) refusé(s) : en cession à un reconditionneur agréé ESUS, la valeur \
             unitaire de chaque bien ne peut dépasser 300 € (article D3212-3 du code général de la \
             propriété des personnes publiques, décret n° 2022-791 du 6 mai 2022). Renseignez la \
             valeur nette comptable ou confirmez une estimation (POST /v1/items/{{id}}/valuation), \
             ou retirez ces équipements du lot."
        ),
        format!(
            "{n} device(s) refused: in a cession to an ESUS refurbisher each item's value may not \
             exceed 300 € (CG3P D3212-3, décret n° 2022-791). Give the net book value or confirm \
             an estimate (POST /v1/items/{{id}}/valuation), or leave these devices out."
        ),
    );
    e.items = refused;
    Err(e)
}

// ---------------------------------------------------------------------------------------------
// Small writes shared by the commands.
// ---------------------------------------------------------------------------------------------

/// Appends an event of the lot aggregate to the public body's stream (its admins read it).
async fn body_event(
    tx: &Tx,
    organisation_id: Uuid,
    by: &By,
    kind: &'static str,
    payload: serde_json::Value,
) -> ApiResult<()> {
    tx.event(NewEvent {
        stream: organisation_stream(organisation_id),
        organisation_id: Some(organisation_id),
        actor: by.actor_ref.clone(),
        kind,
        payload,
    })
    .await?;
    Ok(())
}

/// Sets a lot's status (and bumps its version).
async fn set_status(
    tx: &Tx,
    l: &lot::Model,
    to: LotStatus,
    extra: Vec<(lot::Column, SimpleExpr)>,
) -> ApiResult<()> {
    let mut update = lot::Entity::update_many()
        .col_expr(lot::Column::Status, Expr::value(to.as_str()))
        .col_expr(lot::Column::Version, Expr::value(l.version + 1))
        .col_expr(lot::Column::UpdatedAt, Expr::value(store::now()));
    for (col, value) in extra {
        update = update.col_expr(col, value);
    }
    update.filter(lot::Column::Id.eq(l.id)).exec(tx).await?;
    Ok(())
}

/// Sets or clears the lot of a device with a plain column change (no status change).
fn set_lot(value: Option<Uuid>) -> Vec<(item::Column, SimpleExpr)> {
    vec![(item::Column::LotId, Expr::value(value))]
}

/// Takes a device out of its lot: a listed one returns to the inventory (`unlist`), another
/// (a draft lot's) just loses its lot.
async fn take_out(tx: &Tx, it: &item::Model, l: &lot::Model, by: &By) -> ApiResult<()> {
    if ItemStatus::parse(&it.status) == Some(ItemStatus::Listed) {
        transitions::fire(
            tx,
            it,
            "unlist",
            by,
            &Facts::default(),
            set_lot(None),
            serde_json::json!({ "lot_id": l.id }),
        )
        .await?;
    } else {
        item::Entity::update_many()
            .col_expr(item::Column::LotId, Expr::value(Option::<Uuid>::None))
            .col_expr(
                item::Column::Version,
                Expr::col(item::Column::Version).add(1),
            )
            .filter(item::Column::Id.eq(it.id))
            .exec(tx)
            .await?;
    }
    Ok(())
}

/// Rejects the pending claims of a lot (set aside when the lot is awarded or withdrawn).
async fn set_aside_pending(tx: &Tx, l: &lot::Model) -> ApiResult<()> {
    for c in lots::pending_claims(tx, l.id).await? {
        dom::fire_claim(
            "set_aside",
            lots::claim_status(&c)?,
            None,
            ClaimFacts::default(),
        )
        .map_err(|r| claim_refusal(r, l))?;
    }
    claim::Entity::update_many()
        .col_expr(
            claim::Column::Status,
            Expr::value(ClaimStatus::Rejected.as_str()),
        )
        .col_expr(claim::Column::DecidedAt, Expr::value(Some(store::now())))
        .filter(claim::Column::LotId.eq(l.id))
        .filter(claim::Column::Status.eq(ClaimStatus::Pending.as_str()))
        .exec(tx)
        .await?;
    Ok(())
}

/// Checks the pickup site: one of the body's live sites, with coordinates for radius visibility.
async fn check_site(tx: &Tx, organisation_id: Uuid, fields: &LotFields) -> ApiResult<site::Model> {
    let s = lots::find_site(tx, fields.pickup_site_id)
        .await?
        .filter(|s| s.organisation_id == organisation_id && s.archived_at.is_none())
        .ok_or_else(|| {
            ApiError::field("pickup_site_id", Invalid::InvalidFormat).detail(
                "Ce site n'existe pas parmi les sites de votre organisation.",
                "This site is not one of your organisation's sites.",
            )
        })?;
    if fields.visibility == Visibility::RadiusKm && (s.latitude.is_none() || s.longitude.is_none())
    {
        return Err(ApiError::field("pickup_site_id", Invalid::Required).detail(
            "La visibilité par rayon demande un site de retrait géolocalisé.",
            "Radius visibility needs a pickup site with coordinates.",
        ));
    }
    Ok(s)
}

/// Accepts `c` on the locked lot `l`: the claim table (`actor` is `None` when the platform
/// accepts on a first-come claimant's behalf), then the lot table; the lot is awarded, the other
/// pending claims set aside, the devices awarded, and the convention de cession queued.
async fn award(
    tx: &Tx,
    l: &lot::Model,
    c: &claim::Model,
    by: &By,
    actor: Option<Actor>,
    today: NaiveDate,
) -> ApiResult<()> {
    let facts = ClaimFacts {
        selection_closed: dom::selection_closed(lots::policy(l)?, l.claim_deadline, today),
    };
    dom::fire_claim("accept", lots::claim_status(c)?, actor, facts)
        .map_err(|r| claim_refusal(r, l))?;
    let lot_facts = LotFacts {
        has_devices: true,
        accepted_claim: l.accepted_claim_id.is_some(),
    };
    let to = dom::fire_lot("award", lots::status(l)?, actor, lot_facts).map_err(lot_refusal)?;
    let now = store::now();
    set_status(
        tx,
        l,
        to,
        vec![(lot::Column::AcceptedClaimId, Expr::value(Some(c.id)))],
    )
    .await?;
    let accepted = claim::Entity::update_many()
        .col_expr(
            claim::Column::Status,
            Expr::value(ClaimStatus::Accepted.as_str()),
        )
        .col_expr(claim::Column::DecidedAt, Expr::value(Some(now)))
        .filter(claim::Column::Id.eq(c.id))
        .filter(claim::Column::Status.eq(ClaimStatus::Pending.as_str()))
        .exec(tx)
        .await;
    match accepted {
        Ok(r) if r.rows_affected == 1 => {}
        Ok(_) => return Err(ApiError::new(ErrorCode::InvalidTransition)),
        // The unique partial index keeps one accepted claim per lot, whatever happens above.
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::new(ErrorCode::LotAlreadyAwarded));
        }
        Err(e) => return Err(e.into()),
    }
    set_aside_pending(tx, l).await?;
    let facts = Facts {
        accepted_claim: true,
        ..Facts::default()
    };
    for i in lots::items(tx, l.id).await? {
        transitions::fire(
            tx,
            &i,
            "award",
            by,
            &facts,
            vec![],
            serde_json::json!({ "lot_id": l.id, "claim_id": c.id, "to_organisation_id": c.refurbisher_id }),
        )
        .await?;
    }
    body_event(
        tx,
        l.organisation_id,
        by,
        "lot_awarded",
        serde_json::json!({ "lot_id": l.id, "claim_id": c.id, "refurbisher_id": c.refurbisher_id }),
    )
    .await?;
    // The convention de cession (to the refurbisher) can be signed from the award on.
    crate::documents::enqueue(
        tx,
        &[(
            crate::documents::Kind::ConventionCession,
            crate::documents::Subject::Lot(l.id),
        )],
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lots.
// ---------------------------------------------------------------------------------------------

/// Creates a draft lot of the body `by` acts for.
pub async fn create_lot(cx: &AppState, by: &By, fields: &LotFields) -> ApiResult<lot::Model> {
    write_tx!(&cx.db, |tx| {
        check_site(tx, by.organisation_id, fields).await?;
        let now = store::now();
        let id = store::new_id();
        let mut am = fields.active();
        am.id = Set(id);
        am.organisation_id = Set(by.organisation_id);
        am.status = Set(LotStatus::Draft.as_str().to_owned());
        am.published_at = Set(None);
        am.accepted_claim_id = Set(None);
        am.version = Set(1);
        am.created_at = Set(now);
        am.updated_at = Set(now);
        lot::Entity::insert(am).exec_without_returning(tx).await?;
        body_event(
            tx,
            by.organisation_id,
            by,
            "lot_created",
            serde_json::json!({ "lot_id": id, "title": fields.title }),
        )
        .await?;
        lots::find(tx, id).await
    })
}

/// Replaces the description of a draft lot. `if_match` checks the version the caller read.
pub async fn update_lot(
    cx: &AppState,
    by: &By,
    id: Uuid,
    fields: &LotFields,
    if_match: impl Fn(i32) -> ApiResult<()>,
) -> ApiResult<lot::Model> {
    write_tx!(&cx.db, |tx| {
        let current = lots::lock(tx, id).await?;
        check_site(tx, current.organisation_id, fields).await?;
        if_match(current.version)?;
        dom::fire_lot(
            "update",
            lots::status(&current)?,
            by.actor,
            LotFacts::default(),
        )
        .map_err(lot_refusal)?;
        let mut am = fields.active();
        am.version = Set(current.version + 1);
        am.updated_at = Set(store::now());
        lot::Entity::update_many()
            .set(am)
            .filter(lot::Column::Id.eq(current.id))
            .exec(tx)
            .await?;
        body_event(
            tx,
            current.organisation_id,
            by,
            "lot_updated",
            serde_json::json!({ "lot_id": id, "version": current.version + 1 }),
        )
        .await?;
        lots::find(tx, id).await
    })
}

/// Adds devices of the body's inventory to a draft or published lot (listed at once when
/// published). Devices already in this lot are skipped.
pub async fn add_lot_items(
    cx: &AppState,
    by: &By,
    id: Uuid,
    item_ids: &[Uuid],
) -> ApiResult<lot::Model> {
    write_tx!(&cx.db, |tx| {
        let l = lots::lock(tx, id).await?;
        let status = dom::fire_lot(
            "add_items",
            lots::status(&l)?,
            by.actor,
            LotFacts::default(),
        )
        .map_err(lot_refusal)?;
        let locked = item::Entity::find()
            .filter(item::Column::Id.is_in(lock_order(item_ids)))
            .order_by_asc(item::Column::Id)
            .lock_exclusive()
            .all(tx)
            .await?;
        // Every device is checked before any is written: a refused one refuses the whole call.
        let mut adding: Vec<&item::Model> = Vec::new();
        for (i, item_id) in item_ids.iter().enumerate() {
            if adding.iter().any(|it| it.id == *item_id) {
                continue;
            }
            let it = locked
                .iter()
                .find(|it| it.id == *item_id)
                .filter(|it| {
                    it.organisation_id == l.organisation_id && it.owner_id == l.organisation_id
                })
                .ok_or_else(|| {
                    ApiError::field(format!("item_ids[{i}]"), Invalid::InvalidFormat).detail(
                        format!(
                            "L'équipement {item_id} n'appartient pas à l'inventaire de l'organisme."
                        ),
                        format!("Device {item_id} is not in the body's inventory."),
                    )
                })?;
            if it.lot_id == Some(l.id) {
                continue;
            }
            if it.lot_id.is_some() || it.status != ItemStatus::Inventoried.as_str() {
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
            adding.push(it);
        }
        check_ceiling(&l, &adding)?;
        let mut added = Vec::new();
        for it in adding {
            if status == LotStatus::Published {
                transitions::fire(
                    tx,
                    it,
                    "list",
                    by,
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
                    .exec(tx)
                    .await?;
            }
            added.push(it.id);
        }
        body_event(
            tx,
            l.organisation_id,
            by,
            "lot_items_added",
            serde_json::json!({ "lot_id": l.id, "item_ids": added }),
        )
        .await?;
        lots::find(tx, id).await
    })
}

/// Takes a device out of a draft or published lot; a listed one returns to the inventory.
pub async fn remove_lot_item(cx: &AppState, by: &By, id: Uuid, item_id: Uuid) -> ApiResult<()> {
    write_tx!(&cx.db, |tx| {
        let l = lots::lock(tx, id).await?;
        dom::fire_lot(
            "remove_item",
            lots::status(&l)?,
            by.actor,
            LotFacts::default(),
        )
        .map_err(lot_refusal)?;
        let it = item::Entity::find_by_id(item_id)
            .lock_exclusive()
            .one(tx)
            .await?
            .filter(|it| it.lot_id == Some(l.id))
            .ok_or_else(ApiError::not_found)?;
        take_out(tx, &it, &l, by).await?;
        body_event(
            tx,
            l.organisation_id,
            by,
            "lot_item_removed",
            serde_json::json!({ "lot_id": l.id, "item_id": it.id }),
        )
        .await
    })
}

/// Offers a draft lot to refurbishers; its devices become `listed`.
pub async fn publish_lot(cx: &AppState, by: &By, id: Uuid) -> ApiResult<lot::Model> {
    write_tx!(&cx.db, |tx| {
        let l = lots::lock(tx, id).await?;
        let items = lots::items(tx, l.id).await?;
        let facts = LotFacts {
            has_devices: !items.is_empty(),
            accepted_claim: l.accepted_claim_id.is_some(),
        };
        let to =
            dom::fire_lot("publish", lots::status(&l)?, by.actor, facts).map_err(lot_refusal)?;
        check_ceiling(&l, &items.iter().collect::<Vec<_>>())?;
        for it in &items {
            transitions::fire(
                tx,
                it,
                "list",
                by,
                &Facts::default(),
                vec![],
                serde_json::json!({ "lot_id": l.id }),
            )
            .await?;
        }
        set_status(
            tx,
            &l,
            to,
            vec![(lot::Column::PublishedAt, Expr::value(Some(store::now())))],
        )
        .await?;
        body_event(
            tx,
            l.organisation_id,
            by,
            "lot_published",
            serde_json::json!({ "lot_id": l.id, "items": items.len() }),
        )
        .await?;
        lots::find(tx, id).await
    })
}

/// Takes a draft or published lot back: its devices return to the inventory, pending claims
/// are rejected.
pub async fn withdraw_lot(cx: &AppState, by: &By, id: Uuid) -> ApiResult<lot::Model> {
    write_tx!(&cx.db, |tx| {
        let l = lots::lock(tx, id).await?;
        let to = dom::fire_lot("withdraw", lots::status(&l)?, by.actor, LotFacts::default())
            .map_err(lot_refusal)?;
        for it in lots::items(tx, l.id).await? {
            take_out(tx, &it, &l, by).await?;
        }
        set_aside_pending(tx, &l).await?;
        set_status(tx, &l, to, vec![]).await?;
        body_event(
            tx,
            l.organisation_id,
            by,
            "lot_withdrawn",
            serde_json::json!({ "lot_id": l.id }),
        )
        .await?;
        lots::find(tx, id).await
    })
}

// ---------------------------------------------------------------------------------------------
// Claims.
// ---------------------------------------------------------------------------------------------

/// A refurbisher claims a lot it may see. With `first_come` and automatic acceptance the claim
/// is accepted at once: the lot row is locked first, so of simultaneous claims exactly one wins
/// and the others see an awarded lot.
pub async fn claim_lot(
    cx: &AppState,
    by: &By,
    lot_id: Uuid,
    new: &NewClaim,
) -> ApiResult<claim::Model> {
    let today = cx.settings.today();
    write_tx!(&cx.db, |tx| {
        let l = lots::lock(tx, lot_id).await?;
        let status = lots::status(&l)?;
        if matches!(status, LotStatus::Draft | LotStatus::Withdrawn)
            || !lots::visible_to(tx, &l, by.organisation_id).await?
        {
            return Err(ApiError::not_found());
        }
        let refurbisher = lots::find_org(tx, by.organisation_id).await?;
        let policy = lots::policy(&l)?;
        // The accreditation the operator accepted, with the expiry it recorded.
        let (esus_reference, esus_expires_on) =
            match crate::store::verification::verified_facts(tx, &refurbisher, today)
                .await?
                .esus
            {
                Some((reference, expires_on)) => (Some(reference), expires_on),
                None => (None, None),
            };
        dom::check_claim(
            lots::cession_mode(&l)?,
            policy,
            l.claim_deadline,
            esus_reference.as_deref(),
            esus_expires_on,
            today,
        )
        .map_err(eligibility_refusal)?;
        dom::fire_lot("receive_claim", status, by.actor, LotFacts::default())
            .map_err(lot_refusal)?;
        let claim_id = store::new_id();
        let inserted = claim::Entity::insert(claim::ActiveModel {
            id: Set(claim_id),
            lot_id: Set(l.id),
            refurbisher_id: Set(by.organisation_id),
            message: Set(new.message.clone()),
            proposed_pickup_date: Set(new.proposed_pickup_date),
            status: Set(ClaimStatus::Pending.as_str().to_owned()),
            created_by: Set(new.created_by),
            created_at: Set(store::now()),
            decided_at: Set(None),
        })
        .exec_without_returning(tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(ErrorCode::AlreadyClaimed));
            }
            Err(e) => return Err(e.into()),
        }
        body_event(
            tx,
            l.organisation_id,
            by,
            "lot_claimed",
            serde_json::json!({ "lot_id": l.id, "claim_id": claim_id, "refurbisher_id": by.organisation_id }),
        )
        .await?;
        if dom::accepted_at_once(policy, l.auto_accept) {
            let c = lots::find_claim(tx, claim_id).await?;
            // The platform accepts on the claimant's behalf.
            award(tx, &l, &c, by, None, today).await?;
        }
        lots::find_claim(tx, claim_id).await
    })
}

/// The public body accepts a claim: the lot and its devices are awarded, the other claims
/// rejected. With `selection`, only once the claim deadline has passed.
pub async fn accept_claim(cx: &AppState, by: &By, id: Uuid) -> ApiResult<claim::Model> {
    let today = cx.settings.today();
    write_tx!(&cx.db, |tx| {
        let lot_id = lots::find_claim(tx, id).await?.lot_id;
        let l = lots::lock(tx, lot_id).await?;
        let c = lots::lock_claim(tx, id).await?;
        award(tx, &l, &c, by, by.actor, today).await?;
        lots::find_claim(tx, id).await
    })
}

/// The public body rejects a pending claim.
pub async fn reject_claim(cx: &AppState, by: &By, id: Uuid) -> ApiResult<claim::Model> {
    close_claim(cx, by, id, "reject", "claim_rejected").await
}

/// The refurbisher takes back its pending claim.
pub async fn withdraw_claim(cx: &AppState, by: &By, id: Uuid) -> ApiResult<claim::Model> {
    close_claim(cx, by, id, "withdraw", "claim_withdrawn").await
}

async fn close_claim(
    cx: &AppState,
    by: &By,
    id: Uuid,
    transition: &'static str,
    kind: &'static str,
) -> ApiResult<claim::Model> {
    write_tx!(&cx.db, |tx| {
        let lot_id = lots::find_claim(tx, id).await?.lot_id;
        let l = lots::lock(tx, lot_id).await?;
        let c = lots::lock_claim(tx, id).await?;
        let to = dom::fire_claim(
            transition,
            lots::claim_status(&c)?,
            by.actor,
            ClaimFacts::default(),
        )
        .map_err(|r| claim_refusal(r, &l))?;
        claim::Entity::update_many()
            .col_expr(claim::Column::Status, Expr::value(to.as_str()))
            .col_expr(claim::Column::DecidedAt, Expr::value(Some(store::now())))
            .filter(claim::Column::Id.eq(id))
            .filter(claim::Column::Status.eq(ClaimStatus::Pending.as_str()))
            .exec(tx)
            .await?;
        body_event(
            tx,
            l.organisation_id,
            by,
            kind,
            serde_json::json!({ "lot_id": l.id, "claim_id": c.id }),
        )
        .await?;
        lots::find_claim(tx, id).await
    })
}

// ---------------------------------------------------------------------------------------------
// Collection.
// ---------------------------------------------------------------------------------------------

/// Records the collection of an awarded lot: the devices present pass into the refurbisher's
/// custody (and ownership in `to_refurbisher` mode) and become `collected`; missing ones return
/// to the inventory; the PV d'enlèvement, convention de cession and certificat de sortie are
/// queued.
pub async fn record_collection(
    cx: &AppState,
    by: &By,
    id: Uuid,
    input: &Collection,
) -> ApiResult<Collected> {
    write_tx!(&cx.db, |tx| {
        let l = lots::lock(tx, id).await?;
        let refurbisher = lots::winner(tx, &l).await?;
        let facts = LotFacts {
            has_devices: true,
            accepted_claim: refurbisher.is_some(),
        };
        let to =
            dom::fire_lot("collect", lots::status(&l)?, by.actor, facts).map_err(lot_refusal)?;
        let refurbisher = refurbisher.ok_or_else(|| ApiError::new(ErrorCode::Internal))?;
        let items = lots::items(tx, l.id).await?;
        for (i, missing) in input.missing_item_ids.iter().enumerate() {
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
        let transfer = lots::cession_mode(&l)? == CessionMode::ToRefurbisher;
        let handover_id = store::new_id();
        // Only the recorder's own signature: its side of the procès-verbal.
        let for_body = by.organisation_id == l.organisation_id;
        let side = |mine: bool, v: &String| if mine { v.clone() } else { String::new() };
        handover::Entity::insert(handover::ActiveModel {
            id: Set(handover_id),
            kind: Set("collection".to_owned()),
            lot_id: Set(Some(l.id)),
            from_organisation_id: Set(l.organisation_id),
            to_organisation_id: Set(refurbisher),
            occurred_on: Set(input.occurred_on),
            from_signatory_name: Set(side(for_body, &input.signatory.0)),
            from_signatory_role: Set(side(for_body, &input.signatory.1)),
            to_signatory_name: Set(side(!for_body, &input.signatory.0)),
            to_signatory_role: Set(side(!for_body, &input.signatory.1)),
            ownership_transferred: Set(transfer),
            notes: Set(input.notes.clone()),
            created_by: Set(by.actor_ref.clone()),
            created_at: Set(store::now()),
            signed_by_organisation_id: Set(by.is_admin().then_some(by.organisation_id)),
            signer_ref: Set(Some(by.actor_ref.clone())),
        })
        .exec_without_returning(tx)
        .await?;
        let (mut collected, mut missing) = (0u64, 0u64);
        for it in &items {
            let present = !input.missing_item_ids.contains(&it.id);
            handover_item::Entity::insert(handover_item::ActiveModel {
                handover_id: Set(handover_id),
                item_id: Set(it.id),
                present: Set(present),
            })
            .exec_without_returning(tx)
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
                    tx,
                    it,
                    "collect",
                    by,
                    &facts,
                    extra,
                    serde_json::json!({ "lot_id": l.id, "handover_id": handover_id, "from_organisation_id": l.organisation_id, "to_organisation_id": refurbisher, "ownership_transferred": transfer }),
                )
                .await?;
                collected += 1;
            } else {
                transitions::fire(
                    tx,
                    it,
                    "report_missing",
                    by,
                    &Facts::default(),
                    set_lot(None),
                    serde_json::json!({ "lot_id": l.id, "handover_id": handover_id }),
                )
                .await?;
                missing += 1;
            }
        }
        set_status(tx, &l, to, vec![]).await?;
        body_event(
            tx,
            l.organisation_id,
            by,
            "lot_collected",
            serde_json::json!({ "lot_id": l.id, "handover_id": handover_id, "collected": collected, "missing": missing }),
        )
        .await?;
        {
            use crate::documents::{Kind, Subject, enqueue};
            let s = Subject::Lot(l.id);
            enqueue(
                tx,
                &[
                    (Kind::PvEnlevement, s),
                    (Kind::ConventionCession, s),
                    (Kind::CertificatSortie, s),
                ],
            )
            .await?;
        }
        // Its devices are now expected supply: the associations they would serve are told.
        super::matching::announce_expected_supply(cx, tx, refurbisher, l.id).await?;
        Ok(Collected {
            handover_id,
            lot_id: l.id,
            collected,
            missing,
            ownership_transferred: transfer,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Partnerships.
// ---------------------------------------------------------------------------------------------

/// Declares a refurbisher partner of the body `by` acts for: it then sees the body's lots
/// published with `partners` visibility.
pub async fn create_partnership(
    cx: &AppState,
    by: &By,
    refurbisher_id: Uuid,
) -> ApiResult<(partnership::Model, organisation::Model)> {
    write_tx!(&cx.db, |tx| {
        let refurbisher = organisation::Entity::find_by_id(refurbisher_id)
            .one(tx)
            .await?
            .filter(|o| o.kind == OrganisationKind::Refurbisher.as_str())
            .ok_or_else(|| {
                ApiError::field("refurbisher_id", Invalid::InvalidFormat).detail(
                    "Aucun reconditionneur n'a cet identifiant.",
                    "No refurbisher has this id.",
                )
            })?;
        let p = partnership::Model {
            id: store::new_id(),
            public_body_id: by.organisation_id,
            refurbisher_id: refurbisher.id,
            created_at: store::now(),
        };
        let inserted = partnership::Entity::insert(partnership::ActiveModel {
            id: Set(p.id),
            public_body_id: Set(p.public_body_id),
            refurbisher_id: Set(p.refurbisher_id),
            created_at: Set(p.created_at),
        })
        .exec_without_returning(tx)
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
        crate::search::indexer::organisation_changed(tx, by.organisation_id).await?;
        body_event(
            tx,
            by.organisation_id,
            by,
            "partnership_created",
            serde_json::json!({ "partnership_id": p.id, "refurbisher_id": refurbisher.id }),
        )
        .await?;
        Ok((p, refurbisher))
    })
}

/// Ends a partnership.
pub async fn delete_partnership(cx: &AppState, by: &By, id: Uuid) -> ApiResult<()> {
    write_tx!(&cx.db, |tx| {
        let p = partnership::Entity::find_by_id(id)
            .lock_exclusive()
            .one(tx)
            .await?
            .ok_or_else(ApiError::not_found)?;
        partnership::Entity::delete_by_id(p.id).exec(tx).await?;
        crate::search::indexer::organisation_changed(tx, p.public_body_id).await?;
        body_event(
            tx,
            p.public_body_id,
            by,
            "partnership_ended",
            serde_json::json!({ "partnership_id": p.id, "refurbisher_id": p.refurbisher_id }),
        )
        .await
    })
}
