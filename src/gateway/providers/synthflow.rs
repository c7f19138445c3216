//! Synthflow: the post-call webhook (sent to the `external_webhook_url` of a call) into
//! history. Synthflow signs the call id, not the body: `Synthflow-Signature` = base64
//! HMAC-SHA256(secret, call_id) (hex accepted too). No live control API is documented.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::Value;

use super::common::{self, CallFacts, PostCall};
use crate::core::action::{Action, Capability};
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{outcome, Call, CallState, Direction, QueueItem, Speaker};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;

pub struct SynthflowProvider {
    name: String,
    display: String,
    secret: String,
}

impl SynthflowProvider {
    pub fn new(config: &IntegrationConfig) -> Self {
        SynthflowProvider {
            name: config.name.clone(),
            display: common::display_name(config),
            secret: config.secret.clone(),
        }
    }
}

/// The header value Synthflow sends for a call id.
pub fn sign(secret: &str, call_id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(common::hmac_sha256(
        secret.as_bytes(),
        &[call_id.as_bytes()],
    ))
}

/// "Agent: ...\nUser: ..." lines into speakers and texts.
fn transcript(text: &str) -> Vec<(Speaker, String)> {
    text.lines()
        .filter_map(|line| {
            let (who, said) = line.split_once(':')?;
            let speaker = match who.trim().to_ascii_lowercase().as_str() {
                "user" | "human" | "customer" => Speaker::Caller,
                "assistant" | "agent" | "bot" | "ai" => Speaker::Ai,
                _ => return None,
            };
            let said = said.trim();
            (!said.is_empty()).then(|| (speaker, said.to_string()))
        })
        .collect()
}

#[async_trait::async_trait]
impl Provider for SynthflowProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        BTreeSet::new()
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        let got = common::header(&request.headers, "synthflow-signature").ok_or_else(|| {
            WebhookError::MissingSignature("no Synthflow-Signature header".into())
        })?;
        let body = common::json_body(&request.body)?;
        let id = common::required(&body, "/call/call_id")?.to_string();
        let want = common::hmac_sha256(self.secret.as_bytes(), &[id.as_bytes()]);
        let got = base64::engine::general_purpose::STANDARD
            .decode(got)
            .ok()
            .filter(|g| g.len() == want.len())
            .or_else(|| hex::decode(got).ok())
            .unwrap_or_default();
        if !common::same(&got, &want) {
            return Err(WebhookError::BadSignature);
        }
        let call = &body["call"];
        let status = common::text(call, "/status")
            .or_else(|| common::text(&body, "/status"))
            .unwrap_or_default();
        let result = match status.as_str() {
            "busy" => outcome::BUSY,
            "no-answer" | "no_answer" => outcome::NO_ANSWER,
            "failed" => outcome::FAILED,
            "voicemail" => outcome::VOICEMAIL,
            _ => outcome::COMPLETED,
        };
        let outbound = common::text(call, "/call_type").is_none_or(|t| t != "inbound");
        let lead_phone = common::text(&body, "/lead/phone_number").unwrap_or_default();
        let (from, to) = if outbound {
            (String::new(), lead_phone)
        } else {
            (lead_phone, String::new())
        };
        let started = common::number(call, "/start_time").and_then(|t| {
            // Seconds or milliseconds, depending on the account's API version.
            if t > 1e11 {
                common::from_millis(t)
            } else {
                common::from_secs(t)
            }
        });
        let summary =
            common::text(&body, "/analysis/summary").or_else(|| common::text(call, "/summary"));
        Ok(PostCall {
            facts: CallFacts {
                provider_call_id: id,
                direction: if outbound {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                },
                from,
                to,
                assistant: common::text(call, "/model_id"),
                queue_item_id: None,
                state: CallState::InProgress,
            },
            started_at: started,
            ended_at: None,
            transcript: call
                .get("transcript")
                .and_then(Value::as_str)
                .map(transcript)
                .unwrap_or_default(),
            summary,
            intent: common::text(call, "/end_call_reason").map(|r| format!("ended: {r}")),
            outcome: result.into(),
            cost: None,
            duration_secs: common::number(call, "/duration"),
            recording_url: common::text(call, "/recording_url"),
        }
        .envelopes(&self.display))
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
