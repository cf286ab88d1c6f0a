//! Idempotency keys: the first answer to a POST, replayed when a client retries with the same key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    binary_null, integer_null, string, string_null, timestamp_with_time_zone,
};

use crate::helpers::{index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(pk("id"))
                    .col(string("scope"))
                    .col(string("key"))
                    .col(string("request_hash"))
                    .col(integer_null("status"))
                    .col(string_null("content_type"))
                    .col(string_null("location"))
                    .col(binary_null("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("idempotency_keys", &["scope", "key"], true))
            .await?;
        manager
            .create_index(index("idempotency_keys", &["created_at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("idempotency_keys").take())
            .await
    }
}
