//! OpenID Connect sign-in: the flows in progress (so that any instance can finish one, once),
//! the identities linked to accounts, what each OIDC session asserted (acr, amr, the ID token
//! kept for the provider's logout), and the organisations that require OIDC sign-in.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, string, string_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
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
                    .table("oidc_flows")
                    .col(pk("id"))
                    .col(string("provider"))
                    // SHA-256 of the `state` sent to the provider; the state itself is not kept.
                    .col(string("state_hash"))
                    .col(string("nonce"))
                    .col(string("pkce_verifier"))
                    .col(uuid_null("invitation_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("oidc_flows", &["state_hash"], true))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("oidc_identities")
                    .col(pk("id"))
                    .col(uuid("user_id"))
                    .col(string("provider"))
                    .col(string("subject"))
                    .col(string_null("email"))
                    .col(boolean("email_verified"))
                    .col(string_null("siret"))
                    .col(string_null("acr"))
                    .col(text_null("amr"))
                    .col(string("linked_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .foreign_key(&mut fk("oidc_identities", "user_id", "users"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("oidc_identities", &["provider", "subject"], true))
            .await?;
        manager
            .create_index(index("oidc_identities", &["user_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("oidc_sessions")
                    .col(pk("session_id"))
                    .col(uuid("identity_id"))
                    .col(string("provider"))
                    .col(string_null("acr"))
                    .col(text_null("amr"))
                    .col(text("id_token"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("oidc_sessions", "session_id", "sessions"))
                    .foreign_key(&mut fk("oidc_sessions", "identity_id", "oidc_identities"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("organisation_oidc_policies")
                    .col(pk("organisation_id"))
                    .col(boolean("required"))
                    .col(string("updated_by"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "organisation_oidc_policies",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "organisation_oidc_policies",
            "oidc_sessions",
            "oidc_identities",
            "oidc_flows",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
