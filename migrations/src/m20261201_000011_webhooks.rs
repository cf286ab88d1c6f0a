//! Webhooks: an organisation's subscriptions, the deliveries queued for them (one per event and
//! subscription, in the write's own transaction) and the log of each delivery attempt.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, integer_null, string, string_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
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
                    .table("webhook_subscriptions")
                    .col(pk("id"))
                    .col(uuid("organisation_id"))
                    .col(string("url"))
                    .col(text("event_types"))
                    .col(string_null("subject"))
                    .col(string("secret"))
                    .col(string_null("previous_secret"))
                    .col(timestamp_with_time_zone_null("previous_secret_until"))
                    .col(string("status"))
                    .col(integer("consecutive_failures"))
                    .col(timestamp_with_time_zone_null("disabled_at"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "webhook_subscriptions",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_subscriptions",
                &["organisation_id", "status"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .col(pk("id"))
                    .col(uuid("subscription_id"))
                    .col(uuid("event_id"))
                    .col(string("event_type"))
                    .col(string("subject"))
                    .col(text("body"))
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(integer_null("last_status_code"))
                    .col(integer_null("last_latency_ms"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .foreign_key(&mut fk(
                        "webhook_deliveries",
                        "subscription_id",
                        "webhook_subscriptions",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_deliveries",
                &["subscription_id", "subject", "status"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_attempts")
                    .col(pk("id"))
                    .col(uuid("delivery_id"))
                    .col(uuid("subscription_id"))
                    .col(integer("attempt"))
                    .col(string("outcome"))
                    .col(integer_null("status_code"))
                    .col(integer("latency_ms"))
                    .col(text_null("error"))
                    .col(timestamp_with_time_zone("attempted_at"))
                    .foreign_key(&mut fk(
                        "webhook_attempts",
                        "delivery_id",
                        "webhook_deliveries",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("webhook_attempts", &["delivery_id"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "webhook_attempts",
            "webhook_deliveries",
            "webhook_subscriptions",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
