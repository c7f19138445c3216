//! The provider trait: what every voice stack adapter (custom ingest, Twilio, Vapi, Retell,
//! Bland) and the simulator implement. The gateway owns call state; providers turn webhooks
//! into normalised events and carry out supervisors' actions on the live call.
//!
//! Contract for actions: the gateway checks the call's state (409) and the provider's
//! capabilities (422) first, then calls [`Provider::perform`]. Only when it returns `Ok` does
//! the gateway apply the state change itself (taken over, paused, resumed, ended with outcome
//! `ended_by_supervisor`), write the audit entry and announce it. Providers keep reporting
//! transcript lines, analysis and the final `call.ended` (cost, duration) through events; a
//! `call.ended` for a call the gateway already ended only fills in those figures.

use std::collections::BTreeSet;

use axum::http::HeaderMap;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::core::ingest::IngestEnvelope;
use crate::core::model::{Call, QueueItem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    TakeOver,
    PauseAi,
    ResumeAi,
    Say,
    Instruct,
    End,
    /// Can place outbound calls for queue items.
    Dial,
}

impl Capability {
    pub fn describe(self) -> &'static str {
        match self {
            Capability::TakeOver => "take over the call",
            Capability::PauseAi => "pause the AI",
            Capability::ResumeAi => "resume the AI",
            Capability::Say => "speak text to the caller",
            Capability::Instruct => "instruct the AI",
            Capability::End => "end the call",
            Capability::Dial => "dial queued calls",
        }
    }
}

/// A supervisor's action on a live call, as handed to the provider.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderAction {
    TakeOver {
        by: String,
        reason: String,
        notes: Option<String>,
    },
    PauseAi,
    ResumeAi,
    Say {
        text: String,
    },
    Instruct {
        text: String,
    },
    End {
        by: String,
    },
}

impl ProviderAction {
    pub fn capability(&self) -> Capability {
        match self {
            ProviderAction::TakeOver { .. } => Capability::TakeOver,
            ProviderAction::PauseAi => Capability::PauseAi,
            ProviderAction::ResumeAi => Capability::ResumeAi,
            ProviderAction::Say { .. } => Capability::Say,
            ProviderAction::Instruct { .. } => Capability::Instruct,
            ProviderAction::End { .. } => Capability::End,
        }
    }
}

/// A webhook request exactly as received: signatures are checked over these raw bytes.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// The public URL the provider called (scheme/host from the configured public base URL),
    /// including the query string; Twilio signs it.
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or malformed signature header: {0}")]
    MissingSignature(String),
    #[error("signature does not match")]
    BadSignature,
    #[error("timestamp outside the allowed window of {window_secs} s")]
    Stale { window_secs: u64 },
    #[error("malformed payload: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider cannot do this at all (answered 422).
    #[error("{provider} cannot {what}")]
    Unsupported { provider: String, what: String },
    /// The provider's API failed or refused (answered 502 with this message).
    #[error("{0}")]
    Upstream(String),
    /// The provider no longer knows the call (answered 409).
    #[error("{0}")]
    Gone(String),
}

/// Handle for a dial the provider started; the call itself arrives as a `call.started` event
/// carrying `queue_item_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialStarted {
    pub provider_call_id: String,
}

#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The integration name (registry key, `Call::integration`).
    fn name(&self) -> &str;

    fn capabilities(&self) -> BTreeSet<Capability>;

    /// Verify and parse a webhook. Unknown event types yield `Ok(vec![])`, never an error.
    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError>;

    /// Carry out an action on a live call at the provider.
    async fn perform(&self, call: &Call, action: &ProviderAction) -> Result<(), ProviderError>;

    /// Place an outbound call for a queue item.
    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError>;
}
