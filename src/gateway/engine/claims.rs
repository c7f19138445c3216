//! One action per call at a time. An action claims its call before the provider is asked
//! and releases the claim once the result is committed, so a second supervisor acting at
//! the same moment is told who holds the call instead of reaching the voice stack too (the
//! stack would otherwise end up obeying whoever's request arrived last, while the gateway
//! recorded whoever committed first).
//!
//! The claims live in this gateway's memory: one gateway process owns a database. With a
//! store shared by several gateways, `claim` must also take a row lock in that store
//! (insert into a claims table keyed by call id, with an expiry) before returning the guard,
//! and the guard's drop must delete it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::action::ActionKind;

/// Who is acting on a call, and what they are doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub actor: String,
    pub kind: ActionKind,
}

impl Holder {
    /// "sam is already taking over this call".
    pub fn busy_message(&self) -> String {
        format!("{} is already {} this call", self.actor, self.kind.doing())
    }
}

type Key = (String, String);

#[derive(Default)]
pub struct Claims {
    held: Arc<Mutex<HashMap<Key, Holder>>>,
}

fn lock(m: &Mutex<HashMap<Key, Holder>>) -> MutexGuard<'_, HashMap<Key, Holder>> {
    // Entries are inserted and removed whole; a panic elsewhere cannot leave one half made.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Claims {
    /// Claims `call_id` of `org` for `holder`, or names who holds it.
    pub fn claim(&self, org: &str, call_id: &str, holder: Holder) -> Result<ClaimGuard, Holder> {
        let key = (org.to_string(), call_id.to_string());
        let mut held = lock(&self.held);
        if let Some(current) = held.get(&key) {
            return Err(current.clone());
        }
        held.insert(key.clone(), holder);
        Ok(ClaimGuard {
            held: self.held.clone(),
            key,
        })
    }

    /// Calls claimed right now.
    pub fn len(&self) -> usize {
        lock(&self.held).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The holder of a call, if any.
    pub fn holder(&self, org: &str, call_id: &str) -> Option<Holder> {
        lock(&self.held)
            .get(&(org.to_string(), call_id.to_string()))
            .cloned()
    }
}

/// Releases the claim when dropped: after the commit, on an error, or while unwinding.
pub struct ClaimGuard {
    held: Arc<Mutex<HashMap<Key, Holder>>>,
    key: Key,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        lock(&self.held).remove(&self.key);
    }
}

/// (org, token name, key).
type KeyId = (String, String, String);

/// Idempotency keys whose first request is still being answered: (org, token, key) -> the
/// request's hash. In memory for the same reason as the claims above.
#[derive(Default)]
pub struct KeysInFlight {
    held: Arc<Mutex<HashMap<KeyId, String>>>,
}

/// Why a key cannot be used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBusy {
    /// The same request is still in progress.
    SameRequest,
    /// A different request with this key is in progress.
    OtherRequest,
}

impl KeysInFlight {
    /// Keys whose first request is being answered right now.
    pub fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn begin(
        &self,
        org: &str,
        token: &str,
        key: &str,
        hash: &str,
    ) -> Result<KeyGuard, KeyBusy> {
        let k = (org.to_string(), token.to_string(), key.to_string());
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.get(&k) {
            return Err(if h == hash {
                KeyBusy::SameRequest
            } else {
                KeyBusy::OtherRequest
            });
        }
        held.insert(k.clone(), hash.to_string());
        Ok(KeyGuard {
            held: self.held.clone(),
            key: k,
        })
    }
}

/// Ends the key's in-flight state when dropped (after its answer is stored, or on failure).
pub struct KeyGuard {
    held: Arc<Mutex<HashMap<KeyId, String>>>,
    key: (String, String, String),
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(actor: &str, kind: ActionKind) -> Holder {
        Holder {
            actor: actor.into(),
            kind,
        }
    }

    #[test]
    fn one_holder_per_call_until_released() {
        let claims = Claims::default();
        let guard = claims.claim("acme", "c1", h("sam", ActionKind::TakeOver));
        assert!(guard.is_ok());
        let busy = claims.claim("acme", "c1", h("ada", ActionKind::End));
        assert_eq!(
            busy.err().map(|b| b.busy_message()).as_deref(),
            Some("sam is already taking over this call")
        );
        // Other calls and other orgs are independent.
        assert!(claims
            .claim("acme", "c2", h("ada", ActionKind::End))
            .is_ok());
        assert!(claims
            .claim("globex", "c1", h("gus", ActionKind::End))
            .is_ok());
        drop(guard);
        assert!(claims.holder("acme", "c1").is_none());
        assert!(claims
            .claim("acme", "c1", h("ada", ActionKind::End))
            .is_ok());
    }

    #[test]
    fn a_panic_releases_the_claim() {
        let claims = Claims::default();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = claims.claim("acme", "c1", h("sam", ActionKind::PauseAi));
            panic!("provider code panicked");
        }));
        assert!(caught.is_err());
        assert!(claims.holder("acme", "c1").is_none());
    }

    #[test]
    fn keys_in_flight() {
        let keys = KeysInFlight::default();
        let g = keys.begin("acme", "sam", "k1", "h1");
        assert!(g.is_ok());
        assert_eq!(
            keys.begin("acme", "sam", "k1", "h1").err(),
            Some(KeyBusy::SameRequest)
        );
        assert_eq!(
            keys.begin("acme", "sam", "k1", "h2").err(),
            Some(KeyBusy::OtherRequest)
        );
        // Keys are per token.
        assert!(keys.begin("acme", "ada", "k1", "h1").is_ok());
        drop(g);
        assert!(keys.begin("acme", "sam", "k1", "h2").is_ok());
    }
}
