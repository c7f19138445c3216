//! The gateway: call state, SQLite, providers' webhooks, supervisors' actions and the
//! event stream. `callwatch serve` wires it up in `app::serve`.
//!
//! In-process API (used by `callwatch demo` and the tests):
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use callwatch::gateway::{start, GatewayConfig, GatewayOptions};
//! use callwatch::core::model::Role;
//! let config = GatewayConfig::default().with_token("me", "cw_demo_token", "demo", Role::Supervisor);
//! let running = start(GatewayOptions::new(config, "/tmp/cw.db".into())).await?;
//! println!("{}", running.url());
//! running.shutdown().await;
//! # Ok(()) }
//! ```

pub mod analytics;
pub mod api;
pub mod auth;
pub mod bus;
pub mod compliance;
pub mod config;
pub mod credentials;
pub mod delta;
pub mod engine;
pub mod error;
pub mod frames;
pub mod guard;
pub mod hub;
pub mod ingest;
pub mod lease;
pub mod maintenance;
pub mod presence;
pub mod providers;
pub mod queue;
pub mod ratelimit;
pub mod scaleout;
pub mod server;
pub mod socketio;
pub mod state;
pub mod store;
pub mod summary;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::GatewayConfig;
pub use engine::Gateway;

use crate::core::ingest::EventSink;
use crate::core::provider::Provider;

pub struct GatewayOptions {
    pub config: GatewayConfig,
    pub db_path: PathBuf,
    /// 127.0.0.1:0 picks a free port; see [`RunningGateway::addr`].
    pub listen: SocketAddr,
}

impl GatewayOptions {
    /// Loopback, a free port, no simulator.
    pub fn new(config: GatewayConfig, db_path: PathBuf) -> Self {
        GatewayOptions {
            config,
            db_path,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

pub struct RunningGateway {
    pub addr: SocketAddr,
    scheme: &'static str,
    pub gateway: Arc<Gateway>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    scheduler: JoinHandle<()>,
    maintenance: JoinHandle<()>,
    scaleout: scaleout::ScaleOut,
}

impl RunningGateway {
    /// Base URL, e.g. `http://127.0.0.1:7878`.
    pub fn url(&self) -> String {
        server::url(self.scheme, self.addr)
    }

    /// Registers an in-process provider for `org` under `provider.name()` (the
    /// integration name its calls carry). Deliver its events through [`Self::sink`].
    pub fn register_provider(&self, org: &str, provider: Arc<dyn Provider>) {
        self.gateway.registry.register(org, provider);
    }

    /// An event sink bound to (org, integration): events are applied exactly like a
    /// verified `POST /api/ingest`.
    pub fn sink(&self, org: &str, integration: &str) -> Arc<dyn EventSink> {
        self.gateway.sink(org, integration)
    }

    /// Stops accepting, closes streams, waits (bounded) for requests in flight.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(10), &mut server)
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 10 s; closing them");
            server.abort();
        }
        let _ = self.scheduler.await;
        let _ = self.maintenance.await;
        self.scaleout.stopped().await;
    }
}

/// Opens the database, binds, and runs the gateway in the background.
pub async fn start(options: GatewayOptions) -> anyhow::Result<RunningGateway> {
    prepare(options).await?.start().await
}

/// A gateway whose database is open and whose configured integrations are registered, not
/// yet listening: the place to register in-process providers (the simulator) so that no
/// request arrives before they exist.
pub struct PreparedGateway {
    pub gateway: Arc<Gateway>,
    listen: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    shutdown_rx: watch::Receiver<bool>,
    scaleout: scaleout::ScaleOut,
}

/// Opens the database and registers the configured integrations.
pub async fn prepare(options: GatewayOptions) -> anyhow::Result<PreparedGateway> {
    options.config.validate()?;
    scaleout::check(&options.config)?;
    let db_path = options.db_path.clone();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (mut config, rx) = (options.config, shutdown_rx.clone());
    config.bus.divide_rates(&mut config.limits);
    // Opening, migrating and loading live calls is blocking database work: off the async
    // workers.
    let (gw, stored) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = open_store(&config, &db_path)?;
        let rows = store.read_latest_blocking(|r| r.sealed_credentials())?;
        let gw = Gateway::new(config, store, rx)?;
        let vault = credentials::Vault::from_env()?;
        Ok((gw, credentials::open_all(&rows, vault.as_ref())?))
    })
    .await??;
    for integration in &gw.config.integrations {
        // Keys an org set through the API win over the config file's.
        let effective = stored
            .get(&(integration.org.clone(), integration.name.clone()))
            .map_or_else(|| integration.clone(), |c| c.apply(integration));
        let (provider, display) =
            providers::build(&effective, gw.config.public_url.as_deref(), gw.http.clone());
        gw.registry
            .register_webhook(&integration.org, &display, provider);
    }
    let scaleout = scaleout::join(&gw, shutdown_rx.clone()).await?;
    Ok(PreparedGateway {
        gateway: gw,
        listen: options.listen,
        shutdown_tx,
        shutdown_rx,
        scaleout,
    })
}

/// The configured store, opened and migrated: PostgreSQL when `[gateway.store]` says so,
/// else the SQLite file at `db_path`. Blocking.
pub fn open_store(config: &GatewayConfig, db_path: &std::path::Path) -> anyhow::Result<store::Db> {
    match config.store.postgres()? {
        Some(options) => {
            let pg = store::pg::PgStore::open(&options)?;
            tracing::info!(url = %pg.shown_url(), "using the PostgreSQL store");
            Ok(pg.into())
        }
        None => {
            private_database_files(db_path)?;
            let (sync, searches) = (config.store.synchronous, config.store.search_threads());
            Ok(store::Store::open_tuned(db_path, sync, searches)?.into())
        }
    }
}

/// Applies the configured store's migrations without serving (`callwatch migrate`);
/// returns a line saying what was done. Blocking.
pub fn migrate_store(config: &GatewayConfig, db_path: &std::path::Path) -> anyhow::Result<String> {
    match config.store.postgres()? {
        Some(options) => {
            let applied = store::pg::PgStore::migrate_only(&options)?;
            Ok(format!(
                "PostgreSQL {}: {}",
                store::pg::redact_url(&options.url),
                applied_text(&applied)
            ))
        }
        None => {
            private_database_files(db_path)?;
            let applied = store::Store::migrate_file(db_path)?;
            Ok(format!(
                "SQLite {}: {}",
                db_path.display(),
                applied_text(&applied)
            ))
        }
    }
}

fn applied_text(applied: &[i64]) -> String {
    if applied.is_empty() {
        "schema up to date, nothing to apply".to_string()
    } else {
        let list: Vec<String> = applied.iter().map(i64::to_string).collect();
        format!("applied migration(s) {}", list.join(", "))
    }
}

/// Calls, transcripts and numbers are personal data: the database is owner-only whatever
/// the umask. SQLite gives the WAL and shared-memory files the database file's mode, so
/// creating it 0600 (and tightening files left by an older version) covers all three.
fn private_database_files(db: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the database directory {}", dir.display())
            })?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(db)
            .with_context(|| format!("cannot open the database file {}", db.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let path = std::path::PathBuf::from(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| {
                        format!("cannot restrict the permissions of {}", path.display())
                    })?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

impl PreparedGateway {
    /// Binds, then serves and runs the scheduler and maintenance in the background.
    pub async fn start(self) -> anyhow::Result<RunningGateway> {
        let PreparedGateway {
            gateway: gw,
            listen,
            shutdown_tx,
            shutdown_rx,
            scaleout,
        } = self;
        let listener = server::Listener::new(&gw.config.server)?;
        let scheme = listener.scheme();
        let tcp = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = tcp.local_addr()?;
        let app = api::router(gw.clone());
        let server = tokio::spawn(server::serve(tcp, app, listener, shutdown_rx.clone()));
        let scheduler = tokio::spawn(queue::run(gw.clone(), scaleout.lease.clone()));
        let maintenance = tokio::spawn(maintenance::run(gw.clone(), scaleout.lease.clone()));
        tracing::info!(%addr, epoch = %gw.epoch, "gateway listening");
        Ok(RunningGateway {
            addr,
            scheme,
            gateway: gw,
            shutdown: shutdown_tx,
            server,
            scheduler,
            maintenance,
            scaleout,
        })
    }
}
