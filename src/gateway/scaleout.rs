//! Several gateway instances on one shared store: joins this instance to the bus (NATS
//! JetStream fan-out) and to the competition for the scheduler lease. A single gateway
//! (SQLite, no bus) gets neither and holds the lease always (docs/DEPLOYMENT.md).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::gateway::bus::{fanout, BusKind, NatsBus};
use crate::gateway::config::StoreKind;
use crate::gateway::engine::{CommitHook, Gateway};
use crate::gateway::lease::Lease;
use crate::gateway::GatewayConfig;

/// The lease this instance's scheduler and maintenance follow, and the bus tasks.
pub struct ScaleOut {
    pub lease: Lease,
    tasks: Vec<JoinHandle<()>>,
}

/// The name of the one lease: dialing, retries and retention sweeps.
const SCHEDULER_LEASE: &str = "scheduler";

/// The shared store's connection URL, when the store is one several instances share.
/// (SQLite is never shared: each instance would have its own file.)
fn shared_store(config: &GatewayConfig) -> Option<String> {
    match config.store.kind {
        StoreKind::Postgres => config.store.url.clone().filter(|u| !u.trim().is_empty()),
        StoreKind::Sqlite => None,
    }
}

/// What separates this deployment's lease from another's in the same database: its
/// schema (advisory locks are per database, not per schema).
fn lease_scope(config: &GatewayConfig) -> String {
    config.store.schema.clone().unwrap_or_default()
}

/// Refuses a bus without a shared store: instances each on their own SQLite file would
/// each number their own events and never see each other's writes.
pub fn check(config: &GatewayConfig) -> anyhow::Result<()> {
    if config.bus.kind == BusKind::Nats && shared_store(config).is_none() {
        anyhow::bail!(
            "[gateway.bus] kind = \"nats\" (or --nats) needs a store all instances share: \
             set [gateway.store] kind = \"postgres\" and url (or --store postgres://...). \
             Several gateways on their own SQLite files cannot serve one org together \
             (docs/DEPLOYMENT.md)"
        );
    }
    Ok(())
}

/// Connects to the bus (failing with what to check when NATS is unreachable) and starts
/// competing for the lease. Call before the gateway serves.
pub async fn join(gw: &Arc<Gateway>, shutdown: watch::Receiver<bool>) -> anyhow::Result<ScaleOut> {
    check(&gw.config)?;
    let mut tasks = Vec::new();
    if gw.config.bus.kind == BusKind::Nats {
        let bus = NatsBus::connect(&gw.config.bus).await?;
        let (publisher, bus_tasks) = fanout::start(gw, bus).await?;
        let hook: Arc<dyn CommitHook> = publisher;
        if gw.commit_hook.set(hook).is_err() {
            anyhow::bail!("the gateway already has a commit hook");
        }
        tasks.extend(bus_tasks);
    }
    let lease = match shared_store(&gw.config) {
        Some(url) => {
            let (lease, task) =
                Lease::spawn(url, lease_scope(&gw.config), SCHEDULER_LEASE, shutdown);
            tasks.push(task);
            lease
        }
        None => Lease::always(),
    };
    Ok(ScaleOut { lease, tasks })
}

impl ScaleOut {
    /// Waits (bounded by each task) for the bus to flush and the lease to be released.
    pub async fn stopped(self) {
        for t in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), t).await;
        }
    }
}
