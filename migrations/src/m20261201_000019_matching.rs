//! Matching: a proposal records why it was made (the fair order's rank and score, or the
//! refurbisher's own choice), in French, on the reservation it created.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("reservations")
                    .add_column(text_null("proposal_reason"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("reservations")
                    .drop_column("proposal_reason")
                    .take(),
            )
            .await
    }
}
