//! Evidence-based verification: the documents an organisation uploads for each item of its
//! checklist, the operator's decision on each item (about one claimed value), the expiry notices
//! sent for a decision, and the open SIRENE / RNA stock files the operator may load.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, date, date_null, string, string_null, text_null,
    timestamp_with_time_zone, uuid,
};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("verification_documents")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("item"))
                    .col(string_null("file_name"))
                    .col(string("blob_key"))
                    .col(string("sha256"))
                    .col(big_integer("bytes"))
                    .col(string("uploaded_by"))
                    .col(timestamp_with_time_zone("uploaded_at"))
                    .foreign_key(&mut fk(
                        "verification_documents",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "verification_documents",
                &["organisation_id", "item"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("verification_decisions")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("item"))
                    // The claimed value the decision is about.
                    .col(string("subject"))
                    .col(string("outcome"))
                    .col(text_null("reason"))
                    .col(date("decided_on"))
                    .col(date_null("expires_on"))
                    .col(string("decided_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "verification_decisions",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "verification_decisions",
                &["organisation_id", "item"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("verification_notices")
                    .col(pk("id"))
                    .col(uuid("decision_id"))
                    .col(string("notice"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "verification_notices",
                        "decision_id",
                        "verification_decisions",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "verification_notices",
                &["decision_id", "notice"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("register_entries")
                    .col(pk("id"))
                    // `sirene` (establishments, by SIRET) or `rna` (associations, by RNA number).
                    .col(string("register"))
                    .col(string("identifier"))
                    .col(string_null("name"))
                    .col(boolean("active"))
                    .col(timestamp_with_time_zone("imported_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("register_entries", &["register", "identifier"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "register_entries",
            "verification_notices",
            "verification_decisions",
            "verification_documents",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
