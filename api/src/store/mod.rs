//! Persistence: connecting to SQLite or PostgreSQL, migrations, write transactions, and the
//! event log and outbox that every write appends to.

pub mod checkpoints;
pub mod demand;
pub mod documents;
pub mod entities;
#[cfg(test)]
mod event_kinds;
pub mod events;
pub mod exits;
pub mod impact;
pub mod import_stage;
pub mod items;
pub mod lots;
pub mod matching;
pub mod oidc;
pub mod ops;
pub mod organisations;
pub mod outbox;
pub mod people;
pub mod tx;
pub mod verification;
pub mod webhooks;

use std::time::Duration;

use reemploi_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::Settings;

/// Opens the database named by the settings, creating the SQLite file's directory if needed.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    connect_with(
        &settings.database_url,
        settings.db_max_connections,
        Duration::from_secs(settings.ops.db_acquire_timeout_secs),
    )
    .await
}

/// Opens a database by URL (tools: a connection may be waited for 30 s).
pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, Duration::from_secs(30)).await
}

/// Opens a database by URL; a caller waits at most `acquire` for a pooled connection (then the
/// request is answered 503 with `Retry-After` rather than hanging).
async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire: Duration,
) -> Result<DatabaseConnection, DbErr> {
    if let Some(path) = sqlite_path(url)
        && let Some(parent) = std::path::Path::new(&path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(acquire.min(Duration::from_secs(10)))
        .acquire_timeout(acquire)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            // WAL lets readers proceed while one writer works; writers queue on the busy timeout.
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    Database::connect(opts).await
}

/// The file a `sqlite:` URL names (`None` for PostgreSQL or an in-memory database).
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

/// Writes a consistent copy of the SQLite database to `target` (`VACUUM INTO`: one read
/// statement, so writers carry on while it runs; the copy is compact and needs no WAL file).
pub async fn snapshot_sqlite(
    db: &DatabaseConnection,
    target: &std::path::Path,
) -> Result<(), DbErr> {
    use sea_orm::ConnectionTrait;
    let target = target
        .to_str()
        .ok_or_else(|| DbErr::Custom(format!("{} is not valid UTF-8", target.display())))?;
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "VACUUM INTO ?",
        [target.into()],
    ))
    .await
    .map(|_| ())
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Starts a write transaction that must append an event ([`tx::Tx`]); commands use
/// [`tx::write`], which also retries concurrent-write refusals.
pub async fn begin_write(db: &DatabaseConnection) -> Result<tx::Tx, DbErr> {
    tx::Tx::begin(db).await
}

/// Starts a raw transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so
/// that concurrent writers queue instead of failing when a read would upgrade to a write.
pub(crate) async fn begin_raw(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let sqlite_transaction_mode = match db.get_database_backend() {
        DbBackend::Sqlite => Some(SqliteTransactionMode::Immediate),
        _ => None,
    };
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode,
        ..TransactionOptions::default()
    })
    .await
}

/// Whether an error is the violation of a unique constraint.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// The name of the violated unique constraint or column list, when the driver says it.
pub fn unique_violation_detail(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) => Some(detail),
        _ => None,
    }
}

/// A fresh identifier (UUIDv7: time-ordered, so ids sort by creation).
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// The current time, truncated to microseconds so that it survives a database round trip
/// identically on SQLite and PostgreSQL.
/// A UTC instant as stored.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
pub use chrono::TimeDelta;

pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}
