//! Photos of devices, stored as blobs (the image and its thumbnail).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string, timestamp_with_time_zone, uuid};

use crate::helpers::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("photos")
                    .col(pk("id"))
                    .col(uuid("item_id"))
                    .col(uuid("organisation_id"))
                    .col(string("blob_key"))
                    .col(string("thumbnail_key"))
                    .col(string("content_type"))
                    .col(integer("width"))
                    .col(integer("height"))
                    .col(big_integer("bytes"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("photos", "item_id", "items"))
                    .foreign_key(&mut fk("photos", "organisation_id", "organisations"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("photos", &["item_id"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("photos").take())
            .await
    }
}
