//! Bland: the post-call webhook (the call object, `X-Webhook-Signature` = hex
//! HMAC-SHA256(signing secret, raw body)) into history; outbound through `POST /v1/calls`;
//! end through `POST /v1/calls/{id}/stop`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::common::{self, CallFacts, PostCall, ProviderApi};
use crate::core::action::{Action, Capability};
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{outcome, Call, CallState, Direction, QueueItem, Speaker};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;

pub const API_BASE: &str = "https://api.bland.ai";
pub const QUEUE_ITEM_KEY: &str = "callwatch_queue_item_id";

pub struct BlandProvider {
    name: String,
    secret: String,
    api: ProviderApi,
    pathway_id: Option<String>,
    from_number: Option<String>,
}

impl BlandProvider {
    pub fn new(config: &IntegrationConfig, http: reqwest::Client) -> Self {
        BlandProvider {
            name: config.name.clone(),
            secret: config.secret.clone(),
            api: ProviderApi::new(config, API_BASE, http),
            pathway_id: config.agent_id.clone(),
            from_number: config.from_number.clone(),
        }
    }
}

fn speaker(user: &str) -> Speaker {
    match user {
        "user" => Speaker::Caller,
        "assistant" | "robot" => Speaker::Ai,
        "agent" => Speaker::Human,
        _ => Speaker::System,
    }
}

fn ended_outcome(call: &Value) -> String {
    let status = common::text(call, "/status").unwrap_or_default();
    let answered_by = common::text(call, "/answered_by").unwrap_or_default();
    if answered_by == "voicemail" {
        return outcome::VOICEMAIL.into();
    }
    match status.as_str() {
        "busy" => outcome::BUSY.into(),
        "no-answer" | "no_answer" => outcome::NO_ANSWER.into(),
        "failed" | "error" => outcome::FAILED.into(),
        _ if call.get("completed").and_then(Value::as_bool) == Some(false) => {
            outcome::FAILED.into()
        }
        _ => outcome::COMPLETED.into(),
    }
}

#[async_trait::async_trait]
impl Provider for BlandProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        let mut caps = BTreeSet::new();
        if self.api.key.is_some() {
            caps.insert(Capability::End);
            if self.pathway_id.is_some() {
                caps.insert(Capability::Dial);
            }
        }
        caps
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        let got = common::header(&request.headers, "x-webhook-signature").ok_or_else(|| {
            WebhookError::MissingSignature("no X-Webhook-Signature header".into())
        })?;
        let got = hex::decode(got)
            .map_err(|_| WebhookError::MissingSignature("X-Webhook-Signature is not hex".into()))?;
        let want = common::hmac_sha256(self.secret.as_bytes(), &[&request.body]);
        if !common::same(&got, &want) {
            return Err(WebhookError::BadSignature);
        }
        let call = common::json_body(&request.body)?;
        let id = common::required(&call, "/call_id")?.to_string();
        let inbound = call
            .get("inbound")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let transcript = call
            .get("transcripts")
            .and_then(Value::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| {
                        Some((
                            speaker(&common::text(l, "/user")?),
                            common::text(l, "/text")?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let post = PostCall {
            facts: CallFacts {
                provider_call_id: id,
                direction: if inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                from: common::text(&call, "/from").unwrap_or_default(),
                to: common::text(&call, "/to").unwrap_or_default(),
                assistant: common::text(&call, "/pathway_id"),
                queue_item_id: common::text(&call, &format!("/metadata/{QUEUE_ITEM_KEY}")),
                state: CallState::InProgress,
            },
            started_at: common::rfc3339(&call, "/started_at")
                .or_else(|| common::rfc3339(&call, "/created_at")),
            ended_at: common::rfc3339(&call, "/end_at"),
            transcript,
            summary: common::text(&call, "/summary"),
            intent: None,
            outcome: ended_outcome(&call),
            cost: common::number(&call, "/price"),
            // call_length is in minutes.
            duration_secs: common::number(&call, "/call_length").map(|m| m * 60.0),
            recording_url: common::text(&call, "/recording_url"),
        };
        Ok(post.envelopes(&self.api.display))
    }

    async fn perform(&self, call: &Call, action: &Action, _by: &str) -> Result<(), ProviderError> {
        let Action::End = action else {
            return Err(self.api.unsupported(action.kind().capability().describe()));
        };
        let key = self.api.key("end the call")?;
        let url = self
            .api
            .url(&format!("/v1/calls/{}/stop", call.provider_call_id));
        // Bland takes the bare API key in `authorization`.
        self.api
            .send(self.api.http.post(url).header("authorization", key))
            .await
            .map(|_| ())
    }

    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError> {
        let Some(pathway) = &self.pathway_id else {
            return Err(self
                .api
                .unsupported("dial queued calls (agent_id, the pathway id, is not configured)"));
        };
        let key = self.api.key("dial queued calls")?;
        let mut body = json!({
            "phone_number": item.phone_number,
            "pathway_id": pathway,
            "metadata": {QUEUE_ITEM_KEY: item.id},
        });
        if let Some(from) = &self.from_number {
            body["from"] = json!(from);
        }
        let answer = self
            .api
            .send(
                self.api
                    .http
                    .post(self.api.url("/v1/calls"))
                    .header("authorization", key)
                    .json(&body),
            )
            .await?;
        Ok(DialStarted {
            provider_call_id: common::answer_field(&self.api, &answer, "/call_id")?,
        })
    }
}
