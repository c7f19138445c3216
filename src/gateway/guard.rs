//! What keeps unauthenticated and expensive traffic cheap: counters of refused webhook
//! deliveries (in memory, bounded: nothing an unauthenticated caller sends is stored),
//! ingest rate limits per integration and per source address, and a per-token cap on
//! concurrent history searches.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::core::provider::WebhookError;
use crate::gateway::config::Limits;
use crate::gateway::ratelimit::RateLimiter;

/// The integration key for deliveries naming no configured integration. One key for all
/// of them, so made-up names cannot grow the table.
pub const UNKNOWN_INTEGRATION: &str = "unknown";

/// Why a delivery was refused before it was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    UnknownIntegration,
    MissingSignature,
    BadSignature,
    Stale,
    RateLimited,
}

impl RejectReason {
    pub fn of(err: &WebhookError) -> Option<RejectReason> {
        match err {
            WebhookError::MissingSignature(_) => Some(RejectReason::MissingSignature),
            WebhookError::BadSignature => Some(RejectReason::BadSignature),
            WebhookError::Stale { .. } => Some(RejectReason::Stale),
            // A verified but malformed or unknown body is logged like any verified delivery.
            WebhookError::Malformed(_) | WebhookError::UnknownEvent(_) => None,
        }
    }
}

/// One counter row of `GET /api/webhook-log/rejected`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RejectedCount {
    pub integration: String,
    pub reason: RejectReason,
    pub count: u64,
    /// Unix milliseconds of the last refusal.
    pub last_at_ms: i64,
}

/// (integration, reason) -> (org of the integration, count, last refusal in unix ms).
type Counters = BTreeMap<(String, RejectReason), (Option<String>, u64, i64)>;

pub struct Guard {
    /// A secret no integration has: deliveries naming no integration are checked against
    /// it, so they get the same answer (and take the same time) as a wrong signature.
    decoy_secret: String,
    rejected: Mutex<Counters>,
    per_integration: RateLimiter,
    per_address: RateLimiter,
    searches_per_token: usize,
    searches: Mutex<HashMap<String, Arc<TokenSearches>>>,
}

/// One token's history searches: the running ones' slots, and how many wait for one.
struct TokenSearches {
    slots: Arc<Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
}

/// How long a history search waits for one of its token's slots before 429.
const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Searches of one token that may wait, per slot; one more is refused at once.
const SEARCH_WAITERS_PER_SLOT: usize = 8;

/// Source addresses remembered by the per-address limiter before idle ones are forgotten.
const MAX_ADDRESSES: usize = 10_000;

impl Guard {
    pub fn new(limits: &Limits) -> Guard {
        Guard {
            decoy_secret: format!("decoy-{}", uuid::Uuid::new_v4()),
            rejected: Mutex::new(BTreeMap::new()),
            per_integration: RateLimiter::new(limits.ingest_per_minute_per_integration),
            per_address: RateLimiter::new(limits.ingest_per_minute_per_address)
                .with_max_keys(MAX_ADDRESSES),
            searches_per_token: limits.max_concurrent_searches.max(1),
            searches: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a refused delivery. `known` is (integration, org) when the name is a
    /// registered integration; any other name counts as "unknown", so the table has at most
    /// (integrations + 1) x reasons rows whatever callers send.
    pub fn reject(&self, known: Option<(&str, &str)>, reason: RejectReason) {
        let (key, org) = match known {
            Some((name, org)) => (name.to_string(), Some(org.to_string())),
            None => (UNKNOWN_INTEGRATION.to_string(), None),
        };
        let now = chrono::Utc::now().timestamp_millis();
        let mut map = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        let slot = map.entry((key, reason)).or_insert((org, 0, now));
        slot.1 = slot.1.saturating_add(1);
        slot.2 = now;
    }

    /// The counters an admin of `org` may see: its integrations', and the shared
    /// "unknown" row (which names nothing).
    pub fn rejected_for(&self, org: &str) -> Vec<RejectedCount> {
        let map = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|(_, (owner, _, _))| owner.as_deref().is_none_or(|o| o == org))
            .map(|((name, reason), (_, count, at))| RejectedCount {
                integration: name.clone(),
                reason: *reason,
                count: *count,
                last_at_ms: *at,
            })
            .collect()
    }

    /// Source addresses and integrations with a rate-limit bucket.
    pub fn rate_limit_keys(&self) -> usize {
        self.per_address.len() + self.per_integration.len()
    }

    /// Refused-delivery counters and per-token search semaphores.
    pub fn keys(&self) -> usize {
        let rejected = self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        let searches = self
            .searches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        rejected + searches
    }

    pub fn decoy_secret(&self) -> &str {
        &self.decoy_secret
    }

    /// Before the body is read: one request from `addr`, or the seconds to wait.
    pub fn admit_address(&self, addr: IpAddr) -> Result<(), u64> {
        self.per_address.check(&addr.to_string())
    }

    /// After verification: one delivery for `integration`, or the seconds to wait. Charged
    /// only for verified deliveries, so nobody can spend an integration's budget by
    /// claiming its name.
    pub fn admit_integration(&self, integration: &str) -> Result<(), u64> {
        self.per_integration.check(integration)
    }

    fn token_searches(&self, token_name: &str) -> Arc<TokenSearches> {
        let mut map = self.searches.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(token_name.to_string())
            .or_insert_with(|| {
                Arc::new(TokenSearches {
                    slots: Arc::new(Semaphore::new(self.searches_per_token)),
                    waiting: Default::default(),
                })
            })
            .clone()
    }

    /// A search slot for `token_name`, held until the permit drops; `None` when the token
    /// already runs its maximum of concurrent searches.
    pub fn search_slot(&self, token_name: &str) -> Option<OwnedSemaphorePermit> {
        self.token_searches(token_name)
            .slots
            .clone()
            .try_acquire_owned()
            .ok()
    }

    /// [`Guard::search_slot`], waiting up to [`SEARCH_WAIT`] for one when the token's are
    /// all taken: a client that asks again at once after each answer then waits its turn
    /// (costing nothing) instead of drawing thousands of 429 answers a second from the
    /// cores ingest needs. `None` when too many of the token's searches wait already, or
    /// when the wait runs out.
    pub async fn search_slot_waiting(&self, token_name: &str) -> Option<OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        let token = self.token_searches(token_name);
        if let Ok(permit) = token.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        let cap = self.searches_per_token * SEARCH_WAITERS_PER_SLOT;
        if token.waiting.fetch_add(1, Ordering::AcqRel) >= cap {
            token.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = tokio::time::timeout(SEARCH_WAIT, token.slots.clone().acquire_owned()).await;
        token.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.ok().and_then(Result::ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::config::GatewayConfig;

    #[test]
    fn counters_are_bounded_and_scoped_by_org() {
        let g = Guard::new(&GatewayConfig::default().limits);
        for _ in 0..1000 {
            g.reject(None, RejectReason::UnknownIntegration);
        }
        g.reject(Some(("a", "o1")), RejectReason::BadSignature);
        g.reject(Some(("a", "o1")), RejectReason::BadSignature);
        g.reject(Some(("b", "o2")), RejectReason::Stale);
        let seen = g.rejected_for("o1");
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.iter().any(|r| r.integration == UNKNOWN_INTEGRATION
            && r.reason == RejectReason::UnknownIntegration
            && r.count == 1000));
        assert!(seen.iter().any(|r| r.integration == "a"
            && r.reason == RejectReason::BadSignature
            && r.count == 2));
        assert!(!seen.iter().any(|r| r.integration == "b"));
    }

    #[test]
    fn search_slots_per_token() {
        let mut c = GatewayConfig::default();
        c.limits.max_concurrent_searches = 2;
        let g = Guard::new(&c.limits);
        let a = g.search_slot("t");
        let b = g.search_slot("t");
        assert!(a.is_some() && b.is_some());
        assert!(g.search_slot("t").is_none());
        assert!(g.search_slot("other").is_some());
        drop(a);
        assert!(g.search_slot("t").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_search_waits_for_its_tokens_slot_and_too_many_waiting_are_refused() {
        let mut c = GatewayConfig::default();
        c.limits.max_concurrent_searches = 1;
        let g = Arc::new(Guard::new(&c.limits));
        let running = g.search_slot("t");
        assert!(running.is_some());
        // Eight may wait for the one slot; the ninth is refused at once.
        let waiters: Vec<_> = (0..SEARCH_WAITERS_PER_SLOT)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move { g.search_slot_waiting("t").await })
            })
            .collect();
        tokio::task::yield_now().await;
        let asked = tokio::time::Instant::now();
        assert!(
            g.search_slot_waiting("t").await.is_none(),
            "too many waiting"
        );
        assert_eq!(
            asked.elapsed(),
            std::time::Duration::ZERO,
            "refused at once"
        );
        // The slot goes to one waiter when the running search ends; the others, still
        // waiting while it holds the slot, give up after the wait.
        drop(running);
        let mut held = Vec::new();
        for w in waiters {
            if let Ok(Some(permit)) = w.await {
                held.push(permit);
            }
        }
        assert_eq!(held.len(), 1);
        drop(held);
        assert!(g.search_slot_waiting("t").await.is_some(), "free again");
    }
}
