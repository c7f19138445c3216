//! Group-committed ingest end to end: the real gateway (127.0.0.1:0, temporary SQLite
//! file), 32 concurrent signed senders, and the console's stream client over a real
//! websocket. Every acknowledged line is stored once at its own position, announced once
//! in seq order, and its delivery is in the webhook log, whatever way the requests were
//! grouped into transactions.

use std::collections::BTreeMap;
use std::time::Duration;

use callwatch::client::{spawn_stream, StreamConfig, StreamMsg};
use callwatch::core::model::Role;
use callwatch::core::protocol::StreamEvent;
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::{start, GatewayOptions};
use serde_json::{json, Value};
use tokio::sync::mpsc;

#[path = "support/relay.rs"]
mod relay;
use relay::post_signed;

const SECRET: &str = "whsec_test_acme";
const ADMIN: &str = "tok_acme_admin";
const CALLS: usize = 4;
const SENDERS: usize = 32;
const LINES_PER_SENDER: usize = 20;

async fn ingest(http: &reqwest::Client, url: &str, body: &Value) -> u16 {
    post_signed(http, url, "acme-voice", SECRET, body)
        .await
        .status()
        .as_u16()
}

async fn get(http: &reqwest::Client, url: &str, path: &str) -> Value {
    http.get(format!("{url}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_are_each_stored_announced_and_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayConfig::default()
        .with_token("ada", ADMIN, "acme", Role::Admin)
        .with_custom_integration("acme-voice", "acme", SECRET, None);
    let running = start(GatewayOptions::new(config, dir.path().join("cw.db")))
        .await
        .unwrap();
    let url = running.url();
    let http = reqwest::Client::new();
    for c in 0..CALLS {
        let started = json!({"id": format!("start-{c}"), "type": "call.started",
            "provider_call_id": format!("p{c}"), "direction": "inbound",
            "from": "+15550001111", "to": "+15559990000", "state": "in_progress"});
        assert_eq!(ingest(&http, &url, &started).await, 200);
    }

    let (tx, mut rx) = mpsc::channel(4096);
    let _stream = spawn_stream(StreamConfig::new(&url, ADMIN), tx);
    // Wait for the stream's first state before sending.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(StreamMsg::Snapshot(_))) => break,
            Ok(Some(_)) => {}
            other => panic!("no snapshot: {other:?}"),
        }
    }

    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (http, url) = (http.clone(), url.clone());
        senders.push(tokio::spawn(async move {
            for n in 0..LINES_PER_SENDER {
                let body = json!({"id": format!("line-{s}-{n}"), "type": "transcript.final",
                    "provider_call_id": format!("p{}", (s + n) % CALLS),
                    "utterance_id": format!("u-{s}-{n}"), "speaker": "caller",
                    "text": format!("sender {s} line {n}")});
                assert_eq!(ingest(&http, &url, &body).await, 200);
                // A retried delivery is a duplicate, never a second line.
                if n % 5 == 0 {
                    assert_eq!(ingest(&http, &url, &body).await, 200);
                }
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let total = SENDERS * LINES_PER_SENDER;

    // The stream: every line once, seqs strictly consecutive.
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_seq = None;
    while lines.len() < total {
        let msg = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {total} lines announced", lines.len()))
            .unwrap();
        if let StreamMsg::Event { seq, event } = msg {
            if let Some(prev) = last_seq {
                assert_eq!(seq, prev + 1, "a gap or a repeat in the stream's seqs");
            }
            last_seq = Some(seq);
            if let StreamEvent::TranscriptAppended { entry } = *event {
                assert!(
                    lines.insert(entry.text.clone(), seq).is_none(),
                    "{} announced twice",
                    entry.text
                );
            }
        }
    }

    // The store: every line once, positions 0..n with no gap, per call.
    let active = get(&http, &url, "/api/calls/active").await;
    let mut stored = 0;
    for call in active["calls"].as_array().unwrap() {
        let id = call["id"].as_str().unwrap();
        let t = get(&http, &url, &format!("/api/calls/{id}/transcript")).await;
        let entries = t["entries"].as_array().unwrap();
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e["position"], i, "positions of {id} have a gap");
            assert!(lines.contains_key(e["text"].as_str().unwrap()));
        }
        stored += entries.len();
    }
    assert_eq!(stored, total);

    // The webhook log: one row per delivery (retries included), none failed.
    let hooks = get(&http, &url, "/api/webhook-log?limit=1000").await;
    let rows = hooks["entries"].as_array().unwrap();
    let retries = SENDERS * LINES_PER_SENDER.div_ceil(5);
    assert_eq!(rows.len(), CALLS + total + retries);
    assert!(rows.iter().all(|r| r["ok"] == true), "a delivery failed");
    running.shutdown().await;
}
