use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::core::delta::apply;
use crate::core::model::{Analytics, Call, CallState, Sentiment};
use crate::core::protocol::CallWithTranscript;
use crate::gateway::hub::Hub;

fn call(id: &str) -> Call {
    serde_json::from_value(json!({
        "id": id, "org": "o", "integration": "i", "provider": "P",
        "provider_call_id": id, "direction": "inbound", "from": "+1", "to": "+2",
        "state": "in_progress", "created_at": "2026-11-20T23:32:48Z",
        "updated_at": "2026-11-20T23:32:48Z",
    }))
    .unwrap()
}

fn updated(c: &Call) -> StreamEvent {
    StreamEvent::CallUpdated { call: c.clone() }
}

/// Publishes the next event and returns its item (as subscribers get it).
fn publish(hub: &mut Hub, rx: &mut tokio::sync::mpsc::Receiver<Item>, e: StreamEvent) -> Item {
    assert!(hub.publish_at(hub.seq() + 1, e));
    rx.try_recv().unwrap()
}

fn parse(frame: &Utf8Bytes) -> ServerFrame {
    serde_json::from_str(frame.as_str()).unwrap()
}

/// The call a client holding `old` has after `frame`.
fn after(old: &Call, frame: &Utf8Bytes) -> Call {
    match parse(frame) {
        ServerFrame::Event {
            event: StreamEvent::CallUpdated { call },
            ..
        } => call,
        ServerFrame::Delta {
            delta:
                StreamDelta::CallUpdated {
                    call_id,
                    changes,
                    edits,
                },
            ..
        } => {
            assert_eq!(call_id, old.id);
            apply(old, &changes, &edits).unwrap()
        }
        f => panic!("{f:?}"),
    }
}

fn is_delta(frame: &Utf8Bytes) -> bool {
    matches!(parse(frame), ServerFrame::Delta { .. })
}

#[test]
fn a_client_that_saw_the_previous_version_gets_the_change_only() {
    let mut hub = Hub::new("e".into(), 100, usize::MAX, 0);
    let mut rx = hub.subscribe(100);
    let v1 = call("a");
    let mut v2 = v1.clone();
    v2.sentiment = Sentiment::Negative;
    v2.intent = Some("refund".into());
    let i1 = publish(&mut hub, &mut rx, updated(&v1));
    assert!(i1.delta.is_none(), "first sight of the call");
    let i2 = publish(&mut hub, &mut rx, updated(&v2));
    assert_eq!(i2.delta.as_ref().map(|d| d.base), Some(i1.seq));

    let mut seen = Held::default();
    let f1 = seen.frame(&i1);
    assert!(!is_delta(&f1));
    let f2 = seen.frame(&i2);
    assert!(is_delta(&f2));
    assert!(f2.len() < i2.frame.len());
    assert_eq!(after(&after(&v1, &f1), &f2), v2);
    // Same seq as the full event it stands for.
    assert!(matches!(parse(&f2), ServerFrame::Delta { seq, .. } if seq == i2.seq));

    // A client that joined after v1 (resumed: nothing known) gets v2 whole.
    let mut late = Held::default();
    assert_eq!(late.frame(&i2), i2.frame);
    // One that was not sent v2 gets v3 whole.
    let mut v3 = v2.clone();
    v3.state = CallState::AiPaused;
    let i3 = publish(&mut hub, &mut rx, updated(&v3));
    let mut skipping = Held::default();
    skipping.frame(&i1);
    skipping.skipped(&i2);
    assert_eq!(skipping.frame(&i3), i3.frame);
    assert!(is_delta(&seen.frame(&i3)));
}

#[test]
fn ended_calls_and_other_events_go_whole() {
    let mut hub = Hub::new("e".into(), 100, usize::MAX, 0);
    let mut rx = hub.subscribe(100);
    let live = call("a");
    let i1 = publish(&mut hub, &mut rx, updated(&live));
    let mut ended = live.clone();
    ended.state = CallState::Ended;
    let i2 = publish(
        &mut hub,
        &mut rx,
        StreamEvent::CallEnded {
            call: ended.clone(),
        },
    );
    assert!(i2.delta.is_none());
    assert_eq!(hub.versions_len(), 0, "an ended call's version is let go");
    // A late update after the end: whole, and not a base for a delta.
    let i3 = publish(&mut hub, &mut rx, updated(&live));
    assert!(i3.delta.is_none());
    let i4 = publish(&mut hub, &mut rx, updated(&ended));
    assert!(i4.delta.is_none(), "the call ends: whole");
    assert_eq!(hub.versions_len(), 0);

    let mut held = Held::default();
    for i in [&i1, &i2, &i3, &i4] {
        assert_eq!(held.frame(i), i.frame);
    }
}

#[test]
fn a_snapshot_gives_the_versions_it_carries_unchanged() {
    let mut hub = Hub::new("e".into(), 100, usize::MAX, 0);
    let mut rx = hub.subscribe(100);
    let (a, b) = (call("a"), call("b"));
    publish(&mut hub, &mut rx, updated(&a));
    publish(&mut hub, &mut rx, updated(&b));
    let analytics = Analytics {
        total_calls: 2,
        ..Analytics::default()
    };
    publish(
        &mut hub,
        &mut rx,
        StreamEvent::AnalyticsUpdated {
            analytics: analytics.clone(),
        },
    );
    // `b` in the snapshot differs from what was published (the snapshot is not taken on
    // that version): its next change goes whole.
    let mut b_other = b.clone();
    b_other.summary = Some("x".into());
    let snapshot = Snapshot {
        epoch: "e".into(),
        seq: hub.seq(),
        org: "o".into(),
        calls: [a.clone(), b_other]
            .into_iter()
            .map(|call| CallWithTranscript {
                call,
                transcript: Vec::new(),
            })
            .collect(),
        queue: Vec::new(),
        analytics: analytics.clone(),
    };
    let mut held = hub.held_by(&snapshot);
    let mut a2 = a.clone();
    a2.state = CallState::TakenOver;
    let mut b2 = b.clone();
    b2.state = CallState::AiPaused;
    let ia = publish(&mut hub, &mut rx, updated(&a2));
    let ib = publish(&mut hub, &mut rx, updated(&b2));
    let more = Analytics {
        total_calls: 3,
        ..analytics.clone()
    };
    let ian = publish(
        &mut hub,
        &mut rx,
        StreamEvent::AnalyticsUpdated {
            analytics: more.clone(),
        },
    );
    let fa = held.frame(&ia);
    assert!(is_delta(&fa));
    assert_eq!(after(&a, &fa), a2);
    assert_eq!(held.frame(&ib), ib.frame);
    let fan = held.frame(&ian);
    match parse(&fan) {
        ServerFrame::Delta {
            delta: StreamDelta::AnalyticsUpdated { changes, edits },
            ..
        } => assert_eq!(apply(&analytics, &changes, &edits).unwrap(), more),
        f => panic!("{f:?}"),
    }
}

#[test]
fn items_read_back_from_the_log_carry_no_delta() {
    let hub = Hub::new("e".into(), 100, usize::MAX, 0);
    let item: Arc<StreamItem> = hub.item(1, updated(&call("a")));
    assert!(item.delta.is_none());
}
