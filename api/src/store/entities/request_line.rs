//! The `request_lines` table: one line of a request (category, quantity, minimum specs).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "request_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub request_id: Uuid,
    pub position: i32,
    pub category: String,
    pub quantity: i32,
    pub min_ram_gb: Option<i32>,
    pub min_storage_gb: Option<i32>,
    pub min_screen_inches: Option<f64>,
    pub fulfilled: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
