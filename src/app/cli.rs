//! Command line: `callwatch` (console), `callwatch serve` (gateway), `callwatch demo`.
//! Only this module knows clap; it turns arguments into the libraries' plain options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "callwatch",
    version,
    about = "Watch live AI voice-agent calls and step in",
    long_about = "Watch live AI voice-agent calls and step in.\n\nWithout a subcommand, opens the console on the gateway named by --url, CALLWATCH_URL or the config file.\nNew here? Run `callwatch demo`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub console: ConsoleArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: REST API, event stream, webhooks, SQLite.
    Serve(ServeArgs),
    /// Gateway + call simulator + console in one process, on a loopback port.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args, Default)]
pub struct ConsoleArgs {
    /// Config file [default: callwatch/config.toml in the user's config directory].
    #[arg(long, global = true, env = "CALLWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// What --url points at: `gateway` (callwatch serve, the default) or `socketio` (an
    /// existing seed-style backend: Socket.IO events + its /api/calls REST paths).
    #[arg(long, env = "CALLWATCH_BACKEND")]
    pub backend: Option<String>,
    /// Gateway base URL, e.g. http://127.0.0.1:7878.
    #[arg(long, env = "CALLWATCH_URL")]
    pub url: Option<String>,
    /// API token (prefer CALLWATCH_TOKEN or --token-file: arguments show up in `ps`).
    #[arg(long, env = "CALLWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the API token.
    #[arg(long, env = "CALLWATCH_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Colour theme: dark, light or mono.
    #[arg(long)]
    pub theme: Option<String>,
    /// Mask phone numbers (for screen sharing).
    #[arg(long)]
    pub mask_numbers: bool,
    /// Enable mouse support (off keeps the terminal's native text selection).
    #[arg(long)]
    pub mouse: bool,
    /// Log file [default: callwatch.log in the user's data directory].
    #[arg(long, global = true)]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: from config, else 127.0.0.1:7878].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// SQLite database file [default: callwatch.db in the user's data directory].
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Serve HTTPS/WSS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(Debug, Clone, Args, Default)]
pub struct SimArgs {
    /// Run the built-in call simulator as a provider for every org.
    #[arg(long)]
    pub simulate: bool,
    /// Simulator seed: the same seed gives the same call floor.
    #[arg(long)]
    pub seed: Option<u64>,
    /// New simulated calls per minute (simulated time).
    #[arg(long)]
    pub calls_per_minute: Option<f64>,
    /// Time compression: 2.0 plays calls twice as fast.
    #[arg(long)]
    pub speed: Option<f64>,
    /// Directory of scenario files replacing the built-in ones (docs/SCENARIOS.md).
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Most simultaneous simulated calls per org [default: 48]; thousands work.
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<usize>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct DemoArgs {
    /// SQLite file for the demo [default: a temporary file removed on exit].
    #[arg(long)]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub sim: SimArgs,
}

impl ConsoleArgs {
    pub fn options(&self) -> crate::console::config::ConsoleOptions {
        crate::console::config::ConsoleOptions {
            config: self.config.clone(),
            backend: self.backend.clone(),
            url: self.url.clone(),
            token: self.token.clone(),
            token_file: self.token_file.clone(),
            theme: self.theme.clone(),
            mask_numbers: self.mask_numbers,
            mouse: self.mouse,
            log_file: self.log_file.clone(),
            default_config: super::paths::config_file(),
            default_log_file: super::paths::log_file(),
        }
    }
}

impl SimArgs {
    /// `None` unless `--simulate` was given.
    pub fn options(&self) -> Option<super::simulated::SimulatorOptions> {
        self.simulate.then(|| self.floor())
    }

    /// The floor options whether or not `--simulate` was given (the demo always simulates).
    pub fn floor(&self) -> super::simulated::SimulatorOptions {
        super::simulated::SimulatorOptions {
            seed: self.seed,
            calls_per_minute: self.calls_per_minute,
            speed: self.speed,
            scenarios: self.scenarios.clone(),
            max_concurrent: self.max_concurrent,
        }
    }
}
