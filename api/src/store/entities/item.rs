//! The `items` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub public_code: String,
    pub organisation_id: Uuid,
    pub inventory_number: String,
    pub serial_number: Option<String>,
    pub category: String,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub donor_status: Option<String>,
    pub cpu: Option<String>,
    pub ram_gb: Option<i32>,
    pub storage_gb: Option<i32>,
    pub storage_kind: Option<String>,
    pub screen_inches: Option<f64>,
    pub battery_health_percent: Option<i32>,
    pub has_data_storage: bool,
    pub acquisition_date: Option<Date>,
    pub acquisition_value_cents: Option<i64>,
    pub net_book_value_cents: Option<i64>,
    pub condition_notes: Option<String>,
    pub grade: Option<String>,
    pub status: String,
    pub owner_id: Uuid,
    pub custodian_id: Uuid,
    pub lot_id: Option<Uuid>,
    pub age_override_reason: Option<String>,
    /// The value judged against the ceiling when the net book value is unknown, confirmed by the
    /// public body: how it was obtained (`net_book_value`, `estimate`), by whom, when.
    pub valuation_cents: Option<i64>,
    pub valuation_method: Option<String>,
    /// How the value was obtained, in French, as printed (the estimate's method).
    pub valuation_note: Option<String>,
    /// `Name (user/<id>)` of who confirmed it.
    pub valuation_by: Option<String>,
    pub valuation_at: Option<DateTimeUtc>,
    /// The operator's reasoned override of the ceiling, who granted it and when.
    pub ceiling_override_reason: Option<String>,
    pub ceiling_override_by: Option<String>,
    pub ceiling_override_at: Option<DateTimeUtc>,
    /// From the latest hardware report (or a spec edit): CPU cores and base frequency.
    pub cpu_cores: Option<i32>,
    pub cpu_mhz: Option<i32>,
    /// Battery design capacity and last full-charge capacity, in mWh.
    pub battery_design_mwh: Option<i32>,
    pub battery_full_mwh: Option<i32>,
    /// The serial number the device's firmware reported (compared with `serial_number`).
    pub reported_serial: Option<String>,
    /// The raw hardware report (`lshw -json`) and when it was received.
    pub hardware_report_blob_key: Option<String>,
    pub hardware_report_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
