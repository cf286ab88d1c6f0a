//! The staged write of an import on SQLite, where one writer at a time holds the database.
//!
//! The writing pass puts its rows into temporary tables of a connection of the import's own:
//! they live in SQLite's temporary database, so writing them takes no lock on the service's
//! database, and other writers and readers go on. Then one short transaction copies them into
//! the real tables (`INSERT … SELECT`, in the order the direct path writes them) and applies the
//! changes to existing devices, checked again against their current version: the import stays
//! all or nothing, and it is visible at once or not at all.
//!
//! On PostgreSQL the import writes straight into its transaction: it locks only the rows it
//! writes, so other writers and readers are not held up.

use std::collections::BTreeMap;

use sea_orm::sea_query::Alias;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityName, EntityTrait,
    IdenStatic, Iterable, QueryTrait, SqlxSqliteConnector,
};
use uuid::Uuid;

use super::entities::{event, event_stream, item, storage_medium};
use super::items::ItemFields;
use super::tx::Tx;

/// The tables a staged import fills, in the order they are copied.
const TABLES: [&str; 4] = ["items", "events", "event_streams", "storage_media"];

/// Page cache of the import's connection, in KiB.
const STAGE_CACHE_KIB: u32 = 64 * 1024;

/// Changes to existing devices copied back per query in the final step.
const UPDATES_PER_READ: u64 = 500;

/// A change to an existing device, kept until the final step.
pub(crate) struct StagedUpdate {
    pub line: u64,
    pub id: Uuid,
    /// The version it was read at: the final step refuses the import if it moved.
    pub version: i32,
    pub fields: ItemFields,
}

/// The import's own connection and its temporary tables.
pub(crate) struct Stage {
    conn: DatabaseConnection,
    /// The columns written to each staged table (those the rows set), to copy them by name.
    columns: std::sync::Mutex<BTreeMap<&'static str, Vec<String>>>,
}

/// Whether `db` is a SQLite database in a file (an in-memory database cannot be opened twice).
pub(crate) fn applies(db: &DatabaseConnection) -> bool {
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return false;
    }
    let opts = db.get_sqlite_connection_pool().connect_options();
    let name = opts.get_filename().to_string_lossy();
    !name.is_empty() && !name.contains(":memory:") && !name.contains("mode=memory")
}

impl Stage {
    /// Opens the import's connection to the same database and creates its temporary tables,
    /// shaped like the real ones.
    pub(crate) async fn open(db: &DatabaseConnection) -> Result<Stage, DbErr> {
        let opts = (*db.get_sqlite_connection_pool().connect_options()).clone();
        let pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(|e| DbErr::Custom(format!("opening the import's connection: {e}")))?;
        let conn = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
        // A cache large enough for the final step's index updates not to spill (the pages are
        // only taken as they are used, and freed with the connection).
        conn.execute_unprepared(&format!("PRAGMA cache_size = -{STAGE_CACHE_KIB}"))
            .await?;
        for table in TABLES {
            conn.execute_unprepared(&format!(
                "CREATE TEMP TABLE \"stage_{table}\" AS SELECT * FROM main.\"{table}\" WHERE 0"
            ))
            .await?;
        }
        conn.execute_unprepared(
            "CREATE TEMP TABLE stage_updates (line INTEGER PRIMARY KEY, id TEXT NOT NULL, version INTEGER NOT NULL, fields TEXT NOT NULL)",
        )
        .await?;
        Ok(Stage {
            conn,
            columns: std::sync::Mutex::default(),
        })
    }

    /// Writes `models` into the staged copy of their table.
    async fn insert<A, C>(&self, conn: &C, models: Vec<A>) -> Result<(), DbErr>
    where
        A: ActiveModelTrait + Send,
        C: ConnectionTrait,
    {
        let Some(first) = models.first() else {
            return Ok(());
        };
        let entity = A::Entity::default();
        let table: &'static str = TABLES
            .into_iter()
            .find(|t| *t == entity.table_name())
            .ok_or_else(|| DbErr::Custom(format!("{} is not staged", entity.table_name())))?;
        let set: Vec<String> = <A::Entity as EntityTrait>::Column::iter()
            .filter(|c| first.get(*c).is_set())
            .map(|c| c.as_str().to_owned())
            .collect();
        if let Ok(mut columns) = self.columns.lock() {
            columns.entry(table).or_insert(set);
        }
        let mut insert = A::Entity::insert_many(models);
        QueryTrait::query(&mut insert).into_table(Alias::new(format!("stage_{table}")));
        insert.exec_without_returning(conn).await?;
        Ok(())
    }

    /// Stages one batch: new devices with the first events of their chains, their heads and
    /// media, and the changes to existing devices.
    pub(crate) async fn batch(
        &self,
        new_items: Vec<item::ActiveModel>,
        new_events: Vec<event::ActiveModel>,
        new_heads: Vec<event_stream::ActiveModel>,
        new_media: Vec<storage_medium::ActiveModel>,
        updates: Vec<StagedUpdate>,
    ) -> anyhow::Result<()> {
        // Statements of the temporary database: no lock on the real one, and no sync to disk.
        let conn = &self.conn;
        let staged = async {
            self.insert(conn, new_items).await?;
            self.insert(conn, new_events).await?;
            self.insert(conn, new_heads).await?;
            self.insert(conn, new_media).await?;
            for u in updates {
                let fields = serde_json::to_string(&u.fields)
                    .map_err(|e| DbErr::Custom(format!("staging a change: {e}")))?;
                conn.execute_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Sqlite,
                    "INSERT INTO temp.stage_updates (line, id, version, fields) VALUES (?, ?, ?, ?)",
                    [
                        (u.line as i64).into(),
                        u.id.to_string().into(),
                        u.version.into(),
                        fields.into(),
                    ],
                ))
                .await?;
            }
            Ok::<_, DbErr>(())
        };
        staged.await?;
        Ok(())
    }

    /// The final step: opens the write transaction on the import's connection and copies the
    /// staged rows into the real tables. A unique number taken meanwhile by another writer is a
    /// conflict. The caller then applies [`Stage::updates`], appends its events and commits.
    pub(crate) async fn publish(&self) -> Result<Tx, Published> {
        let txn = Tx::begin(&self.conn).await.map_err(Published::Db)?;
        let columns = self.columns.lock().map(|c| c.clone()).unwrap_or_default();
        for table in TABLES {
            let Some(cols) = columns.get(table) else {
                continue;
            };
            let list = cols
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let copied = txn
                .execute_unprepared(&format!(
                    "INSERT INTO main.\"{table}\" ({list}) SELECT {list} FROM temp.\"stage_{table}\""
                ))
                .await;
            if let Err(e) = copied {
                return Err(if super::is_unique_violation(&e) {
                    Published::Conflict
                } else {
                    Published::Db(e)
                });
            }
        }
        Ok(txn)
    }

    /// The staged changes to existing devices after `line`, in file order, a page at a time.
    pub(crate) async fn updates(&self, txn: &Tx, after: u64) -> anyhow::Result<Vec<StagedUpdate>> {
        let rows = txn
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                "SELECT line, id, version, fields FROM temp.stage_updates WHERE line > ? ORDER BY line LIMIT ?",
                [(after as i64).into(), (UPDATES_PER_READ as i64).into()],
            ))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let line: i64 = row.try_get("", "line")?;
            let id: String = row.try_get("", "id")?;
            let fields: String = row.try_get("", "fields")?;
            out.push(StagedUpdate {
                line: line as u64,
                id: id.parse()?,
                version: row.try_get("", "version")?,
                fields: serde_json::from_str(&fields)?,
            });
        }
        Ok(out)
    }

    /// Closes the import's connection: its temporary tables go with it.
    pub(crate) async fn close(self) {
        self.conn.close().await.ok();
    }
}

/// Why the final step did not open.
pub(crate) enum Published {
    /// Another writer took an inventory number this import creates.
    Conflict,
    Db(DbErr),
}
