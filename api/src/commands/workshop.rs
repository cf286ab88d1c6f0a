//! Writes of the refurbisher's bench: sanitisation records and their tool reports, bench
//! results, publication to the catalogue, the operator's age override, and disposal. Only the
//! organisation holding a device records anything on it, checked inside the write.

use chrono::{DateTime, NaiveDate, Utc};
use reemploi_domain::item::StorageKind;
use reemploi_domain::lifecycle::{self, Facts, Grade, ItemStatus, Precondition, Refusal};
use reemploi_domain::text::LongText;
use reemploi_domain::workshop::{
    self as dom, BenchResult, DisposalChannel, ReportKind, SanitisationMethod,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::By;
use super::items::blob_error;
use super::transitions::{self, item_stream};
use super::write_owned;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::storage_medium;
use crate::store::entities::{disposal, item, refurbishment_record, sanitisation_record};
use crate::store::events::NewEvent;
use crate::store::items::{self, MediumDecl};
use crate::store::tx::Tx;
use crate::store::{self};

/// One sanitisation attempt, validated.
#[derive(Debug, Clone)]
pub struct NewSanitisation {
    pub medium_serial: String,
    pub medium_type: StorageKind,
    pub method: SanitisationMethod,
    pub tool: String,
    pub tool_version: String,
    pub verification_method: String,
    pub success: bool,
    pub operator_name: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub notes: Option<String>,
}

/// A bench result, validated.
#[derive(Debug, Clone)]
pub struct NewRefurbishment {
    /// Functional tests: name and whether it passed.
    pub tests: Vec<(String, bool)>,
    pub parts_replaced: Vec<String>,
    pub operating_system: Option<String>,
    pub grade: Grade,
    pub minutes_spent: Option<i32>,
    pub technician_name: String,
    pub notes: Option<String>,
    /// The storage media the technician found in the device; `None` keeps the declared ones.
    pub storage_media: Option<Vec<MediumDecl>>,
}

/// A disposal, validated.
#[derive(Debug, Clone)]
pub struct NewDisposal {
    pub channel: DisposalChannel,
    pub recycler_name: String,
    pub bsdd_number: Option<String>,
    pub weight_grams: i64,
    pub disposed_on: NaiveDate,
    pub notes: Option<String>,
}

/// Locks a device and checks that `by` holds it.
async fn lock_held(tx: &Tx, id: Uuid, by: &By) -> ApiResult<item::Model> {
    let m = items::lock_item(tx, id).await?;
    if m.custodian_id != by.organisation_id {
        return Err(ApiError::forbidden());
    }
    Ok(m)
}

fn stored_status(m: &item::Model) -> ApiResult<ItemStatus> {
    ItemStatus::parse(&m.status).ok_or_else(|| {
        tracing::error!(item.id = %m.id, status = %m.status, "unknown stored status");
        ApiError::new(ErrorCode::Internal)
    })
}

/// Records one sanitisation attempt on a device on the bench (collected or refurbished).
pub async fn record_sanitisation(
    db: &DatabaseConnection,
    by: &By,
    item_id: Uuid,
    s: &NewSanitisation,
) -> ApiResult<sanitisation_record::Model> {
    let org = by.organisation_id;
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let m = items::lock_item(tx, item_id).await?;
        if !dom::accepts_sanitisation(stored_status(&m)?) || m.custodian_id != org {
            return Err(ApiError::new(ErrorCode::ItemNotEditable).detail(
                format!("Les effacements s'enregistrent sur un équipement enlevé ou reconditionné (statut actuel : {}).", m.status),
                format!("Sanitisations are recorded on a collected or refurbished device (current status: {}).", m.status),
            ));
        }
        let record_id = store::new_id();
        sanitisation_record::Entity::insert(sanitisation_record::ActiveModel {
            id: Set(record_id),
            item_id: Set(m.id),
            organisation_id: Set(org),
            medium_serial: Set(s.medium_serial.clone()),
            medium_type: Set(s.medium_type.as_str().to_owned()),
            method: Set(s.method.as_str().to_owned()),
            tool: Set(s.tool.clone()),
            tool_version: Set(s.tool_version.clone()),
            verification_method: Set(s.verification_method.clone()),
            success: Set(s.success),
            operator_name: Set(s.operator_name.clone()),
            started_at: Set(s.started_at),
            ended_at: Set(s.ended_at),
            notes: Set(s.notes.clone()),
            report_blob_key: Set(None),
            rounds: Set(None),
            throughput_bytes_per_sec: Set(None),
            tool_status: Set(None),
            device_name: Set(None),
            created_by: Set(by.actor_ref.clone()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await?;
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "sanitisation_recorded",
            payload: serde_json::json!({
                "organisation_id": org,
                "record_id": record_id,
                "medium_serial": s.medium_serial,
                "method": s.method.as_str(),
                "tool": s.tool,
                "success": s.success,
            }),
        })
        .await?;
        items::find_sanitisation(tx, m.id, record_id).await
    })
    .await
}

/// Attaches the erasure tool's own report (PDF or text log) to a sanitisation record, replacing
/// an earlier one. The blob is written first and removed if the write fails; the replaced blob
/// is removed after the commit.
pub async fn attach_sanitisation_report(
    state: &AppState,
    by: &By,
    item_id: Uuid,
    record_id: Uuid,
    bytes: Vec<u8>,
) -> ApiResult<sanitisation_record::Model> {
    let kind = ReportKind::sniff(&bytes).ok_or_else(|| {
        ApiError::new(ErrorCode::UnsupportedMediaType).detail(
            "Le rapport doit être un PDF ou un journal texte (UTF-8).",
            "The report must be a PDF or a text log (UTF-8).",
        )
    })?;
    let org = by.organisation_id;
    let key = format!(
        "{org}/sanitisation-reports/{record_id}-{}.{}",
        store::new_id(),
        kind.extension()
    );
    state
        .blobs
        .put(&key, bytes, kind.content_type())
        .await
        .map_err(blob_error)?;
    let new_key = key.as_str();
    let saved = write_owned(&state.db, |tx| async move {
        let tx = &*tx;
        let m = lock_held(tx, item_id, by).await?;
        let record = items::find_sanitisation(tx, m.id, record_id).await?;
        sanitisation_record::Entity::update_many()
            .col_expr(
                sanitisation_record::Column::ReportBlobKey,
                Expr::value(Some(new_key.to_owned())),
            )
            .filter(sanitisation_record::Column::Id.eq(record.id))
            .exec(tx)
            .await?;
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "sanitisation_report_attached",
            payload: serde_json::json!({ "organisation_id": org, "record_id": record.id }),
        })
        .await?;
        let updated = items::find_sanitisation(tx, m.id, record.id).await?;
        Ok((record.report_blob_key, updated))
    })
    .await;
    match saved {
        Ok((old, updated)) => {
            if let Some(old) = old {
                let _ = state.blobs.delete(&old).await;
            }
            Ok(updated)
        }
        Err(e) => {
            let _ = state.blobs.delete(&key).await;
            Err(e)
        }
    }
}

/// Records a bench result. A collected device becomes `refurbished`; on a refurbished device
/// only the grade changes.
pub async fn record_refurbishment(
    db: &DatabaseConnection,
    by: &By,
    item_id: Uuid,
    r: &NewRefurbishment,
) -> ApiResult<refurbishment_record::Model> {
    let org = by.organisation_id;
    let grade = dom::grade_as_str(r.grade);
    let tests = serde_json::to_string(&r.tests).map_err(anyhow::Error::from)?;
    let parts = serde_json::to_string(&r.parts_replaced).map_err(anyhow::Error::from)?;
    let (tests, parts) = (tests.as_str(), parts.as_str());
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let m = lock_held(tx, item_id, by).await?;
        if let Some(media) = &r.storage_media {
            declare_media_in(tx, &m, by, media, dom::MediumSource::Refurbishment, false).await?;
        }
        let record_id = store::new_id();
        refurbishment_record::Entity::insert(refurbishment_record::ActiveModel {
            id: Set(record_id),
            item_id: Set(m.id),
            organisation_id: Set(org),
            tests: Set(tests.to_owned()),
            parts_replaced: Set(parts.to_owned()),
            operating_system: Set(r.operating_system.clone()),
            grade: Set(grade.to_owned()),
            minutes_spent: Set(r.minutes_spent),
            technician_name: Set(r.technician_name.clone()),
            notes: Set(r.notes.clone()),
            created_by: Set(by.actor_ref.clone()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await?;
        match dom::bench_result(stored_status(&m)?) {
            BenchResult::Regrade => {
                item::Entity::update_many()
                    .col_expr(item::Column::Grade, Expr::value(Some(grade)))
                    .col_expr(item::Column::Version, Expr::value(m.version + 1))
                    .filter(item::Column::Id.eq(m.id))
                    .filter(item::Column::Version.eq(m.version))
                    .exec(tx)
                    .await?;
                tx.event(NewEvent {
                    stream: item_stream(m.id),
                    organisation_id: Some(org),
                    actor: by.actor_ref.clone(),
                    kind: "grade_updated",
                    payload: serde_json::json!({ "organisation_id": org, "record_id": record_id, "grade": grade }),
                })
                .await?;
            }
            BenchResult::Refurbish => {
                let facts = Facts {
                    grade: Some(r.grade),
                    ..Facts::default()
                };
                transitions::fire(
                    tx,
                    &m,
                    "refurbish",
                    by,
                    &facts,
                    vec![(item::Column::Grade, Expr::value(Some(grade)))],
                    serde_json::json!({ "record_id": record_id, "grade": grade }),
                )
                .await?;
            }
        }
        items::find_refurbishment(tx, record_id).await
    })
    .await
}

/// Replaces the storage media `m` declares and appends `storage_media_declared` with what was
/// added and removed; with `always`, the event is appended even when nothing changed (the
/// declaration is then a confirmation).
async fn declare_media_in(
    tx: &Tx,
    m: &item::Model,
    by: &By,
    media: &[MediumDecl],
    source: dom::MediumSource,
    always: bool,
) -> ApiResult<()> {
    items::check_media(media, "storage_media").map_err(ApiError::from)?;
    let (added, removed) =
        items::replace_storage_media(tx, m.id, media, source, &by.actor_ref, store::now()).await?;
    if always || !added.is_empty() || !removed.is_empty() {
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: "storage_media_declared",
            payload: serde_json::json!({
                "organisation_id": by.organisation_id,
                "source": source.as_str(),
                "media": items::media_serials(media),
                "added": added,
                "removed": removed,
            }),
        })
        .await?;
    }
    Ok(())
}

/// Declares the storage media of a device held by `by` (replacing the declared list), while it
/// is in its body's inventory or on the bench: publication then needs a successful
/// sanitisation of each of them. A published, reserved or given device keeps its media.
pub async fn declare_storage_media(
    db: &DatabaseConnection,
    by: &By,
    item_id: Uuid,
    media: &[MediumDecl],
) -> ApiResult<Vec<storage_medium::Model>> {
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let m = lock_held(tx, item_id, by).await?;
        let status = stored_status(&m)?;
        if !dom::accepts_media_declaration(status) {
            return Err(ApiError::new(ErrorCode::ItemNotEditable).detail(
                format!("Les supports de stockage se déclarent à l'inventaire ou à l'atelier, avant la publication (statut actuel : {}).", m.status),
                format!("Storage media are declared in the inventory or on the bench, before publication (current status: {}).", m.status),
            ));
        }
        if !m.has_data_storage && !media.is_empty() {
            return Err(ApiError::field("storage_media", reemploi_domain::Invalid::NotAllowedForKind).detail(
                "Cet équipement est déclaré sans stockage de données : corrigez d'abord sa fiche.",
                "This device is declared without data storage: correct its record first.",
            ));
        }
        declare_media_in(tx, &m, by, media, dom::MediumSource::Bench, true).await?;
        Ok(items::storage_media(tx, m.id).await?)
    })
    .await
}

/// Why publication is refused on storage grounds, naming each declared medium that is not
/// sanitised and how it stands, so that the bench knows which disk to wipe again.
async fn storage_refusal(tx: &Tx, item_id: Uuid, unmet: &[Precondition]) -> ApiResult<ApiError> {
    let media = items::storage_media(tx, item_id).await?;
    let records = items::sanitisations(tx, item_id).await?;
    let states = items::media_states(&media, &records);
    let codes: Vec<&str> = unmet.iter().map(|p| p.code()).collect();
    let codes = codes.join(", ");
    let (mut fr, mut en) = (Vec::new(), Vec::new());
    for (medium, state) in media.iter().zip(states) {
        let (why_fr, why_en) = match state {
            dom::MediumState::Sanitised => continue,
            dom::MediumState::NotSufficient => (
                "dernier effacement en échec ou insuffisant",
                "latest sanitisation failed or not sufficient",
            ),
            dom::MediumState::NotSanitised => {
                ("aucun effacement enregistré", "no sanitisation recorded")
            }
        };
        fr.push(format!("{} ({why_fr})", medium.serial));
        en.push(format!("{} ({why_en})", medium.serial));
    }
    let (fr, en) = if media.is_empty() {
        (
            "Déclarez les supports de stockage de l'équipement (PUT /v1/items/{id}/storage-media ou fiche d'atelier), puis effacez chacun.".to_owned(),
            "Declare the device's storage media (PUT /v1/items/{id}/storage-media or the bench record), then sanitise each.".to_owned(),
        )
    } else {
        (
            format!("Supports à effacer : {}.", fr.join(", ")),
            format!("Media to sanitise: {}.", en.join(", ")),
        )
    };
    Ok(ApiError::new(ErrorCode::PreconditionsUnmet).detail(
        format!("« publish » : conditions non remplies : {codes}. {fr}"),
        format!("`publish`: unmet preconditions: {codes}. {en}"),
    ))
}

/// The facts of the life-cycle table for a device on the bench.
async fn bench_facts(tx: &Tx, m: &item::Model, today: NaiveDate) -> ApiResult<Facts> {
    let (declared, sanitised) = items::storage_facts(tx, m.id).await?;
    Ok(Facts {
        grade: m.grade.as_deref().and_then(dom::parse_grade),
        has_data_storage: m.has_data_storage,
        storage_media_declared: declared,
        storage_sanitised: sanitised,
        acquisition_date: m.acquisition_date,
        today: Some(today),
        age_override: m.age_override_reason.is_some(),
        ..Facts::default()
    })
}

/// Publishes a refurbished device to the catalogue (`available`) when the table's
/// preconditions hold; a device over 10 years old answers `too_old_for_reuse` (loi REEN
/// art. 16, décret 2023-266). A device with storage gets its erasure certificate queued.
pub async fn publish_item(
    db: &DatabaseConnection,
    by: &By,
    item_id: Uuid,
    today: NaiveDate,
) -> ApiResult<item::Model> {
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let m = lock_held(tx, item_id, by).await?;
        let facts = bench_facts(tx, &m, today).await?;
        let verdict = lifecycle::fire("publish", stored_status(&m)?, by.actor, &facts);
        let too_old = matches!(
            verdict,
            Err(Refusal::Unmet { ref preconditions, .. }) if preconditions.contains(&Precondition::AtMostTenYearsOld)
        );
        if let Err(Refusal::Unmet { preconditions, .. }) = &verdict
            && !too_old
            && preconditions.iter().any(|p| {
                matches!(p, Precondition::StorageMediaDeclared | Precondition::StorageSanitised)
            })
        {
            return Err(storage_refusal(tx, m.id, preconditions).await?);
        }
        if too_old {
            return Err(ApiError::new(ErrorCode::TooOldForReuse).detail(
                "Équipement de plus de 10 ans : il relève de la filière de recyclage (loi REEN art. 16, décret 2023-266). Un opérateur peut accorder une dérogation motivée.",
                "Device over 10 years old: it belongs to the recycling route (loi REEN art. 16, décret 2023-266). An operator may grant a reasoned exception.",
            ));
        }
        transitions::fire(tx, &m, "publish", by, &facts, vec![], serde_json::json!({})).await?;
        let updated = items::find_item(tx, item_id).await?;
        if updated.has_data_storage {
            crate::documents::enqueue(
                tx,
                &[(
                    crate::documents::Kind::CertificatEffacement,
                    crate::documents::Subject::Item(updated.id),
                )],
            )
            .await?;
        }
        Ok(updated)
    })
    .await
}

/// Withdraws a device from the catalogue (`available` → `refurbished`).
pub async fn unpublish_item(
    db: &DatabaseConnection,
    by: &By,
    item_id: Uuid,
) -> ApiResult<item::Model> {
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let m = lock_held(tx, item_id, by).await?;
        transitions::fire(
            tx,
            &m,
            "unpublish",
            by,
            &Facts::default(),
            vec![],
            serde_json::json!({}),
        )
        .await?;
        items::find_item(tx, item_id).await
    })
    .await
}

/// The operator records why a device over 10 years old may still be published.
pub async fn override_item_age(
    db: &DatabaseConnection,
    by: &By,
    item_id: Uuid,
    reason: &LongText,
) -> ApiResult<item::Model> {
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let m = items::lock_item(tx, item_id).await?;
        item::Entity::update_many()
            .col_expr(
                item::Column::AgeOverrideReason,
                Expr::value(Some(reason.as_str().to_owned())),
            )
            .col_expr(item::Column::Version, Expr::value(m.version + 1))
            .filter(item::Column::Id.eq(m.id))
            .exec(tx)
            .await?;
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: None,
            actor: by.actor_ref.clone(),
            kind: "age_override_granted",
            payload: serde_json::json!({ "reason": reason.as_str() }),
        })
        .await?;
        items::find_item(tx, item_id).await
    })
    .await
}

/// Sends a device to recycling (`recycled`, final) and records the disposal. A collected
/// device stays in its lot ([`dom::disposal_route`]).
pub async fn dispose_item(
    db: &DatabaseConnection,
    by: &By,
    item_id: Uuid,
    d: &NewDisposal,
) -> ApiResult<disposal::Model> {
    let org = by.organisation_id;
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let m = lock_held(tx, item_id, by).await?;
        let route = dom::disposal_route(stored_status(&m)?);
        let disposal_id = store::new_id();
        let extra = if route.leaves_lot {
            vec![(item::Column::LotId, Expr::value(Option::<Uuid>::None))]
        } else {
            vec![]
        };
        transitions::fire(
            tx,
            &m,
            route.transition,
            by,
            &Facts::default(),
            extra,
            serde_json::json!({ "disposal_id": disposal_id, "channel": d.channel.as_str(), "recycler": d.recycler_name, "weight_grams": d.weight_grams }),
        )
        .await?;
        disposal::Entity::insert(disposal::ActiveModel {
            id: Set(disposal_id),
            item_id: Set(m.id),
            organisation_id: Set(org),
            channel: Set(d.channel.as_str().to_owned()),
            recycler_name: Set(d.recycler_name.clone()),
            bsdd_number: Set(d.bsdd_number.clone()),
            weight_grams: Set(d.weight_grams),
            disposed_on: Set(d.disposed_on),
            notes: Set(d.notes.clone()),
            created_by: Set(by.actor_ref.clone()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await?;
        items::find_disposal(tx, disposal_id).await
    })
    .await
}
