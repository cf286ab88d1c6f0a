//! The `reservations` table: devices held for an association, then handed over.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reservations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub association_id: Uuid,
    pub refurbisher_id: Uuid,
    pub request_id: Option<Uuid>,
    pub status: String,
    pub cession_mode: String,
    pub giver_id: Uuid,
    pub legal_basis: Option<String>,
    pub resale_terms: Option<String>,
    pub expires_at: DateTimeUtc,
    pub reminded_at: Option<DateTimeUtc>,
    pub handover_id: Option<Uuid>,
    pub handover_on: Option<Date>,
    pub commitment_no_resale: bool,
    pub commitment_reuse: bool,
    pub received_at: Option<DateTimeUtc>,
    pub created_by: String,
    /// Why a proposal was made, in French (`None` for a reservation, or a proposal made by hand
    /// before matching existed).
    pub proposal_reason: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
