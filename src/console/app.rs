//! The console's state, owned by the UI task. Only `update` changes it; rendering reads it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;

use super::keys::{Action, Keymap};
use super::layout;
use super::theme::Theme;
use super::transcript::Transcript;
use crate::core::model::{Analytics, Call, CallId, CallState, QueueItem, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Calls,
    Queue,
    Analytics,
    History,
}

impl Screen {
    pub const ALL: [Screen; 4] = [
        Screen::Calls,
        Screen::Queue,
        Screen::Analytics,
        Screen::History,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Calls => "Calls",
            Screen::Queue => "Queue",
            Screen::Analytics => "Analytics",
            Screen::History => "History",
        }
    }
}

/// Connection state shown in the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Conn {
    Connecting {
        attempt: u32,
    },
    Connected {
        /// Set when the last (re)connection could not resume and state was rebuilt.
        resynced_at: Option<DateTime<Utc>>,
    },
    Reconnecting {
        at: DateTime<Utc>,
        error: String,
    },
    AuthFailed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Duration,
    State,
    Who,
    Campaign,
    Provider,
    Sentiment,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Duration => SortKey::State,
            SortKey::State => SortKey::Who,
            SortKey::Who => SortKey::Campaign,
            SortKey::Campaign => SortKey::Provider,
            SortKey::Provider => SortKey::Sentiment,
            SortKey::Sentiment => SortKey::Duration,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            SortKey::Duration => "duration",
            SortKey::State => "state",
            SortKey::Who => "who",
            SortKey::Campaign => "campaign",
            SortKey::Provider => "provider",
            SortKey::Sentiment => "sentiment",
        }
    }
}

pub struct CallView {
    pub call: Call,
    pub transcript: Transcript,
}

/// How the transcript pane scrolls.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptView {
    /// Stick to the newest line; off when the user scrolls up.
    pub follow: bool,
    /// First visible row when not following.
    pub top: usize,
    pub timestamps: bool,
    pub search: String,
    /// Row of the current match.
    pub current_match: Option<usize>,
}

impl Default for TranscriptView {
    fn default() -> Self {
        TranscriptView {
            follow: true,
            top: 0,
            timestamps: false,
            search: String::new(),
            current_match: None,
        }
    }
}

impl TranscriptView {
    /// The first visible row of a transcript of `total` wrapped rows in a pane `height` rows
    /// tall: the bottom when following, else the user's position kept within range. The
    /// renderer and the scrolling logic both use this, so they always agree.
    pub fn visible_top(&self, total: usize, height: usize) -> usize {
        let max_top = total.saturating_sub(height);
        if self.follow {
            max_top
        } else {
            self.top.min(max_top)
        }
    }
}

/// A one-line text input at the bottom (filter, transcript search, history search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Search,
    History,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineInput {
    pub kind: InputKind,
    pub text: String,
    /// Value to restore on Esc.
    pub before: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Say,
    Instruct,
}

pub enum Dialog {
    TakeOver {
        call_id: CallId,
        who: String,
        reason: Box<TextArea<'static>>,
        notes: Box<TextArea<'static>>,
        notes_focused: bool,
        error: Option<String>,
    },
    Text {
        kind: TextKind,
        call_id: CallId,
        who: String,
        text: Box<TextArea<'static>>,
        error: Option<String>,
    },
    ConfirmEnd {
        call_id: CallId,
        who: String,
    },
    ConfirmCancel {
        item_id: String,
        who: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Pending,
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub kind: StatusKind,
    pub text: String,
    pub at: DateTime<Utc>,
}

pub struct HistoryDetail {
    pub call: Call,
    pub transcript: Transcript,
    pub view: TranscriptView,
    pub loading: bool,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct History {
    pub query: String,
    pub results: Vec<Call>,
    pub selected: usize,
    pub top: usize,
    pub loading: bool,
    pub loaded: bool,
    pub error: Option<String>,
    pub next_cursor: Option<String>,
    /// The request in flight asks for the next page (append, keep the selection).
    pub appending: bool,
    pub detail: Option<HistoryDetail>,
    /// Id of the newest history request; older answers are dropped.
    pub request: Option<u64>,
}

pub struct App {
    pub now: DateTime<Utc>,
    pub theme: Theme,
    pub keymap: Keymap,
    pub gateway: String,
    pub mask_numbers: bool,
    pub conn: Conn,
    pub org: Option<String>,
    pub actor: Option<String>,
    pub role: Option<Role>,
    pub calls: HashMap<CallId, CallView>,
    /// Active calls after filter and sort, in display order.
    pub order: Vec<CallId>,
    pub selected: Option<CallId>,
    pub calls_top: usize,
    pub sort: SortKey,
    pub sort_desc: bool,
    pub filter: String,
    pub input: Option<LineInput>,
    pub view: TranscriptView,
    pub queue: Vec<QueueItem>,
    pub queue_selected: usize,
    pub queue_top: usize,
    pub analytics: Analytics,
    pub history: History,
    pub screen: Screen,
    pub dialog: Option<Dialog>,
    pub help: bool,
    pub status: Option<Status>,
    pub warnings: Vec<String>,
    pub size: (u16, u16),
    pub next_request: u64,
    /// Requests in flight: id -> what to say when they finish.
    pub pending: BTreeMap<u64, String>,
    pub quit: bool,
    /// Something visible changed since the last frame.
    pub dirty: bool,
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
            conn: Conn::Connecting { attempt: 0 },
            org: None,
            actor: None,
            role: None,
            calls: HashMap::new(),
            order: Vec::new(),
            selected: None,
            calls_top: 0,
            sort: SortKey::Duration,
            sort_desc: true,
            filter: String::new(),
            input: None,
            view: TranscriptView::default(),
            queue: Vec::new(),
            queue_selected: 0,
            queue_top: 0,
            analytics: Analytics::default(),
            history: History::default(),
            screen: Screen::Calls,
            dialog: None,
            help: false,
            status: None,
            warnings,
            size: (80, 24),
            next_request: 1,
            pending: BTreeMap::new(),
            quit: false,
            dirty: true,
        }
    }

    pub fn area(&self) -> Rect {
        Rect::new(0, 0, self.size.0, self.size.1)
    }

    pub fn selected_call(&self) -> Option<&CallView> {
        self.selected.as_ref().and_then(|id| self.calls.get(id))
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        self.order.iter().position(|o| o == id)
    }

    /// Waiting queue items (pending/scheduled), in the order shown.
    pub fn waiting_queue(&self) -> Vec<&QueueItem> {
        self.queue.iter().filter(|q| q.state.is_waiting()).collect()
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for v in self.calls.values() {
            match v.call.state {
                CallState::InProgress => c.ai += 1,
                CallState::AiPaused => c.paused += 1,
                CallState::TakenOver => c.human += 1,
                CallState::Ringing | CallState::Queued => c.ringing += 1,
                CallState::Ended => {}
            }
        }
        c.live = self.calls.len();
        c.queued = self.queue.iter().filter(|q| q.state.is_waiting()).count();
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

    pub fn keys_for(&self, action: Action) -> String {
        self.keymap.first(action)
    }
}

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
