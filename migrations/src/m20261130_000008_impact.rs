//! Impact factor sets: versioned, each factor with its source; reports name the version used.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{date, string, text, timestamp_with_time_zone};

use crate::helpers::{index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("impact_factor_sets")
                    .col(pk("id"))
                    .col(string("version"))
                    .col(date("published_on"))
                    .col(text("factors"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("impact_factor_sets", &["version"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("impact_factor_sets").take())
            .await
    }
}
