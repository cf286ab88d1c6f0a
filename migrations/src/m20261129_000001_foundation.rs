//! Foundation: organisations, users, memberships, invitations, sessions, API keys, sites, the
//! hash-chained event log and the outbox.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, date_null, double_null, integer, string, string_null, string_uniq, text,
    text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 10] = [
    "outbox",
    "event_streams",
    "events",
    "sites",
    "api_keys",
    "sessions",
    "invitations",
    "memberships",
    "users",
    "organisations",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("organisations")
                    .col(pk("id"))
                    .col(string("kind"))
                    .col(string("name"))
                    .col(string_null("siren"))
                    .col(string_null("siret"))
                    .col(string_null("rna"))
                    .col(string("insee_code"))
                    .col(string("departement"))
                    .col(text("address"))
                    .col(string("postcode"))
                    .col(string("city"))
                    .col(double_null("latitude"))
                    .col(double_null("longitude"))
                    .col(string_null("contact_email"))
                    .col(string_null("phone"))
                    .col(string("status"))
                    .col(text_null("status_reason"))
                    .col(string_null("public_body_type"))
                    .col(string_null("esus_reference"))
                    .col(date_null("esus_expires_on"))
                    .col(string_null("beneficiary_category"))
                    .col(boolean("public_utility").default(false))
                    .col(text_null("statutory_purpose"))
                    .col(integer("version").default(1))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("organisations", &["kind", "status"], false))
            .await?;
        // Several NULLs are allowed by a unique index on both SQLite and PostgreSQL.
        manager
            .create_index(index("organisations", &["siret"], true))
            .await?;
        manager
            .create_index(index("organisations", &["rna"], true))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(pk("id"))
                    .col(string_uniq("email"))
                    .col(string("display_name"))
                    .col(string_null("password_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("memberships")
                    .col(pk("id"))
                    .col(uuid("user_id"))
                    .col(uuid("organisation_id"))
                    .col(string("role"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("memberships", "user_id", "users"))
                    .foreign_key(&mut fk("memberships", "organisation_id", "organisations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("memberships", &["user_id", "organisation_id"], true))
            .await?;
        manager
            .create_index(index("memberships", &["organisation_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("email"))
                    .col(string("role"))
                    .col(string_uniq("token_hash"))
                    .col(uuid("invited_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("accepted_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk("invitations", "organisation_id", "organisations"))
                    .foreign_key(&mut fk("invitations", "invited_by", "users"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("invitations", &["organisation_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(pk("id"))
                    .col(uuid("user_id"))
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk("sessions", "user_id", "users"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("name"))
                    .col(string("role"))
                    .col(string("prefix"))
                    .col(string_uniq("token_hash"))
                    .col(uuid("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .foreign_key(&mut fk("api_keys", "organisation_id", "organisations"))
                    .foreign_key(&mut fk("api_keys", "created_by", "users"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("api_keys", &["organisation_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sites")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("name"))
                    .col(string("kind"))
                    .col(text("address"))
                    .col(string("postcode"))
                    .col(string("city"))
                    .col(string("insee_code"))
                    .col(double_null("latitude"))
                    .col(double_null("longitude"))
                    .col(text_null("access_notes"))
                    .col(integer("version").default(1))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("archived_at"))
                    .foreign_key(&mut fk("sites", "organisation_id", "organisations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("sites", &["organisation_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("events")
                    .col(pk("id"))
                    .col(string("stream"))
                    .col(big_integer("seq"))
                    .col(uuid_null("organisation_id"))
                    .col(string("actor"))
                    .col(string("kind"))
                    .col(text("payload"))
                    .col(string("occurred_at"))
                    .col(string("prev_hash"))
                    .col(string("hash"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("events", &["stream", "seq"], true))
            .await?;
        manager
            .create_index(index("events", &["organisation_id", "id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("event_streams")
                    .col(string("stream").primary_key())
                    .col(big_integer("last_seq"))
                    .col(string("last_hash"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(pk("id"))
                    .col(string("topic"))
                    .col(text("payload"))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("done_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("outbox", &["done_at", "next_attempt_at"], false))
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
