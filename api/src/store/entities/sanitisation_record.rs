//! The `sanitisation_records` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sanitisation_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub item_id: Uuid,
    pub organisation_id: Uuid,
    pub medium_serial: String,
    pub medium_type: String,
    pub method: String,
    pub tool: String,
    pub tool_version: String,
    pub verification_method: String,
    pub success: bool,
    pub operator_name: String,
    pub started_at: DateTimeUtc,
    pub ended_at: DateTimeUtc,
    pub notes: Option<String>,
    pub report_blob_key: Option<String>,
    /// From a tool's log (nwipe): rounds run, throughput, the tool's own status, the device node.
    pub rounds: Option<i32>,
    pub throughput_bytes_per_sec: Option<i64>,
    pub tool_status: Option<String>,
    pub device_name: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
