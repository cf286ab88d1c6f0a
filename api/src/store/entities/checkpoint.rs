//! The `checkpoints` table: signed Merkle roots over every stream's head.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub taken_at: String,
    pub day: String,
    pub streams: i32,
    pub merkle_root: String,
    /// JSON array of `[stream, seq, hash]`, in stream order.
    pub heads: String,
    pub algorithm: String,
    pub public_key: String,
    pub signature: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
