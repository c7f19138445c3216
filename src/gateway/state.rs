//! In-memory state of one org (its live calls and open queue), and what an action that a
//! provider carried out does to the call. Whether an action is allowed is `core::action`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::core::action::Action;
use crate::core::model::{
    outcome, Analytics, Call, CallState, QueueItem, Takeover, TranscriptEntry,
};

#[derive(Debug, Clone)]
pub struct ActiveCall {
    pub call: Call,
    pub transcript: Vec<TranscriptEntry>,
    /// Provider utterance id -> transcript position, for revising partials.
    pub utterances: HashMap<String, u32>,
}

#[derive(Debug, Default)]
pub struct OrgState {
    pub calls: HashMap<String, ActiveCall>,
    /// (integration, provider call id) -> call id, for live calls.
    pub by_provider: HashMap<(String, String), String>,
    /// Queue items still waiting or dialing.
    pub queue: BTreeMap<String, QueueItem>,
    pub analytics: Analytics,
}

impl OrgState {
    pub fn upsert_call(&mut self, call: &Call) {
        let key = (call.integration.clone(), call.provider_call_id.clone());
        if call.state.is_active() {
            self.by_provider.insert(key, call.id.clone());
            match self.calls.get_mut(&call.id) {
                Some(ac) => ac.call = call.clone(),
                None => {
                    self.calls.insert(
                        call.id.clone(),
                        ActiveCall {
                            call: call.clone(),
                            transcript: Vec::new(),
                            utterances: HashMap::new(),
                        },
                    );
                }
            }
        } else {
            self.by_provider.remove(&key);
            self.calls.remove(&call.id);
        }
    }

    pub fn upsert_entry(&mut self, entry: &TranscriptEntry, utterance: Option<&str>) {
        let Some(ac) = self.calls.get_mut(&entry.call_id) else {
            return;
        };
        let pos = entry.position as usize;
        if pos < ac.transcript.len() {
            ac.transcript[pos] = entry.clone();
        } else {
            ac.transcript.push(entry.clone());
        }
        if let Some(u) = utterance {
            ac.utterances.insert(u.to_string(), entry.position);
        }
    }

    pub fn upsert_queue(&mut self, item: &QueueItem) {
        if item.state.is_waiting() || item.state == crate::core::model::QueueState::Dialing {
            self.queue.insert(item.id.clone(), item.clone());
        } else {
            self.queue.remove(&item.id);
        }
    }
}

/// The call after the provider carried the action out.
pub fn apply_action(action: &Action, call: &mut Call, by: &str, now: DateTime<Utc>) {
    match action {
        Action::TakeOver { reason, notes } => {
            call.state = CallState::TakenOver;
            call.takeover = Some(Takeover {
                by: by.into(),
                reason: reason.clone(),
                notes: notes.clone(),
                at: now,
            });
        }
        Action::PauseAi => call.state = CallState::AiPaused,
        Action::ResumeAi => call.state = CallState::InProgress,
        Action::Say { .. } | Action::Instruct { .. } => {}
        Action::End => end_call(call, outcome::ENDED_BY_SUPERVISOR, None, now),
    }
    call.updated_at = now;
}

/// Marks a call ended. `duration` wins over the computed started->now time.
pub fn end_call(call: &mut Call, result: &str, duration: Option<f64>, now: DateTime<Utc>) {
    call.state = CallState::Ended;
    call.outcome = Some(result.to_string());
    call.ended_at = Some(now);
    call.duration_secs = duration.or_else(|| {
        call.started_at
            .map(|s| ((now - s).num_milliseconds().max(0) as f64) / 1000.0)
            .or(Some(0.0))
    });
    call.updated_at = now;
}
