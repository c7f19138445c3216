//! Table-driven tests of the pure ingest planner and the retry policy: one row per event
//! type and per awkward case (repeats, late partials, unknown and ended calls, queue
//! outcomes). Each row is summarised to short strings so a table reads like a spec.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::memory::OrgState;
use super::plan::{plan_ingest, status_transition, validate, Plan, Source, Stored, Transition};
use super::retry::retry_or_give_up;
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{
    Call, CallState, Direction, Lead, QueueItem, QueueState, Sentiment, Speaker, TranscriptEntry,
};
use crate::gateway::config::QueuePolicy;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

fn call(id: &str, pcid: &str, state: CallState) -> Call {
    Call {
        id: id.into(),
        org: "o".into(),
        integration: "int".into(),
        provider: "Int".into(),
        provider_call_id: pcid.into(),
        direction: Direction::Inbound,
        from: "+15550001111".into(),
        to: "+15559990000".into(),
        lead: Lead::default(),
        campaign: None,
        assistant: None,
        state,
        created_at: now() - Duration::minutes(5),
        started_at: Some(now() - Duration::minutes(5)),
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
        updated_at: now() - Duration::minutes(5),
    }
}

fn entry(call_id: &str, position: u32, text: &str, is_final: bool) -> TranscriptEntry {
    TranscriptEntry {
        id: format!("{call_id}-t{position}"),
        call_id: call_id.into(),
        position,
        speaker: Speaker::Caller,
        text: text.into(),
        is_final,
        at: now() - Duration::minutes(1),
    }
}

fn item(id: &str, state: QueueState, attempts: u32) -> QueueItem {
    QueueItem {
        id: id.into(),
        org: "o".into(),
        lead: Lead::default(),
        phone_number: "+15551234567".into(),
        campaign: Some("spring".into()),
        script: None,
        agent_settings: Value::Null,
        scheduled_at: None,
        time_zone: None,
        state,
        attempts,
        call_id: None,
        last_result: None,
        created_at: now() - Duration::hours(1),
        updated_at: now() - Duration::hours(1),
    }
}

/// c1 (p1): live, in progress, utterance u1 partial "hel" and u2 final "done".
/// c2 (p2): live, dialed for queue item q2 (dialing, `q2_attempts` attempts).
/// q1: waiting in the queue, never attempted.
fn state(q2_attempts: u32) -> OrgState {
    let mut st = OrgState::default();
    st.upsert_call(&call("c1", "p1", CallState::InProgress));
    st.upsert_entry(&entry("c1", 0, "hel", false), Some("u1"));
    st.upsert_entry(&entry("c1", 1, "done", true), Some("u2"));
    let mut c2 = call("c2", "p2", CallState::InProgress);
    c2.queue_item_id = Some("q2".into());
    st.upsert_call(&c2);
    st.upsert_queue(&item("q1", QueueState::Pending, 0));
    let mut q2 = item("q2", QueueState::Dialing, q2_attempts);
    q2.call_id = Some("c2".into());
    st.upsert_queue(&q2);
    st
}

/// c9 (p9): ended by a supervisor, only in the database.
fn stored_c9() -> Stored {
    let mut c9 = call("c9", "p9", CallState::Ended);
    c9.outcome = Some("ended_by_supervisor".into());
    Stored {
        call: Some(c9),
        utterance: None,
        transcript_len: 5,
        queue_item_exists: false,
    }
}

/// A plan as short strings: calls, transcript writes, queue items, analytics flag.
fn summary(plan: &Plan) -> (Vec<String>, Vec<String>, Vec<String>, bool) {
    let calls = plan
        .batch
        .calls
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", c.id, c.state.as_str());
            if let Some(o) = &c.outcome {
                s += &format!(" {o}");
            }
            if let Some(q) = &c.queue_item_id {
                s += &format!(" q={q}");
            }
            if let Some(camp) = &c.campaign {
                s += &format!(" campaign={camp}");
            }
            if let Some(i) = &c.intent {
                s += &format!(" intent={i}");
            }
            if let Some(cost) = c.cost {
                s += &format!(" cost={cost}");
            }
            for a in &c.alerts {
                s += &format!(" alert={}", a.kind);
            }
            s
        })
        .collect();
    let transcript = plan
        .batch
        .transcript
        .iter()
        .map(|w| {
            format!(
                "{} {}@{} {:?}{}",
                if w.appended { "append" } else { "revise" },
                w.entry.call_id,
                w.entry.position,
                w.entry.text,
                if w.entry.is_final { " final" } else { "" }
            )
        })
        .collect();
    let queue = plan
        .batch
        .queue
        .iter()
        .map(|i| {
            let mut s = format!("{} {:?} attempts={}", i.id, i.state, i.attempts);
            if let Some(t) = i.scheduled_at {
                s += &format!(" in={}s", (t - now()).num_seconds());
            }
            s
        })
        .collect();
    (calls, transcript, queue, plan.analytics_changed)
}

/// Expected (calls, transcript writes, queue items, analytics changed), as summarised.
type Expected = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

struct Row {
    name: &'static str,
    q2_attempts: u32,
    stored: Stored,
    event: Value,
    /// Err: a fragment of the refusal.
    expect: Result<Expected, &'static str>,
}

fn row(name: &'static str, event: Value) -> Row {
    Row {
        name,
        q2_attempts: 1,
        stored: Stored::default(),
        event,
        expect: Err("unset"),
    }
}

#[test]
fn planning_table() {
    let started = |extra: Value| {
        let mut v = json!({"type": "call.started", "provider_call_id": "p-new",
            "direction": "inbound", "from": "+1555", "to": "+1666"});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    };
    let rows = vec![
        Row {
            expect: Ok((&["new-1 ringing"], &[], &[], true)),
            ..row("new call", started(json!({})))
        },
        Row {
            expect: Ok((
                &["new-1 in_progress q=q1 campaign=spring"],
                &[],
                &["q1 Dialing attempts=1"],
                true,
            )),
            ..row(
                "new call dialed for a waiting item",
                started(json!({"state": "in_progress", "queue_item_id": "q1"})),
            )
        },
        Row {
            expect: Ok((&["new-1 ringing q=q7"], &[], &[], true)),
            stored: Stored {
                queue_item_exists: true,
                ..Stored::default()
            },
            ..row(
                "new call for a finished item",
                started(json!({"queue_item_id": "q7"})),
            )
        },
        Row {
            expect: Ok((&["new-1 ringing"], &[], &[], true)),
            ..row(
                "new call for an item nobody knows",
                started(json!({"queue_item_id": "q7"})),
            )
        },
        Row {
            expect: Ok((&["c1 in_progress"], &[], &[], false)),
            ..row(
                "repeated start never undoes progress",
                started(json!({"provider_call_id": "p1", "state": "ringing"})),
            )
        },
        Row {
            expect: Ok((&["c1 ai_paused"], &[], &[], false)),
            ..row(
                "status change",
                json!({"type": "call.status", "provider_call_id": "p1", "status": "ai_paused"}),
            )
        },
        Row {
            expect: Ok((&[], &[], &[], false)),
            ..row(
                "status repeat",
                json!({"type": "call.status", "provider_call_id": "p1", "status": "in_progress"}),
            )
        },
        // Changed on purpose: `ended` comes only through call.ended (with an outcome).
        Row {
            expect: Err("a call ends only through a call.ended event"),
            ..row(
                "status ended is refused",
                json!({"type": "call.status", "provider_call_id": "p2", "status": "ended"}),
            )
        },
        Row {
            expect: Ok((&[], &[], &[], false)),
            ..row(
                "status moving backwards is a late delivery: nothing changes",
                json!({"type": "call.status", "provider_call_id": "p1", "status": "ringing"}),
            )
        },
        Row {
            expect: Ok((&[], &[], &[], false)),
            stored: stored_c9(),
            ..row(
                "status of an ended call",
                json!({"type": "call.status", "provider_call_id": "p9", "status": "in_progress"}),
            )
        },
        Row {
            expect: Err("unknown call"),
            ..row(
                "unknown call",
                json!({"type": "transcript.final", "provider_call_id": "nope",
                "utterance_id": "u1", "speaker": "caller", "text": "hi"}),
            )
        },
        Row {
            expect: Ok((&[], &["append c1@2 \"new\""], &[], false)),
            ..row(
                "partial of a new utterance",
                json!({"type": "transcript.partial", "provider_call_id": "p1",
                "utterance_id": "u3", "speaker": "caller", "text": "new"}),
            )
        },
        Row {
            expect: Ok((&[], &["revise c1@0 \"hello\""], &[], false)),
            ..row(
                "partial revised",
                json!({"type": "transcript.partial", "provider_call_id": "p1",
                "utterance_id": "u1", "speaker": "caller", "text": "hello"}),
            )
        },
        Row {
            expect: Ok((&[], &["revise c1@0 \"hello there\" final"], &[], false)),
            ..row(
                "partial becomes final",
                json!({"type": "transcript.final", "provider_call_id": "p1",
                "utterance_id": "u1", "speaker": "caller", "text": "hello there"}),
            )
        },
        Row {
            expect: Ok((&[], &[], &[], false)),
            ..row(
                "late partial after the final",
                json!({"type": "transcript.partial", "provider_call_id": "p1",
                "utterance_id": "u2", "speaker": "caller", "text": "don"}),
            )
        },
        Row {
            expect: Ok((&[], &[], &[], false)),
            ..row(
                "final repeated",
                json!({"type": "transcript.final", "provider_call_id": "p1",
                "utterance_id": "u2", "speaker": "caller", "text": "done"}),
            )
        },
        Row {
            expect: Ok((&[], &["append c9@5 \"late\" final"], &[], false)),
            stored: stored_c9(),
            ..row(
                "final after the call ended",
                json!({"type": "transcript.final", "provider_call_id": "p9",
                "utterance_id": "u9", "speaker": "ai", "text": "late"}),
            )
        },
        Row {
            expect: Ok((&["c1 in_progress intent=buy"], &[], &[], true)),
            ..row(
                "analysis",
                json!({"type": "call.analysis", "provider_call_id": "p1", "intent": "buy"}),
            )
        },
        Row {
            expect: Ok((&["c1 in_progress"], &[], &[], false)),
            ..row(
                "analysis without intent",
                json!({"type": "call.analysis", "provider_call_id": "p1", "sentiment": "positive"}),
            )
        },
        Row {
            expect: Ok((&["c1 in_progress alert=ai_silent"], &[], &[], false)),
            ..row(
                "alert",
                json!({"type": "call.alert", "provider_call_id": "p1", "kind": "ai_silent", "message": "quiet"}),
            )
        },
        Row {
            expect: Ok((&[], &[], &[], false)),
            ..row(
                "clearing an alert that is not raised",
                json!({"type": "call.alert_cleared", "provider_call_id": "p1", "kind": "ai_silent"}),
            )
        },
        Row {
            expect: Ok((&["c1 ended completed cost=0.5"], &[], &[], true)),
            ..row(
                "end",
                json!({"type": "call.ended", "provider_call_id": "p1", "outcome": "completed", "cost": 0.5}),
            )
        },
        Row {
            expect: Ok((&["c9 ended ended_by_supervisor cost=0.5"], &[], &[], true)),
            stored: stored_c9(),
            ..row(
                "end after a supervisor ended it",
                json!({"type": "call.ended", "provider_call_id": "p9", "outcome": "completed", "cost": 0.5}),
            )
        },
        Row {
            expect: Ok((
                &["c2 ended no_answer q=q2"],
                &[],
                &["q2 Scheduled attempts=1 in=300s"],
                true,
            )),
            ..row(
                "no answer: retried after the backoff",
                json!({"type": "call.ended", "provider_call_id": "p2", "outcome": "no_answer"}),
            )
        },
        Row {
            expect: Ok((
                &["c2 ended busy q=q2"],
                &[],
                &["q2 Failed attempts=3"],
                true,
            )),
            q2_attempts: 3,
            ..row(
                "busy on the last attempt: failed",
                json!({"type": "call.ended", "provider_call_id": "p2", "outcome": "busy"}),
            )
        },
        Row {
            expect: Ok((
                &["c2 ended failed q=q2"],
                &[],
                &["q2 Failed attempts=1"],
                true,
            )),
            ..row(
                "failed call: item failed",
                json!({"type": "call.ended", "provider_call_id": "p2", "outcome": "failed"}),
            )
        },
    ];
    let policy = QueuePolicy::default();
    let src = Source {
        org: "o",
        integration: "int",
        display: "Int",
    };
    for r in rows {
        let st = state(r.q2_attempts);
        let env = IngestEnvelope {
            id: "e1".into(),
            occurred_at: None,
            event: serde_json::from_value(r.event.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", r.name)),
        };
        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("new-{n}")
        };
        let got = plan_ingest(&st, src, &env, &r.stored, &policy, &mut ids, now());
        match (got, r.expect) {
            (Ok(plan), Ok((calls, transcript, queue, analytics))) => {
                let (c, t, q, a) = summary(&plan);
                assert_eq!(
                    (c, t, q, a),
                    (
                        calls.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                        transcript.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                        queue.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                        analytics
                    ),
                    "{}",
                    r.name
                );
                assert!(
                    plan.batch.ingest_id.is_none(),
                    "{}: the caller sets the id",
                    r.name
                );
            }
            (Err(e), Err(fragment)) => {
                assert!(e.to_string().contains(fragment), "{}: {e}", r.name)
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", r.name),
        }
    }
}

#[test]
fn planning_uses_the_event_time_and_the_clock() {
    let st = state(1);
    let at = now() - Duration::seconds(30);
    let env = IngestEnvelope {
        id: "e".into(),
        occurred_at: Some(at),
        event: serde_json::from_value(
            json!({"type": "call.ended", "provider_call_id": "p1", "outcome": "completed"}),
        )
        .unwrap(),
    };
    let src = Source {
        org: "o",
        integration: "int",
        display: "Int",
    };
    let plan = plan_ingest(
        &st,
        src,
        &env,
        &Stored::default(),
        &QueuePolicy::default(),
        &mut || "x".into(),
        now(),
    )
    .unwrap();
    let c = &plan.batch.calls[0];
    assert_eq!(c.ended_at, Some(at));
    assert_eq!(c.updated_at, now());
    assert_eq!(c.duration_secs, Some(270.0));
}

#[test]
fn envelopes_without_ids_are_refused() {
    let ev = |id: &str, pcid: &str| IngestEnvelope {
        id: id.into(),
        occurred_at: None,
        event: serde_json::from_value(
            json!({"type": "call.status", "provider_call_id": pcid, "status": "ended"}),
        )
        .unwrap(),
    };
    assert!(validate(&ev("e", "p")).is_ok());
    assert!(validate(&ev(" ", "p"))
        .unwrap_err()
        .to_string()
        .contains("empty id"));
    assert!(validate(&ev("e", ""))
        .unwrap_err()
        .to_string()
        .contains("empty provider_call_id"));
}

#[test]
fn retry_policy() {
    let policy = QueuePolicy {
        max_attempts: 3,
        retry_backoff_secs: 10,
        max_backoff_secs: 25,
        ..QueuePolicy::default()
    };
    // (attempts so far, state after, seconds until the next try)
    let table = [
        (1, QueueState::Scheduled, Some(10)),
        (2, QueueState::Scheduled, Some(20)),
        (3, QueueState::Failed, None),
        (4, QueueState::Failed, None),
    ];
    for (attempts, want_state, want_wait) in table {
        let mut it = item("q", QueueState::Dialing, attempts);
        retry_or_give_up(&mut it, &policy, now());
        assert_eq!(it.state, want_state, "after {attempts} attempts");
        assert_eq!(
            it.scheduled_at.map(|t| (t - now()).num_seconds()),
            want_wait,
            "after {attempts} attempts"
        );
    }
    // The backoff is capped.
    let capped = QueuePolicy {
        max_attempts: 9,
        ..policy
    };
    let mut later = item("q", QueueState::Dialing, 5);
    retry_or_give_up(&mut later, &capped, now());
    assert_eq!(
        later.scheduled_at.map(|t| (t - now()).num_seconds()),
        Some(25)
    );
}

#[test]
fn status_transition_table() {
    use CallState::*;
    // Rows: from; columns: to, in the order below. A = apply, I = ignore, R = refuse.
    let order = [Queued, Ringing, InProgress, AiPaused, TakenOver, Ended];
    let table = [
        (Queued, "IAAAAR"),
        (Ringing, "IIAAAR"),
        (InProgress, "IIIAAR"),
        (AiPaused, "IIAIAR"),
        (TakenOver, "IIIIIR"),
        (Ended, "IIIIII"),
    ];
    for (from, row) in table {
        for (to, want) in order.iter().zip(row.chars()) {
            let got = match status_transition(from, *to) {
                Transition::Apply => 'A',
                Transition::Ignore => 'I',
                Transition::Refuse(_) => 'R',
            };
            assert_eq!(got, want, "{} -> {}", from.as_str(), to.as_str());
        }
    }
}

#[test]
fn a_repeated_start_never_moves_a_call_backwards() {
    let mut st = OrgState::default();
    st.upsert_call(&call("c1", "p1", CallState::Ringing));
    let env = IngestEnvelope {
        id: "e".into(),
        occurred_at: None,
        event: serde_json::from_value(json!({"type": "call.started", "provider_call_id": "p1",
            "direction": "inbound", "from": "+1555", "to": "+1666", "state": "queued"}))
        .unwrap(),
    };
    let src = Source {
        org: "o",
        integration: "int",
        display: "Int",
    };
    let plan = plan_ingest(
        &st,
        src,
        &env,
        &Stored::default(),
        &QueuePolicy::default(),
        &mut || "x".into(),
        now(),
    )
    .unwrap();
    assert_eq!(plan.batch.calls[0].state, CallState::Ringing);
}
