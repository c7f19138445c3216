//! What every provider adapter shares: signature primitives, envelope builders, and one way
//! to call a provider's REST API with a bounded wait and errors that name the provider.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::core::ingest::{IngestEnvelope, IngestEvent};
use crate::core::model::{CallState, Direction};
use crate::core::provider::{ProviderError, WebhookError};
use crate::gateway::config::IntegrationConfig;

/// How long a provider's API may take before an action fails, unless configured.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A short stable digest for event ids derived from content.
pub fn digest(parts: &[&[u8]]) -> String {
    use sha2::Digest;
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..8])
}

/// Most calls an adapter keeps per-call memory for (ordering, utterances, control URLs).
/// Beyond it the memory is dropped: a flood of call ids cannot grow it without bound, and
/// what is lost only matters for deliveries that straggle in after that many other calls.
pub const MAX_REMEMBERED_CALLS: usize = 50_000;

/// Makes room in a per-call map before an insert.
pub fn bound<K: Eq + std::hash::Hash, V>(map: &mut std::collections::HashMap<K, V>) {
    if map.len() >= MAX_REMEMBERED_CALLS {
        map.clear();
    }
}

/// Constant-time equality (lengths are not secret).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub fn json_body(body: &[u8]) -> Result<serde_json::Value, WebhookError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(WebhookError::Malformed(
            "the body is not a JSON object".into(),
        ));
    }
    Ok(value)
}

/// A string field, or a clear "malformed" naming it.
pub fn required<'v>(v: &'v serde_json::Value, pointer: &str) -> Result<&'v str, WebhookError> {
    v.pointer(pointer)
        .and_then(|x| x.as_str())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| WebhookError::Malformed(format!("missing string field {pointer}")))
}

pub fn text(v: &serde_json::Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(|x| x.as_str())
        .filter(|s| !s.trim().is_empty())
        .map(String::from)
}

pub fn number(v: &serde_json::Value, pointer: &str) -> Option<f64> {
    let x = v.pointer(pointer)?;
    x.as_f64().or_else(|| x.as_str()?.trim().parse().ok())
}

pub fn from_millis(ms: f64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms as i64).single()
}

pub fn from_secs(s: f64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(s as i64, 0).single()
}

pub fn envelope(id: String, at: Option<DateTime<Utc>>, event: IngestEvent) -> IngestEnvelope {
    IngestEnvelope {
        id,
        occurred_at: at,
        event,
    }
}

/// What every delivery about a call starts with: the call's existence, under one id per
/// call so that whichever delivery comes first creates it and the rest are duplicates.
/// Providers deliver out of order, and the post-call ones only ever send one message.
pub struct CallFacts {
    pub provider_call_id: String,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub assistant: Option<String>,
    pub queue_item_id: Option<String>,
    pub state: CallState,
}

impl CallFacts {
    pub fn started(self, display: &str, at: Option<DateTime<Utc>>) -> IngestEnvelope {
        envelope(
            format!("{}:started", self.provider_call_id),
            at,
            IngestEvent::CallStarted {
                provider_call_id: self.provider_call_id,
                direction: self.direction,
                from: self.from,
                to: self.to,
                provider: Some(display.to_string()),
                lead: None,
                campaign: None,
                assistant: self.assistant,
                queue_item_id: self.queue_item_id,
                state: Some(self.state),
            },
        )
    }
}

/// A provider's REST API: base URL, key, bounded wait, and errors naming the provider.
#[derive(Clone)]
pub struct ProviderApi {
    pub display: String,
    pub base: String,
    pub key: Option<String>,
    pub timeout: Duration,
    pub http: reqwest::Client,
}

// Hand-written: the API key never reaches a log line.
impl std::fmt::Debug for ProviderApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderApi")
            .field("display", &self.display)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ProviderApi {
    pub fn new(config: &IntegrationConfig, default_base: &str, http: reqwest::Client) -> Self {
        ProviderApi {
            display: display_name(config),
            base: config
                .api_base
                .clone()
                .unwrap_or_else(|| default_base.to_string())
                .trim_end_matches('/')
                .to_string(),
            key: config.api_key.clone(),
            timeout: Duration::from_secs(config.api_timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)),
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The configured key, or an Unsupported naming the missing setting.
    pub fn key(&self, what: &str) -> Result<&str, ProviderError> {
        self.key
            .as_deref()
            .ok_or_else(|| ProviderError::Unsupported {
                provider: self.display.clone(),
                what: format!("{what} (no api_key is configured for it)"),
            })
    }

    /// Sends and reads a JSON answer (an empty body reads as null). Every failure names the
    /// provider and says the action was not carried out.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, ProviderError> {
        let secs = self.timeout.as_secs();
        let resp = request.timeout(self.timeout).send().await.map_err(|e| {
            let why = if e.is_timeout() {
                format!("it did not answer within {secs} s")
            } else if e.is_connect() {
                "the connection was refused or could not be made".to_string()
            } else {
                e.without_url().to_string()
            };
            ProviderError::Upstream(format!(
                "{}'s API could not be reached: {why}; nothing was changed",
                self.display
            ))
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            ProviderError::Upstream(format!(
                "{}'s API answer could not be read: {}; nothing was changed",
                self.display,
                e.without_url()
            ))
        })?;
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(ProviderError::Gone(format!(
                "{} no longer knows this call (its API answered {status})",
                self.display
            )));
        }
        if !status.is_success() {
            let said: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(ProviderError::Upstream(format!(
                "{}'s API answered {status}: {said}; nothing was changed",
                self.display
            )));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&body).map_err(|_| {
            ProviderError::Upstream(format!(
                "{}'s API answered {status} with something that is not JSON; nothing was changed",
                self.display
            ))
        })
    }

    pub fn unsupported(&self, what: &str) -> ProviderError {
        ProviderError::Unsupported {
            provider: self.display.clone(),
            what: what.to_string(),
        }
    }
}

pub fn display_name(config: &IntegrationConfig) -> String {
    config
        .display_name
        .clone()
        .or_else(|| config.kind.display().map(String::from))
        .unwrap_or_else(|| config.name.clone())
}

/// A field of an answer the provider must send, or an error naming the provider.
pub fn answer_field(
    api: &ProviderApi,
    answer: &serde_json::Value,
    pointer: &str,
) -> Result<String, ProviderError> {
    text(answer, pointer).ok_or_else(|| {
        ProviderError::Upstream(format!(
            "{}'s API answered without {pointer}; the call may not have been placed",
            api.display
        ))
    })
}

/// What a post-call webhook (Bland, ElevenLabs, Synthflow, Dograh) says about a finished
/// call: mapped to the call's start, its transcript, analysis and end, each with an id
/// derived from the call so a redelivery is a duplicate.
pub struct PostCall {
    pub facts: CallFacts,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub transcript: Vec<(crate::core::model::Speaker, String)>,
    pub summary: Option<String>,
    pub intent: Option<String>,
    pub outcome: String,
    pub cost: Option<f64>,
    pub duration_secs: Option<f64>,
    pub recording_url: Option<String>,
}

impl PostCall {
    pub fn envelopes(self, display: &str) -> Vec<IngestEnvelope> {
        let id = self.facts.provider_call_id.clone();
        let mut out = vec![self.facts.started(display, self.started_at)];
        for (i, (speaker, text)) in self.transcript.into_iter().enumerate() {
            out.push(envelope(
                format!("{id}:{i}:final"),
                self.started_at,
                IngestEvent::TranscriptFinal {
                    provider_call_id: id.clone(),
                    utterance_id: format!("{id}:{i}"),
                    speaker,
                    text,
                },
            ));
        }
        if self.summary.is_some() || self.intent.is_some() {
            out.push(envelope(
                format!("{id}:analysis"),
                self.ended_at,
                IngestEvent::CallAnalysis {
                    provider_call_id: id.clone(),
                    intent: self.intent,
                    sentiment: None,
                    summary: self.summary.clone(),
                },
            ));
        }
        out.push(envelope(
            format!("{id}:ended"),
            self.ended_at,
            IngestEvent::CallEnded {
                provider_call_id: id,
                outcome: self.outcome,
                cost: self.cost,
                duration_secs: self.duration_secs,
                summary: self.summary,
                recording_url: self.recording_url,
            },
        ));
        out
    }
}

pub fn rfc3339(v: &serde_json::Value, pointer: &str) -> Option<DateTime<Utc>> {
    let s = text(v, pointer)?;
    DateTime::parse_from_rfc3339(&s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Escapes text for an XML attribute or element (TwiML).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// TwiML that puts the caller through to a number or a SIP URI (a hand-off's answer, a
/// transfer, a take over by phone).
pub fn dial_twiml(to: &str) -> String {
    let target = if to.to_ascii_lowercase().starts_with("sip") {
        format!("<Sip>{}</Sip>", xml_escape(to))
    } else {
        xml_escape(to)
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>{target}</Dial></Response>")
}
