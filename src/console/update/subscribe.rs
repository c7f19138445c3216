//! Which calls' transcripts the gateway sends this console: the ones it shows (the selected
//! call, the wall's tiles, the open history call). Everything else about calls comes anyway.

use crate::client::Backend;
use crate::console::app::App;
use crate::console::clean;
use crate::console::transcript::Transcript;
use crate::core::protocol::Transcript as CallTranscript;

/// Recomputes the set after a message (the runtime hands it to the stream task).
pub(super) fn refresh(app: &mut App) {
    // The seed backend sends every transcript and has no subscriptions.
    if app.session.backend != Backend::Gateway {
        return;
    }
    // The hot path (every stream event) allocates nothing when the set is unchanged.
    if unchanged(app) {
        return;
    }
    let mut wanted: Vec<String> = shown(app).map(String::from).collect();
    wanted.sort_unstable();
    wanted.dedup();
    app.subscribed = wanted;
}

/// The calls shown, possibly with repeats (the selected call is usually on the wall too).
fn shown(app: &App) -> impl Iterator<Item = &str> {
    let live = &app.live;
    live.selected
        .as_deref()
        .into_iter()
        .chain(live.wall.iter().map(String::as_str))
        .chain(app.history.detail.as_ref().map(|d| d.call.id.as_str()))
}

/// Every call shown is in the (sorted) set, and the set has no other.
fn unchanged(app: &App) -> bool {
    let set = &app.subscribed;
    let mut distinct = 0;
    for (i, id) in shown(app).enumerate() {
        if set.binary_search_by(|s| s.as_str().cmp(id)).is_err() {
            return false;
        }
        if !shown(app).take(i).any(|earlier| earlier == id) {
            distinct += 1;
        }
    }
    distinct == set.len()
}

/// The gateway's answer to a subscription: the set now in force and the whole transcripts
/// of the calls it added. A live call outside the set drops its transcript: no lines come
/// for it any more, so a kept copy would go stale (it comes whole again with the answer
/// that adds the call back). Only the gateway's word counts here, not what this console
/// wants meanwhile: a call left and brought back before the gateway heard of it never
/// stopped flowing and keeps its lines.
pub(super) fn answered(app: &mut App, calls: &[String], transcripts: Vec<CallTranscript>) {
    for (id, v) in app.live.calls.iter_mut() {
        if !v.transcript.entries.is_empty() && !calls.contains(id) {
            v.transcript = Transcript::default();
        }
    }
    for t in transcripts {
        let mut entries = t.entries;
        entries.iter_mut().for_each(clean::entry);
        if let Some(d) = app
            .history
            .detail
            .as_mut()
            .filter(|d| d.call.id == t.call_id)
        {
            d.transcript = Transcript::new(entries.clone());
        }
        if let Some(v) = app.live.calls.get_mut(&t.call_id) {
            v.transcript = Transcript::new(entries);
        }
    }
}
