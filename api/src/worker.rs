//! Background worker draining the outbox: claims due messages with a lease (so several
//! instances can run), performs them, and retries failures with exponential back-off.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::TimeDelta;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::mail::{Mail, Mailer};
use crate::store::entities::outbox;
use crate::store::outbox::Topic;

/// How long a claimed message stays reserved for one worker.
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Attempts after which a message is parked (kept, with its last error, for an operator).
pub const MAX_ATTEMPTS: i32 = 12;

/// The outbox worker and what it needs.
#[derive(Clone)]
pub struct Worker {
    pub db: DatabaseConnection,
    pub mailer: Arc<dyn Mailer>,
    pub mail_from: String,
    pub search: crate::search::Search,
    pub documents: crate::documents::Documents,
    /// Longest wait between two attempts of a message, in seconds.
    pub max_backoff_secs: i64,
    /// `REEMPLOI_TODAY`, when set.
    pub today: Option<chrono::NaiveDate>,
    /// Webhook delivery (its own retries, back-off and ordering).
    pub webhooks: crate::webhooks::Deliverer,
    /// How long what outlived its purpose is kept (the purge).
    pub retention: crate::account_settings::AccountSettings,
    /// The key the daily checkpoint of the event log is signed with.
    pub signer: Arc<crate::signing::Signer>,
    /// Set to the time of each finished pass (Unix seconds), for readiness.
    pub heartbeat: Arc<std::sync::atomic::AtomicI64>,
}

impl Worker {
    /// Runs forever, polling every `poll`.
    pub async fn run(self, poll: Duration) {
        let purge_every = Duration::from_secs(self.retention.purge_interval_secs);
        let mut last_purge = None;
        let mut next_checkpoint_check = std::time::Instant::now();
        loop {
            // With a pretended date (`REEMPLOI_TODAY`: tests and demos) there is no real day
            // to sign: checkpoints are then taken on demand only.
            if self.today.is_none() && std::time::Instant::now() >= next_checkpoint_check {
                // The day's signed checkpoint of every stream head (docs/tamper-evidence.md).
                match crate::commands::checkpoints::take_daily(&self.db, &self.signer).await {
                    Ok(Some(c)) => {
                        tracing::info!(checkpoint.id = %c.id, streams = c.streams, "daily checkpoint signed")
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(error = ?err, "daily checkpoint failed"),
                }
                next_checkpoint_check = std::time::Instant::now() + Duration::from_secs(60);
            }
            if let Err(err) = crate::commands::demand::upkeep(&self.db, self.today()).await {
                tracing::warn!(error = ?err, "reservation upkeep failed");
            }
            if last_purge.is_none_or(|at: std::time::Instant| at.elapsed() >= purge_every) {
                last_purge = Some(std::time::Instant::now());
                match crate::purge::run(&self.db, &self.retention).await {
                    Ok(n) if n.total() > 0 => tracing::info!(purged = ?n, "purge done"),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = format!("{err:#}"), "purge failed"),
                }
            }
            if let Err(err) = crate::commands::verification::upkeep(&self.db, self.today()).await {
                tracing::warn!(error = ?err, "expiring evidence scan failed");
            }
            let pass = self.drain_once(50).await;
            self.heartbeat.store(
                chrono::Utc::now().timestamp(),
                std::sync::atomic::Ordering::Relaxed,
            );
            match pass {
                Ok(0) => tokio::time::sleep(poll).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "outbox worker pass failed");
                    tokio::time::sleep(poll).await;
                }
            }
        }
    }

    fn today(&self) -> chrono::NaiveDate {
        self.today
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    /// Performs up to `batch` due messages; returns how many were handled.
    pub async fn drain_once(&self, batch: u64) -> anyhow::Result<usize> {
        let now = crate::store::now();
        let due = outbox::Entity::find()
            .filter(outbox::Column::DoneAt.is_null())
            .filter(outbox::Column::NextAttemptAt.lte(now))
            // Index messages are never parked: the index must catch up whenever the engine returns.
            // Webhook messages count and give up their attempts themselves.
            .filter(
                outbox::Column::Attempts
                    .lt(MAX_ATTEMPTS)
                    .or(outbox::Column::Topic.eq(Topic::Index.as_str()))
                    .or(outbox::Column::Topic.eq(Topic::Webhook.as_str())),
            )
            .filter(
                outbox::Column::LockedUntil
                    .is_null()
                    .or(outbox::Column::LockedUntil.lt(now)),
            )
            .order_by_asc(outbox::Column::NextAttemptAt)
            .limit(batch)
            .all(&self.db)
            .await
            .context("listing due outbox messages")?;
        let mut claimed_msgs = Vec::new();
        let mut webhook_msgs = Vec::new();
        for msg in due {
            if Topic::parse(&msg.topic) == Some(Topic::Webhook) {
                // Claimed one at a time, just before it is sent: a slow receiver must not let
                // the lease of messages further in the batch run out (another instance would
                // then send them too).
                webhook_msgs.push(msg);
            } else if self.claim(&msg).await? {
                claimed_msgs.push(msg);
            }
        }
        let mut handled = 0;
        for msg in &webhook_msgs {
            if !self.claim(msg).await? {
                continue;
            }
            handled += 1;
            // The deliverer records the outcome on the message itself (its own back-off, and
            // deferral behind an earlier delivery of the same subject).
            if let Err(err) = self.webhooks.perform(msg).await {
                let err = format!("{err:#}");
                tracing::warn!(outbox.id = %msg.id, error = %err, "webhook message failed");
                self.record(msg, Some(err)).await?;
            }
        }
        handled += claimed_msgs.len();
        // Index messages are performed together: one derivation and one engine commit.
        let (index_msgs, others): (Vec<_>, Vec<_>) = claimed_msgs
            .into_iter()
            .partition(|m| Topic::parse(&m.topic) == Some(Topic::Index));
        if !index_msgs.is_empty() {
            let outcome = self.perform_index(&index_msgs).await;
            let err = outcome.err().map(|e| format!("{e:#}"));
            for msg in &index_msgs {
                self.record(msg, err.clone()).await?;
            }
        }
        for msg in others {
            let outcome = self.perform(&msg).await;
            self.record(&msg, outcome.err().map(|e| format!("{e:#}")))
                .await?;
        }
        Ok(handled)
    }

    /// Takes the lease of a message; only one worker wins it.
    async fn claim(&self, msg: &outbox::Model) -> anyhow::Result<bool> {
        let now = crate::store::now();
        let claimed = outbox::Entity::update_many()
            .col_expr(outbox::Column::LockedUntil, Expr::value(now + LEASE))
            .filter(outbox::Column::Id.eq(msg.id))
            .filter(outbox::Column::DoneAt.is_null())
            // Not rescheduled by another worker since it was listed.
            .filter(outbox::Column::NextAttemptAt.lte(now))
            .filter(
                outbox::Column::LockedUntil
                    .is_null()
                    .or(outbox::Column::LockedUntil.lt(now)),
            )
            .exec(&self.db)
            .await
            .context("claiming an outbox message")?;
        Ok(claimed.rows_affected == 1)
    }

    /// Marks a message done, or schedules its next attempt with exponential back-off.
    async fn record(&self, msg: &outbox::Model, error: Option<String>) -> anyhow::Result<()> {
        let finished = crate::store::now();
        let attempts = msg.attempts + 1;
        let update = match error {
            None => outbox::Entity::update_many()
                .col_expr(outbox::Column::DoneAt, Expr::value(Some(finished)))
                .col_expr(outbox::Column::Attempts, Expr::value(attempts)),
            Some(err) => {
                let backoff = TimeDelta::seconds(Ord::min(
                    2i64.pow(attempts.clamp(0, 20) as u32),
                    Ord::max(self.max_backoff_secs, 1),
                ));
                tracing::warn!(outbox.id = %msg.id, outbox.topic = %msg.topic, outbox.attempts = attempts, error = %err, "outbox message failed");
                outbox::Entity::update_many()
                    .col_expr(outbox::Column::Attempts, Expr::value(attempts))
                    .col_expr(
                        outbox::Column::NextAttemptAt,
                        Expr::value(finished + backoff),
                    )
                    .col_expr(outbox::Column::LastError, Expr::value(Some(err)))
            }
        };
        update
            .col_expr(
                outbox::Column::LockedUntil,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .filter(outbox::Column::Id.eq(msg.id))
            .exec(&self.db)
            .await
            .context("recording an outbox outcome")?;
        Ok(())
    }

    async fn perform_index(&self, msgs: &[outbox::Model]) -> anyhow::Result<()> {
        let mut jobs = Vec::with_capacity(msgs.len());
        for m in msgs {
            jobs.push(
                serde_json::from_str::<crate::search::indexer::IndexJob>(&m.payload)
                    .context("decoding an index job")?,
            );
        }
        crate::search::indexer::perform(&self.db, &self.search, &jobs).await
    }

    async fn perform(&self, msg: &outbox::Model) -> anyhow::Result<()> {
        match Topic::parse(&msg.topic) {
            Some(Topic::Mail) => {
                let mail: Mail = serde_json::from_str(&msg.payload).context("decoding a mail")?;
                self.mailer.send(&self.mail_from, &mail).await?;
                // Delivered: keep what the audit needs, not the body and its one-time link.
                let record = mail.delivered_record(crate::store::now()).to_string();
                outbox::Entity::update_many()
                    .col_expr(outbox::Column::Payload, Expr::value(record))
                    .filter(outbox::Column::Id.eq(msg.id))
                    .exec(&self.db)
                    .await
                    .context("reducing a delivered mail")?;
                Ok(())
            }
            Some(Topic::Index) => self.perform_index(std::slice::from_ref(msg)).await,
            Some(Topic::Webhook) => anyhow::bail!("webhook messages are sent by the deliverer"),
            Some(Topic::Document) => {
                let job: crate::documents::DocumentJob =
                    serde_json::from_str(&msg.payload).context("decoding a document job")?;
                crate::documents::perform(&self.db, &self.documents, &job, self.today()).await
            }
            None => anyhow::bail!("unknown outbox topic `{}`", msg.topic),
        }
    }
}
