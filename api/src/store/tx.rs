//! Write transactions that count their events, and the retry loop around them.
//!
//! Forgetting the event is impossible: [`Tx::commit`] refuses to commit a transaction that
//! appended none, and the only way to append one is [`Tx::event`] (or
//! [`super::events::append`], which takes a `Tx`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};

use super::entities::event;
use super::events::{self, NewEvent};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// How many times a write refused by a concurrent one is run again before answering 409.
pub const MAX_ATTEMPTS: u32 = 6;

/// A write transaction that counts its events. On SQLite it holds the write lock from the start
/// (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing on a lock upgrade.
pub struct Tx {
    txn: DatabaseTransaction,
    events: AtomicU32,
    /// Device streams appended to, sealed with the device's final state at commit.
    devices: std::sync::Mutex<Vec<String>>,
}

impl Tx {
    /// Opens a write transaction.
    pub async fn begin(db: &DatabaseConnection) -> Result<Tx, DbErr> {
        Ok(Tx {
            txn: super::begin_raw(db).await?,
            events: AtomicU32::new(0),
            devices: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Appends a hash-chained event to its stream in this transaction.
    pub async fn event(&self, new: NewEvent) -> Result<event::Model, DbErr> {
        if events::item_of_stream(&new.stream).is_some()
            && let Ok(mut devices) = self.devices.lock()
            && !devices.contains(&new.stream)
        {
            devices.push(new.stream.clone());
        }
        let appended = events::append_in(&self.txn, new).await?;
        self.events.fetch_add(1, Ordering::Relaxed);
        Ok(appended)
    }

    /// How many events this transaction appended so far.
    pub fn events(&self) -> u32 {
        self.events.load(Ordering::Relaxed)
    }

    /// Commits. A write that appended no event is a defect: it is rolled back and answers 500,
    /// logged with the place to fix.
    pub async fn commit(self) -> ApiResult<()> {
        if self.events() == 0 {
            tracing::error!("a write transaction appended no event; rolled back");
            self.txn.rollback().await?;
            return Err(ApiError::new(ErrorCode::Internal));
        }
        let devices = self
            .devices
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        for stream in devices {
            events::seal_device_stream(&self.txn, &stream).await?;
        }
        self.txn.commit().await?;
        Ok(())
    }

    /// Rolls back explicitly (dropping a `Tx` rolls back too).
    pub async fn rollback(self) -> ApiResult<()> {
        self.txn.rollback().await?;
        Ok(())
    }

    /// The underlying transaction, for APIs that want the concrete type.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl std::ops::Deref for Tx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn.is_mock_connection()
    }
}

/// After an attempt that the database refused because of a concurrent write: waits a short
/// jittered back-off and says to run again, or, after the last attempt, makes the error final
/// (409 `write_conflict`, never a 500).
pub async fn retry_after(e: &mut ApiError, attempt: u32) -> bool {
    if attempt < MAX_ATTEMPTS {
        let jitter = u64::from(uuid::Uuid::now_v7().as_bytes()[15]) % 20;
        let wait = 5 * u64::from(attempt) * u64::from(attempt) + jitter;
        tracing::debug!(
            attempt,
            wait_ms = wait,
            "write refused by a concurrent one; retrying"
        );
        tokio::time::sleep(Duration::from_millis(wait)).await;
        true
    } else {
        tracing::warn!(
            attempts = attempt,
            "write kept conflicting with concurrent ones"
        );
        e.retryable = false;
        false
    }
}

/// Runs `f` in a write transaction and commits it. When the database refuses the transaction
/// because a concurrent one got there first (deadlock, serialization failure, busy), the whole
/// of `f` runs again on a fresh transaction, up to [`MAX_ATTEMPTS`] times with a short jittered
/// back-off; after that the caller gets 409 `write_conflict`, never a 500.
///
/// `f` may run several times: it must read everything it decides on through the transaction it
/// is given, and do no side effect outside it (queue those in the outbox). Its future must own
/// what it captures (`async move |tx| …`) to be `Send` in a handler; commands whose bodies
/// borrow their arguments use `commands::write_tx!` or [`write_owned`].
pub async fn write<T>(
    db: &DatabaseConnection,
    mut f: impl AsyncFnMut(&Tx) -> ApiResult<T>,
) -> ApiResult<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = async {
            let tx = Tx::begin(db).await?;
            let value = f(&tx).await?;
            tx.commit().await?;
            Ok::<T, ApiError>(value)
        }
        .await;
        match outcome {
            Err(mut e) if e.retryable => {
                if !retry_after(&mut e, attempt).await {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

/// [`write`] for a closure that takes the transaction by `Arc`: its future has one concrete
/// type, provably `Send` (the future of an `AsyncFnMut` over a borrowed `Tx` cannot always be,
/// rust-lang/rust#110338).
pub async fn write_owned<T, F, Fut>(db: &DatabaseConnection, mut f: F) -> ApiResult<T>
where
    F: FnMut(std::sync::Arc<Tx>) -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = async {
            let tx = std::sync::Arc::new(Tx::begin(db).await?);
            let value = f(std::sync::Arc::clone(&tx)).await?;
            let tx = std::sync::Arc::into_inner(tx).ok_or_else(|| {
                tracing::error!("a write kept its transaction past its end");
                ApiError::new(ErrorCode::Internal)
            })?;
            tx.commit().await?;
            Ok::<T, ApiError>(value)
        }
        .await;
        match outcome {
            Err(mut e) if e.retryable => {
                if !retry_after(&mut e, attempt).await {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}
