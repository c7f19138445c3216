//! The PostgreSQL store: the same contract as SQLite ([`ReadOps`]/[`WriteOps`]), for
//! several gateway instances sharing one database.
//!
//! Client: tokio-postgres + deadpool-postgres. Plain async client and pool, small, no
//! compile-time database access (sqlx's checked macros need a database at build time,
//! which `cargo build` on a laptop must not), and the pool recycles broken connections.
//!
//! How an async client fits a synchronous engine: the engine commits under an org's std
//! mutex (in the database, then in memory, then announced, in one critical section), which
//! may not span an `.await`. So this store owns a small dedicated tokio runtime; its
//! connections live there, and the engine's blocking context (the blocking pool, never an
//! async worker) waits for each query with `Handle::block_on`. The org lock is held for
//! the round trips of one transaction, as with SQLite's fsync.

mod ops;
pub mod options;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::NoTls;

use super::{StoreError, StoreResult};
use crate::gateway::store::contract::{ReadOps, WriteOps};

pub use ops::{PgReads, PgWrites};
pub use options::PgOptions;

/// Cheap to clone (every clone shares the pool and the runtime).
#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    runtime: OwnedRuntime,
    /// The URL without its password, for messages.
    shown: String,
}

/// The store's runtime; shut down in the background when the store goes, because a
/// runtime may not be dropped (blocking) inside an async context, where the last clone of
/// a gateway may well be dropped.
struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    fn handle(&self) -> StoreResult<&Handle> {
        self.0
            .as_ref()
            .map(Runtime::handle)
            .ok_or_else(|| StoreError::Task("the PostgreSQL runtime has stopped".into()))
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find('/').map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    // key=value form, or a password given as a query parameter.
    if let Some(i) = out.find("password=") {
        let start = i + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
    }
    out
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PgStore {
    /// Connects, migrates (under an advisory lock, so instances starting together do not
    /// race) and returns the store. Blocking: call it outside any async context.
    pub fn open(options: &PgOptions) -> StoreResult<PgStore> {
        let store = Self::connect(options)?;
        store.migrate(options.schema.as_deref())?;
        Ok(store)
    }

    /// Connects without migrating (for `callwatch migrate`, which reports what it applied).
    fn connect(options: &PgOptions) -> StoreResult<PgStore> {
        let shown = redact_url(&options.url);
        let mut config: tokio_postgres::Config =
            options
                .url
                .parse()
                .map_err(|e: tokio_postgres::Error| StoreError::BadUrl {
                    url: shown.clone(),
                    detail: e.to_string(),
                })?;
        config.connect_timeout(Duration::from_secs(5));
        config.application_name("callwatch");
        if let Some(schema) = &options.schema {
            // Every pooled connection starts with the schema first on its search path.
            config.options(format!("-c search_path={}", quote_ident(schema)));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("callwatch-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Task(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let store = PgStore {
            shared: Arc::new(Shared {
                pool,
                runtime: OwnedRuntime(Some(runtime)),
                shown,
            }),
        };
        // Fail now, with what to check, rather than on the first request.
        let handle = store.shared.runtime.handle()?.clone();
        let first =
            handle
                .block_on(store.shared.pool.get())
                .map_err(|e| StoreError::Unreachable {
                    url: store.shared.shown.clone(),
                    detail: e.to_string(),
                })?;
        drop(first);
        Ok(store)
    }

    /// The URL this store connected to, without its password.
    pub fn shown_url(&self) -> &str {
        &self.shared.shown
    }

    fn client(&self) -> StoreResult<(deadpool_postgres::Client, Handle)> {
        let handle = self.shared.runtime.handle()?.clone();
        let client = handle
            .block_on(self.shared.pool.get())
            .map_err(|e| StoreError::Pool(format!("{} ({})", e, self.shared.shown)))?;
        Ok((client, handle))
    }

    /// Runs `f` with a pooled connection for reads. Blocking.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&dyn ReadOps) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let (mut client, handle) = self.client()?;
        f(&PgWrites::new(&mut client, &handle))
    }

    /// Runs `f` with a pooled connection for writes (each write is its own transaction).
    /// Blocking.
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut dyn WriteOps) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let (mut client, handle) = self.client()?;
        f(&mut PgWrites::new(&mut client, &handle))
    }

    /// Applies every migration not yet recorded; returns the versions applied. Blocking.
    pub fn migrate(&self, schema: Option<&str>) -> StoreResult<Vec<i64>> {
        let (mut client, handle) = self.client()?;
        handle.block_on(ops::migrate(&mut client, schema))
    }

    /// Connects and applies the migrations, for `callwatch migrate`. Blocking.
    pub fn migrate_only(options: &PgOptions) -> StoreResult<Vec<i64>> {
        Self::connect(options)?.migrate(options.schema.as_deref())
    }

    /// Runs raw SQL (tests: dropping a per-test schema). Blocking.
    pub fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        let (client, handle) = self.client()?;
        Ok(handle.block_on(client.batch_execute(sql))?)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://cw:s3cret@db.example:5432/callwatch"),
            "postgres://cw:***@db.example:5432/callwatch"
        );
        assert_eq!(
            redact_url("postgres://cw@127.0.0.1/test"),
            "postgres://cw@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("postgresql://a:b@h/d?sslmode=disable&password=x"),
            "postgresql://a:***@h/d?sslmode=disable&password=***"
        );
        assert_eq!(
            redact_url("host=h user=u password=p dbname=d"),
            "host=h user=u password=*** dbname=d"
        );
    }
}
