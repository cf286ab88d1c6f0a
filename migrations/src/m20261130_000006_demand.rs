//! The demand side: associations' requests, reservations of available devices (with the one
//! holder of each device enforced by a primary key), and the refurbishers' fair-share cap.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, date, date_null, double_null, integer, integer_null, string, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
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
                    .table("organisations")
                    .add_column(integer_null("fair_share_cap"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("requests")
                    .col(pk("id"))
                    .col(uuid("association_id"))
                    .col(text("purpose"))
                    .col(integer("beneficiaries"))
                    .col(uuid_null("delivery_site_id"))
                    .col(date("needed_by"))
                    .col(string("status"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("requests", "association_id", "organisations"))
                    .foreign_key(&mut fk("requests", "delivery_site_id", "sites"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("requests", &["association_id"], false))
            .await?;
        manager
            .create_index(index("requests", &["status"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("request_lines")
                    .col(pk("id"))
                    .col(uuid("request_id"))
                    .col(integer("position"))
                    .col(string("category"))
                    .col(integer("quantity"))
                    .col(integer_null("min_ram_gb"))
                    .col(integer_null("min_storage_gb"))
                    .col(double_null("min_screen_inches"))
                    .col(integer("fulfilled"))
                    .foreign_key(&mut fk("request_lines", "request_id", "requests"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("request_lines", &["request_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reservations")
                    .col(pk("id"))
                    .col(uuid("association_id"))
                    .col(uuid("refurbisher_id"))
                    .col(uuid_null("request_id"))
                    .col(string("status"))
                    .col(string("cession_mode"))
                    .col(uuid("giver_id"))
                    .col(text_null("legal_basis"))
                    .col(text_null("resale_terms"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("reminded_at"))
                    .col(uuid_null("handover_id"))
                    .col(date_null("handover_on"))
                    .col(boolean("commitment_no_resale"))
                    .col(boolean("commitment_reuse"))
                    .col(timestamp_with_time_zone_null("received_at"))
                    .col(string("created_by"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("reservations", "association_id", "organisations"))
                    .foreign_key(&mut fk("reservations", "refurbisher_id", "organisations"))
                    .foreign_key(&mut fk("reservations", "request_id", "requests"))
                    .take(),
            )
            .await?;
        for cols in [
            &["association_id"][..],
            &["refurbisher_id"],
            &["status", "expires_at"],
        ] {
            manager
                .create_index(index("reservations", cols, false))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("reservation_items")
                    .col(uuid("reservation_id"))
                    .col(uuid("item_id"))
                    .col(integer_null("request_line_position"))
                    .primary_key(Index::create().col("reservation_id").col("item_id"))
                    .foreign_key(&mut fk(
                        "reservation_items",
                        "reservation_id",
                        "reservations",
                    ))
                    .foreign_key(&mut fk("reservation_items", "item_id", "items"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("reservation_items", &["item_id"], false))
            .await?;
        // One row per held device: its primary key is what lets exactly one reservation hold it.
        manager
            .create_table(
                Table::create()
                    .table("item_holds")
                    .col(uuid("item_id").primary_key())
                    .col(uuid("reservation_id"))
                    .col(uuid("association_id"))
                    .col(uuid("refurbisher_id"))
                    .foreign_key(&mut fk("item_holds", "item_id", "items"))
                    .foreign_key(&mut fk("item_holds", "reservation_id", "reservations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "item_holds",
                &["refurbisher_id", "association_id"],
                false,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "item_holds",
            "reservation_items",
            "reservations",
            "request_lines",
            "requests",
        ] {
            manager.drop_table(Table::drop().table(t).take()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("organisations")
                    .drop_column("fair_share_cap")
                    .take(),
            )
            .await
    }
}
