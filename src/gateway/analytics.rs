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
    let mut t = Tally::new(series_from, to, now, group_by);
    calls.iter().for_each(|c| t.add(c));
    t.finish()
}

/// Figures for one set of calls (no groups).
pub fn figures(
    calls: &[Call],
    series_from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Analytics {
    compute(calls, series_from, to, now, GroupBy::None)
}

/// Analytics counted one call at a time, so that a day of calls is read as a stream of
/// rows and never held in memory at once (at 1,000 calls a minute a day is 1.4 million).
pub struct Tally {
    series_from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    group_by: GroupBy,
    a: Analytics,
    ended: u64,
    contained: u64,
    handle_total: f64,
    /// Calls started in each minute of the series (see [`series_start`]).
    minutes: Vec<u64>,
    series_start: Option<DateTime<Utc>>,
    groups: BTreeMap<String, Tally>,
}

impl Tally {
    pub fn new(
        series_from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        group_by: GroupBy,
    ) -> Tally {
        let (series_start, n) = series_range(series_from, to);
        Tally {
            series_from,
            to,
            now,
            group_by,
            a: Analytics::default(),
            ended: 0,
            contained: 0,
            handle_total: 0.0,
            minutes: vec![0; n],
            series_start,
            groups: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, c: &Call) {
        let key = match self.group_by {
            GroupBy::None => None,
            GroupBy::Provider => Some(c.provider.clone()),
            GroupBy::Campaign => Some(c.campaign.clone().unwrap_or_else(|| "(none)".into())),
        };
        if let Some(key) = key {
            self.add_to_group(key, c);
        }
        self.count(c);
    }

    /// Counts `c` in the group `key` too (its figures, not its groups).
    pub fn add_to_group(&mut self, key: String, c: &Call) {
        let (from, to, now) = (self.series_from, self.to, self.now);
        self.groups
            .entry(key)
            .or_insert_with(|| Tally::new(from, to, now, GroupBy::None))
            .count(c);
    }

    fn count(&mut self, c: &Call) {
        let a = &mut self.a;
        a.total_calls += 1;
        match c.direction {
            Direction::Inbound => a.inbound_calls += 1,
            Direction::Outbound => a.outbound_calls += 1,
        }
        if let Some(d) = c.duration_at(self.now) {
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
            self.ended += 1;
            let result = c.outcome.as_deref().unwrap_or(outcome::COMPLETED);
            *a.outcomes.entry(result.to_string()).or_default() += 1;
            if outcome::is_missed(result) {
                a.missed_calls += 1;
            } else if result == outcome::INTERRUPTED {
                // Nobody knows how it ended: not a completion, not a miss.
            } else {
                a.completed_calls += 1;
                self.handle_total += c.duration_secs.unwrap_or(0.0);
                if c.takeover.is_none() && !outcome::BY_SUPERVISOR.contains(&result) {
                    self.contained += 1;
                }
            }
        }
        if let Some(start) = self.series_start {
            let t = c.started_at.unwrap_or(c.created_at);
            let idx = (t - start).num_minutes();
            if t >= start && (idx as usize) < self.minutes.len() {
                self.minutes[idx as usize] += 1;
            }
        }
    }

    pub fn finish(self) -> Analytics {
        let mut a = self.a;
        if self.ended > 0 {
            a.completion_rate = a.completed_calls as f64 / self.ended as f64;
        }
        if a.completed_calls > 0 {
            a.ai_containment_rate = self.contained as f64 / a.completed_calls as f64;
            a.avg_handle_seconds = self.handle_total / a.completed_calls as f64;
        }
        a.total_cost = (a.total_cost * 10_000.0).round() / 10_000.0;
        if let Some(start) = self.series_start {
            a.calls_per_minute = self
                .minutes
                .into_iter()
                .enumerate()
                .map(|(i, count)| MinuteCount {
                    minute: start + Duration::minutes(i as i64),
                    count,
                })
                .collect();
        }
        a.groups = self
            .groups
            .into_iter()
            .map(|(k, t)| (k, t.finish()))
            .collect();
        a
    }
}

/// The first minute of the per-minute series and its length: [from, to) in whole minutes,
/// at most [`MAX_SERIES`]; `None` when `to` cannot be truncated to a minute.
fn series_range(from: DateTime<Utc>, to: DateTime<Utc>) -> (Option<DateTime<Utc>>, usize) {
    let minute = Duration::minutes(1);
    let Ok(end) = to.duration_trunc(minute) else {
        return (None, 0);
    };
    let start = from
        .duration_trunc(minute)
        .unwrap_or(end)
        .max(end - Duration::minutes(MAX_SERIES - 1));
    let n = ((end - start).num_minutes() + 1).max(0) as usize;
    (Some(start), n)
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
    fn groups_count_each_call_once_in_its_own_group() {
        let now = Utc::now();
        let mut calls = vec![
            call(Some("completed"), false, Direction::Inbound),
            call(Some("no_answer"), false, Direction::Outbound),
            call(None, false, Direction::Inbound),
        ];
        calls[1].provider = "Q".into();
        let a = compute(
            &calls,
            now - Duration::minutes(59),
            now,
            now,
            GroupBy::Provider,
        );
        assert_eq!(a.total_calls, 3);
        assert_eq!(a.groups.len(), 2);
        let p = &a.groups["P"];
        assert_eq!(
            (p.total_calls, p.completed_calls, p.missed_calls),
            (2, 1, 0)
        );
        assert_eq!(a.groups["Q"].missed_calls, 1);
        assert!(a.groups.values().all(|g| g.groups.is_empty()));
        let per_minute = |x: &Analytics| x.calls_per_minute.iter().map(|m| m.count).sum::<u64>();
        assert_eq!(per_minute(p) + per_minute(&a.groups["Q"]), per_minute(&a));
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
