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

use bytes::Bytes;
use http::HeaderMap;

use super::action::Action;
pub use super::action::Capability;
use super::ingest::IngestEnvelope;
use super::model::{Call, QueueItem};

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
    /// A type the provider does not document (answered 422, logged). Types it documents
    /// that callwatch has no use for are accepted and ignored instead.
    #[error("unknown event type {0:?}")]
    UnknownEvent(String),
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

    /// Verify and parse a webhook. Event types the provider documents but callwatch does not
    /// use yield `Ok(vec![])`; types it does not document are `UnknownEvent`.
    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError>;

    /// Carry out an action on a live call at the provider. `by` is the actor (token name).
    async fn perform(&self, call: &Call, action: &Action, by: &str) -> Result<(), ProviderError>;

    /// Place an outbound call for a queue item.
    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError>;

    /// Calls the adapter keeps per-call memory for (ordering, utterances, sessions), for
    /// the gateway's live-state counts. Adapters that keep none: 0.
    fn remembered_calls(&self) -> usize {
        0
    }

    /// The concrete adapter, for providers the gateway also serves other routes for
    /// (ConversationRelay's TwiML and websocket). `None` for the rest.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}
