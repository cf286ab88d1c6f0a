//! The application layer: one function per write. A command takes the caller ([`By`]) and parsed
//! input, opens one transaction ([`write`]), loads and locks what it changes, asks `domain`,
//! writes, appends its event(s) and outbox messages, and commits. Handlers in `http` only parse,
//! call one command or query, and shape the answer.
//!
//! Forgetting the event is impossible: [`Tx::commit`] refuses to commit a transaction that
//! appended none, and [`write`] retries a transaction the database refused because of a
//! concurrent one, then answers 409.

/// Runs `$body` in a write transaction bound to `$tx` and commits it, with the retry policy of
/// [`write`]: a write the database refused because of a concurrent one runs again on a fresh
/// transaction, then answers 409 `write_conflict`. The body is inlined in the command's own
/// future, so it may borrow the command's arguments and stay `Send` (an async closure that
/// borrows them cannot yet be proven `Send` for every lifetime, which poem handlers require).
/// `?` in `$body` ends the attempt (rolled back); its value is committed.
macro_rules! write_tx {
    ($db:expr, |$tx:ident| $body:block) => {{
        let db: &sea_orm::DatabaseConnection = $db;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome: $crate::error::ApiResult<_> = async {
                let owned = $crate::store::tx::Tx::begin(db).await?;
                let value: $crate::error::ApiResult<_> = {
                    let $tx: &$crate::store::tx::Tx = &owned;
                    async $body.await
                };
                let value = value?;
                owned.commit().await?;
                Ok(value)
            }
            .await;
            match outcome {
                Err(mut e) if e.retryable => {
                    if !$crate::store::tx::retry_after(&mut e, attempt).await {
                        break Err(e);
                    }
                }
                other => break other,
            }
        }
    }};
}

pub mod accounts;
pub mod api_keys;
pub mod cessions;
pub mod checkpoints;
pub mod credentials;
pub mod demand;
pub mod documents;
pub mod impact;
pub mod items;
pub mod lots;
pub mod matching;
pub mod members;
pub mod oidc;
pub mod organisations;
pub mod personal;
pub mod reports;
pub mod sites;
pub mod transitions;
pub mod verification;
pub mod webhooks;
pub mod workshop;

use reemploi_domain::organisation::Actor;
use uuid::Uuid;

use crate::access::{Acting, Caller};
pub use crate::store::tx::{MAX_ATTEMPTS, Tx, retry_after, write, write_owned};

/// Who performs a write and on behalf of which organisation.
#[derive(Debug, Clone)]
pub struct By {
    /// The kind and role it acts with; `None` when the platform acts by itself (worker upkeep,
    /// a proposal fired on the association's behalf).
    pub actor: Option<Actor>,
    /// Written in events: `user/<id>`, `api_key/<id>`, `system`.
    pub actor_ref: String,
    /// The organisation it acts for (the nil id for the platform itself).
    pub organisation_id: Uuid,
}

impl By {
    /// Whether it acts as an admin of its organisation: only an admin signs for it.
    pub fn is_admin(&self) -> bool {
        self.actor
            .is_some_and(|a| a.role == reemploi_domain::organisation::Role::Admin)
    }

    /// The caller acting through one of its organisations.
    pub fn acting(caller: &Caller, acting: &Acting) -> By {
        By {
            actor: Some(acting.actor),
            actor_ref: caller.actor_ref(),
            organisation_id: acting.organisation_id,
        }
    }

    /// The platform itself (background upkeep), for an organisation's stream.
    pub fn system(organisation_id: Uuid) -> By {
        By {
            actor: None,
            actor_ref: "system".to_owned(),
            organisation_id,
        }
    }

    /// The same caller, with the platform firing on its behalf (no kind or role checks).
    pub fn on_behalf(&self) -> By {
        By {
            actor: None,
            ..self.clone()
        }
    }
}

/// Sorts and deduplicates ids, the order in which a command locks rows of one table, so that
/// two commands locking the same rows never wait on each other in a cycle.
pub fn lock_order(ids: &[Uuid]) -> Vec<Uuid> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}
