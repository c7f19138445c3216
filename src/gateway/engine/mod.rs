//! The gateway's core: per-org state + stream under one lock, persisted before anything is
//! announced or acknowledged. Every change goes through [`Gateway::commit`]: write to the
//! store with its events numbered in the org's durable log (one transaction), update memory,
//! publish the events with the log's seqs. Because all of that
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
pub mod group;
#[cfg(test)]
mod group_tests;
mod ingest;
pub mod live;
#[cfg(test)]
mod machine_tests;
pub mod memory;
pub mod plan;
#[cfg(test)]
mod plan_tests;
mod queue;
mod reads;
mod remote;
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
use crate::gateway::store::{Batch, Db, LoggedEvent};

pub use ingest::IngestOutcome;
pub use memory::{ActiveCall, OrgState};
pub use stream::StreamStart;

pub struct OrgInner {
    /// The org's id (the log is per org).
    pub org: Arc<str>,
    pub state: OrgState,
    pub hub: Hub,
    /// Calls changed in a way analytics show; the analytics task recomputes and announces.
    pub analytics_dirty: bool,
}

pub struct Org {
    pub id: String,
    inner: Mutex<OrgInner>,
    /// Ingest requests waiting for the org's group commit (see `group.rs`).
    ingest: Mutex<group::IngestQueue>,
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
    pub store: Db,
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
    /// How ingest's group commit has gone (see `group.rs`).
    pub ingest_groups: group::GroupStats,
    /// Told of every event this instance logs, in seq order (see [`CommitHook`]).
    pub commit_hook: std::sync::OnceLock<Arc<dyn CommitHook>>,
    orgs: Mutex<HashMap<String, Arc<Org>>>,
    /// Engine work running on the blocking pool at once (see [`Gateway::blocking`]).
    blocking_slots: Arc<tokio::sync::Semaphore>,
    /// Each org's last logged seq when the gateway started: where its hub continues.
    start_seqs: HashMap<String, u64>,
}

/// Told, under the org's lock and in seq order, of the events this instance committed
/// (e.g. to publish them to other instances). Must not block: hand them to a task.
pub trait CommitHook: Send + Sync {
    fn committed(&self, org: &str, events: &[LoggedEvent]);
}

/// Engine work on the blocking pool at once. Commits of one org serialize on its lock and
/// SQLite has one writer, so more threads would only wait; 32 still lets PostgreSQL commit
/// many orgs in parallel.
pub const BLOCKING_SLOTS: usize = 32;

impl Gateway {
    /// Loads live calls and open queue items back from the database. Blocking.
    pub fn new(
        config: GatewayConfig,
        store: Db,
        shutdown: watch::Receiver<bool>,
    ) -> EngineResult<Arc<Gateway>> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("callwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EngineError::Internal(format!("cannot build the HTTP client: {e}")))?;
        // The numbering is read before the live state: events committed in between (by
        // another instance) are then replayed over state that already has them, which is
        // harmless, rather than missed.
        let (epoch, start_seqs) =
            store.read_latest_blocking(|r| Ok((r.epoch()?, r.stream_seqs()?)))?;
        let gw = Gateway {
            epoch: epoch.into(),
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
            ingest_groups: Default::default(),
            commit_hook: std::sync::OnceLock::new(),
            blocking_slots: Arc::new(tokio::sync::Semaphore::new(BLOCKING_SLOTS)),
            orgs: Mutex::new(HashMap::new()),
            start_seqs: start_seqs.into_iter().collect(),
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
        for org in gw.start_seqs.keys() {
            gw.org(org);
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
                        org: id.into(),
                        state: OrgState::default(),
                        hub: Hub::new(
                            self.epoch.clone(),
                            self.config.stream.history,
                            self.config.stream.history_bytes,
                            self.start_seqs.get(id).copied().unwrap_or(0),
                        ),
                        analytics_dirty: false,
                    }),
                    ingest: Mutex::default(),
                })
            })
            .clone()
    }

    pub fn org_ids(&self) -> Vec<String> {
        let map = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    /// Runs synchronous engine work (org locks, SQLite) on the blocking pool, at most
    /// [`BLOCKING_SLOTS`] at once. The rest wait here as futures: without the cap, a floor
    /// of 1,000 calls whose events all queue on one org's lock parks one pool thread each
    /// (tokio's 512), and their stacks and malloc arenas made RSS grow with time.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> EngineResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Gateway) -> EngineResult<T> + Send + 'static,
    {
        let slot = self
            .blocking_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| EngineError::Internal("the engine's blocking slots closed".into()))?;
        let gw = self.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the work ends, even when the caller stopped waiting for it.
            let _slot = slot;
            f(&gw)
        })
        .await?
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
        let org = inner.org.clone();
        let committed = if batch_changes_state(&batch) {
            // Compare-and-set on the org's log: commit only if no other instance logged a
            // change to what this batch writes since it was planned (see `remote.rs`).
            self.commit_checked(inner, &batch)?
        } else {
            // An audit entry alone depends on no state: nothing to be stale against.
            self.store
                .write_blocking(|w| w.commit_logged(&org, &batch))?
        };
        // Another instance may have logged events of this org since this hub last heard:
        // those go out first, so clients see the log's order.
        if let Some(first) = committed.events.first() {
            self.catch_up(inner, first.seq.saturating_sub(1))?;
        }
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
        self.publish(inner, &committed.events);
        let audits: Vec<AuditEntry> = batch
            .audits
            .into_iter()
            .zip(committed.audit_ids)
            .map(|(mut a, id)| {
                a.id = id;
                a
            })
            .collect();
        if analytics_changed {
            // Recomputing scans a day of calls: done by the maintenance task, debounced,
            // not on every event under this lock.
            inner.analytics_dirty = true;
            self.analytics_wakeup.notify_one();
        }
        Ok(audits)
    }

    /// Logs events that change no stored record (analytics) and announces them. Blocking.
    pub fn announce(&self, inner: &mut OrgInner, events: Vec<StreamEvent>) -> EngineResult<()> {
        let org = inner.org.clone();
        let logged = self
            .store
            .write_blocking(|w| w.append_events(&org, events))?;
        if let Some(first) = logged.first() {
            self.catch_up(inner, first.seq.saturating_sub(1))?;
        }
        for e in &logged {
            if let StreamEvent::AnalyticsUpdated { analytics } = &e.event {
                inner.state.analytics = analytics.clone();
            }
        }
        self.publish(inner, &logged);
        Ok(())
    }

    /// Numbers-as-logged into the hub, then tells the commit hook.
    fn publish(&self, inner: &mut OrgInner, events: &[LoggedEvent]) {
        for e in events {
            inner.hub.publish_at(e.seq, e.event.clone());
        }
        if let (Some(hook), false) = (self.commit_hook.get(), events.is_empty()) {
            hook.committed(&inner.org, events);
        }
    }

    /// Applies events logged elsewhere (another instance) to memory and delivers them to
    /// this instance's clients, without writing anything. Events already delivered are
    /// skipped; a gap before the first is filled from the log first. Blocking (it may read
    /// the log). This is the entry point for a bus that carries other instances' commits.
    pub fn deliver_logged(&self, org: &str, events: &[LoggedEvent]) -> EngineResult<()> {
        let handle = self.org(org);
        let mut inner = handle.lock();
        let Some(first) = events.iter().map(|e| e.seq).min() else {
            return Ok(());
        };
        self.catch_up(&mut inner, first.saturating_sub(1))?;
        let mut sorted: Vec<&LoggedEvent> = events.iter().collect();
        sorted.sort_by_key(|e| e.seq);
        for e in sorted {
            if e.seq == inner.hub.seq() + 1 {
                apply_to_memory(&mut inner.state, e);
                inner.hub.publish_at(e.seq, e.event.clone());
            } else if e.seq > inner.hub.seq() + 1 {
                self.catch_up(&mut inner, e.seq - 1)?;
                apply_to_memory(&mut inner.state, e);
                inner.hub.publish_at(e.seq, e.event.clone());
            }
        }
        Ok(())
    }

    /// Brings the org's memory and hub up to `upto` from the log (events other instances
    /// committed). Nothing to do on a single instance. Blocking.
    fn catch_up(&self, inner: &mut OrgInner, upto: u64) -> EngineResult<()> {
        while inner.hub.seq() < upto {
            let from = inner.hub.seq();
            let want = usize::try_from(upto - from)
                .unwrap_or(usize::MAX)
                .min(CATCH_UP_PAGE);
            let org = inner.org.clone();
            let missed = self
                .store
                .read_latest_blocking(|r| r.events_after(&org, from, want))?;
            let Some(first) = missed.first() else {
                // Pruned or never there: nothing to replay; continue the numbering.
                tracing::warn!(org = %org, from, upto, "stream log has no events to catch up on");
                break;
            };
            if first.seq != from + 1 {
                tracing::warn!(org = %org, from, first = first.seq, "stream log gap (pruned); continuing");
            }
            for e in &missed {
                apply_to_memory(&mut inner.state, e);
                inner.hub.publish_at(e.seq, e.event.clone());
            }
        }
        Ok(())
    }
}

/// Whether a batch writes state a change was planned from (not just audit entries).
fn batch_changes_state(batch: &Batch) -> bool {
    !(batch.calls.is_empty()
        && batch.transcript.is_empty()
        && batch.queue.is_empty()
        && batch.ingest_id.is_none())
}

/// Events read back from the log per query while catching up.
const CATCH_UP_PAGE: usize = 1000;

/// What a logged event means for an org's live state (the same as its commit did).
pub(super) fn apply_to_memory(state: &mut OrgState, e: &LoggedEvent) {
    match &e.event {
        StreamEvent::CallUpdated { call } | StreamEvent::CallEnded { call } => {
            state.upsert_call(call)
        }
        StreamEvent::TranscriptAppended { entry } | StreamEvent::TranscriptRevised { entry } => {
            state.upsert_entry(entry, e.utterance.as_deref())
        }
        StreamEvent::QueueUpdated { item } => state.upsert_queue(item),
        StreamEvent::AnalyticsUpdated { analytics } => state.analytics = analytics.clone(),
        StreamEvent::ActionAudited { .. } => {}
    }
}
