//! The refurbisher's bench: sanitisation and refurbishment records, publication to the catalogue,
//! the operator's age override, disposal to recycling, and the workshop's counts. Only the
//! organisation that has custody of a device records anything on it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::lifecycle::{Grade as DomGrade, ItemStatus as DomStatus};
use reemploi_domain::text::{LongText, Name, Text};
use reemploi_domain::workshop::{
    self as dom, DisposalChannel as DomChannel, SanitisationMethod as DomMethod,
};
use reemploi_domain::{FieldErrors, Invalid};
use uuid::Uuid;

use super::access::{BearerAuth, Caller};
use super::items::{ItemResponse, ItemStatus, StorageKind, find_item, related_orgs};
use super::types::{ApiTags, Created, Str, mirror_enum};
use crate::commands::By;
use crate::commands::workshop::{self as cmd, NewDisposal, NewRefurbishment, NewSanitisation};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::{disposal, refurbishment_record, sanitisation_record};
use crate::store::items as store_items;

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

impl Grade {
    /// A stored grade (`A`, `B`, `C`); anything else is no grade.
    pub fn from_stored(stored: Option<&str>) -> Option<Grade> {
        stored
            .and_then(reemploi_domain::workshop::parse_grade)
            .map(Into::into)
    }

    pub fn as_str(self) -> &'static str {
        reemploi_domain::workshop::grade_as_str(self.into())
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
    /// From a tool's log (nwipe): rounds run, throughput in bytes per second, the tool's own
    /// status (`ERASED`, `FAILED`…) and the device node it wiped.
    pub rounds: Option<i32>,
    pub throughput_bytes_per_sec: Option<i64>,
    pub tool_status: Option<String>,
    pub device_name: Option<String>,
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
            rounds: m.rounds,
            throughput_bytes_per_sec: m.throughput_bytes_per_sec,
            tool_status: m.tool_status,
            device_name: m.device_name,
            created_at: m.created_at,
        }
    }
}

/// A record as answered, with a signed URL for its report.
pub(crate) async fn sanitisation_response(
    state: &AppState,
    m: sanitisation_record::Model,
) -> ApiResult<SanitisationResponse> {
    let report_url = match &m.report_blob_key {
        Some(key) => Some(
            state
                .blobs
                .signed_url(key, state.settings.blob_url_ttl_secs)
                .await
                .map_err(crate::commands::items::blob_error)?,
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

/// One storage medium of a device, as declared.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StorageMediumInput {
    /// Serial number of the medium (disk, SSD, eMMC…), as the sanitisation records will give it
    /// (compared trimmed and case-blind).
    #[oai(validator(max_length = 100))]
    pub serial: Str,
    #[oai(nullable)]
    pub medium_type: Option<StorageKind>,
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub capacity_gb: Option<i32>,
}

/// Converts declared media for the command layer.
pub fn media_decls(media: &[StorageMediumInput]) -> Vec<store_items::MediumDecl> {
    media
        .iter()
        .map(|m| store_items::MediumDecl {
            serial: m.serial.to_string(),
            medium_type: m.medium_type.map(Into::into),
            capacity_gb: m.capacity_gb,
        })
        .collect()
}

/// The storage media a device has, replacing those declared before.
#[derive(Debug, Clone, Object)]
pub struct StorageMediaRequest {
    /// Every medium of the device; an empty list withdraws the declarations.
    #[oai(validator(max_items = 24))]
    pub storage_media: Vec<StorageMediumInput>,
}

/// Where a declared medium stands for publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum MediumState {
    /// Its latest sanitisation succeeded with a method allowing re-use.
    Sanitised,
    /// Its latest sanitisation failed, or used `clear`, which is not enough.
    NotSufficient,
    /// No sanitisation is recorded on it.
    NotSanitised,
}

impl From<reemploi_domain::workshop::MediumState> for MediumState {
    fn from(s: reemploi_domain::workshop::MediumState) -> Self {
        use reemploi_domain::workshop::MediumState as D;
        match s {
            D::Sanitised => MediumState::Sanitised,
            D::NotSufficient => MediumState::NotSufficient,
            D::NotSanitised => MediumState::NotSanitised,
        }
    }
}

/// A declared storage medium.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StorageMediumResponse {
    pub serial: String,
    pub medium_type: Option<String>,
    pub capacity_gb: Option<i32>,
    /// Where the declaration came from: `import`, `form`, `bench`, `refurbishment`,
    /// `hardware_report`.
    pub source: String,
    pub declared_at: DateTime<Utc>,
    pub state: MediumState,
}

/// The declared media of a device with their states.
pub fn media_responses(
    media: Vec<crate::store::entities::storage_medium::Model>,
    records: &[sanitisation_record::Model],
) -> Vec<StorageMediumResponse> {
    let states = store_items::media_states(&media, records);
    media
        .into_iter()
        .zip(states)
        .map(|(m, state)| StorageMediumResponse {
            serial: m.serial,
            medium_type: m.medium_type,
            capacity_gb: m.capacity_gb,
            source: m.source,
            declared_at: m.declared_at,
            state: state.into(),
        })
        .collect()
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
    /// The storage media found in the device, replacing those declared before; leave it out
    /// to keep them. Publication needs a successful sanitisation of each declared medium.
    #[oai(nullable, validator(max_items = 24))]
    pub storage_media: Option<Vec<StorageMediumInput>>,
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
            grade: dom::parse_grade(&m.grade).unwrap_or(DomGrade::C).into(),
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
    /// The storage media the device declares, each with where it stands.
    pub storage_media: Vec<StorageMediumResponse>,
    /// Whether the device declares media and each declared medium's latest sanitisation
    /// succeeded with a method allowing re-use.
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

/// Notes: free text, the only multi-line fields of workshop records.
fn free_text(errors: &mut FieldErrors, field: &str, v: Option<&Str>) -> Option<String> {
    errors
        .check(field, LongText::parse_optional(v.map(|s| &**s)))
        .flatten()
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

impl SanitisationRequest {
    fn parse(self, now: DateTime<Utc>) -> Result<NewSanitisation, FieldErrors> {
        let mut errors = FieldErrors::new();
        let medium_serial = text::<100>(&mut errors, "medium_serial", &self.medium_serial);
        let tool = text::<100>(&mut errors, "tool", &self.tool);
        let tool_version = text::<50>(&mut errors, "tool_version", &self.tool_version);
        let verification = text::<200>(
            &mut errors,
            "verification_method",
            &self.verification_method,
        );
        let operator = errors
            .check("operator_name", Name::parse(&self.operator_name))
            .map(|n| n.into_inner());
        let notes = free_text(&mut errors, "notes", self.notes.as_ref());
        dom::check_period(self.started_at, self.ended_at, now, &mut errors);
        let (
            Some(medium_serial),
            Some(tool),
            Some(tool_version),
            Some(verification_method),
            Some(operator_name),
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
            return Err(errors);
        };
        Ok(NewSanitisation {
            medium_serial,
            medium_type: self.medium_type.into(),
            method: self.method.into(),
            tool,
            tool_version,
            verification_method,
            success: self.success,
            operator_name,
            started_at: self.started_at,
            ended_at: self.ended_at,
            notes,
        })
    }
}

impl RefurbishmentRequest {
    pub(crate) fn parse(self) -> Result<NewRefurbishment, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut tests = Vec::with_capacity(self.tests.len());
        for (i, t) in self.tests.iter().enumerate() {
            if let Some(name) = text::<50>(&mut errors, &format!("tests[{i}].name"), &t.name) {
                tests.push((name, t.passed));
            }
        }
        let mut parts_replaced = Vec::with_capacity(self.parts_replaced.len());
        for (i, p) in self.parts_replaced.iter().enumerate() {
            if let Some(part) = text::<100>(&mut errors, &format!("parts_replaced[{i}]"), p) {
                parts_replaced.push(part);
            }
        }
        let operating_system = optional::<100>(
            &mut errors,
            "operating_system",
            self.operating_system.as_ref(),
        );
        let technician = errors
            .check("technician_name", Name::parse(&self.technician_name))
            .map(|n| n.into_inner());
        let notes = free_text(&mut errors, "notes", self.notes.as_ref());
        let (Some(technician_name), true) = (technician, errors.is_empty()) else {
            return Err(errors);
        };
        Ok(NewRefurbishment {
            tests,
            parts_replaced,
            operating_system,
            grade: self.grade.into(),
            minutes_spent: self.minutes_spent,
            technician_name,
            notes,
            storage_media: self.storage_media.as_deref().map(media_decls),
        })
    }
}

impl DisposalRequest {
    fn parse(self, today: NaiveDate) -> Result<NewDisposal, FieldErrors> {
        let mut errors = FieldErrors::new();
        let recycler = errors
            .check("recycler_name", Name::parse(&self.recycler_name))
            .map(|n| n.into_inner());
        let bsdd_number = match self
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
        let notes = free_text(&mut errors, "notes", self.notes.as_ref());
        let weight_grams = (self.weight_kg * 1000.0).round() as i64;
        if !self.weight_kg.is_finite() {
            errors.push("weight_kg", Invalid::OutOfRange);
        }
        dom::check_disposal(weight_grams, self.disposed_on, today, &mut errors);
        let (Some(recycler_name), true) = (recycler, errors.is_empty()) else {
            return Err(errors);
        };
        Ok(NewDisposal {
            channel: self.channel.into(),
            recycler_name,
            bsdd_number,
            weight_grams,
            disposed_on: self.disposed_on,
            notes,
        })
    }
}

impl From<disposal::Model> for DisposalResponse {
    fn from(d: disposal::Model) -> Self {
        Self {
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
        }
    }
}

impl Workshop {
    /// Counts by status, in the life cycle's order.
    fn from_counts(organisation_id: Uuid, rows: &[(String, i64)]) -> Workshop {
        let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
        for (status, n) in rows {
            if let Some(i) = DomStatus::ALL.iter().position(|x| x.as_str() == status) {
                *counts.entry(i).or_default() += u64::try_from(*n).unwrap_or(0);
            }
        }
        Workshop {
            organisation_id,
            total: counts.values().sum(),
            by_status: counts
                .into_iter()
                .map(|(i, count)| StatusCount {
                    status: DomStatus::ALL[i].into(),
                    count,
                })
                .collect(),
        }
    }
}

/// Loads a device and authorises the organisation holding it for `op`.
async fn custody_by(state: &AppState, caller: &Caller, op: &str, id: Uuid) -> ApiResult<By> {
    let m = find_item(&state.db, id).await?;
    let acting = caller
        .authorize_related(op, &[m.custodian_id])?
        .ok_or_else(ApiError::forbidden)?;
    Ok(By::acting(caller, &acting))
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
        let by = custody_by(&self.state, &auth.0, "record_sanitisation", id.0).await?;
        let input = body.0.parse(crate::store::now())?;
        let rec = cmd::record_sanitisation(&self.state.db, &by, id.0, &input).await?;
        let location = format!("/v1/items/{}/sanitisations/{}", rec.item_id, rec.id);
        Ok(Created::Created(Json(rec.into()), location))
    }

    /// Read a sanitisation
    ///
    /// One attempt at wiping the device's data, with its method, result and tool report.
    #[oai(
        path = "/items/:id/sanitisations/:record_id",
        method = "get",
        operation_id = "get_sanitisation"
    )]
    async fn get_sanitisation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        record_id: Path<Uuid>,
    ) -> ApiResult<Json<SanitisationResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_sanitisation", &related_orgs(&m))?;
        let r = store_items::find_sanitisation(&self.state.db, m.id, record_id.0).await?;
        Ok(Json(sanitisation_response(&self.state, r).await?))
    }

    /// Read a bench result
    ///
    /// One refurbishment record of the device: tests, parts replaced, operating system, grade.
    #[oai(
        path = "/items/:id/refurbishments/:record_id",
        method = "get",
        operation_id = "get_refurbishment"
    )]
    async fn get_refurbishment(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        record_id: Path<Uuid>,
    ) -> ApiResult<Json<RefurbishmentResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_refurbishment", &related_orgs(&m))?;
        let r = store_items::find_refurbishment(&self.state.db, record_id.0).await?;
        if r.item_id != m.id {
            return Err(ApiError::not_found());
        }
        Ok(Json(r.into()))
    }

    /// Read a disposal
    ///
    /// How the device left for recycling: channel, recycler, BSDD number, weight, date.
    #[oai(
        path = "/items/:id/disposal",
        method = "get",
        operation_id = "get_disposal"
    )]
    async fn get_disposal(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DisposalResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_disposal", &related_orgs(&m))?;
        let d = store_items::disposal_of(&self.state.db, m.id).await?;
        Ok(Json(d.into()))
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
        let by = custody_by(&self.state, &auth.0, "attach_sanitisation_report", id.0).await?;
        store_items::find_sanitisation(&self.state.db, id.0, record_id.0).await?;
        let bytes = super::photos::read_upload(upload.file).await?;
        let updated =
            cmd::attach_sanitisation_report(&self.state, &by, id.0, record_id.0, bytes).await?;
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
        let by = custody_by(&self.state, &auth.0, "record_refurbishment", id.0).await?;
        let input = body.0.parse()?;
        let rec = cmd::record_refurbishment(&self.state.db, &by, id.0, &input).await?;
        let location = format!("/v1/items/{}/refurbishments/{}", rec.item_id, rec.id);
        Ok(Created::Created(Json(rec.into()), location))
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
        let records = store_items::sanitisations(&self.state.db, m.id).await?;
        let media = store_items::storage_media(&self.state.db, m.id).await?;
        let storage_sanitised = store_items::storage_sanitised(&media, &records);
        let storage_media = media_responses(media, &records);
        let refurbishments = store_items::refurbishments(&self.state.db, m.id).await?;
        let mut sanitisations = Vec::with_capacity(records.len());
        for r in records {
            sanitisations.push(sanitisation_response(&self.state, r).await?);
        }
        Ok(Json(WorkshopRecords {
            sanitisations,
            refurbishments: refurbishments.into_iter().map(Into::into).collect(),
            storage_media,
            storage_sanitised,
        }))
    }

    /// Declare a device's storage media
    ///
    /// Replaces the list of storage media (disks, SSDs, eMMC…) the device declares, by the
    /// organisation holding it: the public body in its inventory, the refurbisher on the bench
    /// (`collected` or `refurbished`). Publication then needs a successful sanitisation of each
    /// declared medium, so one wiped disk does not pass a two-disk machine. The import and the
    /// refurbishment record can declare them too.
    #[oai(
        path = "/items/:id/storage-media",
        method = "put",
        operation_id = "declare_storage_media"
    )]
    async fn declare_storage_media(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<StorageMediaRequest>,
    ) -> ApiResult<Json<Vec<StorageMediumResponse>>> {
        let by = custody_by(&self.state, &auth.0, "declare_storage_media", id.0).await?;
        let media = cmd::declare_storage_media(
            &self.state.db,
            &by,
            id.0,
            &media_decls(&body.0.storage_media),
        )
        .await?;
        let records = store_items::sanitisations(&self.state.db, id.0).await?;
        Ok(Json(media_responses(media, &records)))
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
        let by = custody_by(&self.state, &auth.0, "publish_item", id.0).await?;
        let today = self.state.settings.today();
        let updated = cmd::publish_item(&self.state.db, &by, id.0, today).await?;
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
        let by = custody_by(&self.state, &auth.0, "unpublish_item", id.0).await?;
        let updated = cmd::unpublish_item(&self.state.db, &by, id.0).await?;
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
        // The platform's operator acts for no organisation.
        let by = By {
            actor: None,
            actor_ref: auth.0.actor_ref(),
            organisation_id: Uuid::nil(),
        };
        let updated = cmd::override_item_age(&self.state.db, &by, id.0, &reason).await?;
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
        let by = custody_by(&self.state, &auth.0, "dispose_item", id.0).await?;
        let input = body.0.parse(self.state.settings.today())?;
        let d = cmd::dispose_item(&self.state.db, &by, id.0, &input).await?;
        let location = format!("/v1/items/{}/disposal", d.item_id);
        Ok(Created::Created(Json(d.into()), location))
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
        let org = acting.organisation_id;
        let rows = store_items::custody_counts(&self.state.db, org).await?;
        Ok(Json(Workshop::from_counts(org, &rows)))
    }
}
