//! Which calls' transcripts the gateway sends this console: the ones it shows (the selected
//! call, the wall's tiles, the open history call). Everything else about calls comes anyway.

use crate::client::Backend;
use crate::console::app::App;
use crate::console::clean;
use crate::console::transcript::Transcript;
use crate::core::protocol::Transcript as CallTranscript;

/// Recomputes the set after a message. A call that leaves it drops its transcript: no live
/// entries come for it any more, so what is kept would go stale; the gateway sends it whole
/// again when the call comes back into view.
pub(super) fn refresh(app: &mut App) {
    // The seed backend sends every transcript and has no subscriptions: keep them all.
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
    for gone in app.subscribed.iter().filter(|id| !wanted.contains(id)) {
        if let Some(v) = app.live.calls.get_mut(gone) {
            v.transcript = Transcript::default();
        }
    }
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

/// The gateway's answer to a subscription: the whole transcripts of the calls it added.
/// Answers for calls no longer wanted are dropped (a later answer brings them if they return).
pub(super) fn transcripts(app: &mut App, transcripts: Vec<CallTranscript>) {
    for t in transcripts {
        if !app.subscribed.contains(&t.call_id) {
            continue;
        }
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
