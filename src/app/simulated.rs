//! `serve --simulate` and `demo` wiring: the built-in simulator as each org's provider, plus what a
//! real call floor has around it: an outbound campaign that keeps the dialing queue stocked,
//! and the clean-up of simulated calls a previous run left behind.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::core::ingest::{EventSink, IngestEnvelope, IngestEvent};
use crate::core::model::{outcome, Role};
use crate::core::protocol::InitiateRequest;
use crate::gateway::auth::Principal;
use crate::gateway::engine::Gateway;
use crate::sim::{SimConfig, Simulator};

/// Waiting queue items the simulated campaign keeps in stock.
const CAMPAIGN_TARGET_WAITING: usize = 6;
/// Simulated seconds between two top-ups of the queue.
const CAMPAIGN_TICK_SECS: f64 = 15.0;

/// The simulated floor's knobs; `None` takes the simulator's default.
#[derive(Debug, Clone, Default)]
pub struct SimulatorOptions {
    /// The same seed gives the same call floor.
    pub seed: Option<u64>,
    /// New calls per simulated minute.
    pub calls_per_minute: Option<f64>,
    /// Time compression: 2.0 plays calls twice as fast.
    pub speed: Option<f64>,
    /// Scenario files replacing the built-in ones.
    pub scenarios: Option<std::path::PathBuf>,
    /// Most simultaneous simulated calls per org.
    pub max_concurrent: Option<usize>,
}

/// Starts a simulator as the provider of every org that has a token.
pub async fn start_simulators(gw: &Arc<Gateway>, sim: &SimulatorOptions) -> anyhow::Result<()> {
    let defaults = SimConfig::default();
    for (i, org) in gw.config.orgs().into_iter().enumerate() {
        let config = SimConfig {
            org: org.clone(),
            // Different orgs get different (but reproducible) call floors.
            seed: sim.seed.unwrap_or(defaults.seed).wrapping_add(i as u64),
            calls_per_minute: sim.calls_per_minute.unwrap_or(defaults.calls_per_minute),
            speed: sim.speed.unwrap_or(defaults.speed),
            scenarios_dir: sim.scenarios.clone(),
            max_concurrent: sim.max_concurrent.unwrap_or(defaults.max_concurrent),
            ..SimConfig::default()
        };
        let sink = gw.sink(&org, &config.integration);
        end_orphaned_calls(gw, &org, &config.integration, sink.as_ref()).await;
        let simulator = Simulator::start(config.clone(), sink)
            .with_context(|| format!("cannot start the call simulator for org {org:?}"))?;
        // Registered as the org's provider: supervisors' actions and queue dials reach it.
        gw.registry.register(&org, simulator);
        tokio::spawn(run_campaign(gw.clone(), config));
    }
    Ok(())
}

/// Simulated calls live in this process: those still active in the database belong to a
/// run that stopped, and no event will ever end them. End them now, through the ordinary
/// ingest path, so consoles do not show ghosts.
async fn end_orphaned_calls(gw: &Gateway, org: &str, integration: &str, sink: &dyn EventSink) {
    let orphans: Vec<String> = gw
        .active_calls(org)
        .into_iter()
        .filter(|c| c.integration == integration)
        .map(|c| c.provider_call_id)
        .collect();
    if orphans.is_empty() {
        return;
    }
    tracing::info!(
        org,
        count = orphans.len(),
        "ending simulated calls left by an earlier run"
    );
    let epoch = gw.epoch.to_string();
    for provider_call_id in orphans {
        let event = IngestEnvelope {
            id: format!("orphan-{epoch}-{provider_call_id}"),
            occurred_at: None,
            event: IngestEvent::CallEnded {
                provider_call_id,
                outcome: outcome::INTERRUPTED.into(),
                cost: None,
                duration_secs: None,
                summary: Some("The gateway stopped while this simulated call was live.".into()),
                recording_url: None,
            },
        };
        if let Err(e) = sink.submit(event).await {
            tracing::warn!(org, error = %e, "cannot end an orphaned simulated call");
        }
    }
}

/// A simulated outbound campaign: keeps a few leads waiting in the queue, scheduled over the
/// next minutes, so the scheduler dials them through the simulator as a real dialer would.
async fn run_campaign(gw: Arc<Gateway>, config: SimConfig) {
    let who = Principal {
        name: "outbound campaign (simulated)".into(),
        org: config.org.clone(),
        role: Role::Admin,
    };
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0xCA4A_16E5);
    let speed = if config.speed > 0.0 {
        config.speed
    } else {
        1.0
    };
    let tick = Duration::from_secs_f64((CAMPAIGN_TICK_SECS / speed).max(0.05));
    let mut shutdown = gw.shutdown.clone();
    let mut lead_no: u32 = 0;
    loop {
        let waiting = match gw.queue_items(&config.org, false, 500).await {
            Ok(items) => items.iter().filter(|i| i.state.is_waiting()).count(),
            Err(e) => {
                tracing::warn!(error = %e, "simulated campaign cannot read the queue");
                CAMPAIGN_TARGET_WAITING
            }
        };
        for _ in waiting..CAMPAIGN_TARGET_WAITING {
            lead_no += 1;
            let (request, phone) = campaign_lead(&mut rng, lead_no, speed, Utc::now());
            let who = who.clone();
            let queued = gw
                .blocking(move |gw| gw.initiate(&who, request, phone))
                .await;
            if let Err(e) = queued {
                tracing::warn!(error = ?e, "simulated campaign cannot queue a lead");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn campaign_lead(
    rng: &mut StdRng,
    n: u32,
    speed: f64,
    now: chrono::DateTime<Utc>,
) -> (InitiateRequest, String) {
    const NAMES: &[&str] = &[
        "Grace Holloway",
        "Mateo Alvarez",
        "Yuki Tanaka",
        "Olivia Brooks",
        "Ibrahim Sadiq",
        "Hannah Kowalski",
        "Ethan Clarke",
        "Sofia Marino",
        "Kwame Mensah",
        "Ingrid Larsen",
    ];
    const CAMPAIGNS: &[&str] = &["Spring buyers", "Seller outreach"];
    let name = NAMES[rng.random_range(0..NAMES.len())];
    let campaign = CAMPAIGNS[rng.random_range(0..CAMPAIGNS.len())];
    let phone = format!("+1555{:07}", rng.random_range(0..10_000_000u32));
    // Spread over the next three simulated minutes; some due at once.
    let delay_secs = rng.random_range(0.0..180.0) / speed;
    let scheduled_at = (delay_secs > 20.0 / speed)
        .then(|| now + chrono::Duration::milliseconds((delay_secs * 1000.0) as i64));
    let request = InitiateRequest {
        lead_id: Some(format!("sim-lead-{n}")),
        lead_name: Some(name.into()),
        phone_number: phone.clone(),
        campaign_id: Some(campaign.into()),
        script: None,
        agent_settings: serde_json::Value::Null,
        scheduled_at,
        time_zone: None,
    };
    (request, phone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_leads_are_reproducible_and_well_formed() {
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        let now = Utc::now();
        for n in 0..20 {
            let (ra, pa) = campaign_lead(&mut a, n, 1.0, now);
            let (rb, pb) = campaign_lead(&mut b, n, 1.0, now);
            assert_eq!(ra, rb);
            assert_eq!(pa, pb);
            assert!(pa.starts_with("+1555") && pa.len() == 12, "{pa}");
            if let Some(t) = ra.scheduled_at {
                assert!(t > now);
            }
        }
    }
}
