//! The call floor: seeds a few calls already mid-conversation, then starts new ones as a
//! Poisson process in simulated time, capped at `max_concurrent`. Also decides which
//! scenario a dial plays.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::call::CallPlan;
use super::scenario::{Scenario, ScenarioSet};
use super::shared::Inner;
use crate::core::model::{Direction, QueueItem};

const FLOOR_SALT: u64 = 0xf100_2000_0000_0001;
pub(crate) const DIAL_SALT: u64 = 0xd1a1_0000_0000_0002;
pub(crate) const MANUAL_SALT: u64 = 0x3a2a_0000_0000_0003;
const DIAL_CHOICE_SALT: u64 = 0xc401_ce00_0000_0004;

/// SplitMix64 of `seed` and `n`: independent, well-spread seeds per call index.
pub(crate) fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn dial_rng(seed: u64, n: u64) -> StdRng {
    StdRng::seed_from_u64(mix(seed ^ DIAL_CHOICE_SALT, n))
}

fn weighted<'a, T>(items: &'a [(T, f64)], rng: &mut StdRng) -> Option<&'a T> {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let mut x = rng.random_range(0.0..total);
    for (item, w) in items {
        if x < *w {
            return Some(item);
        }
        x -= w;
    }
    items.iter().rev().find(|(_, w)| *w > 0.0).map(|(i, _)| i)
}

/// How many calls are on the floor the moment it starts: roughly the steady state
/// (arrival rate × an average call of about 1.2 simulated minutes).
pub(crate) fn seed_count(calls_per_minute: f64, max_concurrent: usize) -> usize {
    ((calls_per_minute * 1.2).round() as usize).min(max_concurrent)
}

/// The scenario of call number `index` on the floor (seeded calls only pick conversations).
fn pick_floor(
    set: &ScenarioSet,
    rng: &mut StdRng,
    conversation_only: bool,
) -> Option<Arc<Scenario>> {
    let items: Vec<(Arc<Scenario>, f64)> = set
        .scenarios
        .iter()
        .filter(|s| !conversation_only || (s.is_conversation() && !s.is_unreached()))
        .map(|s| (s.clone(), s.weight))
        .collect();
    weighted(&items, rng).cloned()
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let cfg = inner.config.clone();
    let mut rng = StdRng::seed_from_u64(mix(cfg.seed ^ FLOOR_SALT, 0));
    let mut index: u64 = 0;
    let mut shutdown = inner.shutdown.clone();
    let plan = |index: u64, scenario: Arc<Scenario>, warm_lines: usize| CallPlan {
        provider_call_id: format!("sim-{}-{index:05}", inner.nonce),
        scenario,
        seed: mix(cfg.seed, index),
        warm_lines,
        lead: None,
        to: None,
        campaign: None,
        queue_item_id: None,
    };
    for _ in 0..seed_count(cfg.calls_per_minute, cfg.max_concurrent) {
        let Some(scenario) = pick_floor(&inner.scenarios, &mut rng, true) else {
            break;
        };
        let spoken = scenario.steps.iter().filter(|s| s.line.is_some()).count();
        let warm = rng.random_range(1..=(spoken / 2).max(1));
        inner.spawn(plan(index, scenario, warm));
        index += 1;
    }
    if cfg.calls_per_minute <= 0.0 {
        return;
    }
    let per_sec = cfg.calls_per_minute / 60.0;
    loop {
        // Exponential gaps in simulated time make a Poisson arrival process.
        let u: f64 = rng.random_range(0.0..1.0);
        let gap = -(1.0 - u).ln() / per_sec;
        let real = Duration::from_secs_f64((gap / cfg.speed).min(86_400.0));
        tokio::select! {
            _ = tokio::time::sleep(real) => {}
            _ = shutdown.changed() => return,
        }
        // At the cap the next caller waits for a free line, so the sequence stays the same.
        while inner.live() >= cfg.max_concurrent {
            let freed = inner.freed.notified();
            if inner.live() < cfg.max_concurrent {
                break;
            }
            tokio::select! {
                _ = freed => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => return,
            }
        }
        if *shutdown.borrow() {
            return;
        }
        let Some(scenario) = pick_floor(&inner.scenarios, &mut rng, false) else {
            return;
        };
        inner.spawn(plan(index, scenario, 0));
        index += 1;
    }
}

/// Which scenario a dial of `item` plays. `agent_settings.simulate` names one exactly; a
/// `script` or `campaign` naming outbound conversations narrows the conversations; the
/// unreached outcomes (voicemail, no answer, busy) keep their weights either way.
pub(crate) fn choose_dial(
    set: &ScenarioSet,
    item: &QueueItem,
    rng: &mut StdRng,
) -> Result<Arc<Scenario>, String> {
    if let Some(name) = item.agent_settings.get("simulate").and_then(|v| v.as_str()) {
        return set
            .get(name)
            .filter(|s| s.direction == Direction::Outbound)
            .cloned()
            .ok_or_else(|| format!("agent_settings.simulate names no outbound scenario '{name}'"));
    }
    let outbound: Vec<&Arc<Scenario>> = set
        .scenarios
        .iter()
        .filter(|s| s.direction == Direction::Outbound)
        .collect();
    let unreached: Vec<(Arc<Scenario>, f64)> = outbound
        .iter()
        .filter(|s| s.is_unreached() && s.dial_weight > 0.0)
        .map(|s| ((*s).clone(), s.dial_weight))
        .collect();
    let conversations: Vec<(Arc<Scenario>, f64)> = outbound
        .iter()
        .filter(|s| !s.is_unreached() && s.dial_weight > 0.0)
        .map(|s| ((*s).clone(), s.dial_weight))
        .collect();
    let conv_total: f64 = conversations.iter().map(|(_, w)| w).sum();
    let by_script = item.script.as_deref().and_then(|name| {
        outbound
            .iter()
            .find(|s| s.name == name && !s.is_unreached())
    });
    let narrowed: Vec<(Arc<Scenario>, f64)> = if let Some(s) = by_script {
        vec![((*s).clone(), conv_total.max(1.0))]
    } else if let Some(c) = item.campaign.as_deref() {
        let matching: Vec<(Arc<Scenario>, f64)> = conversations
            .iter()
            .filter(|(s, _)| {
                s.campaign
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            })
            .cloned()
            .collect();
        let m_total: f64 = matching.iter().map(|(_, w)| w).sum();
        if m_total > 0.0 {
            matching
                .into_iter()
                .map(|(s, w)| (s, w / m_total * conv_total))
                .collect()
        } else {
            conversations
        }
    } else {
        conversations
    };
    let all: Vec<(Arc<Scenario>, f64)> = narrowed.into_iter().chain(unreached).collect();
    weighted(&all, rng)
        .cloned()
        .ok_or_else(|| "no outbound scenario has dial_weight > 0".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Lead, QueueState};
    use chrono::Utc;

    fn item(script: Option<&str>, campaign: Option<&str>) -> QueueItem {
        QueueItem {
            id: "q".into(),
            org: "o".into(),
            lead: Lead::default(),
            phone_number: "+15550000000".into(),
            campaign: campaign.map(Into::into),
            script: script.map(Into::into),
            agent_settings: serde_json::Value::Null,
            scheduled_at: None,
            time_zone: None,
            state: QueueState::Dialing,
            attempts: 0,
            call_id: None,
            last_result: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn draws(set: &ScenarioSet, it: &QueueItem, seed: u64) -> Vec<String> {
        (0..300)
            .map(|n| {
                choose_dial(set, it, &mut dial_rng(seed, n))
                    .unwrap()
                    .name
                    .clone()
            })
            .collect()
    }

    #[test]
    fn dial_choice_is_seeded_and_follows_weights() {
        let set = crate::sim::scenario::load_builtin().unwrap();
        let plain = item(None, None);
        let a = draws(&set, &plain, 4);
        assert_eq!(a, draws(&set, &plain, 4));
        assert_ne!(a, draws(&set, &plain, 5));
        let count = |v: &[String], n: &str| v.iter().filter(|x| *x == n).count();
        // 10 of 17 conversations, the rest unreached: roughly, with 300 draws.
        let unreached = count(&a, "outbound_busy")
            + count(&a, "outbound_no_answer")
            + count(&a, "outbound_voicemail");
        assert!((80..170).contains(&unreached), "{unreached}");
        assert!(count(&a, "outbound_qualification") > count(&a, "outbound_busy"));

        // A script naming a conversation narrows the conversations, not reachability.
        let scripted = draws(&set, &item(Some("outbound_discovery"), None), 4);
        assert_eq!(count(&scripted, "outbound_qualification"), 0);
        assert!(count(&scripted, "outbound_discovery") > 100);
        assert!(count(&scripted, "outbound_busy") > 0);
        // So does a campaign.
        let seller = draws(&set, &item(None, Some("seller outreach")), 4);
        assert_eq!(count(&seller, "outbound_qualification"), 0);
    }

    #[test]
    fn mix_spreads_indices() {
        assert_ne!(mix(1, 0), mix(1, 1));
        assert_ne!(mix(1, 0), mix(2, 0));
        assert_eq!(seed_count(20.0, 48), 24);
        assert_eq!(seed_count(100.0, 48), 48);
        assert_eq!(seed_count(0.0, 48), 0);
    }
}
