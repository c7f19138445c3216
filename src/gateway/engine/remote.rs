//! Several instances on one store: bringing this instance up to the shared log, for the
//! bus's safety-net poll and for an instance that has just won the scheduler lease (it
//! must see every queue change the previous holder committed before it dials anything).

use crate::core::protocol::StreamEvent;
use crate::gateway::engine::{apply_to_memory, Gateway, OrgInner};
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::store::{Batch, Committed, LoggedEvent, StoreError};

/// Plans tried per change when other instances keep committing to the same org first.
pub(super) const REPLAN_ATTEMPTS: u32 = 5;

/// The answer when every attempt found the org's log moved on (a 503: nothing was written).
pub(super) fn contended(e: EngineError) -> EngineError {
    match e {
        EngineError::Store(StoreError::Stale { org, .. }) => EngineError::Contended(format!(
            "other gateway instances kept changing org {org} while this change was planned; nothing was done, try again"
        )),
        other => other,
    }
}

/// Commits of one plan retried at a newer seq when what moved did not touch it.
const REBASE_LIMIT: u32 = 50;

/// Whether a logged event changed a call or queue item `batch` writes (then the plan
/// may be wrong and is made again).
fn touches(batch: &Batch, e: &LoggedEvent) -> bool {
    let call = |id: &str| {
        batch.calls.iter().any(|c| c.id == id)
            || batch.transcript.iter().any(|t| t.entry.call_id == id)
    };
    let item = |id: &str| {
        batch.queue.iter().any(|q| q.id == id)
            || batch
                .calls
                .iter()
                .any(|c| c.queue_item_id.as_deref() == Some(id))
    };
    match &e.event {
        StreamEvent::CallUpdated { call: c } | StreamEvent::CallEnded { call: c } => {
            call(&c.id) || c.queue_item_id.as_deref().is_some_and(item)
        }
        StreamEvent::TranscriptAppended { entry } | StreamEvent::TranscriptRevised { entry } => {
            call(&entry.call_id)
        }
        StreamEvent::QueueUpdated { item: q } => {
            item(&q.id) || q.call_id.as_deref().is_some_and(call)
        }
        StreamEvent::AnalyticsUpdated { .. } | StreamEvent::ActionAudited { .. } => false,
    }
}

pub(super) fn is_stale(e: &EngineError) -> bool {
    matches!(e, EngineError::Store(StoreError::Stale { .. }))
}

impl Gateway {
    /// Runs one plan-and-commit (`once` locks the org, plans from memory, commits) again
    /// while the store refuses it as stale: the refusal has already brought memory up to
    /// the log, so the next plan sees the other instance's change. Bounded; then a 503.
    pub(super) fn replanning<T>(
        &self,
        mut once: impl FnMut() -> EngineResult<T>,
    ) -> EngineResult<T> {
        let mut attempt = 1;
        loop {
            match once() {
                Err(e) if is_stale(&e) && attempt < REPLAN_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "change raced another instance; planning again");
                    attempt += 1;
                }
                other => return other.map_err(contended),
            }
        }
    }

    /// Commits `batch` if the org's log is where this memory is. When another instance
    /// logged events meanwhile, they are applied here; if none of them touches a call or
    /// queue item the batch writes, the plan still holds and is committed at the new seq
    /// (busy orgs see this all the time, on other calls); else the refusal is returned
    /// (as stale, memory now up to the log) for the caller to plan again. Blocking.
    pub(super) fn commit_checked(
        &self,
        inner: &mut OrgInner,
        batch: &Batch,
    ) -> EngineResult<Committed> {
        let org = inner.org.clone();
        let mut rebased = 0;
        loop {
            let planned = inner.hub.seq();
            let stale = match self
                .store
                .write_blocking(|w| w.commit_logged_at(&org, batch, planned))
            {
                Err(stale @ StoreError::Stale { .. }) => stale,
                other => return Ok(other?),
            };
            let StoreError::Stale { found, .. } = stale else {
                return Err(stale.into());
            };
            let moved = self.store.read_latest_blocking(|r| {
                r.events_after(&org, planned, (found - planned) as usize)
            })?;
            let contiguous = moved.first().map(|e| e.seq) == Some(planned + 1)
                && moved.last().map(|e| e.seq) == Some(found);
            if !contiguous {
                self.catch_up(inner, found)?;
                return Err(stale.into());
            }
            let conflict = moved.iter().any(|e| touches(batch, e));
            for e in &moved {
                apply_to_memory(&mut inner.state, e);
                inner.hub.publish_at(e.seq, e.event.clone());
            }
            rebased += 1;
            if conflict || rebased >= REBASE_LIMIT {
                return Err(stale.into());
            }
        }
    }

    /// Delivers, for every org, the logged events this instance has not delivered yet
    /// (committed by other instances). One read when nothing is missing. Blocking.
    pub fn catch_up_all(&self) -> EngineResult<()> {
        let last = self.store.read_latest_blocking(|r| r.stream_seqs())?;
        for (org, seq) in last {
            let handle = self.org(&org);
            let mut inner = handle.lock();
            if inner.hub.seq() < seq {
                self.catch_up(&mut inner, seq)?;
            }
        }
        Ok(())
    }

    /// A client resuming here from another instance may have been sent events this
    /// instance has not delivered yet (still in flight on the bus): bring the org up to the
    /// client's position from the log, so it resumes instead of getting a snapshot.
    /// Blocking when it reads; nothing to do on a single instance.
    pub(super) fn catch_up_to_client(&self, inner: &mut OrgInner, epoch: &str, since: u64) {
        if epoch != &*self.epoch || since <= inner.hub.seq() {
            return;
        }
        if let Err(e) = self.catch_up(inner, since) {
            tracing::warn!(error = %e, "cannot catch up with the log for a resuming client");
        }
    }

    /// Delivers the org's logged events this instance has not delivered yet, so a change
    /// is planned from the latest state. One read. Blocking.
    pub(super) fn catch_up_org(&self, inner: &mut OrgInner) -> EngineResult<()> {
        let last = self.store.read_latest_blocking(|r| r.stream_seqs())?;
        if let Some((_, seq)) = last.iter().find(|(o, _)| **o == *inner.org) {
            if inner.hub.seq() < *seq {
                self.catch_up(inner, *seq)?;
            }
        }
        Ok(())
    }
}
