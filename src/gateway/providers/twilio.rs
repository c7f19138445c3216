//! Twilio: status and recording callbacks (form-encoded; or JSON with `bodySHA256` in the
//! query) on `POST /api/calls/status`, `/api/calls/recording` and `/webhooks/{name}/...`,
//! signed `X-Twilio-Signature` over the public URL. Callbacks arrive out of order and more
//! than once: a status older (by `SequenceNumber`) than one already applied is dropped.
//! Actions through the Calls API: complete a call, place outbound calls.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::common::{self, CallFacts, ProviderApi};
use crate::core::action::{Action, Capability};
use crate::core::ingest::{IngestEnvelope, IngestEvent};
use crate::core::model::{outcome, Call, CallState, Direction, QueueItem};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;

pub const API_BASE: &str = "https://api.twilio.com";
/// Query parameter of the status callback URL that names the queue item a dial is for.
pub const QUEUE_ITEM_PARAM: &str = "queue_item_id";

pub struct TwilioProvider {
    name: String,
    auth_token: String,
    account_sid: Option<String>,
    from_number: Option<String>,
    twiml_url: Option<String>,
    /// Where Twilio should send status callbacks for calls callwatch places.
    status_callback: Option<String>,
    api: ProviderApi,
    /// Per CallSid: the rank of the newest status applied.
    newest: Mutex<HashMap<String, u64>>,
}

/// Base64(HMAC-SHA1(token, url + sorted name+value pairs)): Twilio's request signature.
pub fn signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The order of a status within a call's life, for callbacks without SequenceNumber.
fn status_rank(status: &str) -> u64 {
    match status {
        "queued" | "initiated" => 1,
        "ringing" => 2,
        "in-progress" | "answered" => 3,
        _ => 4,
    }
}

impl TwilioProvider {
    pub fn new(
        config: &IntegrationConfig,
        public_url: Option<&str>,
        http: reqwest::Client,
    ) -> Self {
        TwilioProvider {
            name: config.name.clone(),
            auth_token: config.secret.clone(),
            account_sid: config.account_sid.clone(),
            from_number: config.from_number.clone(),
            twiml_url: config.agent_id.clone(),
            status_callback: public_url.map(|base| {
                format!(
                    "{}/webhooks/{}/status",
                    base.trim_end_matches('/'),
                    config.name
                )
            }),
            api: ProviderApi::new(config, API_BASE, http),
            newest: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies the signature and returns the callback's parameters.
    fn verify(&self, request: &WebhookRequest) -> Result<Vec<(String, String)>, WebhookError> {
        let got = common::header(&request.headers, "x-twilio-signature")
            .ok_or_else(|| WebhookError::MissingSignature("no X-Twilio-Signature header".into()))?;
        let got = base64::engine::general_purpose::STANDARD
            .decode(got)
            .map_err(|_| {
                WebhookError::MissingSignature("X-Twilio-Signature is not base64".into())
            })?;
        let json = common::header(&request.headers, "content-type")
            .is_some_and(|c| c.starts_with("application/json"));
        let params: Vec<(String, String)> = if json {
            // JSON bodies: the URL (with bodySHA256) is signed, the body is hashed into it.
            let want = query_param(&request.url, "bodySHA256").ok_or_else(|| {
                WebhookError::MissingSignature(
                    "a JSON callback without bodySHA256 in its URL".into(),
                )
            })?;
            let have = hex::encode(Sha256::digest(&request.body));
            if !common::same(want.to_ascii_lowercase().as_bytes(), have.as_bytes()) {
                return Err(WebhookError::BadSignature);
            }
            self.check(&got, &request.url, &[])?;
            let value = common::json_body(&request.body)?;
            let Some(map) = value.as_object() else {
                return Err(WebhookError::Malformed(
                    "the body is not a JSON object".into(),
                ));
            };
            return Ok(map
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect());
        } else {
            serde_urlencoded::from_bytes(&request.body).map_err(|e| {
                WebhookError::Malformed(format!("the body is not form-encoded: {e}"))
            })?
        };
        self.check(&got, &request.url, &params)?;
        Ok(params)
    }

    fn check(
        &self,
        got: &[u8],
        url: &str,
        params: &[(String, String)],
    ) -> Result<(), WebhookError> {
        let want = signature(&self.auth_token, url, params);
        let want = base64::engine::general_purpose::STANDARD
            .decode(want)
            .unwrap_or_default();
        if common::same(got, &want) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    /// Whether a status of this rank is newer than every status applied to the call.
    fn is_newest(&self, sid: &str, rank: u64) -> bool {
        let mut newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        if !newest.contains_key(sid) {
            common::bound(&mut newest);
        }
        let seen = newest.entry(sid.to_string()).or_insert(0);
        if rank > *seen {
            *seen = rank;
            true
        } else {
            false
        }
    }

    fn calls_url(&self, sid: &str, rest: &str) -> String {
        self.api
            .url(&format!("/2010-04-01/Accounts/{sid}/Calls{rest}.json"))
    }
}

#[async_trait::async_trait]
impl Provider for TwilioProvider {
    fn remembered_calls(&self) -> usize {
        self.newest.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        let mut caps = BTreeSet::new();
        if self.account_sid.is_some() {
            caps.insert(Capability::End);
            // Updating the live call with TwiML that dials: the app's AI leaves the call.
            caps.insert(Capability::Transfer);
            caps.insert(Capability::PhoneTakeOver);
            if self.from_number.is_some() && self.twiml_url.is_some() {
                caps.insert(Capability::Dial);
            }
        }
        caps
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        let params = self.verify(request)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let sid =
            get("CallSid").ok_or_else(|| WebhookError::Malformed("no CallSid parameter".into()))?;
        let at = get("Timestamp")
            .and_then(|t| chrono::DateTime::parse_from_rfc2822(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        let outbound = get("Direction").is_some_and(|d| d.starts_with("outbound"));
        let facts = |state| CallFacts {
            provider_call_id: sid.clone(),
            direction: if outbound {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            from: get("From").unwrap_or_default(),
            to: get("To").unwrap_or_default(),
            assistant: None,
            queue_item_id: query_param(&request.url, QUEUE_ITEM_PARAM),
            state,
        };
        let display = &self.api.display;
        if let Some(recording) = get("RecordingSid") {
            // A recording callback: only a completed recording has a URL worth showing.
            let mut out = vec![facts(CallState::InProgress).started(display, at)];
            if get("RecordingStatus").as_deref().unwrap_or("completed") == "completed" {
                let url = get("RecordingUrl").ok_or_else(|| {
                    WebhookError::Malformed("a completed recording without RecordingUrl".into())
                })?;
                out.push(common::envelope(
                    format!("{sid}:recording:{recording}"),
                    at,
                    IngestEvent::CallRecording {
                        provider_call_id: sid.clone(),
                        recording_url: url,
                    },
                ));
            }
            return Ok(out);
        }
        let status = get("CallStatus")
            .ok_or_else(|| WebhookError::Malformed("no CallStatus parameter".into()))?;
        let seq = get("SequenceNumber").and_then(|s| s.parse::<u64>().ok());
        let state = match status.as_str() {
            "queued" | "initiated" => CallState::Queued,
            "ringing" => CallState::Ringing,
            "in-progress" | "answered" => CallState::InProgress,
            "completed" | "busy" | "failed" | "no-answer" | "canceled" => CallState::Ended,
            other => {
                return Err(WebhookError::Malformed(format!(
                    "unknown CallStatus {other:?}"
                )))
            }
        };
        let mut out = vec![facts(if state == CallState::Ended {
            CallState::Ringing
        } else {
            state
        })
        .started(display, at)];
        if state == CallState::Ended {
            // The end is final whatever arrives after it.
            self.is_newest(&sid, u64::MAX);
            let result = match status.as_str() {
                "busy" => outcome::BUSY,
                "no-answer" => outcome::NO_ANSWER,
                "failed" => outcome::FAILED,
                "canceled" => "canceled",
                _ if get("AnsweredBy").is_some_and(|a| a.starts_with("machine")) => {
                    outcome::VOICEMAIL
                }
                _ => outcome::COMPLETED,
            };
            out.push(common::envelope(
                format!("{sid}:ended"),
                at,
                IngestEvent::CallEnded {
                    provider_call_id: sid.clone(),
                    outcome: result.to_string(),
                    cost: None,
                    duration_secs: get("CallDuration")
                        .or_else(|| get("Duration"))
                        .and_then(|d| d.parse().ok()),
                    summary: None,
                    recording_url: None,
                },
            ));
        } else {
            // Sequence numbers order callbacks; without one, the status's place in a call's
            // life does. Both leave room above for the final status.
            let rank = seq.map_or(status_rank(&status), |s| s.saturating_add(1) * 10);
            if self.is_newest(&sid, rank) {
                out.push(common::envelope(
                    format!("{sid}:status:{status}:{}", seq.unwrap_or_default()),
                    at,
                    IngestEvent::CallStatus {
                        provider_call_id: sid.clone(),
                        status: state,
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn perform(&self, call: &Call, action: &Action, _by: &str) -> Result<(), ProviderError> {
        let form = match action {
            Action::End => ("Status", "completed".to_string()),
            Action::Transfer { to, .. }
            | Action::TakeOver {
                phone: Some(to), ..
            } => ("Twiml", common::dial_twiml(to)),
            other => return Err(self.api.unsupported(other.kind().capability().describe())),
        };
        let Some(account) = &self.account_sid else {
            return Err(self.api.unsupported(&format!(
                "{} (account_sid is not configured)",
                action.kind().capability().describe()
            )));
        };
        let request = self
            .api
            .http
            .post(self.calls_url(account, &format!("/{}", call.provider_call_id)))
            .basic_auth(account, Some(&self.auth_token))
            .form(&[form]);
        self.api.send(request).await.map(|_| ())
    }

    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError> {
        let (Some(account), Some(from), Some(twiml)) =
            (&self.account_sid, &self.from_number, &self.twiml_url)
        else {
            return Err(self.api.unsupported(
                "dial queued calls (account_sid, from_number and agent_id, the TwiML URL, are needed)",
            ));
        };
        let mut form: Vec<(&str, String)> = vec![
            ("To", item.phone_number.clone()),
            ("From", from.clone()),
            ("Url", twiml.clone()),
        ];
        if let Some(callback) = &self.status_callback {
            let q = serde_urlencoded::to_string([(QUEUE_ITEM_PARAM, &item.id)]).unwrap_or_default();
            form.push(("StatusCallback", format!("{callback}?{q}")));
            for event in ["initiated", "ringing", "answered", "completed"] {
                form.push(("StatusCallbackEvent", event.to_string()));
            }
        }
        let request = self
            .api
            .http
            .post(self.calls_url(account, ""))
            .basic_auth(account, Some(&self.auth_token))
            .form(&form);
        let answer = self.api.send(request).await?;
        Ok(DialStarted {
            provider_call_id: common::answer_field(&self.api, &answer, "/sid")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_public_signature_example_verifies() {
        // Twilio's own example (security docs): token, URL, params, expected signature.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
    }

    #[test]
    fn queue_item_is_read_from_the_callback_url() {
        assert_eq!(
            query_param(
                "https://g.example/api/calls/status?queue_item_id=q%201&x=2",
                "queue_item_id"
            ),
            Some("q 1".to_string())
        );
        assert_eq!(query_param("https://g.example/api/calls/status", "x"), None);
    }
}
