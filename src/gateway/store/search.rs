//! Where history searches run: a few dedicated threads at a lower CPU priority (Linux
//! `nice` 10), each borrowing a pooled reader. A search flood then takes the CPU only when
//! ingest and actions leave it idle, and at most `[gateway.store] search_threads` searches
//! run at once whatever the number of tokens (the rest queue here), so the readers and
//! the other cores stay available for everything else.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::{Reads, Store, StoreError, StoreResult};

/// Search threads of a store opened without the setting (tests, `migrate`).
pub const DEFAULT_SEARCH_THREADS: usize = 2;
/// Niceness of the search threads (0 is normal, 19 the lowest priority).
const SEARCH_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

pub(super) struct SearchPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl SearchPool {
    pub(super) fn start(threads: usize) -> SearchPool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("callwatch-search-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only to take a job, not to run it.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            // Every sender is gone: the store was dropped.
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a search thread");
            }
        }
        SearchPool {
            jobs: Mutex::new(tx),
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux, PRIO_PROCESS with a thread id sets the priority of that thread only.
    // SAFETY: plain syscalls on the calling thread, no memory is shared.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, SEARCH_NICE)
    };
    if rc != 0 {
        tracing::debug!("cannot lower the priority of a search thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl Store {
    /// Runs an expensive read (a history search) on the search threads, with a pooled
    /// reader.
    pub async fn search<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reads<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let store = self.clone();
        let job: Job = Box::new(move || {
            // The asker may have gone away (client disconnected): nothing to tell then.
            let _ = tx.send(store.read_blocking(f));
        });
        let sent = self
            .shared
            .searches
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job);
        if sent.is_err() {
            return Err(StoreError::Task("the search threads have stopped".into()));
        }
        rx.await
            .map_err(|_| StoreError::Task("a search thread stopped".into()))?
    }
}
