//! The `direct_cessions` table: a public body's cession of its own devices to a member of its
//! staff (CG3P L3212-2 5°) or to another public body (11°), convention and handover in one act.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "direct_cessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The giving public body.
    pub organisation_id: Uuid,
    /// `staff` (5°) or `public_body` (11°).
    pub route: String,
    /// The receiving public body when it is registered in the service.
    pub beneficiary_organisation_id: Option<Uuid>,
    pub beneficiary_name: String,
    /// The staff member's post, or the receiving body's representative.
    pub beneficiary_role: Option<String>,
    pub beneficiary_address: Option<String>,
    pub beneficiary_siret: Option<String>,
    /// The legal basis as printed (from `domain::eligibility`).
    pub legal_basis: String,
    pub resale_terms: String,
    /// The beneficiary's re-use commitment, given in the act that transfers the devices.
    pub commitment_reuse: bool,
    pub handed_over_on: Date,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
