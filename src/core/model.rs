//! The domain model: calls, transcripts, the dialing queue, analytics and the audit log.
//!
//! These types are the JSON the REST API returns and the stream carries, so field names are
//! part of the public protocol (docs/PROTOCOL.md). Enums serialise as snake_case strings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type CallId = String;
pub type OrgId = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Where a call is in its life. `InProgress` means the AI is talking; `AiPaused` means the AI
/// is muted but nobody took over; `TakenOver` means a human owns the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Queued,
    Ringing,
    InProgress,
    AiPaused,
    TakenOver,
    Ended,
}

impl CallState {
    pub fn is_active(self) -> bool {
        !matches!(self, CallState::Ended)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Queued => "queued",
            CallState::Ringing => "ringing",
            CallState::InProgress => "in_progress",
            CallState::AiPaused => "ai_paused",
            CallState::TakenOver => "taken_over",
            CallState::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Caller,
    Ai,
    Human,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Positive,
    Neutral,
    Negative,
    #[default]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Lead {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Takeover {
    /// The token name of the person who took over.
    pub by: String,
    pub reason: String,
    #[serde(default)]
    pub notes: Option<String>,
    pub at: DateTime<Utc>,
    /// The phone the caller was bridged to ("human: dana on phone"); `None` when the human
    /// types and the AI's voice speaks their lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Well-known alert kinds; providers may send others.
pub mod alert_kind {
    pub const AI_SILENT: &str = "ai_silent";
    pub const NEGATIVE_SENTIMENT: &str = "negative_sentiment";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Well-known outcomes. Outcomes are free strings (providers and scenarios add their own,
/// e.g. "appointment_booked"); these are the ones the gateway itself reasons about.
pub mod outcome {
    pub const COMPLETED: &str = "completed";
    pub const VOICEMAIL: &str = "voicemail";
    pub const NO_ANSWER: &str = "no_answer";
    pub const BUSY: &str = "busy";
    pub const FAILED: &str = "failed";
    pub const ENDED_BY_SUPERVISOR: &str = "ended_by_supervisor";
    /// A supervisor transferred the caller to another number: the AI is off the call.
    pub const TRANSFERRED: &str = "transferred";
    /// The gateway lost the call: its in-process provider (the simulator) stopped with the
    /// gateway before the call ended. Counts as neither completed nor missed.
    pub const INTERRUPTED: &str = "interrupted";

    /// Outcomes a supervisor's action set: the provider's own end of the call later fills
    /// in its figures but does not replace them, and the AI did not contain such a call.
    pub const BY_SUPERVISOR: &[&str] = &[ENDED_BY_SUPERVISOR, TRANSFERRED];

    /// Outcomes that count as a missed call in analytics (nobody talked to the AI).
    pub const MISSED: &[&str] = &[NO_ANSWER, BUSY, FAILED, VOICEMAIL];

    /// Outcomes after which a queued outbound call is retried (see docs/PROTOCOL.md).
    pub const RETRYABLE: &[&str] = &[NO_ANSWER, BUSY];

    pub fn is_missed(outcome: &str) -> bool {
        MISSED.contains(&outcome)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// callwatch's own id (uuid string).
    pub id: CallId,
    pub org: OrgId,
    /// The configured integration that owns this call and carries out actions on it
    /// (key into the gateway's provider registry), e.g. "simulator", "vapi-main".
    pub integration: String,
    /// Display name of the voice stack, e.g. "Vapi", "Retell", "Twilio".
    pub provider: String,
    pub provider_call_id: String,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub lead: Lead,
    #[serde(default)]
    pub campaign: Option<String>,
    /// Name of the AI assistant/agent handling the call.
    #[serde(default)]
    pub assistant: Option<String>,
    pub state: CallState,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds talked; set when the call ends (live calls: now - started_at).
    #[serde(default)]
    pub duration_secs: Option<f64>,
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub sentiment: Sentiment,
    #[serde(default)]
    pub outcome: Option<String>,
    /// US dollars.
    #[serde(default)]
    pub cost: Option<f64>,
    #[serde(default)]
    pub recording_url: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub takeover: Option<Takeover>,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// Queue item this call was dialed from, if any.
    #[serde(default)]
    pub queue_item_id: Option<String>,
    /// What the call's voice stack can do, as its integration declares: the console refuses
    /// other keys up front. Absent from calls recorded before the gateway sent it (then
    /// every action is offered and the gateway answers 422 when it cannot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<std::collections::BTreeSet<super::capability::Capability>>,
    /// Disclosure / consent results, stored once their deadline passed (docs/COMPLIANCE.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<super::compliance::status::ComplianceStatus>,
    pub updated_at: DateTime<Utc>,
}

impl Call {
    /// Duration so far for a live call, or the final duration for an ended one.
    pub fn duration_at(&self, now: DateTime<Utc>) -> Option<f64> {
        if let Some(d) = self.duration_secs {
            return Some(d);
        }
        self.started_at
            .map(|s| ((now - s).num_milliseconds().max(0) as f64) / 1000.0)
    }
}

/// One utterance. A partial entry is revised in place (same id and position) until it
/// becomes final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub id: String,
    pub call_id: CallId,
    /// 0-based position within the call's transcript; strictly increasing, no gaps.
    pub position: u32,
    pub speaker: Speaker,
    pub text: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    Pending,
    Scheduled,
    Dialing,
    Done,
    Cancelled,
    Failed,
}

impl QueueState {
    /// Still waiting to be dialed (shown in the console's queue).
    pub fn is_waiting(self) -> bool {
        matches!(self, QueueState::Pending | QueueState::Scheduled)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub id: String,
    pub org: OrgId,
    #[serde(default)]
    pub lead: Lead,
    pub phone_number: String,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub agent_settings: serde_json::Value,
    /// When to dial; `None` means as soon as possible.
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// IANA zone of the callee, overriding the one derived from the number (calling hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub state: QueueState,
    pub attempts: u32,
    /// The call of the latest attempt.
    #[serde(default)]
    pub call_id: Option<CallId>,
    /// Outcome or error of the latest attempt.
    #[serde(default)]
    pub last_result: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinuteCount {
    pub minute: DateTime<Utc>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Analytics {
    pub total_calls: u64,
    pub inbound_calls: u64,
    pub outbound_calls: u64,
    pub completed_calls: u64,
    pub missed_calls: u64,
    /// completed / ended, 0..=1.
    pub completion_rate: f64,
    pub total_duration_minutes: f64,
    pub total_cost: f64,
    pub intents: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    pub takeovers: u64,
    /// Completed calls that no human took over / completed calls, 0..=1.
    pub ai_containment_rate: f64,
    pub avg_handle_seconds: f64,
    /// Calls started per minute, oldest first, for the last hour (or the requested range).
    pub calls_per_minute: Vec<MinuteCount>,
    /// Present when `group_by=campaign` was asked: the same figures per campaign
    /// (their own `groups` is empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Analytics>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Agent,
    Supervisor,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub org: OrgId,
    #[serde(default)]
    pub call_id: Option<CallId>,
    #[serde(default)]
    pub queue_item_id: Option<String>,
    /// Token name (never the token itself).
    pub actor: String,
    pub role: Role,
    /// e.g. "takeover", "pause_ai", "resume_ai", "say", "instruct", "end", "summary",
    /// "initiate", "cancel", "dial_now".
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub detail: serde_json::Value,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}
