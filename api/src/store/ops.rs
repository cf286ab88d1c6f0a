//! Figures an operator watches, read at scrape time: the outbox backlog per topic, the jobs per
//! status, and the database pool.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entities::{job, outbox};
use crate::worker::MAX_ATTEMPTS;

/// The messages of one outbox topic not done yet.
#[derive(Debug, Clone)]
pub struct Backlog {
    pub topic: String,
    /// Waiting to be handled (or retried).
    pub pending: i64,
    /// Given up on after their attempts, kept for an operator.
    pub parked: i64,
    /// When the oldest message still waiting was queued.
    pub oldest: Option<chrono::DateTime<chrono::Utc>>,
}

/// The outbox backlog, per topic.
pub async fn outbox_backlog(db: &DatabaseConnection) -> Result<Vec<Backlog>, DbErr> {
    let waiting: Vec<(String, i64)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Topic)
        .column_as(Expr::col(outbox::Column::Id).count(), "n")
        .filter(outbox::Column::DoneAt.is_null())
        .group_by(outbox::Column::Topic)
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Vec::new();
    for (topic, total) in waiting {
        let parked = outbox::Entity::find()
            .filter(outbox::Column::DoneAt.is_null())
            .filter(outbox::Column::Topic.eq(&topic))
            .filter(outbox::Column::Attempts.gte(MAX_ATTEMPTS))
            .filter(outbox::Column::Topic.ne(super::outbox::Topic::Index.as_str()))
            .filter(outbox::Column::Topic.ne(super::outbox::Topic::Webhook.as_str()))
            .count(db)
            .await? as i64;
        let oldest = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::CreatedAt)
            .filter(outbox::Column::DoneAt.is_null())
            .filter(outbox::Column::Topic.eq(&topic))
            .order_by_asc(outbox::Column::CreatedAt)
            .into_tuple::<chrono::DateTime<chrono::Utc>>()
            .one(db)
            .await?;
        out.push(Backlog {
            pending: total - parked,
            parked,
            topic,
            oldest,
        });
    }
    Ok(out)
}

/// Jobs per status.
pub async fn job_counts(db: &DatabaseConnection) -> Result<Vec<(String, i64)>, DbErr> {
    job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(Expr::col(job::Column::Id).count(), "n")
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await
}

/// The database pool: (connections open, of which idle, the most allowed).
pub fn pool(db: &DatabaseConnection, max: u32) -> (u32, u32, u32) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle() as u32, max)
        }
        _ => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle() as u32, max)
        }
    }
}
