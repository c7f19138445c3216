//! One action per call at a time. An action claims its call before the provider is asked
//! and releases the claim once the result is committed, so a second supervisor acting at
//! the same moment is told who holds the call instead of reaching the voice stack too (the
//! stack would otherwise end up obeying whoever's request arrived last, while the gateway
//! recorded whoever committed first).
//!
//! The claims live in this gateway's memory, which is enough when one gateway owns its
//! database (SQLite). With a store shared by several gateways, an action (and an
//! `Idempotency-Key`'s first request) also takes a [`SharedClaim`]: a row in that store,
//! inserted before the provider is asked and deleted after the commit, with an expiry in
//! case the instance holding it dies mid-action.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::action::ActionKind;
use crate::gateway::store::{Db, StoreResult};

/// Claims on calls (detail: the holder's busy message).
pub const CALL_SCOPE: &str = "call";
/// Idempotency keys whose first request is running (detail: the request's hash).
pub const KEY_SCOPE: &str = "idempotency_key";
/// How long a shared claim outlives an instance that died holding it: longer than any
/// provider request takes, short enough that the call is not blocked for long.
pub const SHARED_CLAIM_TTL_MS: i64 = 60_000;

/// A claim held in a shared store; [`SharedClaim::release`] it when done.
pub struct SharedClaim {
    scope: &'static str,
    key: String,
    holder: String,
}

/// Takes `(scope, key)` in the store when several instances share it: `Ok(None)` on a
/// store one gateway owns (memory claims suffice), `Ok(Some)` when taken, `Err(detail)` of
/// the holder when another request (on any instance) has it.
pub async fn claim_shared(
    store: &Db,
    scope: &'static str,
    key: String,
    detail: String,
) -> StoreResult<Result<Option<SharedClaim>, String>> {
    if !store.is_shared() {
        return Ok(Ok(None));
    }
    let holder = uuid::Uuid::new_v4().to_string();
    let (k, h) = (key.clone(), holder.clone());
    let held = store
        .write(move |w| w.claim(scope, &k, &h, &detail, SHARED_CLAIM_TTL_MS))
        .await?;
    Ok(match held {
        Some(current) => Err(current),
        None => Ok(Some(SharedClaim { scope, key, holder })),
    })
}

impl SharedClaim {
    /// Deletes the row. A failure is logged: the claim then expires on its own.
    pub async fn release(self, store: &Db) {
        let SharedClaim { scope, key, holder } = self;
        if let Err(e) = store
            .write(move |w| w.release_claim(scope, &key, &holder))
            .await
        {
            tracing::warn!(error = %e, scope, "cannot release a shared claim; it expires on its own");
        }
    }
}

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
