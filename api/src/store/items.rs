//! Devices and what hangs off them (bench records, disposals, photos, import jobs): their rows,
//! the queries beyond a lookup by id, and the row a new device starts from.

use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use reemploi_domain::item::{Category, InventoryNumber, PublicCode, Specs};
use reemploi_domain::lifecycle::ItemStatus;
use reemploi_domain::workshop::{self as dom, MediumAttempt, SanitisationMethod};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use super::entities::{
    disposal, event, item, job, organisation, photo, refurbishment_record, sanitisation_record,
    storage_medium,
};
use crate::error::{ApiError, ApiResult};

/// Validated fields of a device, shared by the form and the import (kept as JSON by a staged
/// import between its two passes).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ItemFields {
    pub inventory_number: InventoryNumber,
    pub category: Category,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub donor_status: Option<String>,
    pub specs: Specs,
    pub has_data_storage: bool,
    pub acquisition_date: Option<NaiveDate>,
    pub acquisition_value_cents: Option<i64>,
    pub net_book_value_cents: Option<i64>,
    pub condition_notes: Option<String>,
    /// The storage media the device declares; `None` leaves them as they are.
    pub storage_media: Option<Vec<MediumDecl>>,
}

/// A fresh public code.
pub fn new_public_code() -> String {
    let bits: u64 = rand::rng().random::<u64>() & ((1u64 << 50) - 1);
    PublicCode::from_random(bits).as_str().to_owned()
}

/// The CPU as stored: trimmed, blank as none.
pub fn stored_cpu(f: &ItemFields) -> Option<String> {
    f.specs
        .cpu
        .as_ref()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
}

/// Writes the columns of `fields` into an active model.
pub fn set_fields(am: &mut item::ActiveModel, f: &ItemFields) {
    am.inventory_number = Set(f.inventory_number.as_str().to_owned());
    am.category = Set(f.category.as_str().to_owned());
    am.brand = Set(f.brand.clone());
    am.model = Set(f.model.clone());
    am.serial_number = Set(f.serial_number.clone());
    am.name = Set(f.name.clone());
    am.location = Set(f.location.clone());
    am.donor_status = Set(f.donor_status.clone());
    am.cpu = Set(stored_cpu(f));
    am.ram_gb = Set(f.specs.ram_gb);
    am.storage_gb = Set(f.specs.storage_gb);
    am.storage_kind = Set(f.specs.storage_kind.map(|k| k.as_str().to_owned()));
    am.screen_inches = Set(f.specs.screen_inches);
    am.battery_health_percent = Set(f.specs.battery_health_percent);
    am.cpu_cores = Set(f.specs.cpu_cores);
    am.cpu_mhz = Set(f.specs.cpu_mhz);
    am.battery_design_mwh = Set(f.specs.battery_design_mwh);
    am.battery_full_mwh = Set(f.specs.battery_full_mwh);
    am.has_data_storage = Set(f.has_data_storage);
    am.acquisition_date = Set(f.acquisition_date);
    am.acquisition_value_cents = Set(f.acquisition_value_cents);
    am.net_book_value_cents = Set(f.net_book_value_cents);
    am.condition_notes = Set(f.condition_notes.clone());
}

/// A new device's row, owned and held by its public body.
pub fn new_item(org: Uuid, f: &ItemFields, now: DateTime<Utc>) -> item::ActiveModel {
    let mut am = item::ActiveModel {
        id: Set(super::new_id()),
        public_code: Set(new_public_code()),
        organisation_id: Set(org),
        grade: Set(None),
        status: Set(ItemStatus::Inventoried.as_str().to_owned()),
        owner_id: Set(org),
        custodian_id: Set(org),
        lot_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    set_fields(&mut am, f);
    am
}

/// The payload of an `item_registered` event.
pub fn registered_payload(org: Uuid, f: &ItemFields, public_code: &str) -> serde_json::Value {
    let mut payload = serde_json::json!({
        "organisation_id": org,
        "inventory_number": f.inventory_number.as_str(),
        "category": f.category.as_str(),
        "public_code": public_code,
        "to": "inventoried",
    });
    if let Some(media) = f.storage_media.as_deref().filter(|m| !m.is_empty()) {
        payload["storage_media"] = serde_json::json!(media_serials(media));
    }
    payload
}

/// The specs of a stored device, as the domain reads them.
pub fn stored_specs(m: &item::Model) -> Specs {
    Specs {
        cpu: m.cpu.clone(),
        ram_gb: m.ram_gb,
        storage_gb: m.storage_gb,
        storage_kind: m
            .storage_kind
            .as_deref()
            .and_then(reemploi_domain::item::StorageKind::parse),
        screen_inches: m.screen_inches,
        battery_health_percent: m.battery_health_percent,
        cpu_cores: m.cpu_cores,
        cpu_mhz: m.cpu_mhz,
        battery_design_mwh: m.battery_design_mwh,
        battery_full_mwh: m.battery_full_mwh,
    }
}

/// The columns that hold `specs`, as update expressions.
pub fn spec_columns(specs: &Specs) -> Vec<(item::Column, sea_orm::sea_query::SimpleExpr)> {
    vec![
        (
            item::Column::Cpu,
            Expr::value(
                specs
                    .cpu
                    .as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            ),
        ),
        (item::Column::RamGb, Expr::value(specs.ram_gb)),
        (item::Column::StorageGb, Expr::value(specs.storage_gb)),
        (
            item::Column::StorageKind,
            Expr::value(specs.storage_kind.map(|k| k.as_str().to_owned())),
        ),
        (item::Column::ScreenInches, Expr::value(specs.screen_inches)),
        (
            item::Column::BatteryHealthPercent,
            Expr::value(specs.battery_health_percent),
        ),
        (item::Column::CpuCores, Expr::value(specs.cpu_cores)),
        (item::Column::CpuMhz, Expr::value(specs.cpu_mhz)),
        (
            item::Column::BatteryDesignMwh,
            Expr::value(specs.battery_design_mwh),
        ),
        (
            item::Column::BatteryFullMwh,
            Expr::value(specs.battery_full_mwh),
        ),
    ]
}

/// Loads a device or answers 404.
pub async fn find_item<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<item::Model> {
    item::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Loads a device for a write and locks its row until the transaction ends (`FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction already holds the database), or answers 404.
pub async fn lock_item<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<item::Model> {
    item::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The value a device is judged on against the 300 € ceiling: its net book value when the
/// inventory has it, otherwise the value its public body confirmed (`docs/legal.md`).
pub fn ceiling_value_cents(m: &item::Model) -> Option<i64> {
    m.net_book_value_cents.or(m.valuation_cents)
}

/// What the eligibility check of `domain` knows of a device.
pub fn eligibility_facts(m: &item::Model) -> reemploi_domain::eligibility::ItemFacts {
    reemploi_domain::eligibility::ItemFacts {
        reference: m.inventory_number.clone(),
        category: Category::parse(&m.category).unwrap_or(Category::Other),
        net_book_value_cents: ceiling_value_cents(m),
        acquisition_date: m.acquisition_date,
        age_override: m.age_override_reason.is_some(),
        ceiling_override: m.ceiling_override_reason.is_some(),
    }
}

/// How documents and records name the caller: the user's display name, or the API key.
pub async fn person_name<C: ConnectionTrait>(
    db: &C,
    caller: &crate::access::Caller,
) -> ApiResult<String> {
    Ok(match caller.user_id() {
        Some(id) => super::entities::user::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_else(|| caller.actor_ref()),
        None => format!("clé d'API ({})", caller.actor_ref()),
    })
}

/// The organisations related to a device: origin, owner, custodian.
pub fn related_orgs(m: &item::Model) -> [Uuid; 3] {
    [m.organisation_id, m.owner_id, m.custodian_id]
}

/// What a list of devices is filtered on.
#[derive(Debug, Clone)]
pub struct ItemFilter<'a> {
    /// The organisation whose inventory, custody or ownership is listed.
    pub organisation_id: Uuid,
    pub status: Option<ItemStatus>,
    pub category: Option<Category>,
    pub lot_id: Option<Uuid>,
    /// Free text on brand, model, serial number and inventory number.
    pub q: Option<&'a str>,
}

/// The devices an organisation came with, owns or holds, filtered (unordered: the caller pages).
pub fn list(filter: &ItemFilter<'_>) -> Select<item::Entity> {
    let org = filter.organisation_id;
    let mut select = item::Entity::find().filter(
        Condition::any()
            .add(item::Column::OrganisationId.eq(org))
            .add(item::Column::OwnerId.eq(org))
            .add(item::Column::CustodianId.eq(org)),
    );
    if let Some(s) = filter.status {
        select = select.filter(item::Column::Status.eq(s.as_str()));
    }
    if let Some(c) = filter.category {
        select = select.filter(item::Column::Category.eq(c.as_str()));
    }
    if let Some(l) = filter.lot_id {
        select = select.filter(item::Column::LotId.eq(l));
    }
    if let Some(q) = filter.q.map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let like = |col: item::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        select = select.filter(
            Condition::any()
                .add(like(item::Column::Brand))
                .add(like(item::Column::Model))
                .add(like(item::Column::SerialNumber))
                .add(like(item::Column::InventoryNumber)),
        );
    }
    select
}

/// The events of one stream (unordered: the caller pages).
pub fn stream_events(stream: &str) -> Select<event::Entity> {
    event::Entity::find().filter(event::Column::Stream.eq(stream))
}

/// The events of one stream, oldest first.
pub async fn stream_history<C: ConnectionTrait>(
    db: &C,
    stream: &str,
) -> ApiResult<Vec<event::Model>> {
    Ok(stream_events(stream)
        .order_by_asc(event::Column::Seq)
        .all(db)
        .await?)
}

/// The device a label's public code names, or 404.
pub async fn find_by_public_code<C: ConnectionTrait>(
    db: &C,
    code: &PublicCode,
) -> ApiResult<item::Model> {
    item::Entity::find()
        .filter(item::Column::PublicCode.eq(code.as_str()))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// An organisation's name, if it exists.
pub async fn organisation_name<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<Option<String>> {
    Ok(organisation::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|o| o.name))
}

/// How many devices an organisation holds, by stored status (counted by the database: a
/// workshop may hold thousands of devices).
pub async fn custody_counts<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
) -> ApiResult<Vec<(String, i64)>> {
    Ok(item::Entity::find()
        .select_only()
        .column(item::Column::Status)
        .column_as(item::Column::Id.count(), "n")
        .filter(item::Column::CustodianId.eq(org))
        .group_by(item::Column::Status)
        .into_tuple()
        .all(db)
        .await?)
}

/// The sanitisation attempts of a device, oldest first.
pub async fn sanitisations<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
) -> ApiResult<Vec<sanitisation_record::Model>> {
    Ok(sanitisation_records(db, item_id).await?)
}

/// The sanitisation attempts of a device, oldest first, as the database answers them.
async fn sanitisation_records<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
) -> Result<Vec<sanitisation_record::Model>, sea_orm::DbErr> {
    sanitisation_record::Entity::find()
        .filter(sanitisation_record::Column::ItemId.eq(item_id))
        .order_by_asc(sanitisation_record::Column::Id)
        .all(db)
        .await
}

/// The attempts of `records` as the domain reads them.
fn attempts(records: &[sanitisation_record::Model]) -> Vec<MediumAttempt<'_>> {
    records
        .iter()
        .map(|r| MediumAttempt {
            medium_serial: &r.medium_serial,
            // An unknown stored method allows nothing.
            method: SanitisationMethod::parse(&r.method).unwrap_or(SanitisationMethod::Clear),
            success: r.success,
            ended_at: r.ended_at,
        })
        .collect()
}

/// Whether the device declares media and every declared medium's latest sanitisation
/// succeeded with a method allowing re-use.
pub fn storage_sanitised(
    media: &[storage_medium::Model],
    records: &[sanitisation_record::Model],
) -> bool {
    let declared: Vec<&str> = media.iter().map(|m| m.serial.as_str()).collect();
    dom::storage_sanitised(&declared, &attempts(records))
}

/// Where each declared medium stands, in declaration order.
pub fn media_states(
    media: &[storage_medium::Model],
    records: &[sanitisation_record::Model],
) -> Vec<dom::MediumState> {
    let attempts = attempts(records);
    media
        .iter()
        .map(|m| dom::medium_state(&m.serial, &attempts))
        .collect()
}

/// The storage media a device declares, in declaration order.
pub async fn storage_media<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
) -> Result<Vec<storage_medium::Model>, sea_orm::DbErr> {
    storage_medium::Entity::find()
        .filter(storage_medium::Column::ItemId.eq(item_id))
        .order_by_asc(storage_medium::Column::DeclaredAt)
        .order_by_asc(storage_medium::Column::SerialKey)
        .all(db)
        .await
}

/// The storage facts of a device for the life-cycle table: whether it declares media, and
/// whether each declared one is sanitised.
pub async fn storage_facts<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
) -> Result<(bool, bool), sea_orm::DbErr> {
    let media = storage_media(db, item_id).await?;
    let records = sanitisation_records(db, item_id).await?;
    Ok((!media.is_empty(), storage_sanitised(&media, &records)))
}

/// One medium as declared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediumDecl {
    pub serial: String,
    pub medium_type: Option<reemploi_domain::item::StorageKind>,
    pub capacity_gb: Option<i32>,
}

/// Checks a declared list (see `domain::workshop::check_media`), with the field path for errors.
pub fn check_media(
    media: &[MediumDecl],
    field: &str,
) -> Result<(), reemploi_domain::error::FieldErrors> {
    let mut errors = reemploi_domain::error::FieldErrors::new();
    dom::check_media(media.iter().map(|m| m.serial.as_str()), field, &mut errors);
    for (i, m) in media.iter().enumerate() {
        if m.capacity_gb.is_some_and(|c| !(1..=1_000_000).contains(&c)) {
            errors.push(
                format!("{field}[{i}].capacity_gb"),
                reemploi_domain::error::Invalid::OutOfRange,
            );
        }
    }
    errors.finish(|| Some(()))
}

/// The serials of a declared list, trimmed, for event payloads.
pub fn media_serials(media: &[MediumDecl]) -> Vec<String> {
    media.iter().map(|m| m.serial.trim().to_owned()).collect()
}

/// The row of one newly declared medium.
pub fn medium_row(
    item_id: Uuid,
    m: &MediumDecl,
    source: dom::MediumSource,
    declared_by: &str,
    now: DateTime<Utc>,
) -> storage_medium::ActiveModel {
    storage_medium::ActiveModel {
        id: Set(super::new_id()),
        item_id: Set(item_id),
        serial: Set(m.serial.trim().to_owned()),
        serial_key: Set(dom::medium_key(&m.serial)),
        medium_type: Set(m.medium_type.map(|t| t.as_str().to_owned())),
        capacity_gb: Set(m.capacity_gb),
        source: Set(source.as_str().to_owned()),
        declared_by: Set(declared_by.to_owned()),
        declared_at: Set(now),
    }
}

/// Replaces the media a device declares with `media` (checked with [`check_media`]), and
/// answers the serials (as declared) that were added and removed. A medium kept keeps its first
/// declaration; a re-declared one takes the new type and capacity when they are given.
pub async fn replace_storage_media<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
    media: &[MediumDecl],
    source: dom::MediumSource,
    declared_by: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, Vec<String>), sea_orm::DbErr> {
    let existing = storage_media(db, item_id).await?;
    let keys: Vec<String> = media.iter().map(|m| dom::medium_key(&m.serial)).collect();
    let mut removed = Vec::new();
    for old in &existing {
        if !keys.contains(&old.serial_key) {
            storage_medium::Entity::delete_by_id(old.id)
                .exec(db)
                .await?;
            removed.push(old.serial.clone());
        }
    }
    let mut added = Vec::new();
    for (m, key) in media.iter().zip(keys) {
        match existing.iter().find(|old| old.serial_key == key) {
            Some(old) => {
                let mut am: storage_medium::ActiveModel = old.clone().into();
                if let Some(t) = m.medium_type {
                    am.medium_type = Set(Some(t.as_str().to_owned()));
                }
                if m.capacity_gb.is_some() {
                    am.capacity_gb = Set(m.capacity_gb);
                }
                storage_medium::Entity::update(am).exec(db).await?;
            }
            None => {
                storage_medium::Entity::insert(medium_row(item_id, m, source, declared_by, now))
                    .exec_without_returning(db)
                    .await?;
                added.push(m.serial.trim().to_owned());
            }
        }
    }
    Ok((added, removed))
}

/// One sanitisation record of a device, or 404.
pub async fn find_sanitisation<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
    record_id: Uuid,
) -> ApiResult<sanitisation_record::Model> {
    sanitisation_record::Entity::find_by_id(record_id)
        .one(db)
        .await?
        .filter(|r| r.item_id == item_id)
        .ok_or_else(ApiError::not_found)
}

/// The refurbishment records of a device, oldest first.
pub async fn refurbishments<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
) -> ApiResult<Vec<refurbishment_record::Model>> {
    Ok(refurbishment_record::Entity::find()
        .filter(refurbishment_record::Column::ItemId.eq(item_id))
        .order_by_asc(refurbishment_record::Column::Id)
        .all(db)
        .await?)
}

/// One refurbishment record, or 404.
pub async fn find_refurbishment<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> ApiResult<refurbishment_record::Model> {
    refurbishment_record::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The disposal of a device, or 404 while it has none.
pub async fn disposal_of<C: ConnectionTrait>(db: &C, item_id: Uuid) -> ApiResult<disposal::Model> {
    disposal::Entity::find()
        .filter(disposal::Column::ItemId.eq(item_id))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// One disposal, or 404.
pub async fn find_disposal<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<disposal::Model> {
    disposal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The available devices among `ids` (any order).
pub async fn find_available_many<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> ApiResult<Vec<item::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(item::Entity::find()
        .filter(item::Column::Id.is_in(ids.to_vec()))
        .filter(item::Column::Status.eq(ItemStatus::Available.as_str()))
        .all(db)
        .await?)
}

/// The first photo (the thumbnail) of each of these devices that has one, by device.
pub async fn first_photos<C: ConnectionTrait>(
    db: &C,
    item_ids: &[Uuid],
) -> ApiResult<std::collections::HashMap<Uuid, photo::Model>> {
    let mut first = std::collections::HashMap::new();
    // By device then upload: the first row seen for a device is its first photo.
    for p in photos_of_items(db, item_ids).await? {
        first.entry(p.item_id).or_insert(p);
    }
    Ok(first)
}

/// The photos of a device, oldest first.
pub async fn photos<C: ConnectionTrait>(db: &C, item_id: Uuid) -> ApiResult<Vec<photo::Model>> {
    Ok(photo::Entity::find()
        .filter(photo::Column::ItemId.eq(item_id))
        .order_by_asc(photo::Column::Id)
        .all(db)
        .await?)
}

/// The photos of several devices, by device then upload.
pub async fn photos_of_items<C: ConnectionTrait>(
    db: &C,
    item_ids: &[Uuid],
) -> ApiResult<Vec<photo::Model>> {
    if item_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(photo::Entity::find()
        .filter(photo::Column::ItemId.is_in(item_ids.to_vec()))
        .order_by_asc(photo::Column::ItemId)
        .order_by_asc(photo::Column::Id)
        .all(db)
        .await?)
}

/// One photo of a device, or 404.
pub async fn find_photo<C: ConnectionTrait>(
    db: &C,
    item_id: Uuid,
    photo_id: Uuid,
) -> ApiResult<photo::Model> {
    photo::Entity::find_by_id(photo_id)
        .one(db)
        .await?
        .filter(|p| p.item_id == item_id)
        .ok_or_else(ApiError::not_found)
}

/// A background import as its first run holds it: the uploaded file is in the blob store under
/// `input_key`, with the `options` (JSON) it was sent with, so that another instance can run it
/// again if this one stops. The job row is bookkeeping, not a domain fact: the import appends its
/// own events when it commits.
pub struct NewImportJob<'a> {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub actor_ref: &'a str,
    pub input_key: &'a str,
    pub options: String,
    pub lease: chrono::TimeDelta,
}

/// Records a background import as running (its first run, holding the lease).
pub async fn start_import_job<C: ConnectionTrait>(
    db: &C,
    new: NewImportJob<'_>,
) -> ApiResult<job::Model> {
    let now = super::now();
    job::Entity::insert(job::ActiveModel {
        id: Set(new.id),
        organisation_id: Set(new.organisation_id),
        kind: Set("item_import".to_owned()),
        status: Set("running".to_owned()),
        total: Set(0),
        processed: Set(0),
        result: Set(None),
        error: Set(None),
        created_by: Set(new.actor_ref.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        lease_until: Set(Some(now + new.lease)),
        input_key: Set(Some(new.input_key.to_owned())),
        options: Set(Some(new.options)),
        attempt: Set(1),
    })
    .exec_without_returning(db)
    .await?;
    find_job(db, new.id).await
}

/// One run of a job: only the run holding the lease renews it and records the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRun {
    pub id: Uuid,
    pub attempt: i32,
}

/// How many runs a job gets before it is failed (its instance stopped this many times).
pub const JOB_MAX_ATTEMPTS: i32 = 3;

/// Renews the lease of a run still holding its job, with its progress; `false` when it no
/// longer holds it (another instance took the job over after the lease ran out, or failed it).
pub async fn renew_job<C: ConnectionTrait>(
    db: &C,
    run: JobRun,
    lease: chrono::TimeDelta,
    processed: u64,
    total: u64,
) -> Result<bool, sea_orm::DbErr> {
    let now = super::now();
    let r = job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(Some(now + lease)))
        .col_expr(job::Column::Processed, Expr::value(processed as i64))
        .col_expr(job::Column::Total, Expr::value(total as i64))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(run.id))
        .filter(job::Column::Attempt.eq(run.attempt))
        .filter(job::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// What [`reclaim_jobs`] did with the jobs whose instance stopped.
#[derive(Debug, Default)]
pub struct Reclaimed {
    /// Jobs this instance now runs again (their new run holds the lease).
    pub resumed: Vec<job::Model>,
    /// Jobs failed: no file to run again (from before files were kept), or out of runs.
    pub failed: u64,
    /// Input files of the failed jobs, to delete.
    pub orphaned_inputs: Vec<String>,
}

/// The error of a job whose instance stopped and that is not run again.
const ABANDONED: &str = "interrompu : l'instance du service qui l'exécutait s'est arrêtée ; rien n'a été importé, relancez l'import";

/// Takes over the jobs whose lease ran out (their instance stopped): each is run again by this
/// instance if its file is kept and it has runs left, or failed. The takeover is one conditional
/// update on the run number, so two instances never take the same job.
pub async fn reclaim_jobs<C: ConnectionTrait>(
    db: &C,
    lease: chrono::TimeDelta,
) -> Result<Reclaimed, sea_orm::DbErr> {
    let now = super::now();
    let stale = job::Entity::find()
        .filter(job::Column::Status.is_in(["queued", "running"]))
        .filter(
            job::Column::LeaseUntil
                .is_null()
                .or(job::Column::LeaseUntil.lt(now)),
        )
        .limit(20)
        .all(db)
        .await?;
    let mut out = Reclaimed::default();
    for j in stale {
        let resumable = j.input_key.is_some() && j.options.is_some();
        // Only while its lease is still run out and no other instance moved the run number.
        let still_abandoned = || {
            job::Entity::update_many()
                .col_expr(job::Column::UpdatedAt, Expr::value(now))
                .filter(job::Column::Id.eq(j.id))
                .filter(job::Column::Attempt.eq(j.attempt))
                .filter(job::Column::Status.is_in(["queued", "running"]))
                .filter(
                    job::Column::LeaseUntil
                        .is_null()
                        .or(job::Column::LeaseUntil.lt(now)),
                )
        };
        if resumable && j.attempt < JOB_MAX_ATTEMPTS {
            let r = still_abandoned()
                .col_expr(job::Column::Status, Expr::value("running"))
                .col_expr(job::Column::Attempt, Expr::value(j.attempt + 1))
                .col_expr(job::Column::LeaseUntil, Expr::value(Some(now + lease)))
                .col_expr(job::Column::Processed, Expr::value(0i64))
                .exec(db)
                .await?;
            if r.rows_affected == 1 {
                out.resumed.push(
                    find_job(db, j.id).await.map_err(|e| {
                        sea_orm::DbErr::Custom(format!("reading job {}: {e:?}", j.id))
                    })?,
                );
            }
            continue;
        }
        let r = still_abandoned()
            .col_expr(job::Column::Status, Expr::value("failed"))
            .col_expr(job::Column::Error, Expr::value(Some(ABANDONED)))
            .col_expr(
                job::Column::LeaseUntil,
                Expr::value(None::<chrono::DateTime<chrono::Utc>>),
            )
            .col_expr(job::Column::InputKey, Expr::value(None::<String>))
            .exec(db)
            .await?;
        if r.rows_affected == 1 {
            out.failed += 1;
            out.orphaned_inputs.extend(j.input_key);
        }
    }
    Ok(out)
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub status: &'static str,
    pub result: Option<String>,
    pub error: Option<String>,
    pub processed: u64,
    pub total: u64,
}

impl JobOutcome {
    /// A failure, with the reason a person reads.
    pub fn failed(error: &str) -> JobOutcome {
        JobOutcome {
            status: "failed",
            result: None,
            error: Some(error.to_owned()),
            processed: 0,
            total: 0,
        }
    }
}

/// Records how a run of a job ended; `false` when that run no longer held the job (another
/// instance took it over after the lease ran out), which then keeps the other run's outcome.
/// Run inside the import's own transaction, it makes the import and its outcome one fact.
pub async fn finish_job<C: ConnectionTrait>(
    db: &C,
    run: JobRun,
    outcome: JobOutcome,
) -> Result<bool, sea_orm::DbErr> {
    let r = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(outcome.status))
        .col_expr(job::Column::Result, Expr::value(outcome.result))
        .col_expr(job::Column::Error, Expr::value(outcome.error))
        .col_expr(
            job::Column::Processed,
            Expr::value(outcome.processed as i64),
        )
        .col_expr(job::Column::Total, Expr::value(outcome.total as i64))
        .col_expr(job::Column::UpdatedAt, Expr::value(super::now()))
        .col_expr(
            job::Column::LeaseUntil,
            Expr::value(None::<chrono::DateTime<chrono::Utc>>),
        )
        .col_expr(job::Column::InputKey, Expr::value(None::<String>))
        .filter(job::Column::Id.eq(run.id))
        .filter(job::Column::Attempt.eq(run.attempt))
        .filter(job::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// A job, or 404.
pub async fn find_job<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<job::Model> {
    job::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}
