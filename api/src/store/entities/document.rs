//! The `documents` table: one row per version of a generated document.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub series_id: Uuid,
    pub version: i32,
    pub kind: String,
    pub code: String,
    pub title: String,
    pub lot_id: Option<Uuid>,
    pub reservation_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub direct_cession_id: Option<Uuid>,
    /// JSON list of `{organisation_id, role}`.
    pub parties: String,
    /// The JSON the template rendered (without code and version).
    pub data: String,
    pub sha256: String,
    pub blob_key: String,
    pub bytes: i64,
    pub signed: bool,
    pub scan_blob_key: Option<String>,
    pub scan_sha256: Option<String>,
    pub scan_uploaded_by: Option<String>,
    /// The organisation that uploaded the scan of the signed paper copy.
    pub scan_organisation_id: Option<Uuid>,
    pub scan_uploaded_at: Option<DateTimeUtc>,
    /// The version at which this content was first issued: versions of one edition differ
    /// only by the signatures they print, and share the signatures given on any of them.
    pub edition: Option<i32>,
    /// Why this version was issued (a change of content, or a signature to print).
    pub reason: Option<String>,
    /// The handover it is about (procès-verbal de remise, attestation de don).
    pub handover_id: Option<Uuid>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
