//! `callwatch serve`: the gateway from a config file, until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context;

use super::simulated::{start_simulators, SimulatorOptions};
use super::{logging, paths};
use crate::gateway::config::DEFAULT_LISTEN;
use crate::gateway::{GatewayConfig, GatewayOptions, RunningGateway};

/// What `serve` was asked for, beyond the config file.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub config: Option<PathBuf>,
    pub listen: Option<std::net::SocketAddr>,
    pub db: Option<PathBuf>,
    /// A PostgreSQL URL: the store instead of SQLite.
    pub store: Option<String>,
    pub log_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// NATS URL: turns the bus on (`[gateway.bus]`).
    pub nats: Option<String>,
    pub simulate: Option<SimulatorOptions>,
}

/// The gateway, with the built-in simulator as every org's provider when asked: what
/// `serve --simulate` and `demo` run, and what tests start in-process.
pub async fn start_gateway(
    options: GatewayOptions,
    simulate: Option<&SimulatorOptions>,
) -> anyhow::Result<RunningGateway> {
    let prepared = crate::gateway::prepare(options).await?;
    if let Some(sim) = simulate {
        start_simulators(&prepared.gateway, sim).await?;
    }
    prepared.start().await
}

pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let path = match options.config {
        Some(p) => p,
        None => paths::config_file()
            .filter(|p| p.exists())
            .context("no config file: pass --config PATH (start from config.example.toml)")?,
    };
    let mut config = GatewayConfig::load(&path)?;
    if let Some(url) = &options.store {
        config.store.use_postgres(url);
    }
    if let (Some(cert), Some(key)) = (options.tls_cert, options.tls_key) {
        config.server.tls_cert = Some(cert);
        config.server.tls_key = Some(key);
    }
    if let Some(url) = options.nats {
        config.bus.kind = crate::gateway::bus::BusKind::Nats;
        config.bus.url = Some(url);
    }
    anyhow::ensure!(
        !config.tokens.is_empty(),
        "{} has no [[gateway.tokens]]: nobody could use this gateway (see config.example.toml)",
        path.display()
    );
    let log_path = options
        .log_file
        .or_else(paths::log_file)
        .context("cannot find the user's data directory; pass --log-file")?;
    let _guard = logging::init(&log_path)?;
    let db_path = options
        .db
        .or_else(|| config.db.clone())
        .or_else(paths::database)
        .context("cannot find the user's data directory; pass --db")?;
    let listen = match options.listen.or(config.listen) {
        Some(a) => a,
        None => DEFAULT_LISTEN.parse()?,
    };
    let gateway_options = GatewayOptions {
        config,
        db_path: db_path.clone(),
        listen,
    };
    let database = match gateway_options.config.store.postgres()? {
        Some(pg) => crate::gateway::store::pg::redact_url(&pg.url),
        None => db_path.display().to_string(),
    };
    let running = start_gateway(gateway_options, options.simulate.as_ref()).await?;
    eprintln!(
        "callwatch gateway listening on {} (database {}, log {})",
        running.url(),
        database,
        log_path.display()
    );
    shutdown_signal().await;
    eprintln!("callwatch gateway shutting down");
    tracing::info!("shutdown signal received");
    running.shutdown().await;
    Ok(())
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

/// `callwatch migrate`: the configured store's migrations, applied without serving. The
/// config file is optional here (a URL or a file is enough).
pub async fn migrate(
    config_path: Option<PathBuf>,
    db: Option<PathBuf>,
    store: Option<String>,
) -> anyhow::Result<()> {
    let config_path = config_path.or_else(|| paths::config_file().filter(|p| p.exists()));
    let mut config = match &config_path {
        Some(p) => GatewayConfig::load(p)?,
        None => GatewayConfig::default(),
    };
    if let Some(url) = &store {
        config.store.use_postgres(url);
    }
    let db_path = db
        .or_else(|| config.db.clone())
        .or_else(paths::database)
        .context("cannot find the user's data directory; pass --db")?;
    let line =
        tokio::task::spawn_blocking(move || crate::gateway::migrate_store(&config, &db_path))
            .await??;
    println!("{line}");
    Ok(())
}
