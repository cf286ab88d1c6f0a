//! The `people` table: names and e-mail addresses that events refer to as `person/<id>`, kept
//! outside the hashed payloads so that erasure can blank them (`docs/personal-data.md`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "people")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account of the person, when the name is theirs.
    pub user_id: Option<Uuid>,
    /// The organisation that recorded it.
    pub organisation_id: Option<Uuid>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTimeUtc,
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
