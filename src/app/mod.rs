//! The composition root: turns the command line into each part's plain options and wires
//! the parts together. Gateway, simulator and console know nothing of clap or of each
//! other; `serve --simulate` and `demo` are assembled here.

pub mod cli;
mod commands;
mod demo;
pub mod logging;
pub mod paths;
mod serve;
mod simulated;

pub use commands::{exit_code, CommandError, Exit};
pub use serve::{serve, start_gateway, ServeOptions};
pub use simulated::{night_zone, SimulatorOptions, DNC_LEAD_NUMBER, NIGHT_LEAD_NUMBER};

use cli::{Cli, Command};

/// Runs what the command line asked for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(result) = commands::run(&cli).await {
        return result.map_err(anyhow::Error::new);
    }
    let console = cli.console.options();
    match cli.command {
        Some(Command::Serve(args)) => {
            serve(ServeOptions {
                config: cli.console.config.clone(),
                listen: args.listen,
                db: args.db,
                store: args.store,
                log_file: cli.console.log_file.clone(),
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                nats: args.nats,
                simulate: args.sim.options(),
            })
            .await
        }
        Some(Command::Migrate(args)) => {
            serve::migrate(cli.console.config.clone(), args.db, args.store).await
        }
        Some(Command::Demo(args)) => demo::run(console, args.db, args.sim.floor()).await,
        Some(_) => Ok(()), // the headless commands ran above
        None => {
            let config = crate::console::config::load(&console)?;
            let _log = logging::init_optional(config.log_file.as_deref());
            crate::console::runtime::run(config).await
        }
    }
}
