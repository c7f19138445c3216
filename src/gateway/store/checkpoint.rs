//! WAL checkpoints on a thread of their own, never in a commit.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
//! request copies pages into the database and fsyncs twice before it is answered. While
//! searches keep read snapshots open the WAL cannot be reset, stays past the threshold, and
//! then every commit tries again. The writer therefore runs with `wal_autocheckpoint=0` and
//! this thread checkpoints (PASSIVE: it never waits for readers or the writer) once a second
//! on its own connection.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

use super::StoreResult;

/// How often the WAL is checkpointed. A second of commits is far below the 1,000 pages
/// (about 4 MB) at which SQLite itself would have checkpointed.
const EVERY: Duration = Duration::from_secs(1);

/// Stops the checkpoint thread when dropped (with the store).
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Turns off the writer's own checkpoints and starts the thread. Blocking.
    pub(super) fn start(path: &Path, writer: &Connection) -> StoreResult<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Only after the thread's connection opened: a store never runs without checkpoints.
        writer.execute_batch("PRAGMA wal_autocheckpoint=0")?;
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("callwatch-checkpoint".into())
            .spawn(move || {
                // Ends when the store is dropped (its sender with it).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    let done = conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "WAL checkpoint failed; retried in 1 s");
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the thread the writer checkpoints itself again, as SQLite does.
            tracing::warn!(error = %e, "cannot start the checkpoint thread");
            writer.execute_batch("PRAGMA wal_autocheckpoint=1000")?;
        }
        Ok(Checkpointer { _stop: stop })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{lock, Store, WebhookLog};

    #[test]
    fn the_wal_is_checkpointed_by_the_thread_not_by_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        let auto: i64 = lock(&store.shared.writer)
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(auto, 0);
        let db_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = db_size();
        let entry = WebhookLog {
            org: Some("o".into()),
            integration: "i".into(),
            provider: "custom".into(),
            event: None,
            payload: vec![b'x'; 64 * 1024],
            error: None,
        };
        for _ in 0..8 {
            store.write_blocking(|w| w.log_webhook(&entry)).unwrap();
        }
        // Far below SQLite's own threshold (1,000 pages): only the thread moves these
        // pages into the database file. Waits as long as a loaded machine may need.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while db_size() <= before + 256 * 1024 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            db_size() > before + 256 * 1024,
            "{} -> {}",
            before,
            db_size()
        );
    }
}
