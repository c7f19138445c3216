//! Retell: `{"event": ..., "call": {...}}` on `POST /webhooks/{name}`, signed
//! `x-retell-signature: v=<unix ms>,d=<hex HMAC-SHA256(api key, raw body + ms)>` (Retell's
//! SDK, 5-minute window). Every event carries the whole call object, so each delivery is
//! mapped on its own; event ids are (call_id, event) as Retell's docs ask.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::{json, Value};

use super::common::{self, CallFacts, ProviderApi};
use crate::core::action::{Action, Capability};
use crate::core::ingest::{IngestEnvelope, IngestEvent};
use crate::core::model::{outcome, Call, CallState, Direction, QueueItem, Sentiment, Speaker};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;

pub const API_BASE: &str = "https://api.retellai.com";
const WINDOW_MS: i64 = 5 * 60 * 1000;
pub const QUEUE_ITEM_KEY: &str = "callwatch_queue_item_id";

pub struct RetellProvider {
    name: String,
    /// The API key with the webhook badge: Retell signs webhooks with it.
    key: String,
    api: ProviderApi,
    from_number: Option<String>,
    agent_id: Option<String>,
}

impl RetellProvider {
    pub fn new(config: &IntegrationConfig, http: reqwest::Client) -> Self {
        let mut api = ProviderApi::new(config, API_BASE, http);
        // API calls use api_key when set, else the same key as the webhooks.
        api.key = Some(
            config
                .api_key
                .clone()
                .unwrap_or_else(|| config.secret.clone()),
        );
        RetellProvider {
            name: config.name.clone(),
            key: config.secret.clone(),
            api,
            from_number: config.from_number.clone(),
            agent_id: config.agent_id.clone(),
        }
    }

    fn verify(&self, request: &WebhookRequest, now_ms: i64) -> Result<(), WebhookError> {
        let value = common::header(&request.headers, "x-retell-signature")
            .ok_or_else(|| WebhookError::MissingSignature("no x-retell-signature header".into()))?;
        let (mut t, mut digest) = (None, None);
        for part in value.split(',') {
            match part.trim().split_once('=') {
                Some(("v", v)) => t = v.parse::<i64>().ok(),
                Some(("d", d)) => digest = hex::decode(d).ok(),
                _ => {}
            }
        }
        let (Some(t), Some(digest)) = (t, digest) else {
            return Err(WebhookError::MissingSignature(
                "x-retell-signature is not v=<ms>,d=<hex>".into(),
            ));
        };
        if (now_ms - t).abs() > WINDOW_MS {
            return Err(WebhookError::Stale { window_secs: 300 });
        }
        let want = common::hmac_sha256(
            self.key.as_bytes(),
            &[&request.body, t.to_string().as_bytes()],
        );
        if common::same(&digest, &want) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

/// Signs a body as Retell does (fixtures and local stand-ins).
pub fn sign(key: &str, body: &[u8], t_ms: i64) -> String {
    let d = common::hmac_sha256(key.as_bytes(), &[body, t_ms.to_string().as_bytes()]);
    format!("v={t_ms},d={}", hex::encode(d))
}

fn ended_outcome(call: &Value) -> String {
    let reason = common::text(call, "/disconnection_reason").unwrap_or_default();
    match reason.as_str() {
        "voicemail_reached" => outcome::VOICEMAIL.into(),
        "dial_busy" => outcome::BUSY.into(),
        "dial_no_answer" => outcome::NO_ANSWER.into(),
        r if r.starts_with("error") || r == "dial_failed" => outcome::FAILED.into(),
        _ => outcome::COMPLETED.into(),
    }
}

fn speaker(role: &str) -> Speaker {
    match role {
        "user" => Speaker::Caller,
        "agent" => Speaker::Ai,
        "transfer_target" => Speaker::Human,
        _ => Speaker::System,
    }
}

/// The transcript lines of a call object: all final, except the last one of an ongoing
/// call (still being spoken).
fn transcript(call: &Value, id: &str, live: bool, out: &mut Vec<IngestEnvelope>) {
    let Some(lines) = call.get("transcript_object").and_then(Value::as_array) else {
        return;
    };
    for (i, line) in lines.iter().enumerate() {
        let (Some(role), Some(text)) =
            (common::text(line, "/role"), common::text(line, "/content"))
        else {
            continue;
        };
        let utterance_id = format!("{id}:{i}");
        let speaker = speaker(&role);
        let is_final = !live || i + 1 < lines.len();
        let (event_id, event) = if is_final {
            (
                format!("{utterance_id}:final"),
                IngestEvent::TranscriptFinal {
                    provider_call_id: id.to_string(),
                    utterance_id,
                    speaker,
                    text,
                },
            )
        } else {
            let digest = common::digest(&[text.as_bytes()]);
            (
                format!("{utterance_id}:partial:{digest}"),
                IngestEvent::TranscriptPartial {
                    provider_call_id: id.to_string(),
                    utterance_id,
                    speaker,
                    text,
                },
            )
        };
        out.push(common::envelope(event_id, None, event));
    }
}

#[async_trait::async_trait]
impl Provider for RetellProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        let mut caps: BTreeSet<Capability> = [Capability::Instruct, Capability::End].into();
        if self.from_number.is_some() {
            caps.insert(Capability::Dial);
        }
        caps
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        self.verify(request, Utc::now().timestamp_millis())?;
        let body = common::json_body(&request.body)?;
        let event = common::required(&body, "/event")?;
        let call = body
            .get("call")
            .filter(|c| c.is_object())
            .ok_or_else(|| WebhookError::Malformed("no \"call\" object".into()))?;
        let id = common::required(call, "/call_id")?.to_string();
        let outbound = common::text(call, "/direction").as_deref() == Some("outbound");
        let status = common::text(call, "/call_status").unwrap_or_default();
        let state = match status.as_str() {
            // An ended call was answered; one that never connected stays ringing until
            // its end arrives.
            "ongoing" | "ended" => CallState::InProgress,
            _ => CallState::Ringing,
        };
        let started = common::number(call, "/start_timestamp").and_then(common::from_millis);
        let ended = common::number(call, "/end_timestamp").and_then(common::from_millis);
        let mut out = vec![CallFacts {
            provider_call_id: id.clone(),
            direction: if outbound {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            from: common::text(call, "/from_number").unwrap_or_default(),
            to: common::text(call, "/to_number").unwrap_or_default(),
            assistant: common::text(call, "/agent_name")
                .or_else(|| common::text(call, "/agent_id")),
            queue_item_id: common::text(call, &format!("/metadata/{QUEUE_ITEM_KEY}")),
            state,
        }
        .started(&self.api.display, started)];
        let pcid = id.clone();
        let ended_event = |out: &mut Vec<IngestEnvelope>| {
            out.push(common::envelope(
                format!("{id}:ended"),
                ended,
                IngestEvent::CallEnded {
                    provider_call_id: id.clone(),
                    outcome: ended_outcome(call),
                    // combined_cost is in cents.
                    cost: common::number(call, "/call_cost/combined_cost").map(|c| c / 100.0),
                    duration_secs: common::number(call, "/duration_ms").map(|ms| ms / 1000.0),
                    summary: None,
                    recording_url: common::text(call, "/recording_url"),
                },
            ));
        };
        match event {
            "call_started" => {}
            "transcript_updated" => transcript(call, &id, true, &mut out),
            "call_ended" => {
                transcript(call, &id, false, &mut out);
                ended_event(&mut out);
            }
            "call_analyzed" => {
                transcript(call, &id, false, &mut out);
                // Analysed implies ended: the same event id as call_ended, so either order
                // of the two ends the call once.
                ended_event(&mut out);
                let sentiment =
                    common::text(call, "/call_analysis/user_sentiment").map(|s| match s.as_str() {
                        "Positive" => Sentiment::Positive,
                        "Negative" => Sentiment::Negative,
                        "Neutral" => Sentiment::Neutral,
                        _ => Sentiment::Unknown,
                    });
                let intent = call
                    .pointer("/call_analysis/call_successful")
                    .and_then(Value::as_bool)
                    .map(|ok| if ok { "successful" } else { "unsuccessful" }.to_string());
                out.push(common::envelope(
                    format!("{id}:call_analyzed"),
                    ended,
                    IngestEvent::CallAnalysis {
                        provider_call_id: pcid,
                        intent,
                        sentiment,
                        summary: common::text(call, "/call_analysis/call_summary"),
                    },
                ));
            }
            "transfer_started" | "transfer_bridged" | "transfer_cancelled" | "transfer_ended" => {
                let what = event.trim_start_matches("transfer_");
                out.push(common::envelope(
                    format!("{id}:{event}"),
                    None,
                    IngestEvent::CallAlert {
                        provider_call_id: pcid,
                        kind: "transfer".into(),
                        message: format!("Retell transfer {what}"),
                    },
                ));
            }
            other => return Err(WebhookError::UnknownEvent(other.to_string())),
        }
        Ok(out)
    }

    async fn perform(&self, call: &Call, action: &Action, _by: &str) -> Result<(), ProviderError> {
        let key = self.api.key("act on calls")?;
        let id = &call.provider_call_id;
        let request = match action {
            Action::Instruct { text } => self
                .api
                .http
                .patch(self.api.url(&format!("/v2/update-live-call/{id}")))
                .json(&json!({"call_control": {"additional_context": text, "trigger_response": true}})),
            Action::End => self.api.http.post(self.api.url(&format!("/v2/stop-call/{id}"))),
            other => {
                return Err(self
                    .api
                    .unsupported(other.kind().capability().describe()))
            }
        };
        self.api.send(request.bearer_auth(key)).await.map(|_| ())
    }

    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError> {
        let Some(from) = &self.from_number else {
            return Err(self
                .api
                .unsupported("dial queued calls (from_number is not configured)"));
        };
        let key = self.api.key("dial queued calls")?;
        let mut body = json!({
            "from_number": from,
            "to_number": item.phone_number,
            "metadata": {QUEUE_ITEM_KEY: item.id},
        });
        if let Some(agent) = &self.agent_id {
            body["override_agent_id"] = json!(agent);
        }
        let answer = self
            .api
            .send(
                self.api
                    .http
                    .post(self.api.url("/v2/create-phone-call"))
                    .bearer_auth(key)
                    .json(&body),
            )
            .await?;
        Ok(DialStarted {
            provider_call_id: common::answer_field(&self.api, &answer, "/call_id")?,
        })
    }
}
