//! The `oidc_sessions` table: what the provider asserted for a session it opened.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: Uuid,
    pub identity_id: Uuid,
    pub provider: String,
    pub acr: Option<String>,
    pub amr: Option<String>,
    /// The ID token, sent back as `id_token_hint` at the provider's logout.
    pub id_token: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
