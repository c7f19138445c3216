//! State of the log screens (`:audit`, `:webhooks`), the add-to-queue form and the
//! analytics range: what the API has that the tabs do not show.

use crate::client::WebhookEntry;
use crate::core::model::{Analytics, AuditEntry};

/// A list fetched on demand, newest first.
pub struct LogList<T> {
    pub entries: Vec<T>,
    pub selected: usize,
    pub loading: bool,
    pub error: Option<String>,
    /// Id of the newest request; older answers are dropped.
    pub request: Option<u64>,
}

impl<T> Default for LogList<T> {
    fn default() -> Self {
        LogList {
            entries: Vec::new(),
            selected: 0,
            loading: false,
            error: None,
            request: None,
        }
    }
}

impl<T> LogList<T> {
    pub(in crate::console) fn move_selection(&mut self, delta: isize) {
        let n = self.entries.len();
        if n > 0 {
            let cur = self.selected as isize;
            self.selected = (cur + delta).clamp(0, n as isize - 1) as usize;
        }
    }
}

#[derive(Default)]
pub struct Logs {
    pub audit: LogList<AuditEntry>,
    pub webhooks: LogList<WebhookEntry>,
}

/// The Analytics screen's range and grouping; `None` both: the stream's last 24 h.
#[derive(Default)]
pub struct AnalyticsView {
    /// `today`, `7d` or `30d`.
    pub range: Option<String>,
    /// `campaign`, `provider` or `number`.
    pub group_by: Option<String>,
    /// The answer for that range / grouping (until then the screen says loading).
    pub data: Option<Analytics>,
    pub loading: bool,
    pub error: Option<String>,
    pub request: Option<u64>,
}

impl AnalyticsView {
    /// "last 24 h", "7 days · by campaign".
    pub fn label(&self) -> String {
        let range = match self.range.as_deref() {
            None => "last 24 h",
            Some("today") => "today (UTC)",
            Some("7d") => "last 7 days",
            Some("30d") => "last 30 days",
            Some(other) => other,
        };
        match &self.group_by {
            Some(g) => format!("{range} · by {g}"),
            None => range.to_string(),
        }
    }

    pub fn is_live(&self) -> bool {
        self.range.is_none() && self.group_by.is_none()
    }
}

/// The fields of the add-to-queue form, in order.
pub const FORM_FIELDS: [&str; 4] = ["number", "name", "campaign", "when"];

/// `a` on Queue: a new queue item. Stays open until the gateway answers, so a refusal
/// (do-not-call, calling hours, a bad number) is shown in the form, not lost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueForm {
    /// number, name, campaign, when (see [`FORM_FIELDS`]).
    pub values: [String; 4],
    pub focus: usize,
    pub error: Option<String>,
    /// The request in flight, if sent.
    pub request: Option<u64>,
}
