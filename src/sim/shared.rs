//! State shared by the simulator handle, its floor task and its call tasks.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, Notify};

use super::call::{CallEnv, CallPlan, CallTask, Command};
use super::config::SimConfig;
use super::scenario::ScenarioSet;
use crate::core::ingest::EventSink;

/// State shared by the simulator handle, its floor task and its call tasks.
pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) scenarios: ScenarioSet,
    pub(crate) sink: Arc<dyn EventSink>,
    /// Live calls by provider call id.
    pub(crate) calls: Mutex<HashMap<String, mpsc::Sender<Command>>>,
    /// Signalled whenever a call ends (the floor waits for a free line).
    pub(crate) freed: Notify,
    /// Distinguishes this run's ids from earlier runs' (the gateway dedupes by id forever).
    pub(crate) nonce: String,
    pub(crate) dials: AtomicU64,
    pub(crate) manual: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Inner {
    pub(crate) fn live(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Starts a call task for `plan` on the current runtime.
    pub(crate) fn spawn(self: &Arc<Self>, plan: CallPlan) {
        let (tx, rx) = mpsc::channel(16);
        let id = plan.provider_call_id.clone();
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(id.clone(), tx);
        }
        let env = CallEnv {
            sink: self.sink.clone(),
            speed: self.config.speed,
            shutdown: self.shutdown.clone(),
        };
        let inner = self.clone();
        tokio::spawn(async move {
            CallTask::new(env, plan, rx).run().await;
            if let Ok(mut calls) = inner.calls.lock() {
                calls.remove(&id);
            }
            inner.freed.notify_waiters();
        });
    }
}
