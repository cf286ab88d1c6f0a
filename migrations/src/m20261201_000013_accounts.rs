//! Accounts: each person's language (mails and pages) and an invitation's, whether their e-mail address was proved,
//! and the single-use tokens mailed to reset a password or verify an address (only their
//! SHA-256 is stored, like sessions).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, string, string_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
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
                    .table("users")
                    .add_column(string("language").default("fr"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(timestamp_with_time_zone_null("email_verified_at"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("invitations")
                    .add_column(string_null("language"))
                    .take(),
            )
            .await?;
        // The first answer carried a credential: it was not kept, and a replay is refused.
        manager
            .alter_table(
                Table::alter()
                    .table("idempotency_keys")
                    .add_column(boolean("body_withheld").default(false))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("account_tokens")
                    .col(pk("id"))
                    .col(uuid("user_id"))
                    // `password_reset` or `email_verification`.
                    .col(string("purpose"))
                    .col(string("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(&mut fk("account_tokens", "user_id", "users"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("account_tokens", &["token_hash"], true))
            .await?;
        manager
            .create_index(index("account_tokens", &["user_id"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("account_tokens").take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("invitations")
                    .drop_column("language")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("idempotency_keys")
                    .drop_column("body_withheld")
                    .take(),
            )
            .await?;
        for col in ["email_verified_at", "language"] {
            manager
                .alter_table(Table::alter().table("users").drop_column(col).take())
                .await?;
        }
        Ok(())
    }
}
