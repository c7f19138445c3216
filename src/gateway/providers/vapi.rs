//! Vapi: server messages `{"message": {"type": ..., "call": {...}}}` on
//! `POST /webhooks/{name}`, live control through the call's `monitor.controlUrl`, outbound
//! calls through `POST /call`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::common::{self, CallFacts, ProviderApi};
use crate::core::action::{Action, Capability, TransferMode};
use crate::core::ingest::{IngestEnvelope, IngestEvent};
use crate::core::model::{alert_kind, outcome, Call, CallState, Direction, QueueItem, Speaker};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::{IntegrationConfig, WebhookAuth};

pub const API_BASE: &str = "https://api.vapi.ai";
/// Metadata key that carries the queue item through Vapi back to callwatch.
pub const QUEUE_ITEM_KEY: &str = "callwatch_queue_item_id";

#[derive(Default)]
struct Turns {
    open: u32,
    /// Finals seen (by digest of timestamp and text) and the utterance each closed, so a
    /// replayed final names the same utterance and is a duplicate.
    finals: HashMap<String, u32>,
}

pub struct VapiProvider {
    name: String,
    secret: String,
    auth: WebhookAuth,
    api: ProviderApi,
    assistant_id: Option<String>,
    phone_number_id: Option<String>,
    /// Per call: its control URL (from the webhooks; else fetched from the API).
    control: Mutex<HashMap<String, String>>,
    /// Per (call, role): the open utterance number. Vapi's transcript messages carry no
    /// utterance id: partials revise the open one, a final closes it.
    turns: Mutex<HashMap<(String, String), Turns>>,
}

impl VapiProvider {
    pub fn new(config: &IntegrationConfig, http: reqwest::Client) -> Self {
        VapiProvider {
            name: config.name.clone(),
            secret: config.secret.clone(),
            auth: config.webhook_auth,
            api: ProviderApi::new(config, API_BASE, http),
            assistant_id: config.agent_id.clone(),
            phone_number_id: config.from_number.clone(),
            control: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
        }
    }

    fn verify(&self, request: &WebhookRequest) -> Result<(), WebhookError> {
        let h = &request.headers;
        let ok = match self.auth {
            WebhookAuth::Secret => {
                let got = common::header(h, "x-vapi-secret").ok_or_else(|| {
                    WebhookError::MissingSignature("no X-Vapi-Secret header".into())
                })?;
                common::same(got.as_bytes(), self.secret.as_bytes())
            }
            WebhookAuth::Bearer => {
                let got = common::header(h, "authorization")
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or_else(|| {
                        WebhookError::MissingSignature("no Authorization: Bearer header".into())
                    })?;
                common::same(got.trim().as_bytes(), self.secret.as_bytes())
            }
            WebhookAuth::Hmac => {
                let got = common::header(h, "x-vapi-signature").ok_or_else(|| {
                    WebhookError::MissingSignature("no X-Vapi-Signature header".into())
                })?;
                let got = hex::decode(got.trim_start_matches("sha256=")).map_err(|_| {
                    WebhookError::MissingSignature("X-Vapi-Signature is not hex".into())
                })?;
                let want = common::hmac_sha256(self.secret.as_bytes(), &[&request.body]);
                common::same(&got, &want)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    /// The utterance id for a transcript message, advancing the turn on a final.
    fn utterance(&self, call: &str, role: &str, is_final: bool, digest: &str) -> String {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        let key = (call.to_string(), role.to_string());
        if !turns.contains_key(&key) {
            common::bound(&mut turns);
        }
        let t = turns.entry(key).or_default();
        let n = if !is_final {
            t.open
        } else if let Some(n) = t.finals.get(digest) {
            *n
        } else {
            let n = t.open;
            t.finals.insert(digest.to_string(), n);
            t.open += 1;
            n
        };
        format!("{call}:{role}:{n}")
    }

    /// An ended call takes no more actions. Its utterance memory stays (bounded), so a
    /// final transcript replayed after the report is still a duplicate.
    fn forget(&self, call: &str) {
        self.control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(call);
    }

    async fn control_url(&self, call: &Call) -> Result<String, ProviderError> {
        let known = self
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&call.provider_call_id)
            .cloned();
        if let Some(url) = known {
            return Ok(url);
        }
        // Not seen since this gateway started: ask Vapi for the call.
        let key = self.api.key("control this call")?;
        let answer = self
            .api
            .send(
                self.api
                    .http
                    .get(self.api.url(&format!("/call/{}", call.provider_call_id)))
                    .bearer_auth(key),
            )
            .await?;
        let url = common::answer_field(&self.api, &answer, "/monitor/controlUrl")?;
        self.remember(&call.provider_call_id, &url);
        Ok(url)
    }

    fn remember(&self, call: &str, url: &str) {
        let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        if !control.contains_key(call) {
            common::bound(&mut control);
        }
        control.insert(call.to_string(), url.to_string());
    }
}

/// Vapi's live `transfer` message: a number or a SIP URI; with `warm`, the receiving person
/// first hears the given message (`warm-transfer-say-message`), or Vapi's own summary of
/// the call when it is empty (`warm-transfer-say-summary`).
fn transfer_body(to: &str, warm: Option<&str>) -> Value {
    let mut destination = if to.starts_with("sip") {
        json!({"type": "sip", "sipUri": to})
    } else {
        json!({"type": "number", "number": to})
    };
    match warm {
        Some("") => destination["transferPlan"] = json!({"mode": "warm-transfer-say-summary"}),
        Some(message) => {
            destination["transferPlan"] =
                json!({"mode": "warm-transfer-say-message", "message": message})
        }
        None => {}
    }
    json!({"type": "transfer", "destination": destination})
}

/// Vapi's `endedReason` as a callwatch outcome.
fn ended_outcome(reason: Option<&str>) -> String {
    let r = reason.unwrap_or("");
    if r.contains("voicemail") {
        outcome::VOICEMAIL.into()
    } else if r.contains("busy") {
        outcome::BUSY.into()
    } else if r.contains("no-answer") || r.contains("did-not-answer") {
        outcome::NO_ANSWER.into()
    } else if r.contains("error") || r.contains("failed") {
        outcome::FAILED.into()
    } else {
        outcome::COMPLETED.into()
    }
}

fn speaker(role: &str) -> Speaker {
    match role {
        "user" | "customer" => Speaker::Caller,
        "assistant" | "bot" => Speaker::Ai,
        _ => Speaker::System,
    }
}

/// The call's facts from Vapi's call object.
fn facts(call: &Value, id: &str, state: CallState) -> CallFacts {
    let outbound = common::text(call, "/type").is_some_and(|t| t.starts_with("outbound"));
    let customer = common::text(call, "/customer/number").unwrap_or_default();
    let ours = common::text(call, "/phoneNumber/number").unwrap_or_default();
    let (from, to) = if outbound {
        (ours, customer)
    } else {
        (customer, ours)
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
        assistant: common::text(call, "/assistant/name")
            .or_else(|| common::text(call, "/assistantId")),
        queue_item_id: common::text(call, &format!("/metadata/{QUEUE_ITEM_KEY}")),
        state,
    }
}

#[async_trait::async_trait]
impl Provider for VapiProvider {
    fn remembered_calls(&self) -> usize {
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner()).len();
        control + self.turns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        let mut caps: BTreeSet<Capability> = [
            // Take over mutes the assistant; the human speaks through say (text to speech).
            Capability::TakeOver,
            Capability::PauseAi,
            Capability::ResumeAi,
            Capability::Say,
            Capability::Instruct,
            Capability::End,
            // transfer on the control URL, to a number or SIP URI; warm with a spoken summary.
            Capability::Transfer,
            Capability::WarmTransfer,
            Capability::PhoneTakeOver,
            // After a text take over, unmuting gives the call back.
            Capability::HandBack,
        ]
        .into();
        if self.api.key.is_some() && self.assistant_id.is_some() && self.phone_number_id.is_some() {
            caps.insert(Capability::Dial);
        }
        caps
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        self.verify(request)?;
        let body = common::json_body(&request.body)?;
        let message = body
            .get("message")
            .filter(|m| m.is_object())
            .ok_or_else(|| WebhookError::Malformed("no \"message\" object".into()))?;
        let kind = common::required(message, "/type")?;
        let call = message
            .get("call")
            .ok_or_else(|| WebhookError::Malformed("no message.call object".into()))?;
        let id = common::required(call, "/id")?.to_string();
        if let Some(url) = common::text(call, "/monitor/controlUrl") {
            self.remember(&id, &url);
        }
        let at = common::number(message, "/timestamp").and_then(common::from_millis);
        let display = &self.api.display;
        let stamp = common::number(message, "/timestamp").unwrap_or_default() as i64;
        let mut out = Vec::new();
        let status = common::text(message, "/status");
        let initial = match status.as_deref() {
            Some("in-progress") | Some("forwarding") => CallState::InProgress,
            Some("queued") | Some("scheduled") => CallState::Queued,
            _ => CallState::Ringing,
        };
        out.push(facts(call, &id, initial).started(display, at));
        let pcid = id.clone();
        match kind {
            "status-update" => match status.as_deref() {
                Some("ended") => {
                    let reason = common::text(message, "/endedReason");
                    out.push(common::envelope(
                        format!("{id}:ended"),
                        at,
                        IngestEvent::CallEnded {
                            provider_call_id: pcid,
                            outcome: ended_outcome(reason.as_deref()),
                            cost: None,
                            duration_secs: None,
                            summary: None,
                            recording_url: None,
                        },
                    ));
                }
                Some(s) => {
                    let state = match s {
                        "ringing" => CallState::Ringing,
                        "in-progress" | "forwarding" => CallState::InProgress,
                        _ => return Ok(out),
                    };
                    out.push(common::envelope(
                        format!("{id}:status:{s}"),
                        at,
                        IngestEvent::CallStatus {
                            provider_call_id: pcid,
                            status: state,
                        },
                    ));
                }
                None => {
                    return Err(WebhookError::Malformed(
                        "status-update without status".into(),
                    ))
                }
            },
            "transcript" => {
                let role = common::required(message, "/role")?;
                let text = common::required(message, "/transcript")?.to_string();
                let is_final =
                    common::text(message, "/transcriptType").as_deref() != Some("partial");
                let digest = common::digest(&[stamp.to_string().as_bytes(), text.as_bytes()]);
                let utterance_id = self.utterance(&id, role, is_final, &digest);
                let speaker = speaker(role);
                let event = if is_final {
                    IngestEvent::TranscriptFinal {
                        provider_call_id: pcid,
                        utterance_id: utterance_id.clone(),
                        speaker,
                        text,
                    }
                } else {
                    IngestEvent::TranscriptPartial {
                        provider_call_id: pcid,
                        utterance_id: utterance_id.clone(),
                        speaker,
                        text,
                    }
                };
                let event_id = if is_final {
                    format!("{utterance_id}:final")
                } else {
                    format!("{utterance_id}:partial:{digest}")
                };
                out.push(common::envelope(event_id, at, event));
            }
            // The assistant speaking again clears a hang alert.
            "speech-update"
                if common::text(message, "/role").as_deref() == Some("assistant")
                    && common::text(message, "/status").as_deref() == Some("started") =>
            {
                out.push(common::envelope(
                    format!("{id}:speech:{stamp}"),
                    at,
                    IngestEvent::CallAlertCleared {
                        provider_call_id: pcid,
                        kind: alert_kind::AI_SILENT.into(),
                    },
                ));
            }
            "hang" => out.push(common::envelope(
                format!("{id}:hang:{stamp}"),
                at,
                IngestEvent::CallAlert {
                    provider_call_id: pcid,
                    kind: alert_kind::AI_SILENT.into(),
                    message: "Vapi reports the assistant has not answered for a while".into(),
                },
            )),
            "transfer-update" => {
                let to = common::text(message, "/destination/number")
                    .or_else(|| common::text(message, "/destination/sipUri"))
                    .unwrap_or_else(|| "another destination".into());
                out.push(common::envelope(
                    format!("{id}:transfer:{stamp}"),
                    at,
                    IngestEvent::CallAlert {
                        provider_call_id: pcid,
                        kind: "transfer".into(),
                        message: format!("Vapi is transferring the call to {to}"),
                    },
                ));
            }
            "end-of-call-report" => {
                let summary = common::text(message, "/analysis/summary")
                    .or_else(|| common::text(message, "/summary"));
                let recording = common::text(message, "/artifact/recordingUrl")
                    .or_else(|| common::text(message, "/recordingUrl"))
                    .or_else(|| common::text(message, "/artifact/recording/mono/combinedUrl"));
                let duration = common::number(message, "/durationSeconds");
                let success = message
                    .pointer("/analysis/successEvaluation")
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                out.push(common::envelope(
                    format!("{id}:analysis"),
                    at,
                    IngestEvent::CallAnalysis {
                        provider_call_id: pcid.clone(),
                        intent: success.map(|s| format!("success evaluation: {s}")),
                        sentiment: None,
                        summary: summary.clone(),
                    },
                ));
                out.push(common::envelope(
                    format!("{id}:report"),
                    at,
                    IngestEvent::CallEnded {
                        provider_call_id: pcid,
                        outcome: ended_outcome(common::text(message, "/endedReason").as_deref()),
                        cost: common::number(message, "/cost"),
                        duration_secs: duration,
                        summary,
                        recording_url: recording,
                    },
                ));
                self.forget(&id);
            }
            // conversation-update repeats what transcript messages already delivered; the
            // rest carry nothing callwatch shows.
            "speech-update"
            | "conversation-update"
            | "model-output"
            | "tool-calls"
            | "tool-calls-result"
            | "function-call"
            | "user-interrupted"
            | "assistant-request"
            | "assistant.started"
            | "phone-call-control"
            | "voice-input"
            | "voice-request"
            | "language-change-detected"
            | "knowledge-base-request"
            | "transfer-destination-request"
            | "session.created"
            | "session.updated"
            | "session.deleted"
            | "chat.created"
            | "chat.deleted"
            | "call.deleted"
            | "call.delete.failed" => {}
            other => return Err(WebhookError::UnknownEvent(other.to_string())),
        }
        Ok(out)
    }

    async fn perform(&self, call: &Call, action: &Action, _by: &str) -> Result<(), ProviderError> {
        let body = match action {
            Action::TakeOver {
                phone: Some(phone), ..
            } => transfer_body(phone, None),
            Action::TakeOver { .. } | Action::PauseAi => {
                json!({"type": "control", "control": "mute-assistant"})
            }
            Action::ResumeAi | Action::HandBack => {
                json!({"type": "control", "control": "unmute-assistant"})
            }
            Action::Transfer {
                to, mode, summary, ..
            } => transfer_body(
                to,
                (*mode == TransferMode::Warm).then(|| summary.as_deref().unwrap_or("")),
            ),
            Action::Say { text } => {
                json!({"type": "say", "content": text, "endCallAfterSpoken": false})
            }
            Action::Instruct { text } => json!({
                "type": "add-message",
                "message": {"role": "system", "content": text},
                "triggerResponseEnabled": true,
            }),
            Action::End => json!({"type": "end-call"}),
        };
        let url = self.control_url(call).await?;
        self.api
            .send(self.api.http.post(url).json(&body))
            .await
            .map(|_| ())
    }

    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError> {
        let (Some(assistant), Some(number)) = (&self.assistant_id, &self.phone_number_id) else {
            return Err(self
                .api
                .unsupported("dial queued calls (agent_id and from_number are not configured)"));
        };
        let key = self.api.key("dial queued calls")?;
        let body = json!({
            "assistantId": assistant,
            "phoneNumberId": number,
            "customer": {"number": item.phone_number, "name": item.lead.name},
            "metadata": {QUEUE_ITEM_KEY: item.id},
        });
        let answer = self
            .api
            .send(
                self.api
                    .http
                    .post(self.api.url("/call"))
                    .bearer_auth(key)
                    .json(&body),
            )
            .await?;
        Ok(DialStarted {
            provider_call_id: common::answer_field(&self.api, &answer, "/id")?,
        })
    }
}
