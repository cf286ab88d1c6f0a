//! The `jobs` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub kind: String,
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Until when the instance running it holds it (renewed while it works).
    pub lease_until: Option<DateTimeUtc>,
    /// The blob holding the uploaded file while the job may still run (any instance reads it).
    pub input_key: Option<String>,
    /// The options the file was sent with (JSON), to run it again elsewhere.
    pub options: Option<String>,
    /// Which run of the job holds the lease: renewals and the outcome of an older run are
    /// refused.
    pub attempt: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
