//! Jobs any instance can run: the uploaded file is kept in the blob store (`input_key`) with the
//! options it was sent with (`options`, JSON), and each run of a job has its number (`attempt`),
//! so that a run whose lease another instance took over can neither renew nor finish the job.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for column in [
            text_null("input_key"),
            text_null("options"),
            integer("attempt").default(1).take(),
        ] {
            manager
                .alter_table(Table::alter().table("jobs").add_column(column).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["input_key", "options", "attempt"] {
            manager
                .alter_table(Table::alter().table("jobs").drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
