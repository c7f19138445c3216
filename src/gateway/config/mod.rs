//! The `[gateway]` section of the config file (documented in config.example.toml).

pub mod destinations;
pub mod relay;
pub mod store;

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::core::action::Capability;
use crate::core::model::Role;

pub use store::{StoreKind, StoreSettings, Synchronous};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address to listen on; `--listen` wins.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// SQLite file; `--db` wins; the user's data directory when absent.
    #[serde(default)]
    pub db: Option<PathBuf>,
    /// Base URL providers call webhooks on (used to rebuild the signed URL behind proxies).
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    #[serde(default)]
    pub integrations: Vec<IntegrationConfig>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub queue: QueuePolicy,
    #[serde(default)]
    pub stream: StreamSettings,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub store: StoreSettings,
    /// Fan-out between several gateway instances (docs/DEPLOYMENT.md).
    #[serde(default)]
    pub bus: crate::gateway::bus::BusSettings,
    /// Do-not-call, calling hours, disclosure and consent (docs/COMPLIANCE.md).
    #[serde(default)]
    pub compliance: crate::gateway::compliance::ComplianceRules,
    /// The orgs' own lines (docs/COMPLIANCE.md).
    #[serde(default)]
    pub phone_numbers: Vec<crate::gateway::compliance::numbers::PhoneNumber>,
    /// Named transfer destinations per org (docs/CONFIGURATION.md).
    #[serde(default)]
    pub destinations: Vec<destinations::DestinationConfig>,
}

/// Connection hygiene and TLS (docs/PROTOCOL.md, "Limits and timeouts").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// A request's headers must arrive within this time, and a keep-alive connection idle
    /// this long between requests is closed (also the TLS handshake bound).
    pub header_read_timeout_secs: u64,
    /// Most concurrent connections; beyond it a JSON 503. 0 = as many as the process's
    /// open-file limit allows, less a reserve.
    pub max_connections: usize,
    /// PEM certificate chain and private key: serve HTTPS (and WSS) directly. `--tls-cert`
    /// and `--tls-key` win.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Origins (`https://ops.example.com`) a browser may open the websocket stream from.
    /// Empty: only the gateway's own origin and clients that send no `Origin` (non-browser).
    pub allowed_origins: Vec<String>,
    /// The server pings each websocket client this often...
    pub ws_ping_secs: u64,
    /// ...and closes one that has sent nothing (not even a pong) for this long.
    pub ws_pong_timeout_secs: u64,
    /// Websocket read buffer per stream connection (grows for larger frames as needed).
    pub ws_read_buffer_bytes: usize,
    /// Outgoing bytes a stream connection gathers before writing them out (0: write each
    /// frame at once).
    pub ws_write_buffer_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_read_timeout_secs: 10,
            max_connections: 0,
            tls_cert: None,
            tls_key: None,
            allowed_origins: Vec::new(),
            ws_ping_secs: 20,
            ws_pong_timeout_secs: 60,
            ws_read_buffer_bytes: 4 * 1024,
            ws_write_buffer_bytes: 4 * 1024,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who this is; appears in the audit log (the token itself never does).
    pub name: String,
    pub token: String,
    pub org: String,
    pub role: Role,
    /// The person's phone (E.164 or a SIP URI). With it, taking over a call whose provider
    /// can bridge it puts the caller through to this phone (docs/PROVIDERS.md).
    #[serde(default)]
    pub phone: Option<String>,
}

// Hand-written so a token never lands in a log line through `{:?}`.
impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("org", &self.org)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// callwatch's own normalised events on `POST /api/ingest`; actions to `control_url`.
    Custom,
    Vapi,
    Retell,
    Twilio,
    Bland,
    #[serde(rename = "elevenlabs")]
    ElevenLabs,
    Synthflow,
    Dograh,
    /// Twilio ConversationRelay: callwatch hosts the AI conversation itself.
    ConversationRelay,
}

impl IntegrationKind {
    /// The name in config files and the webhook log.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Custom => "custom",
            IntegrationKind::Vapi => "vapi",
            IntegrationKind::Retell => "retell",
            IntegrationKind::Twilio => "twilio",
            IntegrationKind::Bland => "bland",
            IntegrationKind::ElevenLabs => "elevenlabs",
            IntegrationKind::Synthflow => "synthflow",
            IntegrationKind::Dograh => "dograh",
            IntegrationKind::ConversationRelay => "conversation_relay",
        }
    }

    /// The provider's display name, used when `display_name` is absent.
    pub fn display(self) -> Option<&'static str> {
        Some(match self {
            IntegrationKind::Custom => return None,
            IntegrationKind::Vapi => "Vapi",
            IntegrationKind::Retell => "Retell",
            IntegrationKind::Twilio => "Twilio",
            IntegrationKind::Bland => "Bland",
            IntegrationKind::ElevenLabs => "ElevenLabs",
            IntegrationKind::Synthflow => "Synthflow",
            IntegrationKind::Dograh => "Dograh",
            IntegrationKind::ConversationRelay => "Twilio Relay",
        })
    }
}

/// How Vapi authenticates its server messages (the credential set on the server URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// `X-Vapi-Secret: <secret>` (Vapi's legacy server URL secret).
    #[default]
    Secret,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `X-Vapi-Signature: <hex HMAC-SHA256(secret, raw body)>`.
    Hmac,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// Unique name: the `Callwatch-Integration` header and `/webhooks/{name}`.
    pub name: String,
    pub kind: IntegrationKind,
    pub org: String,
    /// HMAC key for ingest signatures and for the signed action POSTs.
    pub secret: String,
    /// Where actions (takeover, say, dial...) are POSTed. Without it, the integration
    /// only reports calls and every action answers 422.
    #[serde(default)]
    pub control_url: Option<String>,
    /// Display name of the voice stack ("Vapi", "Acme Voice"); the name when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// What the stack can do; all actions when absent (and a control_url is set).
    /// Custom integrations only: a provider kind declares its own.
    #[serde(default)]
    pub capabilities: Option<BTreeSet<Capability>>,
    /// Key for the provider's REST API (Vapi private key, Retell and Bland API keys,
    /// ElevenLabs key). Retell signs webhooks with it too, so it defaults to `secret` there;
    /// Twilio uses `secret` (the auth token).
    #[serde(default)]
    pub api_key: Option<String>,
    /// The provider's API base URL; its public one when absent (tests point it at a local
    /// stand-in).
    #[serde(default)]
    pub api_base: Option<String>,
    /// Twilio: the account SID (`AC...`) for the Calls API.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// Outbound dialling: the number (Twilio, Retell, Bland) or phone number id (Vapi)
    /// calls are placed from.
    #[serde(default)]
    pub from_number: Option<String>,
    /// Outbound dialling: the assistant / agent id (Vapi assistantId, Retell
    /// override_agent_id, Bland pathway or task is not covered), Twilio: the TwiML URL the
    /// call runs.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Vapi: how its server messages are authenticated.
    #[serde(default)]
    pub webhook_auth: WebhookAuth,
    /// How long a call to the provider's API may take before the action fails (10 s).
    #[serde(default)]
    pub api_timeout_secs: Option<u64>,
    /// ConversationRelay: voice, greeting, model endpoint (docs/PROVIDERS.md).
    #[serde(default)]
    pub relay: Option<relay::RelaySettings>,
}

impl IntegrationConfig {
    /// An integration with only the required settings (builder for the demo and tests).
    pub fn new(name: &str, kind: IntegrationKind, org: &str, secret: &str) -> Self {
        IntegrationConfig {
            name: name.into(),
            kind,
            org: org.into(),
            secret: secret.into(),
            control_url: None,
            display_name: None,
            capabilities: None,
            api_key: None,
            api_base: None,
            account_sid: None,
            from_number: None,
            agent_id: None,
            webhook_auth: WebhookAuth::Secret,
            api_timeout_secs: None,
            relay: None,
        }
    }
}

impl std::fmt::Debug for IntegrationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("org", &self.org)
            .field("control_url", &self.control_url)
            .field("api_base", &self.api_base)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Largest accepted websocket frame/message from a client.
    pub max_ws_frame_bytes: usize,
    /// Actions (POST/DELETE on calls and the queue) per token per minute; bursts up to this.
    pub actions_per_minute: u32,
    /// Verified ingest deliveries (`/api/ingest`, `/webhooks/...`) per integration per
    /// minute; bursts up to this.
    pub ingest_per_minute_per_integration: u32,
    /// Ingest requests per source address per minute, counted before the body is read.
    pub ingest_per_minute_per_address: u32,
    /// Concurrent history searches (`GET /api/calls`) per token; beyond it 429.
    pub max_concurrent_searches: usize,
    /// Webhook log rows kept: the newest this many...
    pub webhook_log_max_rows: u64,
    /// ...and none older than this many days.
    pub webhook_log_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_ws_frame_bytes: 64 * 1024,
            actions_per_minute: 120,
            ingest_per_minute_per_integration: 60_000,
            ingest_per_minute_per_address: 60_000,
            max_concurrent_searches: 4,
            webhook_log_max_rows: 100_000,
            webhook_log_days: 30,
        }
    }
}

/// How the scheduler retries queued outbound calls that end busy / no answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuePolicy {
    /// Dial attempts per item, the first included.
    pub max_attempts: u32,
    /// Wait before the 2nd attempt; doubles each further attempt.
    pub retry_backoff_secs: u64,
    /// Upper bound of the wait.
    pub max_backoff_secs: u64,
    /// How often the scheduler looks for due items.
    pub poll_secs: u64,
    /// A dial whose call the integration has not reported (`call.started` with the item's
    /// `queue_item_id`) within this time counts as a failed attempt.
    pub dial_timeout_secs: u64,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy {
            max_attempts: 3,
            retry_backoff_secs: 300,
            max_backoff_secs: 3600,
            poll_secs: 1,
            dial_timeout_secs: 120,
        }
    }
}

impl QueuePolicy {
    /// Wait after `attempts` failed attempts (1-based).
    pub fn backoff_secs(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(20);
        self.retry_backoff_secs
            .saturating_mul(1u64 << shift)
            .min(self.max_backoff_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSettings {
    /// Events kept per org for resuming clients...
    pub history: usize,
    /// ...and at most this many bytes of them (each counted at twice its encoded frame,
    /// the frame and the event it was made from, plus its delta frame), whichever bound is
    /// reached first.
    pub history_bytes: usize,
    /// Frames buffered per client before it is declared lagging and resynced.
    pub client_buffer: usize,
    pub heartbeat_secs: u64,
    /// Events kept per org in the durable log (for clients resuming after a restart or
    /// from beyond `history`); older ones are pruned hourly.
    pub log_max_rows: u64,
    /// Days events are kept in the durable log, whatever their number.
    pub log_days: u32,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            history: 10_000,
            history_bytes: 16 * 1024 * 1024,
            client_buffer: 1024,
            heartbeat_secs: 15,
            log_max_rows: 100_000,
            log_days: 7,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_with_one_token_per_role() {
        let text = include_str!("../../../config.example.toml");
        let c = GatewayConfig::from_toml(text).unwrap();
        for role in [Role::Viewer, Role::Agent, Role::Supervisor, Role::Admin] {
            assert!(c.tokens.iter().any(|t| t.role == role && t.org == "acme"));
        }
        assert!(c.orgs().len() >= 2);
        assert_eq!(c.listen, Some(DEFAULT_LISTEN.parse().unwrap()));
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let dup = GatewayConfig::default()
            .with_token("a", "tok_aaaaaaaa", "o", Role::Viewer)
            .with_token("a", "tok_bbbbbbbb", "o", Role::Viewer);
        assert!(dup.validate().unwrap_err().to_string().contains("named"));
        let short = GatewayConfig::default().with_token("a", "x", "o", Role::Viewer);
        assert!(short.validate().is_err());
        assert!(GatewayConfig::from_toml("[gateway]\nlisten = 5").is_err());
        assert!(GatewayConfig::from_toml("[gateway]\nbogus = 1").is_err());
        // Debug output never shows a token.
        let c = GatewayConfig::default().with_token("a", "tok_secret_value", "o", Role::Viewer);
        assert!(!format!("{c:?}").contains("tok_secret_value"));
    }
}

#[derive(Deserialize)]
struct FileRoot {
    #[serde(default)]
    gateway: Option<GatewayConfig>,
}

impl GatewayConfig {
    /// Reads the `[gateway]` section of a config file (other sections are ignored).
    pub fn load(path: &Path) -> anyhow::Result<GatewayConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("in config file {}", path.display()))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<GatewayConfig> {
        let root: FileRoot = toml::from_str(text)?;
        let config = root.gateway.unwrap_or_default();
        config.validate()?;
        Ok(config)
    }

    /// Adds a token (builder for the demo and tests).
    pub fn with_token(mut self, name: &str, token: &str, org: &str, role: Role) -> Self {
        self.tokens.push(TokenConfig {
            name: name.into(),
            token: token.into(),
            org: org.into(),
            role,
            phone: None,
        });
        self
    }

    /// Adds a custom integration (builder for tests).
    pub fn with_custom_integration(
        mut self,
        name: &str,
        org: &str,
        secret: &str,
        control_url: Option<&str>,
    ) -> Self {
        let mut integration = IntegrationConfig::new(name, IntegrationKind::Custom, org, secret);
        integration.control_url = control_url.map(Into::into);
        self.integrations.push(integration);
        self
    }

    /// Adds an integration of a provider kind (builder for tests).
    pub fn with_integration(mut self, integration: IntegrationConfig) -> Self {
        self.integrations.push(integration);
        self
    }

    /// Orgs that have at least one token.
    pub fn orgs(&self) -> BTreeSet<String> {
        self.tokens.iter().map(|t| t.org.clone()).collect()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.compliance.validate()?;
        self.bus.validate()?;
        for n in &self.phone_numbers {
            n.validate()?;
        }
        destinations::validate(&self.destinations)?;
        let mut names = HashSet::new();
        let mut secrets = HashSet::new();
        let mut token_names = HashSet::new();
        for t in &self.tokens {
            // The name is the actor in the audit log and the rate-limit key: keep it unique.
            anyhow::ensure!(
                token_names.insert(t.name.as_str()),
                "two [[gateway.tokens]] entries are named {:?}",
                t.name
            );
            anyhow::ensure!(
                !t.name.trim().is_empty(),
                "a [[gateway.tokens]] entry has an empty name"
            );
            anyhow::ensure!(
                !t.org.trim().is_empty(),
                "token {:?} has an empty org",
                t.name
            );
            anyhow::ensure!(
                t.token.len() >= 8,
                "token {:?} is shorter than 8 characters",
                t.name
            );
            anyhow::ensure!(
                secrets.insert(t.token.as_str()),
                "token {:?} reuses another entry's token",
                t.name
            );
            if let Some(p) = &t.phone {
                anyhow::ensure!(
                    crate::core::action::valid_destination(p),
                    "token {:?}: phone {p:?} must be an E.164 number such as +15550001111 or a sip: URI",
                    t.name
                );
            }
        }
        for i in &self.integrations {
            anyhow::ensure!(
                !i.name.is_empty()
                    && i.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "integration name {:?} must be letters, digits, '-' or '_'",
                i.name
            );
            anyhow::ensure!(
                names.insert(i.name.as_str()),
                "integration {:?} is defined twice",
                i.name
            );
            anyhow::ensure!(
                !i.secret.is_empty(),
                "integration {:?} has an empty secret",
                i.name
            );
            for (key, url) in [("control_url", &i.control_url), ("api_base", &i.api_base)] {
                if let Some(url) = url {
                    anyhow::ensure!(
                        url.starts_with("http://") || url.starts_with("https://"),
                        "integration {:?}: {key} must be an http(s) URL",
                        i.name
                    );
                }
            }
            if i.kind == IntegrationKind::ConversationRelay {
                anyhow::ensure!(
                    self.public_url.is_some(),
                    "integration {:?}: ConversationRelay needs gateway.public_url (Twilio connects to it)",
                    i.name
                );
                i.relay.clone().unwrap_or_default().validate(&i.name)?;
            }
            anyhow::ensure!(
                i.kind == IntegrationKind::Custom || i.capabilities.is_none(),
                "integration {:?}: capabilities can only be set on a custom integration; a {} integration declares its own",
                i.name,
                i.kind.as_str()
            );
        }
        anyhow::ensure!(
            self.limits.max_body_bytes >= 1024,
            "limits.max_body_bytes is too small"
        );
        anyhow::ensure!(
            self.limits.actions_per_minute >= 1,
            "limits.actions_per_minute must be at least 1"
        );
        anyhow::ensure!(
            self.limits.ingest_per_minute_per_integration >= 1
                && self.limits.ingest_per_minute_per_address >= 1,
            "limits.ingest_per_minute_per_integration and _per_address must be at least 1"
        );
        anyhow::ensure!(
            self.limits.max_concurrent_searches >= 1,
            "limits.max_concurrent_searches must be at least 1"
        );
        anyhow::ensure!(
            self.limits.webhook_log_max_rows >= 1 && self.limits.webhook_log_days >= 1,
            "limits.webhook_log_max_rows and limits.webhook_log_days must be at least 1"
        );
        anyhow::ensure!(
            self.server.ws_ping_secs >= 1
                && self.server.ws_pong_timeout_secs > self.server.ws_ping_secs,
            "server.ws_pong_timeout_secs must be longer than server.ws_ping_secs (at least 1)"
        );
        for o in &self.server.allowed_origins {
            anyhow::ensure!(
                o.starts_with("http://") || o.starts_with("https://"),
                "server.allowed_origins: {o:?} must be an origin such as https://ops.example.com"
            );
        }
        anyhow::ensure!(
            self.queue.max_attempts >= 1,
            "queue.max_attempts must be at least 1"
        );
        anyhow::ensure!(
            self.stream.client_buffer >= 1,
            "stream.client_buffer must be at least 1"
        );
        anyhow::ensure!(
            self.stream.history >= 1,
            "stream.history must be at least 1"
        );
        anyhow::ensure!(
            self.stream.history_bytes >= 1,
            "stream.history_bytes must be at least 1"
        );
        self.store.postgres()?;
        anyhow::ensure!(
            self.stream.log_max_rows >= 1 && self.stream.log_days >= 1,
            "stream.log_max_rows and stream.log_days must be at least 1"
        );
        anyhow::ensure!(
            self.stream.heartbeat_secs >= 1,
            "stream.heartbeat_secs must be at least 1"
        );
        Ok(())
    }
}
