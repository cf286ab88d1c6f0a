//! Generated documents (each version a row with its own verification code and SHA-256), their
//! signatures, and the act by which a public body decided a cession.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, date_null, integer, string, string_null, text, text_null,
    timestamp_with_time_zone, uuid, uuid_null,
};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            string_null("decision_kind"),
            string_null("decision_reference"),
            date_null("decision_date"),
        ] {
            manager
                .alter_table(Table::alter().table("lots").add_column(col).take())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("documents")
                    .col(pk("id"))
                    .col(uuid("series_id"))
                    .col(integer("version"))
                    .col(string("kind"))
                    .col(string("code"))
                    .col(string("title"))
                    .col(uuid_null("lot_id"))
                    .col(uuid_null("reservation_id"))
                    .col(uuid_null("item_id"))
                    .col(text("parties"))
                    .col(text("data"))
                    .col(string("sha256"))
                    .col(string("blob_key"))
                    .col(big_integer("bytes"))
                    .col(boolean("signed"))
                    .col(string_null("scan_blob_key"))
                    .col(string_null("scan_sha256"))
                    .col(text_null("scan_uploaded_by"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("documents", "lot_id", "lots"))
                    .foreign_key(&mut fk("documents", "reservation_id", "reservations"))
                    .foreign_key(&mut fk("documents", "item_id", "items"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("documents", &["code"], true))
            .await?;
        manager
            .create_index(index("documents", &["series_id", "version"], true))
            .await?;
        for col in ["lot_id", "reservation_id", "item_id"] {
            manager
                .create_index(index("documents", &[col], false))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("document_signatures")
                    .col(pk("id"))
                    .col(uuid("series_id"))
                    .col(uuid("organisation_id"))
                    .col(string("signer_name"))
                    .col(string("signer_role"))
                    .col(string("signed_by"))
                    .col(timestamp_with_time_zone("signed_at"))
                    .foreign_key(&mut fk(
                        "document_signatures",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "document_signatures",
                &["series_id", "organisation_id"],
                true,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("document_signatures").take())
            .await?;
        manager
            .drop_table(Table::drop().table("documents").take())
            .await?;
        for col in ["decision_kind", "decision_reference", "decision_date"] {
            manager
                .alter_table(Table::alter().table("lots").drop_column(col).take())
                .await?;
        }
        Ok(())
    }
}
