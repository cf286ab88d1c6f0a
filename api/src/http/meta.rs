//! Health checks and reference data.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::types::ApiTags;
use crate::error::{ErrorCode, Lang};
use crate::state::AppState;

/// Health of the process or of its dependencies.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The database backend (`sqlite` or `postgres`), for readiness.
    #[oai(skip_serializing_if_is_none)]
    pub database: Option<String>,
    /// Each dependency with its state, for readiness.
    #[oai(default, skip_serializing_if_is_empty)]
    pub dependencies: Vec<DependencyHealth>,
}

/// The state of one dependency of the instance.
#[derive(Debug, Clone, Object)]
pub struct DependencyHealth {
    /// `database`, `search`, `blobs`, `mail` or `outbox`.
    pub name: String,
    /// What serves it: `sqlite`, `postgres`, `tantivy`, `meilisearch`, `local`, `s3`, `smtp`,
    /// `log`, `memory` or `worker`.
    pub kind: String,
    /// `ok` or `unavailable` (the reason is in the service's log, not here).
    pub status: String,
    /// Whether its failure makes the instance not ready (`REEMPLOI_READY_REQUIRES`).
    pub required: bool,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
}

/// Readiness: 200 when every required dependency answers, 503 otherwise.
#[derive(ApiResponse)]
pub enum Readiness {
    /// Ready to serve.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// A required dependency does not answer.
    #[oai(status = 503)]
    NotReady(Json<Health>),
}

/// One row of the error table.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProblemType {
    /// Stable code, the `code` of problem documents.
    pub code: String,
    /// HTTP status it comes with.
    pub status: u16,
    pub title_fr: String,
    pub title_en: String,
}

pub struct MetaApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Meta")]
impl MetaApi {
    /// Liveness
    ///
    /// 200 as long as the process serves requests.
    #[oai(path = "/health/live", method = "get", operation_id = "check_live")]
    async fn check_live(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
            database: None,
            dependencies: Vec::new(),
        })
    }

    /// Readiness
    ///
    /// Each dependency (database, search engine, blob store, mail server, outbox worker) with
    /// its state, probed at once within a short timeout. 503 when one that
    /// `REEMPLOI_READY_REQUIRES` names (by default the database) does not answer.
    #[oai(path = "/health/ready", method = "get", operation_id = "check_ready")]
    async fn check_ready(&self) -> Readiness {
        let probes = super::ops::probe_all(&self.state).await;
        let ready = probes.iter().all(|p| p.ok || !p.required);
        let word = |ok: bool| if ok { "ok" } else { "unavailable" }.to_owned();
        let health = Health {
            status: word(ready),
            database: Some(self.state.settings.database_backend().to_owned()),
            dependencies: probes
                .iter()
                .map(|p| DependencyHealth {
                    name: p.dependency.as_str().to_owned(),
                    kind: p.kind.to_owned(),
                    status: word(p.ok),
                    required: p.required,
                    latency_ms: (p.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
                })
                .collect(),
        };
        if ready {
            Readiness::Ready(Json(health))
        } else {
            Readiness::NotReady(Json(health))
        }
    }

    /// Error codes
    ///
    /// Every `code` a problem document can carry, with its status and titles. Problem `type`
    /// URIs point here.
    #[oai(
        path = "/v1/meta/problems",
        method = "get",
        operation_id = "list_problems"
    )]
    async fn list_problems(&self) -> Json<Vec<ProblemType>> {
        Json(
            ErrorCode::ALL
                .iter()
                .map(|c| ProblemType {
                    code: c.code().to_owned(),
                    status: c.status().as_u16(),
                    title_fr: c.title(Lang::Fr).to_owned(),
                    title_en: c.title(Lang::En).to_owned(),
                })
                .collect(),
        )
    }
}
