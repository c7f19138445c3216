//! Bounded live state: a 1,000-call floor driven through the real gateway (127.0.0.1:0, a
//! real SQLite file, signed ingest over HTTP, a websocket console watching a call) to its
//! end. Every in-memory per-call, per-connection and per-request count returns to its
//! baseline, and the stream history stays within its configured bytes.

use std::time::Duration;

use callwatch::core::model::Role;
use callwatch::core::protocol::ClientFrame;
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::engine::live::LiveStats;
use callwatch::gateway::ingest::signature_header;
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "whsec_test_acme";
const ADMIN: &str = "tok_acme_admin";
const SUP: &str = "tok_acme_supervisor";
const CALLS: usize = 1_000;
const LINES: usize = 2;
const WORKERS: usize = 16;
const HISTORY_BYTES: usize = 256 * 1024;
/// Calls a supervisor takes over during the floor (the action budget is 120 a minute).
const TAKEOVERS: usize = 50;

#[derive(Clone)]
struct Floor {
    url: String,
    http: reqwest::Client,
}

impl Floor {
    async fn ingest(&self, body: Value) {
        let raw = serde_json::to_vec(&body).unwrap();
        let t = chrono::Utc::now().timestamp();
        let r = self
            .http
            .post(format!("{}/api/ingest", self.url))
            .header("Callwatch-Integration", "acme-voice")
            .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(status, 200, "ingest refused: {}", r.text().await.unwrap());
    }

    async fn start_call(&self, c: usize) {
        self.ingest(json!({
            "id": format!("s{c}"), "type": "call.started", "provider_call_id": format!("p{c}"),
            "direction": "inbound", "from": "+15550001111", "to": "+15559990000",
            "state": "in_progress"
        }))
        .await;
    }

    /// A line as a partial, then its final (a revision of the same entry).
    async fn say(&self, c: usize, n: usize) {
        for kind in ["partial", "final"] {
            self.ingest(json!({
                "id": format!("t{c}-{n}-{kind}"), "type": format!("transcript.{kind}"),
                "provider_call_id": format!("p{c}"), "utterance_id": format!("u{n}"),
                "speaker": "caller", "text": format!("line {n} of call {c}, {kind}")
            }))
            .await;
        }
    }

    async fn end_call(&self, c: usize) {
        self.ingest(json!({
            "id": format!("e{c}"), "type": "call.ended", "provider_call_id": format!("p{c}"),
            "outcome": "completed"
        }))
        .await;
    }

    /// Takes a call over with an idempotency key: a claim and a key in flight meanwhile.
    async fn take_over(&self, call_id: &str) {
        let r = self
            .http
            .post(format!("{}/api/calls/{call_id}/takeover", self.url))
            .bearer_auth(SUP)
            .header("Idempotency-Key", format!("take-{call_id}"))
            .json(&json!({"reason": "the caller asked for a human"}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(status, 200, "takeover refused: {}", r.text().await.unwrap());
    }

    /// Live call ids by provider call id.
    async fn live_ids(&self) -> std::collections::HashMap<String, String> {
        let (status, active) = self.get(SUP, "/api/calls/active").await;
        assert_eq!(status, 200, "{active}");
        active["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["provider_call_id"].as_str().unwrap().to_string(),
                    c["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Runs `step` for every call, `WORKERS` requests at a time.
    async fn each<F, Fut>(&self, step: F)
    where
        F: Fn(Floor, usize) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let floor = self.clone();
                let step = step.clone();
                tokio::spawn(async move {
                    for c in (0..CALLS).filter(|c| c % WORKERS == w) {
                        step(floor.clone(), c).await;
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    }
}

/// A stand-in for the integration's control URL at 127.0.0.1:0: accepts every action.
async fn control_url() -> String {
    let app = axum::Router::new().route("/actions", axum::routing::post(|| async { "{}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/actions")
}

fn config(control_url: &str) -> GatewayConfig {
    let mut config = GatewayConfig::default()
        .with_token("ada", ADMIN, "acme", Role::Admin)
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_custom_integration("acme-voice", "acme", SECRET, Some(control_url));
    config.stream.history_bytes = HISTORY_BYTES;
    config
}

/// The counts a finished floor must give back (the history is bounded, not emptied).
fn without_history(s: &LiveStats) -> LiveStats {
    LiveStats {
        stream_history: 0,
        stream_history_bytes: 0,
        ..s.clone()
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn console(running: &RunningGateway, watching: &str) -> Ws {
    let url = format!("{}/api/stream", running.url().replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {SUP}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let frame = ClientFrame::Watching {
        call_id: Some(watching.to_string()),
    };
    ws.send(Message::text(serde_json::to_string(&frame).unwrap()))
        .await
        .unwrap();
    ws
}

/// Waits (up to 20 s) until `done` holds for the gateway's counts: closing a connection
/// reaches the server a moment after the client side returns.
async fn settle(running: &RunningGateway, what: &str, done: impl Fn(&LiveStats) -> bool) {
    for _ in 0..400 {
        if done(&running.gateway.live_stats()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:?}", running.gateway.live_stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_state_returns_to_its_baseline_after_a_1000_call_floor() {
    let dir = tempfile::tempdir().unwrap();
    let control = control_url().await;
    let running = start(GatewayOptions::new(
        config(&control),
        dir.path().join("cw.db"),
    ))
    .await
    .unwrap();
    let floor = Floor {
        url: running.url(),
        http: reqwest::Client::new(),
    };

    // A first call from this source sets up what any traffic does once (the rate-limit
    // buckets of the integration, of 127.0.0.1 and of the supervisor's actions); the
    // baseline is taken after it.
    floor.start_call(CALLS).await;
    floor.say(CALLS, 0).await;
    let first = floor.live_ids().await[&format!("p{CALLS}")].clone();
    floor.take_over(&first).await;
    floor.end_call(CALLS).await;
    let baseline = running.gateway.live_stats();
    assert_eq!(
        (
            baseline.live_calls,
            baseline.transcript_entries,
            baseline.utterances
        ),
        (0, 0, 0)
    );
    assert_eq!((baseline.stream_subscribers, baseline.presence), (0, 0));

    // Only an admin reads the counts.
    let (status, body) = floor.get(SUP, "/api/debug/live").await;
    assert_eq!(status, 403, "{body}");

    floor
        .each(|f, c| async move { f.start_call(c).await })
        .await;
    let ids = floor.live_ids().await;
    assert_eq!(ids.len(), CALLS);
    let watched = ids["p0"].clone();
    let mut ws = console(&running, &watched).await;
    settle(&running, "the console's presence", |s| {
        s.presence == 1 && s.stream_subscribers == 1
    })
    .await;
    for n in 0..LINES {
        floor
            .each(move |f, c| async move { f.say(c, n).await })
            .await;
    }
    // Supervisors step in on some calls while the floor runs.
    let taken: Vec<_> = (0..TAKEOVERS)
        .map(|c| {
            let (floor, id) = (floor.clone(), ids[&format!("p{c}")].clone());
            tokio::spawn(async move { floor.take_over(&id).await })
        })
        .collect();
    floor
        .each(|f, c| async move { f.say(c, LINES).await })
        .await;
    for t in taken {
        t.await.unwrap();
    }

    // At its peak the floor is in memory, and the admin endpoint says so.
    let (status, peak) = floor.get(ADMIN, "/api/debug/live").await;
    assert_eq!(status, 200, "{peak}");
    assert_eq!(peak["live_calls"], CALLS);
    // Each line, plus the takeover's note on the calls taken over.
    assert_eq!(peak["transcript_entries"], CALLS * (LINES + 1) + TAKEOVERS);
    assert_eq!(peak["utterances"], CALLS * (LINES + 1));
    assert_eq!(peak["provider_ids"], CALLS);
    assert_eq!(peak["stream_subscribers"], 1);
    assert_eq!(peak["presence"], 1);
    let peak_history_bytes = peak["stream_history_bytes"].as_u64().unwrap() as usize;
    assert!(
        peak_history_bytes <= HISTORY_BYTES,
        "history holds {peak_history_bytes} bytes at the peak, configured {HISTORY_BYTES}"
    );

    floor.each(|f, c| async move { f.end_call(c).await }).await;
    // The console leaves too; a frame or two may still be in flight to it.
    ws.close(None).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {}
    drop(ws);
    settle(&running, "the console's connection state", |s| {
        s.presence == 0 && s.stream_subscribers == 0
    })
    .await;

    let after = running.gateway.live_stats();
    eprintln!("baseline {baseline:?}\npeak {peak}\nafter {after:?}");
    assert!(
        after.stream_history_bytes <= HISTORY_BYTES,
        "history holds {} bytes, configured {HISTORY_BYTES}",
        after.stream_history_bytes
    );
    // The byte bound, not the event bound (10,000), is what limited it.
    assert!(after.stream_history > 0 && after.stream_history < 10_000);
    assert_eq!(without_history(&after), without_history(&baseline));

    // Nothing was lost on the way out of memory: every call is stored, ended.
    let (status, active) = floor.get(SUP, "/api/calls/active").await;
    assert_eq!(status, 200);
    assert_eq!(active["calls"].as_array().unwrap().len(), 0);
    let (status, t) = floor
        .get(SUP, &format!("/api/calls/{watched}/transcript"))
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["entries"].as_array().unwrap().len(), LINES + 2);
    running.shutdown().await;
}
