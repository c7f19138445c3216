//! Deltas from the gateway: applied to the calls and analytics the console holds; one that
//! does not fit changes nothing and asks for a fresh snapshot.

use serde_json::{json, Map, Value};

use super::*;
use crate::core::protocol::StreamDelta;

fn delta(app: &mut App, seq: u64, delta: StreamDelta) -> Vec<Effect> {
    update(
        app,
        Msg::Stream(StreamMsg::Delta {
            seq,
            delta: Box::new(delta),
        }),
    )
}

fn changes(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("{other}"),
    }
}

fn call_delta(id: &str, v: Value) -> StreamDelta {
    StreamDelta::CallUpdated {
        call_id: id.into(),
        changes: changes(v),
        edits: Default::default(),
    }
}

#[test]
fn a_call_delta_changes_only_the_fields_it_names() {
    let mut app = fixtures::app(120, 30);
    let before = app.call("c1").unwrap().call.clone();
    assert_eq!(before.state, CallState::InProgress);
    let fx = delta(
        &mut app,
        7,
        call_delta(
            "c1",
            json!({"state": "ai_paused", "intent": "refund", "summary": null}),
        ),
    );
    assert!(fx.is_empty(), "{fx:?}");
    let after = &app.call("c1").unwrap().call;
    let mut want = before.clone();
    want.state = CallState::AiPaused;
    want.intent = Some("refund".into());
    want.summary = None;
    assert_eq!(after, &want);
    // The transcript is untouched.
    assert_eq!(
        app.call("c1").unwrap().transcript.entries,
        fixtures::transcript("c1")
    );
}

#[test]
fn a_delta_is_cleaned_like_a_whole_event() {
    let mut app = fixtures::app(120, 30);
    delta(
        &mut app,
        7,
        call_delta("c1", json!({"summary": "line\u{1b}[2Jbreak"})),
    );
    let summary = app.call("c1").unwrap().call.summary.clone().unwrap();
    assert!(!summary.contains('\u{1b}'), "{summary:?}");
}

#[test]
fn a_delta_that_ends_a_call_ends_it_on_the_table_too() {
    let mut app = fixtures::app(120, 30);
    delta(
        &mut app,
        7,
        call_delta("c1", json!({"state": "ended", "outcome": "completed"})),
    );
    // Gone from the table, or lingering there as ended.
    assert!(app
        .call("c1")
        .is_none_or(|v| v.call.state == CallState::Ended));
}

#[test]
fn an_analytics_delta_changes_the_figures_it_names() {
    let mut app = fixtures::app(120, 30);
    let mut want = app.analytics.clone();
    want.total_calls += 5;
    want.intents.insert("refund".into(), 9);
    delta(
        &mut app,
        7,
        StreamDelta::AnalyticsUpdated {
            changes: changes(json!({
                "total_calls": want.total_calls,
                "intents": {"refund": 9},
            })),
            edits: Default::default(),
        },
    );
    assert_eq!(app.analytics, want);
}

#[test]
fn a_delta_for_an_unknown_call_changes_nothing_and_asks_for_a_snapshot() {
    let mut app = fixtures::app(120, 30);
    let calls: Vec<_> = app.live.calls.values().map(|v| v.call.clone()).collect();
    let fx = delta(
        &mut app,
        9,
        call_delta("nope", json!({"state": "ai_paused"})),
    );
    assert_eq!(fx, vec![Effect::Resync { seq: 9 }]);
    let after: Vec<_> = app.live.calls.values().map(|v| v.call.clone()).collect();
    assert_eq!(after, calls);
    assert!(app.call("nope").is_none());
    // Asked once: the next message does not ask again.
    assert!(update(&mut app, Msg::Drawn).is_empty());
}

#[test]
fn a_delta_that_does_not_fit_changes_nothing_and_asks_for_a_snapshot() {
    let mut app = fixtures::app(120, 30);
    let before = app.call("c1").unwrap().call.clone();
    let fx = delta(&mut app, 11, call_delta("c1", json!({"state": 42})));
    assert_eq!(fx, vec![Effect::Resync { seq: 11 }]);
    assert_eq!(app.call("c1").unwrap().call, before);
    let analytics = app.analytics.clone();
    let fx = delta(
        &mut app,
        12,
        StreamDelta::AnalyticsUpdated {
            changes: changes(json!({"total_calls": "many"})),
            edits: Default::default(),
        },
    );
    assert_eq!(fx, vec![Effect::Resync { seq: 12 }]);
    assert_eq!(app.analytics, analytics);
}
