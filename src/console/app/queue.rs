//! State of the Queue screen.

use crate::core::compliance::is_blocked;
use crate::core::model::QueueItem;

#[derive(Default)]
pub struct QueueScreen {
    /// Waiting items (pending or scheduled), in the gateway's order.
    pub(in crate::console) items: Vec<QueueItem>,
    pub(in crate::console) selected: usize,
    pub(in crate::console) top: usize,
}

impl QueueScreen {
    /// Waiting queue items (pending/scheduled) and those compliance blocked, in the order
    /// shown: by WHEN, the longest waiting first, then the soonest scheduled; blocked last.
    pub fn waiting(&self) -> Vec<&QueueItem> {
        let mut items: Vec<&QueueItem> = self
            .items
            .iter()
            .filter(|q| q.state.is_waiting() || is_blocked(q))
            .collect();
        // Due since (or due at): the scheduled instant, never before the item existed.
        items.sort_by_key(|q| {
            let due = q.scheduled_at.unwrap_or(q.created_at).max(q.created_at);
            (is_blocked(q), due, q.id.clone())
        });
        items
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn top(&self) -> usize {
        self.top
    }
}
