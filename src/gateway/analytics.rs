//! Analytics over a set of calls (computed from SQLite on demand and after calls end).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::core::model::{outcome, Analytics, Call, CallState, Direction, MinuteCount};

/// Longest calls-per-minute series (one day of minutes).
const MAX_SERIES: i64 = 24 * 60;

/// What `groups` of an answer are keyed by (`group_by=`; `number` is grouped by the
/// engine, which knows the managed lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    None,
    Campaign,
    Provider,
}

/// Figures for `calls` (all created in [from, to)). The per-minute series covers
/// [series_from, to), at most one day.
pub fn compute(
    calls: &[Call],
    series_from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    group_by: GroupBy,
) -> Analytics {
    let mut a = figures(calls, series_from, to, now);
    if group_by != GroupBy::None {
        let mut groups: BTreeMap<String, Vec<Call>> = BTreeMap::new();
        for c in calls {
            let key = match group_by {
                GroupBy::Provider => c.provider.clone(),
                _ => c.campaign.clone().unwrap_or_else(|| "(none)".into()),
            };
            groups.entry(key).or_default().push(c.clone());
        }
        a.groups = groups
            .into_iter()
            .map(|(k, v)| (k, figures(&v, series_from, to, now)))
            .collect();
    }
    a
}

/// Figures for one set of calls (no groups).
pub fn figures(
    calls: &[Call],
    series_from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Analytics {
    let mut a = Analytics {
        total_calls: calls.len() as u64,
        ..Analytics::default()
    };
    let mut ended = 0u64;
    let mut contained = 0u64;
    let mut handle_total = 0.0;
    for c in calls {
        match c.direction {
            Direction::Inbound => a.inbound_calls += 1,
            Direction::Outbound => a.outbound_calls += 1,
        }
        if let Some(d) = c.duration_at(now) {
            a.total_duration_minutes += d / 60.0;
        }
        a.total_cost += c.cost.unwrap_or(0.0);
        if let Some(intent) = &c.intent {
            *a.intents.entry(intent.clone()).or_default() += 1;
        }
        if c.takeover.is_some() {
            a.takeovers += 1;
        }
        if c.state == CallState::Ended {
            ended += 1;
            let result = c.outcome.as_deref().unwrap_or(outcome::COMPLETED);
            *a.outcomes.entry(result.to_string()).or_default() += 1;
            if outcome::is_missed(result) {
                a.missed_calls += 1;
            } else if result == outcome::INTERRUPTED {
                // Nobody knows how it ended: not a completion, not a miss.
            } else {
                a.completed_calls += 1;
                handle_total += c.duration_secs.unwrap_or(0.0);
                if c.takeover.is_none() && !outcome::BY_SUPERVISOR.contains(&result) {
                    contained += 1;
                }
            }
        }
    }
    if ended > 0 {
        a.completion_rate = a.completed_calls as f64 / ended as f64;
    }
    if a.completed_calls > 0 {
        a.ai_containment_rate = contained as f64 / a.completed_calls as f64;
        a.avg_handle_seconds = handle_total / a.completed_calls as f64;
    }
    a.total_cost = (a.total_cost * 10_000.0).round() / 10_000.0;
    a.calls_per_minute = series(calls, series_from, to);
    a
}

fn series(calls: &[Call], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<MinuteCount> {
    let minute = Duration::minutes(1);
    let Ok(end) = to.duration_trunc(minute) else {
        return Vec::new();
    };
    let start = from
        .duration_trunc(minute)
        .unwrap_or(end)
        .max(end - Duration::minutes(MAX_SERIES - 1));
    let n = ((end - start).num_minutes() + 1).max(0) as usize;
    let mut counts = vec![0u64; n];
    for c in calls {
        let t = c.started_at.unwrap_or(c.created_at);
        let idx = (t - start).num_minutes();
        if t >= start && (idx as usize) < n {
            counts[idx as usize] += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| MinuteCount {
            minute: start + Duration::minutes(i as i64),
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Lead, Sentiment, Takeover};

    fn call(outcome: Option<&str>, takeover: bool, dir: Direction) -> Call {
        let now = Utc::now();
        Call {
            id: "c".into(),
            org: "o".into(),
            integration: "i".into(),
            provider: "P".into(),
            provider_call_id: "p".into(),
            direction: dir,
            from: "+1".into(),
            to: "+2".into(),
            lead: Lead::default(),
            campaign: None,
            assistant: None,
            state: if outcome.is_some() {
                CallState::Ended
            } else {
                CallState::InProgress
            },
            created_at: now,
            started_at: Some(now),
            ended_at: None,
            duration_secs: outcome.map(|_| 60.0),
            intent: Some("billing".into()),
            sentiment: Sentiment::Unknown,
            outcome: outcome.map(Into::into),
            cost: Some(0.5),
            recording_url: None,
            summary: None,
            takeover: takeover.then(|| Takeover {
                by: "x".into(),
                reason: "r".into(),
                notes: None,
                at: now,
                phone: None,
            }),
            alerts: vec![],
            queue_item_id: None,
            capabilities: None,
            compliance: None,
            updated_at: now,
        }
    }

    #[test]
    fn figures_add_up() {
        let now = Utc::now();
        let calls = vec![
            call(Some("completed"), false, Direction::Inbound),
            call(Some("completed"), true, Direction::Outbound),
            call(Some("no_answer"), false, Direction::Outbound),
            call(None, false, Direction::Inbound),
        ];
        let a = compute(&calls, now - Duration::minutes(59), now, now, GroupBy::None);
        assert_eq!(a.total_calls, 4);
        assert_eq!(a.inbound_calls, 2);
        assert_eq!(a.completed_calls, 2);
        assert_eq!(a.missed_calls, 1);
        assert!((a.completion_rate - 2.0 / 3.0).abs() < 1e-9);
        assert!((a.ai_containment_rate - 0.5).abs() < 1e-9);
        assert_eq!(a.takeovers, 1);
        assert_eq!(a.intents["billing"], 4);
        assert!((a.total_cost - 2.0).abs() < 1e-9);
        assert_eq!(a.calls_per_minute.len(), 60);
        assert_eq!(a.calls_per_minute.iter().map(|m| m.count).sum::<u64>(), 4);
    }

    #[test]
    fn interrupted_calls_are_neither_completed_nor_missed() {
        let now = Utc::now();
        let calls = vec![
            call(Some("completed"), false, Direction::Inbound),
            call(Some(outcome::INTERRUPTED), false, Direction::Inbound),
        ];
        let a = compute(&calls, now - Duration::minutes(59), now, now, GroupBy::None);
        assert_eq!(a.completed_calls, 1);
        assert_eq!(a.missed_calls, 0);
        assert!((a.completion_rate - 0.5).abs() < 1e-9);
        assert_eq!(a.outcomes[outcome::INTERRUPTED], 1);
    }
}
