//! The Calls screen: selection, filter and sort order, actions on the selected call, and
//! live calls arriving, changing and ending.

use crate::console::update::CallAction;
use chrono::{DateTime, Utc};

use super::{dialog, fit, info, keep_visible, set_status, start, Effect, Request};
use crate::console::app::{
    customer_number, App, CallView, LiveCalls, Modal, Screen, SortKey, StatusKind, TranscriptView,
};
use crate::console::keys::Action;
use crate::console::rules;
use crate::console::transcript::{find_all, Transcript};
use crate::core::model::{Call, CallState};

impl LiveCalls {
    /// Selects a call; a different call starts with a fresh transcript view that keeps the
    /// user's timestamps and search.
    fn select(&mut self, id: Option<String>) {
        if self.selected != id {
            self.selected = id;
            self.view = TranscriptView {
                timestamps: self.view.timestamps,
                search: self.view.search.clone(),
                ..TranscriptView::default()
            };
        }
    }

    /// Keeps the selected row within the `rows` shown.
    pub(super) fn keep_visible(&mut self, rows: usize) {
        if let Some(i) = self.selected_index() {
            self.top = fit(self.top, i, rows, self.order.len());
        }
    }
}

pub(super) fn move_selection(app: &mut App, delta: isize) {
    let live = &mut app.live;
    if live.order.is_empty() {
        return;
    }
    let cur = live.selected_index().unwrap_or(0) as isize;
    let next = (cur + delta).clamp(0, live.order.len() as isize - 1) as usize;
    let id = live.order[next].clone();
    live.select(Some(id));
}

/// `o` cycles the sort column (`next`), `O` reverses it.
pub(super) fn sort(app: &mut App, next: bool) {
    if app.screen != Screen::Calls {
        return info(app, "sorting works on the Calls screen");
    }
    let live = &mut app.live;
    if next {
        live.sort = live.sort.next();
        live.sort_desc = live.sort == SortKey::Duration;
    } else {
        live.sort_desc = !live.sort_desc;
    }
    reorder(app);
    let dir = if app.live.sort_desc {
        "descending"
    } else {
        "ascending"
    };
    let text = format!("sorted by {} ({dir})", app.live.sort.title());
    info(app, &text);
}

/// An action on the selected call: checked against the call's state and our role, then a
/// dialog or a request.
pub(super) fn action(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    if app.screen != Screen::Calls {
        return info(
            app,
            &format!("{} works on the Calls screen", action.label()),
        );
    }
    let Some(view) = app.live.selected_call() else {
        return set_status(app, StatusKind::Error, "no call selected".into());
    };
    let call = &view.call;
    if let Err(reason) = rules::check(action, call, app.session.role) {
        let text = format!("cannot {}: {reason}", action.label());
        return set_status(app, StatusKind::Error, text);
    }
    let call_id = call.id.clone();
    let who = app.who(call);
    if let Some(d) = dialog::for_call(action, call, who.clone()) {
        app.modal = Some(Modal::Dialog(d));
        return;
    }
    match action {
        Action::PauseAi => {
            start(
                app,
                format!("pausing the AI on the call with {who}"),
                Request::Act {
                    call_id,
                    action: CallAction::PauseAi,
                },
                fx,
            );
        }
        Action::ResumeAi => {
            start(
                app,
                format!("resuming the AI on the call with {who}"),
                Request::Act {
                    call_id,
                    action: CallAction::ResumeAi,
                },
                fx,
            );
        }
        Action::Summarize => {
            start(
                app,
                format!("asking for a summary of the call with {who}"),
                Request::Summarize { call_id },
                fx,
            );
        }
        Action::AddToDnc => {
            let number = customer_number(call).to_string();
            start(
                app,
                format!("adding {who} to the do-not-call list"),
                Request::AddToDnc { number, call_id },
                fx,
            );
        }
        _ => {}
    }
}

/// A call that is new or changed (from the stream or an action's answer).
pub(super) fn upsert(app: &mut App, call: Call) {
    if !call.state.is_active() {
        return end(app, call);
    }
    let live = &mut app.live;
    let (key, now) = (live.sort, app.now);
    let filter = &live.filter;
    let placed = |c: &Call| (matches_filter(c, filter), sort_value(c, key, now));
    let new_place = placed(&call);
    match live.calls.get_mut(&call.id) {
        Some(v) => {
            // Most updates (sentiment, alerts, intent...) do not move the row: no re-sort.
            let same = placed(&v.call) == new_place && v.call.created_at == call.created_at;
            v.call = call;
            if same {
                return;
            }
        }
        None => {
            live.calls.insert(
                call.id.clone(),
                CallView {
                    call,
                    transcript: Transcript::default(),
                },
            );
        }
    }
    reorder(app);
}

/// A call that ended: off the table (the cursor stays in place), into the history.
pub(super) fn end(app: &mut App, call: Call) {
    let id = call.id.clone();
    let was = app.live.calls.remove(&id).is_some();
    super::history::ended(&mut app.history, call);
    if was {
        // Keep the cursor in place: select the neighbour of the removed row.
        let live = &mut app.live;
        let idx = live.order.iter().position(|o| o == &id);
        live.order.retain(|o| o != &id);
        if live.selected.as_deref() == Some(id.as_str()) {
            let next = idx.and_then(|i| {
                live.order
                    .get(i.min(live.order.len().saturating_sub(1)))
                    .cloned()
            });
            live.select(next);
        }
        reorder(app);
    }
}

fn matches_filter(call: &Call, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let fields = [
        call.lead.name.as_deref().unwrap_or(""),
        customer_number(call),
        call.campaign.as_deref().unwrap_or(""),
        call.provider.as_str(),
        call.intent.as_deref().unwrap_or(""),
        call.assistant.as_deref().unwrap_or(""),
        call.state.as_str(),
    ];
    fields.iter().any(|f| !find_all(f, needle).is_empty())
}

fn sentiment_rank(s: crate::core::model::Sentiment) -> u8 {
    use crate::core::model::Sentiment::*;
    match s {
        Negative => 0,
        Neutral => 1,
        Positive => 2,
        Unknown => 3,
    }
}

fn state_rank(s: CallState) -> u8 {
    // Calls that need a human's eyes first.
    match s {
        CallState::TakenOver => 0,
        CallState::AiPaused => 1,
        CallState::InProgress => 2,
        CallState::Ringing => 3,
        CallState::Queued => 4,
        CallState::Ended => 5,
    }
}

/// What a call is sorted by, computed once per call and re-sort.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Num(i64),
    Text(Option<String>),
}

fn sort_value(c: &Call, key: SortKey, now: DateTime<Utc>) -> SortValue {
    match key {
        SortKey::Duration => SortValue::Num((c.duration_at(now).unwrap_or(0.0) * 1000.0) as i64),
        SortKey::State => SortValue::Num(i64::from(state_rank(c.state))),
        SortKey::Sentiment => SortValue::Num(i64::from(sentiment_rank(c.sentiment))),
        SortKey::Who => SortValue::Text(c.lead.name.clone()),
        SortKey::Campaign => SortValue::Text(c.campaign.clone()),
        SortKey::Provider => SortValue::Text(Some(c.provider.clone())),
    }
}

/// Recomputes the filtered, sorted order and keeps the selection valid.
pub(super) fn reorder(app: &mut App) {
    let now = app.now;
    let live = &mut app.live;
    let (key, desc) = (live.sort, live.sort_desc);
    let mut rows: Vec<(SortValue, DateTime<Utc>, &str)> = live
        .calls
        .values()
        .filter(|v| matches_filter(&v.call, &live.filter))
        .map(|v| {
            (
                sort_value(&v.call, key, now),
                v.call.created_at,
                v.call.id.as_str(),
            )
        })
        .collect();
    rows.sort_unstable_by(|a, b| {
        let ord = if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
        ord.then_with(|| a.1.cmp(&b.1)).then_with(|| a.2.cmp(b.2))
    });
    let order: Vec<String> = rows.into_iter().map(|r| r.2.to_string()).collect();
    live.order = order;
    let keep = live
        .selected
        .as_ref()
        .is_some_and(|id| live.calls.contains_key(id) && live.order.contains(id));
    if !keep {
        let first = live.order.first().cloned();
        live.select(first);
    }
    keep_visible(app);
}
