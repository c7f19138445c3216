//! callwatch's own normalised call events: the body of `POST /api/ingest`, and what every
//! provider adapter (and the simulator) turns its webhooks into.
//!
//! Each event names the call by the provider's call id; the gateway maps it to its own call.
//! Events are idempotent by `id`: the gateway applies an id once and answers a repeat with
//! 200 `{"duplicate": true}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{CallState, Direction, Lead, Sentiment, Speaker};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestEnvelope {
    /// Unique per event, chosen by the sender; used for de-duplication.
    pub id: String,
    /// When it happened at the provider; the gateway uses its own clock when absent.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub event: IngestEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum IngestEvent {
    /// A call exists (ringing or already answered). Repeats update the call's details.
    #[serde(rename = "call.started")]
    CallStarted {
        provider_call_id: String,
        direction: Direction,
        from: String,
        to: String,
        /// Display name of the voice stack ("Vapi", "Retell"...); the integration's when absent.
        #[serde(default)]
        provider: Option<String>,
        #[serde(default)]
        lead: Option<Lead>,
        #[serde(default)]
        campaign: Option<String>,
        #[serde(default)]
        assistant: Option<String>,
        /// The queue item this call dials, for outbound calls the gateway asked for.
        #[serde(default)]
        queue_item_id: Option<String>,
        /// Initial state; `ringing` when absent.
        #[serde(default)]
        state: Option<CallState>,
    },
    #[serde(rename = "call.status")]
    CallStatus {
        provider_call_id: String,
        status: CallState,
    },
    /// Speech-to-text in progress: creates the utterance's entry or revises its text.
    #[serde(rename = "transcript.partial")]
    TranscriptPartial {
        provider_call_id: String,
        /// The provider's id of this utterance: partials and the final of one utterance share it.
        utterance_id: String,
        speaker: Speaker,
        text: String,
    },
    /// The utterance's final text.
    #[serde(rename = "transcript.final")]
    TranscriptFinal {
        provider_call_id: String,
        utterance_id: String,
        speaker: Speaker,
        text: String,
    },
    #[serde(rename = "call.analysis")]
    CallAnalysis {
        provider_call_id: String,
        #[serde(default)]
        intent: Option<String>,
        #[serde(default)]
        sentiment: Option<Sentiment>,
        #[serde(default)]
        summary: Option<String>,
    },
    /// Something a supervisor should look at (see `model::alert_kind`).
    #[serde(rename = "call.alert")]
    CallAlert {
        provider_call_id: String,
        kind: String,
        message: String,
    },
    /// Clears alerts of a kind (e.g. the AI spoke again).
    #[serde(rename = "call.alert_cleared")]
    CallAlertCleared {
        provider_call_id: String,
        kind: String,
    },
    /// A recording of the call is available (the call may still be live, or ended).
    #[serde(rename = "call.recording")]
    CallRecording {
        provider_call_id: String,
        recording_url: String,
    },
    #[serde(rename = "call.ended")]
    CallEnded {
        provider_call_id: String,
        /// See `model::outcome`; free string.
        outcome: String,
        #[serde(default)]
        cost: Option<f64>,
        #[serde(default)]
        duration_secs: Option<f64>,
        #[serde(default)]
        summary: Option<String>,
        #[serde(default)]
        recording_url: Option<String>,
    },
}

impl IngestEvent {
    /// The event's `type` as it is written on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            IngestEvent::CallStarted { .. } => "call.started",
            IngestEvent::CallStatus { .. } => "call.status",
            IngestEvent::TranscriptPartial { .. } => "transcript.partial",
            IngestEvent::TranscriptFinal { .. } => "transcript.final",
            IngestEvent::CallAnalysis { .. } => "call.analysis",
            IngestEvent::CallAlert { .. } => "call.alert",
            IngestEvent::CallAlertCleared { .. } => "call.alert_cleared",
            IngestEvent::CallRecording { .. } => "call.recording",
            IngestEvent::CallEnded { .. } => "call.ended",
        }
    }

    pub fn provider_call_id(&self) -> &str {
        match self {
            IngestEvent::CallStarted {
                provider_call_id, ..
            }
            | IngestEvent::CallStatus {
                provider_call_id, ..
            }
            | IngestEvent::TranscriptPartial {
                provider_call_id, ..
            }
            | IngestEvent::TranscriptFinal {
                provider_call_id, ..
            }
            | IngestEvent::CallAnalysis {
                provider_call_id, ..
            }
            | IngestEvent::CallAlert {
                provider_call_id, ..
            }
            | IngestEvent::CallAlertCleared {
                provider_call_id, ..
            }
            | IngestEvent::CallRecording {
                provider_call_id, ..
            }
            | IngestEvent::CallEnded {
                provider_call_id, ..
            } => provider_call_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The gateway is shutting down or the sink was dropped.
    #[error("the gateway is not accepting events: {0}")]
    Closed(String),
    /// The event was refused (unknown call, invalid transition...). Not retryable.
    #[error("event refused: {0}")]
    Refused(String),
}

/// Where an in-process provider (the simulator) delivers its events. The gateway hands each
/// provider a sink already bound to the provider's org and integration name, and applies
/// events exactly as it applies a verified `POST /api/ingest`.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync {
    async fn submit(&self, event: IngestEnvelope) -> Result<(), SinkError>;
}

#[cfg(test)]
mod tests {
    use super::IngestEvent;

    #[test]
    fn type_name_is_the_wire_type_of_every_event() {
        let p = r#""provider_call_id": "p""#;
        let bodies = [
            format!(
                r#"{{"type": "call.started", {p}, "direction": "inbound", "from": "a", "to": "b"}}"#
            ),
            format!(r#"{{"type": "call.status", {p}, "status": "ringing"}}"#),
            format!(
                r#"{{"type": "transcript.partial", {p}, "utterance_id": "u", "speaker": "caller", "text": "t"}}"#
            ),
            format!(
                r#"{{"type": "transcript.final", {p}, "utterance_id": "u", "speaker": "caller", "text": "t"}}"#
            ),
            format!(r#"{{"type": "call.analysis", {p}}}"#),
            format!(r#"{{"type": "call.alert", {p}, "kind": "k", "message": "m"}}"#),
            format!(r#"{{"type": "call.alert_cleared", {p}, "kind": "k"}}"#),
            format!(r#"{{"type": "call.recording", {p}, "recording_url": "u"}}"#),
            format!(r#"{{"type": "call.ended", {p}, "outcome": "completed"}}"#),
        ];
        for body in bodies {
            let event: IngestEvent =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
            let wire = serde_json::to_value(&event).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(wire["type"], event.type_name(), "{body}");
        }
    }
}
