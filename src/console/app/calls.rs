//! State of the Calls screen: the live calls, their display order, the selection and the
//! selected call's transcript view.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::console::transcript::Transcript;
use crate::core::model::{Call, CallId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Calls that need a human first: alerts, a caller asking for a human, negative
    /// sentiment, paused AI, taken over; then the longest running.
    Attention,
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
            SortKey::Sentiment => SortKey::Attention,
            SortKey::Attention => SortKey::Duration,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            SortKey::Attention => "needs attention",
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

/// The Calls screen. Changed only by `update` (see `update::calls`).
pub struct LiveCalls {
    /// Active calls by id.
    pub(in crate::console) calls: HashMap<CallId, CallView>,
    /// Active calls after filter and sort, in display order.
    pub(in crate::console) order: Vec<CallId>,
    pub(in crate::console) selected: Option<CallId>,
    /// First table row shown.
    pub(in crate::console) top: usize,
    pub(in crate::console) sort: SortKey,
    pub(in crate::console) sort_desc: bool,
    pub(in crate::console) filter: String,
    /// The selected call's transcript view.
    pub(in crate::console) view: TranscriptView,
    /// Ended calls still shown (dimmed, with their outcome) until the time given.
    pub(in crate::console) lingering: HashMap<CallId, DateTime<Utc>>,
    /// How long an ended call stays in the table, in seconds (0: leaves at once).
    pub(in crate::console) linger_secs: i64,
    /// The call detail panel is shown beside the transcript.
    pub(in crate::console) detail: bool,
    /// The wall: this many transcripts at once (0: off; 2, 4 or 6).
    pub(in crate::console) wall_size: usize,
    /// The calls on the wall, by tile; a tile keeps its call until the call leaves.
    pub(in crate::console) wall: Vec<CallId>,
}

/// How long an ended call stays in the table by default.
pub const DEFAULT_LINGER_SECS: i64 = 30;

impl Default for LiveCalls {
    fn default() -> Self {
        LiveCalls {
            calls: HashMap::new(),
            order: Vec::new(),
            selected: None,
            top: 0,
            sort: SortKey::Attention,
            sort_desc: false,
            filter: String::new(),
            view: TranscriptView::default(),
            lingering: HashMap::new(),
            linger_secs: DEFAULT_LINGER_SECS,
            detail: false,
            wall_size: 0,
            wall: Vec::new(),
        }
    }
}

impl LiveCalls {
    /// A live call by id.
    pub fn get(&self, id: &str) -> Option<&CallView> {
        self.calls.get(id)
    }

    /// Number of calls in the table (filtered or not), lingering ended ones included.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// The calls on the wall, by tile (empty when the wall is off).
    pub fn wall(&self) -> &[CallId] {
        &self.wall
    }

    /// Whether the detail panel is shown.
    pub fn detail_open(&self) -> bool {
        self.detail
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn selected_id(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    pub fn selected_call(&self) -> Option<&CallView> {
        self.selected.as_ref().and_then(|id| self.calls.get(id))
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        self.order.iter().position(|o| o == id)
    }

    pub fn values(&self) -> impl Iterator<Item = &CallView> {
        self.calls.values()
    }
}
