//! In-memory state of one org: its live calls (with transcripts) and open queue items.
//! Only ever changed after the change is in SQLite (see `Gateway::commit`).

use std::collections::{BTreeMap, HashMap};

use crate::core::model::{Analytics, Call, QueueItem, QueueState, TranscriptEntry};

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
        if item.state.is_waiting() || item.state == QueueState::Dialing {
            self.queue.insert(item.id.clone(), item.clone());
        } else {
            self.queue.remove(&item.id);
        }
    }
}
