//! Deltas end to end: the real gateway (127.0.0.1:0, temporary SQLite file), signed ingest
//! over HTTP, and two of the console's own stream tasks over real websockets: one asks for
//! deltas (through a local TCP relay the test cuts mid-stream), one takes whole events. The
//! call records and analytics both end up holding must be the same.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callwatch::client::{spawn_stream, Backoff, StreamConfig, StreamHandle, StreamMsg};
use callwatch::core::delta::apply;
use callwatch::core::model::{Analytics, Call, Role};
use callwatch::core::protocol::{StreamDelta, StreamEvent};
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

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
        assert_eq!(r.status(), 200, "refused: {}", r.text().await.unwrap());
    }

    /// One numbered change of a call, as a voice stack reports it.
    async fn event(&self, pcid: &str, n: usize, kind: &str, fields: Value) {
        let mut body = json!({
            "id": format!("{pcid}-{n}-{kind}"), "type": kind, "provider_call_id": pcid,
        });
        if let (Some(b), Value::Object(f)) = (body.as_object_mut(), fields) {
            b.extend(f);
        }
        self.ingest(body).await;
    }

    async fn start_call(&self, pcid: &str) {
        let fields = json!({
            "direction": "inbound", "from": "+15550001111", "to": "+15559990000",
            "state": "in_progress", "lead": {"id": null, "name": format!("Lead {pcid}")},
        });
        self.event(pcid, 0, "call.started", fields).await;
    }

    /// Several kinds of change: analysis, alerts raised and cleared, pause and resume.
    async fn churn(&self, pcid: &str, round: usize) {
        let n = round * 10;
        let sentiment = ["positive", "negative", "neutral"][round % 3];
        let analysis = json!({"intent": format!("intent {round}"), "sentiment": sentiment});
        self.event(pcid, n + 1, "call.analysis", analysis).await;
        let alert = json!({"kind": "ai_silent", "message": format!("quiet {round}")});
        self.event(pcid, n + 2, "call.alert", alert).await;
        self.event(pcid, n + 3, "call.status", json!({"status": "ai_paused"}))
            .await;
        let cleared = json!({"kind": "ai_silent"});
        self.event(pcid, n + 4, "call.alert_cleared", cleared).await;
        self.event(pcid, n + 5, "call.status", json!({"status": "in_progress"}))
            .await;
    }

    async fn end(&self, pcid: &str) {
        let fields = json!({"outcome": "completed", "cost": 0.42, "duration_secs": 61.5});
        self.event(pcid, 999, "call.ended", fields).await;
    }

    async fn active(&self) -> BTreeMap<String, Call> {
        let v: Value = self
            .http
            .get(format!("{}/api/calls/active", self.url))
            .bearer_auth(SUP)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let calls: Vec<Call> = serde_json::from_value(v["calls"].clone()).unwrap();
        calls.into_iter().map(|c| (c.id.clone(), c)).collect()
    }
}

/// What one client holds, kept as a console does: live calls and the analytics.
#[derive(Default, Debug)]
struct Records {
    calls: BTreeMap<String, Call>,
    analytics: Analytics,
    seq: u64,
    connections: Vec<bool>,
    /// Where in `log` each connection started.
    connected_at: Vec<usize>,
    /// (seq, call id or "analytics", came as a delta), in order.
    log: Vec<(u64, String, bool)>,
    /// Deltas that did not apply (must stay empty).
    misfits: Vec<String>,
}

impl Records {
    fn keep(&mut self, call: Call) {
        if call.state.is_active() {
            self.calls.insert(call.id.clone(), call);
        } else {
            self.calls.remove(&call.id);
        }
    }

    fn apply(&mut self, msg: StreamMsg) {
        match msg {
            StreamMsg::Connected { resumed, .. } => {
                self.connections.push(resumed);
                self.connected_at.push(self.log.len());
            }
            StreamMsg::Snapshot(s) => {
                self.calls.clear();
                s.calls.into_iter().for_each(|c| self.keep(c.call));
                self.analytics = s.analytics;
                self.seq = s.seq;
            }
            StreamMsg::Event { seq, event } => {
                self.seq = seq;
                match *event {
                    StreamEvent::CallUpdated { call } | StreamEvent::CallEnded { call } => {
                        self.log.push((seq, call.id.clone(), false));
                        self.keep(call);
                    }
                    StreamEvent::AnalyticsUpdated { analytics } => {
                        self.log.push((seq, "analytics".into(), false));
                        self.analytics = analytics;
                    }
                    _ => {}
                }
            }
            StreamMsg::Delta { seq, delta } => {
                self.seq = seq;
                match *delta {
                    StreamDelta::CallUpdated {
                        call_id,
                        changes,
                        edits,
                    } => {
                        self.log.push((seq, call_id.clone(), true));
                        match self.calls.get(&call_id).map(|c| apply(c, &changes, &edits)) {
                            Some(Ok(call)) => self.keep(call),
                            other => self.misfits.push(format!("{seq} {call_id}: {other:?}")),
                        }
                    }
                    StreamDelta::AnalyticsUpdated { changes, edits } => {
                        self.log.push((seq, "analytics".into(), true));
                        match apply(&self.analytics, &changes, &edits) {
                            Ok(a) => self.analytics = a,
                            Err(e) => self.misfits.push(format!("{seq} analytics: {e}")),
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn deltas(&self) -> usize {
        self.log.iter().filter(|(_, _, d)| *d).count()
    }
}

/// A console's stream task feeding shared records.
fn client(url: &str, deltas: bool) -> (StreamHandle, Arc<Mutex<Records>>) {
    let (tx, mut rx) = mpsc::channel(256);
    let handle = spawn_stream(
        StreamConfig {
            subscriptions: true,
            deltas,
            backoff: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(100),
            },
            ..StreamConfig::new(url, SUP)
        },
        tx,
    );
    let records: Arc<Mutex<Records>> = Arc::default();
    let shared = records.clone();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            shared.lock().unwrap().apply(m);
        }
    });
    (handle, records)
}

/// Waits (up to 20 s) until `done` holds for the records.
async fn until(records: &Mutex<Records>, what: &str, done: impl Fn(&Records) -> bool) {
    for _ in 0..1000 {
        if done(&records.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within 20 s; {:?}", records.lock().unwrap());
}

/// The org's last seq, read from the gateway itself.
fn org_seq(running: &RunningGateway) -> u64 {
    running.gateway.attach("acme", None, None).1
}

/// Waits until both clients hold everything up to the same, current seq.
async fn settle(running: &RunningGateway, a: &Mutex<Records>, b: &Mutex<Records>) {
    for _ in 0..100 {
        let seq = org_seq(running);
        until(a, "caught up", |r| r.seq >= seq).await;
        until(b, "caught up", |r| r.seq >= seq).await;
        let (sa, sb) = (a.lock().unwrap().seq, b.lock().unwrap().seq);
        if sa == sb && sa == org_seq(running) {
            return;
        }
    }
    panic!("the clients never rested at the same seq");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_rebuild_exactly_the_records_whole_events_give_across_a_reconnect() {
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
    // Calls that exist before the clients connect: they come in the snapshot.
    for pcid in ["a", "b", "c"] {
        floor.start_call(pcid).await;
    }
    floor.churn("a", 0).await;

    let addr = running.url().trim_start_matches("http://").parse().unwrap();
    let relay = Relay::start(addr).await;
    let (delta_stream, with_deltas) = client(&relay.url, true);
    let (whole_stream, whole) = client(&running.url(), false);
    for r in [&with_deltas, &whole] {
        until(r, "snapshot", |r| r.calls.len() == 3).await;
    }

    // Changes to calls the snapshot carried, a new call, an ended one.
    floor.churn("a", 1).await;
    floor.churn("b", 1).await;
    floor.start_call("d").await;
    floor.churn("d", 1).await;
    floor.end("c").await;
    settle(&running, &with_deltas, &whole).await;
    let active = floor.active().await;
    let a_id = active.values().find(|c| c.provider_call_id == "a").unwrap();
    let a_id = a_id.id.clone();
    {
        let r = with_deltas.lock().unwrap();
        let first_a = r.log.iter().find(|(_, id, _)| *id == a_id);
        assert!(
            matches!(first_a, Some((_, _, true))),
            "the snapshot holds a's version: its first change is a delta ({:?})",
            r.log
        );
        assert!(r.deltas() >= 10, "{:?}", r.log);
    }
    assert!(
        whole.lock().unwrap().deltas() == 0,
        "a client that did not ask gets whole events"
    );

    // The delta client's connection is cut while changes go on; it resumes.
    relay.cut();
    floor.churn("a", 2).await;
    floor.end("b").await;
    floor.start_call("e").await;
    floor.churn("d", 2).await;
    until(&with_deltas, "resumed", |r| r.connections.len() == 2).await;
    let before_more = with_deltas.lock().unwrap().log.len();
    floor.churn("a", 3).await;
    floor.churn("e", 3).await;
    floor.end("d").await;
    settle(&running, &with_deltas, &whole).await;

    let active = floor.active().await;
    {
        let d = with_deltas.lock().unwrap();
        let w = whole.lock().unwrap();
        assert_eq!(d.connections, vec![false, true], "fresh, then resumed");
        assert!(d.misfits.is_empty(), "{:?}", d.misfits);
        // Resumed, the gateway cannot know what the client holds: each record's first change
        // on the new connection comes whole, later ones as deltas.
        let mut firsts = std::collections::BTreeSet::new();
        for (seq, id, delta) in &d.log[d.connected_at[1]..] {
            if firsts.insert(id.clone()) {
                assert!(
                    !delta,
                    "{id}'s first change after the resume (seq {seq}) is whole"
                );
            }
        }
        assert!(
            d.log[before_more..].iter().any(|(_, _, delta)| *delta),
            "deltas again after the resume: {:?}",
            &d.log[before_more..]
        );
        assert_eq!(d.calls, w.calls);
        assert_eq!(d.analytics, w.analytics);
        assert_eq!(d.calls, active);
        assert_eq!(d.calls.len(), 2, "a and e are live");
    }

    drop(delta_stream);
    drop(whole_stream);
    running.shutdown().await;
}

#[tokio::test]
async fn an_unknown_deltas_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayConfig::default().with_token("sam", SUP, "acme", Role::Supervisor);
    let running = start(GatewayOptions::new(config, dir.path().join("cw.db")))
        .await
        .unwrap();
    let url = format!(
        "{}/api/stream?deltas=yes",
        running.url().replacen("http", "ws", 1)
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {SUP}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 422)
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    running.shutdown().await;
}
