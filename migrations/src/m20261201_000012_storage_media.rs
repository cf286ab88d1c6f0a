//! The storage media a device declares (from the import, a declaration on the bench, the
//! refurbishment record or a hardware report). Publication needs a successful sanitisation of
//! every declared medium, so one wiped disk no longer passes a two-disk machine.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer_null, string, string_null, timestamp_with_time_zone, uuid,
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
                    .table("storage_media")
                    .col(pk("id"))
                    .col(uuid("item_id"))
                    .col(string("serial"))
                    // The serial as compared: trimmed, upper case (one medium, one row).
                    .col(string("serial_key"))
                    .col(string_null("medium_type"))
                    .col(integer_null("capacity_gb"))
                    .col(string("source"))
                    .col(string("declared_by"))
                    .col(timestamp_with_time_zone("declared_at"))
                    .foreign_key(&mut fk("storage_media", "item_id", "items"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("storage_media", &["item_id", "serial_key"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("storage_media").take())
            .await
    }
}
