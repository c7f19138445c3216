//! Answers to requests (`Msg::Done`): an action's outcome in the status line, or a history
//! page / call, an audit trail, an export written.

use super::{calls, form, history, logs, queue, set_status, Reply};
use crate::console::app::{App, StatusKind, AUDIT_PER_CALL};
use crate::console::clean;
use crate::core::model::Call;

pub(super) fn done(app: &mut App, id: u64, result: Result<Reply, String>) {
    let result = result.map_err(|e| clean::text(&e));
    if app.session.destinations_request == Some(id) {
        app.session.destinations_request = None;
        // Without an answer the dialogs offer what they can without it (typed addresses,
        // and the gateway's own choice of voice).
        app.session.destinations = Some(match result {
            Ok(Reply::Destinations(mut list)) => {
                clean::destinations(&mut list);
                list
            }
            _ => Default::default(),
        });
        return;
    }
    if form::answer(app, id, &result) || logs::answer(app, id, &result) {
        return;
    }
    if let Some(doing) = app.requests.pending.remove(&id) {
        match result {
            Ok(Reply::Action(resp)) => {
                let mut call = resp.call.clone();
                clean::call(&mut call);
                refresh_history(app, &call);
                let summary = (resp.action == "summary")
                    .then(|| call.summary.clone())
                    .flatten();
                calls::upsert(app, call);
                match summary {
                    // The summary is the answer: shown at once, and kept in the detail panel.
                    Some(text) => {
                        app.live.detail = true;
                        set_status(app, StatusKind::Ok, format!("summary: {text}"));
                    }
                    None => set_status(app, StatusKind::Ok, format!("done: {doing}")),
                }
            }
            Ok(Reply::QueueItem(item)) => {
                if let Some(item) = item {
                    let mut item = *item;
                    clean::queue_item(&mut item);
                    queue::upsert(app, item);
                }
                set_status(app, StatusKind::Ok, format!("done: {doing}"));
            }
            Ok(Reply::Written { path }) => {
                let path = clean::text(&path);
                set_status(app, StatusKind::Ok, format!("{doing}: written to {path}"));
            }
            Ok(_) => set_status(app, StatusKind::Ok, format!("done: {doing}")),
            Err(e) => set_status(app, StatusKind::Error, format!("{doing} failed: {e}")),
        }
        return;
    }
    if let Ok(Reply::Audit { call_id, entries }) = &result {
        let list = app.audit.entry(call_id.clone()).or_default();
        for mut e in entries.iter().cloned() {
            if !list.iter().any(|k| k.id == e.id) {
                clean::audit(&mut e);
                list.push_back(e);
            }
        }
        list.make_contiguous().sort_by_key(|e| (e.at, e.id));
        while list.len() > AUDIT_PER_CALL {
            list.pop_front();
        }
        return;
    }
    if app.history.request != Some(id) {
        app.dirty = false;
        return; // an answer nobody waits for any more
    }
    history::answer(&mut app.history, result);
}

/// An ended call changed by an action (a summary): the History list and open call show it.
fn refresh_history(app: &mut App, call: &Call) {
    if call.state.is_active() {
        return;
    }
    if let Some(c) = app.history.results.iter_mut().find(|c| c.id == call.id) {
        *c = call.clone();
    }
    if let Some(d) = app.history.detail.as_mut().filter(|d| d.call.id == call.id) {
        d.call = call.clone();
    }
}
