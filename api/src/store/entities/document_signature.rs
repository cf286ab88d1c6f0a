//! The `document_signatures` table: a party's signature of one edition of a document.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "document_signatures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub series_id: Uuid,
    pub organisation_id: Uuid,
    pub signer_name: String,
    pub signer_role: String,
    pub signed_by: String,
    pub signed_at: DateTimeUtc,
    /// The version signed.
    pub document_id: Option<Uuid>,
    /// The edition (content) signed: the signature counts for every version of it.
    pub edition: Option<i32>,
    /// `electronic`, or `paper_scan` (the party attested the uploaded signed paper copy).
    pub method: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
