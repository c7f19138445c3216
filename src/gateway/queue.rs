//! The dialing scheduler: hands due queue items to the org's first integration that can
//! dial, and retries failures with backoff (policy in config `[gateway.queue]`).

use std::sync::Arc;
use std::time::Duration;

use crate::gateway::engine::Gateway;
use crate::gateway::lease::Lease;

/// Runs while this instance holds `lease` (always, for a single gateway): with several
/// instances exactly one dials (docs/DEPLOYMENT.md).
pub async fn run(gw: Arc<Gateway>, lease: Lease) {
    let mut shutdown = gw.shutdown.clone();
    let poll = Duration::from_secs(gw.config.queue.poll_secs.max(1));
    let mut held = lease.watch();
    let mut was_held = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if !lease.is_held() {
            was_held = false;
            tokio::select! {
                _ = held.changed() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        if !was_held {
            // The previous holder's last commits (items it marked dialing) must be in
            // memory before anything is taken, or they would be dialled again.
            if let Err(e) = gw.blocking(|gw| gw.catch_up_all()).await {
                tracing::warn!(error = %e, "cannot catch up with the event log; scheduling waits");
                tokio::time::sleep(poll).await;
                continue;
            }
            was_held = true;
        }
        for org in gw.org_ids() {
            for id in gw.stale_dials(&org) {
                let why = "the integration did not report the call it was asked to dial";
                let o = org.clone();
                if let Err(e) = gw.blocking(move |gw| gw.dial_failed(&o, &id, why)).await {
                    tracing::error!(error = %e, "queue update failed");
                }
            }
            let o = org.clone();
            if let Err(e) = gw.blocking(move |gw| gw.compliance_deadlines(&o)).await {
                tracing::error!(org, error = %e, "compliance deadline check failed");
            }
            // Items wait (pending) while the org has nothing that can dial.
            let Some(dialer) = gw.registry.dialer(&org) else {
                continue;
            };
            let o = org.clone();
            let due = match gw.blocking(move |gw| gw.take_due(&o)).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(org, error = %e, "queue scan failed");
                    continue;
                }
            };
            for item in due {
                let gw = gw.clone();
                let dialer = dialer.clone();
                let org = org.clone();
                tokio::spawn(async move {
                    match dialer.dial(&item).await {
                        Ok(started) => {
                            tracing::info!(org, item = %item.id, provider_call_id = %started.provider_call_id, "dial started")
                        }
                        Err(e) => {
                            tracing::warn!(org, item = %item.id, error = %e, "dial failed");
                            let why = e.to_string();
                            let result = gw
                                .blocking(move |gw| gw.dial_failed(&org, &item.id, &why))
                                .await;
                            if let Err(e) = result {
                                tracing::error!(error = %e, "queue update failed");
                            }
                        }
                    }
                });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = gw.queue_wakeup.notified() => {}
            _ = held.changed() => {}
            _ = shutdown.changed() => {}
        }
    }
}
