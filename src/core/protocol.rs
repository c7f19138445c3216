//! Wire protocol between the gateway and its clients: the websocket event stream frames and
//! the REST request/response bodies. docs/PROTOCOL.md documents them with example frames.
//!
//! Stream: `GET /api/stream?epoch=<E>&since=<S>` with `Authorization: Bearer <token>`.
//! The server's first frame is always [`ServerFrame::Welcome`]. If `resumed` is true, the
//! events after `since` follow, then live ones. Otherwise a [`ServerFrame::Snapshot`] follows,
//! then live events with `seq` greater than the snapshot's. A client that falls behind gets
//! [`ServerFrame::Resync`] followed by a fresh snapshot; events are never skipped silently.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::action::{TakeoverMode, TransferMode};
use super::delta::ArrayEdit;
use super::model::{Analytics, AuditEntry, Call, QueueItem, TranscriptEntry};

/// Why the server could not resume a client from where it left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// The client gave no position: a first connection.
    NewClient,
    /// The server restarted (or its stream was reset) since the client's position.
    EpochChanged,
    /// The missed events are older than the bounded history.
    TooFarBehind,
    /// The client read too slowly and its send buffer overflowed.
    Lagged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallWithTranscript {
    pub call: Call,
    pub transcript: Vec<TranscriptEntry>,
}

/// Everything a console needs to draw from scratch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub epoch: String,
    /// The sequence number of the last event included in this snapshot.
    pub seq: u64,
    pub org: String,
    pub calls: Vec<CallWithTranscript>,
    pub queue: Vec<QueueItem>,
    pub analytics: Analytics,
}

/// The events of the stream. Each is wrapped in [`ServerFrame::Event`] with its epoch and seq.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A call appeared or changed (state, analysis, alerts, takeover...). Carries the whole call.
    CallUpdated {
        call: Call,
    },
    /// A new transcript entry (position = previous last + 1).
    TranscriptAppended {
        entry: TranscriptEntry,
    },
    /// An existing entry's text changed or it became final (same id and position).
    TranscriptRevised {
        entry: TranscriptEntry,
    },
    /// A queue item appeared or changed (including cancelled/done).
    QueueUpdated {
        item: QueueItem,
    },
    AnalyticsUpdated {
        analytics: Analytics,
    },
    /// The call ended; carries the final call. Clients move it from active to history.
    CallEnded {
        call: Call,
    },
    /// A supervisor action (or its failure) was recorded in the audit log.
    ActionAudited {
        audit: AuditEntry,
    },
}

/// What changed in a record since the version the client holds: the fields of a JSON merge
/// patch (RFC 7396, see [`crate::core::delta`]). Each replaces the full event of the same
/// `kind` and seq.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamDelta {
    /// The call `call_id` changed (it is still live): `changes` are its fields that did.
    CallUpdated {
        call_id: String,
        changes: serde_json::Map<String, serde_json::Value>,
        /// Array fields that changed only at their ends, as edits (applied after `changes`).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        edits: BTreeMap<String, ArrayEdit>,
    },
    /// The analytics changed: `changes` are the fields that did.
    AnalyticsUpdated {
        changes: serde_json::Map<String, serde_json::Value>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        edits: BTreeMap<String, ArrayEdit>,
    },
}

// Frames are built, serialised and dropped; boxing the event would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        epoch: String,
        /// The server's latest sequence number at connect time.
        seq: u64,
        org: String,
        /// Token name the connection is authenticated as.
        actor: String,
        role: super::model::Role,
        resumed: bool,
        #[serde(default)]
        reason: Option<ResyncReason>,
        heartbeat_secs: u64,
        /// The connection asked for deltas (`?deltas=1`) and gets them: [`ServerFrame::Delta`]
        /// may stand for `call_updated` and `analytics_updated` events.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deltas: bool,
    },
    Snapshot {
        snapshot: Box<Snapshot>,
    },
    Event {
        epoch: String,
        seq: u64,
        event: StreamEvent,
    },
    /// In place of the event numbered `seq`, to a client that asked for deltas and holds
    /// the record's previous version: only what changed (docs/PROTOCOL.md, "Deltas").
    Delta {
        epoch: String,
        seq: u64,
        delta: StreamDelta,
    },
    /// The client must drop its state; a Snapshot follows on this connection.
    Resync {
        reason: ResyncReason,
    },
    Heartbeat {
        epoch: String,
        seq: u64,
        at: DateTime<Utc>,
    },
    Error {
        message: String,
    },
    /// Who looks at which call in the org (sent to clients that sent `watching`, whenever it
    /// changes). Not sequenced: it describes the moment, not the history.
    Presence {
        watchers: Vec<Watcher>,
    },
    /// The answer to a `subscribe` (and to `?calls=` on connect): the set now in force
    /// (`null`: everything) and the transcripts of the calls it added, complete up to `seq`.
    /// Transcript events of those calls with a seq up to `seq` are not sent; later ones are.
    /// `seq` is not a stream position: events of other calls with a lower seq may follow.
    Subscribed {
        #[serde(default)]
        calls: Option<Vec<String>>,
        seq: u64,
        #[serde(default)]
        transcripts: Vec<Transcript>,
    },
}

/// One console showing one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watcher {
    /// Token name of the console's user.
    pub actor: String,
    pub call_id: String,
}

/// Frames a client may send. Optional: position can also be given in the query string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Ask for a fresh snapshot (e.g. the client detected a gap).
    Resync,
    Ping,
    /// The call this console shows now (`null`: none). Opts in to `presence` frames.
    Watching {
        #[serde(default)]
        call_id: Option<String>,
    },
    /// The calls whose transcript entries this connection receives, replacing the previous
    /// set (`null` or absent: every call's, as before any `subscribe`). Call-level events
    /// (calls, queue, analytics, audit) always come for the whole org.
    Subscribe {
        #[serde(default)]
        calls: Option<Vec<String>>,
    },
}

/// At most this many calls in one subscription (a console shows a handful).
pub const MAX_SUBSCRIBED_CALLS: usize = 256;

// ---- REST bodies ----

/// Every non-2xx answer of the REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable: "unauthorized", "forbidden", "not_found", "conflict", "busy",
    /// "invalid", "idempotency_key_reused", "unsupported", "rate_limited", "too_large",
    /// "upstream_failed", "internal", "unavailable" (docs/PROTOCOL.md has the table).
    pub error: String,
    /// A sentence a person understands, e.g. "the AI is not paused, so it cannot be resumed".
    pub message: String,
    /// The offending request field, for 400/422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakeoverRequest {
    pub reason: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// `text` (type-to-talk) or `phone` (bridge the caller to the taker's configured
    /// phone). Absent: the phone when the taker has one and the provider can, else text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TakeoverMode>,
}

/// Body of `POST /api/calls/{id}/transfer`: `to` (E.164 or `sip:`) or `destination` (the
/// name of one of the org's destinations), not both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(default)]
    pub mode: TransferMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// One of the org's named transfer destinations (`[[gateway.destinations]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub name: String,
    pub to: String,
}

/// `GET /api/destinations`: where the org's calls can be transferred, and the asker's own
/// phone for a take over with a voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DestinationList {
    pub destinations: Vec<Destination>,
    #[serde(default)]
    pub my_phone: Option<String>,
}

/// Body of `say` (spoken to the caller) and `instruct` (private to the AI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextRequest {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitiateRequest {
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(default)]
    pub lead_name: Option<String>,
    pub phone_number: String,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub agent_settings: serde_json::Value,
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// IANA zone of the callee when the number does not tell (calling hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// Answer of every call action (`takeover`, `pause-ai`, `say`, ...): the call after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResponse {
    pub action: String,
    pub call: Call,
    pub audit_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallList {
    pub calls: Vec<Call>,
    /// Pass as `cursor` to get the next page of history; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub call_id: String,
    pub entries: Vec<TranscriptEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueList {
    pub items: Vec<QueueItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub epoch: String,
}
