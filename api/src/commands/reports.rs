//! Writes from the workshop's tools: a hardware report (`lshw -json`) fills a device's specs and
//! declares its storage media; a refurbisher's spec correction; an nwipe log gives each wiped
//! disk its sanitisation record. Raw reports are kept as blobs, written before the transaction
//! and removed if it fails. Each device is one write, so a batch is per device.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use reemploi_domain::item::{Category, Specs, StorageKind};
use reemploi_domain::lifecycle::ItemStatus;
use reemploi_domain::reports::{self, HardwareReport, SerialCheck, WipeEntry, WipeRun};
use reemploi_domain::workshop::{self as dom, medium_key};
use reemploi_domain::{FieldErrors, Invalid};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::items::blob_error;
use super::transitions::item_stream;
use super::{By, write_owned};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{item, sanitisation_record};
use crate::store::events::NewEvent;
use crate::store::items::{self, MediumDecl};
use crate::store::{self};

/// What a hardware report changed on a device.
#[derive(Debug, Clone)]
pub struct HardwareOutcome {
    pub item: item::Model,
    pub report: HardwareReport,
    /// Spec fields the report filled (names as in `specs`).
    pub filled: Vec<&'static str>,
    /// Fields the report gave that the device's category does not take.
    pub ignored: Vec<&'static str>,
    pub serial_check: SerialCheck,
}

fn stored_status(m: &item::Model) -> ApiResult<ItemStatus> {
    ItemStatus::parse(&m.status).ok_or_else(|| ApiError::new(ErrorCode::Internal))
}

/// Merges what a report gives into `current`, keeping only the fields `category` takes.
fn merge_report(
    current: &Specs,
    r: &HardwareReport,
    category: Category,
) -> (Specs, Vec<&'static str>, Vec<&'static str>) {
    let mut next = current.clone();
    let (mut filled, mut ignored) = (Vec::new(), Vec::new());
    let storage_gb = r.media.iter().filter_map(|m| m.capacity_gb).sum::<i32>();
    let storage_kind = r.media.first().and_then(|m| m.kind);
    macro_rules! take {
        ($field:ident, $value:expr) => {
            if let Some(v) = $value {
                let mut candidate = Specs::default();
                candidate.$field = Some(v.clone());
                let mut errors = FieldErrors::new();
                candidate.check(category, "", &mut errors);
                if errors.is_empty() {
                    next.$field = Some(v);
                    filled.push(stringify!($field));
                } else {
                    ignored.push(stringify!($field));
                }
            }
        };
    }
    take!(cpu, r.cpu.clone());
    take!(cpu_cores, r.cpu_cores);
    take!(cpu_mhz, r.cpu_mhz);
    take!(ram_gb, r.ram_gb);
    take!(storage_gb, (storage_gb > 0).then_some(storage_gb));
    take!(storage_kind, storage_kind);
    take!(battery_design_mwh, r.battery_design_mwh);
    take!(battery_full_mwh, r.battery_full_mwh);
    take!(battery_health_percent, r.battery_health_percent);
    take!(screen_inches, r.screen_inches);
    (next, filled, ignored)
}

/// Applies a parsed hardware report to a device held by `by` (in its body's inventory or on the
/// bench): fills the specs it gives, declares the media it lists (source `hardware_report`),
/// records the serial the firmware reports, and keeps the raw report. Appends
/// `hardware_report_received` (and `storage_media_declared` when the media changed).
pub async fn apply_hardware_report(
    state: &AppState,
    by: &By,
    item_id: Uuid,
    raw: Vec<u8>,
    report: HardwareReport,
) -> ApiResult<HardwareOutcome> {
    let org = by.organisation_id;
    let key = format!("{org}/hardware-reports/{item_id}-{}.json", store::new_id());
    state
        .blobs
        .put(&key, raw, "application/json")
        .await
        .map_err(blob_error)?;
    let key_ref = key.as_str();
    let report_ref = &report;
    let saved = write_owned(&state.db, |tx| async move {
        let tx = &*tx;
        let m = items::lock_item(tx, item_id).await?;
        if m.custodian_id != org {
            return Err(ApiError::forbidden());
        }
        let status = stored_status(&m)?;
        if !dom::accepts_media_declaration(status) {
            return Err(ApiError::new(ErrorCode::ItemNotEditable).detail(
                format!("Un rapport matériel s'enregistre à l'inventaire ou à l'atelier, avant la publication (statut actuel : {}).", m.status),
                format!("A hardware report is recorded in the inventory or on the bench, before publication (current status: {}).", m.status),
            ));
        }
        let category = Category::parse(&m.category).unwrap_or(Category::Other);
        let (specs, filled, ignored) = merge_report(&items::stored_specs(&m), report_ref, category);
        let check = SerialCheck::of(m.serial_number.as_deref(), report_ref.serial.as_deref());
        let mut update = item::Entity::update_many();
        for (col, value) in items::spec_columns(&specs) {
            update = update.col_expr(col, value);
        }
        let now = store::now();
        let has_storage = m.has_data_storage || !report_ref.media.is_empty();
        update
            .col_expr(item::Column::ReportedSerial, Expr::value(report_ref.serial.clone()))
            .col_expr(item::Column::HardwareReportBlobKey, Expr::value(Some(key_ref.to_owned())))
            .col_expr(item::Column::HardwareReportAt, Expr::value(Some(now)))
            .col_expr(item::Column::HasDataStorage, Expr::value(has_storage))
            .col_expr(item::Column::Version, Expr::value(m.version + 1))
            .col_expr(item::Column::UpdatedAt, Expr::value(now))
            .filter(item::Column::Id.eq(m.id))
            .exec(tx)
            .await?;
        let media: Vec<MediumDecl> = report_ref
            .media
            .iter()
            .map(|r| MediumDecl {
                serial: r.serial.clone(),
                medium_type: r.kind,
                capacity_gb: r.capacity_gb,
            })
            .collect();
        if !media.is_empty() {
            items::check_media(&media, "storage_media").map_err(ApiError::from)?;
            let (added, removed) = items::replace_storage_media(
                tx,
                m.id,
                &media,
                dom::MediumSource::HardwareReport,
                &by.actor_ref,
                now,
            )
            .await?;
            if !added.is_empty() || !removed.is_empty() {
                tx.event(NewEvent {
                    stream: item_stream(m.id),
                    organisation_id: Some(org),
                    actor: by.actor_ref.clone(),
                    kind: "storage_media_declared",
                    payload: serde_json::json!({
                        "organisation_id": org,
                        "source": dom::MediumSource::HardwareReport.as_str(),
                        "media": items::media_serials(&media),
                        "added": added,
                        "removed": removed,
                    }),
                })
                .await?;
            }
        }
        crate::search::indexer::items_changed(tx, &[m.id]).await?;
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "hardware_report_received",
            payload: serde_json::json!({
                "organisation_id": org,
                "tool": "lshw",
                "filled": filled,
                "ignored": ignored,
                "reported_serial": report_ref.serial,
                "serial_check": check.as_str(),
                "media": items::media_serials(&media),
                "media_without_serial": report_ref.media_without_serial,
            }),
        })
        .await?;
        let updated = items::find_item(tx, m.id).await?;
        Ok((m.hardware_report_blob_key, updated, filled, ignored, check))
    })
    .await;
    match saved {
        Ok((old, item, filled, ignored, serial_check)) => {
            if let Some(old) = old {
                let _ = state.blobs.delete(&old).await;
            }
            Ok(HardwareOutcome {
                item,
                report,
                filled,
                ignored,
                serial_check,
            })
        }
        Err(e) => {
            let _ = state.blobs.delete(&key).await;
            Err(e)
        }
    }
}

/// One spec correction: the new value of each field named, `None` to clear it.
#[derive(Debug, Clone, Default)]
pub struct SpecCorrection {
    pub cpu: Option<Option<String>>,
    pub ram_gb: Option<Option<i32>>,
    pub storage_gb: Option<Option<i32>>,
    pub storage_kind: Option<Option<StorageKind>>,
    pub screen_inches: Option<Option<f64>>,
    pub battery_health_percent: Option<Option<i32>>,
    pub cpu_cores: Option<Option<i32>>,
    pub cpu_mhz: Option<Option<i32>>,
    pub battery_design_mwh: Option<Option<i32>>,
    pub battery_full_mwh: Option<Option<i32>>,
}

/// Corrects the specs of a device its holder has in hand (in the inventory, on the bench or in
/// the catalogue): each changed field is recorded with its old and new value in
/// `item_specs_corrected`, so the history tells who changed what.
pub async fn correct_specs(
    state: &AppState,
    by: &By,
    item_id: Uuid,
    c: &SpecCorrection,
) -> ApiResult<item::Model> {
    let org = by.organisation_id;
    write_owned(&state.db, |tx| async move {
        let tx = &*tx;
        let m = items::lock_item(tx, item_id).await?;
        if m.custodian_id != org {
            return Err(ApiError::forbidden());
        }
        if !reports_accept_spec_edit(stored_status(&m)?) {
            return Err(ApiError::new(ErrorCode::ItemNotEditable).detail(
                format!("Les caractéristiques se corrigent tant que l'équipement est entre vos mains et n'est ni réservé ni cédé (statut actuel : {}).", m.status),
                format!("Specs are corrected while the device is in your hands and neither reserved nor given (current status: {}).", m.status),
            ));
        }
        let before = items::stored_specs(&m);
        let mut after = before.clone();
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &c.$f { after.$f = v.clone(); } )* };
        }
        set!(cpu, ram_gb, storage_gb, storage_kind, screen_inches, battery_health_percent, cpu_cores, cpu_mhz, battery_design_mwh, battery_full_mwh);
        let category = Category::parse(&m.category).unwrap_or(Category::Other);
        let mut errors = FieldErrors::new();
        after.check(category, "", &mut errors);
        if after.cpu.as_deref().is_some_and(|c| c.trim().chars().count() > 100) {
            errors.push("cpu", Invalid::TooLong);
        }
        errors.finish(|| Some(())).map_err(ApiError::from)?;
        let mut changes = serde_json::Map::new();
        macro_rules! diff {
            ($($f:ident),*) => { $(
                if before.$f != after.$f {
                    changes.insert(stringify!($f).to_owned(), serde_json::json!({
                        "from": serde_json::to_value(&before.$f).unwrap_or_default(),
                        "to": serde_json::to_value(&after.$f).unwrap_or_default(),
                    }));
                }
            )* };
        }
        diff!(cpu, ram_gb, storage_gb, storage_kind, screen_inches, battery_health_percent, cpu_cores, cpu_mhz, battery_design_mwh, battery_full_mwh);
        let mut update = item::Entity::update_many();
        for (col, value) in items::spec_columns(&after) {
            update = update.col_expr(col, value);
        }
        update
            .col_expr(item::Column::Version, Expr::value(m.version + 1))
            .col_expr(item::Column::UpdatedAt, Expr::value(store::now()))
            .filter(item::Column::Id.eq(m.id))
            .exec(tx)
            .await?;
        crate::search::indexer::items_changed(tx, &[m.id]).await?;
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "item_specs_corrected",
            payload: serde_json::json!({ "organisation_id": org, "changes": changes }),
        })
        .await?;
        items::find_item(tx, m.id).await
    })
    .await
}

/// Whether the holder may correct a device's specs in this status: while it is in its hands and
/// nobody has been promised it on those specs (reserved) or received it.
pub fn reports_accept_spec_edit(status: ItemStatus) -> bool {
    match status {
        ItemStatus::Inventoried
        | ItemStatus::Listed
        | ItemStatus::Collected
        | ItemStatus::Refurbished
        | ItemStatus::Available => true,
        ItemStatus::Awarded | ItemStatus::Reserved | ItemStatus::Donated | ItemStatus::Recycled => {
            false
        }
    }
}

/// A wipe log's disk, read, and where it goes.
#[derive(Debug, Clone)]
pub struct LogDisk {
    pub run: usize,
    pub entry: WipeEntry,
    /// The serial it is matched by: the log's, or the one the operator assigned to its device
    /// node when the log has none.
    pub serial: Option<String>,
    pub assigned: bool,
}

/// A disk of the log that became no record, and why.
#[derive(Debug, Clone)]
pub struct Unmatched {
    pub device: String,
    pub serial: Option<String>,
    pub status: String,
    pub reason_fr: String,
    pub reason_en: String,
}

/// The records one device got from a wipe log.
#[derive(Debug)]
pub struct DeviceWipe {
    pub item_id: Uuid,
    pub result: Result<Vec<sanitisation_record::Model>, ApiError>,
}

/// What a wipe log gave.
#[derive(Debug)]
pub struct WipeOutcome {
    pub tool_version: Option<String>,
    pub devices: Vec<DeviceWipe>,
    pub unmatched: Vec<Unmatched>,
}

/// Reads an nwipe log's disks, with the operator's assignments (device node → serial) for disks
/// the log gives no serial of (a loop device, a USB bridge that hides it).
pub fn log_disks(runs: &[WipeRun], assign: &HashMap<String, String>) -> Vec<LogDisk> {
    let mut out = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for e in &run.entries {
            let assigned = assign.get(&e.device).cloned();
            let (serial, was_assigned) = match (&e.serial, assigned) {
                (Some(s), _) => (Some(s.clone()), false),
                (None, Some(a)) => (Some(a), true),
                (None, None) => (None, false),
            };
            out.push(LogDisk {
                run: i,
                entry: e.clone(),
                serial,
                assigned: was_assigned,
            });
        }
    }
    out
}

/// Ingests an nwipe log for the devices `item_ids` held by `by`: each disk of its summary
/// tables is matched to the device that declares a medium with its serial and becomes a
/// sanitisation record there (method from [`reports::nwipe_nist_method`], success when nwipe
/// says `Erased` with no error), with the log attached. Each device is its own write: one
/// device refused does not stop the others. Disks matching no declared medium, or without a
/// serial, are reported and recorded nowhere.
pub async fn ingest_wipe_log(
    state: &AppState,
    by: &By,
    item_ids: &[Uuid],
    raw: Vec<u8>,
    runs: Vec<WipeRun>,
    assign: &HashMap<String, String>,
    operator_name: &str,
) -> ApiResult<WipeOutcome> {
    let org = by.organisation_id;
    // Which device declares which serial (read before the writes; each write checks again).
    let mut owner_of: HashMap<String, (Uuid, Option<StorageKind>)> = HashMap::new();
    for id in item_ids {
        for medium in items::storage_media(&state.db, *id).await? {
            owner_of.insert(
                medium.serial_key.clone(),
                (
                    *id,
                    medium.medium_type.as_deref().and_then(StorageKind::parse),
                ),
            );
        }
    }
    let disks = log_disks(&runs, assign);
    let mut per_item: HashMap<Uuid, Vec<(LogDisk, Option<StorageKind>)>> = HashMap::new();
    let mut unmatched = Vec::new();
    for d in disks {
        let status = d.entry.status.as_text();
        match d.serial.as_deref().map(medium_key) {
            None => unmatched.push(Unmatched {
                device: d.entry.device.clone(),
                serial: None,
                status,
                reason_fr: format!("le journal ne donne pas de numéro de série pour {} : indiquez-le avec assign={}:NUMERO", d.entry.device, d.entry.device),
                reason_en: format!("the log gives no serial number for {}: give it with assign={}:SERIAL", d.entry.device, d.entry.device),
            }),
            Some(key) => match owner_of.get(&key) {
                Some((item, kind)) => per_item.entry(*item).or_default().push((d, *kind)),
                None => unmatched.push(Unmatched {
                    device: d.entry.device.clone(),
                    serial: d.serial.clone(),
                    status,
                    reason_fr: "aucun des équipements indiqués ne déclare ce support".to_owned(),
                    reason_en: "none of the devices named declares this medium".to_owned(),
                }),
            },
        }
    }
    if per_item.is_empty() {
        let list: Vec<String> = unmatched
            .iter()
            .map(|u| format!("{} ({})", u.device, u.serial.as_deref().unwrap_or("?")))
            .collect();
        return Err(ApiError::new(ErrorCode::WipeLogUnmatched).detail(
            format!("Disques du journal sans support déclaré correspondant : {}. Déclarez les supports (rapport matériel ou PUT /v1/items/{{id}}/storage-media) ou nommez-les avec assign=périphérique:numéro.", list.join(", ")),
            format!("Disks of the log without a matching declared medium: {}. Declare the media (hardware report or PUT /v1/items/{{id}}/storage-media) or name them with assign=device:serial.", list.join(", ")),
        ));
    }
    let key = format!("{org}/sanitisation-reports/nwipe-{}.log", store::new_id());
    state
        .blobs
        .put(&key, raw, "text/plain; charset=utf-8")
        .await
        .map_err(blob_error)?;
    let mut devices = Vec::new();
    let mut any_saved = false;
    for id in item_ids {
        let Some(all) = per_item.get(id) else {
            devices.push(DeviceWipe {
                item_id: *id,
                result: Err(ApiError::new(ErrorCode::WipeLogUnmatched).detail(
                    "Aucun disque du journal ne correspond aux supports déclarés de cet équipement.",
                    "No disk of the log matches this device's declared media.",
                )),
            });
            continue;
        };
        // A log nwipe appended to holds the earlier runs too: those already recorded (same
        // medium, device node, start and end) are not recorded twice.
        let existing = items::sanitisations(&state.db, *id).await?;
        let disks: Vec<(LogDisk, Option<StorageKind>)> = all
            .iter()
            .filter(|(d, _)| {
                let serial = d.serial.as_deref().map(medium_key).unwrap_or_default();
                !existing.iter().any(|r| {
                    r.tool == "nwipe"
                        && medium_key(&r.medium_serial) == serial
                        && r.device_name.as_deref() == Some(d.entry.device.as_str())
                        && utc(d.entry.started_at).is_some_and(|t| t == r.started_at)
                        && utc(d.entry.ended_at).is_none_or(|t| t == r.ended_at)
                })
            })
            .cloned()
            .collect();
        if disks.is_empty() {
            devices.push(DeviceWipe {
                item_id: *id,
                result: Ok(vec![]),
            });
            continue;
        }
        let result = record_from_log(state, by, *id, &disks, &runs, &key, operator_name).await;
        any_saved |= result.is_ok();
        devices.push(DeviceWipe {
            item_id: *id,
            result,
        });
    }
    if !any_saved {
        let _ = state.blobs.delete(&key).await;
    }
    Ok(WipeOutcome {
        tool_version: runs.iter().find_map(|r| r.tool_version.clone()),
        devices,
        unmatched,
    })
}

fn utc(t: Option<chrono::NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(|t| t.and_utc())
}

async fn record_from_log(
    state: &AppState,
    by: &By,
    item_id: Uuid,
    disks: &[(LogDisk, Option<StorageKind>)],
    runs: &[WipeRun],
    blob_key: &str,
    operator_name: &str,
) -> ApiResult<Vec<sanitisation_record::Model>> {
    let org = by.organisation_id;
    write_owned(&state.db, |tx| async move {
        let tx = &*tx;
        let m = items::lock_item(tx, item_id).await?;
        if m.custodian_id != org {
            return Err(ApiError::forbidden());
        }
        if !dom::accepts_sanitisation(stored_status(&m)?) {
            return Err(ApiError::new(ErrorCode::ItemNotEditable).detail(
                format!("Les effacements s'enregistrent sur un équipement enlevé ou reconditionné (statut actuel : {}).", m.status),
                format!("Sanitisations are recorded on a collected or refurbished device (current status: {}).", m.status),
            ));
        }
        let now = store::now();
        let mut ids = Vec::new();
        for (d, kind) in disks {
            let run = &runs[d.run];
            let e = &d.entry;
            let method = reports::nwipe_nist_method(run.method.as_deref(), e.verified, *kind);
            let started = utc(e.started_at).or(utc(e.ended_at)).unwrap_or(now).min(now);
            let ended = utc(e.ended_at).unwrap_or(started).clamp(started, now.max(started));
            let verification = match (run.verify.as_deref(), e.verified) {
                (Some(v), true) => format!("nwipe verify = {v} : vérification réussie"),
                (Some(v), false) => format!("nwipe verify = {v} : pas de vérification réussie"),
                (None, verified) => if verified { "vérification réussie".to_owned() } else { "aucune".to_owned() },
            };
            let mut notes = format!(
                "nwipe : méthode « {} », {} passe(s), statut {}, erreurs passe/vérif./sync {}/{}/{}",
                run.method.as_deref().unwrap_or("?"),
                run.rounds.unwrap_or(1),
                e.status.as_text(),
                e.pass_errors.unwrap_or(0),
                e.verify_errors.unwrap_or(0),
                e.sync_errors.unwrap_or(0),
            );
            if d.assigned {
                notes.push_str(&format!(" ; numéro de série attribué par l'opérateur au périphérique {}", e.device));
            }
            let id = store::new_id();
            let serial = d.serial.clone().unwrap_or_default();
            sanitisation_record::Entity::insert(sanitisation_record::ActiveModel {
                id: Set(id),
                item_id: Set(m.id),
                organisation_id: Set(org),
                medium_serial: Set(serial.clone()),
                medium_type: Set(kind.map_or("hdd", |k| k.as_str()).to_owned()),
                method: Set(method.as_str().to_owned()),
                tool: Set("nwipe".to_owned()),
                tool_version: Set(run.tool_version.clone().unwrap_or_else(|| "?".to_owned())),
                verification_method: Set(verification),
                success: Set(e.succeeded()),
                operator_name: Set(operator_name.to_owned()),
                started_at: Set(started),
                ended_at: Set(ended),
                notes: Set(Some(notes)),
                report_blob_key: Set(Some(blob_key.to_owned())),
                rounds: Set(run.rounds),
                throughput_bytes_per_sec: Set(e.throughput_bytes_per_sec),
                tool_status: Set(Some(e.status.as_text())),
                device_name: Set(Some(e.device.clone())),
                created_by: Set(by.actor_ref.clone()),
                created_at: Set(now),
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
                    "record_id": id,
                    "medium_serial": serial,
                    "method": method.as_str(),
                    "tool": "nwipe",
                    "success": e.succeeded(),
                    "source": "nwipe_log",
                }),
            })
            .await?;
            ids.push(id);
        }
        let mut out = Vec::new();
        for id in ids {
            out.push(items::find_sanitisation(tx, m.id, id).await?);
        }
        Ok(out)
    })
    .await
}
