//! The purge: what has outlived its purpose is deleted by the outbox worker on a schedule
//! (`REEMPLOI_PURGE_INTERVAL_SECS`): idempotency keys (their stored answers), sessions that
//! expired or were revoked, invitations and account tokens that can no longer be used, and mails
//! delivered or given up on. Periods are in [`AccountSettings`]; the events (the audit log) are
//! never purged here.

use anyhow::Context;
use chrono::TimeDelta;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::account_settings::AccountSettings;
use crate::store::entities::{account_token, idempotency_key, invitation, outbox, session};
use crate::store::outbox::Topic;

/// How many rows of each kind one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: u64,
    pub sessions: u64,
    pub invitations: u64,
    pub account_tokens: u64,
    pub mails: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.idempotency_keys + self.sessions + self.invitations + self.account_tokens + self.mails
    }
}

/// One pass of the purge.
pub async fn run(db: &DatabaseConnection, r: &AccountSettings) -> anyhow::Result<Purged> {
    let now = crate::store::now();
    let hours = |h: u64| TimeDelta::hours(i64::try_from(h).unwrap_or(i64::MAX / 7200));
    let days = |d: u64| hours(d.saturating_mul(24));
    let idempotency_keys = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(now - hours(r.retention_idempotency_hours)))
        .exec(db)
        .await
        .context("purging idempotency keys")?
        .rows_affected;

    let expired_before = now - days(r.retention_expired_days);
    let sessions = session::Entity::delete_many()
        .filter(
            session::Column::ExpiresAt
                .lt(expired_before)
                .or(session::Column::RevokedAt.lt(expired_before)),
        )
        .exec(db)
        .await
        .context("purging sessions")?
        .rows_affected;

    let invitations = invitation::Entity::delete_many()
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(
            invitation::Column::ExpiresAt
                .lt(expired_before)
                .or(invitation::Column::RevokedAt.lt(expired_before)),
        )
        .exec(db)
        .await
        .context("purging invitations")?
        .rows_affected;
    let account_tokens = account_token::Entity::delete_many()
        .filter(
            account_token::Column::UsedAt
                .is_not_null()
                .or(account_token::Column::ExpiresAt.lt(now)),
        )
        .exec(db)
        .await
        .context("purging account tokens")?
        .rows_affected;

    let mail_before = now - days(r.retention_mail_days);
    let mails = outbox::Entity::delete_many()
        .filter(outbox::Column::Topic.eq(Topic::Mail.as_str()))
        .filter(
            outbox::Column::DoneAt
                .lt(mail_before)
                .or(outbox::Column::DoneAt
                    .is_null()
                    .and(outbox::Column::Attempts.gte(crate::worker::MAX_ATTEMPTS))
                    .and(outbox::Column::CreatedAt.lt(mail_before))),
        )
        .exec(db)
        .await
        .context("purging mails")?
        .rows_affected;
    Ok(Purged {
        idempotency_keys,
        sessions,
        invitations,
        account_tokens,
        mails,
    })
}
