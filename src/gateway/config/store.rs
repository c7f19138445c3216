//! `[gateway.store]`: which database holds the state of record, and how SQLite commits.

use serde::{Deserialize, Serialize};

/// Which database holds the state of record, and how SQLite commits
/// (docs/CONFIGURATION.md, `[gateway.store]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite` (embedded, the default) or `postgres` (shared by several instances).
    pub kind: StoreKind,
    /// PostgreSQL: `postgres://user:password@host:port/database`.
    pub url: Option<String>,
    /// PostgreSQL: a schema for callwatch's tables (created if missing); none = the
    /// user's default search path.
    pub schema: Option<String>,
    /// PostgreSQL: connections in the pool.
    pub pool_size: usize,
    pub synchronous: Synchronous,
    /// SQLite: history searches running at once, for the whole gateway (0: half the
    /// cores, at least 1). See [`StoreSettings::search_threads`].
    pub search_threads: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            kind: StoreKind::Sqlite,
            url: None,
            schema: None,
            pool_size: 8,
            synchronous: Synchronous::default(),
            search_threads: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    Sqlite,
    Postgres,
}

impl StoreSettings {
    /// Searches SQLite runs at once: the setting, or half the cores (at least 1) when 0. A
    /// search keeps a core busy for its whole run; on a 2-core machine two of them left
    /// ingest and the HTTP workers one core between them (issue 8).
    pub fn search_threads(&self) -> usize {
        if self.search_threads > 0 {
            return self.search_threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / 2).max(1)
    }

    /// Points the store at PostgreSQL (`--store postgres://...`).
    pub fn use_postgres(&mut self, url: &str) {
        self.kind = StoreKind::Postgres;
        self.url = Some(url.to_string());
    }

    /// The PostgreSQL connection options, when the store is PostgreSQL.
    pub fn postgres(
        &self,
    ) -> anyhow::Result<Option<crate::gateway::store::pg::options::PgOptions>> {
        if self.kind != StoreKind::Postgres {
            return Ok(None);
        }
        let url = self.url.as_deref().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
            anyhow::anyhow!(
                "[gateway.store] kind = \"postgres\" needs url = \"postgres://user:password@host:5432/database\" (or pass --store)"
            )
        })?;
        let mut options = crate::gateway::store::pg::options::PgOptions::new(url);
        options.schema = self.schema.clone();
        options.pool_size = self.pool_size.max(1);
        Ok(Some(options))
    }
}

/// SQLite's `synchronous` in WAL mode. `normal`: a commit is durable against a crash of
/// the process, but the last commits may be lost on power loss or an OS crash; `full`:
/// every commit is on disk before it is acknowledged, at the cost of one fsync per commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    #[default]
    Normal,
    Full,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}
