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
    // With calling hours configured, the floor also breaks the rules once, so the console
    // shows what compliance does: a lead on the do-not-call list and one where it is night.
    if gw.compliance(&config.org).calling_hours.is_some() {
        queue_rule_breakers(&gw, &who, speed).await;
    }
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

/// The number of the simulated lead who asked not to be called again (queued, then put on
/// the do-not-call list: the scheduler must refuse it when it is due).
pub const DNC_LEAD_NUMBER: &str = "+14155550199";
/// The simulated lead where it is night (an explicit time zone override).
pub const NIGHT_LEAD_NUMBER: &str = "+442071230199";

/// Queues the two rule-breaking leads (docs/SCENARIOS.md): one whose number goes on the
/// DNC list after it was queued, due in 20 simulated seconds; one in a time zone where it
/// is 03:00 now, which the gateway reschedules to its calling hours.
async fn queue_rule_breakers(gw: &Arc<Gateway>, who: &Principal, speed: f64) {
    let now = Utc::now();
    let due = now + chrono::Duration::milliseconds((20_000.0 / speed) as i64);
    let (dnc, night) = rule_breaking_leads(now, due);
    let w = who.clone();
    let queued = gw
        .blocking(move |gw| {
            gw.initiate(&w, dnc, DNC_LEAD_NUMBER.into())?;
            let number = gw.dnc_number(&w.org, DNC_LEAD_NUMBER)?;
            let entry = crate::core::compliance::DncEntry {
                number,
                source: "caller_request".into(),
                reason: Some("asked on an earlier call not to be called again (simulated)".into()),
                added_by: w.name.clone(),
                added_at: Utc::now(),
            };
            gw.dnc_put(
                &w,
                vec![entry],
                crate::core::compliance::decision::DNC_ADDED,
            )?;
            gw.initiate(&w, night, NIGHT_LEAD_NUMBER.into())
        })
        .await;
    if let Err(e) = queued {
        tracing::warn!(error = ?e, "simulated campaign cannot queue its rule-breaking leads");
    }
}

/// The two leads of [`queue_rule_breakers`]: (on the DNC list, due at `due`), (night).
pub fn rule_breaking_leads(
    now: chrono::DateTime<Utc>,
    due: chrono::DateTime<Utc>,
) -> (InitiateRequest, InitiateRequest) {
    let dnc = InitiateRequest {
        lead_id: Some("sim-lead-dnc".into()),
        lead_name: Some("Dora Nolan (asked not to be called)".into()),
        phone_number: DNC_LEAD_NUMBER.into(),
        campaign_id: Some("Spring buyers".into()),
        script: None,
        agent_settings: serde_json::Value::Null,
        scheduled_at: Some(due),
        time_zone: None,
    };
    let night = InitiateRequest {
        lead_id: Some("sim-lead-night".into()),
        lead_name: Some("Nils Night (03:00 local)".into()),
        phone_number: NIGHT_LEAD_NUMBER.into(),
        campaign_id: Some("Seller outreach".into()),
        script: None,
        agent_settings: serde_json::Value::Null,
        scheduled_at: None,
        time_zone: Some(night_zone(now)),
    };
    (dnc, night)
}

/// A fixed-offset zone where it is 03:xx at `now` ("Etc/GMT-9" is UTC+9: the sign is
/// POSIX's, inverted).
pub fn night_zone(now: chrono::DateTime<Utc>) -> String {
    use chrono::Timelike;
    // Offsets from UTC-12 to UTC+14 exist; one of two candidates is always in range.
    let h = now.hour() as i32;
    let offset = [3 - h, 27 - h]
        .into_iter()
        .find(|o| (-12..=14).contains(o))
        .unwrap_or(0);
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
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
    fn the_night_zone_is_at_three_in_the_morning() {
        use chrono::{TimeZone, Timelike};
        for h in 0..24 {
            let now = Utc
                .with_ymd_and_hms(2026, 11, 21, h, 17, 0)
                .single()
                .unwrap_or_default();
            let zone = night_zone(now);
            let tz = crate::core::compliance::zone::parse_zone(&zone)
                .unwrap_or_else(|| panic!("{zone} is a zone"));
            assert_eq!(now.with_timezone(&tz).hour(), 3, "{h}h UTC -> {zone}");
        }
    }

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
