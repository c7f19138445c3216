//! The Queue screen: dial now, cancel (after a confirmation), queue items changing.

use super::{fit, info, keep_visible, set_status, start, Effect, Request};
use crate::console::app::{App, Dialog, Guard, Modal, QueueScreen, Screen, StatusKind};
use crate::console::keys::Action;
use crate::console::rules;
use crate::core::model::QueueItem;

impl QueueScreen {
    pub(super) fn move_selection(&mut self, delta: isize) {
        let n = self.waiting().len();
        if n > 0 {
            let cur = self.selected as isize;
            self.selected = (cur + delta).clamp(0, n as isize - 1) as usize;
        }
    }

    /// Keeps the selection on an existing row, within the `rows` shown.
    pub(super) fn keep_visible(&mut self, rows: usize) {
        let n = self.waiting().len();
        self.selected = self.selected.min(n.saturating_sub(1));
        self.top = fit(self.top, self.selected, rows, n);
    }

    /// A queue item that is new or changed; one no longer waiting leaves the list, unless
    /// compliance blocked it (it stays, with its reason, for the supervisor to see).
    fn upsert(&mut self, item: QueueItem) {
        let waiting = item.state.is_waiting() || crate::core::compliance::is_blocked(&item);
        match self.items.iter().position(|q| q.id == item.id) {
            Some(i) if waiting => self.items[i] = item,
            Some(i) => {
                self.items.remove(i);
            }
            None if waiting => self.items.push(item),
            None => {}
        }
    }
}

pub(super) fn action(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    if app.screen != Screen::Queue {
        return info(
            app,
            &format!("{} works on the Queue screen", action.label()),
        );
    }
    if let Err(reason) = rules::check_role(action, app.session.role) {
        return set_status(
            app,
            StatusKind::Error,
            format!("cannot {}: {reason}", action.label()),
        );
    }
    let Some(item) = app
        .queue
        .waiting()
        .get(app.queue.selected)
        .map(|q| (*q).clone())
    else {
        return set_status(app, StatusKind::Error, "no queued call selected".into());
    };
    let who = item
        .lead
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| app.number(&item.phone_number));
    match action {
        Action::DialNow => {
            start(
                app,
                format!("dialing {who} now"),
                Request::DialNow { item_id: item.id },
                fx,
            );
        }
        _ => {
            app.modal = Some(Modal::Dialog(Dialog::ConfirmCancel {
                item_id: item.id,
                who,
                guard: Guard::default(),
            }))
        }
    }
}

/// A queue item from the stream or an action's answer.
pub(super) fn upsert(app: &mut App, item: QueueItem) {
    app.queue.upsert(item);
    keep_visible(app);
}
