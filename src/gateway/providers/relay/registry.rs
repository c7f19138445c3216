//! The live relay sessions by CallSid, so that a supervisor's action reaches the websocket
//! that carries the call; and the hand-offs waiting for Twilio's `<Connect action>` request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::core::action::Action;
use crate::core::provider::ProviderError;
use crate::gateway::providers::common;

/// A supervisor's action for a session, answered once it has been sent to Twilio.
pub struct Command {
    pub action: Action,
    pub by: String,
    pub reply: oneshot::Sender<Result<(), ProviderError>>,
}

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, (u64, mpsc::Sender<Command>)>>,
    /// CallSid -> the phone the caller is handed to.
    handoffs: Mutex<HashMap<String, String>>,
    next: std::sync::atomic::AtomicU64,
}

impl Sessions {
    /// Registers a session; the returned key removes exactly this one (a call whose
    /// websocket reconnects replaces the old session).
    pub fn insert(&self, call_sid: &str, tx: mpsc::Sender<Command>) -> u64 {
        let key = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.insert(call_sid.to_string(), (key, tx));
        key
    }

    pub fn remove(&self, call_sid: &str, key: u64) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.get(call_sid).is_some_and(|(k, _)| *k == key) {
            live.remove(call_sid);
        }
    }

    pub fn is_live(&self, call_sid: &str) -> bool {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.contains_key(call_sid)
    }

    /// Carries out an action on the live session; `Gone` when its websocket has closed.
    pub async fn act(&self, call_sid: &str, action: Action, by: &str) -> Result<(), ProviderError> {
        let gone = || ProviderError::Gone("the call's ConversationRelay session has ended".into());
        let tx = {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.get(call_sid).map(|(_, tx)| tx.clone())
        }
        .ok_or_else(gone)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Command {
            action,
            by: by.to_string(),
            reply,
        })
        .await
        .map_err(|_| gone())?;
        // The session answers as soon as the frames are written; bounded in case the
        // socket's writer is stuck.
        match tokio::time::timeout(Duration::from_secs(10), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(ProviderError::Upstream(
                "the ConversationRelay session did not carry out the action within 10 s".into(),
            )),
        }
    }

    pub fn set_handoff(&self, call_sid: &str, phone: &str) {
        let mut map = self.handoffs.lock().unwrap_or_else(|e| e.into_inner());
        common::bound(&mut map);
        map.insert(call_sid.to_string(), phone.to_string());
    }

    /// Live sessions and pending hand-offs.
    pub fn len(&self) -> usize {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner()).len();
        live + self
            .handoffs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn take_handoff(&self, call_sid: &str) -> Option<String> {
        let mut map = self.handoffs.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(call_sid)
    }
}
