//! The `handovers` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "handovers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub lot_id: Option<Uuid>,
    pub from_organisation_id: Uuid,
    pub to_organisation_id: Uuid,
    pub occurred_on: Date,
    pub from_signatory_name: String,
    pub from_signatory_role: String,
    pub to_signatory_name: String,
    pub to_signatory_role: String,
    pub ownership_transferred: bool,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    /// The party whose admin recorded the handover and signed it by recording it (the other
    /// party confirms or contests the procès-verbal with its own account).
    pub signed_by_organisation_id: Option<Uuid>,
    /// The account that signed by recording.
    pub signer_ref: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
