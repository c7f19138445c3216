//! `callwatch demo`: the gateway with the simulator in-process on a loopback port, a
//! generated token and a temporary database, and the console on top. No config needed.

use std::path::PathBuf;

use crate::cli::{ConsoleArgs, DemoArgs};
use crate::core::model::Role;
use crate::gateway::{GatewayConfig, GatewayOptions};

pub const DEMO_ORG: &str = "demo";

/// Removes the temporary database (and its WAL files) however the demo ends.
struct TempDb(Option<PathBuf>);

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            for suffix in ["", "-wal", "-shm"] {
                let mut s = p.clone().into_os_string();
                s.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(s));
            }
        }
    }
}

pub async fn run(console: ConsoleArgs, args: DemoArgs) -> anyhow::Result<()> {
    let token = format!("cw_demo_{}", uuid::Uuid::new_v4().simple());
    let (db_path, _cleanup) = match &args.db {
        Some(p) => (p.clone(), TempDb(None)),
        None => {
            let p = std::env::temp_dir().join(format!(
                "callwatch-demo-{}.db",
                uuid::Uuid::new_v4().simple()
            ));
            (p.clone(), TempDb(Some(p)))
        }
    };
    // The user's console settings (theme, keys...) apply; a broken file does not stop a demo.
    let mut console_args = console.clone();
    console_args.url = None;
    console_args.token = Some(token.clone());
    console_args.token_file = None;
    let mut config = match super::config::load(&console_args) {
        Ok(c) => c,
        Err(e) => {
            let mut c = super::config::resolve(&console_args, &|_| None, None)?;
            c.warnings
                .push(format!("config file ignored for the demo: {e:#}"));
            c
        }
    };
    let _log = super::runtime::init_logging(config.log_file.as_deref());

    let gateway_config =
        GatewayConfig::default().with_token("you", &token, DEMO_ORG, Role::Supervisor);
    let mut sim = args.sim.clone();
    sim.simulate = true;
    let mut options = GatewayOptions::new(gateway_config, db_path);
    options.sim = Some(sim);
    let running = crate::gateway::start(options).await?;
    config.url = running.url();
    config.token = token;
    tracing::info!(url = %config.url, "demo gateway started");

    let result = super::runtime::run(config).await;
    running.shutdown().await;
    result
}
