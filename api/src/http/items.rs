//! Devices of a public body's inventory: create, read, update, list; their hash-chained history;
//! the public page a QR label opens; and the life-cycle table.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::FieldErrors;
use reemploi_domain::item::{
    self as dom, Category as DomCategory, InventoryNumber, PublicCode, Specs,
};
use reemploi_domain::lifecycle::{self, ItemStatus as DomStatus};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use super::access::BearerAuth;
use super::events::{ChainVerification, EventPage, EventResponse};
use super::merge_patch::MergePatch;
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, Str, Versioned, etag, mirror_enum};
use crate::commands::transitions::item_stream;
use crate::commands::{self, By};
use crate::error::{ApiError, ApiResult, ErrorCode, Lang};
use crate::state::AppState;
use crate::store::entities::{event, item};
use crate::store::events::verify_stream;
use crate::store::items::{self as store_items, ItemFilter};
pub use crate::store::items::{ItemFields, find_item, new_public_code, related_orgs};

mirror_enum!(
    /// Category of a device.
    Category <=> dom::Category {
        Laptop, Desktop, AllInOne, Monitor, Tablet, Smartphone, Printer, MultifunctionPrinter,
        Projector, Network, Server, Peripheral, Other
    }
);
mirror_enum!(
    /// Kind of storage medium.
    StorageKind <=> dom::StorageKind { Hdd, Ssd, Nvme, Emmc, Flash }
);
mirror_enum!(
    /// Where a device is in its life cycle.
    ItemStatus <=> DomStatus {
        Inventoried, Listed, Awarded, Collected, Refurbished, Available, Reserved, Donated, Recycled
    }
);

/// Technical specifications; which apply depends on the category.
#[derive(Debug, Clone, Default, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ItemSpecs {
    #[oai(validator(max_length = 100))]
    pub cpu: Option<String>,
    pub ram_gb: Option<i32>,
    pub storage_gb: Option<i32>,
    pub storage_kind: Option<StorageKind>,
    pub screen_inches: Option<f64>,
    pub battery_health_percent: Option<i32>,
    /// Cores of the processor(s), and its highest frequency in MHz (from a hardware report).
    pub cpu_cores: Option<i32>,
    pub cpu_mhz: Option<i32>,
    /// Battery design capacity and last full-charge capacity, in mWh.
    pub battery_design_mwh: Option<i32>,
    pub battery_full_mwh: Option<i32>,
}

impl ItemSpecs {
    pub fn to_domain(&self) -> Specs {
        Specs {
            cpu: self.cpu.clone(),
            ram_gb: self.ram_gb,
            storage_gb: self.storage_gb,
            storage_kind: self.storage_kind.map(Into::into),
            screen_inches: self.screen_inches,
            battery_health_percent: self.battery_health_percent,
            cpu_cores: self.cpu_cores,
            cpu_mhz: self.cpu_mhz,
            battery_design_mwh: self.battery_design_mwh,
            battery_full_mwh: self.battery_full_mwh,
        }
    }

    /// The specs of a domain value, for the wire.
    pub fn from_domain(s: &Specs) -> Self {
        Self {
            cpu: s.cpu.clone(),
            ram_gb: s.ram_gb,
            storage_gb: s.storage_gb,
            storage_kind: s.storage_kind.map(Into::into),
            screen_inches: s.screen_inches,
            battery_health_percent: s.battery_health_percent,
            cpu_cores: s.cpu_cores,
            cpu_mhz: s.cpu_mhz,
            battery_design_mwh: s.battery_design_mwh,
            battery_full_mwh: s.battery_full_mwh,
        }
    }
}

/// A device as entered by its public body.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ItemRequest {
    /// The public body the device belongs to, when the caller belongs to several.
    #[oai(nullable)]
    pub organisation_id: Option<Uuid>,
    /// Inventory number (≤ 25 characters), unique in the body and never reused.
    #[oai(validator(max_length = 25))]
    pub inventory_number: Str,
    pub category: Category,
    #[oai(nullable, validator(max_length = 100))]
    pub brand: Option<Str>,
    #[oai(nullable, validator(max_length = 200))]
    pub model: Option<Str>,
    #[oai(nullable, validator(max_length = 100))]
    pub serial_number: Option<Str>,
    /// The body's own name for it (GLPI "Nom").
    #[oai(nullable, validator(max_length = 200))]
    pub name: Option<Str>,
    /// Where it is kept.
    #[oai(nullable, validator(max_length = 200))]
    pub location: Option<Str>,
    #[oai(nullable)]
    pub specs: Option<ItemSpecs>,
    /// Whether it holds user data; defaults from the category.
    #[oai(nullable)]
    pub has_data_storage: Option<bool>,
    #[oai(nullable)]
    pub acquisition_date: Option<NaiveDate>,
    /// Acquisition value in euro cents.
    #[oai(
        nullable,
        validator(minimum(value = "0"), maximum(value = "100000000000"))
    )]
    pub acquisition_value_cents: Option<i64>,
    /// Net book value in euro cents (compared with the 300 € ceiling of free cessions).
    #[oai(
        nullable,
        validator(minimum(value = "0"), maximum(value = "100000000000"))
    )]
    pub net_book_value_cents: Option<i64>,
    /// Condition reported by the body.
    #[oai(nullable, validator(max_length = 2000))]
    pub condition_notes: Option<Str>,
    /// The storage media the device holds, when the inventory knows them (replacing those
    /// declared before; leave it out to keep them). Publication needs a successful
    /// sanitisation of each declared medium.
    #[oai(nullable, validator(max_items = 24))]
    pub storage_media: Option<Vec<super::workshop::StorageMediumInput>>,
}

/// A device.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ItemResponse {
    pub id: Uuid,
    /// Code printed on the label; `/v1/public/items/{public_code}` shows its history.
    pub public_code: String,
    /// The public body it comes from.
    pub organisation_id: Uuid,
    pub inventory_number: String,
    pub category: Category,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub specs: ItemSpecs,
    /// The serial number the device's firmware gave in its latest hardware report.
    pub reported_serial: Option<String>,
    /// How that serial compares with `serial_number`: `match`, `mismatch` (flagged: the device
    /// on the bench may not be the one of the inventory) or `unknown`.
    pub serial_check: String,
    pub has_data_storage: bool,
    pub acquisition_date: Option<NaiveDate>,
    pub acquisition_value_cents: Option<i64>,
    pub net_book_value_cents: Option<i64>,
    /// The value the public body confirmed while the net book value is unknown (judged against
    /// the 300 € ceiling), with how it was obtained.
    pub valuation: Option<ValuationResponse>,
    /// The operator's override of the 300 € ceiling, with its reason.
    pub ceiling_override: Option<CeilingOverrideResponse>,
    pub condition_notes: Option<String>,
    /// Grade after refurbishment (A, B or C).
    pub grade: Option<super::workshop::Grade>,
    pub status: ItemStatus,
    pub owner_id: Uuid,
    pub custodian_id: Uuid,
    pub lot_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<item::Model> for ItemResponse {
    fn from(m: item::Model) -> Self {
        let specs = ItemSpecs::from_domain(&crate::store::items::stored_specs(&m));
        let serial_check = reemploi_domain::reports::SerialCheck::of(
            m.serial_number.as_deref(),
            m.reported_serial.as_deref(),
        )
        .as_str()
        .to_owned();
        Self {
            id: m.id,
            public_code: m.public_code,
            organisation_id: m.organisation_id,
            inventory_number: m.inventory_number,
            category: DomCategory::parse(&m.category)
                .unwrap_or(DomCategory::Other)
                .into(),
            brand: m.brand,
            model: m.model,
            serial_number: m.serial_number,
            name: m.name,
            location: m.location,
            specs,
            serial_check,
            reported_serial: m.reported_serial,
            has_data_storage: m.has_data_storage,
            acquisition_date: m.acquisition_date,
            acquisition_value_cents: m.acquisition_value_cents,
            net_book_value_cents: m.net_book_value_cents,
            valuation: match (m.valuation_cents, m.valuation_method, m.valuation_at) {
                (Some(value_cents), Some(method), Some(confirmed_at)) => Some(ValuationResponse {
                    value_cents,
                    method,
                    note: m.valuation_note.unwrap_or_default(),
                    confirmed_by: m.valuation_by.unwrap_or_default(),
                    confirmed_at,
                }),
                _ => None,
            },
            ceiling_override: match (m.ceiling_override_reason, m.ceiling_override_at) {
                (Some(reason), Some(granted_at)) => Some(CeilingOverrideResponse {
                    reason,
                    granted_by: m.ceiling_override_by.unwrap_or_default(),
                    granted_at,
                }),
                _ => None,
            },
            condition_notes: m.condition_notes,
            grade: super::workshop::Grade::from_stored(m.grade.as_deref()),
            status: DomStatus::parse(&m.status)
                .unwrap_or(DomStatus::Inventoried)
                .into(),
            owner_id: m.owner_id,
            custodian_id: m.custodian_id,
            lot_id: m.lot_id,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// How a value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum ValuationMethod {
    /// The net book value from the body's accounts, given in `value_cents`.
    NetBookValue,
    /// The service's estimate from category and age (`docs/legal.md`); `value_cents` is not sent.
    Estimate,
}

/// The value a public body confirms for a device whose net book value is unknown.
#[derive(Debug, Clone, Object)]
pub struct ValuationRequest {
    pub method: ValuationMethod,
    /// With `net_book_value`: the value in euro cents.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000000")))]
    pub value_cents: Option<i64>,
}

/// A confirmed value.
#[derive(Debug, Clone, Object)]
pub struct ValuationResponse {
    pub value_cents: i64,
    /// `net_book_value` or `estimate`.
    pub method: String,
    /// How it was obtained, in French, as printed on the convention.
    pub note: String,
    pub confirmed_by: String,
    pub confirmed_at: DateTime<Utc>,
}

/// The operator's reasoned override of the ceiling.
#[derive(Debug, Clone, Object)]
pub struct CeilingOverrideRequest {
    #[oai(validator(max_length = 1000))]
    pub reason: Str,
}

/// A recorded override of the ceiling.
#[derive(Debug, Clone, Object)]
pub struct CeilingOverrideResponse {
    pub reason: String,
    pub granted_by: String,
    pub granted_at: DateTime<Utc>,
}

/// A page of devices.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ItemPage {
    pub items: Vec<ItemResponse>,
    pub next_cursor: Option<String>,
}

fn optional_text<const MAX: usize>(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&Str>,
) -> Option<String> {
    errors
        .check(
            field,
            reemploi_domain::text::Text::<MAX>::parse_optional(value.map(|s| &**s)),
        )
        .flatten()
        .map(|t| t.into_inner())
}

impl ItemRequest {
    fn parse(&self, today: NaiveDate) -> Result<ItemFields, FieldErrors> {
        let mut errors = FieldErrors::new();
        let inventory_number = errors.check(
            "inventory_number",
            InventoryNumber::parse(&self.inventory_number),
        );
        let category: DomCategory = self.category.into();
        let specs = self
            .specs
            .as_ref()
            .map(ItemSpecs::to_domain)
            .unwrap_or_default();
        specs.check(category, "specs.", &mut errors);
        if self.acquisition_date.is_some_and(|d| d > today) {
            errors.push("acquisition_date", reemploi_domain::Invalid::OutOfRange);
        }
        let fields = ItemFields {
            inventory_number: inventory_number
                .clone()
                .unwrap_or_else(|| InventoryNumber::parse("-").expect("placeholder")),
            category,
            brand: optional_text::<100>(&mut errors, "brand", self.brand.as_ref()),
            model: optional_text::<200>(&mut errors, "model", self.model.as_ref()),
            serial_number: optional_text::<100>(
                &mut errors,
                "serial_number",
                self.serial_number.as_ref(),
            ),
            name: optional_text::<200>(&mut errors, "name", self.name.as_ref()),
            location: optional_text::<200>(&mut errors, "location", self.location.as_ref()),
            donor_status: None,
            specs,
            has_data_storage: self
                .has_data_storage
                .unwrap_or(category.has_data_storage_by_default()),
            acquisition_date: self.acquisition_date,
            acquisition_value_cents: self.acquisition_value_cents,
            net_book_value_cents: self.net_book_value_cents,
            // Free text: the only multi-line field of a device.
            condition_notes: errors
                .check(
                    "condition_notes",
                    reemploi_domain::text::FreeText::<2000>::parse_optional(
                        self.condition_notes.as_deref(),
                    ),
                )
                .flatten()
                .map(|t| t.into_inner()),
            storage_media: self
                .storage_media
                .as_deref()
                .map(super::workshop::media_decls),
        };
        if let Some(media) = &fields.storage_media {
            if !media.is_empty() && !fields.has_data_storage {
                errors.push("storage_media", reemploi_domain::Invalid::NotAllowedForKind);
            }
            if let Err(e) = crate::store::items::check_media(media, "storage_media") {
                errors.0.extend(e.0);
            }
        }
        errors.finish(|| inventory_number.map(|_| fields))
    }
}

/// One step of a device's public history.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PublicStep {
    pub at: String,
    /// The transition (`award`, `collect`…) or `item_registered`.
    pub step: String,
    /// What happened, in French.
    pub label: String,
    /// The organisation that acted.
    pub organisation: Option<String>,
    /// Where the device went, for transfers.
    pub to_organisation: Option<String>,
}

/// What anyone scanning a label sees: no serial number, no people, only organisations and steps.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PublicItem {
    pub public_code: String,
    pub category: Category,
    pub category_label: String,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub status: ItemStatus,
    pub status_label: String,
    /// Grade after refurbishment (A, B or C).
    pub grade: Option<super::workshop::Grade>,
    pub history: Vec<PublicStep>,
    /// Whether the hash chain of its history verifies, ends at the head the service recorded,
    /// and the device's current status, owner and custodian are what its last event attests.
    pub history_verified: bool,
    /// When it does not: why, as a sentence a person reads.
    pub history_problem: Option<String>,
}

/// One transition of the life-cycle table.
#[derive(Debug, Clone, Object)]
pub struct LifecycleTransition {
    pub name: String,
    pub from: Vec<ItemStatus>,
    pub to: ItemStatus,
    /// Organisation kinds that may fire it.
    pub kinds: Vec<String>,
    pub roles: Vec<String>,
    pub preconditions: Vec<String>,
    pub label: String,
}

/// The life cycle of a device.
#[derive(Debug, Clone, Object)]
pub struct Lifecycle {
    pub states: Vec<ItemStatus>,
    pub transitions: Vec<LifecycleTransition>,
    /// The same table as a Mermaid state diagram.
    pub mermaid: String,
}

/// The label of an event in the public history (never its raw name).
fn public_label(kind: &str, lang: Lang) -> String {
    let label = reemploi_domain::labels::event_label_or_default(kind);
    match lang {
        Lang::Fr => label.fr,
        Lang::En => label.en,
    }
    .to_owned()
}

impl PublicItem {
    /// The public page of the device a label names: its steps with organisation names, labelled
    /// in `lang` (the JSON answer and the HTML page share it).
    pub(crate) async fn load(
        db: &DatabaseConnection,
        code: &PublicCode,
        lang: Lang,
    ) -> ApiResult<PublicItem> {
        let m = store_items::find_by_public_code(db, code).await?;
        let stream = item_stream(m.id);
        let rows = store_items::stream_history(db, &stream).await?;
        let mut names = std::collections::HashMap::new();
        let mut history = Vec::with_capacity(rows.len());
        for e in &rows {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
            let org_of = |key: &str| {
                payload
                    .get(key)
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse::<Uuid>().ok())
            };
            let organisation = org_name(db, &mut names, org_of("organisation_id")).await?;
            let to_organisation = org_name(db, &mut names, org_of("to_organisation_id")).await?;
            history.push(PublicStep {
                at: e.occurred_at.clone(),
                step: e.kind.clone(),
                label: public_label(&e.kind, lang),
                organisation,
                to_organisation,
            });
        }
        let broken = verify_stream(db, &stream).await?.broken;
        let history_problem = broken.as_ref().map(|b| match lang {
            Lang::Fr => b.message_fr(),
            Lang::En => b.message_en(),
        });
        let category = DomCategory::parse(&m.category).unwrap_or(DomCategory::Other);
        let status = DomStatus::parse(&m.status).unwrap_or(DomStatus::Inventoried);
        Ok(PublicItem {
            public_code: PublicCode::parse(&m.public_code)
                .map(|c| c.display())
                .unwrap_or(m.public_code),
            category: category.into(),
            category_label: pick(reemploi_domain::labels::category(category), lang),
            brand: m.brand,
            model: m.model,
            status: status.into(),
            status_label: pick(reemploi_domain::labels::status(status), lang),
            grade: super::workshop::Grade::from_stored(m.grade.as_deref()),
            history,
            history_verified: broken.is_none(),
            history_problem,
        })
    }
}

fn pick(label: reemploi_domain::labels::Label, lang: Lang) -> String {
    match lang {
        Lang::Fr => label.fr,
        Lang::En => label.en,
    }
    .to_owned()
}

/// An organisation's name, looked up once per page.
async fn org_name<C: ConnectionTrait>(
    db: &C,
    names: &mut std::collections::HashMap<Uuid, String>,
    id: Option<Uuid>,
) -> ApiResult<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    if let Some(n) = names.get(&id) {
        return Ok(Some(n.clone()));
    }
    let name = store_items::organisation_name(db, id).await?;
    if let Some(n) = &name {
        names.insert(id, n.clone());
    }
    Ok(name)
}

pub struct ItemsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Items")]
impl ItemsApi {
    /// Register a device
    ///
    /// Adds a device to the public body's inventory (`inventoried`). Its inventory number must
    /// be new in the body: numbers are never reused, even after the device has left.
    #[oai(path = "/items", method = "post", operation_id = "create_item")]
    async fn create_item(
        &self,
        auth: BearerAuth,
        body: Json<ItemRequest>,
    ) -> ApiResult<Created<ItemResponse>> {
        let acting = auth.0.acting_as("create_item", body.0.organisation_id)?;
        let fields = body.0.parse(self.state.settings.today())?;
        let by = By::acting(&auth.0, &acting);
        let created = commands::items::create_item(&self.state.db, &by, &fields).await?;
        let location = format!("/v1/items/{}", created.id);
        Ok(Created::Created(Json(created.into()), location))
    }

    /// List devices
    ///
    /// The devices of the caller's organisation: its inventory for a public body, the devices in
    /// its custody or ownership for a refurbisher or association. Filters combine.
    #[oai(path = "/items", method = "get", operation_id = "list_items")]
    #[allow(clippy::too_many_arguments)]
    async fn list_items(
        &self,
        auth: BearerAuth,
        organisation_id: Query<Option<Uuid>>,
        status: Query<Option<ItemStatus>>,
        category: Query<Option<Category>>,
        lot_id: Query<Option<Uuid>>,
        /// Free text on brand, model, serial number and inventory number.
        #[oai(validator(max_length = 100))]
        q: Query<Option<String>>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ItemPage>> {
        let acting = auth.0.acting_as("list_items", organisation_id.0)?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select = store_items::list(&ItemFilter {
            organisation_id: acting.organisation_id,
            status: status.0.map(Into::into),
            category: category.0.map(Into::into),
            lot_id: lot_id.0,
            q: q.0.as_deref(),
        });
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, item::Column::Id, |m| m.id)
            .await?;
        Ok(Json(ItemPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Read a device
    ///
    /// For the organisations it came from, belongs to or is held by (and the operator).
    #[oai(path = "/items/:id", method = "get", operation_id = "get_item")]
    async fn get_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Versioned<ItemResponse>> {
        let m = find_item(&self.state.db, id.0).await?;
        // Its organisations read it; so does the association it is proposed to or held for,
        // looked up only for a caller that is none of them (the common read costs no query).
        if let Err(e) = auth.0.authorize_related("get_item", &related_orgs(&m)) {
            if e.code != ErrorCode::NotFound {
                return Err(e);
            }
            let mut related = related_orgs(&m).to_vec();
            related.extend(crate::store::demand::holders_of(&self.state.db, m.id).await?);
            auth.0.authorize_related("get_item", &related)?;
        }
        let tag = etag(m.version);
        Ok(Versioned::Ok(Json(m.into()), tag))
    }

    /// Update a device
    ///
    /// The public body corrects a device while it is still in its inventory (`inventoried`),
    /// with a JSON Merge Patch: the fields sent change, the others keep their value, `null`
    /// clears one. The inventory number cannot change. Send `If-Match` with the `ETag` you read
    /// to be refused (412) rather than change a device someone else changed since.
    #[oai(path = "/items/:id", method = "patch", operation_id = "update_item")]
    async fn update_item(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: MergePatch<ItemRequest>,
    ) -> ApiResult<Versioned<ItemResponse>> {
        let current = find_item(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("update_item", &[current.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        let by = By::acting(&auth.0, &acting);
        let (state, by) = (&self.state, &by);
        let updated = super::merge_patch::apply(
            &body,
            if_match.0.as_deref(),
            || async move {
                let current = find_item(&state.db, id.0).await?;
                let version = current.version;
                Ok((
                    ItemResponse::from(current).to_json().unwrap_or_default(),
                    version,
                ))
            },
            |full: ItemRequest, version| async move {
                let fields = full.parse(state.settings.today())?;
                commands::items::update_item(
                    &state.db,
                    by,
                    id.0,
                    super::merge_patch::at_version(version),
                    &fields,
                )
                .await
            },
        )
        .await?;
        let tag = etag(updated.version);
        Ok(Versioned::Ok(Json(updated.into()), tag))
    }

    /// Confirm the value of a device
    ///
    /// A free cession is capped at 300 € per device (décret n° 2022-791, CG3P D3212-3 to
    /// D3212-5), judged on its net book value. When the inventory has none, the public body
    /// confirms one: the net book value from its accounts, or the service's estimate from the
    /// device's category and age (straight-line depreciation, method in `docs/legal.md`). The
    /// value, how it was obtained, who confirmed it and when are recorded and printed on the
    /// convention. 409 when the net book value is known or the device has left the body; 422
    /// `no_value_estimate` when no estimate can be made (no acquisition date).
    #[oai(
        path = "/items/:id/valuation",
        method = "post",
        operation_id = "confirm_item_valuation"
    )]
    async fn confirm_item_valuation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ValuationRequest>,
    ) -> ApiResult<Json<ItemResponse>> {
        let current = find_item(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("confirm_item_valuation", &[current.organisation_id])?
            .ok_or_else(ApiError::forbidden)?;
        let valuation = match (body.0.method, body.0.value_cents) {
            (ValuationMethod::NetBookValue, Some(v)) => commands::items::Valuation::NetBookValue(v),
            (ValuationMethod::NetBookValue, None) => {
                return Err(ApiError::field(
                    "value_cents",
                    reemploi_domain::Invalid::Required,
                ));
            }
            (ValuationMethod::Estimate, None) => commands::items::Valuation::Estimate,
            (ValuationMethod::Estimate, Some(_)) => {
                return Err(ApiError::field(
                    "value_cents",
                    reemploi_domain::Invalid::NotAllowedForKind,
                )
                .detail(
                    "Une estimation est calculée par le service : n'envoyez pas de valeur.",
                    "An estimate is computed by the service: send no value.",
                ));
            }
        };
        let by = By::acting(&auth.0, &acting);
        let name = store_items::person_name(&self.state.db, &auth.0).await?;
        let updated = commands::items::confirm_valuation(
            &self.state.db,
            &by,
            id.0,
            valuation,
            &name,
            self.state.settings.today(),
        )
        .await?;
        Ok(Json(updated.into()))
    }

    /// Override the ceiling for a device (operator)
    ///
    /// The platform operator allows the cession of a device whose value is unknown or above the
    /// 300 € ceiling, with a reason. The override, its author and its date are recorded on the
    /// device and printed on its convention.
    #[oai(
        path = "/items/:id/ceiling-override",
        method = "post",
        operation_id = "override_item_ceiling"
    )]
    async fn override_item_ceiling(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CeilingOverrideRequest>,
    ) -> ApiResult<Json<ItemResponse>> {
        auth.0.authorize("override_item_ceiling", None)?;
        let reason = reemploi_domain::text::LongText::parse(&body.0.reason)
            .map_err(|r| ApiError::field("reason", r))?;
        // The platform's operator acts for no organisation.
        let by = By {
            actor: None,
            actor_ref: auth.0.actor_ref(),
            organisation_id: Uuid::nil(),
        };
        let name = store_items::person_name(&self.state.db, &auth.0).await?;
        let updated =
            commands::items::override_ceiling(&self.state.db, &by, id.0, &reason, &name).await?;
        Ok(Json(updated.into()))
    }

    /// A device's history
    ///
    /// Every event of the device, oldest first, each chained to the previous one by its hash.
    #[oai(
        path = "/items/:id/events",
        method = "get",
        operation_id = "list_item_events"
    )]
    async fn list_item_events(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<EventPage>> {
        let m = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("list_item_events", &related_orgs(&m))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        let select = store_items::stream_events(&item_stream(m.id));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, event::Column::Id, |e| e.id)
            .await?;
        Ok(Json(EventPage {
            items: rows.into_iter().map(EventResponse::from).collect(),
            next_cursor,
        }))
    }

    /// Verify a device's history
    ///
    /// Recomputes the hash chain of the device's events, compares its end with the head the
    /// service recorded and the device's current status, owner and custodian with what its last
    /// event attests; says where it breaks, if it does, with a sentence a person reads.
    #[oai(
        path = "/items/:id/events/verify",
        method = "get",
        operation_id = "verify_item_events"
    )]
    async fn verify_item_events(
        &self,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ChainVerification>> {
        let m = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("verify_item_events", &related_orgs(&m))?;
        let stream = item_stream(m.id);
        let v = verify_stream(&self.state.db, &stream).await?;
        let lang = Lang::from_accept_language(req.header("accept-language"));
        Ok(Json(ChainVerification::from_verification(v, lang)))
    }

    /// Public history of a device
    ///
    /// What a QR label opens: the device, its status and its steps from public body to
    /// refurbisher to association, with dates and organisation names; nothing personal. Labels
    /// are in French, or English with `Accept-Language: en`. People scanning a label open the
    /// HTML page `/p/{public_code}` instead.
    #[oai(
        path = "/public/items/:public_code",
        method = "get",
        operation_id = "get_public_item"
    )]
    async fn get_public_item(
        &self,
        req: &poem::Request,
        #[oai(validator(max_length = 20))] public_code: Path<String>,
    ) -> ApiResult<Json<PublicItem>> {
        let code = PublicCode::parse(&public_code.0).map_err(|_| ApiError::not_found())?;
        let lang = Lang::from_accept_language(req.header("accept-language"));
        Ok(Json(PublicItem::load(&self.state.db, &code, lang).await?))
    }

    /// The life cycle of a device
    ///
    /// The declarative table every status change goes through: transitions, who may fire them,
    /// their preconditions, and a Mermaid diagram of it.
    #[oai(
        path = "/meta/lifecycle",
        method = "get",
        operation_id = "get_lifecycle"
    )]
    async fn get_lifecycle(&self) -> Json<Lifecycle> {
        Json(Lifecycle {
            states: DomStatus::ALL.into_iter().map(Into::into).collect(),
            transitions: lifecycle::TRANSITIONS
                .iter()
                .map(|t| LifecycleTransition {
                    name: t.name.to_owned(),
                    from: t.from.iter().copied().map(Into::into).collect(),
                    to: t.to.into(),
                    kinds: t
                        .allowed
                        .kinds
                        .iter()
                        .map(|k| k.as_str().to_owned())
                        .collect(),
                    roles: t
                        .allowed
                        .roles
                        .iter()
                        .map(|r| r.as_str().to_owned())
                        .collect(),
                    preconditions: t
                        .preconditions
                        .iter()
                        .map(|p| p.code().to_owned())
                        .collect(),
                    label: t.label_fr.to_owned(),
                })
                .collect(),
            mermaid: lifecycle::mermaid(),
        })
    }
}
