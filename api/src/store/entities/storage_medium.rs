//! The `storage_media` table: the storage media a device declares.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "storage_media")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub item_id: Uuid,
    pub serial: String,
    pub serial_key: String,
    pub medium_type: Option<String>,
    pub capacity_gb: Option<i32>,
    pub source: String,
    pub declared_by: String,
    pub declared_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
