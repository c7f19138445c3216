//! [`Db`], the store a gateway runs on: embedded SQLite (the default) or a shared
//! PostgreSQL, behind the [`ReadOps`]/[`WriteOps`] contract (see `contract.rs` for why an
//! enum over trait objects).

use super::contract::{ReadOps, WriteOps};
use super::pg::PgStore;
use super::{Store, StoreError, StoreResult};
use crate::core::model::QueueItem;

/// The store a gateway runs on: embedded SQLite (the default) or a shared PostgreSQL.
/// Cheap to clone.
#[derive(Clone)]
pub enum Db {
    Sqlite(Store),
    Postgres(PgStore),
}

impl From<Store> for Db {
    fn from(s: Store) -> Db {
        Db::Sqlite(s)
    }
}

impl From<PgStore> for Db {
    fn from(s: PgStore) -> Db {
        Db::Postgres(s)
    }
}

impl Db {
    /// "sqlite" or "postgres", for logs and health.
    /// Whether several gateway instances may share this store (claims must then be taken
    /// in it, not only in memory).
    pub fn is_shared(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Runs `f` in a write context (SQLite: the writer connection; PostgreSQL: a pooled
    /// connection). Blocking: from a blocking context only (the engine, under an org lock).
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut dyn WriteOps) -> StoreResult<T>,
    ) -> StoreResult<T> {
        match self {
            Db::Sqlite(s) => s.write_blocking(|w| f(w)),
            Db::Postgres(p) => p.write_blocking(|w| f(w)),
        }
    }

    /// Reads that see every committed write (what the engine decides a commit on). Blocking.
    pub fn read_latest_blocking<T>(
        &self,
        f: impl FnOnce(&dyn ReadOps) -> StoreResult<T>,
    ) -> StoreResult<T> {
        match self {
            Db::Sqlite(s) => s.read_latest_blocking(|r| f(r)),
            Db::Postgres(p) => p.read_blocking(|r| f(r)),
        }
    }

    /// Reads on a pooled connection. Blocking.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&dyn ReadOps) -> StoreResult<T>,
    ) -> StoreResult<T> {
        match self {
            Db::Sqlite(s) => s.read_blocking(|r| f(r)),
            Db::Postgres(p) => p.read_blocking(|r| f(r)),
        }
    }

    /// [`Db::read_blocking`] on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadOps) -> StoreResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// [`Db::write_blocking`] on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn WriteOps) -> StoreResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// An expensive read (a history search): SQLite runs it on its low-priority search
    /// threads; PostgreSQL on the blocking pool (the database does the work).
    pub async fn search<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadOps) -> StoreResult<T> + Send + 'static,
    {
        match self {
            Db::Sqlite(s) => s.search(move |r| f(r)).await,
            Db::Postgres(_) => self.read(f).await,
        }
    }

    /// Queue items, newest first. Blocking.
    pub fn list_queue(&self, org: &str, all: bool, limit: usize) -> StoreResult<Vec<QueueItem>> {
        self.read_blocking(|r| r.list_queue(org, all, limit))
    }

    /// The SQLite writer's `PRAGMA synchronous` (1 = NORMAL, 2 = FULL). Blocking.
    pub fn synchronous(&self) -> StoreResult<i64> {
        match self {
            Db::Sqlite(s) => s.synchronous(),
            Db::Postgres(_) => Err(StoreError::Unsupported("synchronous is a SQLite setting")),
        }
    }

    /// (ok, error) counts of the webhook log. Blocking.
    pub fn webhook_counts(&self) -> StoreResult<(u64, u64)> {
        self.read_blocking(|r| r.webhook_counts())
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the SQLite file, then closes it; returns
    /// the versions this applied. Blocking.
    pub fn migrate_file(path: &std::path::Path) -> StoreResult<Vec<i64>> {
        let versions = |store: Option<&Store>| -> StoreResult<Vec<i64>> {
            let conn = match store {
                Some(_) => rusqlite::Connection::open(path)?,
                None if path.exists() => rusqlite::Connection::open(path)?,
                None => return Ok(Vec::new()),
            };
            let exists: bool = conn.query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'schema_migrations'",
                [],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(Vec::new());
            }
            let mut stmt =
                conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let before = versions(None)?;
        let store = Store::open(path)?;
        let after = versions(Some(&store))?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }
}
