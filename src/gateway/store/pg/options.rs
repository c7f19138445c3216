//! How to reach the PostgreSQL store: plain data, read from the config.

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database` (or libpq key=value form).
    pub url: String,
    /// A schema to keep callwatch's tables in (created if missing); none = the user's
    /// default search path (usually `public`).
    pub schema: Option<String>,
    /// Connections in the pool.
    pub pool_size: usize,
}

impl PgOptions {
    pub fn new(url: &str) -> PgOptions {
        PgOptions {
            url: url.to_string(),
            schema: None,
            pool_size: 8,
        }
    }
}
