//! The "seed" backend's Socket.IO vocabulary: the event names, the camelCase call and
//! transcript shapes its web dashboard expects, and the conversions to and from callwatch's
//! own model. Used both ways: the gateway serves these events to existing dashboards, and the
//! console attaches to a seed backend and reads them. docs/SOCKETIO.md lists the mapping and
//! what each direction loses.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{
    Call, CallState, Direction, Lead, Sentiment, Speaker, Takeover, TranscriptEntry,
};

pub const EVENT_CALL_UPDATED: &str = "call:updated";
pub const EVENT_TRANSCRIPT_UPDATE: &str = "transcript:update";
/// Client -> server: join the room of one call (`"<callId>"` or `{"callId": ...}`).
pub const EVENT_CALL_JOIN: &str = "call:join";
pub const EVENT_CALL_LEAVE: &str = "call:leave";
pub const EVENT_TRANSCRIPT_SUBSCRIBE: &str = "transcript:subscribe";

/// A call as the seed's dashboard reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedCall {
    pub id: String,
    /// "queued", "ringing", "in-progress", "ai-paused", "taken-over", "ended".
    pub status: String,
    pub direction: Option<String>,
    pub phone_number: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub lead_id: Option<String>,
    pub lead_name: Option<String>,
    pub campaign_id: Option<String>,
    pub provider: Option<String>,
    pub is_ai_paused: bool,
    pub is_taken_over: bool,
    pub taken_over_by: Option<String>,
    pub takeover_reason: Option<String>,
    pub takeover_notes: Option<String>,
    pub outcome: Option<String>,
    pub sentiment: Option<String>,
    pub intent: Option<String>,
    pub summary: Option<String>,
    pub duration: Option<f64>,
    pub cost: Option<f64>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One transcript line as the seed's dashboard reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedEntry {
    pub id: Option<String>,
    /// "caller", "ai", "human" or "system"; "user"/"customer" and "assistant"/"agent"/"bot"
    /// are read too.
    pub speaker: String,
    pub text: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub is_final: Option<bool>,
    pub position: Option<u32>,
}

/// The payload of `transcript:update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedTranscriptUpdate {
    pub call_id: String,
    pub entry: SeedEntry,
}

fn state_str(state: CallState) -> &'static str {
    match state {
        CallState::Queued => "queued",
        CallState::Ringing => "ringing",
        CallState::InProgress => "in-progress",
        CallState::AiPaused => "ai-paused",
        CallState::TakenOver => "taken-over",
        CallState::Ended => "ended",
    }
}

fn speaker_str(s: Speaker) -> &'static str {
    match s {
        Speaker::Caller => "caller",
        Speaker::Ai => "ai",
        Speaker::Human => "human",
        Speaker::System => "system",
    }
}

fn sentiment_str(s: Sentiment) -> Option<String> {
    match s {
        Sentiment::Positive => Some("positive".into()),
        Sentiment::Neutral => Some("neutral".into()),
        Sentiment::Negative => Some("negative".into()),
        Sentiment::Unknown => None,
    }
}

impl SeedCall {
    pub fn from_call(c: &Call) -> SeedCall {
        let phone = match c.direction {
            Direction::Inbound => &c.from,
            Direction::Outbound => &c.to,
        };
        SeedCall {
            id: c.id.clone(),
            status: state_str(c.state).into(),
            direction: Some(
                match c.direction {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                }
                .into(),
            ),
            phone_number: Some(phone.clone()),
            from: Some(c.from.clone()),
            to: Some(c.to.clone()),
            lead_id: c.lead.id.clone(),
            lead_name: c.lead.name.clone(),
            campaign_id: c.campaign.clone(),
            provider: Some(c.provider.clone()),
            is_ai_paused: matches!(c.state, CallState::AiPaused | CallState::TakenOver),
            is_taken_over: c.takeover.is_some(),
            taken_over_by: c.takeover.as_ref().map(|t| t.by.clone()),
            takeover_reason: c.takeover.as_ref().map(|t| t.reason.clone()),
            takeover_notes: c.takeover.as_ref().and_then(|t| t.notes.clone()),
            outcome: c.outcome.clone(),
            sentiment: sentiment_str(c.sentiment),
            intent: c.intent.clone(),
            summary: c.summary.clone(),
            duration: c.duration_secs,
            cost: c.cost,
            started_at: c.started_at,
            ended_at: c.ended_at,
            created_at: Some(c.created_at),
            updated_at: Some(c.updated_at),
        }
    }

    /// The call in callwatch's model. Fields the seed does not have get neutral values;
    /// `org` and `integration` name the attached backend.
    pub fn to_call(&self, org: &str, now: DateTime<Utc>) -> Call {
        let status = self.status.to_ascii_lowercase().replace('_', "-");
        let ended = matches!(
            status.as_str(),
            "ended" | "completed" | "failed" | "no-answer" | "busy" | "canceled" | "cancelled"
        );
        let state = if ended {
            CallState::Ended
        } else if self.is_taken_over || self.taken_over_by.is_some() || status == "taken-over" {
            CallState::TakenOver
        } else if self.is_ai_paused || status == "ai-paused" || status == "paused" {
            CallState::AiPaused
        } else {
            match status.as_str() {
                "queued" | "scheduled" | "pending" => CallState::Queued,
                "ringing" | "initiated" | "dialing" => CallState::Ringing,
                _ => CallState::InProgress,
            }
        };
        let direction = match self.direction.as_deref() {
            Some("inbound") => Direction::Inbound,
            _ => Direction::Outbound,
        };
        let phone = self.phone_number.clone().unwrap_or_default();
        let (from, to) = match direction {
            Direction::Inbound => (self.from.clone().unwrap_or(phone), self.to.clone()),
            Direction::Outbound => (self.from.clone().unwrap_or_default(), Some(phone)),
        };
        let takeover = (state == CallState::TakenOver).then(|| Takeover {
            by: self
                .taken_over_by
                .clone()
                .unwrap_or_else(|| "someone".into()),
            reason: self.takeover_reason.clone().unwrap_or_default(),
            notes: self.takeover_notes.clone(),
            at: self.updated_at.unwrap_or(now),
            phone: None,
        });
        let sentiment = match self.sentiment.as_deref() {
            Some("positive") => Sentiment::Positive,
            Some("neutral") => Sentiment::Neutral,
            Some("negative") => Sentiment::Negative,
            _ => Sentiment::Unknown,
        };
        Call {
            id: self.id.clone(),
            org: org.into(),
            integration: "seed".into(),
            provider: self.provider.clone().unwrap_or_else(|| "seed".into()),
            provider_call_id: self.id.clone(),
            direction,
            from,
            to: to.unwrap_or_default(),
            lead: Lead {
                id: self.lead_id.clone(),
                name: self.lead_name.clone(),
            },
            campaign: self.campaign_id.clone(),
            assistant: None,
            state,
            created_at: self.created_at.or(self.started_at).unwrap_or(now),
            started_at: self.started_at,
            ended_at: self.ended_at,
            duration_secs: self.duration,
            intent: self.intent.clone(),
            sentiment,
            outcome: self
                .outcome
                .clone()
                .or_else(|| ended.then(|| status.clone())),
            cost: self.cost,
            recording_url: None,
            summary: self.summary.clone(),
            takeover,
            alerts: Vec::new(),
            queue_item_id: None,
            // What a seed backend can do is the backend's (`client::Backend`), not per call.
            capabilities: None,
            compliance: None,
            updated_at: self.updated_at.unwrap_or(now),
        }
    }
}

impl SeedEntry {
    pub fn from_entry(e: &TranscriptEntry) -> SeedEntry {
        SeedEntry {
            id: Some(e.id.clone()),
            speaker: speaker_str(e.speaker).into(),
            text: e.text.clone(),
            timestamp: Some(e.at),
            is_final: Some(e.is_final),
            position: Some(e.position),
        }
    }

    pub fn speaker(&self) -> Speaker {
        match self.speaker.to_ascii_lowercase().as_str() {
            "ai" | "assistant" | "agent" | "bot" => Speaker::Ai,
            "human" | "supervisor" | "operator" => Speaker::Human,
            "system" => Speaker::System,
            _ => Speaker::Caller,
        }
    }

    /// A stable identity for deduplication when the seed sends no id: the same line sent
    /// twice (a replay after reconnecting) has the same speaker, time and text.
    pub fn key(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => format!(
                "{}|{}|{}",
                self.speaker,
                self.timestamp.map(|t| t.to_rfc3339()).unwrap_or_default(),
                self.text
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_call_reads_back_with_its_state_and_people() {
        let json = r#"{"id":"c1","status":"in-progress","phoneNumber":"+15550001111",
            "leadName":"Ada","isAiPaused":true,"startedAt":"2026-01-01T10:00:00Z"}"#;
        let seed: SeedCall = serde_json::from_str(json).unwrap();
        let call = seed.to_call("seed", Utc::now());
        assert_eq!(call.state, CallState::AiPaused);
        assert_eq!(call.to, "+15550001111");
        assert_eq!(call.lead.name.as_deref(), Some("Ada"));

        let back = SeedCall::from_call(&call);
        assert_eq!(back.status, "ai-paused");
        assert!(back.is_ai_paused && !back.is_taken_over);
        assert_eq!(back.phone_number.as_deref(), Some("+15550001111"));
    }

    #[test]
    fn taken_over_and_ended_win_over_the_status_string() {
        let mut seed = SeedCall {
            id: "c".into(),
            status: "in-progress".into(),
            taken_over_by: Some("sam".into()),
            ..SeedCall::default()
        };
        assert_eq!(seed.to_call("o", Utc::now()).state, CallState::TakenOver);
        seed.status = "completed".into();
        let call = seed.to_call("o", Utc::now());
        assert_eq!(call.state, CallState::Ended);
        assert_eq!(call.outcome.as_deref(), Some("completed"));
    }

    #[test]
    fn speakers_accept_the_common_synonyms() {
        let e = |s: &str| SeedEntry {
            speaker: s.into(),
            ..SeedEntry::default()
        };
        assert_eq!(e("assistant").speaker(), Speaker::Ai);
        assert_eq!(e("user").speaker(), Speaker::Caller);
        assert_eq!(e("supervisor").speaker(), Speaker::Human);
    }
}
