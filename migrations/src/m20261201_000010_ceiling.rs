//! The 300 € ceiling in every mode and the cession routes 5° and 11° (issue 14): the value a
//! device is judged on when its net book value is unknown (how it was obtained, who confirmed
//! it, when), the operator's ceiling override, and the direct cessions of a public body to its
//! staff or to another public body, with their devices and documents.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, boolean, date, string, string_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ITEM_COLUMNS: [&str; 8] = [
    "valuation_cents",
    "valuation_method",
    "valuation_note",
    "valuation_by",
    "valuation_at",
    "ceiling_override_reason",
    "ceiling_override_by",
    "ceiling_override_at",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for col in [
            big_integer_null("valuation_cents"),
            string_null("valuation_method"),
            text_null("valuation_note"),
            text_null("valuation_by"),
            timestamp_with_time_zone_null("valuation_at"),
            text_null("ceiling_override_reason"),
            string_null("ceiling_override_by"),
            timestamp_with_time_zone_null("ceiling_override_at"),
        ] {
            manager
                .alter_table(Table::alter().table("items").add_column(col).take())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("direct_cessions")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("route"))
                    .col(uuid_null("beneficiary_organisation_id"))
                    .col(string("beneficiary_name"))
                    .col(string_null("beneficiary_role"))
                    .col(text_null("beneficiary_address"))
                    .col(string_null("beneficiary_siret"))
                    .col(text("legal_basis"))
                    .col(text("resale_terms"))
                    .col(boolean("commitment_reuse"))
                    .col(date("handed_over_on"))
                    .col(text_null("notes"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "direct_cessions",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("direct_cessions", &["organisation_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("direct_cession_items")
                    .col(uuid("direct_cession_id"))
                    // A device leaves by one cession only: its id is the primary key.
                    .col(pk("item_id"))
                    .foreign_key(&mut fk(
                        "direct_cession_items",
                        "direct_cession_id",
                        "direct_cessions",
                    ))
                    .foreign_key(&mut fk("direct_cession_items", "item_id", "items"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("direct_cession_items", &["direct_cession_id"], false))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("documents")
                    .add_column(uuid_null("direct_cession_id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("documents", &["direct_cession_id"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_documents_direct_cession_id")
                    .table("documents")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("documents")
                    .drop_column("direct_cession_id")
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("direct_cession_items").take())
            .await?;
        manager
            .drop_table(Table::drop().table("direct_cessions").take())
            .await?;
        for col in ITEM_COLUMNS.into_iter().rev() {
            manager
                .alter_table(Table::alter().table("items").drop_column(col).take())
                .await?;
        }
        Ok(())
    }
}
