//! Supply side: items, lots, partnerships, claims, handovers (collection) and background jobs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, date, date_null, double_null, integer, integer_null,
    string, string_null, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
    uuid_null,
};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 7] = [
    "jobs",
    "handover_items",
    "handovers",
    "claims",
    "partnerships",
    "items",
    "lots",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("lots")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("title"))
                    .col(text_null("description"))
                    .col(uuid("pickup_site_id"))
                    .col(date("pickup_from"))
                    .col(date("pickup_until"))
                    .col(string("allocation_policy"))
                    .col(date_null("claim_deadline"))
                    .col(boolean("auto_accept").default(true))
                    .col(string("visibility"))
                    .col(integer_null("radius_km"))
                    .col(string("cession_mode"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone_null("published_at"))
                    .col(uuid_null("accepted_claim_id"))
                    .col(integer("version").default(1))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("lots", "organisation_id", "organisations"))
                    .foreign_key(&mut fk("lots", "pickup_site_id", "sites"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("lots", &["organisation_id"], false))
            .await?;
        manager
            .create_index(index("lots", &["status"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("items")
                    .col(pk("id"))
                    .col(string("public_code"))
                    .col(uuid("organisation_id"))
                    .col(string("inventory_number"))
                    .col(string_null("serial_number"))
                    .col(string("category"))
                    .col(string_null("brand"))
                    .col(string_null("model"))
                    .col(string_null("name"))
                    .col(string_null("location"))
                    .col(string_null("donor_status"))
                    .col(string_null("cpu"))
                    .col(integer_null("ram_gb"))
                    .col(integer_null("storage_gb"))
                    .col(string_null("storage_kind"))
                    .col(double_null("screen_inches"))
                    .col(integer_null("battery_health_percent"))
                    .col(boolean("has_data_storage"))
                    .col(date_null("acquisition_date"))
                    .col(big_integer_null("acquisition_value_cents"))
                    .col(big_integer_null("net_book_value_cents"))
                    .col(text_null("condition_notes"))
                    .col(string_null("grade"))
                    .col(string("status"))
                    .col(uuid("owner_id"))
                    .col(uuid("custodian_id"))
                    .col(uuid_null("lot_id"))
                    .col(integer("version").default(1))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("items", "organisation_id", "organisations"))
                    .foreign_key(&mut fk("items", "owner_id", "organisations"))
                    .foreign_key(&mut fk("items", "custodian_id", "organisations"))
                    .foreign_key(&mut fk("items", "lot_id", "lots"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("items", &["public_code"], true))
            .await?;
        // Inventory numbers are unique per body and never reused: items are never deleted.
        manager
            .create_index(index(
                "items",
                &["organisation_id", "inventory_number"],
                true,
            ))
            .await?;
        manager
            .create_index(index("items", &["lot_id"], false))
            .await?;
        manager
            .create_index(index("items", &["custodian_id", "status"], false))
            .await?;
        manager
            .create_index(index("items", &["owner_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("partnerships")
                    .col(pk("id"))
                    .col(uuid("public_body_id"))
                    .col(uuid("refurbisher_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("partnerships", "public_body_id", "organisations"))
                    .foreign_key(&mut fk("partnerships", "refurbisher_id", "organisations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "partnerships",
                &["public_body_id", "refurbisher_id"],
                true,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("claims")
                    .col(pk("id"))
                    .col(uuid("lot_id"))
                    .col(uuid("refurbisher_id"))
                    .col(text_null("message"))
                    .col(date_null("proposed_pickup_date"))
                    .col(string("status"))
                    .col(uuid("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    .foreign_key(&mut fk("claims", "lot_id", "lots"))
                    .foreign_key(&mut fk("claims", "refurbisher_id", "organisations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("claims", &["lot_id", "refurbisher_id"], true))
            .await?;
        // At most one accepted claim per lot, ever: enforced by the database itself.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_claims_one_accepted_per_lot ON claims (lot_id) WHERE status = 'accepted'",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("handovers")
                    .col(pk("id"))
                    .col(string("kind"))
                    .col(uuid_null("lot_id"))
                    .col(uuid("from_organisation_id"))
                    .col(uuid("to_organisation_id"))
                    .col(date("occurred_on"))
                    .col(string("from_signatory_name"))
                    .col(string("from_signatory_role"))
                    .col(string("to_signatory_name"))
                    .col(string("to_signatory_role"))
                    .col(boolean("ownership_transferred"))
                    .col(text_null("notes"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("handovers", "lot_id", "lots"))
                    .foreign_key(&mut fk(
                        "handovers",
                        "from_organisation_id",
                        "organisations",
                    ))
                    .foreign_key(&mut fk("handovers", "to_organisation_id", "organisations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("handovers", &["lot_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("handover_items")
                    .col(uuid("handover_id"))
                    .col(uuid("item_id"))
                    .col(boolean("present"))
                    .primary_key(Index::create().col("handover_id").col("item_id"))
                    .foreign_key(&mut fk("handover_items", "handover_id", "handovers"))
                    .foreign_key(&mut fk("handover_items", "item_id", "items"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("kind"))
                    .col(string("status"))
                    .col(big_integer("total").default(0))
                    .col(big_integer("processed").default(0))
                    .col(text_null("result"))
                    .col(text_null("error"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("jobs", "organisation_id", "organisations"))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
