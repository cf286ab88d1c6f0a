//! Writes on documents: an electronic signature, a contest, the scan of the signed paper copy and
//! its attestation by a party, the deciding act of a lot, and issuing a document now. Each appends its event on the series' stream
//! (`document/<series>`) or the lot's, readable by the admins of a party; issuing a new version
//! appends `document_issued` in [`crate::documents::generate`].

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{By, write};
use crate::documents::{self, DocError, Kind, Method, Subject, document_stream};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{document, document_contest, document_signature, lot};
use crate::store::events::NewEvent;
use crate::store::{self, documents as docs, is_unique_violation};

/// Maps a failure of document generation to the problem a client sees.
pub fn doc_error(e: DocError) -> ApiError {
    match e {
        DocError::NotApplicable(why) => ApiError::new(ErrorCode::InvalidTransition).detail(
            "Ce document ne peut pas encore être établi pour cet objet.",
            format!("This document cannot be made for this subject yet: {why}."),
        ),
        DocError::Db(e) => e.into(),
        DocError::PublicUrl(why) => {
            tracing::error!(reason = %why, "document refused: REEMPLOI_PUBLIC_URL is not public");
            ApiError::new(ErrorCode::PublicUrlNotPublic).detail(
                format!("Les documents ne sont pas émis tant que REEMPLOI_PUBLIC_URL n'est pas une adresse publique ({why})."),
                format!("Documents are not issued while REEMPLOI_PUBLIC_URL is not a public address ({why})."),
            )
        }
        DocError::Render(msg) | DocError::Blob(msg) => {
            tracing::error!(error = %msg, "document generation failed");
            ApiError::new(ErrorCode::Unavailable)
        }
    }
}

/// Issues the current version of `kind` about `subject` (the existing one when nothing changed).
pub async fn generate(
    cx: &AppState,
    by: &By,
    kind: Kind,
    subject: Subject,
) -> ApiResult<document::Model> {
    documents::generate(
        &cx.db,
        &cx.documents(),
        kind,
        subject,
        cx.settings.today(),
        &by.actor_ref,
    )
    .await
    .map_err(doc_error)
}

/// What a signature records: the signer's own name and role, typed by the signer.
#[derive(Debug, Clone)]
pub struct Signature {
    pub signer_name: String,
    pub signer_role: String,
}

/// What a document is about, from its row.
fn subject_of(d: &document::Model) -> ApiResult<Subject> {
    match (d.handover_id, d.reservation_id, d.item_id, d.lot_id) {
        (Some(h), _, _, _) => Ok(Subject::Handover(h)),
        (None, Some(r), _, _) => Ok(Subject::Reservation(r)),
        (None, None, Some(i), _) => Ok(Subject::Item(i)),
        (None, None, None, Some(l)) => Ok(Subject::Lot(l)),
        _ => Err(ApiError::new(ErrorCode::Internal)),
    }
}

fn superseded() -> ApiError {
    ApiError::new(ErrorCode::DocumentSuperseded)
}

/// The version `id`, re-read inside the transaction, refused unless its content is the
/// series' current one (a superseded content is never signed, contested or attested).
async fn current_edition(tx: &super::Tx, id: Uuid) -> ApiResult<document::Model> {
    let d = docs::find(tx, id).await?;
    let newest = docs::lock_newest_of_series(tx, d.series_id).await?;
    if documents::edition_of(&newest) != documents::edition_of(&d) {
        return Err(superseded());
    }
    Ok(d)
}

/// Records a signature (electronic, or the attestation of the paper scan) of `by`'s
/// organisation on the edition of `d`, unless it already signed or contested it.
async fn record_signature(
    tx: &super::Tx,
    by: &By,
    d: &document::Model,
    signature: &Signature,
    method: Method,
) -> ApiResult<()> {
    let edition = documents::edition_of(d);
    let (states, _) = documents::edition_state(tx, d).await.map_err(doc_error)?;
    let mine = states
        .iter()
        .find(|p| p.party.organisation_id == by.organisation_id)
        .ok_or_else(ApiError::forbidden)?;
    if mine.signature.is_some() {
        return Err(ApiError::new(ErrorCode::Conflict).detail(
            "Votre organisation a déjà signé cette version du document.",
            "Your organisation already signed this version of the document.",
        ));
    }
    if mine.contest.is_some() {
        return Err(ApiError::new(ErrorCode::Conflict).detail(
            "Votre organisation a contesté cette version du document.",
            "Your organisation contested this version of the document.",
        ));
    }
    document_signature::Entity::insert(document_signature::ActiveModel {
        id: Set(store::new_id()),
        series_id: Set(d.series_id),
        organisation_id: Set(by.organisation_id),
        signer_name: Set(signature.signer_name.clone()),
        signer_role: Set(signature.signer_role.clone()),
        signed_by: Set(by.actor_ref.clone()),
        signed_at: Set(store::now()),
        document_id: Set(Some(d.id)),
        edition: Set(Some(edition)),
        method: Set(Some(method.as_str().to_owned())),
    })
    .exec_without_returning(tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::new(ErrorCode::Conflict).detail(
                "Votre organisation a déjà signé cette version du document.",
                "Your organisation already signed this version of the document.",
            )
        } else {
            e.into()
        }
    })?;
    let signed = documents::refresh_signed(tx, d).await.map_err(doc_error)?;
    // The name stays out of the hashed payload: the event refers to a person record.
    let signer = crate::store::people::record(
        tx,
        crate::store::people::user_of_actor(&by.actor_ref),
        Some(by.organisation_id),
        Some(&signature.signer_name),
        None,
    )
    .await?;
    tx.event(NewEvent {
        stream: document_stream(d.series_id),
        organisation_id: Some(by.organisation_id),
        actor: by.actor_ref.clone(),
        kind: "document_signed",
        payload: serde_json::json!({
            "document_id": d.id, "series_id": d.series_id, "edition": edition,
            "organisation_id": by.organisation_id, "method": method.as_str(),
            "signer": signer, "signer_role": signature.signer_role,
            "scan_sha256": if method == Method::PaperScan { d.scan_sha256.clone() } else { None },
            "signed": signed,
        }),
    })
    .await?;
    Ok(())
}

/// Issues the version that prints the signatures now given (the same edition), and returns it.
async fn reissue(cx: &AppState, by: &By, d: &document::Model) -> ApiResult<document::Model> {
    let kind = Kind::parse(&d.kind).ok_or_else(|| ApiError::new(ErrorCode::Internal))?;
    generate(cx, by, kind, subject_of(d)?).await
}

/// Records the electronic signature of `by`'s organisation (an admin of a party) on the
/// edition of `d`, then issues the version that prints it. Procès-verbaux too: the party that
/// did not record the handover confirms it this way.
pub async fn sign_document(
    cx: &AppState,
    by: &By,
    d: &document::Model,
    signature: Signature,
) -> ApiResult<document::Model> {
    let (by_owned, id) = (by.clone(), d.id);
    let signed = write(&cx.db, async move |tx| {
        let d = current_edition(tx, id).await?;
        record_signature(tx, &by_owned, &d, &signature, Method::Electronic).await?;
        Ok(d)
    })
    .await?;
    reissue(cx, by, &signed).await
}

/// A party's admin contests the edition of `d`, with its reason (recorded and shown; the
/// document stays unsigned for that party).
pub async fn contest_document(
    cx: &AppState,
    by: &By,
    id: Uuid,
    reason: String,
) -> ApiResult<document::Model> {
    let by = by.clone();
    write(&cx.db, async move |tx| {
        let d = current_edition(tx, id).await?;
        let (states, _) = documents::edition_state(tx, &d).await.map_err(doc_error)?;
        let mine = states
            .iter()
            .find(|p| p.party.organisation_id == by.organisation_id)
            .ok_or_else(ApiError::forbidden)?;
        if mine.signature.is_some() {
            return Err(ApiError::new(ErrorCode::Conflict).detail(
                "Votre organisation a signé cette version : elle ne peut plus la contester.",
                "Your organisation signed this version: it can no longer contest it.",
            ));
        }
        let edition = documents::edition_of(&d);
        document_contest::Entity::insert(document_contest::ActiveModel {
            id: Set(store::new_id()),
            document_id: Set(d.id),
            series_id: Set(d.series_id),
            edition: Set(Some(edition)),
            organisation_id: Set(by.organisation_id),
            reason: Set(reason.clone()),
            contested_by: Set(by.actor_ref.clone()),
            contested_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::new(ErrorCode::Conflict).detail(
                    "Votre organisation a déjà contesté cette version du document.",
                    "Your organisation already contested this version of the document.",
                )
            } else {
                e.into()
            }
        })?;
        tx.event(NewEvent {
            stream: document_stream(d.series_id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: "document_contested",
            payload: serde_json::json!({
                "document_id": d.id, "series_id": d.series_id, "edition": edition,
                "organisation_id": by.organisation_id, "reason": reason,
            }),
        })
        .await?;
        Ok(d)
    })
    .await
}

/// Keeps the scan of the signed paper copy beside a version: stored, hashed, verifiable, and
/// shown as «copie papier signée, déposée par …». It signs nothing by itself: each party's
/// admin attests it ([`attest_signed_scan`]), the uploading party included.
pub async fn upload_signed_scan(
    cx: &AppState,
    by: &By,
    d: &document::Model,
    bytes: Vec<u8>,
) -> ApiResult<document::Model> {
    use sha2::{Digest, Sha256};
    if !bytes.starts_with(b"%PDF-") {
        return Err(ApiError::new(ErrorCode::ValidationFailed)
            .detail("Le fichier n'est pas un PDF.", "The file is not a PDF."));
    }
    let sha = hex::encode(Sha256::digest(&bytes));
    let key = format!("documents/{}/{}-scan.pdf", d.series_id, d.id);
    // Stored first (under a key of its own, so a retried transaction overwrites the same blob).
    cx.blobs
        .put(&key, bytes, "application/pdf")
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "signed scan storage failed");
            ApiError::new(ErrorCode::Unavailable)
        })?;
    let (by, id, series_id) = (by.clone(), d.id, d.series_id);
    write(&cx.db, async move |tx| {
        let d = docs::find(tx, id).await?;
        if d.scan_sha256.is_some() {
            return Err(ApiError::new(ErrorCode::Conflict).detail(
                "Une copie papier signée a déjà été déposée pour cette version.",
                "A signed paper copy was already uploaded for this version.",
            ));
        }
        document::Entity::update_many()
            .col_expr(document::Column::ScanBlobKey, Expr::value(Some(key.clone())))
            .col_expr(document::Column::ScanSha256, Expr::value(Some(sha.clone())))
            .col_expr(
                document::Column::ScanUploadedBy,
                Expr::value(Some(by.actor_ref.clone())),
            )
            .col_expr(
                document::Column::ScanOrganisationId,
                Expr::value(Some(by.organisation_id)),
            )
            .col_expr(
                document::Column::ScanUploadedAt,
                Expr::value(Some(store::now())),
            )
            .filter(document::Column::Id.eq(id))
            .filter(document::Column::ScanSha256.is_null())
            .exec(tx)
            .await?;
        tx.event(NewEvent {
            stream: document_stream(series_id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: "signed_scan_uploaded",
            payload: serde_json::json!({ "document_id": id, "series_id": series_id, "sha256": sha, "organisation_id": by.organisation_id }),
        })
        .await?;
        docs::find(tx, id).await
    })
    .await
}

/// An admin of a party attests that the uploaded paper copy of `id` bears its signature (its
/// signer's own name and role): from then on it counts as that party's signature of the
/// edition, and the version that prints it is issued.
pub async fn attest_signed_scan(
    cx: &AppState,
    by: &By,
    id: Uuid,
    signature: Signature,
) -> ApiResult<document::Model> {
    let by_owned = by.clone();
    let attested = write(&cx.db, async move |tx| {
        let d = current_edition(tx, id).await?;
        if d.scan_sha256.is_none() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                "Aucune copie papier signée n'a été déposée pour cette version.",
                "No signed paper copy was uploaded for this version.",
            ));
        }
        record_signature(tx, &by_owned, &d, &signature, Method::PaperScan).await?;
        Ok(d)
    })
    .await?;
    reissue(cx, by, &attested).await
}

/// The act by which the public body decided the cession.
#[derive(Debug, Clone)]
pub struct Decision {
    /// `deliberation` or `decision`.
    pub kind: &'static str,
    pub reference: String,
    pub date: NaiveDate,
}

/// Records the deciding act of a lot (on the lot's stream), then issues the convention and the
/// certificat de sortie d'inventaire again, which print it (when they apply yet).
pub async fn set_lot_decision(
    cx: &AppState,
    by: &By,
    lot_id: Uuid,
    decision: Decision,
) -> ApiResult<()> {
    if decision.date > cx.settings.today() {
        return Err(ApiError::field(
            "date",
            reemploi_domain::Invalid::OutOfRange,
        ));
    }
    let (by_owned, kind, reference, date) = (
        by.clone(),
        decision.kind.to_owned(),
        decision.reference,
        decision.date,
    );
    write(&cx.db, async move |tx| {
        let l = docs::lock_lot(tx, lot_id).await?;
        lot::Entity::update_many()
            .col_expr(lot::Column::DecisionKind, Expr::value(Some(kind.clone())))
            .col_expr(
                lot::Column::DecisionReference,
                Expr::value(Some(reference.clone())),
            )
            .col_expr(lot::Column::DecisionDate, Expr::value(Some(date)))
            .filter(lot::Column::Id.eq(l.id))
            .exec(tx)
            .await?;
        tx.event(NewEvent {
            stream: format!("lot/{lot_id}"),
            organisation_id: Some(l.organisation_id),
            actor: by_owned.actor_ref.clone(),
            kind: "lot_decision_recorded",
            payload: serde_json::json!({ "lot_id": lot_id, "kind": kind, "reference": reference, "date": date }),
        })
        .await?;
        Ok(())
    })
    .await?;
    for kind in [Kind::ConventionCession, Kind::CertificatSortie] {
        match generate(cx, by, kind, Subject::Lot(lot_id)).await {
            Ok(_) => {}
            Err(e) if matches!(e.code, ErrorCode::InvalidTransition) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
