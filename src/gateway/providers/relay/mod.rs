//! Twilio ConversationRelay: callwatch hosts the AI conversation. Twilio fetches TwiML from
//! `POST /webhooks/{name}/voice`, opens a websocket to `/webhooks/{name}/relay`, sends the
//! caller's speech as text and speaks (in an ElevenLabs voice) the text callwatch sends back,
//! which comes from an OpenAI-compatible chat-completions endpoint. Because the conversation
//! runs here, every supervisor action acts on the live session directly.
//!
//! Status and recording callbacks (`/webhooks/{name}/status`) are Twilio's usual ones and are
//! parsed by the Twilio adapter.

pub mod model;
pub mod registry;
pub mod session;
pub mod twiml;

use std::collections::BTreeSet;
use std::sync::Arc;

use super::common::{self, ProviderApi};
use super::twilio::{self, TwilioProvider};
use crate::core::action::{Action, Capability};
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{Call, QueueItem};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;

pub use crate::gateway::config::relay::{RelayProfile, RelaySettings};
pub use registry::Sessions;

/// Name of the `<Parameter>` that carries a dialled queue item into the session's `setup`.
pub const QUEUE_ITEM_PARAM: &str = "queue_item_id";

pub struct RelayProvider {
    pub name: String,
    pub display: String,
    /// Twilio's auth token: signs the TwiML webhook and the websocket handshake.
    pub auth_token: String,
    pub settings: RelaySettings,
    /// The gateway's public base URL (`https://cw.example.com`); TwiML points Twilio at it.
    pub public_url: Option<String>,
    pub sessions: Arc<Sessions>,
    pub http: reqwest::Client,
    account_sid: Option<String>,
    from_number: Option<String>,
    api: ProviderApi,
    /// Status and recording callbacks are plain Twilio ones.
    callbacks: TwilioProvider,
}

impl RelayProvider {
    pub fn new(
        config: &IntegrationConfig,
        public_url: Option<&str>,
        http: reqwest::Client,
    ) -> Self {
        RelayProvider {
            name: config.name.clone(),
            display: common::display_name(config),
            auth_token: config.secret.clone(),
            settings: config.relay.clone().unwrap_or_default(),
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            sessions: Arc::new(Sessions::default()),
            account_sid: config.account_sid.clone(),
            from_number: config.from_number.clone(),
            api: ProviderApi::new(config, twilio::API_BASE, http.clone()),
            callbacks: TwilioProvider::new(config, public_url, http.clone()),
            http,
        }
    }

    /// Checks `X-Twilio-Signature` over `url` and form `params` (the same scheme as every
    /// Twilio webhook; the websocket handshake signs its wss:// URL with no parameters).
    pub fn verify(
        &self,
        headers: &http::HeaderMap,
        url: &str,
        params: &[(String, String)],
    ) -> Result<(), WebhookError> {
        use base64::Engine;
        let got = common::header(headers, "x-twilio-signature")
            .ok_or_else(|| WebhookError::MissingSignature("no X-Twilio-Signature header".into()))?;
        let got = base64::engine::general_purpose::STANDARD
            .decode(got)
            .map_err(|_| {
                WebhookError::MissingSignature("X-Twilio-Signature is not base64".into())
            })?;
        let want = base64::engine::general_purpose::STANDARD
            .decode(twilio::signature(&self.auth_token, url, params))
            .unwrap_or_default();
        if common::same(&got, &want) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    /// The websocket URL Twilio connects to (wss:// when the public URL is https://).
    pub fn socket_url(&self) -> Option<String> {
        let base = self.public_url.as_deref()?;
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return None;
        };
        Some(format!("{ws}/webhooks/{}/relay", self.name))
    }

    /// Where Twilio posts when the session ends (`<Connect action>`).
    pub fn action_url(&self) -> Option<String> {
        Some(format!(
            "{}/webhooks/{}/handoff",
            self.public_url.as_deref()?,
            self.name
        ))
    }

    /// TwiML connecting a call on `number` (ours) to the relay.
    pub fn connect_twiml(&self, number: &str, queue_item: Option<&str>) -> Result<String, String> {
        let socket = self
            .socket_url()
            .ok_or("gateway.public_url (http:// or https://) is needed for ConversationRelay")?;
        let profile = self.settings.profile_for(number);
        let mut params = Vec::new();
        if let Some(q) = queue_item {
            params.push((QUEUE_ITEM_PARAM, q));
        }
        Ok(twiml::connect(
            &socket,
            self.action_url().as_deref(),
            &profile,
            &params,
        ))
    }
}

#[async_trait::async_trait]
impl Provider for RelayProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        let mut caps: BTreeSet<Capability> = [
            Capability::TakeOver,
            Capability::PauseAi,
            Capability::ResumeAi,
            Capability::Say,
            Capability::Instruct,
            Capability::End,
            // Hand-off: `end` with handoffData, then the `<Connect action>` answer dials.
            Capability::Transfer,
            Capability::PhoneTakeOver,
            // Type-to-talk keeps the session: the AI simply speaks again.
            Capability::HandBack,
        ]
        .into();
        if self.account_sid.is_some() && self.from_number.is_some() {
            caps.insert(Capability::Dial);
        }
        caps
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        self.callbacks.parse_webhook(request)
    }

    async fn perform(&self, call: &Call, action: &Action, by: &str) -> Result<(), ProviderError> {
        self.sessions
            .act(&call.provider_call_id, action.clone(), by)
            .await
    }

    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError> {
        let (Some(account), Some(from)) = (&self.account_sid, &self.from_number) else {
            return Err(self
                .api
                .unsupported("dial queued calls (account_sid and from_number are needed)"));
        };
        let twiml = self
            .connect_twiml(from, Some(&item.id))
            .map_err(|e| self.api.unsupported(&format!("dial queued calls ({e})")))?;
        let mut form: Vec<(&str, String)> = vec![
            ("To", item.phone_number.clone()),
            ("From", from.clone()),
            ("Twiml", twiml),
        ];
        if let Some(base) = &self.public_url {
            let q = serde_urlencoded::to_string([(twilio::QUEUE_ITEM_PARAM, &item.id)])
                .unwrap_or_default();
            form.push((
                "StatusCallback",
                format!("{base}/webhooks/{}/status?{q}", self.name),
            ));
            for event in ["initiated", "ringing", "answered", "completed"] {
                form.push(("StatusCallbackEvent", event.to_string()));
            }
        }
        let request = self
            .api
            .http
            .post(
                self.api
                    .url(&format!("/2010-04-01/Accounts/{account}/Calls.json")),
            )
            .basic_auth(account, Some(&self.auth_token))
            .form(&form);
        let answer = self.api.send(request).await?;
        Ok(DialStarted {
            provider_call_id: common::answer_field(&self.api, &answer, "/sid")?,
        })
    }

    fn remembered_calls(&self) -> usize {
        self.sessions.len()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
