//! Several instances on one store: bringing this instance up to the shared log, for the
//! bus's safety-net poll and for an instance that has just won the scheduler lease (it
//! must see every queue change the previous holder committed before it dials anything).

use crate::gateway::engine::{Gateway, OrgInner};
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::store::{Committed, StoreError, StoreResult};

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

    /// A stale refusal brings the org's memory up to the log before it is returned, so the
    /// caller's next plan starts from what the other instance committed. Blocking.
    pub(super) fn after_stale(
        &self,
        inner: &mut OrgInner,
        result: StoreResult<Committed>,
    ) -> EngineResult<Committed> {
        match result {
            Err(StoreError::Stale {
                org,
                planned,
                found,
            }) => {
                self.catch_up(inner, found)?;
                Err(EngineError::Store(StoreError::Stale {
                    org,
                    planned,
                    found,
                }))
            }
            other => Ok(other?),
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
