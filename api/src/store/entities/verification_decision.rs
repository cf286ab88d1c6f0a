//! The `verification_decisions` table: the operator's decision on one checklist item, about the
//! value claimed when it was made.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "verification_decisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub item: String,
    pub subject: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub decided_on: Date,
    pub expires_on: Option<Date>,
    pub decided_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
