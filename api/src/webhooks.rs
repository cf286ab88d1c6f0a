//! Webhook delivery following the Standard Webhooks specification: secrets (`whsec_<base64>`),
//! signatures (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, two during a rotation), the
//! SSRF check of targets, and the worker's delivery of one queued message (in order per
//! subject, retried with exponential back-off, the subscription disabled after a run of
//! failures).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use hmac::{Hmac, Mac};
use reemploi_domain::webhooks::{AllowEntry, backoff_ms, forbidden_address};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::Sha256;

use crate::config::WebhookSettings;
use crate::store::entities::{outbox, webhook_attempt, webhook_delivery, webhook_subscription};
use crate::store::webhooks::{
    self as q, ABANDONED, ACTIVE, DeliveryJob, FAILED, PENDING, SUCCEEDED,
};

/// Prefix of webhook secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Longest target URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// A fresh secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// `v1,<signature>` of one message with one secret, or `None` for a malformed secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX)?)
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: the current secret's signature, and during a rotation's
/// overlap the previous secret's too, space-separated.
pub fn signature_header(
    s: &webhook_subscription::Model,
    msg_id: &str,
    timestamp: i64,
    body: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let mut out = sign(&s.secret, msg_id, timestamp, body)?;
    if let (Some(prev), Some(until)) = (&s.previous_secret, s.previous_secret_until)
        && until > now
        && let Some(sig) = sign(prev, msg_id, timestamp, body)
    {
        out.push(' ');
        out.push_str(&sig);
    }
    Some(out)
}

/// Why a target is refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("not an absolute http(s) URL")]
    Malformed,
    #[error("plain http is allowed only for allow-listed hosts; use https")]
    NotHttps,
    #[error("the host name does not resolve")]
    Unresolvable,
    #[error("the host resolves to a {0} address, which is not allow-listed")]
    Forbidden(&'static str),
}

/// A checked target: its URL and the addresses to connect to (pinned, so that a second
/// resolution cannot point elsewhere).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: reqwest::Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

fn allowed(allow: &[AllowEntry], host: &str, ip: Option<IpAddr>) -> bool {
    allow
        .iter()
        .any(|e| e.names(host) || ip.is_some_and(|ip| e.contains(ip)))
}

/// Checks a target URL: `https://` (or `http://` for an allow-listed host), and every address
/// it resolves to public unless allow-listed (SSRF).
pub async fn check_target(raw: &str, allow: &[AllowEntry]) -> Result<Target, TargetError> {
    if raw.len() > MAX_URL_LEN {
        return Err(TargetError::Malformed);
    }
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| TargetError::Malformed)?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(TargetError::Malformed)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if !matches!(url.scheme(), "https" | "http") {
        return Err(TargetError::Malformed);
    }
    let port = url.port_or_known_default().ok_or(TargetError::Malformed)?;
    let literal: Option<IpAddr> = host.parse().ok();
    let addrs: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| TargetError::Unresolvable)?
        .map_err(|_| TargetError::Unresolvable)?
        .collect(),
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable);
    }
    match url.scheme() {
        "https" => {}
        "http"
            if allowed(allow, &host, None)
                || addrs.iter().all(|a| allowed(allow, &host, Some(a.ip()))) => {}
        "http" => return Err(TargetError::NotHttps),
        _ => return Err(TargetError::Malformed),
    }
    for a in &addrs {
        if let Some(why) = forbidden_address(a.ip())
            && !allowed(allow, &host, Some(a.ip()))
        {
            use reemploi_domain::webhooks::ForbiddenAddress as F;
            return Err(TargetError::Forbidden(match why {
                F::Loopback => "loopback",
                F::Private => "private",
                F::LinkLocal => "link-local",
                F::Unspecified => "unspecified",
                F::Other => "reserved",
            }));
        }
    }
    Ok(Target { url, host, addrs })
}

/// What the worker needs to deliver.
#[derive(Clone)]
pub struct Deliverer {
    pub db: DatabaseConnection,
    pub settings: WebhookSettings,
}

/// The outcome of one try.
struct Tried {
    status: Option<u16>,
    latency_ms: i32,
    error: Option<String>,
}

impl Deliverer {
    /// Performs one queued outbox message of topic `webhook`, and records its outcome on the
    /// message itself (done, retried later, or deferred behind an earlier one of its subject).
    pub async fn perform(&self, msg: &outbox::Model) -> anyhow::Result<()> {
        let job: DeliveryJob =
            serde_json::from_str(&msg.payload).context("decoding a webhook job")?;
        let Some(d) = webhook_delivery::Entity::find_by_id(job.delivery_id)
            .one(&self.db)
            .await
            .context("loading a webhook delivery")?
        else {
            return self.finish(msg, msg.attempts).await;
        };
        if d.status != PENDING {
            return self.finish(msg, msg.attempts).await;
        }
        let sub = webhook_subscription::Entity::find_by_id(d.subscription_id)
            .one(&self.db)
            .await
            .context("loading a webhook subscription")?;
        let Some(sub) = sub.filter(|s| s.status == ACTIVE) else {
            // Paused, disabled or deleted before it went out: given up, redeliverable by hand.
            self.set_delivery_status(&d, ABANDONED).await?;
            return self.finish(msg, msg.attempts).await;
        };
        if let Some(earlier) = q::earlier_pending(&self.db, &d).await? {
            // In order per subject: wait until the earlier one has gone out (or been given up),
            // that is until its next try when it is backing off, else a short while.
            let short = Ord::min(self.settings.retry_base_ms, 1000);
            let until_earlier = earlier
                .next_attempt_at
                .map(|at| (at - crate::store::now()).num_milliseconds())
                .and_then(|ms| u64::try_from(ms).ok())
                .unwrap_or(0);
            let wait = Duration::from_millis(Ord::max(until_earlier, short));
            return self.reschedule(msg, msg.attempts, wait, None).await;
        }
        let tried = self.try_once(&sub, &d).await;
        self.record(msg, &sub, &d, tried).await
    }

    async fn try_once(
        &self,
        sub: &webhook_subscription::Model,
        d: &webhook_delivery::Model,
    ) -> Tried {
        let started = Instant::now();
        let elapsed = |s: Instant| i32::try_from(s.elapsed().as_millis()).unwrap_or(i32::MAX);
        let target = match check_target(&sub.url, &self.settings.allow).await {
            Ok(t) => t,
            Err(e) => {
                return Tried {
                    status: None,
                    latency_ms: elapsed(started),
                    error: Some(format!("target refused: {e}")),
                };
            }
        };
        let msg_id = format!("msg_{}", d.id.simple());
        let now = crate::store::now();
        let timestamp = now.timestamp();
        let Some(signature) = signature_header(sub, &msg_id, timestamp, &d.body, now) else {
            return Tried {
                status: None,
                latency_ms: 0,
                error: Some("the subscription's secret is malformed".to_owned()),
            };
        };
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(self.settings.timeout_ms))
            .user_agent(concat!("Reemploi-Webhooks/", env!("CARGO_PKG_VERSION")));
        if target.host.parse::<IpAddr>().is_err() {
            builder = builder.resolve_to_addrs(&target.host, &target.addrs);
        }
        let client = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                return Tried {
                    status: None,
                    latency_ms: 0,
                    error: Some(format!("http client: {e}")),
                };
            }
        };
        let sent = client
            .post(target.url)
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                let latency_ms = elapsed(started);
                Tried {
                    status: Some(status.as_u16()),
                    latency_ms,
                    error: (!status.is_success()).then(|| format!("receiver answered {status}")),
                }
            }
            Err(e) => Tried {
                status: None,
                latency_ms: elapsed(started),
                error: Some(if e.is_timeout() {
                    "the receiver did not answer in time".to_owned()
                } else if e.is_connect() {
                    "could not connect to the receiver".to_owned()
                } else {
                    format!("request failed: {e}")
                }),
            },
        }
    }

    /// Writes the attempt to the log, the delivery's and subscription's state, and the outbox
    /// message's; disables the subscription after its run of failures.
    async fn record(
        &self,
        msg: &outbox::Model,
        sub: &webhook_subscription::Model,
        d: &webhook_delivery::Model,
        tried: Tried,
    ) -> anyhow::Result<()> {
        let now = crate::store::now();
        let attempts = d.attempts + 1;
        let ok = tried.error.is_none();
        let exhausted = !ok && attempts >= self.settings.max_attempts as i32;
        let status = if ok {
            SUCCEEDED
        } else if exhausted {
            FAILED
        } else {
            PENDING
        };
        let wait = Duration::from_millis(backoff_ms(
            attempts as u32,
            self.settings.retry_base_ms,
            self.settings.retry_max_secs.saturating_mul(1000),
        ));
        let next_attempt_at = (!ok && !exhausted).then(|| {
            now + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::seconds(1))
        });
        // Bookkeeping of the worker, like the outbox's own: no event (an event per try would
        // itself be delivered), and each statement stands alone — a crash between them leaves
        // the message leased, so it is tried again (at least once).
        let db = &self.db;
        webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
            id: Set(crate::store::new_id()),
            delivery_id: Set(d.id),
            subscription_id: Set(sub.id),
            attempt: Set(attempts),
            outcome: Set(if ok { SUCCEEDED } else { FAILED }.to_owned()),
            status_code: Set(tried.status.map(i32::from)),
            latency_ms: Set(tried.latency_ms),
            error: Set(tried.error.clone()),
            attempted_at: Set(now),
        })
        .exec_without_returning(db)
        .await
        .context("logging a delivery attempt")?;
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Attempts, Expr::value(attempts))
            .col_expr(webhook_delivery::Column::Status, Expr::value(status))
            .col_expr(
                webhook_delivery::Column::LastStatusCode,
                Expr::value(tried.status.map(i32::from)),
            )
            .col_expr(
                webhook_delivery::Column::LastLatencyMs,
                Expr::value(Some(tried.latency_ms)),
            )
            .col_expr(
                webhook_delivery::Column::LastError,
                Expr::value(tried.error.clone()),
            )
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            )
            .col_expr(
                webhook_delivery::Column::DeliveredAt,
                Expr::value(if ok { Some(now) } else { d.delivered_at }),
            )
            .filter(webhook_delivery::Column::Id.eq(d.id))
            .exec(db)
            .await
            .context("recording a delivery")?;
        let failures = if ok {
            webhook_subscription::Entity::update_many()
                .col_expr(
                    webhook_subscription::Column::ConsecutiveFailures,
                    Expr::value(0),
                )
                .filter(webhook_subscription::Column::Id.eq(sub.id))
                .exec(db)
                .await
                .context("resetting a subscription's failures")?;
            0
        } else {
            webhook_subscription::Entity::update_many()
                .col_expr(
                    webhook_subscription::Column::ConsecutiveFailures,
                    Expr::col(webhook_subscription::Column::ConsecutiveFailures).add(1),
                )
                .filter(webhook_subscription::Column::Id.eq(sub.id))
                .exec(db)
                .await
                .context("counting a subscription's failure")?;
            webhook_subscription::Entity::find_by_id(sub.id)
                .one(db)
                .await?
                .map_or(0, |s| s.consecutive_failures)
        };
        if let Some(err) = &tried.error {
            tracing::warn!(webhook.id = %sub.id, delivery.id = %d.id, delivery.attempts = attempts, error = %err, "webhook delivery failed");
        }
        if !ok && failures >= self.settings.disable_after as i32 {
            crate::commands::webhooks::disable_after_failures(&self.db, sub.id, failures)
                .await
                .map_err(|e| anyhow::anyhow!("disabling a failing subscription: {e:?}"))?;
        }
        if ok || exhausted {
            self.finish(msg, attempts).await
        } else {
            self.reschedule(msg, attempts, wait, tried.error).await
        }
    }

    async fn set_delivery_status(
        &self,
        d: &webhook_delivery::Model,
        status: &str,
    ) -> anyhow::Result<()> {
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(status))
            .col_expr(
                webhook_delivery::Column::UpdatedAt,
                Expr::value(crate::store::now()),
            )
            .filter(webhook_delivery::Column::Id.eq(d.id))
            .filter(webhook_delivery::Column::Status.eq(PENDING))
            .exec(&self.db)
            .await
            .context("giving up a delivery")?;
        Ok(())
    }

    async fn finish(&self, msg: &outbox::Model, attempts: i32) -> anyhow::Result<()> {
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::DoneAt,
                Expr::value(Some(crate::store::now())),
            )
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(
                outbox::Column::LockedUntil,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .filter(outbox::Column::Id.eq(msg.id))
            .exec(&self.db)
            .await
            .context("finishing a webhook message")?;
        Ok(())
    }

    async fn reschedule(
        &self,
        msg: &outbox::Model,
        attempts: i32,
        wait: Duration,
        error: Option<String>,
    ) -> anyhow::Result<()> {
        let at = crate::store::now()
            + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::seconds(1));
        let mut update = outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(at))
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(
                outbox::Column::LockedUntil,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            );
        if let Some(e) = error {
            update = update.col_expr(outbox::Column::LastError, Expr::value(Some(e)));
        }
        update
            .filter(outbox::Column::Id.eq(msg.id))
            .exec(&self.db)
            .await
            .context("rescheduling a webhook message")?;
        Ok(())
    }
}
