//! Several instances on one store: bringing this instance up to the shared log, for the
//! bus's safety-net poll and for an instance that has just won the scheduler lease (it
//! must see every queue change the previous holder committed before it dials anything).

use crate::gateway::engine::{Gateway, OrgInner};
use crate::gateway::error::EngineResult;

impl Gateway {
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
