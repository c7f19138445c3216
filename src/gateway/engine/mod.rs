//! The gateway's core: per-org state + stream under one lock, persisted before anything is
//! announced or acknowledged. Every change goes through [`Gateway::commit`]: write to SQLite
//! (one transaction), update memory, number and publish the events. Because all of that
//! happens under the org's lock, a snapshot taken under the same lock is consistent with its
//! seq, and a subscriber registered under it misses and doubles nothing.
//!
//! The engine is synchronous on purpose: its operations hold an org's std mutex while they
//! commit, which must never span an `.await`. Async callers go through
//! [`Gateway::blocking`] (the blocking pool); only the short in-memory reads (active calls,
//! stream attach) run directly on the async runtime.

mod actions;
pub mod claims;
pub mod compliance;
mod ingest;
#[cfg(test)]
mod machine_tests;
pub mod memory;
pub mod plan;
#[cfg(test)]
mod plan_tests;
mod queue;
mod reads;
pub mod retry;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Notify};

use crate::core::model::AuditEntry;
use crate::core::protocol::StreamEvent;
use crate::gateway::auth::TokenTable;
use crate::gateway::config::GatewayConfig;
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::guard::Guard;
use crate::gateway::hub::Hub;
use crate::gateway::providers::Registry;
use crate::gateway::ratelimit::RateLimiter;
use crate::gateway::store::{Batch, Store};

pub use ingest::IngestOutcome;
pub use memory::{ActiveCall, OrgState};
pub use stream::StreamStart;

pub struct OrgInner {
    pub state: OrgState,
    pub hub: Hub,
    /// Calls changed in a way analytics show; the analytics task recomputes and announces.
    pub analytics_dirty: bool,
}

pub struct Org {
    pub id: String,
    inner: Mutex<OrgInner>,
}

impl Org {
    pub fn lock(&self) -> MutexGuard<'_, OrgInner> {
        // A panic while holding the lock cannot leave SQLite inconsistent (memory is only
        // updated after a commit), so keep serving rather than poisoning the org forever.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Gateway {
    pub config: GatewayConfig,
    pub epoch: Arc<str>,
    pub store: Store,
    pub tokens: TokenTable,
    pub registry: Registry,
    pub limiter: RateLimiter,
    pub guard: Guard,
    pub http: reqwest::Client,
    pub queue_wakeup: Notify,
    pub analytics_wakeup: Notify,
    pub shutdown: watch::Receiver<bool>,
    /// Calls with an action in progress (see `claims.rs`).
    pub claims: claims::Claims,
    /// Idempotency keys whose first request is being answered.
    pub keys_in_flight: claims::KeysInFlight,
    /// Which call each console shows (see `gateway::presence`).
    pub presence: crate::gateway::presence::Presence,
    orgs: Mutex<HashMap<String, Arc<Org>>>,
}

impl Gateway {
    /// Loads live calls and open queue items back from the database. Blocking.
    pub fn new(
        config: GatewayConfig,
        store: Store,
        shutdown: watch::Receiver<bool>,
    ) -> EngineResult<Arc<Gateway>> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("callwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EngineError::Internal(format!("cannot build the HTTP client: {e}")))?;
        let gw = Gateway {
            epoch: uuid::Uuid::new_v4().to_string().into(),
            tokens: TokenTable::new(&config.tokens),
            limiter: RateLimiter::new(config.limits.actions_per_minute),
            guard: Guard::new(&config.limits),
            registry: Registry::default(),
            http,
            queue_wakeup: Notify::new(),
            analytics_wakeup: Notify::new(),
            shutdown,
            claims: claims::Claims::default(),
            keys_in_flight: claims::KeysInFlight::default(),
            presence: Default::default(),
            orgs: Mutex::new(HashMap::new()),
            store,
            config,
        };
        let (active, open_queue) = gw
            .store
            .read_latest_blocking(|r| Ok((r.load_active()?, r.load_open_queue()?)))?;
        for (call, entries) in active {
            let org = gw.org(&call.org);
            let mut inner = org.lock();
            inner.state.upsert_call(&call);
            for (entry, utterance) in entries {
                inner.state.upsert_entry(&entry, utterance.as_deref());
            }
        }
        for item in open_queue {
            gw.org(&item.org).lock().state.upsert_queue(&item);
        }
        for org in gw.config.orgs() {
            gw.org(&org);
        }
        for org in gw.org_ids() {
            let a = gw.live_analytics(&org)?;
            gw.org(&org).lock().state.analytics = a;
        }
        Ok(Arc::new(gw))
    }

    pub fn org(&self, id: &str) -> Arc<Org> {
        let mut map = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(Org {
                    id: id.to_string(),
                    inner: Mutex::new(OrgInner {
                        state: OrgState::default(),
                        hub: Hub::new(self.epoch.clone(), self.config.stream.history),
                        analytics_dirty: false,
                    }),
                })
            })
            .clone()
    }

    pub fn org_ids(&self) -> Vec<String> {
        let map = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    /// Runs synchronous engine work (org locks, SQLite) on the blocking pool.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> EngineResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Gateway) -> EngineResult<T> + Send + 'static,
    {
        let gw = self.clone();
        tokio::task::spawn_blocking(move || f(&gw)).await?
    }

    /// Persists `batch`, applies it to memory and announces it, under the org's lock (the
    /// caller's `inner`). Returns the audit entries with their ids. Blocking.
    fn commit(
        &self,
        inner: &mut OrgInner,
        batch: Batch,
        analytics_changed: bool,
    ) -> EngineResult<Vec<AuditEntry>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.store.write_blocking(|w| w.commit(&batch))?;
        for call in &batch.calls {
            inner.state.upsert_call(call);
        }
        for w in &batch.transcript {
            inner
                .state
                .upsert_entry(&w.entry, w.utterance_id.as_deref());
        }
        for item in &batch.queue {
            inner.state.upsert_queue(item);
        }
        for call in batch.calls {
            inner.hub.publish(if call.state.is_active() {
                StreamEvent::CallUpdated { call }
            } else {
                StreamEvent::CallEnded { call }
            });
        }
        for w in batch.transcript {
            inner.hub.publish(if w.appended {
                StreamEvent::TranscriptAppended { entry: w.entry }
            } else {
                StreamEvent::TranscriptRevised { entry: w.entry }
            });
        }
        for item in batch.queue {
            inner.hub.publish(StreamEvent::QueueUpdated { item });
        }
        let audits: Vec<AuditEntry> = batch
            .audits
            .into_iter()
            .zip(ids)
            .map(|(mut a, id)| {
                a.id = id;
                a
            })
            .collect();
        for audit in &audits {
            inner.hub.publish(StreamEvent::ActionAudited {
                audit: audit.clone(),
            });
        }
        if analytics_changed {
            // Recomputing scans a day of calls: done by the maintenance task, debounced,
            // not on every event under this lock.
            inner.analytics_dirty = true;
            self.analytics_wakeup.notify_one();
        }
        Ok(audits)
    }
}
