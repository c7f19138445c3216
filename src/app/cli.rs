//! Command line: `callwatch` (console), `callwatch serve` (gateway), `callwatch demo`, and
//! the headless commands (`calls`, `tail`, `takeover`...).
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
    /// Run the gateway: REST API, event stream, webhooks, SQLite or PostgreSQL.
    Serve(ServeArgs),
    /// Apply the database migrations (SQLite or PostgreSQL) without serving.
    Migrate(MigrateArgs),
    /// Gateway + call simulator + console in one process, on a loopback port.
    Demo(DemoArgs),
    /// List the active calls.
    Calls(CallsArgs),
    /// One call with its transcript.
    Show(ShowArgs),
    /// Print a call's transcript; -f follows it live until the call ends.
    Tail(TailArgs),
    /// Past and present calls, newest first.
    History(HistoryArgs),
    /// Take a call over from the AI.
    Takeover(TakeoverArgs),
    /// Pause the AI on a call.
    Pause(IdArg),
    /// Let the AI speak again.
    Resume(IdArg),
    /// Say something to the caller.
    Say(TextArgs),
    /// Whisper an instruction to the AI.
    Instruct(TextArgs),
    /// Hang up a call.
    End(IdArg),
    /// Put the caller through to a number, a SIP URI or a named destination.
    Transfer(TransferArgs),
    /// Give a call you took over back to the AI.
    Handback(IdArg),
    /// The outbound queue: list (default), add, cancel, dial-now.
    Queue(QueueArgs),
    /// Call counts, rates and costs of the org.
    Analytics(JsonArg),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output.
    Man,
}

/// A call as its id, a unique prefix of the id, or the caller's phone number.
const CALL_ID_HELP: &str = "Call id, a unique prefix of it, or the caller's number";

#[derive(Debug, Clone, Args)]
pub struct JsonArg {
    /// Print JSON (docs/HEADLESS.md documents its shape).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CallsArgs {
    /// Only calls in this state (ringing, in_progress, ai_paused, taken_over).
    #[arg(long)]
    pub state: Option<String>,
    /// Only calls of this provider (case-insensitive).
    #[arg(long)]
    pub provider: Option<String>,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    #[arg(help = CALL_ID_HELP)]
    pub id: String,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    #[arg(help = CALL_ID_HELP, required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// Every call of the org, each line prefixed with its call.
    #[arg(long)]
    pub all: bool,
    /// Follow live: keeps printing until the call ends (with --all, until interrupted).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// One JSON object per final entry and line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Search caller names, numbers and transcript text.
    #[arg(long = "q", value_name = "TEXT")]
    pub q: Option<String>,
    /// Only calls started within this long ago: 90s, 30m, 2h, 7d.
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,
    /// active, ended, all (default) or a call state.
    #[arg(long)]
    pub state: Option<String>,
    /// At most this many calls (1-500).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct IdArg {
    #[arg(help = CALL_ID_HELP)]
    pub id: String,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct TakeoverArgs {
    #[arg(help = CALL_ID_HELP)]
    pub id: String,
    /// Why a human takes over (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
    #[arg(long)]
    pub notes: Option<String>,
    /// Speak through your own phone (your token's `phone`): the caller is put through to it.
    #[arg(long, conflicts_with = "text")]
    pub phone: bool,
    /// Type to talk: your lines are spoken in the AI's voice.
    #[arg(long)]
    pub text: bool,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    #[arg(help = CALL_ID_HELP)]
    pub id: String,
    /// A number (E.164, +15550001111) or a sip: URI.
    #[arg(
        long,
        required_unless_present = "destination",
        conflicts_with = "destination"
    )]
    pub to: Option<String>,
    /// The name of one of the org's destinations (`[[gateway.destinations]]`).
    #[arg(long)]
    pub destination: Option<String>,
    /// Warm: the receiving person hears a summary before the caller joins.
    #[arg(long)]
    pub warm: bool,
    /// What a warm transfer says to the receiving person (the provider's own summary when absent).
    #[arg(long)]
    pub summary: Option<String>,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct TextArgs {
    #[arg(help = CALL_ID_HELP)]
    pub id: String,
    /// The text; several words are joined with spaces.
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    #[command(subcommand)]
    pub command: Option<QueueCommand>,
    /// Print JSON (docs/HEADLESS.md documents its shape).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum QueueCommand {
    /// The queued calls (the default).
    List,
    /// Queue an outbound call.
    Add(QueueAddArgs),
    /// Cancel a queued call (id or unique prefix).
    Cancel { id: String },
    /// Dial a queued call now (id or unique prefix).
    DialNow { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct QueueAddArgs {
    /// The number to dial, e.g. +15551234567.
    pub number: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub campaign: Option<String>,
    #[arg(long)]
    pub script: Option<String>,
    /// Dial at this RFC 3339 time instead of as soon as possible.
    #[arg(long, value_name = "TIME")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
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
    #[arg(long, global = true, env = "CALLWATCH_URL")]
    pub url: Option<String>,
    /// API token (prefer CALLWATCH_TOKEN or --token-file: arguments show up in `ps`).
    #[arg(long, global = true, env = "CALLWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the API token.
    #[arg(long, global = true, env = "CALLWATCH_TOKEN_FILE")]
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
    /// Debugging: write the stream event -> frame flushed latencies (p50/p90/p99/max, JSON)
    /// to this file when the console quits.
    #[arg(long, value_name = "FILE")]
    pub latency_report: Option<PathBuf>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: from config, else 127.0.0.1:7878].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// SQLite database file [default: callwatch.db in the user's data directory].
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Keep the state in PostgreSQL instead of SQLite: postgres://user:password@host/db
    /// [default: from [gateway.store]].
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    pub store: Option<String>,
    /// Serve HTTPS/WSS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Fan events out to the other gateway instances through this NATS JetStream server
    /// (`nats://host:4222`); needs the PostgreSQL store (docs/DEPLOYMENT.md).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(Debug, Clone, Args, Default)]
pub struct MigrateArgs {
    /// SQLite database file [default: from the config, else callwatch.db in the user's
    /// data directory].
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// PostgreSQL to migrate: postgres://user:password@host/db [default: from
    /// [gateway.store]].
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    pub store: Option<String>,
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
            latency_report: self.latency_report.clone(),
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
