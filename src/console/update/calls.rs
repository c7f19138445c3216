//! The Calls screen: selection, filter and sort order, actions on the selected call, and
//! live calls arriving, changing and ending.

use chrono::{DateTime, Utc};

use super::{dialog, fit, info, keep_visible, set_status, Effect, Request};
use crate::console::app::{
    App, CallView, LiveCalls, Modal, Screen, SortKey, StatusKind, TranscriptView,
};
use crate::console::filter;
use crate::console::keys::Action;
use crate::console::rules;
use crate::console::transcript::Transcript;
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

/// Selects a call by id (the alert list jumps to it).
pub(super) fn select_id(app: &mut App, id: &str) {
    reorder(app);
    if app.live.order.iter().any(|o| o == id) {
        app.live.select(Some(id.to_string()));
        keep_visible(app);
    }
}

/// `v`: the call detail panel, shown beside the transcript; opening it fetches the selected
/// call's audit trail (later entries arrive on the stream).
pub(super) fn toggle_detail(app: &mut App, fx: &mut Vec<Effect>) {
    app.live.detail = !app.live.detail;
    if !app.live.detail {
        return;
    }
    if app.screen != Screen::Calls {
        app.screen = Screen::Calls;
    }
    if let Some(call_id) = app.live.selected.clone() {
        let id = app.requests.id();
        fx.push(Effect::Request {
            id,
            request: Request::Audit { call_id },
        });
    }
}

/// `w`: the wall of transcripts cycles off → 2 → 4 → 6 → off.
pub(super) fn toggle_wall(app: &mut App) {
    app.screen = Screen::Calls;
    let live = &mut app.live;
    live.wall_size = match live.wall_size {
        0 => 2,
        2 => 4,
        4 => 6,
        _ => 0,
    };
    if live.wall_size == 0 {
        live.wall.clear();
        return info(app, "wall off");
    }
    // The selected call takes the first tile, then the calls next to it in the table.
    let selected = live.selected.clone();
    live.wall.retain(|id| Some(id) != selected.as_ref());
    if let Some(id) = selected {
        live.wall.insert(0, id);
    }
    live.wall.truncate(live.wall_size);
    refill_wall(live);
    let n = app.live.wall_size;
    info(app, &format!("wall of {n} transcripts"));
}

/// Keeps the wall's tiles on calls that are still in the table and fills empty tiles with
/// the next calls in table order; a tile's call does not change while it stays.
fn refill_wall(live: &mut LiveCalls) {
    if live.wall_size == 0 {
        return;
    }
    let calls = &live.calls;
    live.wall.retain(|id| calls.contains_key(id));
    for id in &live.order {
        if live.wall.len() >= live.wall_size {
            break;
        }
        if !live.wall.contains(id) {
            live.wall.push(id.clone());
        }
    }
}

pub(super) fn move_selection(app: &mut App, delta: isize) {
    if app.live.wall_size > 0 && !app.live.wall.is_empty() {
        // On the wall, up/down move the focus between tiles.
        let live = &mut app.live;
        let cur = live
            .selected
            .as_ref()
            .and_then(|s| live.wall.iter().position(|w| w == s))
            .unwrap_or(0) as isize;
        let next = (cur + delta).clamp(0, live.wall.len() as isize - 1) as usize;
        let id = live.wall[next].clone();
        live.select(Some(id));
        return;
    }
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
    let actor = app.session.actor.as_deref();
    if let Err(reason) = rules::check(action, call, app.session.role)
        .and_then(|()| rules::check_holder(action, call, actor, app.session.role))
    {
        let text = format!("cannot {}: {reason}", action.label());
        return set_status(app, StatusKind::Error, text);
    }
    let call_id = call.id.clone();
    let who = app.who(call);
    let news = recent_news(app, &call_id);
    if let Some(d) = dialog::for_call(action, call, who.clone()) {
        // The dialog is the confirmation; the status line names who just acted.
        if let Some(n) = news {
            set_status(app, StatusKind::Info, format!("careful: {n}"));
        }
        app.modal = Some(Modal::Dialog(d));
        if matches!(action, Action::TakeOver | Action::Transfer) {
            super::transfer::ask_destinations(app, fx);
        }
        return;
    }
    if let Some(news) = news.filter(|_| matches!(action, Action::PauseAi | Action::ResumeAi)) {
        app.modal = Some(Modal::Dialog(crate::console::app::Dialog::ConfirmRecent {
            call_id,
            who,
            action,
            news,
            guard: crate::console::app::Guard::default(),
        }));
        return;
    }
    super::perform::perform(app, action, call_id, who, fx);
}

/// Someone else's action on the call in the last [`RECENT_SECS`]: "dana did pause_ai 3 s ago".
fn recent_news(app: &App, call_id: &str) -> Option<String> {
    let (by, what, at) = app.recent.get(call_id)?;
    let secs = (app.now - *at).num_seconds();
    (secs <= RECENT_SECS).then(|| format!("{by} did {what} on this call {secs} s ago"))
}

/// How recent another supervisor's action must be to ask before acting.
pub const RECENT_SECS: i64 = 10;

/// A call that is new or changed (from the stream or an action's answer).
pub(super) fn upsert(app: &mut App, call: Call) {
    if !call.state.is_active() {
        return end(app, call);
    }
    observe_alerts(app, &call);
    let live = &mut app.live;
    // A call back from the dead (a late update raced its end) is live again.
    live.lingering.remove(&call.id);
    let (key, now) = (live.sort, app.now);
    let filter = &live.filter;
    let placed = |c: &Call| (filter::matches(c, filter), sort_value(c, key, now));
    let new_place = placed(&call);
    match live.calls.get_mut(&call.id) {
        Some(v) => {
            // Most updates (sentiment, alerts, intent...) do not move the row: no re-sort.
            let same = placed(&v.call) == new_place && v.call.created_at == call.created_at;
            // Same state and alerts keep the header's counts and the alert list: a row
            // nobody sees then needs no frame.
            let quiet = same && v.call.state == call.state && v.call.alerts == call.alerts;
            let quiet_id = quiet.then(|| call.id.clone());
            v.call = call;
            if same {
                if quiet_id.is_some_and(|id| !on_screen(app, &id)) {
                    app.dirty = false;
                }
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

/// Whether a call's row, transcript or tile is on screen now.
fn on_screen(app: &App, id: &str) -> bool {
    let live = &app.live;
    if app.screen != Screen::Calls {
        return false;
    }
    if live.selected.as_deref() == Some(id) || live.wall.iter().any(|w| w == id) {
        return true;
    }
    let rows = app.calls_table_rows().max(1);
    live.order.iter().skip(live.top).take(rows).any(|o| o == id)
}

/// New alerts go to the alert list (and ring the bell / flash the title when configured
/// for their kind).
fn observe_alerts(app: &mut App, call: &Call) {
    let fresh = app.alerts.observe(call);
    if fresh
        .iter()
        .any(|k| app.bell.iter().any(|b| b == "*" || b == k))
    {
        app.bell_due = true;
    }
    if let Some(kind) = fresh
        .iter()
        .find(|k| app.title_flash.iter().any(|b| b == "*" || b == *k))
    {
        app.title_due = Some(format!("⚠ {kind} · {} · callwatch", app.who(call)));
    }
}

/// A call that ended: it stays in the table, dimmed with its outcome, for the linger time
/// (its transcript stays readable), and joins the history.
pub(super) fn end(app: &mut App, call: Call) {
    observe_alerts(app, &call);
    super::history::ended(&mut app.history, call.clone());
    let id = call.id.clone();
    if app.live.linger_secs > 0 {
        if let Some(v) = app.live.calls.get_mut(&id) {
            v.call = call;
            let until = app.now + chrono::Duration::seconds(app.live.linger_secs);
            app.live.lingering.entry(id).or_insert(until);
            reorder(app);
        }
        return;
    }
    remove(app, &id);
}

/// Takes a call off the table, keeping the cursor in place.
fn remove(app: &mut App, id: &str) {
    app.live.lingering.remove(id);
    if app.live.calls.remove(id).is_none() {
        return;
    }
    if app.alerts.call(id).is_none() {
        app.audit.remove(id);
    }
    // Keep the cursor in place: select the neighbour of the removed row.
    let live = &mut app.live;
    let idx = live.order.iter().position(|o| o == id);
    live.order.retain(|o| o != id);
    if live.selected.as_deref() == Some(id) {
        let next = idx.and_then(|i| {
            live.order
                .get(i.min(live.order.len().saturating_sub(1)))
                .cloned()
        });
        live.select(next);
    }
    reorder(app);
}

/// Ended calls whose linger time is over leave the table (on the clock's tick).
pub(super) fn expire(app: &mut App) {
    if app.live.lingering.is_empty() {
        return;
    }
    let now = app.now;
    let gone: Vec<String> = app
        .live
        .lingering
        .iter()
        .filter(|(_, until)| **until <= now)
        .map(|(id, _)| id.clone())
        .collect();
    for id in gone {
        remove(app, &id);
    }
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

/// Whether the caller asked for a person (an intent or an alert saying so).
fn wants_human(c: &Call) -> bool {
    let human = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.contains("human") || s.contains("agent") || s.contains("person")
    };
    c.intent.as_deref().is_some_and(human) || c.alerts.iter().any(|a| human(&a.kind))
}

/// "Needs attention" rank, lowest first: alerts, human requested, negative sentiment,
/// paused, taken over, the rest; ended calls last.
fn attention_rank(c: &Call) -> u8 {
    if c.state == CallState::Ended {
        6
    } else if !c.alerts.is_empty() {
        0
    } else if wants_human(c) {
        1
    } else if c.sentiment == crate::core::model::Sentiment::Negative {
        2
    } else if c.state == CallState::AiPaused {
        3
    } else if c.state == CallState::TakenOver {
        4
    } else {
        5
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
        // Within a rank, the order of arrival (the longest running first) keeps rows still.
        SortKey::Attention => SortValue::Num(i64::from(attention_rank(c))),
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
        .filter(|v| filter::matches(&v.call, &live.filter))
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
    refill_wall(live);
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
