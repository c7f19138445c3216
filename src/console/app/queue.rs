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
    /// shown.
    pub fn waiting(&self) -> Vec<&QueueItem> {
        self.items
            .iter()
            .filter(|q| q.state.is_waiting() || is_blocked(q))
            .collect()
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn top(&self) -> usize {
        self.top
    }
}
