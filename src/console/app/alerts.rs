//! The alert list: every alert the console has seen this session, newest first, kept after
//! its call ends so a supervisor who looked away still reads it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::core::model::{Call, CallId};

/// Older alerts beyond this many are dropped (a long shift must not grow without bound).
pub const MAX_ALERTS: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub call_id: CallId,
    pub kind: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct AlertLog {
    /// Newest first.
    pub(in crate::console) items: Vec<AlertRecord>,
    /// What was already recorded: (call, kind, at).
    seen: HashSet<(CallId, String, DateTime<Utc>)>,
    /// The latest known state of every call with an alert (the list shows who, and Enter
    /// opens the call's history entry once it ended).
    pub(in crate::console) calls: HashMap<CallId, Call>,
    pub(in crate::console) selected: usize,
    pub(in crate::console) top: usize,
}

impl AlertLog {
    /// Records the call's alerts not seen yet; returns the kinds of the new ones.
    pub(in crate::console) fn observe(&mut self, call: &Call) -> Vec<String> {
        if call.alerts.is_empty() && !self.calls.contains_key(&call.id) {
            return Vec::new();
        }
        let mut fresh = Vec::new();
        for a in &call.alerts {
            let key = (call.id.clone(), a.kind.clone(), a.at);
            if self.seen.insert(key) {
                let rec = AlertRecord {
                    call_id: call.id.clone(),
                    kind: a.kind.clone(),
                    message: a.message.clone(),
                    at: a.at,
                };
                // Newest first; alerts arrive roughly in order, so this is a short walk.
                let pos = self.items.iter().position(|r| r.at <= rec.at);
                self.items.insert(pos.unwrap_or(self.items.len()), rec);
                fresh.push(a.kind.clone());
                if self.selected > 0 {
                    self.selected += 1;
                }
            }
        }
        self.calls.insert(call.id.clone(), call.clone());
        while self.items.len() > MAX_ALERTS {
            if let Some(old) = self.items.pop() {
                if !self.items.iter().any(|r| r.call_id == old.call_id) {
                    self.calls.remove(&old.call_id);
                }
            }
        }
        self.selected = self.selected.min(self.items.len().saturating_sub(1));
        fresh
    }

    pub fn items(&self) -> &[AlertRecord] {
        &self.items
    }

    pub fn selected(&self) -> Option<&AlertRecord> {
        self.items.get(self.selected)
    }

    pub fn call(&self, id: &str) -> Option<&Call> {
        self.calls.get(id)
    }

    pub(in crate::console) fn move_selection(&mut self, delta: isize) {
        let n = self.items.len();
        if n > 0 {
            self.selected = (self.selected as isize + delta).clamp(0, n as isize - 1) as usize;
        }
    }
}
