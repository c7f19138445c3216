//! Several instances on one store: bringing this instance up to the shared log, for the
//! bus's safety-net poll and for an instance that has just won the scheduler lease (it
//! must see every queue change the previous holder committed before it dials anything).

use crate::gateway::engine::Gateway;
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
}
