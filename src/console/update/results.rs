//! Answers to requests (`Msg::Done`): an action's outcome in the status line, or a history
//! page / call.

use super::{calls, history, queue, set_status, Reply};
use crate::console::app::{App, StatusKind};
use crate::console::clean;

pub(super) fn done(app: &mut App, id: u64, result: Result<Reply, String>) {
    let result = result.map_err(|e| clean::text(&e));
    if let Some(doing) = app.requests.pending.remove(&id) {
        match result {
            Ok(reply) => {
                if let Reply::Action(resp) = &reply {
                    let mut call = resp.call.clone();
                    clean::call(&mut call);
                    calls::upsert(app, call);
                }
                if let Reply::QueueItem(Some(item)) = reply {
                    let mut item = *item;
                    clean::queue_item(&mut item);
                    queue::upsert(app, item);
                }
                set_status(app, StatusKind::Ok, format!("done: {doing}"));
            }
            Err(e) => set_status(app, StatusKind::Error, format!("{doing} failed: {e}")),
        }
        return;
    }
    if app.history.request != Some(id) {
        app.dirty = false;
        return; // an answer nobody waits for any more
    }
    history::answer(&mut app.history, result);
}
