//! The dialing scheduler: hands due queue items to the org's first integration that can
//! dial, and retries failures with backoff (policy in config `[gateway.queue]`).

use std::sync::Arc;
use std::time::Duration;

use crate::gateway::engine::Gateway;

pub async fn run(gw: Arc<Gateway>) {
    let mut shutdown = gw.shutdown.clone();
    let poll = Duration::from_secs(gw.config.queue.poll_secs.max(1));
    loop {
        if *shutdown.borrow() {
            break;
        }
        for org in gw.org_ids() {
            for id in gw.stale_dials(&org) {
                let why = "the integration did not report the call it was asked to dial";
                if let Err(e) = gw.dial_failed(&org, &id, why) {
                    tracing::error!(error = %format!("{e:#}"), "queue update failed");
                }
            }
            // Items wait (pending) while the org has nothing that can dial.
            let Some(dialer) = gw.registry.dialer(&org) else {
                continue;
            };
            let due = match gw.take_due(&org) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(org, error = %format!("{e:#}"), "queue scan failed");
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
                            if let Err(e) = gw.dial_failed(&org, &item.id, &e.to_string()) {
                                tracing::error!(error = %format!("{e:#}"), "queue update failed");
                            }
                        }
                    }
                });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = gw.queue_wakeup.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}
