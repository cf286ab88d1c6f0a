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
}

/// Readiness: 200 when the database answers, 503 otherwise.
#[derive(ApiResponse)]
pub enum Readiness {
    /// Ready to serve.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// The database does not answer.
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
        })
    }

    /// Readiness
    ///
    /// 200 when the database answers a query, 503 otherwise.
    #[oai(path = "/health/ready", method = "get", operation_id = "check_ready")]
    async fn check_ready(&self) -> Readiness {
        let backend = self.state.settings.database_backend().to_owned();
        match self.state.db.ping().await {
            Ok(()) => Readiness::Ready(Json(Health {
                status: "ok".into(),
                database: Some(backend),
            })),
            Err(err) => {
                tracing::warn!(error = %err, "readiness: database unavailable");
                Readiness::NotReady(Json(Health {
                    status: "unavailable".into(),
                    database: Some(backend),
                }))
            }
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
