//! What the stream sends: a published event with its frame encoded once (and its delta),
//! shared by reference among every subscriber. Used by the hub (which makes them), the
//! deltas (which keep them as versions) and the stream connections (which send them).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::core::protocol::{ServerFrame, StreamEvent};

/// A published event and its serialised [`ServerFrame::Event`]: serialised once, and the
/// same bytes (reference-counted) sent to every websocket subscriber; likewise its delta.
#[derive(Debug)]
pub struct StreamItem {
    pub seq: u64,
    pub event: StreamEvent,
    pub frame: Utf8Bytes,
    /// The event as changes since the previous version of its call or analytics, for
    /// clients that hold that version (none for events read back from the log).
    pub delta: Option<Delta>,
}

pub type Item = Arc<StreamItem>;

/// An event also encoded as the changes since the previous version of its record.
#[derive(Debug)]
pub struct Delta {
    /// The seq of the version the changes apply to.
    pub base: u64,
    pub frame: Utf8Bytes,
}

pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    match serde_json::to_string(frame) {
        Ok(s) => s.into(),
        // Cannot happen for these types (string map keys only); never panic on it.
        Err(e) => format!(r#"{{"type":"error","message":"cannot encode frame: {e}"}}"#).into(),
    }
}
