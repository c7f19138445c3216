//! The alert list: Enter jumps to the call while it is live, else opens its history entry.

use super::screens::switch;
use super::{calls, history, set_status, Effect};
use crate::console::app::{App, Screen, StatusKind};

pub(super) fn open(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(rec) = app.alerts.selected() else {
        return set_status(app, StatusKind::Info, "no alerts yet".into());
    };
    let id = rec.call_id.clone();
    let live = app.live.get(&id).is_some_and(|v| v.call.state.is_active());
    if live {
        switch(app, Screen::Calls, fx);
        if !app.live.order.contains(&id) {
            // The filter hides it: the user asked for this call, so show it.
            app.live.filter.clear();
        }
        calls::select_id(app, &id);
        return;
    }
    let Some(call) = app.alerts.call(&id).cloned() else {
        return;
    };
    switch(app, Screen::History, fx);
    history::open_call(app, call, fx);
}
