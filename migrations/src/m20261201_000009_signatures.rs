//! Signatures as acts of the signer (issue 14): a signature, a contest or the attestation of a
//! paper scan is given on one edition of a document (the versions that share its content); a
//! version says why it was issued; a scan says who uploaded it; a handover covers several
//! reservations and records only its recorder's own signature; documents may be about a handover.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer_null, string, string_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            integer_null("edition"),
            text_null("reason"),
            uuid_null("handover_id"),
            uuid_null("scan_organisation_id"),
            timestamp_with_time_zone_null("scan_uploaded_at"),
        ] {
            manager
                .alter_table(Table::alter().table("documents").add_column(col).take())
                .await?;
        }
        manager
            .create_index(index("documents", &["handover_id"], false))
            .await?;
        // Before this change each version was its own content.
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE documents SET edition = version")
            .await?;
        for col in [
            uuid_null("document_id"),
            integer_null("edition"),
            string_null("method"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("document_signatures")
                        .add_column(col)
                        .take(),
                )
                .await?;
        }
        // A signature given before this change counted for the newest version of its series.
        db.execute_unprepared(
            "UPDATE document_signatures SET method = 'electronic', edition = \
             (SELECT MAX(d.version) FROM documents d WHERE d.series_id = document_signatures.series_id)",
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_document_signatures_series_id_organisation_id")
                    .table("document_signatures")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "document_signatures",
                &["series_id", "edition", "organisation_id"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("document_contests")
                    .col(pk("id"))
                    .col(uuid("document_id"))
                    .col(uuid("series_id"))
                    .col(integer_null("edition"))
                    .col(uuid("organisation_id"))
                    .col(text("reason"))
                    .col(string("contested_by"))
                    .col(timestamp_with_time_zone("contested_at"))
                    .foreign_key(&mut fk("document_contests", "document_id", "documents"))
                    .foreign_key(&mut fk(
                        "document_contests",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "document_contests",
                &["series_id", "edition", "organisation_id"],
                true,
            ))
            .await?;
        for col in [
            uuid_null("signed_by_organisation_id"),
            string_null("signer_ref"),
        ] {
            manager
                .alter_table(Table::alter().table("handovers").add_column(col).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in ["signed_by_organisation_id", "signer_ref"] {
            manager
                .alter_table(Table::alter().table("handovers").drop_column(col).take())
                .await?;
        }
        manager
            .drop_table(Table::drop().table("document_contests").take())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_document_signatures_series_id_edition_organisation_id")
                    .table("document_signatures")
                    .to_owned(),
            )
            .await?;
        // Keep one signature per party and series, as the old unique index wants.
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM document_signatures WHERE EXISTS (SELECT 1 FROM document_signatures b \
                 WHERE b.series_id = document_signatures.series_id \
                 AND b.organisation_id = document_signatures.organisation_id \
                 AND b.signed_at > document_signatures.signed_at)",
            )
            .await?;
        manager
            .create_index(index(
                "document_signatures",
                &["series_id", "organisation_id"],
                true,
            ))
            .await?;
        for col in ["document_id", "edition", "method"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("document_signatures")
                        .drop_column(col)
                        .take(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_documents_handover_id")
                    .table("documents")
                    .to_owned(),
            )
            .await?;
        for col in [
            "edition",
            "reason",
            "handover_id",
            "scan_organisation_id",
            "scan_uploaded_at",
        ] {
            manager
                .alter_table(Table::alter().table("documents").drop_column(col).take())
                .await?;
        }
        Ok(())
    }
}
