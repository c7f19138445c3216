//! `callwatch demo`: the gateway with the simulator in-process on a loopback port, a
//! generated token and a temporary database, and the console on top. No config needed.

use std::path::PathBuf;

use super::logging;
use super::serve::start_gateway;
use super::simulated::SimulatorOptions;
use crate::console::config::{self, ConsoleOptions};
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

pub async fn run(
    console: ConsoleOptions,
    db: Option<PathBuf>,
    sim: SimulatorOptions,
) -> anyhow::Result<()> {
    let token = format!("cw_demo_{}", uuid::Uuid::new_v4().simple());
    let (db_path, _cleanup) = match &db {
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
    let mut config = match config::load(&console_args) {
        Ok(c) => c,
        Err(e) => {
            let mut c = config::resolve(&console_args, &|_| None, None)?;
            c.warnings
                .push(format!("config file ignored for the demo: {e:#}"));
            c
        }
    };
    let _log = logging::init_optional(config.log_file.as_deref());

    let gateway_config =
        GatewayConfig::default().with_token(&demo_actor(), &token, DEMO_ORG, Role::Supervisor);
    let options = GatewayOptions::new(gateway_config, db_path);
    let running = start_gateway(options, Some(&sim)).await?;
    config.url = running.url();
    config.token = token;
    tracing::info!(url = %config.url, "demo gateway started");

    let result = crate::console::runtime::run(config).await;
    running.shutdown().await;
    result
}

/// The name the demo's actions are recorded under ("alice took over the call: ..."): the
/// login name when it is a plain word, else "supervisor".
fn demo_actor() -> String {
    actor_from(
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok(),
    )
}

fn actor_from(login: Option<String>) -> String {
    login
        .filter(|n| {
            !n.is_empty()
                && n.len() <= 32
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or_else(|| "supervisor".into())
}

#[cfg(test)]
mod tests {
    use super::actor_from;

    #[test]
    fn demo_actor_is_the_login_or_supervisor() {
        assert_eq!(actor_from(Some("alice".into())), "alice");
        assert_eq!(actor_from(None), "supervisor");
        assert_eq!(actor_from(Some("x\u{1b}]0;pwn".into())), "supervisor");
        assert_eq!(actor_from(Some(String::new())), "supervisor");
    }
}
