//! Dograh (open source): the post-run webhook of a workflow run into history. Dograh's
//! webhook node sends the headers it is configured with and signs nothing, so callwatch
//! asks for `Authorization: Bearer <secret>` there. Live control is Dograh's own
//! signalling websocket, not an HTTP API: no actions.

use std::collections::BTreeSet;

use serde_json::Value;

use super::common::{self, CallFacts, PostCall};
use crate::core::action::{Action, Capability};
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{outcome, Call, CallState, Direction, QueueItem};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};
use crate::gateway::config::IntegrationConfig;

pub struct DograhProvider {
    name: String,
    display: String,
    secret: String,
}

impl DograhProvider {
    pub fn new(config: &IntegrationConfig) -> Self {
        DograhProvider {
            name: config.name.clone(),
            display: common::display_name(config),
            secret: config.secret.clone(),
        }
    }
}

#[async_trait::async_trait]
impl Provider for DograhProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> BTreeSet<Capability> {
        BTreeSet::new()
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<IngestEnvelope>, WebhookError> {
        let got = common::header(&request.headers, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                WebhookError::MissingSignature("no Authorization: Bearer header".into())
            })?;
        if !common::same(got.trim().as_bytes(), self.secret.as_bytes()) {
            return Err(WebhookError::BadSignature);
        }
        let run = common::json_body(&request.body)?;
        let id = match run.get("workflow_run_id") {
            Some(Value::Number(n)) => n.to_string(),
            _ => common::required(&run, "/workflow_run_id")?.to_string(),
        };
        let ctx = run.get("gathered_context").cloned().unwrap_or(Value::Null);
        let phone = common::text(&ctx, "/phone_number")
            .or_else(|| common::text(&run, "/phone_number"))
            .unwrap_or_default();
        let cost = common::number(&run, "/cost_info/total_cost_usd")
            .or_else(|| common::number(&run, "/cost_info/dograh_token_usage"));
        Ok(PostCall {
            facts: CallFacts {
                provider_call_id: id,
                // Dograh's campaigns dial out; a run without a campaign was a call in.
                direction: if run.get("campaign_id").is_some_and(|c| !c.is_null()) {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                },
                from: String::new(),
                to: phone,
                assistant: run.get("workflow_id").map(|w| match w {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
                queue_item_id: None,
                state: CallState::InProgress,
            },
            started_at: common::rfc3339(&run, "/call_time"),
            ended_at: None,
            transcript: Vec::new(),
            summary: common::text(&ctx, "/call_summary").or_else(|| common::text(&ctx, "/summary")),
            intent: common::text(&ctx, "/call_disposition"),
            outcome: outcome::COMPLETED.into(),
            cost,
            duration_secs: common::number(&run, "/cost_info/call_duration_seconds"),
            recording_url: common::text(&run, "/recording_url"),
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
