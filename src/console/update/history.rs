//! The History screen: searches, paging, opening a call, and their answers.

use super::{fit, set_status, start, Effect, Reply, Request};
use crate::console::app::StatusKind;
use crate::console::app::{App, History, HistoryDetail, TranscriptView};
use crate::console::clean;
use crate::console::keys::Action;
use crate::console::rules;
use crate::console::transcript::Transcript;
use crate::core::model::Call;

/// A new search from the first page.
pub(super) fn search(app: &mut App, fx: &mut Vec<Effect>) {
    app.history.next_cursor = None;
    app.history.appending = false;
    page(app, None, fx);
}

/// Loads the next page when the selection reaches the end of what is loaded.
pub(super) fn more(app: &mut App, fx: &mut Vec<Effect>) {
    let h = &app.history;
    let at_end = h.selected + 1 >= h.results.len();
    if at_end && !h.loading && h.detail.is_none() {
        if let Some(cursor) = h.next_cursor.clone() {
            app.history.appending = true;
            page(app, Some(cursor), fx);
        }
    }
}

fn page(app: &mut App, cursor: Option<String>, fx: &mut Vec<Effect>) {
    app.history.loading = true;
    app.history.error = None;
    let q = app.history.query.clone();
    let id = app.requests.id();
    app.history.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::History { q, cursor },
    });
}

/// Enter on a listed call: its details and transcript.
pub(super) fn open(app: &mut App, fx: &mut Vec<Effect>) {
    if app.history.detail.is_some() {
        return;
    }
    let Some(call) = app.history.results.get(app.history.selected).cloned() else {
        return;
    };
    let call_id = call.id.clone();
    app.history.detail = Some(HistoryDetail {
        call,
        transcript: Transcript::default(),
        view: TranscriptView {
            follow: false,
            ..TranscriptView::default()
        },
        loading: true,
        error: None,
    });
    let id = app.requests.id();
    app.history.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::Open { call_id },
    });
}

/// Opens a call that may not be in the list (from the alert list).
pub(super) fn open_call(app: &mut App, call: Call, fx: &mut Vec<Effect>) {
    if let Some(i) = app.history.results.iter().position(|c| c.id == call.id) {
        app.history.selected = i;
    }
    app.history.detail = None;
    let call_id = call.id.clone();
    app.history.detail = Some(HistoryDetail {
        call,
        transcript: Transcript::default(),
        view: TranscriptView {
            follow: false,
            ..TranscriptView::default()
        },
        loading: true,
        error: None,
    });
    let id = app.requests.id();
    app.history.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::Open { call_id },
    });
}

/// `S` on History: a summary of the open (or selected) ended call; the API accepts them.
pub(super) fn summarize(app: &mut App, fx: &mut Vec<Effect>) {
    let call = match &app.history.detail {
        Some(d) => Some(&d.call),
        None => app.history.results.get(app.history.selected),
    };
    let Some(call) = call else {
        return set_status(app, StatusKind::Error, "no call selected".into());
    };
    if let Err(reason) = rules::check_role(Action::Summarize, app.session.role) {
        return set_status(
            app,
            StatusKind::Error,
            format!("cannot summarize: {reason}"),
        );
    }
    let call_id = call.id.clone();
    let who = app.who(call);
    start(
        app,
        format!("asking for a summary of the call with {who}"),
        Request::Summarize { call_id },
        fx,
    );
}

pub(super) fn move_selection(h: &mut History, delta: isize) {
    let n = h.results.len();
    if n > 0 {
        let cur = h.selected as isize;
        h.selected = (cur + delta).clamp(0, n as isize - 1) as usize;
    }
}

pub(super) fn keep_visible(h: &mut History, rows: usize) {
    let n = h.results.len();
    h.selected = h.selected.min(n.saturating_sub(1));
    h.top = fit(h.top, h.selected, rows, n);
}

/// A live call ended: it joins an unfiltered history list at the top.
pub(super) fn ended(h: &mut History, call: Call) {
    if h.loaded && h.query.is_empty() && !h.results.iter().any(|c| c.id == call.id) {
        h.results.insert(0, call);
        if h.selected > 0 || h.detail.is_some() {
            h.selected += 1;
        }
    }
}

/// The answer to the newest history request (older ones never get here).
pub(super) fn answer(h: &mut History, result: Result<Reply, String>) {
    h.request = None;
    match result {
        Ok(Reply::History {
            mut calls,
            next_cursor,
        }) => {
            calls.iter_mut().for_each(clean::call);
            if h.appending {
                // Calls that ended meanwhile may already be listed: no duplicates.
                calls.retain(|c| !h.results.iter().any(|r| r.id == c.id));
                h.results.extend(calls);
            } else {
                h.results = calls;
                h.selected = 0;
                h.top = 0;
            }
            h.appending = false;
            h.next_cursor = next_cursor;
            h.loading = false;
            h.loaded = true;
            h.error = None;
        }
        Ok(Reply::Detail {
            call,
            mut transcript,
        }) => {
            if let Some(d) = h.detail.as_mut() {
                let mut call = *call;
                clean::call(&mut call);
                transcript.iter_mut().for_each(clean::entry);
                d.call = call;
                d.transcript = Transcript::new(transcript);
                d.loading = false;
            }
        }
        Ok(_) => {}
        Err(e) => {
            h.loading = false;
            h.appending = false;
            if let Some(d) = h.detail.as_mut() {
                d.loading = false;
                d.error = Some(e);
            } else {
                h.error = Some(e);
            }
        }
    }
}
