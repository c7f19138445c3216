//! Deltas on the stream: the hub remembers the last published version of every live call and
//! of the analytics, and encodes each new version also as the changes since the previous
//! one, once per event like the full frame; a connection that asked for deltas sends that
//! form only when its client is known to hold the previous version (docs/PROTOCOL.md).

use std::collections::HashMap;

use axum::extract::ws::Utf8Bytes;

use super::frames::{encode, Delta, Item, StreamItem};
use crate::core::delta::patch;
use crate::core::protocol::{ServerFrame, Snapshot, StreamDelta, StreamEvent};

/// The record an event is a version of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record<'a> {
    /// A live call: a later version may be sent as a delta.
    Call(&'a str),
    /// A call's last version (it ended): nothing is sent as a delta against it.
    CallEnd(&'a str),
    Analytics,
}

fn record(event: &StreamEvent) -> Option<Record<'_>> {
    match event {
        StreamEvent::CallUpdated { call } if call.state.is_active() => Some(Record::Call(&call.id)),
        StreamEvent::CallUpdated { call } | StreamEvent::CallEnded { call } => {
            Some(Record::CallEnd(&call.id))
        }
        StreamEvent::AnalyticsUpdated { .. } => Some(Record::Analytics),
        _ => None,
    }
}

/// The hub's last published version of each live call and of the analytics. Calls leave
/// when they end, as they leave the org's live state.
#[derive(Debug, Default)]
pub struct Versions {
    calls: HashMap<String, Item>,
    analytics: Option<Item>,
}

impl Versions {
    /// `event`, to be published as `seq`, as a delta against the previous version of its
    /// record, if there is one and the delta is the smaller frame.
    pub fn delta(&self, epoch: &str, seq: u64, event: &StreamEvent, full: usize) -> Option<Delta> {
        let (base, delta) = match (record(event)?, event) {
            (Record::Call(id), StreamEvent::CallUpdated { call }) => {
                let prev = self.calls.get(id)?;
                let StreamEvent::CallUpdated { call: old } = &prev.event else {
                    return None;
                };
                let p = patch(old, call)?;
                let delta = StreamDelta::CallUpdated {
                    call_id: call.id.clone(),
                    changes: p.changes,
                    edits: p.edits,
                };
                (prev.seq, delta)
            }
            (Record::Analytics, StreamEvent::AnalyticsUpdated { analytics }) => {
                let prev = self.analytics.as_ref()?;
                let StreamEvent::AnalyticsUpdated { analytics: old } = &prev.event else {
                    return None;
                };
                let p = patch(old, analytics)?;
                let delta = StreamDelta::AnalyticsUpdated {
                    changes: p.changes,
                    edits: p.edits,
                };
                (prev.seq, delta)
            }
            _ => return None,
        };
        let frame = encode(&ServerFrame::Delta {
            epoch: epoch.to_string(),
            seq,
            delta,
        });
        (frame.len() < full).then_some(Delta { base, frame })
    }

    /// Keeps a published item as the latest version of its record.
    pub fn record(&mut self, item: &Item) {
        match record(&item.event) {
            Some(Record::Call(id)) => {
                self.calls.insert(id.to_string(), item.clone());
            }
            Some(Record::CallEnd(id)) => {
                self.calls.remove(id);
            }
            Some(Record::Analytics) => self.analytics = Some(item.clone()),
            None => {}
        }
    }

    /// Live calls with a version kept (a count for `/api/debug/live`).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Which versions a client holds once it has `snapshot` (taken at the hub's seq): those
    /// of the records the snapshot carries exactly as they were last published.
    pub fn held_by(&self, snapshot: &Snapshot) -> Held {
        let mut held = Held::default();
        for c in &snapshot.calls {
            if let Some(item) = self.calls.get(&c.call.id) {
                if matches!(&item.event, StreamEvent::CallUpdated { call } if *call == c.call) {
                    held.calls.insert(c.call.id.clone(), item.seq);
                }
            }
        }
        held.analytics = self.analytics.as_ref().and_then(|item| {
            matches!(&item.event, StreamEvent::AnalyticsUpdated { analytics } if *analytics == snapshot.analytics)
                .then_some(item.seq)
        });
        held
    }
}

/// What one connection's client holds: for each record, the seq of the version it has
/// (from an event sent on this connection or from its snapshot).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Held {
    calls: HashMap<String, u64>,
    analytics: Option<u64>,
}

impl Held {
    /// The frame to send for `item`: its delta when the client holds the version it applies
    /// to, else the full event (always valid). Records what the client then holds.
    pub fn frame(&mut self, item: &StreamItem) -> Utf8Bytes {
        let Some(rec) = record(&item.event) else {
            return item.frame.clone();
        };
        let holds = |base: u64| match rec {
            Record::Call(id) => self.calls.get(id) == Some(&base),
            Record::Analytics => self.analytics == Some(base),
            Record::CallEnd(_) => false,
        };
        let frame = match &item.delta {
            Some(d) if holds(d.base) => d.frame.clone(),
            _ => item.frame.clone(),
        };
        match rec {
            Record::Call(id) => {
                self.calls.insert(id.to_string(), item.seq);
            }
            Record::CallEnd(id) => {
                self.calls.remove(id);
            }
            Record::Analytics => self.analytics = Some(item.seq),
        }
        frame
    }

    /// An event of `item`'s record that was not sent: the client's version is not known.
    pub fn skipped(&mut self, item: &StreamItem) {
        match record(&item.event) {
            Some(Record::Call(id) | Record::CallEnd(id)) => {
                self.calls.remove(id);
            }
            Some(Record::Analytics) => self.analytics = None,
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
