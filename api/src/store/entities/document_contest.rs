//! The `document_contests` table: a party's refusal, with its reason, of one edition of a
//! document (a procès-verbal it does not agree with, a convention it will not sign).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "document_contests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The version contested.
    pub document_id: Uuid,
    pub series_id: Uuid,
    pub edition: Option<i32>,
    pub organisation_id: Uuid,
    pub reason: String,
    pub contested_by: String,
    pub contested_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
