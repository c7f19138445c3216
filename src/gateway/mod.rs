//! `callwatch serve`: the call backend (issue: gateway core).
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
pub mod config;
pub mod engine;
pub mod error;
pub mod hub;
pub mod ingest;
pub mod maintenance;
pub mod provider;
pub mod providers;
pub mod queue;
pub mod ratelimit;
pub mod simulated;
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

use crate::cli::{ServeArgs, SimArgs};
use crate::core::ingest::EventSink;
use crate::gateway::provider::Provider;
use crate::gateway::providers::custom::CustomProvider;

pub struct GatewayOptions {
    pub config: GatewayConfig,
    pub db_path: PathBuf,
    /// 127.0.0.1:0 picks a free port; see [`RunningGateway::addr`].
    pub listen: SocketAddr,
    /// Start the built-in simulator for every org that has a token.
    pub sim: Option<SimArgs>,
}

impl GatewayOptions {
    /// Loopback, a free port, no simulator.
    pub fn new(config: GatewayConfig, db_path: PathBuf) -> Self {
        GatewayOptions {
            config,
            db_path,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            sim: None,
        }
    }
}

pub struct RunningGateway {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    scheduler: JoinHandle<()>,
    maintenance: JoinHandle<()>,
}

impl RunningGateway {
    /// Base URL, e.g. `http://127.0.0.1:7878`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
    }
}

/// Opens the database, binds, and runs the gateway in the background.
pub async fn start(options: GatewayOptions) -> anyhow::Result<RunningGateway> {
    options.config.validate()?;
    let db_path = options.db_path.clone();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (config, rx) = (options.config, shutdown_rx.clone());
    // Opening, migrating and loading live calls is SQLite work: off the async workers.
    let gw = tokio::task::spawn_blocking(move || -> anyhow::Result<Arc<Gateway>> {
        let store = store::Store::open(&db_path)?;
        Ok(Gateway::new(config, store, rx)?)
    })
    .await??;
    for integration in &gw.config.integrations {
        let provider = Arc::new(CustomProvider::new(integration, gw.http.clone()));
        let display = provider.display_name().to_string();
        gw.registry
            .register_webhook(&integration.org, &display, provider);
    }
    if let Some(sim) = &options.sim {
        simulated::start_simulators(&gw, sim).await?;
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let app = api::router(gw.clone());
    let mut stop = shutdown_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    });
    let scheduler = tokio::spawn(queue::run(gw.clone()));
    let maintenance = tokio::spawn(maintenance::run(gw.clone()));
    tracing::info!(%addr, epoch = %gw.epoch, "gateway listening");
    Ok(RunningGateway {
        addr,
        gateway: gw,
        shutdown: shutdown_tx,
        server,
        scheduler,
        maintenance,
    })
}

fn init_logging(
    path: &std::path::Path,
) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("CALLWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(guard)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Runs the gateway until SIGINT/SIGTERM.
pub async fn serve(config: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<()> {
    let path = match config {
        Some(p) => p,
        None => config::default_config_path()
            .filter(|p| p.exists())
            .context("no config file: pass --config PATH (start from config.example.toml)")?,
    };
    let config = GatewayConfig::load(&path)?;
    anyhow::ensure!(
        !config.tokens.is_empty(),
        "{} has no [[gateway.tokens]]: nobody could use this gateway (see config.example.toml)",
        path.display()
    );
    let data_dir = config::data_dir();
    let log_path = match args.log_file.clone() {
        Some(p) => p,
        None => data_dir
            .clone()
            .map(|d| d.join("callwatch.log"))
            .context("cannot find the user's data directory; pass --log-file")?,
    };
    let _guard = init_logging(&log_path)?;
    let db_path = match args.db.clone().or_else(|| config.db.clone()) {
        Some(p) => p,
        None => data_dir
            .map(|d| d.join("callwatch.db"))
            .context("cannot find the user's data directory; pass --db")?,
    };
    let listen = match args.listen.or(config.listen) {
        Some(a) => a,
        None => config::DEFAULT_LISTEN.parse()?,
    };
    let options = GatewayOptions {
        config,
        db_path: db_path.clone(),
        listen,
        sim: args.sim.simulate.then(|| args.sim.clone()),
    };
    let running = start(options).await?;
    eprintln!(
        "callwatch gateway listening on {} (database {}, log {})",
        running.url(),
        db_path.display(),
        log_path.display()
    );
    shutdown_signal().await;
    eprintln!("callwatch gateway shutting down");
    tracing::info!("shutdown signal received");
    running.shutdown().await;
    Ok(())
}
