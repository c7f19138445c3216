//! The built-in call simulator: a provider like any other (issue: call simulator).
//!
//! Contract used by the gateway (`serve --simulate`, `demo`): [`Simulator::start`] loads the
//! scenarios, starts producing calls for one org on the current tokio runtime, delivering
//! events through the given sink, and returns the simulator, which implements
//! [`crate::core::provider::Provider`] under the integration name `config.integration`.
//!
//! Layout: [`scenario`] (file format, loader, checks), `call` (one call's task), `speech`
//! (what the parties say in reaction to supervisors), `floor` (arrivals and dial choice).

mod call;
mod config;
mod floor;
pub mod scenario;
mod shared;
pub mod speech;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{oneshot, watch, Notify};

use crate::core::action::{Action, Capability};
use crate::core::ingest::{EventSink, IngestEnvelope};
use crate::core::model::{Call, Lead, QueueItem};
use crate::core::provider::{DialStarted, Provider, ProviderError, WebhookError, WebhookRequest};

use call::{CallPlan, Command};
pub use config::SimConfig;
pub use scenario::{Scenario, ScenarioError, ScenarioSet};
use shared::Inner;

/// How long `perform` waits for a call task to carry out an action.
const ACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The simulated provider. Dropping it (or [`Simulator::stop`]) stops every call.
pub struct Simulator {
    inner: Arc<Inner>,
    shutdown: watch::Sender<bool>,
}

impl Simulator {
    /// Loads the scenarios and starts the call floor on the current tokio runtime.
    pub fn start(config: SimConfig, sink: Arc<dyn EventSink>) -> anyhow::Result<Arc<Simulator>> {
        tokio::runtime::Handle::try_current()
            .context("the simulator needs a running tokio runtime")?;
        if !(config.speed.is_finite() && config.speed > 0.0) {
            anyhow::bail!(
                "simulator speed must be a positive number, got {}",
                config.speed
            );
        }
        if !(config.calls_per_minute.is_finite() && config.calls_per_minute >= 0.0) {
            anyhow::bail!(
                "calls per minute must be a number >= 0, got {}",
                config.calls_per_minute
            );
        }
        if config.max_concurrent == 0 {
            anyhow::bail!("max_concurrent must be at least 1");
        }
        let scenarios = match &config.scenarios_dir {
            Some(dir) => scenario::load_dir(dir),
            None => scenario::load_builtin(),
        }
        .map_err(|e| anyhow::anyhow!("bad scenario: {e}"))?;
        let (tx, rx) = watch::channel(false);
        let nonce = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let inner = Arc::new(Inner {
            config,
            scenarios,
            sink,
            calls: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            nonce,
            dials: AtomicU64::new(0),
            manual: AtomicU64::new(0),
            shutdown: rx,
        });
        tokio::spawn(floor::run(inner.clone()));
        tracing::info!(
            org = %inner.config.org,
            seed = inner.config.seed,
            calls_per_minute = inner.config.calls_per_minute,
            speed = inner.config.speed,
            scenarios = inner.scenarios.scenarios.len(),
            "simulator started"
        );
        Ok(Arc::new(Simulator {
            inner,
            shutdown: tx,
        }))
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    pub fn scenarios(&self) -> &ScenarioSet {
        &self.inner.scenarios
    }

    /// Simulated calls currently live.
    pub fn live_calls(&self) -> usize {
        self.inner.live()
    }

    /// Starts one call of the named scenario now, outside the arrival process (tests, demos).
    /// Returns its provider call id. Deterministic per seed and order of such calls.
    pub fn spawn_scenario(&self, name: &str) -> anyhow::Result<String> {
        let scenario = self
            .inner
            .scenarios
            .get(name)
            .cloned()
            .with_context(|| format!("no scenario named '{name}'"))?;
        let n = self.inner.manual.fetch_add(1, Ordering::Relaxed);
        let plan = CallPlan {
            provider_call_id: format!("sim-{}-m{n:05}", self.inner.nonce),
            scenario,
            seed: floor::mix(self.inner.config.seed ^ floor::MANUAL_SALT, n),
            warm_lines: 0,
            lead: None,
            to: None,
            campaign: None,
            queue_item_id: None,
        };
        let id = plan.provider_call_id.clone();
        self.inner.spawn(plan);
        Ok(id)
    }

    /// Stops the floor and every call (no further events are sent).
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[async_trait::async_trait]
impl Provider for Simulator {
    fn name(&self) -> &str {
        &self.inner.config.integration
    }

    /// Everything but a real phone: a simulated caller can only be typed to.
    fn capabilities(&self) -> BTreeSet<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| *c != Capability::PhoneTakeOver)
            .collect()
    }

    /// The simulator delivers events in-process; it has no webhooks.
    fn parse_webhook(
        &self,
        _request: &WebhookRequest,
    ) -> Result<Vec<IngestEnvelope>, WebhookError> {
        Ok(Vec::new())
    }

    async fn perform(&self, call: &Call, action: &Action, by: &str) -> Result<(), ProviderError> {
        let id = &call.provider_call_id;
        let gone = || ProviderError::Gone(format!("the simulator has no live call {id}"));
        let tx = self
            .inner
            .calls
            .lock()
            .ok()
            .and_then(|c| c.get(id).cloned())
            .ok_or_else(gone)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Command {
            action: action.clone(),
            by: by.to_string(),
            reply,
        })
        .await
        .map_err(|_| gone())?;
        match tokio::time::timeout(ACTION_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(ProviderError::Upstream(format!(
                "simulated call {id} did not respond within {} s",
                ACTION_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn dial(&self, item: &QueueItem) -> Result<DialStarted, ProviderError> {
        if *self.inner.shutdown.borrow() {
            return Err(ProviderError::Upstream("the simulator is stopped".into()));
        }
        let n = self.inner.dials.fetch_add(1, Ordering::Relaxed);
        let mut rng = floor::dial_rng(self.inner.config.seed, n);
        let scenario = floor::choose_dial(&self.inner.scenarios, item, &mut rng)
            .map_err(ProviderError::Upstream)?;
        let lead = Lead {
            id: item.lead.id.clone(),
            name: item.lead.name.clone(),
        };
        let plan = CallPlan {
            provider_call_id: format!("sim-{}-d{n:05}", self.inner.nonce),
            scenario,
            seed: floor::mix(self.inner.config.seed ^ floor::DIAL_SALT, n),
            warm_lines: 0,
            lead: Some(lead).filter(|l| l.name.is_some() || l.id.is_some()),
            to: Some(item.phone_number.clone()),
            campaign: item.campaign.clone(),
            queue_item_id: Some(item.id.clone()),
        };
        let id = plan.provider_call_id.clone();
        self.inner.spawn(plan);
        Ok(DialStarted {
            provider_call_id: id,
        })
    }
}
