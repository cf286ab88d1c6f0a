//! The `organisations` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "organisations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub siren: Option<String>,
    pub siret: Option<String>,
    pub rna: Option<String>,
    pub insee_code: String,
    pub departement: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub contact_email: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub public_body_type: Option<String>,
    pub esus_reference: Option<String>,
    pub esus_expires_on: Option<Date>,
    pub beneficiary_category: Option<String>,
    pub public_utility: bool,
    pub statutory_purpose: Option<String>,
    pub fair_share_cap: Option<i32>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
