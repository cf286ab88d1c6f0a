//! The `refurbishment_records` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "refurbishment_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub item_id: Uuid,
    pub organisation_id: Uuid,
    pub tests: String,
    pub parts_replaced: String,
    pub operating_system: Option<String>,
    pub grade: String,
    pub minutes_spent: Option<i32>,
    pub technician_name: String,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
