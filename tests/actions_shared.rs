//! Actions racing across two gateway instances on the machine's PostgreSQL and NATS
//! JetStream (in this process, each with its own port): the per-call claim and the
//! compare-and-set on the org's log must hold across instances, not only within one. A
//! local axum server stands in for the voice stack's control URL; it answers slowly
//! (300 ms), so requests really overlap, and counts what it receives.
//!
//! Skipped with a message when PostgreSQL or NATS is down and CI is unset.

#[path = "support/cluster.rs"]
mod cluster;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use callwatch::core::model::Role;
use callwatch::core::protocol::{ServerFrame, StreamEvent};
use callwatch::gateway::bus::BusKind;
use callwatch::gateway::config::{GatewayConfig, StoreKind};
use callwatch::gateway::ingest::signature_header;
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use cluster::{services_up, TestDb, TestStream, NATS_URL};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "whsec_shared_acme";
const SUPERVISORS: [(&str, &str); 5] = [
    ("sam", "tok_sam_shared"),
    ("sue", "tok_sue_shared"),
    ("sid", "tok_sid_shared"),
    ("sol", "tok_sol_shared"),
    ("ada", "tok_ada_shared"),
];

/// The stand-in control URL: answers 200 after 300 ms; records the action names.
#[derive(Clone)]
struct Control {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Control {
    async fn start() -> Control {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let s2 = seen.clone();
        let app = axum::Router::new().route(
            "/actions",
            axum::routing::post(move |body: axum::body::Bytes| {
                let s2 = s2.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    s2.lock()
                        .unwrap()
                        .push(v["action"].as_str().unwrap_or_default().to_string());
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    (StatusCode::OK, "{}")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Control {
            url: format!("http://{addr}/actions"),
            seen,
        }
    }

    fn actions(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Two instances on one database and one bus stream.
struct Pair {
    instances: Vec<RunningGateway>,
    urls: Vec<String>,
    http: reqwest::Client,
    control: Control,
    db: TestDb,
    _stream: TestStream,
    _dirs: Vec<tempfile::TempDir>,
}

impl Pair {
    async fn start() -> Pair {
        let control = Control::start().await;
        let db = TestDb::create().await;
        let stream = TestStream::new();
        let mut instances = Vec::new();
        let mut dirs = Vec::new();
        for _ in 0..2 {
            let mut c = GatewayConfig::default().with_custom_integration(
                "acme-voice",
                "acme",
                SECRET,
                Some(&control.url),
            );
            for (name, token) in SUPERVISORS {
                c = c.with_token(name, token, "acme", Role::Supervisor);
            }
            c.store.kind = StoreKind::Postgres;
            c.store.url = Some(db.url.clone());
            c.bus.kind = BusKind::Nats;
            c.bus.url = Some(NATS_URL.into());
            c.bus.stream = stream.stream.clone();
            c.bus.subject_prefix = stream.subject_prefix.clone();
            let dir = tempfile::tempdir().unwrap();
            let running = start(GatewayOptions::new(c, dir.path().join("unused.db")))
                .await
                .unwrap();
            instances.push(running);
            dirs.push(dir);
        }
        Pair {
            urls: instances.iter().map(|i| i.url()).collect(),
            instances,
            http: reqwest::Client::new(),
            control,
            db,
            _stream: stream,
            _dirs: dirs,
        }
    }

    async fn post(&self, on: usize, token: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.urls[on]))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Starts a call in progress through instance 0; returns callwatch's call id.
    async fn start_call(&self, pcid: &str) -> String {
        let raw = serde_json::to_vec(&json!({
            "id": format!("start-{pcid}"),
            "type": "call.started",
            "provider_call_id": pcid,
            "direction": "inbound",
            "from": "+15550001111",
            "to": "+15559990000",
            "state": "in_progress"
        }))
        .unwrap();
        let t = chrono::Utc::now().timestamp();
        let r = self
            .http
            .post(format!("{}/api/ingest", self.urls[0]))
            .header("Callwatch-Integration", "acme-voice")
            .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = self
            .http
            .get(format!("{}/api/calls?limit=100", self.urls[0]))
            .bearer_auth(SUPERVISORS[0].1)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider_call_id"] == pcid)
            .and_then(|c| c["id"].as_str())
            .expect("the call exists")
            .to_string()
    }

    /// The call as PostgreSQL holds it (its stored record).
    async fn call_in_pg(&self, id: &str) -> Value {
        let (client, conn) = tokio_postgres::connect(&self.db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT data FROM calls WHERE id = $1", &[&id])
            .await
            .unwrap();
        serde_json::from_str(row.get::<_, &str>(0)).unwrap()
    }

    async fn shutdown(self) {
        for i in self.instances {
            i.shutdown().await;
        }
        self.db.drop_now().await;
    }
}

/// The last version of each call an instance's stream has shown.
type Shown = Arc<Mutex<std::collections::HashMap<String, Value>>>;

/// A stream client on `url`, recording every call it is shown (snapshot and events).
async fn watch(url: &str) -> Shown {
    let shown: Shown = Arc::default();
    let mut req = format!("{}/api/stream", url.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", SUPERVISORS[0].1).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let s2 = shown.clone();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else {
                continue;
            };
            let mut calls = Vec::new();
            match frame {
                ServerFrame::Snapshot { snapshot } => {
                    calls.extend(snapshot.calls.into_iter().map(|c| c.call))
                }
                ServerFrame::Event {
                    event: StreamEvent::CallUpdated { call } | StreamEvent::CallEnded { call },
                    ..
                } => calls.push(call),
                _ => {}
            }
            let mut s = s2.lock().unwrap();
            for c in calls {
                s.insert(c.id.clone(), serde_json::to_value(&c).unwrap());
            }
        }
    });
    shown
}

async fn until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` supervisors take over the same call at the same instant, spread over both instances.
async fn simultaneous_takeovers(n: usize) {
    if !services_up("shared takeovers") {
        return;
    }
    let pair = Pair::start().await;
    let id = pair.start_call(&format!("shared-race-{n}")).await;
    let path = format!("/api/calls/{id}/takeover");
    let body = json!({"reason": "caller asked for a person"});
    let answers = futures::future::join_all(
        SUPERVISORS[..n]
            .iter()
            .enumerate()
            .map(|(i, (_, token))| pair.post(i % 2, token, &path, Some(&body))),
    )
    .await;
    let ok: Vec<usize> = (0..n).filter(|i| answers[*i].0 == 200).collect();
    assert_eq!(ok.len(), 1, "exactly one 200: {answers:?}");
    let winner = SUPERVISORS[ok[0]].0;
    for (i, (s, v)) in answers.iter().enumerate() {
        if i != ok[0] {
            assert_eq!(*s, 409, "{v}");
            // "busy" (naming the holder, from either instance) while the winner's action
            // runs; the call's state once it is committed.
            let expected = match v["error"].as_str() {
                Some("busy") => format!("{winner} is already taking over this call"),
                _ => format!("the call is already taken over by {winner}"),
            };
            assert_eq!(v["message"], expected, "{v}");
        }
    }
    assert_eq!(pair.control.actions(), ["takeover"], "one provider request");
    let call = pair.call_in_pg(&id).await;
    assert_eq!(call["state"], "taken_over");
    assert_eq!(call["takeover"]["by"], winner);
    pair.shutdown().await;
}

#[tokio::test]
async fn two_takeovers_on_two_instances_reach_the_stack_once() {
    simultaneous_takeovers(2).await;
}

#[tokio::test]
async fn five_takeovers_on_two_instances_reach_the_stack_once() {
    simultaneous_takeovers(5).await;
}

#[tokio::test]
async fn pause_on_one_instance_and_end_on_the_other_agree_everywhere() {
    if !services_up("shared pause and end") {
        return;
    }
    let pair = Pair::start().await;
    let watchers = [watch(&pair.urls[0]).await, watch(&pair.urls[1]).await];
    let id = pair.start_call("pause-end").await;
    let (pause_path, end_path) = (
        format!("/api/calls/{id}/pause-ai"),
        format!("/api/calls/{id}/end"),
    );
    let (pause, end) = tokio::join!(
        pair.post(0, SUPERVISORS[0].1, &pause_path, None),
        pair.post(1, SUPERVISORS[1].1, &end_path, None),
    );
    // One of them holds the call; the other is refused (busy, or by the state it then
    // finds), never both carried out against each other's back.
    let oks = [pause.0, end.0].iter().filter(|s| **s == 200).count();
    assert!(oks >= 1, "{pause:?} {end:?}");
    assert_eq!(pair.control.actions().len(), oks, "{pause:?} {end:?}");
    let stored = pair.call_in_pg(&id).await;
    for (i, shown) in watchers.iter().enumerate() {
        until(
            &format!("instance {i}'s stream shows the stored call"),
            Duration::from_secs(15),
            || shown.lock().unwrap().get(&id) == Some(&stored),
        )
        .await;
    }
    if end.0 == 200 {
        assert_eq!(stored["state"], "ended");
    }
    pair.shutdown().await;
}

#[tokio::test]
async fn one_idempotency_key_on_two_instances_at_once_runs_once() {
    if !services_up("shared idempotency key") {
        return;
    }
    let pair = Pair::start().await;
    let id = pair.start_call("shared-key").await;
    let path = format!("/api/calls/{id}/takeover");
    let body = json!({"reason": "caller asked for a person"});
    let send = |on: usize| {
        pair.http
            .post(format!("{}{path}", pair.urls[on]))
            .bearer_auth(SUPERVISORS[0].1)
            .header("Idempotency-Key", "3f1c0b6e-shared")
            .json(&body)
            .send()
    };
    let (a, b) = tokio::join!(send(0), send(1));
    let mut answers = Vec::new();
    for r in [a.unwrap(), b.unwrap()] {
        let replayed = r.headers().contains_key("idempotent-replayed");
        let s = r.status().as_u16();
        answers.push((s, replayed, r.json::<Value>().await.unwrap_or(Value::Null)));
    }
    let performed = answers.iter().filter(|(s, r, _)| *s == 200 && !r).count();
    assert_eq!(performed, 1, "{answers:?}");
    for (s, replayed, v) in &answers {
        // The other: still running (409 conflict) or, once answered, the stored answer.
        assert!(
            (*s == 200) || (*s == 409 && v["error"] == "conflict" && !replayed),
            "{answers:?}"
        );
    }
    assert_eq!(pair.control.actions(), ["takeover"], "one provider request");
    pair.shutdown().await;
}
