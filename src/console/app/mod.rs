//! The console's state, owned by the UI task. Only `update` changes it (its fields are
//! visible inside the console only); rendering reads it. One part per screen, plus the modal
//! on top, the session and the status line.

mod alerts;
mod calls;
pub mod handoff;
mod history;
mod logs;
mod modal;
mod queue;
mod session;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;

pub use alerts::{AlertLog, AlertRecord};
pub use calls::{CallView, LiveCalls, SortKey, TranscriptView, DEFAULT_LINGER_SECS};
pub use history::{History, HistoryDetail};
pub use logs::{AnalyticsView, LogList, Logs, QueueForm, FORM_FIELDS};
pub use modal::{Dialog, Guard, InputKind, LineInput, Modal, TextKind};
pub use queue::QueueScreen;
pub use session::{Conn, Requests, Session, Status, StatusKind};

use super::keys::Keymap;
use super::layout;
use super::theme::Theme;
use std::collections::{HashMap, VecDeque};

use crate::core::model::{Analytics, AuditEntry, Call, CallId, CallState, QueueItem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Calls,
    Queue,
    Analytics,
    History,
    Alerts,
    /// `:audit`: the org's audit log (not a tab).
    Audit,
    /// `:webhooks`: the webhook log, admins only (not a tab).
    Webhooks,
}

impl Screen {
    pub const ALL: [Screen; 5] = [
        Screen::Calls,
        Screen::Queue,
        Screen::Analytics,
        Screen::History,
        Screen::Alerts,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Calls => "Calls",
            Screen::Queue => "Queue",
            Screen::Analytics => "Analytics",
            Screen::History => "History",
            Screen::Alerts => "Alerts",
            Screen::Audit => "Audit log",
            Screen::Webhooks => "Webhook log",
        }
    }
}

pub struct App {
    pub(in crate::console) now: DateTime<Utc>,
    pub(in crate::console) theme: Theme,
    pub(in crate::console) keymap: Keymap,
    pub(in crate::console) gateway: String,
    pub(in crate::console) mask_numbers: bool,
    pub(in crate::console) size: (u16, u16),
    /// Configuration warnings, shown in the status line when nothing else is.
    pub(in crate::console) warnings: Vec<String>,
    pub(in crate::console) session: Session,
    pub(in crate::console) screen: Screen,
    pub(in crate::console) live: LiveCalls,
    pub(in crate::console) queue: QueueScreen,
    pub(in crate::console) analytics: Analytics,
    pub(in crate::console) history: History,
    pub(in crate::console) alerts: AlertLog,
    pub(in crate::console) logs: Logs,
    pub(in crate::console) analytics_view: AnalyticsView,
    /// Alert kinds that flash the terminal title ("*": all); empty: never.
    pub(in crate::console) title_flash: Vec<String>,
    /// A new alert of a flashing kind arrived: `update` returns `Effect::Title` once.
    pub(in crate::console) title_due: Option<String>,
    /// When the title last flashed (it is put back a few seconds later).
    pub(in crate::console) title_shown_at: Option<DateTime<Utc>>,
    /// Audit entries per call seen on the stream or fetched for the detail panel, oldest
    /// first, at most [`AUDIT_PER_CALL`] each.
    pub(in crate::console) audit: HashMap<CallId, VecDeque<AuditEntry>>,
    /// Alert kinds that ring the terminal bell ("*": all); empty: silent.
    pub(in crate::console) bell: Vec<String>,
    /// The latest action someone else did on each call: (who, what, when it arrived here).
    pub(in crate::console) recent: HashMap<CallId, (String, String, DateTime<Utc>)>,
    /// Who looks at which call (from the gateway), other consoles included.
    pub(in crate::console) presence: Vec<crate::core::protocol::Watcher>,
    /// A new alert of a belled kind arrived: `update` returns `Effect::Bell` once.
    pub(in crate::console) bell_due: bool,
    /// A delta that did not fit (numbered so): the stream must start over from a snapshot.
    pub(in crate::console) resync_due: Option<u64>,
    /// Help, a text input or a dialog: takes every key while open.
    pub(in crate::console) modal: Option<Modal>,
    pub(in crate::console) status: Option<Status>,
    pub(in crate::console) requests: Requests,
    /// Something visible changed since the last frame.
    pub(in crate::console) dirty: bool,
    /// The calls whose transcript entries the gateway should send (sorted): those shown.
    pub(in crate::console) subscribed: Vec<CallId>,
}

impl App {
    pub fn new(
        now: DateTime<Utc>,
        theme: Theme,
        keymap: Keymap,
        gateway: &str,
        mask_numbers: bool,
        warnings: Vec<String>,
    ) -> App {
        App {
            now,
            theme,
            keymap,
            gateway: gateway.to_string(),
            mask_numbers,
            size: (80, 24),
            warnings,
            session: Session::default(),
            screen: Screen::Calls,
            live: LiveCalls::default(),
            queue: QueueScreen::default(),
            analytics: Analytics::default(),
            history: History::default(),
            alerts: AlertLog::default(),
            logs: Logs::default(),
            analytics_view: AnalyticsView::default(),
            title_flash: Vec::new(),
            title_due: None,
            title_shown_at: None,
            audit: HashMap::new(),
            bell: Vec::new(),
            bell_due: false,
            resync_due: None,
            presence: Vec::new(),
            recent: HashMap::new(),
            modal: None,
            status: None,
            requests: Requests::default(),
            dirty: true,
            subscribed: Vec::new(),
        }
    }

    /// The calls whose transcripts this console shows, for the stream's subscription.
    pub fn subscriptions(&self) -> &[CallId] {
        &self.subscribed
    }

    /// How long an ended call stays in the table (seconds).
    pub fn set_linger_secs(&mut self, secs: i64) {
        self.live.linger_secs = secs.max(0);
    }

    /// Alert kinds that ring the terminal bell ("*" for all).
    pub fn set_bell(&mut self, kinds: Vec<String>) {
        self.bell = kinds;
    }

    pub fn alerts(&self) -> &AlertLog {
        &self.alerts
    }

    /// The call this console shows (for presence): the selected call on Calls, the open one
    /// on History, none elsewhere.
    pub fn shown_call(&self) -> Option<&str> {
        match self.screen {
            Screen::Calls => self.live.selected_id(),
            Screen::History => self.history.detail.as_ref().map(|d| d.call.id.as_str()),
            _ => None,
        }
    }

    /// Other people looking at a call right now (not this console's user).
    pub fn also_watching(&self, call_id: &str) -> Vec<&str> {
        let me = self.session.actor.as_deref();
        let mut names: Vec<&str> = self
            .presence
            .iter()
            .filter(|w| w.call_id == call_id && Some(w.actor.as_str()) != me)
            .map(|w| w.actor.as_str())
            .collect();
        names.dedup();
        names
    }

    /// The audit trail known for a call, oldest first.
    pub fn audit_of(&self, id: &str) -> impl Iterator<Item = &AuditEntry> {
        self.audit.get(id).into_iter().flatten()
    }

    /// The live calls (Calls screen).
    pub fn live(&self) -> &LiveCalls {
        &self.live
    }

    /// A live call by id.
    pub fn call(&self, id: &str) -> Option<&CallView> {
        self.live.get(id)
    }

    pub fn selected_call(&self) -> Option<&CallView> {
        self.live.selected_call()
    }

    /// Something visible changed since the last `Msg::Drawn`.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn dialog(&self) -> Option<&Dialog> {
        match &self.modal {
            Some(Modal::Dialog(d)) => Some(d),
            _ => None,
        }
    }

    pub fn form(&self) -> Option<&QueueForm> {
        match &self.modal {
            Some(Modal::Form(f)) => Some(f),
            _ => None,
        }
    }

    /// Alert kinds that flash the terminal title ("*" for all).
    pub fn set_title_flash(&mut self, kinds: Vec<String>) {
        self.title_flash = kinds;
    }

    pub fn input(&self) -> Option<&LineInput> {
        match &self.modal {
            Some(Modal::Input(i)) => Some(i),
            _ => None,
        }
    }

    pub fn help_open(&self) -> bool {
        matches!(self.modal, Some(Modal::Help))
    }

    pub fn area(&self) -> Rect {
        Rect::new(0, 0, self.size.0, self.size.1)
    }

    /// Waiting queue items (pending/scheduled), in the order shown.
    pub fn waiting_queue(&self) -> Vec<&QueueItem> {
        self.queue.waiting()
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for v in self.live.values() {
            match v.call.state {
                CallState::InProgress => c.ai += 1,
                CallState::AiPaused => c.paused += 1,
                CallState::TakenOver => c.human += 1,
                CallState::Ringing | CallState::Queued => c.ringing += 1,
                CallState::Ended => continue,
            }
            c.live += 1;
        }
        c.queued = self
            .queue
            .items
            .iter()
            .filter(|q| q.state.is_waiting())
            .count();
        c
    }

    /// Displayed phone number (masked for screen sharing).
    pub fn number(&self, n: &str) -> String {
        if self.mask_numbers {
            mask_number(n)
        } else {
            n.to_string()
        }
    }

    /// "who" of a call: the lead's name, else the customer's number.
    pub fn who(&self, call: &Call) -> String {
        match call.lead.name.as_deref().filter(|n| !n.trim().is_empty()) {
            Some(n) => n.to_string(),
            None => self.number(customer_number(call)),
        }
    }

    /// Rows available for the calls table body.
    pub fn calls_table_rows(&self) -> usize {
        let areas = layout::calls(layout::body(self.area()));
        (areas.table.height as usize).saturating_sub(3)
    }
}

/// Audit entries kept per call for the detail panel.
pub const AUDIT_PER_CALL: usize = 50;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub live: usize,
    pub ai: usize,
    pub paused: usize,
    pub human: usize,
    pub ringing: usize,
    pub queued: usize,
}

/// The customer's side of a call.
pub fn customer_number(call: &Call) -> &str {
    match call.direction {
        crate::core::model::Direction::Inbound => &call.from,
        crate::core::model::Direction::Outbound => &call.to,
    }
}

/// Keeps a leading `+`, the first digit and the last two digits: `+1•••••••67`.
pub fn mask_number(n: &str) -> String {
    let digits = n.chars().filter(|c| c.is_ascii_digit()).count();
    let mut seen = 0;
    n.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen == 1 || seen + 2 > digits {
                    c
                } else {
                    '•'
                }
            } else {
                c
            }
        })
        .collect()
}

/// "4:05", "1:02:03".
pub fn format_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_edges() {
        assert_eq!(mask_number("+14155550167"), "+1••••••••67");
        assert_eq!(mask_number("12"), "12");
        assert_eq!(format_duration(65.9), "1:05");
        assert_eq!(format_duration(3723.0), "1:02:03");
    }
}
