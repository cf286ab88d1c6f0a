//! The `lots` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub pickup_site_id: Uuid,
    pub pickup_from: Date,
    pub pickup_until: Date,
    pub allocation_policy: String,
    pub claim_deadline: Option<Date>,
    pub auto_accept: bool,
    pub visibility: String,
    pub radius_km: Option<i32>,
    pub cession_mode: String,
    pub status: String,
    pub published_at: Option<DateTimeUtc>,
    pub accepted_claim_id: Option<Uuid>,
    pub decision_kind: Option<String>,
    pub decision_reference: Option<String>,
    pub decision_date: Option<Date>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
