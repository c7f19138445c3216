//! SQLite persistence (WAL), behind one facade so that no async task touches a connection.
//!
//! One writer connection (behind a mutex) and a small pool of read-only reader connections.
//! WAL lets readers run while the writer commits, so a history search never waits for a
//! write, and writes never queue behind a search.
//!
//! Why the writer stays synchronous: the engine commits under the org's std mutex, because
//! "in SQLite, then in memory, then announced" must happen in one critical section (a
//! snapshot taken under that lock is exactly "everything up to seq"). An async write could
//! not run under that lock (no std guard may be held across `.await`), so the engine calls
//! [`Store::write_blocking`] under the lock, and async code reaches the engine through
//! `Gateway::blocking` (`spawn_blocking`). Everything else uses the async [`Store::read`] /
//! [`Store::write`], which run on the blocking pool. Writes are small transactions committed
//! before the gateway answers 2xx, so an acknowledged write survives a crash (WAL with
//! synchronous=NORMAL loses nothing on a process kill).

mod checkpoint;
mod compliance;
mod contract;
mod db;
mod events;
mod idempotency;
pub mod pg;
mod read;
mod schema;
mod search;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use crate::core::model::{AuditEntry, Call, QueueItem, TranscriptEntry};
use crate::gateway::config::Synchronous;

pub use contract::{ReadOps, WriteOps};
pub use db::Db;
pub use events::{batch_events, Committed, LoggedEvent};
pub use idempotency::StoredAnswer;
pub use read::{is_status_filter, Reads};
pub use write::{Writes, MAX_LOGGED_PAYLOAD};

/// Read-only connections in the pool: enough for a few concurrent searches and exports
/// while the engine's own lookups use the writer.
pub const READERS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {} cannot use WAL mode (got {mode})", path.display())]
    NotWal { path: PathBuf, mode: String },
    #[error(
        "the database was written by a newer callwatch (schema {found}, this build knows {known})"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("schema migration {version} failed: {source}")]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL migration {version} failed: {source}")]
    PgMigration {
        version: i64,
        source: tokio_postgres::Error,
    },
    #[error("the PostgreSQL URL {url} is not valid: {detail}")]
    BadUrl { url: String, detail: String },
    #[error(
        "cannot reach PostgreSQL at {url}: {detail}. Check that the server is running and          listening there, that this host may connect (pg_hba.conf), and that the user,          password and database in the URL exist"
    )]
    Unreachable { url: String, detail: String },
    #[error("no PostgreSQL connection available: {0}")]
    Pool(String),
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("cannot encode a record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the database task did not finish: {0}")]
    Task(String),
    /// A checked commit (`commit_logged_at`) found the org's log past the seq its change
    /// was planned at: another instance committed in between. Nothing was written.
    #[error("org {org}'s log is at seq {found}, the change was planned at {planned}")]
    Stale {
        org: String,
        planned: u64,
        found: u64,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything one state change writes, committed in a single transaction.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    pub calls: Vec<Call>,
    pub transcript: Vec<TranscriptWrite>,
    pub queue: Vec<QueueItem>,
    /// Audit entries; their ids are assigned by the database.
    pub audits: Vec<AuditEntry>,
    /// (org, integration, event id) of the ingest event being applied.
    pub ingest_id: Option<(String, String, String)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.transcript.is_empty()
            && self.queue.is_empty()
            && self.audits.is_empty()
            && self.ingest_id.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptWrite {
    pub entry: TranscriptEntry,
    /// The provider's utterance id (for later revisions).
    pub utterance_id: Option<String>,
    /// New entry (announced as appended) or a revision of an existing one.
    pub appended: bool,
}

#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    /// "active", "ended" or a call state.
    pub status: Option<String>,
    pub q: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    /// (created_ms, id) of the last call of the previous page.
    pub cursor: Option<(i64, String)>,
    /// Field filters: each call field (`direction`, `intent`, ...) must equal its value,
    /// ignoring case. Only fields of [`CallField`] exist.
    pub fields: Vec<(CallField, String)>,
    /// Some(true): only calls a human took over; Some(false): only calls nobody took over.
    pub taken_over: Option<bool>,
}

/// A call field history can filter on (a path into the stored call JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallField {
    Direction,
    Intent,
    Outcome,
    Sentiment,
    Provider,
    Campaign,
}

impl CallField {
    pub const ALL: [CallField; 6] = [
        CallField::Direction,
        CallField::Intent,
        CallField::Outcome,
        CallField::Sentiment,
        CallField::Provider,
        CallField::Campaign,
    ];

    /// The query parameter, also the JSON key of the call.
    pub fn name(self) -> &'static str {
        match self {
            CallField::Direction => "direction",
            CallField::Intent => "intent",
            CallField::Outcome => "outcome",
            CallField::Sentiment => "sentiment",
            CallField::Provider => "provider",
            CallField::Campaign => "campaign",
        }
    }

    pub fn from_name(name: &str) -> Option<CallField> {
        CallField::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A row of the webhook log, as `GET /api/webhook-log` returns it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebhookRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub integration: String,
    pub provider: String,
    /// Event types in the delivery, comma-separated, when it could be parsed.
    pub event: Option<String>,
    pub payload: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// A webhook delivery to record (owned: it is written on the blocking pool).
#[derive(Debug, Clone)]
pub struct WebhookLog {
    pub org: Option<String>,
    pub integration: String,
    pub provider: String,
    pub event: Option<String>,
    pub payload: Vec<u8>,
    pub error: Option<String>,
}

/// A live call and its transcript entries with their utterance ids.
pub type LiveCall = (Call, Vec<(TranscriptEntry, Option<String>)>);

/// (created_ms, id) of the last call of a history page.
pub type Cursor = (i64, String);

/// The database: cheap to clone (every clone shares the same connections).
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    writer: Mutex<Connection>,
    idle_readers: Mutex<Vec<Connection>>,
    reader_returned: Condvar,
    searches: search::SearchPool,
}

/// A reader taken from the pool; goes back on drop.
struct Lease<'a> {
    shared: &'a Shared,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.shared.idle_readers).push(conn);
            self.shared.reader_returned.notify_one();
        }
    }
}

/// A panic while a connection was borrowed leaves SQLite consistent (transactions roll
/// back when dropped), so a poisoned guard is recovered rather than failing every request.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// Opens (creating if needed) the database, migrates it, and opens the reader pool.
    /// Blocking.
    pub fn open(path: &Path) -> StoreResult<Store> {
        Self::open_with(path, Synchronous::default())
    }

    /// [`Store::open`] with the commit durability chosen in `[gateway.store]`.
    pub fn open_with(path: &Path, synchronous: Synchronous) -> StoreResult<Store> {
        Self::open_tuned(path, synchronous, search::DEFAULT_SEARCH_THREADS)
    }

    /// [`Store::open_with`] running at most `search_threads` history searches at once
    /// (`[gateway.store] search_threads`).
    pub fn open_tuned(
        path: &Path,
        synchronous: Synchronous,
        search_threads: usize,
    ) -> StoreResult<Store> {
        let search_threads = search_threads.max(1);
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NotWal {
                path: path.to_path_buf(),
                mode,
            });
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous={}; PRAGMA foreign_keys=ON;",
            synchronous.pragma()
        ))?;
        write::migrate(&mut conn)?;
        // Readers open after the writer switched to WAL and migrated: they see the schema.
        // Searches never take the last reader: other reads (a call, the queue) still get one.
        let reader_count = READERS.max(search_threads + 1);
        let mut readers = Vec::with_capacity(reader_count);
        for _ in 0..reader_count {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(open_err)?;
            reader.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(reader);
        }
        let shared = Arc::new(Shared {
            writer: Mutex::new(conn),
            idle_readers: Mutex::new(readers),
            reader_returned: Condvar::new(),
            searches: search::SearchPool::start(search_threads),
        });
        // Checkpoints on their own thread, not inside whichever commit crosses the limit.
        if checkpoint::start(path, Arc::downgrade(&shared)) {
            lock(&shared.writer).execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        }
        Ok(Store { shared })
    }

    /// Runs `f` on the writer connection. Blocking: call it from a blocking context only
    /// (the engine, under an org lock, or [`Store::write`]).
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut Writes<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = lock(&self.shared.writer);
        f(&mut Writes::new(&mut conn))
    }

    /// Reads on the writer connection: what the engine decides a commit on. It sees every
    /// committed write and never queues behind a slow search on the readers. Blocking.
    pub fn read_latest_blocking<T>(
        &self,
        f: impl FnOnce(&Reads<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = lock(&self.shared.writer);
        f(&Reads::new(&conn))
    }

    /// Runs `f` on a pooled reader (waiting for one if all are busy). Blocking.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Reads<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let lease = self.lease();
        match &lease.conn {
            Some(conn) => f(&Reads::new(conn)),
            // A lease always holds a connection until it is dropped.
            None => Err(StoreError::Task("no reader connection".into())),
        }
    }

    fn lease(&self) -> Lease<'_> {
        let mut idle = lock(&self.shared.idle_readers);
        loop {
            if let Some(conn) = idle.pop() {
                return Lease {
                    shared: &self.shared,
                    conn: Some(conn),
                };
            }
            idle = self
                .shared
                .reader_returned
                .wait(idle)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// [`Store::read_blocking`] on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reads<'_>) -> StoreResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// [`Store::write_blocking`] on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writes<'_>) -> StoreResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The writer's `PRAGMA synchronous` (1 = NORMAL, 2 = FULL). Blocking.
    pub fn synchronous(&self) -> StoreResult<i64> {
        let conn = lock(&self.shared.writer);
        Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }

    /// Queue items, newest first. Blocking; kept for synchronous callers (async code uses
    /// [`Store::read`]).
    pub fn list_queue(&self, org: &str, all: bool, limit: usize) -> StoreResult<Vec<QueueItem>> {
        self.read_blocking(|r| r.list_queue(org, all, limit))
    }

    /// (ok, error) counts of the webhook log, for health and tests. Blocking.
    pub fn webhook_counts(&self) -> StoreResult<(u64, u64)> {
        self.read_blocking(|r| r.webhook_counts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_see_commits_and_never_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let item = QueueItem {
            id: "q1".into(),
            org: "o".into(),
            lead: Default::default(),
            phone_number: "+15550001111".into(),
            campaign: None,
            script: None,
            agent_settings: serde_json::Value::Null,
            scheduled_at: None,
            time_zone: None,
            state: crate::core::model::QueueState::Pending,
            attempts: 0,
            call_id: None,
            last_result: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let batch = Batch {
            queue: vec![item],
            ..Batch::default()
        };
        store.write(move |w| w.commit(&batch)).await.unwrap();
        // The writer in the middle of a transaction (as during a long commit): readers still
        // answer, every one of them at once, with what was committed before it.
        let writer = lock(&store.shared.writer);
        writer
            .execute_batch("BEGIN IMMEDIATE; DELETE FROM queue_items;")
            .unwrap();
        let leases: Vec<_> = (0..READERS).map(|_| store.lease()).collect();
        for lease in &leases {
            let n = Reads::new(lease.conn.as_ref().unwrap())
                .list_queue("o", true, 10)
                .unwrap()
                .len();
            assert_eq!(n, 1);
        }
        drop(leases);
        writer.execute_batch("ROLLBACK").unwrap();
        drop(writer);
        assert_eq!(store.list_queue("o", false, 10).unwrap().len(), 1);
    }

    #[test]
    fn webhook_log_keeps_the_newest_rows_and_recent_days() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let entry = |n: usize| WebhookLog {
            org: Some("o".into()),
            integration: "i".into(),
            provider: "custom".into(),
            event: Some(format!("e{n}")),
            payload: b"{}".to_vec(),
            error: None,
        };
        for n in 0..10 {
            store.write_blocking(|w| w.log_webhook(&entry(n))).unwrap();
        }
        let (_, pruned) = store.write_blocking(|w| w.prune(7, 30, 4)).unwrap();
        assert_eq!(pruned, 6);
        let kept = store.read_blocking(|r| r.list_webhooks("o", 100)).unwrap();
        let events: Vec<_> = kept.iter().filter_map(|k| k.event.clone()).collect();
        assert_eq!(events, ["e9", "e8", "e7", "e6"]);
        // Rows older than the retention in days go whatever their number.
        let writer = lock(&store.shared.writer);
        writer
            .execute("UPDATE webhook_log SET at_ms = 0 WHERE event = 'e6'", [])
            .unwrap();
        drop(writer);
        let (_, pruned) = store.write_blocking(|w| w.prune(7, 30, 100)).unwrap();
        assert_eq!(pruned, 1);
    }
}
