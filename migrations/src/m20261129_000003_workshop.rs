//! Workshop: sanitisation and refurbishment records, disposals, and the operator's age override.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, date, integer_null, string, string_null, text, text_null,
    timestamp_with_time_zone, uuid,
};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("items")
                    .add_column(text_null("age_override_reason"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sanitisation_records")
                    .col(pk("id"))
                    .col(uuid("item_id"))
                    .col(uuid("organisation_id"))
                    .col(string("medium_serial"))
                    .col(string("medium_type"))
                    .col(string("method"))
                    .col(string("tool"))
                    .col(string("tool_version"))
                    .col(string("verification_method"))
                    .col(boolean("success"))
                    .col(string("operator_name"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("ended_at"))
                    .col(text_null("notes"))
                    .col(string_null("report_blob_key"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("sanitisation_records", "item_id", "items"))
                    .foreign_key(&mut fk(
                        "sanitisation_records",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("sanitisation_records", &["item_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("refurbishment_records")
                    .col(pk("id"))
                    .col(uuid("item_id"))
                    .col(uuid("organisation_id"))
                    .col(text("tests"))
                    .col(text("parts_replaced"))
                    .col(string_null("operating_system"))
                    .col(string("grade"))
                    .col(integer_null("minutes_spent"))
                    .col(string("technician_name"))
                    .col(text_null("notes"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("refurbishment_records", "item_id", "items"))
                    .foreign_key(&mut fk(
                        "refurbishment_records",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("refurbishment_records", &["item_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("disposals")
                    .col(pk("id"))
                    .col(uuid("item_id"))
                    .col(uuid("organisation_id"))
                    .col(string("channel"))
                    .col(string("recycler_name"))
                    .col(string_null("bsdd_number"))
                    .col(big_integer("weight_grams"))
                    .col(date("disposed_on"))
                    .col(text_null("notes"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("disposals", "item_id", "items"))
                    .foreign_key(&mut fk("disposals", "organisation_id", "organisations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("disposals", &["item_id"], true))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["disposals", "refurbishment_records", "sanitisation_records"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("items")
                    .drop_column("age_override_reason")
                    .take(),
            )
            .await?;
        Ok(())
    }
}
