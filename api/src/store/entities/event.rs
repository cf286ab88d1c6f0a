//! The `events` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub stream: String,
    pub seq: i64,
    pub organisation_id: Option<Uuid>,
    pub actor: String,
    pub kind: String,
    pub payload: String,
    pub occurred_at: String,
    pub prev_hash: String,
    pub hash: String,
    /// Which rule hashed it (`reemploi_domain::audit`): 1 before migration 14, 2 after.
    pub hash_version: i32,
    /// For device streams: the state (status, owner, custodian) the event left the device in,
    /// as canonical JSON; hashed from version 2.
    pub state: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
