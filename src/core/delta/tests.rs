use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::core::model::{
    Alert, Analytics, Call, CallState, Lead, MinuteCount, Sentiment, Takeover,
};

fn call() -> Call {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T23:32:48Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap();
    serde_json::from_value(json!({
        "id": "c1", "org": "o", "integration": "i", "provider": "P",
        "provider_call_id": "p1", "direction": "inbound", "from": "+1", "to": "+2",
        "state": "in_progress", "created_at": at, "updated_at": at,
    }))
    .unwrap()
}

/// `changes(old, new)` applied to `old` gives `new`, and says nothing when they are equal.
fn round_trip<T>(old: &T, new: &T) -> Map<String, Value>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let d = changes(old, new).unwrap();
    let none = BTreeMap::new();
    assert_eq!(&apply(old, &d, &none).unwrap(), new, "patch {d:?}");
    assert!(changes(new, new).unwrap().is_empty());
    // With arrays edited where that is smaller: the same result.
    let p = patch(old, new).unwrap();
    assert_eq!(&apply(old, &p.changes, &p.edits).unwrap(), new, "{p:?}");
    d
}

#[test]
fn a_call_patch_names_only_what_changed() {
    let old = call();
    let mut new = old.clone();
    new.state = CallState::AiPaused;
    new.sentiment = Sentiment::Negative;
    new.updated_at += chrono::Duration::seconds(3);
    let d = round_trip(&old, &new);
    let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["sentiment", "state", "updated_at"]);
}

#[test]
fn optional_fields_are_set_changed_and_cleared() {
    let old = call();
    let mut taken = old.clone();
    taken.state = CallState::TakenOver;
    taken.takeover = Some(Takeover {
        by: "sam".into(),
        reason: "asked".into(),
        notes: Some("VIP".into()),
        at: old.created_at,
        phone: Some("+15550001111".into()),
    });
    taken.intent = Some("book".into());
    round_trip(&old, &taken);

    // A nested field cleared (one skipped when empty) and another changed.
    let mut typed = taken.clone();
    if let Some(t) = typed.takeover.as_mut() {
        t.phone = None;
        t.notes = None;
        t.reason = "typed".into();
    }
    let d = round_trip(&taken, &typed);
    assert_eq!(
        d["takeover"],
        json!({"phone": null, "notes": null, "reason": "typed"})
    );

    // Cleared whole: `null`.
    let mut back = typed.clone();
    back.takeover = None;
    back.intent = None;
    back.state = CallState::InProgress;
    let d = round_trip(&typed, &back);
    assert_eq!(d["takeover"], Value::Null);
    assert_eq!(d["intent"], Value::Null);
}

#[test]
fn lists_and_sets_are_replaced_whole() {
    let old = call();
    let mut new = old.clone();
    new.alerts.push(Alert {
        kind: "ai_silent".into(),
        message: "quiet".into(),
        at: old.created_at,
    });
    new.lead = Lead {
        id: None,
        name: Some("Dana".into()),
    };
    new.capabilities = Some([crate::core::capability::Capability::Say].into());
    let d = round_trip(&old, &new);
    assert!(d["alerts"].is_array());
    let mut none = new.clone();
    none.alerts.clear();
    none.capabilities = None;
    let d = round_trip(&new, &none);
    assert_eq!(d["alerts"], json!([]));
    assert_eq!(d["capabilities"], Value::Null);
}

#[test]
fn analytics_maps_change_per_key() {
    let old = Analytics {
        total_calls: 3,
        intents: BTreeMap::from([("book".into(), 2), ("cancel".into(), 1)]),
        calls_per_minute: vec![MinuteCount {
            minute: call().created_at,
            count: 3,
        }],
        ..Analytics::default()
    };
    let mut new = old.clone();
    new.total_calls = 4;
    new.intents.remove("cancel");
    new.intents.insert("refund".into(), 1);
    new.completion_rate = 0.5;
    let d = round_trip(&old, &new);
    assert_eq!(d["intents"], json!({"cancel": null, "refund": 1}));
    assert!(!d.contains_key("calls_per_minute"));
    let mut grouped = new.clone();
    grouped.groups.insert("spring".into(), old.clone());
    round_trip(&new, &grouped);
    round_trip(&grouped, &new);
}

#[test]
fn merge_follows_rfc_7396() {
    // The examples of RFC 7396, appendix A (those on objects).
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
    ];
    for (target, patch, want) in cases {
        let mut t = target.clone();
        merge(&mut t, &patch);
        assert_eq!(t, want, "{target} + {patch}");
    }
    // And diff produces such patches: merge(old, diff(old, new)) == new (nulls aside).
    let old = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": 2});
    let new = json!({"a": {"b": 1, "c": [2]}, "f": {"g": true}, "e": 2});
    let patch = diff(&old, &new).unwrap();
    assert_eq!(patch, json!({"a": {"c": [2]}, "d": null, "f": {"g": true}}));
    let mut t = old.clone();
    merge(&mut t, &patch);
    assert_eq!(t, new);
    assert_eq!(diff(&new, &new), None);
}

#[test]
fn a_patch_that_does_not_fit_is_an_error_not_a_panic() {
    let c = call();
    let bad = json!({"state": 5, "id": null});
    let Value::Object(bad) = bad else {
        unreachable!()
    };
    assert!(apply(&c, &bad, &BTreeMap::new()).is_err());
    // An empty patch is the same record.
    assert_eq!(apply(&c, &Map::new(), &BTreeMap::new()).unwrap(), c);
}

#[test]
fn an_array_that_moved_at_its_ends_goes_as_an_edit() {
    let minute = |m: i64, count: u64| MinuteCount {
        minute: call().created_at + chrono::Duration::minutes(m),
        count,
    };
    let old = Analytics {
        calls_per_minute: (0..60).map(|m| minute(m, 1)).collect(),
        ..Analytics::default()
    };
    // The last minute counts up: one item after 59 kept.
    let mut up = old.clone();
    up.calls_per_minute[59].count = 2;
    let p = patch(&old, &up).unwrap();
    let edit = &p.edits["calls_per_minute"];
    assert_eq!((edit.skip, edit.keep, edit.then.len()), (0, 59, 1));
    assert!(!p.changes.contains_key("calls_per_minute"));
    round_trip(&old, &up);
    // A new minute: the oldest leaves, one comes.
    let mut next = up.clone();
    next.calls_per_minute.remove(0);
    next.calls_per_minute.push(minute(60, 1));
    let p = patch(&up, &next).unwrap();
    let edit = &p.edits["calls_per_minute"];
    assert_eq!((edit.skip, edit.keep, edit.then.len()), (1, 59, 1));
    round_trip(&up, &next);
    // Nothing in common: whole.
    let mut other = old.clone();
    other.calls_per_minute = vec![minute(500, 9)];
    let p = patch(&old, &other).unwrap();
    assert!(p.edits.is_empty());
    assert!(p.changes.contains_key("calls_per_minute"));
    // An edit for a shorter array than it was made for does not fit.
    let edit = ArrayEdit {
        skip: 1,
        keep: 59,
        then: vec![],
    };
    let edits = BTreeMap::from([("calls_per_minute".to_string(), edit)]);
    assert!(apply(&Analytics::default(), &Map::new(), &edits).is_err());
}
