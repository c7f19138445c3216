//! "This instance does the work that must happen once": the queue scheduler (dials),
//! its retries, and maintenance sweeps run only on the instance holding the lease.
//!
//! The lease is a PostgreSQL session advisory lock held on a dedicated connection (not a
//! pooled one: the lock lives and dies with its session). Why a lock and not a lease row
//! with an expiry: when the holder dies (kill -9, crash, machine gone), its socket closes
//! and PostgreSQL drops the lock at once, so a survivor takes over on its next try
//! (every second) instead of waiting out an expiry; there is no clock to trust and no table
//! to migrate. A holder that is cut off rather than killed is covered from both ends: it
//! pings its session every second and stops its work as soon as a ping fails, and the
//! session asks PostgreSQL to drop a peer that stops answering TCP keepalives within ~10 s,
//! so the lock is freed only after the old holder has already stopped.
//!
//! One gateway alone (SQLite) holds the lease always ([`Lease::always`]).

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

/// How often a waiting instance tries the lock, and the holder pings its session.
pub const TRY_EVERY: Duration = Duration::from_secs(1);
/// A ping that takes longer than this counts as a lost session.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether this instance holds the lease; cheap to clone and to ask.
#[derive(Clone)]
pub struct Lease {
    held: watch::Receiver<bool>,
    /// For [`Lease::always`]: keeps the channel open (nobody ever changes it).
    _fixed: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Lease {
    /// Held for ever: the single-instance gateway.
    pub fn always() -> Lease {
        let (tx, rx) = watch::channel(true);
        Lease {
            held: rx,
            _fixed: Some(std::sync::Arc::new(tx)),
        }
    }

    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// A receiver that changes when the lease is won or lost.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.held.clone()
    }

    /// Competes for the lease `name` in the database at `url` (optionally under `scope`,
    /// e.g. the schema, so separate deployments sharing a database do not share a lease)
    /// until `shutdown`; released on shutdown so a successor need not wait.
    pub fn spawn(
        url: String,
        scope: String,
        name: &str,
        shutdown: watch::Receiver<bool>,
    ) -> (Lease, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        let key = format!("callwatch/{scope}/{name}");
        let task = tokio::spawn(compete(url, key, tx, shutdown));
        (
            Lease {
                held: rx,
                _fixed: None,
            },
            task,
        )
    }
}

async fn compete(
    url: String,
    key: String,
    held: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut warned = false;
    while !*shutdown.borrow() {
        match hold_while_connected(&url, &key, &held, &mut shutdown).await {
            Ok(()) => {}
            Err(e) => {
                if !warned {
                    tracing::warn!(lease = %key, error = %format!("{e:#}"), "lease session failed; retrying every second");
                    warned = true;
                }
            }
        }
        if *held.borrow() {
            tracing::warn!(lease = %key, "lease lost");
        }
        held.send_replace(false);
        tokio::select! {
            _ = tokio::time::sleep(TRY_EVERY) => {}
            _ = shutdown.changed() => {}
        }
    }
    held.send_replace(false);
}

/// One session: try the lock every second; once held, ping every second. Returns when the
/// session is lost or on shutdown (after releasing the lock).
async fn hold_while_connected(
    url: &str,
    key: &str,
    held: &watch::Sender<bool>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (client, connection) = tokio::time::timeout(
        PING_TIMEOUT,
        tokio_postgres::connect(url, tokio_postgres::NoTls),
    )
    .await
    .context("connecting timed out")?
    .context("cannot connect")?;
    let mut conn_task = tokio::spawn(connection);
    // A holder that vanishes without closing its socket is dropped by PostgreSQL after
    // ~10 s of unanswered keepalives, which frees the lock.
    client
        .batch_execute(
            "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1; \
             SET tcp_keepalives_count = 5; SET application_name = 'callwatch lease'",
        )
        .await
        .context("cannot configure the lease session")?;
    let result = async {
        loop {
            let step = async {
                if *held.borrow() {
                    client.simple_query("SELECT 1").await.map(|_| ())
                } else {
                    let row = client
                        .query_one(
                            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                            &[&key],
                        )
                        .await?;
                    if row.get::<_, bool>(0) {
                        tracing::info!(lease = %key, "lease acquired: this instance runs the scheduler and maintenance");
                        held.send_replace(true);
                    }
                    Ok(())
                }
            };
            match tokio::time::timeout(PING_TIMEOUT, step).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(anyhow::Error::new(e).context("lease query failed")),
                Err(_) => anyhow::bail!("lease session stopped answering"),
            }
            tokio::select! {
                _ = tokio::time::sleep(TRY_EVERY) => {}
                _ = &mut conn_task => anyhow::bail!("lease session closed"),
                _ = shutdown.changed() => {
                    if *held.borrow() {
                        held.send_replace(false);
                        let _ = tokio::time::timeout(
                            PING_TIMEOUT,
                            client.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", &[&key]),
                        )
                        .await;
                        tracing::info!(lease = %key, "lease released");
                    }
                    return Ok(());
                }
            }
        }
    }
    .await;
    // Stop work before the session (and so the lock) can go to someone else.
    held.send_replace(false);
    drop(client);
    conn_task.abort();
    result
}
