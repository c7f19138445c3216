//! ElevenLabs agents: post-call webhooks (`post_call_transcription`,
//! `call_initiation_failure`; `post_call_audio` carries only audio and is acknowledged),
//! signed `ElevenLabs-Signature: t=<unix s>,v0=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! (30-minute window, as ElevenLabs' SDK). History only: no live control API.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::Value;

use super::common::{self, CallFacts, PostCall};
use crate::core::action::{Action, Capability};
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{outcome, Call, CallState, Direction, QueueItem, Speaker};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;

const WINDOW_SECS: i64 = 30 * 60;

pub struct ElevenLabsProvider {
    name: String,
    display: String,
    secret: String,
}

impl ElevenLabsProvider {
    pub fn new(config: &IntegrationConfig) -> Self {
        ElevenLabsProvider {
            name: config.name.clone(),
            display: common::display_name(config),
            secret: config.secret.clone(),
        }
    }

    fn verify(&self, request: &WebhookRequest, now: i64) -> Result<(), WebhookError> {
        let value = common::header(&request.headers, "elevenlabs-signature").ok_or_else(|| {
            WebhookError::MissingSignature("no ElevenLabs-Signature header".into())
        })?;
        let (mut t, mut sigs) = (None, Vec::new());
        for part in value.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse::<i64>().ok(),
                Some(("v0", v)) => sigs.extend(hex::decode(v).ok()),
                _ => {}
            }
        }
        let Some(t) = t.filter(|_| !sigs.is_empty()) else {
            return Err(WebhookError::MissingSignature(
                "ElevenLabs-Signature is not t=<unix s>,v0=<hex>".into(),
            ));
        };
        if (now - t).abs() > WINDOW_SECS {
            return Err(WebhookError::Stale {
                window_secs: WINDOW_SECS as u64,
            });
        }
        let want = common::hmac_sha256(
            self.secret.as_bytes(),
            &[t.to_string().as_bytes(), b".", &request.body],
        );
        if sigs.iter().any(|s| common::same(s, &want)) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

fn phone_facts(data: &Value, id: &str, state: CallState) -> CallFacts {
    let outbound =
        common::text(data, "/metadata/phone_call/direction").as_deref() == Some("outbound");
    let agent = common::text(data, "/metadata/phone_call/agent_number").unwrap_or_default();
    let external = common::text(data, "/metadata/phone_call/external_number").unwrap_or_default();
    let (from, to) = if outbound {
        (agent, external)
    } else {
        (external, agent)
    };
    CallFacts {
        provider_call_id: id.to_string(),
        direction: if outbound {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        from,
        to,
        assistant: common::text(data, "/agent_id"),
        queue_item_id: None,
        state,
    }
}

#[async_trait::async_trait]
impl Provider for ElevenLabsProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        BTreeSet::new()
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        self.verify(request, Utc::now().timestamp())?;
        let body = common::json_body(&request.body)?;
        let kind = common::required(&body, "/type")?;
        let data = body
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| WebhookError::Malformed("no \"data\" object".into()))?;
        let id = common::required(data, "/conversation_id")?.to_string();
        let started =
            common::number(data, "/metadata/start_time_unix_secs").and_then(common::from_secs);
        match kind {
            "post_call_transcription" => {
                let transcript = data
                    .get("transcript")
                    .and_then(Value::as_array)
                    .map(|lines| {
                        lines
                            .iter()
                            .filter_map(|l| {
                                let speaker = match common::text(l, "/role")?.as_str() {
                                    "user" => Speaker::Caller,
                                    "agent" => Speaker::Ai,
                                    _ => Speaker::System,
                                };
                                Some((speaker, common::text(l, "/message")?))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let duration = common::number(data, "/metadata/call_duration_secs");
                let result = match common::text(data, "/status").as_deref() {
                    Some("failed") => outcome::FAILED,
                    _ => outcome::COMPLETED,
                };
                let intent = common::text(data, "/analysis/call_successful");
                Ok(PostCall {
                    facts: phone_facts(data, &id, CallState::InProgress),
                    started_at: started,
                    ended_at: started
                        .zip(duration)
                        .map(|(s, d)| s + chrono::Duration::milliseconds((d * 1000.0) as i64)),
                    transcript,
                    summary: common::text(data, "/analysis/transcript_summary"),
                    intent: intent.map(|i| format!("call {i}")),
                    outcome: result.into(),
                    // ElevenLabs reports cost in credits, not dollars: left out.
                    cost: None,
                    duration_secs: duration,
                    recording_url: None,
                }
                .envelopes(&self.display))
            }
            "call_initiation_failure" => Ok(PostCall {
                facts: phone_facts(data, &id, CallState::Ringing),
                started_at: started,
                ended_at: None,
                transcript: Vec::new(),
                summary: common::text(data, "/failure_reason"),
                intent: None,
                outcome: match common::text(data, "/failure_reason").as_deref() {
                    Some("busy") => outcome::BUSY,
                    Some("no-answer") | Some("no_answer") => outcome::NO_ANSWER,
                    _ => outcome::FAILED,
                }
                .into(),
                cost: None,
                duration_secs: None,
                recording_url: None,
            }
            .envelopes(&self.display)),
            // Base64 audio callwatch does not keep.
            "post_call_audio" => Ok(Vec::new()),
            other => Err(WebhookError::UnknownEvent(other.to_string())),
        }
    }

    async fn perform(&self, _call: &Call, action: &Action, _by: &str) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.display.clone(),
            what: action.kind().capability().describe().into(),
        })
    }

    async fn dial(&self, _item: &QueueItem) -> Result<DialStarted, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.display.clone(),
            what: Capability::Dial.describe().into(),
        })
    }
}
