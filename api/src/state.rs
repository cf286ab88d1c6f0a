//! What every handler shares: the database, the settings and the rate limiters.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::ratelimit::RateLimiter;

/// Shared application state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    /// Sign-in failures per account and client address together, with a growing delay.
    pub login_throttle: Arc<crate::ratelimit::LoginThrottle>,
    pub login_per_ip: Arc<RateLimiter>,
    /// Calls without credentials, per client address and minute.
    pub anonymous_limit: Arc<RateLimiter>,
    /// Progress of the background jobs running in this process: (processed, total).
    /// Blob storage (photos, documents).
    pub blobs: crate::blobs::Blobs,
    /// The search engine (embedded tantivy or Meilisearch).
    pub search: crate::search::Search,
    /// Document rendering (fonts loaded once).
    pub renderer: Arc<crate::documents::render::Renderer>,
    pub job_progress: Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, (u64, u64)>>>,
    /// The service's signing key for checkpoints of the event log.
    pub signer: Arc<crate::signing::Signer>,
    /// OpenID Connect providers and their cached discovery documents.
    pub oidc: crate::oidc::Oidc,
    /// Request counters and latency histograms of this process (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// When this process's outbox worker last finished a pass (Unix seconds; 0 before the
    /// first), for readiness.
    pub outbox_heartbeat: Arc<std::sync::atomic::AtomicI64>,
    /// The mailer the outbox worker delivers with, for readiness.
    pub mailer: Option<Arc<dyn crate::mail::Mailer>>,
    /// The connections this process serves (for their idle and header timeouts).
    pub connections: Arc<crate::connections::Registry>,
}

impl AppState {
    /// What document generation needs.
    pub fn documents(&self) -> crate::documents::Documents {
        crate::documents::Documents {
            renderer: self.renderer.clone(),
            blobs: self.blobs.clone(),
            public_url: self.settings.public_url.clone(),
            public_url_refused: self.settings.public_url_refusal(),
        }
    }

    pub fn new(
        db: DatabaseConnection,
        settings: Settings,
        blobs: crate::blobs::Blobs,
        search: crate::search::Search,
    ) -> Self {
        let window = Duration::from_secs(settings.login_limit_window_secs);
        Self {
            db,
            login_throttle: Arc::new(crate::ratelimit::LoginThrottle::new(
                settings.accounts.login_free_failures,
                Duration::from_secs(settings.accounts.login_max_delay_secs),
            )),
            login_per_ip: Arc::new(RateLimiter::new(settings.login_limit_per_ip, window)),
            anonymous_limit: Arc::new(RateLimiter::new(
                settings.anonymous_limit_per_minute,
                Duration::from_secs(60),
            )),
            job_progress: Arc::default(),
            blobs,
            search,
            renderer: Arc::new(crate::documents::render::Renderer::new()),
            signer: Arc::new(crate::signing::Signer::load(&settings)),
            oidc: crate::oidc::Oidc::new(&settings.oidc),
            metrics: Arc::default(),
            outbox_heartbeat: Arc::default(),
            mailer: None,
            connections: Arc::default(),
            settings: Arc::new(settings),
        }
    }
}
