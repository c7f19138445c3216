//! Per-connection stream subscriptions: which calls' transcript entries a websocket client
//! receives. A layer over the org's events (live, replayed or in a snapshot), never a change
//! to them: seq stays the org's, so a filtered client sees gaps (docs/PROTOCOL.md).

use std::collections::HashMap;

use crate::core::protocol::{Snapshot, StreamEvent, MAX_SUBSCRIBED_CALLS};
use crate::gateway::presence::MAX_CALL_ID;

/// `None`: every event (a client that never subscribed). `Some`: transcript entries only of
/// these calls, each from the seq after which this connection follows it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Subscription {
    calls: Option<HashMap<String, u64>>,
}

impl Subscription {
    /// The set a connection starts with (`?calls=a,b`; an empty value: no call). Every call
    /// named is followed from the client's position: it had the transcript up to there.
    pub fn from_query(value: Option<&str>) -> Result<Subscription, String> {
        let Some(value) = value else {
            return Ok(Subscription::default());
        };
        let ids: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        check(&ids)?;
        Ok(Subscription {
            calls: Some(ids.into_iter().map(|id| (id, 0)).collect()),
        })
    }

    /// Whether this connection receives the event published with `seq`.
    pub fn wants(&self, seq: u64, event: &StreamEvent) -> bool {
        let Some(calls) = &self.calls else {
            return true;
        };
        match event {
            StreamEvent::TranscriptAppended { entry }
            | StreamEvent::TranscriptRevised { entry } => {
                calls.get(&entry.call_id).is_some_and(|from| seq > *from)
            }
            _ => true,
        }
    }

    /// Replaces the set (`None`: everything again). Calls new to it are followed after `seq`
    /// (their transcript up to `seq` goes out with the answer); calls kept keep their place.
    /// Returns the calls added. Call ids are checked first; an error changes nothing.
    pub fn replace(&mut self, calls: Option<Vec<String>>, seq: u64) -> Result<Vec<String>, String> {
        let Some(ids) = calls else {
            self.calls = None;
            return Ok(Vec::new());
        };
        check(&ids)?;
        let old = self.calls.take();
        let mut next = HashMap::with_capacity(ids.len());
        let mut added = Vec::new();
        for id in ids {
            if next.contains_key(&id) {
                continue;
            }
            // Without a previous set, every call's entries were already arriving.
            let kept = match &old {
                None => Some(0),
                Some(old) => old.get(&id).copied(),
            };
            match kept {
                Some(from) => {
                    next.insert(id, from);
                }
                None => {
                    next.insert(id.clone(), seq);
                    added.push(id);
                }
            }
        }
        self.calls = Some(next);
        Ok(added)
    }

    /// The calls in force, sorted (`None`: everything).
    pub fn calls(&self) -> Option<Vec<String>> {
        self.calls.as_ref().map(|c| {
            let mut ids: Vec<String> = c.keys().cloned().collect();
            ids.sort();
            ids
        })
    }

    pub fn is_filtered(&self) -> bool {
        self.calls.is_some()
    }

    /// A snapshot carries the transcripts of subscribed calls only (the others: empty).
    pub fn trim(&self, snapshot: &mut Snapshot) {
        if let Some(calls) = &self.calls {
            for c in &mut snapshot.calls {
                if !calls.contains_key(&c.call.id) {
                    c.transcript = Vec::new();
                }
            }
        }
    }

    /// A snapshot is the client's new starting point: every subscribed call follows from it.
    pub fn restart(&mut self) {
        if let Some(calls) = &mut self.calls {
            calls.values_mut().for_each(|from| *from = 0);
        }
    }
}

fn check(ids: &[String]) -> Result<(), String> {
    if ids.len() > MAX_SUBSCRIBED_CALLS {
        return Err(format!(
            "subscribe: at most {MAX_SUBSCRIBED_CALLS} calls at once"
        ));
    }
    if ids.iter().any(|id| id.is_empty() || id.len() > MAX_CALL_ID) {
        return Err(format!(
            "subscribe: call ids must be 1 to {MAX_CALL_ID} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Speaker, TranscriptEntry};

    fn entry(call: &str) -> StreamEvent {
        StreamEvent::TranscriptAppended {
            entry: TranscriptEntry {
                id: "e".into(),
                call_id: call.into(),
                position: 0,
                speaker: Speaker::Caller,
                text: "hi".into(),
                is_final: true,
                at: chrono::Utc::now(),
            },
        }
    }

    fn call_named(id: &str) -> crate::core::model::Call {
        use crate::core::model::{Call, CallState, Direction, Lead, Sentiment};
        let now = chrono::Utc::now();
        Call {
            id: id.into(),
            org: "o".into(),
            integration: "int".into(),
            provider: "Int".into(),
            provider_call_id: id.into(),
            direction: Direction::Inbound,
            from: "+15550001111".into(),
            to: "+15559990000".into(),
            lead: Lead::default(),
            campaign: None,
            assistant: None,
            state: CallState::InProgress,
            created_at: now,
            started_at: Some(now),
            ended_at: None,
            duration_secs: None,
            intent: None,
            sentiment: Sentiment::Unknown,
            outcome: None,
            cost: None,
            recording_url: None,
            summary: None,
            takeover: None,
            alerts: Vec::new(),
            queue_item_id: None,
            capabilities: None,
            compliance: None,
            updated_at: now,
        }
    }

    #[test]
    fn without_a_set_everything_passes() {
        let s = Subscription::from_query(None).unwrap();
        assert!(s.wants(1, &entry("a")));
        assert!(!s.is_filtered());
    }

    #[test]
    fn only_subscribed_transcripts_pass_and_other_events_always() {
        let s = Subscription::from_query(Some("a, b")).unwrap();
        assert!(s.wants(5, &entry("a")));
        assert!(!s.wants(5, &entry("c")));
        let other = StreamEvent::AnalyticsUpdated {
            analytics: Default::default(),
        };
        assert!(s.wants(5, &other));
        assert_eq!(s.calls(), Some(vec!["a".to_string(), "b".to_string()]));
        let none = Subscription::from_query(Some("")).unwrap();
        assert!(!none.wants(1, &entry("a")));
    }

    #[test]
    fn an_added_call_follows_after_the_seq_its_transcript_covers() {
        let mut s = Subscription::from_query(Some("a")).unwrap();
        let added = s.replace(Some(vec!["a".into(), "b".into()]), 10).unwrap();
        assert_eq!(added, vec!["b".to_string()]);
        assert!(!s.wants(10, &entry("b")), "in the transcript sent");
        assert!(s.wants(11, &entry("b")));
        assert!(s.wants(3, &entry("a")), "a kept call keeps its place");
        s.restart();
        assert!(s.wants(3, &entry("b")));
    }

    #[test]
    fn replacing_drops_calls_and_null_means_everything() {
        let mut s = Subscription::from_query(Some("a,b")).unwrap();
        assert!(s.replace(Some(vec!["b".into()]), 4).unwrap().is_empty());
        assert!(!s.wants(5, &entry("a")));
        // Re-adding a dropped call sends its transcript again.
        assert_eq!(s.replace(Some(vec!["a".into()]), 6).unwrap(), vec!["a"]);
        s.replace(None, 7).unwrap();
        assert!(s.wants(1, &entry("zz")));
    }

    #[test]
    fn bad_ids_are_refused_and_change_nothing() {
        let mut s = Subscription::from_query(Some("a")).unwrap();
        let long = "x".repeat(MAX_CALL_ID + 1);
        assert!(s.replace(Some(vec![long]), 1).is_err());
        let many: Vec<String> = (0..=MAX_SUBSCRIBED_CALLS).map(|i| i.to_string()).collect();
        assert!(s.replace(Some(many), 1).is_err());
        assert!(s.wants(1, &entry("a")));
        assert!(Subscription::from_query(Some(&"y".repeat(200))).is_err());
    }

    #[test]
    fn snapshots_keep_only_subscribed_transcripts() {
        use crate::core::protocol::CallWithTranscript;
        let s = Subscription::from_query(Some("a")).unwrap();
        let call = |id: &str| {
            let StreamEvent::TranscriptAppended { entry } = entry(id) else {
                unreachable!()
            };
            CallWithTranscript {
                call: call_named(id),
                transcript: vec![entry],
            }
        };
        let mut snap = Snapshot {
            epoch: "e".into(),
            seq: 1,
            org: "o".into(),
            calls: vec![call("a"), call("b")],
            queue: vec![],
            analytics: Default::default(),
        };
        s.trim(&mut snap);
        assert_eq!(snap.calls[0].transcript.len(), 1);
        assert!(snap.calls[1].transcript.is_empty());
    }
}
