//! Tamper evidence and personal data (issues 16 and 23): each event says the rule that hashed
//! it (`hash_version`: 1 before this migration, 2 after, which also hashes the organisation and
//! a device's state) and, for devices, the state it left the device in; `checkpoints` keeps the
//! signed Merkle roots of every stream's head; `people` holds the names and e-mail addresses
//! that events refer to by an opaque id, so that erasure blanks them without touching a hash.
//!
//! Existing events keep version 1 and are verified by the version-1 rule: rehashing them here
//! would bless whatever the database holds today, so they are left as they were signed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, string, string_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid_null,
};

use crate::helpers::{index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for col in [
            integer("hash_version").default(1).take(),
            text_null("state"),
        ] {
            manager
                .alter_table(Table::alter().table("events").add_column(col).take())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("people")
                    .col(pk("id"))
                    .col(uuid_null("user_id"))
                    .col(uuid_null("organisation_id"))
                    .col(string_null("name"))
                    .col(string_null("email"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("erased_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("people", &["user_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("checkpoints")
                    .col(pk("id"))
                    // As signed: RFC 3339 UTC with microseconds.
                    .col(string("taken_at"))
                    .col(string("day"))
                    .col(integer("streams"))
                    .col(string("merkle_root"))
                    // JSON array of [stream, seq, hash], in stream order.
                    .col(text("heads"))
                    .col(string("algorithm"))
                    .col(string("public_key"))
                    .col(string("signature"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("checkpoints", &["taken_at"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["checkpoints", "people"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        for col in ["state", "hash_version"] {
            manager
                .alter_table(Table::alter().table("events").drop_column(col).take())
                .await?;
        }
        Ok(())
    }
}
