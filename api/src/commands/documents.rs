//! Writes on documents: an electronic signature, the scan of the signed paper copy, the deciding
//! act of a lot, and issuing a document now. Each appends its event on the series' stream
//! (`document/<series>`) or the lot's, readable by the admins of a party; issuing a new version
//! appends `document_issued` in [`crate::documents::generate`].

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{By, write};
use crate::documents::{self, DocError, Kind, Subject, document_stream};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{document, document_signature, lot};
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

/// What a signature records.
#[derive(Debug, Clone)]
pub struct Signature {
    pub signer_name: String,
    pub signer_role: String,
}

/// Records the signature of `by`'s organisation on a document's series, then issues the new
/// version with the signature block filled. A procès-verbal is signed at the handover instead.
pub async fn sign_document(
    cx: &AppState,
    by: &By,
    d: &document::Model,
    signature: Signature,
) -> ApiResult<document::Model> {
    let kind = Kind::parse(&d.kind).ok_or_else(|| ApiError::new(ErrorCode::Internal))?;
    if matches!(kind, Kind::PvEnlevement | Kind::PvRemise) {
        return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
            "Un procès-verbal porte les signatures recueillies lors de la remise.",
            "A procès-verbal carries the signatures taken at the handover.",
        ));
    }
    let subject = match (d.reservation_id, d.item_id, d.lot_id) {
        (Some(r), _, _) => Subject::Reservation(r),
        (None, Some(i), _) => Subject::Item(i),
        (None, None, Some(l)) => Subject::Lot(l),
        _ => return Err(ApiError::new(ErrorCode::Internal)),
    };
    let (by_owned, series_id, document_id) = (by.clone(), d.series_id, d.id);
    write(&cx.db, async move |tx| {
        let by = &by_owned;
        document_signature::Entity::insert(document_signature::ActiveModel {
            id: Set(store::new_id()),
            series_id: Set(series_id),
            organisation_id: Set(by.organisation_id),
            signer_name: Set(signature.signer_name.clone()),
            signer_role: Set(signature.signer_role.clone()),
            signed_by: Set(by.actor_ref.clone()),
            signed_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::new(ErrorCode::Conflict).detail(
                    "Votre organisation a déjà signé ce document.",
                    "Your organisation already signed this document.",
                )
            } else {
                e.into()
            }
        })?;
        tx.event(NewEvent {
            stream: document_stream(series_id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: "document_signed",
            payload: serde_json::json!({
                "document_id": document_id, "series_id": series_id,
                "organisation_id": by.organisation_id,
                "signer_name": signature.signer_name, "signer_role": signature.signer_role,
            }),
        })
        .await?;
        Ok(())
    })
    .await?;
    generate(cx, by, kind, subject).await
}

/// Keeps the scan of the signed paper copy beside a document; it then counts as signed.
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
        document::Entity::update_many()
            .col_expr(document::Column::ScanBlobKey, Expr::value(Some(key.clone())))
            .col_expr(document::Column::ScanSha256, Expr::value(Some(sha.clone())))
            .col_expr(
                document::Column::ScanUploadedBy,
                Expr::value(Some(by.actor_ref.clone())),
            )
            .filter(document::Column::Id.eq(id))
            .exec(tx)
            .await?;
        tx.event(NewEvent {
            stream: document_stream(series_id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: "signed_scan_uploaded",
            payload: serde_json::json!({ "document_id": id, "series_id": series_id, "sha256": sha }),
        })
        .await?;
        docs::find(tx, id).await
    })
    .await
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
