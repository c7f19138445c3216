//! Who is looking at which call, per org: each console's stream says which call it shows
//! (`watching` frames) and every console that takes part gets the org's list whenever it
//! changes (`presence` frames). Ephemeral: not sequenced, not stored, gone with the
//! connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::core::protocol::Watcher;

/// Longest call id a `watching` frame may name (ids are uuids; anything longer is refused).
pub const MAX_CALL_ID: usize = 128;

pub type List = Arc<Vec<Watcher>>;

struct OrgPresence {
    tx: watch::Sender<List>,
    by_conn: HashMap<u64, Watcher>,
}

#[derive(Default)]
pub struct Presence {
    next: AtomicU64,
    orgs: Mutex<HashMap<String, OrgPresence>>,
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, OrgPresence>> {
        // The map holds no invariant a panic could break half-way: keep serving.
        self.orgs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection id, unique for the life of the gateway.
    pub fn connection(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The org's list, followed from now on.
    pub fn subscribe(&self, org: &str) -> watch::Receiver<List> {
        let mut orgs = self.lock();
        let p = orgs.entry(org.to_string()).or_insert_with(|| OrgPresence {
            tx: watch::channel(Arc::new(Vec::new())).0,
            by_conn: HashMap::new(),
        });
        p.tx.subscribe()
    }

    /// Connection `conn` (authenticated as `actor`) now shows `call_id` (or no call).
    pub fn set(&self, org: &str, conn: u64, actor: &str, call_id: Option<String>) {
        let mut orgs = self.lock();
        let Some(p) = orgs.get_mut(org) else { return };
        match call_id {
            Some(call_id) => {
                p.by_conn.insert(
                    conn,
                    Watcher {
                        actor: actor.to_string(),
                        call_id,
                    },
                );
            }
            None => {
                p.by_conn.remove(&conn);
            }
        }
        publish(p);
    }

    /// Connections that said which call they show, across orgs.
    pub fn len(&self) -> usize {
        self.lock().values().map(|p| p.by_conn.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The connection closed.
    pub fn leave(&self, org: &str, conn: u64) {
        let mut orgs = self.lock();
        if let Some(p) = orgs.get_mut(org) {
            if p.by_conn.remove(&conn).is_some() {
                publish(p);
            }
        }
    }
}

/// Sends the list when it changed: one entry per (call, actor), sorted.
fn publish(p: &mut OrgPresence) {
    let mut list: Vec<Watcher> = p.by_conn.values().cloned().collect();
    list.sort_by(|a, b| (&a.call_id, &a.actor).cmp(&(&b.call_id, &b.actor)));
    list.dedup();
    p.tx.send_if_modified(|cur| {
        if **cur == list {
            false
        } else {
            *cur = Arc::new(list);
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_change_only_when_someone_moves() {
        let p = Presence::default();
        let mut rx = p.subscribe("acme");
        let (a, b) = (p.connection(), p.connection());
        p.set("acme", a, "sam", Some("c1".into()));
        assert!(rx.has_changed().unwrap_or(false));
        assert_eq!(rx.borrow_and_update().len(), 1);
        p.set("acme", b, "dana", Some("c1".into()));
        p.set("acme", b, "dana", Some("c1".into()));
        assert_eq!(rx.borrow_and_update().len(), 2);
        p.set("acme", a, "sam", Some("c1".into()));
        assert!(
            !rx.has_changed().unwrap_or(true),
            "the same again is no news"
        );
        p.leave("acme", b);
        assert_eq!(
            rx.borrow_and_update().as_slice(),
            [Watcher {
                actor: "sam".into(),
                call_id: "c1".into()
            }]
        );
        // Another org sees none of it.
        assert!(p.subscribe("other").borrow().is_empty());
    }
}
