//! What an operator's tools read: readiness per dependency (`/health/ready`) and the Prometheus
//! metrics (`/metrics`, behind `REEMPLOI_METRICS_TOKEN`).

use std::time::{Duration, Instant};

use poem::http::{StatusCode, header};
use poem::{Request, Response};

use crate::metrics::{escape, write_gauge};
use crate::ops_settings::Dependency;
use crate::state::AppState;

/// A pass of the outbox worker older than this means the worker is stuck or dead.
const OUTBOX_STALE: Duration = Duration::from_secs(120);

/// The state of one dependency.
#[derive(Debug, Clone)]
pub struct Probe {
    pub dependency: Dependency,
    /// `sqlite`, `postgres`, `tantivy`, `meilisearch`, `local`, `s3`, `smtp`, `log`, `worker`.
    pub kind: &'static str,
    pub ok: bool,
    /// Whether its failure makes the instance not ready (`REEMPLOI_READY_REQUIRES`).
    pub required: bool,
    pub latency: Duration,
}

async fn timed<F, E>(limit: Duration, check: F) -> (bool, Duration, Option<String>)
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit, check).await;
    let latency = started.elapsed();
    match outcome {
        Ok(Ok(())) => (true, latency, None),
        Ok(Err(e)) => (false, latency, Some(e.to_string())),
        Err(_) => (
            false,
            latency,
            Some(format!("no answer within {} ms", limit.as_millis())),
        ),
    }
}

/// Probes every dependency at once, each within the dependency timeout. Reasons of failures are
/// logged, never answered (they may name hosts).
pub async fn probe_all(state: &AppState) -> Vec<Probe> {
    let limit = Duration::from_millis(state.settings.ops.dependency_timeout_ms);
    let required = |d: Dependency| state.settings.ops.ready_requires.contains(&d);
    let db = timed(limit, state.db.ping());
    let search = timed(limit, state.search.check());
    let blobs = timed(limit, state.blobs.check());
    let mail = async {
        match &state.mailer {
            Some(m) => timed(limit, m.check()).await,
            None => (true, Duration::ZERO, None),
        }
    };
    let ((db_ok, db_t, db_e), (s_ok, s_t, s_e), (b_ok, b_t, b_e), (m_ok, m_t, m_e)) =
        tokio::join!(db, search, blobs, mail);
    let beat = state
        .outbox_heartbeat
        .load(std::sync::atomic::Ordering::Relaxed);
    let age = chrono::Utc::now().timestamp() - beat;
    let outbox_ok = beat > 0 && age >= 0 && (age as u64) < OUTBOX_STALE.as_secs();
    let outbox_e = (!outbox_ok).then(|| {
        if beat == 0 {
            "the outbox worker has not finished a pass yet".to_owned()
        } else {
            format!("the outbox worker's last pass was {age} s ago")
        }
    });
    let probes = vec![
        (
            Dependency::Database,
            state.settings.database_backend(),
            db_ok,
            db_t,
            db_e,
        ),
        (
            Dependency::Search,
            state.search.engine_name(),
            s_ok,
            s_t,
            s_e,
        ),
        (Dependency::Blobs, state.blobs.kind(), b_ok, b_t, b_e),
        (
            Dependency::Mail,
            state.mailer.as_ref().map_or("log", |m| m.kind()),
            m_ok,
            m_t,
            m_e,
        ),
        (
            Dependency::Outbox,
            "worker",
            outbox_ok,
            Duration::ZERO,
            outbox_e,
        ),
    ];
    probes
        .into_iter()
        .map(|(dependency, kind, ok, latency, reason)| {
            if let Some(reason) = reason {
                tracing::warn!(
                    dependency = dependency.as_str(),
                    kind,
                    reason = %reason,
                    "readiness: dependency unavailable"
                );
            }
            Probe {
                dependency,
                kind,
                ok,
                required: required(dependency),
                latency,
            }
        })
        .collect()
}

/// Whether `authorization` carries the metrics token (compared in constant time).
fn authorised(expected: &str, authorization: Option<&str>) -> bool {
    let Some(given) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`: 404 unless a token is configured, 401 without it.
pub async fn metrics(req: &Request, state: &AppState) -> Response {
    let Some(token) = &state.settings.ops.metrics_token else {
        return Response::builder().status(StatusCode::NOT_FOUND).finish();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !authorised(token, given) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")
            .finish();
    }
    match render(state).await {
        Ok(body) => Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(body),
        Err(err) => {
            tracing::error!(error = %err, "metrics: database figures unavailable");
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .finish()
        }
    }
}

async fn render(state: &AppState) -> Result<String, sea_orm::DbErr> {
    let mut out = String::new();
    state.metrics.write_requests(&mut out);
    let now = chrono::Utc::now();
    let backlog = crate::store::ops::outbox_backlog(&state.db).await?;
    let label = |topic: &str| format!("topic=\"{}\"", escape(topic));
    write_gauge(
        &mut out,
        "reemploi_outbox_pending",
        "Outbox messages waiting to be handled, per topic.",
        &backlog
            .iter()
            .map(|b| (label(&b.topic), b.pending as f64))
            .collect::<Vec<_>>(),
    );
    write_gauge(
        &mut out,
        "reemploi_outbox_parked",
        "Outbox messages given up on after their attempts, per topic.",
        &backlog
            .iter()
            .map(|b| (label(&b.topic), b.parked as f64))
            .collect::<Vec<_>>(),
    );
    let age = |b: &crate::store::ops::Backlog| {
        b.oldest.map_or(0.0, |at| {
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        })
    };
    write_gauge(
        &mut out,
        "reemploi_outbox_oldest_age_seconds",
        "Age of the oldest outbox message not done yet, per topic.",
        &backlog
            .iter()
            .map(|b| (label(&b.topic), age(b)))
            .collect::<Vec<_>>(),
    );
    let index_lag = backlog
        .iter()
        .find(|b| b.topic == crate::store::outbox::Topic::Index.as_str())
        .map_or(0.0, age);
    write_gauge(
        &mut out,
        "reemploi_search_index_lag_seconds",
        "How far the search index is behind the database: the age of the oldest index update not applied yet.",
        &[(String::new(), index_lag)],
    );
    let jobs = crate::store::ops::job_counts(&state.db).await?;
    write_gauge(
        &mut out,
        "reemploi_jobs",
        "Background jobs (imports), per status.",
        &jobs
            .iter()
            .map(|(status, n)| (format!("status=\"{}\"", escape(status)), *n as f64))
            .collect::<Vec<_>>(),
    );
    let (open, idle, max) = crate::store::ops::pool(&state.db, state.settings.db_max_connections);
    write_gauge(
        &mut out,
        "reemploi_db_pool_connections",
        "Database connections of this process's pool, per state.",
        &[
            (
                "state=\"in_use\"".into(),
                f64::from(open.saturating_sub(idle)),
            ),
            ("state=\"idle\"".into(), f64::from(idle)),
        ],
    );
    write_gauge(
        &mut out,
        "reemploi_db_pool_max_connections",
        "The most connections the pool opens (REEMPLOI_DB_MAX_CONNECTIONS).",
        &[(String::new(), f64::from(max))],
    );
    let beat = state
        .outbox_heartbeat
        .load(std::sync::atomic::Ordering::Relaxed);
    write_gauge(
        &mut out,
        "reemploi_outbox_worker_last_pass_timestamp_seconds",
        "When this process's outbox worker last finished a pass (Unix time; 0 before the first).",
        &[(String::new(), beat as f64)],
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_token_must_match_exactly() {
        assert!(authorised(
            "s3cret-metrics-token",
            Some("Bearer s3cret-metrics-token")
        ));
        assert!(!authorised(
            "s3cret-metrics-token",
            Some("Bearer s3cret-metrics-tokeN")
        ));
        assert!(!authorised("s3cret-metrics-token", Some("Bearer s3cret")));
        assert!(!authorised(
            "s3cret-metrics-token",
            Some("s3cret-metrics-token")
        ));
        assert!(!authorised("s3cret-metrics-token", None));
    }
}
