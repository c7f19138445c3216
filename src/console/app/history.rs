//! State of the History screen: a search of ended calls, paged, and one opened call.

use super::calls::TranscriptView;
use crate::console::transcript::Transcript;
use crate::core::model::Call;

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
