//! Group commit (`group.rs`) on a real SQLite file: a group ends exactly where applying its
//! events one by one would (property test), queued requests share one transaction, and a
//! failed group commit falls back to one event at a time without losing or inventing
//! anything.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use tokio::sync::oneshot;

use crate::core::ingest::IngestEnvelope;
use crate::core::protocol::StreamEvent;
use crate::gateway::config::GatewayConfig;
use crate::gateway::engine::group::{IngestJob, IngestResults};
use crate::gateway::engine::Gateway;
use crate::gateway::error::EngineResult;
use crate::gateway::store::{Store, WebhookLog};

const ORG: &str = "acme";
const INTEGRATION: &str = "acme-voice";
const PCIDS: [&str; 3] = ["p1", "p2", "p3"];

fn gateway(dir: &std::path::Path) -> Arc<Gateway> {
    let store = Store::open(&dir.join("cw.db"))
        .unwrap_or_else(|e| panic!("store: {e}"))
        .into();
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    Gateway::new(GatewayConfig::default(), store, shutdown)
        .unwrap_or_else(|e| panic!("gateway: {e}"))
}

#[derive(Debug, Clone)]
enum Body {
    Started,
    Status(&'static str),
    Partial(u8),
    Final(u8),
    Ended,
}

fn envelope(id: u16, pcid: &str, body: &Body) -> IngestEnvelope {
    let event = match body {
        Body::Started => json!({"type": "call.started", "provider_call_id": pcid,
            "direction": "inbound", "from": "+1555", "to": "+1666"}),
        Body::Status(s) => json!({"type": "call.status", "provider_call_id": pcid, "status": s}),
        Body::Partial(u) => json!({"type": "transcript.partial", "provider_call_id": pcid,
            "utterance_id": format!("u{u}"), "speaker": "caller", "text": format!("partial {id}")}),
        Body::Final(u) => json!({"type": "transcript.final", "provider_call_id": pcid,
            "utterance_id": format!("u{u}"), "speaker": "ai", "text": format!("final {id}")}),
        Body::Ended => {
            json!({"type": "call.ended", "provider_call_id": pcid, "outcome": "completed"})
        }
    };
    IngestEnvelope {
        id: format!("e{id}"),
        occurred_at: None,
        event: serde_json::from_value(event).unwrap_or_else(|e| panic!("test event: {e}")),
    }
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::Started),
        prop_oneof![Just("ringing"), Just("in_progress"), Just("ai_paused")].prop_map(Body::Status),
        (0u8..4).prop_map(Body::Partial),
        (0u8..4).prop_map(Body::Final),
        Just(Body::Ended),
    ]
}

/// What an outcome says, without ids and times.
fn outcome(r: &EngineResult<crate::gateway::engine::IngestOutcome>) -> String {
    match r {
        Ok(o) => format!("{o:?}"),
        Err(e) => format!("error: {e}"),
    }
}

/// Everything observable of the org, with call ids replaced by provider call ids: the
/// stored calls and transcripts, the live calls and transcripts in memory, and the logged
/// events in seq order.
fn observe(gw: &Gateway) -> Vec<String> {
    let mut out = Vec::new();
    let pcid_of = |call_id: &str| -> String {
        gw.store
            .read_latest_blocking(|r| r.get_call(ORG, call_id))
            .ok()
            .flatten()
            .map(|c| c.provider_call_id)
            .unwrap_or_else(|| "?".into())
    };
    for pcid in PCIDS {
        let call = gw
            .store
            .read_latest_blocking(|r| r.find_call_by_provider(ORG, INTEGRATION, pcid))
            .unwrap_or_else(|e| panic!("read: {e}"));
        let Some(call) = call else {
            out.push(format!("{pcid}: none"));
            continue;
        };
        let stored = gw
            .store
            .read_latest_blocking(|r| r.transcript(&call.id))
            .unwrap_or_else(|e| panic!("read: {e}"));
        let lines: Vec<String> = stored
            .iter()
            .map(|t| format!("{}:{}:{}", t.position, t.text, t.is_final))
            .collect();
        out.push(format!(
            "{pcid}: {:?} {:?} {lines:?}",
            call.state, call.outcome
        ));
        let handle = gw.org(ORG);
        let inner = handle.lock();
        if let Some(ac) = inner.state.calls.get(&call.id) {
            let live: Vec<String> = ac
                .transcript
                .iter()
                .map(|t| format!("{}:{}:{}", t.position, t.text, t.is_final))
                .collect();
            assert_eq!(live, lines, "memory and database disagree on {pcid}");
            out.push(format!("{pcid} live: {:?}", ac.call.state));
        }
    }
    let events = gw
        .store
        .read_latest_blocking(|r| r.events_after(ORG, 0, 100_000))
        .unwrap_or_else(|e| panic!("read: {e}"));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "the log's seqs have a gap");
        out.push(match &e.event {
            StreamEvent::CallUpdated { call } | StreamEvent::CallEnded { call } => {
                format!("call {} {:?}", call.provider_call_id, call.state)
            }
            StreamEvent::TranscriptAppended { entry }
            | StreamEvent::TranscriptRevised { entry } => {
                format!(
                    "line {} {} {}",
                    pcid_of(&entry.call_id),
                    entry.position,
                    entry.text
                )
            }
            other => format!("{other:?}").chars().take(40).collect(),
        });
    }
    let handle = gw.org(ORG);
    assert_eq!(
        handle.lock().hub.seq(),
        events.len() as u64,
        "the hub announced a different number of events than were logged"
    );
    out
}

fn answers(rx: Vec<oneshot::Receiver<IngestResults>>) -> Vec<Vec<String>> {
    rx.into_iter()
        .map(|mut r| match r.try_recv() {
            Ok(results) => results.iter().map(|(_, r)| outcome(r)).collect(),
            Err(e) => panic!("a job was not answered: {e}"),
        })
        .collect()
}

/// Runs `jobs` (each a list of events) as one group under the org's lock.
fn run_as_group(gw: &Gateway, jobs: Vec<Vec<IngestEnvelope>>) -> Vec<Vec<String>> {
    let mut rx = Vec::new();
    let mut planned = Vec::new();
    for envs in jobs {
        let (job, answer) = IngestJob::new(INTEGRATION, "Acme", envs, None);
        planned.push(job);
        rx.push(answer);
    }
    let handle = gw.org(ORG);
    let mut inner = handle.lock();
    gw.run_group(&mut inner, planned);
    drop(inner);
    answers(rx)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any events, with repeated ids, split into groups of any size: the stored calls and
    /// transcripts, memory, the log and every answer are what one-by-one application gives.
    #[test]
    fn a_group_ends_where_one_by_one_would(
        steps in proptest::collection::vec((0u16..40, 0..PCIDS.len(), body()), 1..60),
        cuts in proptest::collection::vec(1usize..8, 1..20),
    ) {
        let envs: Vec<IngestEnvelope> = steps
            .iter()
            .map(|(id, p, b)| envelope(*id, PCIDS[*p], b))
            .collect();
        let dir_a = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let one = gateway(dir_a.path());
        let mut expected = Vec::new();
        for env in &envs {
            expected.push(vec![outcome(&one.apply_ingest(ORG, INTEGRATION, "Acme", env))]);
        }

        let dir_b = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let grouped = gateway(dir_b.path());
        let mut got = Vec::new();
        let mut rest = &envs[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap_or(&1)).min(rest.len());
            let jobs = rest[..n].iter().map(|e| vec![e.clone()]).collect();
            got.extend(run_as_group(&grouped, jobs));
            rest = &rest[n..];
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(observe(&grouped), observe(&one));
    }
}

#[test]
fn requests_queued_behind_a_commit_share_the_next_transaction() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(dir.path());
    let started = envelope(1, "p1", &Body::Started);
    run_as_group(&gw, vec![vec![started]]);
    let before = gw.ingest_groups.read();
    // Ten requests waiting while a drainer is busy (draining already set): the next
    // drain takes them all into one transaction.
    let handle = gw.org(ORG);
    let mut rx = Vec::new();
    {
        let mut q = handle.ingest.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..10u16 {
            let log = WebhookLog {
                org: Some(ORG.into()),
                integration: INTEGRATION.into(),
                provider: "test".into(),
                event: Some("transcript.final".into()),
                payload: b"{}".to_vec(),
                error: None,
            };
            let (job, answer) = IngestJob::new(
                INTEGRATION,
                "Acme",
                vec![envelope(100 + i, "p1", &Body::Final(i as u8))],
                Some(log),
            );
            q.push_for_test(job);
            rx.push(answer);
        }
    }
    gw.drain(&handle);
    let after = gw.ingest_groups.read();
    assert_eq!(
        after.0 - before.0,
        1,
        "one transaction for the ten requests"
    );
    assert_eq!(after.1 - before.1, 10);
    for a in answers(rx) {
        assert_eq!(a, vec!["Applied".to_string()]);
    }
    let (ok, failed) = gw
        .store
        .read_latest_blocking(|r| r.webhook_counts())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ok, failed), (10, 0), "each request's log row is written");
    let lines = observe(&gw)
        .into_iter()
        .filter(|l| l.starts_with("line p1"))
        .count();
    assert_eq!(lines, 10);
}

#[test]
fn a_failed_group_commit_applies_each_event_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(dir.path());
    run_as_group(&gw, vec![vec![envelope(1, "p1", &Body::Started)]]);
    // The database refuses one line (as a full disk or an I/O error would refuse a write).
    let raw =
        rusqlite::Connection::open(dir.path().join("cw.db")).unwrap_or_else(|e| panic!("{e}"));
    raw.execute_batch(
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON transcript_entries
         WHEN NEW.text = 'final 3' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let got = run_as_group(
        &gw,
        vec![
            vec![envelope(2, "p1", &Body::Final(0))],
            vec![envelope(3, "p1", &Body::Final(1))],
            vec![envelope(4, "p1", &Body::Final(2))],
        ],
    );
    assert_eq!(got[0], vec!["Applied".to_string()]);
    assert!(got[1][0].starts_with("error"), "{got:?}");
    assert_eq!(got[2], vec!["Applied".to_string()]);
    assert_eq!(gw.ingest_groups.read().2, 1, "one fallback");
    let seen = observe(&gw);
    let lines: Vec<&String> = seen.iter().filter(|l| l.starts_with("line")).collect();
    assert_eq!(
        lines,
        vec!["line p1 0 final 2", "line p1 1 final 4"],
        "the refused line is nowhere, the others are stored and announced once"
    );
}
