//! Background upkeep: analytics refresh (debounced) and pruning of old idempotency keys,
//! webhook log rows and stream log events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::gateway::engine::Gateway;
use crate::gateway::lease::Lease;

/// Event ids are remembered this long: a sender retrying later than this is not de-duplicated.
pub const INGEST_ID_RETENTION_DAYS: i64 = 7;

/// Answers to `Idempotency-Key` requests are replayed for this long.
pub const IDEMPOTENCY_KEY_HOURS: i64 = 24;

const DEBOUNCE: Duration = Duration::from_millis(250);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Pruning runs only while this instance holds `lease` (one sweep for all instances);
/// analytics are refreshed by every instance for the changes it committed.
pub async fn run(gw: Arc<Gateway>, lease: Lease) {
    let mut shutdown = gw.shutdown.clone();
    let mut last_prune: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if lease.is_held() && last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            let days = i64::from(gw.config.limits.webhook_log_days);
            let rows = gw.config.limits.webhook_log_max_rows;
            let pruned = gw
                .store
                .write(move |w| w.prune(INGEST_ID_RETENTION_DAYS, days, rows))
                .await;
            match pruned {
                Ok((ids, logs)) if ids + logs > 0 => {
                    tracing::info!(ids, logs, "pruned old ingest ids and webhook log rows")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning failed"),
            }
            let (keep, log_days) = (
                gw.config.stream.log_max_rows,
                i64::from(gw.config.stream.log_days),
            );
            match gw
                .store
                .write(move |w| w.prune_events(keep, log_days))
                .await
            {
                Ok(0) => {}
                Ok(events) => tracing::info!(events, "pruned old stream log events"),
                Err(e) => tracing::warn!(error = %e, "pruning the stream log failed"),
            }
            let expired = chrono::Utc::now() - chrono::Duration::hours(IDEMPOTENCY_KEY_HOURS);
            match gw
                .store
                .write(move |w| w.prune_idempotency_keys(expired))
                .await
            {
                Ok(0) => {}
                Ok(keys) => tracing::info!(keys, "pruned expired idempotency keys"),
                Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
            }
        }
        tokio::select! {
            _ = gw.analytics_wakeup.notified() => {}
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = shutdown.changed() => break,
        }
        // Let a burst of changes settle into one recomputation.
        tokio::time::sleep(DEBOUNCE).await;
        let refreshed = gw
            .blocking(|gw| {
                gw.refresh_analytics();
                Ok(())
            })
            .await;
        if let Err(e) = refreshed {
            tracing::warn!(error = %e, "analytics refresh task failed");
        }
    }
}
