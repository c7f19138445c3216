//! The provider registry: which integrations an org has, and which one a webhook is for.

pub mod bland;
pub mod common;
pub mod custom;
pub mod dograh;
pub mod elevenlabs;
pub mod relay;
pub mod retell;
pub mod synthflow;
pub mod twilio;
pub mod vapi;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::core::provider::{Capability, Provider};
use crate::gateway::config::{IntegrationConfig, IntegrationKind};

/// The adapter for a configured integration, and the display name of its calls.
pub fn build(
    config: &IntegrationConfig,
    public_url: Option<&str>,
    http: reqwest::Client,
) -> (Arc<dyn Provider>, String) {
    let display = common::display_name(config);
    let provider: Arc<dyn Provider> = match config.kind {
        IntegrationKind::Custom => Arc::new(custom::CustomProvider::new(config, http)),
        IntegrationKind::Vapi => Arc::new(vapi::VapiProvider::new(config, http)),
        IntegrationKind::Retell => Arc::new(retell::RetellProvider::new(config, http)),
        IntegrationKind::Twilio => Arc::new(twilio::TwilioProvider::new(config, public_url, http)),
        IntegrationKind::Bland => Arc::new(bland::BlandProvider::new(config, http)),
        IntegrationKind::ElevenLabs => Arc::new(elevenlabs::ElevenLabsProvider::new(config)),
        IntegrationKind::Synthflow => Arc::new(synthflow::SynthflowProvider::new(config)),
        IntegrationKind::Dograh => Arc::new(dograh::DograhProvider::new(config)),
        IntegrationKind::ConversationRelay => {
            Arc::new(relay::RelayProvider::new(config, public_url, http))
        }
    };
    (provider, display)
}

#[derive(Clone)]
pub struct WebhookTarget {
    pub org: String,
    /// Display name for calls it reports ("Acme Voice").
    pub display: String,
    pub provider: Arc<dyn Provider>,
}

#[derive(Default)]
pub struct Registry {
    /// Per org, in registration order (the queue dials through the first that can).
    by_org: RwLock<HashMap<String, Vec<Arc<dyn Provider>>>>,
    /// Integrations that receive webhooks, by (globally unique) name.
    webhooks: RwLock<HashMap<String, WebhookTarget>>,
}

impl Registry {
    /// Registers (or replaces) an org's provider under `provider.name()`.
    pub fn register(&self, org: &str, provider: Arc<dyn Provider>) {
        // The maps hold no invariant a panic elsewhere could break: recover the guard
        // rather than drop a registration.
        let mut map = self.by_org.write().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(org.to_string()).or_default();
        list.retain(|p| p.name() != provider.name());
        list.push(provider);
    }

    pub fn register_webhook(&self, org: &str, display: &str, provider: Arc<dyn Provider>) {
        self.webhooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                provider.name().to_string(),
                WebhookTarget {
                    org: org.to_string(),
                    display: display.to_string(),
                    provider: provider.clone(),
                },
            );
        self.register(org, provider);
    }

    pub fn get(&self, org: &str, name: &str) -> Option<Arc<dyn Provider>> {
        let map = self.by_org.read().unwrap_or_else(|e| e.into_inner());
        map.get(org)?.iter().find(|p| p.name() == name).cloned()
    }

    pub fn webhook(&self, name: &str) -> Option<WebhookTarget> {
        self.webhooks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Per-call memory held by every registered adapter (each counted once).
    pub fn remembered_calls(&self) -> usize {
        let map = self.by_org.read().unwrap_or_else(|e| e.into_inner());
        let mut seen: Vec<*const ()> = Vec::new();
        let mut total = 0;
        for p in map.values().flatten() {
            let id = Arc::as_ptr(p) as *const ();
            if !seen.contains(&id) {
                seen.push(id);
                total += p.remembered_calls();
            }
        }
        total
    }

    pub fn dialer(&self, org: &str) -> Option<Arc<dyn Provider>> {
        let map = self.by_org.read().unwrap_or_else(|e| e.into_inner());
        map.get(org)?
            .iter()
            .find(|p| p.capabilities().contains(&Capability::Dial))
            .cloned()
    }
}
