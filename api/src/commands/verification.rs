//! Writes of evidence-based verification: an organisation uploads its proofs, the operator decides
//! on each item of the checklist (or accepts every pending item at once with `verify`), and the
//! worker warns of expiring evidence and records its expiry. The organisation's status is derived
//! from the decisions: verified once every item that conditions its identity is accepted.

use chrono::NaiveDate;
use reemploi_domain::organisation::{self as org_dom, VerificationStatus};
use reemploi_domain::verification::{
    self as dom, CheckItem, DecisionInput, ExpiryNotice, ItemState, Outcome,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::By;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::messages::{self, EsusNotice};
use crate::state::AppState;
use crate::store::entities::{
    organisation, verification_decision, verification_document, verification_notice,
};
use crate::store::organisations::{find_organisation, lock_organisation, org_event};
use crate::store::outbox::{self, Topic};
use crate::store::tx::Tx;
use crate::store::verification as q;
use crate::store::{self, is_unique_violation};

/// Largest proof accepted (a scanned decree or statutes).
pub const MAX_EVIDENCE_BYTES: usize = 10 * 1024 * 1024;

fn stored_status(o: &organisation::Model) -> ApiResult<VerificationStatus> {
    VerificationStatus::parse(&o.status).ok_or_else(|| ApiError::new(ErrorCode::Internal))
}

fn not_for_operator(o: &organisation::Model) -> ApiResult<()> {
    if o.kind == org_dom::OrganisationKind::Operator.as_str() {
        return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
            "L'opérateur de la plateforme n'est pas soumis à vérification.",
            "The platform operator is not subject to verification.",
        ));
    }
    Ok(())
}

/// Moves the organisation to `to` (version bumped) when it is not there yet; answers whether it moved.
async fn set_status(tx: &Tx, o: &organisation::Model, to: VerificationStatus) -> ApiResult<bool> {
    if o.status == to.as_str() {
        return Ok(false);
    }
    let updated = organisation::Entity::update_many()
        .col_expr(organisation::Column::Status, Expr::value(to.as_str()))
        .col_expr(
            organisation::Column::StatusReason,
            Expr::value(Option::<String>::None),
        )
        .col_expr(organisation::Column::Version, Expr::value(o.version + 1))
        .col_expr(organisation::Column::UpdatedAt, Expr::value(store::now()))
        .filter(organisation::Column::Id.eq(o.id))
        .filter(organisation::Column::Version.eq(o.version))
        .exec(tx)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::new(ErrorCode::Conflict));
    }
    crate::search::indexer::organisation_changed(tx, o.id).await?;
    Ok(true)
}

/// The status the decisions give an organisation now (a suspension by the operator stays).
fn derived_status(current: VerificationStatus, items: &[q::ItemView]) -> VerificationStatus {
    match current {
        VerificationStatus::Suspended => VerificationStatus::Suspended,
        VerificationStatus::Pending | VerificationStatus::Verified => {
            if dom::identity_proven(&q::states(items)) {
                VerificationStatus::Verified
            } else {
                VerificationStatus::Pending
            }
        }
    }
}

/// An organisation uploads a PDF as proof of one item of its checklist. The file is stored as a
/// blob first (its own key: a retried transaction overwrites the same blob), hashed, then recorded.
pub async fn upload_document(
    cx: &AppState,
    by: &By,
    organisation_id: Uuid,
    item: CheckItem,
    file_name: Option<String>,
    bytes: Vec<u8>,
) -> ApiResult<verification_document::Model> {
    let current = find_organisation(&cx.db, organisation_id).await?;
    not_for_operator(&current)?;
    if !q::checklist(&current).iter().any(|c| c.item == item) {
        return Err(ApiError::field(
            "item",
            reemploi_domain::Invalid::NotAllowedForKind,
        ));
    }
    if bytes.len() > MAX_EVIDENCE_BYTES {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge).detail(
            "Le fichier dépasse 10 Mio.",
            "The file is larger than 10 MiB.",
        ));
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType)
            .detail("Le fichier n'est pas un PDF.", "The file is not a PDF."));
    }
    let id = store::new_id();
    let sha = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len() as i64;
    let key = format!("{organisation_id}/verification/{id}.pdf");
    cx.blobs
        .put(&key, bytes, "application/pdf")
        .await
        .map_err(|e| {
            tracing::error!(error = %e, organisation.id = %organisation_id, "evidence storage failed");
            ApiError::new(ErrorCode::Unavailable)
        })?;
    let by = by.clone();
    store::tx::write(&cx.db, async move |tx| {
        lock_organisation(tx, organisation_id).await?;
        verification_document::Entity::insert(verification_document::ActiveModel {
            id: Set(id),
            organisation_id: Set(organisation_id),
            item: Set(item.as_str().to_owned()),
            file_name: Set(file_name.clone()),
            blob_key: Set(key.clone()),
            sha256: Set(sha.clone()),
            bytes: Set(size),
            uploaded_by: Set(by.actor_ref.clone()),
            uploaded_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await?;
        org_event(
            tx,
            organisation_id,
            by.actor_ref.clone(),
            "verification_document_uploaded",
            serde_json::json!({
                "document_id": id, "item": item.as_str(), "sha256": sha, "bytes": size,
                "file_name": file_name,
            }),
        )
        .await?;
        verification_document::Entity::find_by_id(id)
            .one(tx)
            .await?
            .ok_or_else(ApiError::not_found)
    })
    .await
}

/// Inserts one decision about the value claimed now.
async fn insert_decision(
    tx: &Tx,
    o: &organisation::Model,
    subject: &str,
    d: &DecisionInput,
    by: &By,
) -> ApiResult<Uuid> {
    let id = store::new_id();
    verification_decision::Entity::insert(verification_decision::ActiveModel {
        id: Set(id),
        organisation_id: Set(o.id),
        item: Set(d.item.as_str().to_owned()),
        subject: Set(subject.to_owned()),
        outcome: Set(d.outcome.as_str().to_owned()),
        reason: Set(d
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)),
        decided_on: Set(d.decided_on),
        expires_on: Set(d.expires_on),
        decided_by: Set(by.actor_ref.clone()),
        created_at: Set(store::now()),
    })
    .exec_without_returning(tx)
    .await?;
    Ok(id)
}

/// The operator records its finding on one item. The organisation becomes verified when every
/// item that conditions its identity is accepted, and pending again when one is refused.
pub async fn decide(
    cx: &AppState,
    by: &By,
    organisation_id: Uuid,
    input: DecisionInput,
) -> ApiResult<organisation::Model> {
    let today = cx.settings.today();
    let by = by.clone();
    store::tx::write(&cx.db, async move |tx| {
        let o = lock_organisation(tx, organisation_id).await?;
        not_for_operator(&o)?;
        let list = q::checklist(&o);
        dom::check_decision(&list, &input, today)?;
        let subject = list
            .iter()
            .find(|c| c.item == input.item)
            .map(|c| c.subject.clone())
            .unwrap_or_default();
        let decision_id = insert_decision(tx, &o, &subject, &input, &by).await?;
        let from = stored_status(&o)?;
        let items = q::items(tx, &o, today).await?;
        let to = derived_status(from, &items);
        set_status(tx, &o, to).await?;
        org_event(
            tx,
            o.id,
            by.actor_ref.clone(),
            "verification_item_decided",
            serde_json::json!({
                "decision_id": decision_id, "item": input.item.as_str(),
                "outcome": input.outcome.as_str(), "reason": input.reason,
                "decided_on": input.decided_on, "expires_on": input.expires_on,
                "status_from": from.as_str(), "status_to": to.as_str(),
            }),
        )
        .await?;
        if from != to && to == VerificationStatus::Verified {
            org_event(
                tx,
                o.id,
                by.actor_ref.clone(),
                "organisation_verified",
                serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "reason": null }),
            )
            .await?;
        }
        find_organisation(tx, o.id).await
    })
    .await
}

/// `verify`, over the records: the operator accepts, dated today, every item still pending (the
/// ESUS accreditation until the expiry the organisation declared), and the organisation is
/// verified (a suspension is lifted). Refused items stay refused; if one conditions the
/// identity, 422 `verification_incomplete`. Expired evidence is not renewed by it.
pub async fn verify_all(
    cx: &AppState,
    by: &By,
    organisation_id: Uuid,
) -> ApiResult<organisation::Model> {
    let today = cx.settings.today();
    let by = by.clone();
    store::tx::write(&cx.db, async move |tx| {
        let o = lock_organisation(tx, organisation_id).await?;
        not_for_operator(&o)?;
        let from = stored_status(&o)?;
        let items = q::items(tx, &o, today).await?;
        if items
            .iter()
            .any(|i| i.claimed.item.conditions_identity() && i.state == ItemState::Refused)
        {
            return Err(ApiError::new(ErrorCode::VerificationIncomplete));
        }
        let pending: Vec<_> = items
            .iter()
            .filter(|i| i.state == ItemState::Pending)
            .collect();
        if from == VerificationStatus::Verified && pending.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                "Impossible depuis le statut « verified ».",
                "Not possible from status `verified`.",
            ));
        }
        let mut accepted = Vec::new();
        for i in &pending {
            let expires_on = if i.claimed.item.expires() {
                // Declared expiry, or one year when none was declared (never left open).
                Some(o.esus_expires_on.unwrap_or(today + chrono::Days::new(365)))
                    .filter(|e| *e > today)
            } else {
                None
            };
            if i.claimed.item.expires() && expires_on.is_none() {
                continue;
            }
            let input = DecisionInput {
                item: i.claimed.item,
                outcome: Outcome::Accepted,
                reason: Some("Vérification d'ensemble par l'opérateur".to_owned()),
                decided_on: today,
                expires_on,
            };
            insert_decision(tx, &o, &i.claimed.subject, &input, &by).await?;
            accepted.push(i.claimed.item.as_str());
        }
        let to = VerificationStatus::Verified;
        set_status(tx, &o, to).await?;
        org_event(
            tx,
            o.id,
            by.actor_ref.clone(),
            "organisation_verified",
            serde_json::json!({
                "from": from.as_str(), "to": to.as_str(), "reason": null, "accepted": accepted,
            }),
        )
        .await?;
        find_organisation(tx, o.id).await
    })
    .await
}

/// The items of `before` that were accepted and whose claimed value `after` changes: they are
/// pending again (their decision was about the old value).
pub fn reopened(before: &[q::ItemView], after: &organisation::Model) -> Vec<&'static str> {
    let now = q::checklist(after);
    before
        .iter()
        .filter(|b| b.state.is_accepted())
        .filter(|b| {
            !now.iter()
                .any(|n| n.item == b.claimed.item && n.subject == b.claimed.subject)
        })
        .map(|b| b.claimed.item.as_str())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Expiring evidence.

/// A scan that finds nothing to send rolls back (a write transaction must append an event).
fn nothing_to_do() -> ApiError {
    ApiError::new(ErrorCode::Conflict).detail("—", "nothing to do")
}

fn is_nothing_to_do(e: &ApiError) -> bool {
    e.code == ErrorCode::Conflict && e.detail_en.as_deref() == Some("nothing to do")
}

/// Whom an ESUS notice goes to, each in their language: the organisation's admins, and its
/// contact address (in French) when it is not one of theirs.
async fn notice_recipients(
    tx: &Tx,
    org: &organisation::Model,
) -> ApiResult<Vec<(String, crate::error::Lang)>> {
    use crate::store::entities::{membership, user};
    let admins: Vec<Uuid> = membership::Entity::find()
        .filter(membership::Column::OrganisationId.eq(org.id))
        .filter(membership::Column::Role.eq("admin"))
        .all(tx)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let mut to: Vec<(String, crate::error::Lang)> = user::Entity::find()
        .filter(user::Column::Id.is_in(admins))
        .all(tx)
        .await?
        .into_iter()
        .map(|u| (u.email, crate::mail::messages::lang_of(&u.language)))
        .collect();
    if let Some(e) = &org.contact_email
        && !to.iter().any(|(a, _)| a == e)
    {
        to.push((e.clone(), crate::error::Lang::Fr));
    }
    to.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(to)
}

/// The worker's scan of expiring evidence on `today`: for each accepted ESUS accreditation still
/// claimed, mails the admins 60 and 15 days ahead, and on the day after its last valid day
/// records its expiry (claims that need it are refused from then on; nothing else is suspended).
/// Each notice is sent once per decision (a unique row), whichever instance runs the scan.
/// Answers how many notices were sent.
pub async fn upkeep(db: &DatabaseConnection, today: NaiveDate) -> ApiResult<u64> {
    let candidates = verification_decision::Entity::find()
        .filter(verification_decision::Column::Item.eq(CheckItem::EsusAccreditation.as_str()))
        .filter(verification_decision::Column::Outcome.eq(Outcome::Accepted.as_str()))
        .filter(verification_decision::Column::ExpiresOn.lte(today + chrono::Days::new(60)))
        .all(db)
        .await?;
    let mut sent = 0;
    for d in candidates {
        let Some(expires_on) = d.expires_on else {
            continue;
        };
        let by = By::system(d.organisation_id);
        let outcome = write_tx!(db, |tx| {
            let o = lock_organisation(tx, d.organisation_id).await?;
            // Only the decision the organisation stands on now (not one replaced or reopened).
            let latest = q::latest_decisions(tx, o.id).await?;
            let current = q::checklist(&o)
                .into_iter()
                .find(|c| c.item == CheckItem::EsusAccreditation);
            let stands = latest
                .get(&CheckItem::EsusAccreditation)
                .is_some_and(|l| l.id == d.id)
                && current.is_some_and(|c| c.subject == d.subject);
            if !stands {
                return Err(nothing_to_do());
            }
            let already: Vec<ExpiryNotice> = verification_notice::Entity::find()
                .filter(verification_notice::Column::DecisionId.eq(d.id))
                .all(tx)
                .await?
                .iter()
                .filter_map(|n| {
                    ExpiryNotice::ALL
                        .into_iter()
                        .find(|k| k.as_str() == n.notice)
                })
                .collect();
            let Some(notice) = dom::notice_due(expires_on, today, &already) else {
                return Err(nothing_to_do());
            };
            let inserted = verification_notice::Entity::insert(verification_notice::ActiveModel {
                id: Set(store::new_id()),
                decision_id: Set(d.id),
                notice: Set(notice.as_str().to_owned()),
                created_at: Set(store::now()),
            })
            .exec_without_returning(tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(nothing_to_do()),
                Err(e) => return Err(e.into()),
            }
            for (to, lang) in notice_recipients(tx, &o).await? {
                let what = match notice {
                    ExpiryNotice::SixtyDays | ExpiryNotice::FifteenDays => EsusNotice::Expires,
                    ExpiryNotice::Expired => EsusNotice::Expired,
                };
                let mail = messages::esus_expiry(lang, &to, &o.name, what, expires_on);
                outbox::enqueue(tx, Topic::Mail, &mail).await?;
            }
            let kind = match notice {
                ExpiryNotice::SixtyDays | ExpiryNotice::FifteenDays => "verification_expiry_warned",
                ExpiryNotice::Expired => "verification_item_expired",
            };
            org_event(
                tx,
                o.id,
                by.actor_ref.clone(),
                kind,
                serde_json::json!({
                    "decision_id": d.id, "item": CheckItem::EsusAccreditation.as_str(),
                    "notice": notice.as_str(), "expires_on": expires_on,
                }),
            )
            .await?;
            Ok(notice)
        });
        match outcome {
            Ok(_) => sent += 1,
            Err(e) if is_nothing_to_do(&e) => {}
            Err(e) => {
                tracing::warn!(organisation.id = %d.organisation_id, error = ?e, "expiry notice failed");
            }
        }
    }
    Ok(sent)
}
