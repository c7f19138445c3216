//! The seed backend's REST paths, on the same [`RestClient`] (base URL + bearer token):
//! `GET /api/calls/active`, `GET /api/calls/{id}/transcript`, `POST /api/calls/{id}/takeover`
//! and `POST`/`DELETE /api/calls/{id}/pause-ai`. Answers are read leniently: a bare array or
//! an object wrapping it.

use chrono::Utc;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{ClientError, RestClient};
use crate::core::action::Action;
use crate::core::model::Call;
use crate::core::protocol::ActionResponse;
use crate::core::seed::{SeedCall, SeedEntry};

fn list(body: Value, keys: &[&str]) -> Vec<Value> {
    match body {
        Value::Array(a) => a,
        Value::Object(mut o) => keys
            .iter()
            .find_map(|k| match o.remove(*k) {
                Some(Value::Array(a)) => Some(a),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn unsupported(what: &str) -> ClientError {
    ClientError::Api {
        status: 501,
        code: "unsupported".into(),
        message: format!("this backend (a seed Socket.IO server) cannot {what}"),
        field: None,
    }
}

impl RestClient {
    /// The seed's live calls, as callwatch calls of `org`. Entries that are not calls are
    /// skipped, not fatal: one odd record must not blank the console.
    pub async fn seed_active(&self, org: &str) -> Result<Vec<Call>, ClientError> {
        let body: Value = self
            .send(self.request(Method::GET, "/api/calls/active"))
            .await?;
        let now = Utc::now();
        Ok(list(body, &["calls", "data", "activeCalls"])
            .into_iter()
            .filter_map(|v| serde_json::from_value::<SeedCall>(v).ok())
            .filter(|c| !c.id.is_empty())
            .map(|c| c.to_call(org, now))
            .filter(|c| c.state.is_active())
            .collect())
    }

    pub async fn seed_transcript(&self, id: &str) -> Result<Vec<SeedEntry>, ClientError> {
        let body: Value = self
            .send(self.request(Method::GET, &Self::call_path(id, "/transcript")))
            .await?;
        Ok(list(body, &["entries", "transcript", "data"])
            .into_iter()
            .filter_map(|v| serde_json::from_value::<SeedEntry>(v).ok())
            .collect())
    }

    /// Takes over, pauses or resumes with the seed's bodies. The seed's answer is not relied
    /// on to be a call: the call is read back from the active list.
    pub async fn seed_act(
        &self,
        org: &str,
        id: &str,
        action: &Action,
    ) -> Result<ActionResponse, ClientError> {
        let (method, tail, body) = match action {
            Action::TakeOver { reason, notes, .. } => (
                Method::POST,
                "/takeover",
                Some(json!({ "reason": reason, "notes": notes })),
            ),
            Action::PauseAi => (
                Method::POST,
                "/pause-ai",
                Some(json!({ "reason": "paused from the console" })),
            ),
            Action::ResumeAi => (Method::DELETE, "/pause-ai", None),
            other => return Err(unsupported(other.kind().what())),
        };
        let mut req = self.request(method, &Self::call_path(id, tail));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let _: Value = self.send(req).await?;
        let call = self
            .seed_active(org)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ClientError::Api {
                status: 404,
                code: "not_found".into(),
                message: "the call is no longer active".into(),
                field: None,
            })?;
        Ok(ActionResponse {
            action: action.name().into(),
            call,
            audit_id: 0,
        })
    }
}

/// What the console asks that the seed has no endpoint for.
pub fn seed_unsupported(what: &str) -> ClientError {
    unsupported(what)
}
