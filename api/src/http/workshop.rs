//! The refurbisher's bench: sanitisation and refurbishment records, publication to the catalogue,
//! the operator's age override, disposal to recycling, and the workshop's counts. Only the
//! organisation that has custody of a device records anything on it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::item::StorageKind as DomStorageKind;
use reemploi_domain::lifecycle::{
    Facts, Grade as DomGrade, ItemStatus as DomStatus, Precondition, Refusal,
};
use reemploi_domain::text::{LongText, Name, Text};
use reemploi_domain::workshop::{
    self as dom, DisposalChannel as DomChannel, MediumAttempt, SanitisationMethod as DomMethod,
};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::{ItemResponse, ItemStatus, StorageKind, find_item, related_orgs};
use super::transitions::{self, By};
use super::types::{ApiTags, Created, Str, mirror_enum};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{disposal, item, refurbishment_record, sanitisation_record};
use crate::store::{self, begin_write};

mirror_enum!(
    /// Sanitisation method (NIST SP 800-88). Only `purge`, `crypto_erase` and `destroy` allow re-use.
    SanitisationMethod <=> DomMethod { Clear, Purge, CryptoErase, Destroy }
);
mirror_enum!(
    /// Where a disposed device goes.
    DisposalChannel <=> DomChannel { EcoOrganisme, ApprovedRecycler }
);
/// Grade after refurbishment: A (as new), B (signs of use), C (works, visible wear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
pub enum Grade {
    A,
    B,
    C,
}

impl From<Grade> for DomGrade {
    fn from(g: Grade) -> Self {
        match g {
            Grade::A => DomGrade::A,
            Grade::B => DomGrade::B,
            Grade::C => DomGrade::C,
        }
    }
}

impl From<DomGrade> for Grade {
    fn from(g: DomGrade) -> Self {
        match g {
            DomGrade::A => Grade::A,
            DomGrade::B => Grade::B,
            DomGrade::C => Grade::C,
        }
    }
}

fn grade_str(g: DomGrade) -> &'static str {
    match g {
        DomGrade::A => "A",
        DomGrade::B => "B",
        DomGrade::C => "C",
    }
}

fn parse_grade(s: &str) -> Option<DomGrade> {
    match s {
        "A" => Some(DomGrade::A),
        "B" => Some(DomGrade::B),
        "C" => Some(DomGrade::C),
        _ => None,
    }
}

/// One sanitisation of one storage medium.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SanitisationRequest {
    /// Serial number of the medium (disk, SSD, eMMC…).
    #[oai(validator(max_length = 100))]
    pub medium_serial: Str,
    pub medium_type: StorageKind,
    pub method: SanitisationMethod,
    /// Tool used (nwipe, Blancco Drive Eraser, hdparm…).
    #[oai(validator(max_length = 100))]
    pub tool: Str,
    #[oai(validator(max_length = 50))]
    pub tool_version: Str,
    /// How the result was verified (full read-back, sampling…).
    #[oai(validator(max_length = 200))]
    pub verification_method: Str,
    /// Whether the sanitisation and its verification succeeded.
    pub success: bool,
    /// Who ran it.
    #[oai(validator(max_length = 200))]
    pub operator_name: Str,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    #[oai(nullable, validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// A sanitisation record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SanitisationResponse {
    pub id: Uuid,
    pub item_id: Uuid,
    pub organisation_id: Uuid,
    pub medium_serial: String,
    pub medium_type: String,
    pub method: SanitisationMethod,
    pub tool: String,
    pub tool_version: String,
    pub verification_method: String,
    pub success: bool,
    pub operator_name: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub notes: Option<String>,
    /// Expiring signed URL of the attached tool report (nwipe log or PDF), if any.
    pub report_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<sanitisation_record::Model> for SanitisationResponse {
    fn from(m: sanitisation_record::Model) -> Self {
        Self {
            id: m.id,
            item_id: m.item_id,
            organisation_id: m.organisation_id,
            medium_serial: m.medium_serial,
            medium_type: m.medium_type,
            method: DomMethod::parse(&m.method)
                .unwrap_or(DomMethod::Clear)
                .into(),
            tool: m.tool,
            tool_version: m.tool_version,
            verification_method: m.verification_method,
            success: m.success,
            operator_name: m.operator_name,
            started_at: m.started_at,
            ended_at: m.ended_at,
            notes: m.notes,
            report_url: None,
            created_at: m.created_at,
        }
    }
}

/// A record as answered, with a signed URL for its report.
async fn sanitisation_response(
    state: &AppState,
    m: sanitisation_record::Model,
) -> ApiResult<SanitisationResponse> {
    let report_url = match &m.report_blob_key {
        Some(key) => Some(
            state
                .blobs
                .signed_url(key, state.settings.blob_url_ttl_secs)
                .await
                .map_err(super::photos::blob_error)?,
        ),
        None => None,
    };
    Ok(SanitisationResponse {
        report_url,
        ..m.into()
    })
}

/// A tool report to attach to a sanitisation record.
#[derive(Debug, poem_openapi::Multipart)]
pub struct ReportUpload {
    /// The tool's report: a PDF, or a text log (nwipe), at most 10 MB.
    pub file: poem_openapi::types::multipart::Upload,
}

/// One functional test.
#[derive(Debug, Clone, Object)]
pub struct FunctionalTest {
    /// What was tested (`boot`, `display`, `keyboard`, `battery`, `ports`, `network`, `camera`…).
    #[oai(validator(max_length = 50))]
    pub name: Str,
    pub passed: bool,
}

/// The result of the bench: tests, parts, system, grade.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RefurbishmentRequest {
    #[oai(validator(min_items = 1, max_items = 40))]
    pub tests: Vec<FunctionalTest>,
    #[oai(default, validator(max_items = 30))]
    pub parts_replaced: Vec<Str>,
    #[oai(nullable, validator(max_length = 100))]
    pub operating_system: Option<Str>,
    pub grade: Grade,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "6000")))]
    pub minutes_spent: Option<i32>,
    #[oai(validator(max_length = 200))]
    pub technician_name: Str,
    #[oai(nullable, validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// A refurbishment record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RefurbishmentResponse {
    pub id: Uuid,
    pub item_id: Uuid,
    pub tests: Vec<TestResult>,
    pub parts_replaced: Vec<String>,
    pub operating_system: Option<String>,
    pub grade: Grade,
    pub minutes_spent: Option<i32>,
    pub technician_name: String,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One functional test, as recorded.
#[derive(Debug, Clone, Object)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
}

impl From<refurbishment_record::Model> for RefurbishmentResponse {
    fn from(m: refurbishment_record::Model) -> Self {
        let tests: Vec<(String, bool)> = serde_json::from_str(&m.tests).unwrap_or_default();
        Self {
            id: m.id,
            item_id: m.item_id,
            tests: tests
                .into_iter()
                .map(|(name, passed)| TestResult { name, passed })
                .collect(),
            parts_replaced: serde_json::from_str(&m.parts_replaced).unwrap_or_default(),
            operating_system: m.operating_system,
            grade: parse_grade(&m.grade).unwrap_or(DomGrade::C).into(),
            minutes_spent: m.minutes_spent,
            technician_name: m.technician_name,
            notes: m.notes,
            created_at: m.created_at,
        }
    }
}

/// The bench records of a device.
#[derive(Debug, Clone, Object)]
pub struct WorkshopRecords {
    pub sanitisations: Vec<SanitisationResponse>,
    pub refurbishments: Vec<RefurbishmentResponse>,
    /// Whether every medium's latest sanitisation succeeded with a method allowing re-use.
    pub storage_sanitised: bool,
}

/// Why the operator allows re-use of a device over 10 years old.
#[derive(Debug, Clone, Object)]
pub struct AgeOverrideRequest {
    #[oai(validator(max_length = 1000))]
    pub reason: Str,
}

/// A device sent to recycling.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DisposalRequest {
    pub channel: DisposalChannel,
    /// The eco-organisation or recycler.
    #[oai(validator(max_length = 200))]
    pub recycler_name: Str,
    /// Hazardous-waste slip (BSDD) number, when there is one.
    #[oai(nullable, validator(max_length = 40))]
    pub bsdd_number: Option<Str>,
    #[oai(validator(minimum(value = "0.001"), maximum(value = "2000")))]
    pub weight_kg: f64,
    pub disposed_on: NaiveDate,
    #[oai(nullable, validator(max_length = 2000))]
    pub notes: Option<Str>,
}

/// A disposal.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DisposalResponse {
    pub id: Uuid,
    pub item_id: Uuid,
    pub organisation_id: Uuid,
    pub channel: DisposalChannel,
    pub recycler_name: String,
    pub bsdd_number: Option<String>,
    pub weight_kg: f64,
    pub disposed_on: NaiveDate,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// How many devices of a status the workshop holds.
#[derive(Debug, Clone, Object)]
pub struct StatusCount {
    pub status: ItemStatus,
    pub count: u64,
}

/// The devices in a refurbisher's custody, by status.
#[derive(Debug, Clone, Object)]
pub struct Workshop {
    pub organisation_id: Uuid,
    pub total: u64,
    pub by_status: Vec<StatusCount>,
}

fn text<const MAX: usize>(errors: &mut FieldErrors, field: &str, v: &str) -> Option<String> {
    errors
        .check(field, Text::<MAX>::parse(v))
        .map(|t| t.into_inner())
}

fn optional<const MAX: usize>(
    errors: &mut FieldErrors,
    field: &str,
    v: Option<&Str>,
) -> Option<String> {
    errors
        .check(field, Text::<MAX>::parse_optional(v.map(|s| &**s)))
        .flatten()
        .map(|t| t.into_inner())
}

pub(crate) async fn attempts<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
) -> ApiResult<Vec<sanitisation_record::Model>> {
    Ok(sanitisation_record::Entity::find()
        .filter(sanitisation_record::Column::ItemId.eq(item_id))
        .order_by_asc(sanitisation_record::Column::Id)
        .all(db)
        .await?)
}

pub(crate) fn sanitised(records: &[sanitisation_record::Model]) -> bool {
    let attempts: Vec<MediumAttempt<'_>> = records
        .iter()
        .map(|r| MediumAttempt {
            medium_serial: &r.medium_serial,
            method: DomMethod::parse(&r.method).unwrap_or(DomMethod::Clear),
            success: r.success,
            ended_at: r.ended_at,
        })
        .collect();
    dom::storage_sanitised(&attempts)
}

/// The facts of the life-cycle table for a device on the bench.
async fn bench_facts<C: ConnectionTrait>(
    db: &C,
    m: &item::Model,
    today: NaiveDate,
) -> ApiResult<Facts> {
    let records = attempts(db, m.id).await?;
    Ok(Facts {
        grade: m.grade.as_deref().and_then(parse_grade),
        has_data_storage: m.has_data_storage,
        storage_sanitised: sanitised(&records),
        acquisition_date: m.acquisition_date,
        today: Some(today),
        age_override: m.age_override_reason.is_some(),
        ..Facts::default()
    })
}

fn custody_by(caller: &super::access::Caller, op: &str, m: &item::Model) -> ApiResult<By> {
    let acting = caller
        .authorize_related(op, &[m.custodian_id])?
        .ok_or_else(ApiError::forbidden)?;
    Ok(By {
        actor: Some(acting.actor),
        actor_ref: caller.actor_ref(),
        organisation_id: acting.organisation_id,
    })
}

pub struct WorkshopApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Workshop")]
impl WorkshopApi {
    /// Record a sanitisation
    ///
    /// One attempt on one storage medium of a device in the refurbisher's custody (collected or
    /// refurbished). A failed attempt blocks publication until a later successful one exists for
    /// that medium; only `purge`, `crypto_erase` and `destroy` allow re-use (NIST SP 800-88).
    #[oai(
        path = "/items/:id/sanitisations",
        method = "post",
        operation_id = "record_sanitisation"
    )]
    async fn record_sanitisation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SanitisationRequest>,
    ) -> ApiResult<Created<SanitisationResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        let by = custody_by(&auth.0, "record_sanitisation", &m)?;
        let b = body.0;
        let mut errors = FieldErrors::new();
        let medium_serial = text::<100>(&mut errors, "medium_serial", &b.medium_serial);
        let tool = text::<100>(&mut errors, "tool", &b.tool);
        let tool_version = text::<50>(&mut errors, "tool_version", &b.tool_version);
        let verification = text::<200>(&mut errors, "verification_method", &b.verification_method);
        let operator = errors
            .check("operator_name", Name::parse(&b.operator_name))
            .map(|n| n.into_inner());
        let notes = optional::<2000>(&mut errors, "notes", b.notes.as_ref());
        let now = store::now();
        dom::check_period(b.started_at, b.ended_at, now, &mut errors);
        let (
            Some(medium_serial),
            Some(tool),
            Some(tool_version),
            Some(verification),
            Some(operator),
            true,
        ) = (
            medium_serial,
            tool,
            tool_version,
            verification,
            operator,
            errors.is_empty(),
        )
        else {
            return Err(errors.into());
        };
        let txn = begin_write(&self.state.db).await?;
        let m = find_item(&txn, id.0).await?;
        let status = DomStatus::parse(&m.status).unwrap_or(DomStatus::Inventoried);
        if !matches!(status, DomStatus::Collected | DomStatus::Refurbished)
            || m.custodian_id != by.organisation_id
        {
            return Err(ApiError::new(ErrorCode::ItemNotEditable).detail(
                format!("Les effacements s'enregistrent sur un équipement enlevé ou reconditionné (statut actuel : {}).", m.status),
                format!("Sanitisations are recorded on a collected or refurbished device (current status: {}).", m.status),
            ));
        }
        let record_id = store::new_id();
        let medium_type: DomStorageKind = b.medium_type.into();
        sanitisation_record::Entity::insert(sanitisation_record::ActiveModel {
            id: Set(record_id),
            item_id: Set(m.id),
            organisation_id: Set(by.organisation_id),
            medium_serial: Set(medium_serial.clone()),
            medium_type: Set(medium_type.as_str().to_owned()),
            method: Set(DomMethod::from(b.method).as_str().to_owned()),
            tool: Set(tool.clone()),
            tool_version: Set(tool_version),
            verification_method: Set(verification),
            success: Set(b.success),
            operator_name: Set(operator),
            started_at: Set(b.started_at),
            ended_at: Set(b.ended_at),
            notes: Set(notes),
            report_blob_key: Set(None),
            created_by: Set(auth.0.actor_ref()),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        crate::store::events::append(
            &txn,
            crate::store::events::NewEvent {
                stream: transitions::item_stream(m.id),
                organisation_id: Some(by.organisation_id),
                actor: auth.0.actor_ref(),
                kind: "sanitisation_recorded",
                payload: serde_json::json!({
                    "organisation_id": by.organisation_id,
                    "record_id": record_id,
                    "medium_serial": medium_serial,
                    "method": DomMethod::from(b.method).as_str(),
                    "tool": tool,
                    "success": b.success,
                }),
            },
        )
        .await?;
        let rec = sanitisation_record::Entity::find_by_id(record_id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(rec.into()),
            format!("/v1/items/{}/workshop", m.id),
        ))
    }

    /// Attach a tool report to a sanitisation
    ///
    /// The erasure tool's own report (nwipe log or PDF certificate), kept as evidence. A PDF is
    /// recognised from its bytes; anything else must be UTF-8 text. Replaces an earlier report.
    #[oai(
        path = "/items/:id/sanitisations/:record_id/report",
        method = "post",
        operation_id = "attach_sanitisation_report"
    )]
    async fn attach_sanitisation_report(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        record_id: Path<Uuid>,
        upload: ReportUpload,
    ) -> ApiResult<Json<SanitisationResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        let by = custody_by(&auth.0, "attach_sanitisation_report", &m)?;
        let record = sanitisation_record::Entity::find_by_id(record_id.0)
            .one(&self.state.db)
            .await?
            .filter(|r| r.item_id == m.id)
            .ok_or_else(ApiError::not_found)?;
        let bytes = super::photos::read_upload(upload.file).await?;
        let (extension, content_type) = if bytes.starts_with(b"%PDF-") {
            ("pdf", "application/pdf")
        } else if !bytes.is_empty() && !bytes.contains(&0) && std::str::from_utf8(&bytes).is_ok() {
            ("log", "text/plain; charset=utf-8")
        } else {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType).detail(
                "Le rapport doit être un PDF ou un journal texte (UTF-8).",
                "The report must be a PDF or a text log (UTF-8).",
            ));
        };
        let key = format!(
            "{}/sanitisation-reports/{}-{}.{extension}",
            by.organisation_id,
            record.id,
            store::new_id()
        );
        self.state
            .blobs
            .put(&key, bytes, content_type)
            .await
            .map_err(super::photos::blob_error)?;
        let txn = begin_write(&self.state.db).await?;
        let saved = sanitisation_record::Entity::update_many()
            .col_expr(
                sanitisation_record::Column::ReportBlobKey,
                Expr::value(Some(key.clone())),
            )
            .filter(sanitisation_record::Column::Id.eq(record.id))
            .exec(&txn)
            .await;
        if let Err(e) = saved {
            let _ = self.state.blobs.delete(&key).await;
            return Err(e.into());
        }
        crate::store::events::append(
            &txn,
            crate::store::events::NewEvent {
                stream: transitions::item_stream(m.id),
                organisation_id: Some(by.organisation_id),
                actor: auth.0.actor_ref(),
                kind: "sanitisation_report_attached",
                payload: serde_json::json!({ "organisation_id": by.organisation_id, "record_id": record.id }),
            },
        )
        .await?;
        txn.commit().await?;
        if let Some(old) = &record.report_blob_key {
            let _ = self.state.blobs.delete(old).await;
        }
        let updated = sanitisation_record::Entity::find_by_id(record.id)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        Ok(Json(sanitisation_response(&self.state, updated).await?))
    }

    /// Record the bench result
    ///
    /// Functional tests, parts replaced, operating system and grade of a device in the
    /// refurbisher's custody. A collected device becomes `refurbished`; recording again on a
    /// refurbished device updates its grade.
    #[oai(
        path = "/items/:id/refurbishments",
        method = "post",
        operation_id = "record_refurbishment"
    )]
    async fn record_refurbishment(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<RefurbishmentRequest>,
    ) -> ApiResult<Created<RefurbishmentResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        let by = custody_by(&auth.0, "record_refurbishment", &m)?;
        let b = body.0;
        let mut errors = FieldErrors::new();
        let mut tests = Vec::with_capacity(b.tests.len());
        for (i, t) in b.tests.iter().enumerate() {
            if let Some(name) = text::<50>(&mut errors, &format!("tests[{i}].name"), &t.name) {
                tests.push((name, t.passed));
            }
        }
        let mut parts = Vec::with_capacity(b.parts_replaced.len());
        for (i, p) in b.parts_replaced.iter().enumerate() {
            if let Some(part) = text::<100>(&mut errors, &format!("parts_replaced[{i}]"), p) {
                parts.push(part);
            }
        }
        let os = optional::<100>(&mut errors, "operating_system", b.operating_system.as_ref());
        let technician = errors
            .check("technician_name", Name::parse(&b.technician_name))
            .map(|n| n.into_inner());
        let notes = optional::<2000>(&mut errors, "notes", b.notes.as_ref());
        let (Some(technician), true) = (technician, errors.is_empty()) else {
            return Err(errors.into());
        };
        let grade: DomGrade = b.grade.into();
        let txn = begin_write(&self.state.db).await?;
        let m = find_item(&txn, id.0).await?;
        let record_id = store::new_id();
        refurbishment_record::Entity::insert(refurbishment_record::ActiveModel {
            id: Set(record_id),
            item_id: Set(m.id),
            organisation_id: Set(by.organisation_id),
            tests: Set(serde_json::to_string(&tests).map_err(anyhow::Error::from)?),
            parts_replaced: Set(serde_json::to_string(&parts).map_err(anyhow::Error::from)?),
            operating_system: Set(os),
            grade: Set(grade_str(grade).to_owned()),
            minutes_spent: Set(b.minutes_spent),
            technician_name: Set(technician),
            notes: Set(notes),
            created_by: Set(auth.0.actor_ref()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(&txn)
        .await?;
        let payload = serde_json::json!({ "record_id": record_id, "grade": grade_str(grade) });
        let set_grade = vec![(item::Column::Grade, Expr::value(Some(grade_str(grade))))];
        if m.status == DomStatus::Refurbished.as_str() && m.custodian_id == by.organisation_id {
            item::Entity::update_many()
                .col_expr(item::Column::Grade, Expr::value(Some(grade_str(grade))))
                .col_expr(item::Column::Version, Expr::value(m.version + 1))
                .filter(item::Column::Id.eq(m.id))
                .filter(item::Column::Version.eq(m.version))
                .exec(&txn)
                .await?;
            crate::store::events::append(
                &txn,
                crate::store::events::NewEvent {
                    stream: transitions::item_stream(m.id),
                    organisation_id: Some(by.organisation_id),
                    actor: auth.0.actor_ref(),
                    kind: "grade_updated",
                    payload: serde_json::json!({ "organisation_id": by.organisation_id, "record_id": record_id, "grade": grade_str(grade) }),
                },
            )
            .await?;
        } else {
            let facts = Facts {
                grade: Some(grade),
                ..Facts::default()
            };
            transitions::fire(&txn, &m, "refurbish", &by, &facts, set_grade, payload).await?;
        }
        let rec = refurbishment_record::Entity::find_by_id(record_id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(rec.into()),
            format!("/v1/items/{}/workshop", m.id),
        ))
    }

    /// A device's bench records
    ///
    /// Its sanitisations and refurbishments, and whether its storage counts as sanitised.
    #[oai(
        path = "/items/:id/workshop",
        method = "get",
        operation_id = "get_item_workshop"
    )]
    async fn get_item_workshop(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<WorkshopRecords>> {
        let m = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_item_workshop", &related_orgs(&m))?;
        let records = attempts(&self.state.db, m.id).await?;
        let storage_sanitised = sanitised(&records);
        let refurbishments = refurbishment_record::Entity::find()
            .filter(refurbishment_record::Column::ItemId.eq(m.id))
            .order_by_asc(refurbishment_record::Column::Id)
            .all(&self.state.db)
            .await?;
        let mut sanitisations = Vec::with_capacity(records.len());
        for r in records {
            sanitisations.push(sanitisation_response(&self.state, r).await?);
        }
        Ok(Json(WorkshopRecords {
            sanitisations,
            refurbishments: refurbishments.into_iter().map(Into::into).collect(),
            storage_sanitised,
        }))
    }

    /// Publish a device to the catalogue
    ///
    /// `refurbished` → `available`, when the life-cycle table's preconditions hold: a grade, a
    /// sanitised storage for devices with data storage, and at most 10 years of age (older
    /// devices go to recycling, loi REEN art. 16, unless the operator allowed an exception).
    #[oai(
        path = "/items/:id/publish",
        method = "post",
        operation_id = "publish_item"
    )]
    async fn publish_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ItemResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        let by = custody_by(&auth.0, "publish_item", &m)?;
        let txn = begin_write(&self.state.db).await?;
        let m = find_item(&txn, id.0).await?;
        let facts = bench_facts(&txn, &m, self.state.settings.today()).await?;
        let fired = transitions::fire(
            &txn,
            &m,
            "publish",
            &by,
            &facts,
            vec![],
            serde_json::json!({}),
        )
        .await;
        if let Err(e) = fired {
            let status = DomStatus::parse(&m.status).unwrap_or(DomStatus::Inventoried);
            let too_old = matches!(
                reemploi_domain::lifecycle::fire("publish", status, by.actor, &facts),
                Err(Refusal::Unmet { ref preconditions, .. }) if preconditions.contains(&Precondition::AtMostTenYearsOld)
            );
            return Err(if too_old {
                ApiError::new(ErrorCode::TooOldForReuse).detail(
                    "Équipement de plus de 10 ans : il relève de la filière de recyclage (loi REEN art. 16, décret 2023-266). Un opérateur peut accorder une dérogation motivée.",
                    "Device over 10 years old: it belongs to the recycling route (loi REEN art. 16, décret 2023-266). An operator may grant a reasoned exception.",
                )
            } else {
                e
            });
        }
        let updated = find_item(&txn, id.0).await?;
        if updated.has_data_storage {
            crate::documents::enqueue(
                &txn,
                &[(
                    crate::documents::Kind::CertificatEffacement,
                    crate::documents::Subject::Item(updated.id),
                )],
            )
            .await?;
        }
        txn.commit().await?;
        Ok(Json(updated.into()))
    }

    /// Withdraw a device from the catalogue
    ///
    /// `available` → `refurbished`.
    #[oai(
        path = "/items/:id/unpublish",
        method = "post",
        operation_id = "unpublish_item"
    )]
    async fn unpublish_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ItemResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        let by = custody_by(&auth.0, "unpublish_item", &m)?;
        let txn = begin_write(&self.state.db).await?;
        let m = find_item(&txn, id.0).await?;
        transitions::fire(
            &txn,
            &m,
            "unpublish",
            &by,
            &Facts::default(),
            vec![],
            serde_json::json!({}),
        )
        .await?;
        let updated = find_item(&txn, id.0).await?;
        txn.commit().await?;
        Ok(Json(updated.into()))
    }

    /// Allow re-use of an old device (operator)
    ///
    /// The operator records why a device over 10 years old may still be published.
    #[oai(
        path = "/items/:id/age-override",
        method = "post",
        operation_id = "override_item_age"
    )]
    async fn override_item_age(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AgeOverrideRequest>,
    ) -> ApiResult<Json<ItemResponse>> {
        auth.0.authorize("override_item_age", None)?;
        let reason = LongText::parse(&body.0.reason).map_err(|r| ApiError::field("reason", r))?;
        let txn = begin_write(&self.state.db).await?;
        let m = find_item(&txn, id.0).await?;
        item::Entity::update_many()
            .col_expr(
                item::Column::AgeOverrideReason,
                Expr::value(Some(reason.as_str().to_owned())),
            )
            .col_expr(item::Column::Version, Expr::value(m.version + 1))
            .filter(item::Column::Id.eq(m.id))
            .exec(&txn)
            .await?;
        crate::store::events::append(
            &txn,
            crate::store::events::NewEvent {
                stream: transitions::item_stream(m.id),
                organisation_id: None,
                actor: auth.0.actor_ref(),
                kind: "age_override_granted",
                payload: serde_json::json!({ "reason": reason.as_str() }),
            },
        )
        .await?;
        let updated = find_item(&txn, id.0).await?;
        txn.commit().await?;
        Ok(Json(updated.into()))
    }

    /// Send a device to recycling
    ///
    /// The refurbisher holding a collected, refurbished or available device, or the public body
    /// for a device of its inventory it will not offer, records the disposal: channel, recycler,
    /// BSDD number when hazardous, weight, date. The device becomes `recycled` (final).
    #[oai(
        path = "/items/:id/disposal",
        method = "post",
        operation_id = "dispose_item"
    )]
    async fn dispose_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<DisposalRequest>,
    ) -> ApiResult<Created<DisposalResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        let by = custody_by(&auth.0, "dispose_item", &m)?;
        let b = body.0;
        let mut errors = FieldErrors::new();
        let recycler = errors
            .check("recycler_name", Name::parse(&b.recycler_name))
            .map(|n| n.into_inner());
        let bsdd = match b
            .bsdd_number
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(raw) => errors
                .check("bsdd_number", dom::parse_bsdd(raw))
                .map(|t| t.into_inner()),
        };
        let notes = optional::<2000>(&mut errors, "notes", b.notes.as_ref());
        let weight_grams = (b.weight_kg * 1000.0).round() as i64;
        if !b.weight_kg.is_finite() {
            errors.push("weight_kg", Invalid::OutOfRange);
        }
        dom::check_disposal(
            weight_grams,
            b.disposed_on,
            self.state.settings.today(),
            &mut errors,
        );
        let (Some(recycler), true) = (recycler, errors.is_empty()) else {
            return Err(errors.into());
        };
        let txn = begin_write(&self.state.db).await?;
        let m = find_item(&txn, id.0).await?;
        let transition = if m.status == DomStatus::Inventoried.as_str() {
            "recycle_inventoried"
        } else {
            "recycle"
        };
        let disposal_id = store::new_id();
        let channel: DomChannel = b.channel.into();
        transitions::fire(
            &txn,
            &m,
            transition,
            &by,
            &Facts::default(),
            vec![(item::Column::LotId, Expr::value(Option::<Uuid>::None))],
            serde_json::json!({ "disposal_id": disposal_id, "channel": channel.as_str(), "recycler": recycler, "weight_grams": weight_grams }),
        )
        .await?;
        disposal::Entity::insert(disposal::ActiveModel {
            id: Set(disposal_id),
            item_id: Set(m.id),
            organisation_id: Set(by.organisation_id),
            channel: Set(channel.as_str().to_owned()),
            recycler_name: Set(recycler),
            bsdd_number: Set(bsdd),
            weight_grams: Set(weight_grams),
            disposed_on: Set(b.disposed_on),
            notes: Set(notes),
            created_by: Set(auth.0.actor_ref()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(&txn)
        .await?;
        let d = disposal::Entity::find_by_id(disposal_id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(DisposalResponse {
                id: d.id,
                item_id: d.item_id,
                organisation_id: d.organisation_id,
                channel: DomChannel::parse(&d.channel)
                    .unwrap_or(DomChannel::ApprovedRecycler)
                    .into(),
                recycler_name: d.recycler_name,
                bsdd_number: d.bsdd_number,
                weight_kg: d.weight_grams as f64 / 1000.0,
                disposed_on: d.disposed_on,
                notes: d.notes,
                created_at: d.created_at,
            }),
            format!("/v1/items/{}", d.item_id),
        ))
    }

    /// The workshop
    ///
    /// Devices in the refurbisher's custody, counted by status (list them with
    /// `GET /v1/items?status=…`).
    #[oai(path = "/workshop", method = "get", operation_id = "get_workshop")]
    async fn get_workshop(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<Workshop>> {
        let acting = auth.0.acting_as("get_workshop", organisation_id.0)?;
        // Counted by the database: a workshop may hold thousands of devices.
        let rows: Vec<(String, i64)> = item::Entity::find()
            .select_only()
            .column(item::Column::Status)
            .column_as(item::Column::Id.count(), "n")
            .filter(item::Column::CustodianId.eq(acting.organisation_id))
            .group_by(item::Column::Status)
            .into_tuple()
            .all(&self.state.db)
            .await?;
        let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
        for (status, n) in &rows {
            if let Some(i) = DomStatus::ALL.iter().position(|x| x.as_str() == status) {
                *counts.entry(i).or_default() += u64::try_from(*n).unwrap_or(0);
            }
        }
        Ok(Json(Workshop {
            organisation_id: acting.organisation_id,
            total: counts.values().sum(),
            by_status: counts
                .into_iter()
                .map(|(i, count)| StatusCount {
                    status: DomStatus::ALL[i].into(),
                    count,
                })
                .collect(),
        }))
    }
}
