//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the commit
//! that crosses 1,000 WAL pages: that one commit (and every ingest request waiting on the
//! org behind it) takes tens of milliseconds longer, which is what a p99 shows. The writer
//! therefore has `wal_autocheckpoint=0`, and this thread checkpoints a few times a second in
//! two steps: first on its own connection, concurrently with commits (copying the pages
//! written since the last time: the expensive part), then briefly holding the writer (only
//! what was committed during the first step is left), so that the checkpoint completes and
//! the next commit starts the WAL over instead of growing it forever.

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use rusqlite::Connection;

use super::{lock, Shared};

/// How often the checkpointer looks at the WAL.
const PERIOD: Duration = Duration::from_millis(200);

/// (WAL frames, frames checkpointed) after a PASSIVE checkpoint on `conn`.
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
}

/// Starts the checkpointer for the database at `path`; it stops once the store is dropped.
/// Returns false if it could not start (the caller keeps SQLite's automatic checkpoint).
pub(super) fn start(path: &Path, shared: Weak<Shared>) -> bool {
    let conn = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the checkpoint connection");
            return false;
        }
    };
    if let Err(e) = conn.busy_timeout(Duration::from_secs(5)) {
        tracing::warn!(error = %e, "cannot configure the checkpoint connection");
        return false;
    }
    let spawned = std::thread::Builder::new()
        .name("callwatch-checkpoint".into())
        .spawn(move || {
            // The WAL's size after the last finishing step: unchanged since means no commit
            // came in, and there is nothing to finish.
            let mut finished_at = 0;
            loop {
                std::thread::sleep(PERIOD);
                let Some(shared) = shared.upgrade() else {
                    break;
                };
                match passive(&conn) {
                    Ok((frames, copied))
                        if frames > 0 && (copied, frames) != (finished_at, finished_at) =>
                    {
                        // Commits went on during the copy: the pages they wrote are left.
                        let writer = lock(&shared.writer);
                        match passive(&writer) {
                            Ok((frames, _)) => finished_at = frames,
                            Err(e) => tracing::debug!(error = %e, "WAL checkpoint did not finish"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "WAL checkpoint did not run"),
                }
            }
        });
    match spawned {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the checkpoint thread");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gateway::store::{Store, WebhookLog};

    /// The WAL header's checkpoint sequence number: it moves each time a commit starts the
    /// WAL over, which happens only after a checkpoint copied all of it.
    fn restarts(wal: &std::path::Path) -> u32 {
        let bytes = std::fs::read(wal).unwrap_or_default();
        bytes
            .get(12..16)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    }

    /// With `wal_autocheckpoint=0` on the writer, only the checkpointer can let the WAL
    /// start over: it does, while commits go on.
    #[test]
    fn the_wal_is_checkpointed_without_the_writer() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("cw.db");
        let store = Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let auto: i64 = store
            .read_latest_blocking(|r| {
                Ok(r.conn
                    .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))?)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(auto, 0, "the writer does not checkpoint inside commits");
        let log = WebhookLog {
            org: Some("acme".into()),
            integration: "voice".into(),
            provider: "test".into(),
            event: None,
            payload: vec![b'x'; 4096],
            error: None,
        };
        let write = |n: usize| {
            for _ in 0..n {
                store
                    .write_blocking(|w| w.log_webhook(&log))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        };
        let wal = dir.path().join("cw.db-wal");
        write(1_000);
        let first = restarts(&wal);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while restarts(&wal) == first {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was never started over: nothing checkpointed it"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
            write(10);
        }
    }
}
