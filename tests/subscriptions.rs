//! Stream subscriptions end to end: the real gateway (127.0.0.1:0, temporary SQLite file),
//! signed ingest over HTTP, and the console's own stream task over a real websocket that
//! goes through a local TCP relay the test can cut mid-stream.

use std::collections::BTreeMap;
use std::time::Duration;

use callwatch::client::{spawn_stream, Backoff, StreamConfig, StreamMsg};
use callwatch::core::model::{Role, TranscriptEntry};
use callwatch::core::protocol::{StreamEvent, Transcript};
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::{start, GatewayOptions};
use serde_json::{json, Value};
use tokio::sync::mpsc;

#[path = "support/relay.rs"]
mod relay;
use relay::{post_signed, Relay};

const SECRET: &str = "whsec_test_acme";
const SUP: &str = "tok_acme_supervisor";

struct Floor {
    url: String,
    http: reqwest::Client,
}

impl Floor {
    async fn ingest(&self, body: Value) {
        let r = post_signed(&self.http, &self.url, "acme-voice", SECRET, &body).await;
        assert_eq!(
            r.status(),
            200,
            "ingest refused: {}",
            r.text().await.unwrap()
        );
    }

    async fn start_call(&self, pcid: &str) -> String {
        self.ingest(json!({
            "id": format!("start-{pcid}"), "type": "call.started", "provider_call_id": pcid,
            "direction": "inbound", "from": "+15550001111", "to": "+15559990000",
            "state": "in_progress"
        }))
        .await;
        let active: Value = self.rest("/api/calls/active").await;
        active["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider_call_id"] == pcid)
            .expect("the call is live")["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A line as a partial, then its final text (a revision of the same entry).
    async fn say(&self, pcid: &str, n: usize, text: &str) {
        for (kind, t) in [("partial", &text[..text.len() / 2]), ("final", text)] {
            self.ingest(json!({
                "id": format!("{pcid}-{n}-{kind}"), "type": format!("transcript.{kind}"),
                "provider_call_id": pcid, "utterance_id": format!("u{n}"),
                "speaker": "caller", "text": t
            }))
            .await;
        }
    }

    async fn rest(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(SUP)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn transcript(&self, id: &str) -> Vec<TranscriptEntry> {
        let v = self.rest(&format!("/api/calls/{id}/transcript")).await;
        serde_json::from_value(v["entries"].clone()).unwrap()
    }
}

/// What a console holds: transcripts by call, entries by position.
#[derive(Default)]
struct Held {
    transcripts: BTreeMap<String, BTreeMap<u32, TranscriptEntry>>,
    /// Transcript events of calls outside the subscription (must stay empty).
    strays: Vec<String>,
    connections: Vec<bool>,
}

impl Held {
    fn apply(&mut self, msg: StreamMsg, wanted: &[String]) {
        match msg {
            StreamMsg::Connected { resumed, .. } => self.connections.push(resumed),
            StreamMsg::Snapshot(snap) => {
                self.transcripts.clear();
                for c in snap.calls {
                    if !c.transcript.is_empty() && !wanted.contains(&c.call.id) {
                        self.strays.push(c.call.id.clone());
                    }
                    self.replace(Transcript {
                        call_id: c.call.id,
                        entries: c.transcript,
                    });
                }
            }
            StreamMsg::Subscribed { transcripts, .. } => {
                transcripts.into_iter().for_each(|t| self.replace(t))
            }
            StreamMsg::Event { event, .. } => match *event {
                StreamEvent::TranscriptAppended { entry }
                | StreamEvent::TranscriptRevised { entry } => {
                    if !wanted.contains(&entry.call_id) {
                        self.strays.push(entry.call_id.clone());
                    }
                    self.transcripts
                        .entry(entry.call_id.clone())
                        .or_default()
                        .insert(entry.position, entry);
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn replace(&mut self, t: Transcript) {
        self.transcripts.insert(
            t.call_id,
            t.entries.into_iter().map(|e| (e.position, e)).collect(),
        );
    }

    fn of(&self, id: &str) -> Vec<TranscriptEntry> {
        self.transcripts
            .get(id)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }
}

async fn next(rx: &mut mpsc::Receiver<StreamMsg>) -> StreamMsg {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no stream message within 20 s")
        .expect("the stream task ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_client_gets_only_its_calls_transcripts_and_loses_nothing_across_a_reconnect()
{
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayConfig::default()
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_custom_integration("acme-voice", "acme", SECRET, None);
    let running = start(GatewayOptions::new(config, dir.path().join("cw.db")))
        .await
        .unwrap();
    let floor = Floor {
        url: running.url(),
        http: reqwest::Client::new(),
    };
    let mine = floor.start_call("mine").await;
    let other = floor.start_call("other").await;
    floor.say("mine", 0, "before we connect").await;
    floor.say("other", 0, "not for this console").await;

    let addr = running.url().trim_start_matches("http://").parse().unwrap();
    let relay = Relay::start(addr).await;
    let (tx, mut rx) = mpsc::channel(64);
    let stream = spawn_stream(
        StreamConfig {
            subscriptions: true,
            backoff: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(100),
            },
            ..StreamConfig::new(&relay.url, SUP)
        },
        tx,
    );
    let wanted = vec![mine.clone()];
    stream.subscribe(&wanted);
    let mut held = Held::default();

    // The subscription's answer brings the call's transcript so far.
    loop {
        let m = next(&mut rx).await;
        let answered = matches!(&m, StreamMsg::Subscribed { calls, .. } if *calls == wanted);
        held.apply(m, &wanted);
        if answered {
            break;
        }
    }
    assert_eq!(held.of(&mine), floor.transcript(&mine).await);

    // Both calls talk; the connection is cut while lines of ours are in flight.
    for n in 1..=6 {
        floor.say("mine", n, &format!("mine line {n}")).await;
        floor.say("other", n, &format!("other line {n}")).await;
    }
    while held.of(&mine).len() < 4 {
        held.apply(next(&mut rx).await, &wanted);
    }
    relay.cut();
    for n in 7..=12 {
        floor.say("other", n, &format!("other line {n}")).await;
        floor.say("mine", n, &format!("mine line {n}")).await;
    }
    floor.say("mine", 13, "the last line").await;
    while !held.of(&mine).iter().any(|e| e.text == "the last line") {
        held.apply(next(&mut rx).await, &wanted);
    }

    assert_eq!(held.of(&mine), floor.transcript(&mine).await);
    assert!(
        held.strays.is_empty(),
        "other calls' lines: {:?}",
        held.strays
    );
    assert!(held.of(&other).is_empty());
    assert_eq!(floor.transcript(&other).await.len(), 13);
    assert_eq!(
        held.connections,
        vec![false, true],
        "one fresh connection, then one resumed after the cut"
    );

    // Adding the other call brings its whole transcript, then its new lines.
    let both = {
        let mut b = vec![mine.clone(), other.clone()];
        b.sort();
        b
    };
    stream.subscribe(&both);
    loop {
        let m = next(&mut rx).await;
        let answered = matches!(&m, StreamMsg::Subscribed { calls, .. } if *calls == both);
        held.apply(m, &both);
        if answered {
            break;
        }
    }
    floor.say("other", 14, "now watched").await;
    while !held.of(&other).iter().any(|e| e.text == "now watched") {
        held.apply(next(&mut rx).await, &both);
    }
    assert_eq!(held.of(&other), floor.transcript(&other).await);
    assert_eq!(held.of(&mine), floor.transcript(&mine).await);

    drop(stream);
    running.shutdown().await;
}
