//! The gateway's stream: connection changes, snapshots and events.

use super::{calls, info, queue, set_status, subscribe};
use crate::client::StreamMsg;
use crate::console::app::{App, CallView, Conn, Screen, StatusKind, AUDIT_PER_CALL};
use crate::console::clean;
use crate::console::transcript::Transcript;
use crate::core::delta;
use crate::core::model::CallState;
use crate::core::protocol::{ResyncReason, StreamDelta, StreamEvent};

// Inlined: the hot path of a busy stream (a benchmark measures it).
#[inline]
pub(super) fn stream(app: &mut App, m: StreamMsg) {
    match m {
        StreamMsg::Connecting { attempt } => {
            if !matches!(app.session.conn, Conn::AuthFailed(_)) {
                app.session.conn = Conn::Connecting { attempt };
            }
        }
        StreamMsg::Connected {
            org,
            actor,
            role,
            resumed,
            reason,
        } => {
            app.session.org = Some(clean::text(&org));
            app.session.actor = Some(clean::text(&actor));
            app.session.role = Some(role);
            let resynced = !resumed && reason.is_some_and(|r| r != ResyncReason::NewClient);
            app.session.conn = Conn::Connected {
                resynced_at: resynced.then_some(app.now),
            };
        }
        StreamMsg::Snapshot(mut snap) => {
            clean::snapshot(&mut snap);
            let snap = *snap;
            app.session.org = Some(snap.org);
            // Rebuild in one step (no empty intermediate frame): same selection, no duplicates.
            app.live.calls = snap
                .calls
                .into_iter()
                .filter(|c| c.call.state.is_active())
                .map(|c| {
                    (
                        c.call.id.clone(),
                        CallView {
                            call: c.call,
                            transcript: Transcript::new(c.transcript),
                        },
                    )
                })
                .collect();
            app.queue.items = snap
                .queue
                .into_iter()
                .filter(|q| q.state.is_waiting())
                .collect();
            app.analytics = snap.analytics;
            for v in app.live.calls.values() {
                app.alerts.observe(&v.call);
            }
            app.live
                .lingering
                .retain(|id, _| app.live.calls.contains_key(id));
            calls::reorder(app);
        }
        StreamMsg::Event { event, .. } => apply_event(app, *event),
        StreamMsg::Delta { seq, delta } => apply_delta(app, seq, *delta),
        StreamMsg::Resync { reason } => {
            app.session.conn = Conn::Connected {
                resynced_at: Some(app.now),
            };
            let why = match reason {
                ResyncReason::Lagged => "this console fell behind",
                ResyncReason::TooFarBehind => "too many events were missed",
                ResyncReason::EpochChanged => "the gateway restarted",
                ResyncReason::NewClient => "new connection",
            };
            info(app, &format!("resynced with the gateway ({why})"));
        }
        StreamMsg::ServerError { message } => set_status(
            app,
            StatusKind::Error,
            format!("gateway: {}", clean::text(&message)),
        ),
        StreamMsg::Disconnected { error, retry_in } => {
            let at = app.now + chrono::Duration::from_std(retry_in).unwrap_or_default();
            app.session.conn = Conn::Reconnecting {
                at,
                error: clean::text(&error),
            };
        }
        StreamMsg::Presence { mut watchers } => {
            for w in &mut watchers {
                w.actor = clean::text(&w.actor);
                w.call_id = clean::text(&w.call_id);
            }
            app.presence = watchers;
        }
        StreamMsg::Subscribed { calls, transcripts } => {
            subscribe::answered(app, &calls, transcripts)
        }
        StreamMsg::AuthFailed { message } => {
            app.session.conn = Conn::AuthFailed(clean::text(&message))
        }
    }
}

/// A change to a call or the analytics this console holds. One it cannot apply (a call it
/// does not hold, fields that do not fit) changes nothing: it is logged and the console
/// starts over from a fresh snapshot, so no change is lost.
#[inline]
fn apply_delta(app: &mut App, seq: u64, d: StreamDelta) {
    let applied = match d {
        StreamDelta::CallUpdated {
            call_id,
            changes,
            edits,
        } => {
            let id = clean::text(&call_id);
            match app.live.calls.get(&id) {
                None => Err(format!(
                    "a change to call {id}, which this console does not hold"
                )),
                Some(v) => delta::apply(&v.call, &changes, &edits).map(|mut call| {
                    clean::call(&mut call);
                    calls::upsert(app, call);
                }),
            }
        }
        StreamDelta::AnalyticsUpdated { changes, edits } => {
            delta::apply(&app.analytics, &changes, &edits).map(|mut analytics| {
                clean::analytics(&mut analytics);
                app.analytics = analytics;
            })
        }
    };
    if let Err(e) = applied {
        tracing::warn!(seq, error = %e, "a stream delta does not fit; asking for a snapshot");
        app.resync_due = Some(seq);
        app.dirty = false;
    }
}

#[inline]
fn apply_event(app: &mut App, event: StreamEvent) {
    match event {
        StreamEvent::CallUpdated { mut call } => {
            clean::call(&mut call);
            if call.state == CallState::Ended {
                calls::end(app, call);
            } else {
                calls::upsert(app, call);
            }
        }
        StreamEvent::CallEnded { mut call } => {
            clean::call(&mut call);
            calls::end(app, call);
        }
        StreamEvent::TranscriptAppended { mut entry }
        | StreamEvent::TranscriptRevised { mut entry } => {
            clean::entry(&mut entry);
            if let Some(v) = app.live.calls.get_mut(&entry.call_id) {
                let id = entry.call_id.as_str();
                let visible = app.screen == Screen::Calls
                    && (app.live.selected.as_deref() == Some(id)
                        || app.live.wall.iter().any(|w| w == id));
                v.transcript.upsert(entry);
                app.dirty = visible;
            } else {
                app.dirty = false;
            }
        }
        StreamEvent::QueueUpdated { mut item } => {
            clean::queue_item(&mut item);
            queue::upsert(app, item);
        }
        StreamEvent::AnalyticsUpdated { mut analytics } => {
            clean::analytics(&mut analytics);
            app.analytics = analytics;
        }
        StreamEvent::ActionAudited { mut audit } => {
            clean::audit(&mut audit);
            if let Some(id) = audit.call_id.clone() {
                // The detail panel's audit trail, kept only for calls on screen or alerted.
                if app.live.calls.contains_key(&id) || app.alerts.call(&id).is_some() {
                    let list = app.audit.entry(id).or_default();
                    list.push_back(audit.clone());
                    while list.len() > AUDIT_PER_CALL {
                        list.pop_front();
                    }
                }
            }
            // Our own actions are reported by their results; show what others do.
            let mine = app.session.actor.as_deref() == Some(audit.actor.as_str());
            if !mine && audit.ok {
                if let Some(id) = audit.call_id.clone() {
                    // When it arrived here, not the gateway's clock: no skew between machines.
                    app.recent
                        .insert(id, (audit.actor.clone(), audit.action.clone(), app.now));
                }
                let who = audit
                    .call_id
                    .as_ref()
                    .and_then(|id| app.live.calls.get(id))
                    .map(|v| app.who(&v.call))
                    .unwrap_or_else(|| "a call".into());
                let text = format!(
                    "{} did {} on {}",
                    clean::text(&audit.actor),
                    clean::text(&audit.action),
                    who
                );
                info(app, &text);
            }
        }
    }
}
