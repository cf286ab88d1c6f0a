//! The workshop's tools and batches: hardware reports (`lshw -json`), the holder's spec
//! corrections, nwipe logs, and one call for a step on many devices (hardware reports, a
//! multi-disk wipe log, bench results with a grade, publication). A batch is per device: each
//! device is its own write, and the answer says for each what happened.

use std::collections::HashMap;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::reports::{self, WipeLogError};
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::{ItemResponse, ItemStatus, StorageKind, find_item};
use super::types::ApiTags;
use super::workshop::{
    RefurbishmentRequest, SanitisationResponse, StorageMediumResponse, media_responses,
};
use crate::commands::By;
use crate::commands::reports::{self as cmd, SpecCorrection};
use crate::error::{ApiError, ApiResult, ErrorCode, Lang, Problem};
use crate::state::AppState;
use crate::store::items as store_items;

/// The largest tool report accepted (an nwipe log of a full rack stays far below).
pub const MAX_REPORT_BYTES: usize = 10 * 1024 * 1024;
/// The most devices one batch call names.
pub const MAX_BATCH: usize = 200;

const LOG_TYPES: &[&str] = &["text/plain", "application/octet-stream", "text/x-log"];

super::raw_body::raw_body!(
    /// A tool's log sent as the request body, as the tool wrote it (any bytes: nwipe writes a
    /// loop device's serial as raw bytes).
    LogBody,
    LOG_TYPES,
    "The nwipe log as nwipe wrote it with `--logfile` (text; any bytes), at most 10 MB.",
    log_content_type
);

/// A log sent without a content type is taken as text; another content type is refused.
fn log_content_type(request: &Request) -> poem::Result<()> {
    let content_type = request
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain");
    if super::raw_body::essence_in(content_type, LOG_TYPES) {
        return Ok(());
    }
    Err(ApiError::new(ErrorCode::UnsupportedMediaType)
        .detail(
            "Envoyez le journal tel quel (text/plain ou application/octet-stream).",
            "Send the log as it is (text/plain or application/octet-stream).",
        )
        .into())
}

async fn read_log(body: LogBody) -> ApiResult<Vec<u8>> {
    let bytes = body.0.into_vec().await.map_err(|e| {
        if e.to_string().contains(super::limits::TOO_LARGE) {
            ApiError::new(ErrorCode::PayloadTooLarge)
        } else {
            ApiError::new(ErrorCode::MalformedRequest)
        }
    })?;
    if bytes.len() > MAX_REPORT_BYTES {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge));
    }
    Ok(bytes)
}

fn lang(req: &Request) -> Lang {
    Lang::from_accept_language(req.header("accept-language"))
}

/// Reads `lshw -json` output (already JSON) into its report, or 422 `report_unreadable`.
fn parse_hardware(v: &serde_json::Value) -> ApiResult<reports::HardwareReport> {
    reports::parse_lshw(v).map_err(|_| {
        ApiError::new(ErrorCode::ReportUnreadable).detail(
            "Ce JSON n'est pas la sortie de `lshw -json` (aucun nœud avec une classe).",
            "This JSON is not the output of `lshw -json` (no node with a class).",
        )
    })
}

/// Reads an nwipe log, or 422 `report_unreadable`.
fn parse_log(bytes: &[u8]) -> ApiResult<Vec<reports::WipeRun>> {
    reports::parse_nwipe(&String::from_utf8_lossy(bytes)).map_err(|WipeLogError::NoSummary| {
        ApiError::new(ErrorCode::ReportUnreadable).detail(
            "Journal nwipe sans tableau « Drive Status » : ce n'est pas un journal nwipe, ou l'effacement ne s'est pas terminé.",
            "nwipe log without a “Drive Status” table: not an nwipe log, or the wipe did not finish.",
        )
    })
}

/// `loop0:SERIAL` pairs, in the order given.
fn parse_assign(raw: &[String]) -> ApiResult<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (i, a) in raw.iter().enumerate() {
        let Some((device, serial)) = a.split_once(':') else {
            return Err(ApiError::field(
                format!("assign[{i}]"),
                reemploi_domain::Invalid::InvalidFormat,
            ));
        };
        let (device, serial) = (device.trim().trim_start_matches("/dev/"), serial.trim());
        if device.is_empty() || serial.is_empty() || serial.chars().count() > 100 {
            return Err(ApiError::field(
                format!("assign[{i}]"),
                reemploi_domain::Invalid::InvalidFormat,
            ));
        }
        out.insert(device.to_owned(), serial.to_owned());
    }
    Ok(out)
}

/// What the report told of the system.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReportedSystem {
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
}

/// A hardware report applied to a device.
#[derive(Debug, Clone, Object)]
pub struct HardwareReportResponse {
    pub item: ItemResponse,
    pub system: ReportedSystem,
    /// Spec fields the report filled.
    pub filled: Vec<String>,
    /// Fields the report gave that the device's category does not take (a battery on a
    /// desktop…).
    pub ignored: Vec<String>,
    /// The reported serial against the inventory's: `match`, `mismatch` or `unknown`.
    pub serial_check: String,
    /// The device's declared media after the report, each with where it stands.
    pub storage_media: Vec<StorageMediumResponse>,
    /// Disks the report lists without a usable serial: not declared (declare them by hand).
    pub media_without_serial: Vec<String>,
}

async fn hardware_response(
    state: &AppState,
    o: cmd::HardwareOutcome,
) -> ApiResult<HardwareReportResponse> {
    let media = store_items::storage_media(&state.db, o.item.id).await?;
    let records = store_items::sanitisations(&state.db, o.item.id).await?;
    Ok(HardwareReportResponse {
        system: ReportedSystem {
            vendor: o.report.vendor.clone(),
            product: o.report.product.clone(),
            serial: o.report.serial.clone(),
        },
        filled: o.filled.iter().map(|s| (*s).to_owned()).collect(),
        ignored: o.ignored.iter().map(|s| (*s).to_owned()).collect(),
        serial_check: o.serial_check.as_str().to_owned(),
        storage_media: media_responses(media, &records),
        media_without_serial: o.report.media_without_serial.clone(),
        item: o.item.into(),
    })
}

/// A correction of a device's specs: each field given replaces the current value (`null`
/// clears it); fields left out are kept.
#[derive(Debug, Clone, Object)]
pub struct SpecsCorrectionRequest {
    #[oai(validator(max_length = 100))]
    pub cpu: MaybeUndefined<String>,
    pub ram_gb: MaybeUndefined<i32>,
    pub storage_gb: MaybeUndefined<i32>,
    pub storage_kind: MaybeUndefined<StorageKind>,
    pub screen_inches: MaybeUndefined<f64>,
    pub battery_health_percent: MaybeUndefined<i32>,
    pub cpu_cores: MaybeUndefined<i32>,
    pub cpu_mhz: MaybeUndefined<i32>,
    pub battery_design_mwh: MaybeUndefined<i32>,
    pub battery_full_mwh: MaybeUndefined<i32>,
}

fn opt<T: Clone>(v: &MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v.clone())),
    }
}

impl SpecsCorrectionRequest {
    fn to_command(&self) -> SpecCorrection {
        SpecCorrection {
            cpu: opt(&self.cpu),
            ram_gb: opt(&self.ram_gb),
            storage_gb: opt(&self.storage_gb),
            storage_kind: opt(&self.storage_kind).map(|k| k.map(Into::into)),
            screen_inches: opt(&self.screen_inches),
            battery_health_percent: opt(&self.battery_health_percent),
            cpu_cores: opt(&self.cpu_cores),
            cpu_mhz: opt(&self.cpu_mhz),
            battery_design_mwh: opt(&self.battery_design_mwh),
            battery_full_mwh: opt(&self.battery_full_mwh),
        }
    }
}

/// One device's records from a wipe log.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WipeDeviceResult {
    pub item_id: Uuid,
    pub ok: bool,
    pub records: Vec<SanitisationResponse>,
    /// Why nothing was recorded on this device.
    pub problem: Option<Problem>,
}

/// A disk of the log that became no record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UnmatchedDisk {
    /// The device node as nwipe named it (`sda`, `loop0`).
    pub device: String,
    pub serial: Option<String>,
    /// nwipe's status for it (`ERASED`, `FAILED`…).
    pub status: String,
    pub reason: String,
}

/// What an nwipe log gave.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WipeReportResponse {
    pub tool: String,
    pub tool_version: Option<String>,
    /// Records created, over all devices.
    pub recorded: u32,
    /// Of them, the failed ones (they block publication until a later success).
    pub failed: u32,
    pub devices: Vec<WipeDeviceResult>,
    /// Disks of the log matching no declared medium of the devices named, or without a
    /// serial: recorded nowhere.
    pub unmatched: Vec<UnmatchedDisk>,
}

async fn wipe_response(
    state: &AppState,
    lang: Lang,
    o: cmd::WipeOutcome,
) -> ApiResult<WipeReportResponse> {
    let (mut recorded, mut failed) = (0, 0);
    let mut devices = Vec::new();
    for d in o.devices {
        match d.result {
            Ok(records) => {
                let mut out = Vec::new();
                for r in records {
                    recorded += 1;
                    if !r.success {
                        failed += 1;
                    }
                    out.push(super::workshop::sanitisation_response(state, r).await?);
                }
                devices.push(WipeDeviceResult {
                    item_id: d.item_id,
                    ok: true,
                    records: out,
                    problem: None,
                });
            }
            Err(e) => devices.push(WipeDeviceResult {
                item_id: d.item_id,
                ok: false,
                records: vec![],
                problem: Some(e.to_problem(lang, None)),
            }),
        }
    }
    Ok(WipeReportResponse {
        tool: "nwipe".to_owned(),
        tool_version: o.tool_version,
        recorded,
        failed,
        devices,
        unmatched: o
            .unmatched
            .into_iter()
            .map(|u| UnmatchedDisk {
                device: u.device,
                serial: u.serial,
                status: u.status,
                reason: match lang {
                    Lang::Fr => u.reason_fr,
                    Lang::En => u.reason_en,
                },
            })
            .collect(),
    })
}

/// One device's outcome in a batch.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BatchItemResult {
    pub item_id: Uuid,
    pub ok: bool,
    /// The device's status after the step, when it succeeded.
    pub status: Option<ItemStatus>,
    /// Why the step was refused on this device (nothing was written on it).
    pub problem: Option<Problem>,
}

/// A batch's outcome: one result per device, in the order given.
#[derive(Debug, Clone, Object)]
pub struct BatchResponse {
    pub succeeded: u32,
    pub failed: u32,
    pub results: Vec<BatchItemResult>,
}

impl BatchResponse {
    fn push(
        &mut self,
        lang: Lang,
        item_id: Uuid,
        r: ApiResult<crate::store::entities::item::Model>,
    ) {
        match r {
            Ok(m) => {
                self.succeeded += 1;
                self.results.push(BatchItemResult {
                    item_id,
                    ok: true,
                    status: reemploi_domain::lifecycle::ItemStatus::parse(&m.status)
                        .map(Into::into),
                    problem: None,
                });
            }
            Err(e) => {
                self.failed += 1;
                self.results.push(BatchItemResult {
                    item_id,
                    ok: false,
                    status: None,
                    problem: Some(e.to_problem(lang, None)),
                });
            }
        }
    }
}

fn empty_batch() -> BatchResponse {
    BatchResponse {
        succeeded: 0,
        failed: 0,
        results: vec![],
    }
}

/// One device's hardware report in a batch.
#[derive(Debug, Clone, Object)]
pub struct DeviceHardwareReport {
    pub item_id: Uuid,
    /// The output of `lshw -json` on that device, as printed.
    pub report: serde_json::Value,
}

/// Hardware reports of many devices.
#[derive(Debug, Clone, Object)]
pub struct HardwareReportsRequest {
    /// The organisation acting, when the caller belongs to several.
    #[oai(default)]
    pub organisation_id: Option<Uuid>,
    #[oai(validator(min_items = 1, max_items = 200))]
    pub reports: Vec<DeviceHardwareReport>,
}

/// A bench result recorded on many devices.
#[derive(Debug, Clone, Object)]
pub struct BatchRefurbishmentRequest {
    #[oai(default)]
    pub organisation_id: Option<Uuid>,
    #[oai(validator(min_items = 1, max_items = 200))]
    pub item_ids: Vec<Uuid>,
    /// The result each device gets (tests, grade, technician…); `storage_media` is refused
    /// here: each device declares its own.
    pub refurbishment: RefurbishmentRequest,
}

/// Devices to publish.
#[derive(Debug, Clone, Object)]
pub struct BatchPublishRequest {
    #[oai(default)]
    pub organisation_id: Option<Uuid>,
    #[oai(validator(min_items = 1, max_items = 200))]
    pub item_ids: Vec<Uuid>,
}

/// Loads a device and authorises the organisation holding it for `op`.
async fn custody_by(state: &AppState, auth: &BearerAuth, op: &str, id: Uuid) -> ApiResult<By> {
    let m = find_item(&state.db, id).await?;
    let acting = auth
        .0
        .authorize_related(op, &[m.custodian_id])?
        .ok_or_else(ApiError::forbidden)?;
    Ok(By::acting(&auth.0, &acting))
}

fn acting_by(auth: &BearerAuth, op: &str, org: Option<Uuid>) -> ApiResult<By> {
    let acting = auth.0.acting_as(op, org)?;
    Ok(By::acting(&auth.0, &acting))
}

fn distinct(ids: &[Uuid]) -> ApiResult<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(id) {
            return Err(ApiError::field(
                format!("item_ids[{i}]"),
                reemploi_domain::Invalid::Duplicate,
            ));
        }
    }
    Ok(())
}

pub struct WorkshopToolsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Workshop")]
impl WorkshopToolsApi {
    /// Submit a hardware report
    ///
    /// The JSON that `lshw -json` prints on the device (one object, or an array of them), as it
    /// is. Fills the specs it gives and the device's category takes (CPU model, cores and
    /// frequency; RAM; total storage and kind; battery design and full-charge capacity, and
    /// health when both are known), declares each storage medium with a serial (source
    /// `hardware_report`: kind, size, model), and compares the serial the firmware reports
    /// with the inventory's (`serial_check`: a `mismatch` is flagged on the device). lshw reads
    /// no panel size: enter the screen's with `PATCH /v1/items/{id}/specs`. The raw report is
    /// kept. By the device's holder, in its body's inventory or on the bench.
    #[oai(
        path = "/items/:id/hardware-report",
        method = "post",
        operation_id = "submit_hardware_report"
    )]
    async fn submit_hardware_report(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<serde_json::Value>,
    ) -> ApiResult<Json<HardwareReportResponse>> {
        let by = custody_by(&self.state, &auth, "submit_hardware_report", id.0).await?;
        let report = parse_hardware(&body.0)?;
        let raw = serde_json::to_vec_pretty(&body.0).map_err(anyhow::Error::from)?;
        let o = cmd::apply_hardware_report(&self.state, &by, id.0, raw, report).await?;
        Ok(Json(hardware_response(&self.state, o).await?))
    }

    /// Correct a device's specs
    ///
    /// The holder corrects what a report or the inventory got wrong (each field given replaces
    /// the current value, `null` clears it). The history records each change with its old and
    /// new value (`item_specs_corrected`). While the device is in the holder's hands and
    /// neither reserved nor given: the public body in its inventory, the refurbisher on the
    /// bench or in the catalogue.
    #[oai(
        path = "/items/:id/specs",
        method = "patch",
        operation_id = "correct_item_specs"
    )]
    async fn correct_item_specs(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SpecsCorrectionRequest>,
    ) -> ApiResult<Json<ItemResponse>> {
        let by = custody_by(&self.state, &auth, "correct_item_specs", id.0).await?;
        let m = cmd::correct_specs(&self.state, &by, id.0, &body.0.to_command()).await?;
        Ok(Json(m.into()))
    }

    /// Submit an nwipe log
    ///
    /// The log nwipe wrote with `--logfile`, as it is (the body, `text/plain`). Each wiped
    /// device of its "Drive Status" tables (a log may hold several runs: nwipe appends) becomes
    /// a sanitisation record on the declared medium with its serial: method (a verified,
    /// error-free overwrite is `purge` on a hard disk, `clear` on flash or an unknown kind),
    /// rounds, verification, nwipe's status, start and end, throughput, tool version; the log
    /// is attached. A disk nwipe gives no serial of (a loop device, some USB bridges) is
    /// matched only when the operator names it: `assign=loop0:SERIAL`. Failed disks are
    /// recorded as failed and block publication until a later success; disks matching no
    /// declared medium are listed in `unmatched`. 422 `wipe_log_unmatched` when no disk matches.
    #[oai(
        path = "/items/:id/wipe-report",
        method = "post",
        operation_id = "submit_wipe_report"
    )]
    async fn submit_wipe_report(
        &self,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
        /// `device:serial` for a disk the log gives no serial of (`loop0:WD-WCC6Y0AB1234`).
        assign: Query<Vec<String>>,
        /// Who ran the wipe (defaults to the caller's name).
        #[oai(validator(max_length = 200))]
        operator_name: Query<Option<String>>,
        body: LogBody,
    ) -> ApiResult<Json<WipeReportResponse>> {
        let by = custody_by(&self.state, &auth, "submit_wipe_report", id.0).await?;
        self.wipe(req, &auth, &by, &[id.0], assign.0, operator_name.0, body)
            .await
    }

    /// Submit one nwipe log for many devices
    ///
    /// A wiping station's log covering disks of several devices the caller holds
    /// (`item_id=…&item_id=…`): each disk goes to the device that declares its serial, as in
    /// `POST /v1/items/{id}/wipe-report`. Per device: each device's records are one write, and a
    /// device refused (not held, not on the bench) does not stop the others.
    #[oai(
        path = "/workshop/wipe-report",
        method = "post",
        operation_id = "submit_batch_wipe_report"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn submit_batch_wipe_report(
        &self,
        req: &Request,
        auth: BearerAuth,
        /// The devices the log covers (at most 200).
        item_id: Query<Vec<Uuid>>,
        assign: Query<Vec<String>>,
        #[oai(validator(max_length = 200))] operator_name: Query<Option<String>>,
        organisation_id: Query<Option<Uuid>>,
        body: LogBody,
    ) -> ApiResult<Json<WipeReportResponse>> {
        let by = acting_by(&auth, "submit_batch_wipe_report", organisation_id.0)?;
        if item_id.0.is_empty() || item_id.0.len() > MAX_BATCH {
            return Err(ApiError::field(
                "item_id",
                reemploi_domain::Invalid::OutOfRange,
            ));
        }
        distinct(&item_id.0)?;
        self.wipe(req, &auth, &by, &item_id.0, assign.0, operator_name.0, body)
            .await
    }

    /// Submit hardware reports of many devices
    ///
    /// One `lshw -json` report per device, applied as `POST /v1/items/{id}/hardware-report`
    /// does, each device in its own write: a refused or unreadable report does not stop the
    /// others.
    #[oai(
        path = "/workshop/hardware-reports",
        method = "post",
        operation_id = "submit_hardware_reports"
    )]
    async fn submit_hardware_reports(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<HardwareReportsRequest>,
    ) -> ApiResult<Json<BatchResponse>> {
        let by = acting_by(&auth, "submit_hardware_reports", body.0.organisation_id)?;
        let ids: Vec<Uuid> = body.0.reports.iter().map(|r| r.item_id).collect();
        distinct(&ids)?;
        let lang = lang(req);
        let mut out = empty_batch();
        for r in &body.0.reports {
            let result = async {
                let report = parse_hardware(&r.report)?;
                let raw = serde_json::to_vec_pretty(&r.report).map_err(anyhow::Error::from)?;
                cmd::apply_hardware_report(&self.state, &by, r.item_id, raw, report)
                    .await
                    .map(|o| o.item)
            }
            .await;
            out.push(lang, r.item_id, result);
        }
        Ok(Json(out))
    }

    /// Record one bench result on many devices
    ///
    /// The same tests, grade and technician for each device, as
    /// `POST /v1/items/{id}/refurbishments` records them (a collected device becomes
    /// `refurbished`; a refurbished one gets the new grade), each device in its own write.
    #[oai(
        path = "/workshop/refurbishments",
        method = "post",
        operation_id = "record_batch_refurbishments"
    )]
    async fn record_batch_refurbishments(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<BatchRefurbishmentRequest>,
    ) -> ApiResult<Json<BatchResponse>> {
        let by = acting_by(&auth, "record_batch_refurbishments", body.0.organisation_id)?;
        distinct(&body.0.item_ids)?;
        if body.0.refurbishment.storage_media.is_some() {
            return Err(ApiError::field(
                "refurbishment.storage_media",
                reemploi_domain::Invalid::NotAllowedForKind,
            )
            .detail(
                "Chaque équipement déclare ses propres supports : pas de liste commune.",
                "Each device declares its own media: no shared list.",
            ));
        }
        let input = body.0.refurbishment.clone().parse()?;
        let lang = lang(req);
        let mut out = empty_batch();
        for id in &body.0.item_ids {
            let r = async {
                crate::commands::workshop::record_refurbishment(&self.state.db, &by, *id, &input)
                    .await?;
                store_items::find_item(&self.state.db, *id).await
            }
            .await;
            out.push(lang, *id, r);
        }
        Ok(Json(out))
    }

    /// Publish many devices to the catalogue
    ///
    /// Each device as `POST /v1/items/{id}/publish` publishes it (grade, sanitised storage, age),
    /// in its own write: a device whose preconditions are unmet answers its own problem and the
    /// others are published.
    #[oai(
        path = "/workshop/publications",
        method = "post",
        operation_id = "publish_items"
    )]
    async fn publish_items(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<BatchPublishRequest>,
    ) -> ApiResult<Json<BatchResponse>> {
        let by = acting_by(&auth, "publish_items", body.0.organisation_id)?;
        distinct(&body.0.item_ids)?;
        let today = self.state.settings.today();
        let lang = lang(req);
        let mut out = empty_batch();
        for id in &body.0.item_ids {
            let r = crate::commands::workshop::publish_item(&self.state.db, &by, *id, today).await;
            out.push(lang, *id, r);
        }
        Ok(Json(out))
    }
}

impl WorkshopToolsApi {
    #[allow(clippy::too_many_arguments)]
    async fn wipe(
        &self,
        req: &Request,
        auth: &BearerAuth,
        by: &By,
        ids: &[Uuid],
        assign: Vec<String>,
        operator_name: Option<String>,
        body: LogBody,
    ) -> ApiResult<Json<WipeReportResponse>> {
        let assign = parse_assign(&assign)?;
        let operator = match operator_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(name) => name.to_owned(),
            None => store_items::person_name(&self.state.db, &auth.0).await?,
        };
        let bytes = read_log(body).await?;
        let runs = parse_log(&bytes)?;
        let o = cmd::ingest_wipe_log(&self.state, by, ids, bytes, runs, &assign, &operator).await?;
        Ok(Json(wipe_response(&self.state, lang(req), o).await?))
    }
}
