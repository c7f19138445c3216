//! The generic "custom" integration: any voice stack that sends callwatch's normalised events
//! to `POST /api/ingest` (signed) and takes actions as signed JSON POSTs to its control URL.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::core::action::{Action, Capability};
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{Call, QueueItem};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;
use crate::gateway::ingest;

pub struct CustomProvider {
    name: String,
    display: String,
    secret: String,
    control_url: Option<String>,
    capabilities: BTreeSet<Capability>,
    http: reqwest::Client,
}

impl CustomProvider {
    pub fn new(config: &IntegrationConfig, http: reqwest::Client) -> CustomProvider {
        let capabilities = match (&config.control_url, &config.capabilities) {
            // Without a control URL there is nowhere to send actions.
            (None, _) => BTreeSet::new(),
            (Some(_), Some(caps)) => caps.clone(),
            (Some(_), None) => Capability::ALL.into_iter().collect(),
        };
        CustomProvider {
            name: config.name.clone(),
            display: config
                .display_name
                .clone()
                .unwrap_or_else(|| config.name.clone()),
            secret: config.secret.clone(),
            control_url: config.control_url.clone(),
            capabilities,
            http,
        }
    }

    pub fn display_name(&self) -> &str {
        &self.display
    }

    async fn post(&self, body: serde_json::Value) -> Result<reqwest::Response, ProviderError> {
        let Some(url) = &self.control_url else {
            return Err(ProviderError::Unsupported {
                provider: self.display.clone(),
                what: "take actions (no control_url is configured)".into(),
            });
        };
        let raw = serde_json::to_vec(&body).map_err(|e| ProviderError::Upstream(e.to_string()))?;
        let t = Utc::now().timestamp();
        let resp = self
            .http
            .post(url)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .header(ingest::INTEGRATION_HEADER, &self.name)
            .header(
                ingest::SIGNATURE_HEADER,
                ingest::signature_header(&self.secret, t, &raw),
            )
            .body(raw)
            .send()
            .await
            .map_err(|e| {
                let why = if e.is_timeout() {
                    "it did not answer within 10 s".to_string()
                } else if e.is_connect() {
                    "the connection was refused or could not be made".to_string()
                } else {
                    e.without_url().to_string()
                };
                ProviderError::Upstream(format!(
                    "could not reach the control URL of integration `{}`: {why}",
                    self.name
                ))
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(ProviderError::Gone(format!(
                "{} no longer knows this call (its control URL answered {status})",
                self.display
            )));
        }
        Err(ProviderError::Upstream(format!(
            "the control URL of integration `{}` answered {status}; the action was not carried out",
            self.name
        )))
    }
}

/// Body of an action POST to a control URL (documented in docs/PROTOCOL.md).
pub fn action_body(call: &Call, action: &Action, by: &str) -> serde_json::Value {
    let (name, extra) = match action {
        Action::TakeOver {
            reason,
            notes,
            phone,
            ..
        } => (
            action.name(),
            json!({"by": by, "reason": reason, "notes": notes, "phone": phone}),
        ),
        Action::Transfer {
            to,
            name,
            mode,
            summary,
        } => (
            action.name(),
            json!({"by": by, "to": to, "destination": name, "mode": mode, "summary": summary}),
        ),
        Action::HandBack => (action.name(), json!({ "by": by })),
        Action::PauseAi | Action::ResumeAi => (action.name(), json!({})),
        Action::Say { text } | Action::Instruct { text } => {
            (action.name(), json!({ "text": text }))
        }
        Action::End => (action.name(), json!({ "by": by })),
    };
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "action": name,
        "call_id": call.id,
        "provider_call_id": call.provider_call_id,
        "params": extra,
    })
}

#[async_trait::async_trait]
impl Provider for CustomProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        self.capabilities.clone()
    }

    /// Verifies the signature over the raw body, then reads one envelope or an array of them.
    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        ingest::verify(
            &self.secret,
            &request.headers,
            &request.body,
            Utc::now().timestamp(),
        )?;
        let value: serde_json::Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("the body is not JSON: {e}")))?;
        let items = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value::<IngestEnvelope>(v)
                    .map_err(|e| WebhookError::Malformed(format!("event {i}: {e}")))
            })
            .collect()
    }

    async fn perform(&self, call: &Call, action: &Action, by: &str) -> Result<(), ProviderError> {
        self.post(action_body(call, action, by)).await.map(|_| ())
    }

    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError> {
        let resp = self
            .post(json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "action": "dial",
                "queue_item": item,
            }))
            .await?;
        // The stack may answer {"provider_call_id": "..."}; the call itself arrives as a
        // `call.started` event carrying `queue_item_id`.
        let id = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("provider_call_id")?.as_str().map(String::from))
            .unwrap_or_default();
        Ok(DialStarted {
            provider_call_id: id,
        })
    }
}
