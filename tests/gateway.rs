//! Gateway integration tests: the real server on 127.0.0.1:0 with a temporary SQLite file,
//! driven by real HTTP, websocket and SSE clients; a local axum server stands in for a voice
//! stack's control URL; two tests run the real binary as a child process.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use callwatch::core::model::{CallState, QueueState, Role};
use callwatch::core::protocol::{ResyncReason, ServerFrame, StreamEvent};
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::ingest::{signature_header, verify};
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "whsec_test_acme";
const SUP: &str = "tok_acme_supervisor";
const VIEWER: &str = "tok_acme_viewer";
const AGENT: &str = "tok_acme_agent";
const ADMIN: &str = "tok_acme_admin";
const GLOBEX: &str = "tok_globex_supervisor";

// ------------------------------------------------------------------ helpers ----

fn base_config(control_url: Option<&str>) -> GatewayConfig {
    let mut c = GatewayConfig::default()
        .with_token("vera", VIEWER, "acme", Role::Viewer)
        .with_token("adam", AGENT, "acme", Role::Agent)
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_token("ada", ADMIN, "acme", Role::Admin)
        .with_token("gus", GLOBEX, "globex", Role::Supervisor)
        .with_custom_integration("acme-voice", "acme", SECRET, control_url)
        .with_custom_integration("globex-voice", "globex", "whsec_test_globex", control_url);
    c.queue.retry_backoff_secs = 1;
    c.queue.max_backoff_secs = 1;
    c
}

struct Gw {
    running: Option<RunningGateway>,
    url: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Gw {
    async fn start(config: GatewayConfig) -> Gw {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(config, dir).await
    }

    async fn start_in(config: GatewayConfig, dir: tempfile::TempDir) -> Gw {
        let running = start(GatewayOptions::new(config, dir.path().join("cw.db")))
            .await
            .unwrap();
        Gw {
            url: running.url(),
            running: Some(running),
            http: reqwest::Client::new(),
            dir,
        }
    }

    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.dir
    }

    fn epoch(&self) -> String {
        self.running.as_ref().unwrap().gateway.epoch.to_string()
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, token, path, body).await
    }

    async fn ingest_as(
        &self,
        integration: &str,
        secret: &str,
        body: &Value,
        t_offset: i64,
    ) -> (StatusCode, Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let t = chrono::Utc::now().timestamp() + t_offset;
        let r = self
            .http
            .post(format!("{}/api/ingest", self.url))
            .header("Callwatch-Integration", integration)
            .header("Callwatch-Signature", signature_header(secret, t, &raw))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn ingest(&self, body: Value) -> Value {
        let (s, v) = self.ingest_as("acme-voice", SECRET, &body, 0).await;
        assert_eq!(s, StatusCode::OK, "ingest failed: {v}");
        v
    }

    /// Starts a call in progress through signed ingest; returns callwatch's call id.
    async fn start_call(&self, pcid: &str) -> String {
        self.ingest(json!({
            "id": format!("start-{pcid}"),
            "type": "call.started",
            "provider_call_id": pcid,
            "direction": "inbound",
            "from": "+15550001111",
            "to": "+15559990000",
            "lead": {"id": "lead-7", "name": "Dana Whitfield"},
            "campaign": "spring-open-house",
            "assistant": "Ava",
            "state": "in_progress"
        }))
        .await;
        let (_, v) = self.get(SUP, "/api/calls/active").await;
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider_call_id"] == pcid)
            .expect("call is active")["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn say_line(&self, pcid: &str, n: usize, text: &str) {
        self.ingest(json!({
            "id": format!("line-{pcid}-{n}"),
            "type": "transcript.final",
            "provider_call_id": pcid,
            "utterance_id": format!("u{n}"),
            "speaker": "caller",
            "text": text
        }))
        .await;
    }
}

/// Requests a control server received: headers and raw body.
type Recorded = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A stand-in for a voice stack's control URL: records every POST, answers `status`.
#[derive(Clone)]
struct Control {
    url: String,
    seen: Recorded,
}

async fn control_server(status: StatusCode) -> Control {
    let seen: Recorded = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/actions",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let s2 = s2.clone();
            async move {
                s2.lock().unwrap().push((headers, body.to_vec()));
                (status, "{\"provider_call_id\":\"dialed-1\"}")
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

impl Control {
    fn bodies(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(h, b)| {
                // Every action POST is signed with the integration's secret.
                verify(SECRET, h, b, chrono::Utc::now().timestamp()).expect("signed action");
                serde_json::from_slice(b).unwrap()
            })
            .collect()
    }
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(url: &str, token: &str, position: Option<(&str, u64)>) -> Ws {
    let mut u = format!("{}/api/stream", url.replacen("http", "ws", 1));
    if let Some((e, s)) = position {
        u.push_str(&format!("?epoch={e}&since={s}"));
    }
    let mut req = u.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    // Big snapshots are legitimate (the lag test builds a 20 MB one).
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(256 << 20))
        .max_frame_size(Some(256 << 20));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false)
        .await
        .unwrap();
    ws
}

async fn next_frame(ws: &mut Ws) -> ServerFrame {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")
            .expect("stream open")
            .expect("no ws error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Next non-heartbeat frame.
async fn next_real(ws: &mut Ws) -> ServerFrame {
    loop {
        match next_frame(ws).await {
            ServerFrame::Heartbeat { .. } => continue,
            f => return f,
        }
    }
}

// -------------------------------------------------------------------- tests ----

#[tokio::test]
async fn rest_endpoints_and_actions_reach_the_control_url() {
    let control = control_server(StatusCode::OK).await;
    let gw = Gw::start(base_config(Some(&control.url))).await;

    let (s, v) = gw.get(VIEWER, "/healthz").await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "ok");

    let id = gw.start_call("pc-1").await;
    gw.ingest(
        json!({"id": "p1", "type": "transcript.partial", "provider_call_id": "pc-1",
        "utterance_id": "u1", "speaker": "caller", "text": "Hi, I saw the list"}),
    )
    .await;
    gw.ingest(json!({"id": "f1", "type": "transcript.final", "provider_call_id": "pc-1",
        "utterance_id": "u1", "speaker": "caller", "text": "Hi, I saw the listing on Maple Street and want a viewing"}))
        .await;
    gw.ingest(
        json!({"id": "a1", "type": "call.analysis", "provider_call_id": "pc-1",
        "intent": "book_viewing", "sentiment": "positive"}),
    )
    .await;

    let (s, call) = gw.get(VIEWER, &format!("/api/calls/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(call["state"], "in_progress");
    assert_eq!(call["intent"], "book_viewing");
    assert_eq!(call["provider"], "acme-voice");

    let (_, t) = gw.get(VIEWER, &format!("/api/calls/{id}/transcript")).await;
    let entries = t["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "the partial was revised into its final, not appended"
    );
    assert_eq!(entries[0]["final"], true);
    assert!(entries[0]["text"]
        .as_str()
        .unwrap()
        .contains("Maple Street"));

    // History search over names, numbers and transcript text.
    for q in ["Whitfield", "5550001111", "maple"] {
        let (s, v) = gw.get(VIEWER, &format!("/api/calls?q={q}")).await;
        assert_eq!(s, 200);
        assert_eq!(v["calls"].as_array().unwrap().len(), 1, "q={q}");
    }
    let (_, v) = gw.get(VIEWER, "/api/calls?q=nothing-like-this").await;
    assert!(v["calls"].as_array().unwrap().is_empty());

    // Actions.
    let (s, v) = gw
        .post(
            AGENT,
            &format!("/api/calls/{id}/say"),
            Some(json!({"text": "One moment please"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw
        .post(SUP, &format!("/api/calls/{id}/pause-ai"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["call"]["state"], "ai_paused");
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id}/instruct"),
            Some(json!({"text": "Offer Saturday 10am"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw
        .send(
            reqwest::Method::DELETE,
            SUP,
            &format!("/api/calls/{id}/pause-ai"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["call"]["state"], "in_progress");
    let (s, v) = gw
        .post(
            AGENT,
            &format!("/api/calls/{id}/takeover"),
            Some(json!({"reason": "caller asked for a human", "notes": "VIP"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["call"]["state"], "taken_over");
    assert_eq!(v["call"]["takeover"]["by"], "adam");
    assert!(v["audit_id"].as_i64().unwrap() > 0);
    let (s, v) = gw.post(SUP, &format!("/api/calls/{id}/end"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["call"]["state"], "ended");
    assert_eq!(v["call"]["outcome"], "ended_by_supervisor");

    let actions: Vec<String> = control
        .bodies()
        .iter()
        .map(|b| b["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "say",
            "pause_ai",
            "instruct",
            "resume_ai",
            "takeover",
            "end"
        ]
    );
    let bodies = control.bodies();
    assert_eq!(bodies[0]["provider_call_id"], "pc-1");
    assert_eq!(bodies[0]["params"]["text"], "One moment please");
    assert_eq!(bodies[4]["params"]["reason"], "caller asked for a human");

    // The provider's own call.ended fills in cost but keeps the supervisor's outcome.
    gw.ingest(
        json!({"id": "e1", "type": "call.ended", "provider_call_id": "pc-1",
        "outcome": "completed", "cost": 0.42, "duration_secs": 95.0}),
    )
    .await;
    let (_, call) = gw.get(VIEWER, &format!("/api/calls/{id}")).await;
    assert_eq!(call["outcome"], "ended_by_supervisor");
    assert_eq!(call["cost"], 0.42);
    let (_, v) = gw.get(VIEWER, "/api/calls/active").await;
    assert!(v["calls"].as_array().unwrap().is_empty());
    let (_, v) = gw.get(VIEWER, "/api/calls?status=ended").await;
    assert_eq!(v["calls"].as_array().unwrap().len(), 1);

    // Summary: generated from the transcript, then set by hand.
    let (s, v) = gw
        .post(SUP, &format!("/api/calls/{id}/summary"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let summary = v["call"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("Dana Whitfield") && summary.contains("Maple Street"),
        "{summary}"
    );
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id}/summary"),
            Some(json!({"text": "Booked Saturday."})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["call"]["summary"], "Booked Saturday.");

    // Audit log has every action, with who did it.
    let (_, v) = gw.get(ADMIN, &format!("/api/audit?call_id={id}")).await;
    let audit: Vec<(String, String)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(audit[4], ("takeover".to_string(), "adam".to_string()));
    assert_eq!(audit.len(), 8);

    // Analytics.
    let (s, a) = gw
        .get(VIEWER, "/api/calls/analytics?group_by=campaign")
        .await;
    assert_eq!(s, 200);
    assert_eq!(a["total_calls"], 1);
    assert_eq!(a["takeovers"], 1);
    assert_eq!(a["intents"]["book_viewing"], 1);
    assert_eq!(a["outcomes"]["ended_by_supervisor"], 1);
    assert_eq!(a["groups"]["spring-open-house"]["total_calls"], 1);
    assert!(!a["calls_per_minute"].as_array().unwrap().is_empty());

    // Unknown routes and methods answer JSON too.
    let (s, v) = gw.get(VIEWER, "/api/nope").await;
    assert_eq!(s, 404);
    assert_eq!(v["error"], "not_found");
    let (s, v) = gw
        .send(reqwest::Method::PUT, SUP, "/api/calls/active", None)
        .await;
    assert_eq!(s, 405);
    assert_eq!(v["error"], "method_not_allowed");
    gw.stop().await;
}

#[tokio::test]
async fn errors_roles_conflicts_and_limits() {
    let control = control_server(StatusCode::OK).await;
    let failing = control_server(StatusCode::INTERNAL_SERVER_ERROR).await;
    let mut config = base_config(Some(&control.url));
    // A stack that can only take over and end; and one whose control URL fails.
    config.integrations[1].capabilities = Some([callwatch::core::action::Capability::End].into());
    config.integrations[1].display_name = Some("Globex Voice".into());
    config =
        config.with_custom_integration("acme-broken", "acme", "whsec_broken", Some(&failing.url));
    config.limits.max_body_bytes = 4096;
    let gw = Gw::start(config).await;
    let id = gw.start_call("pc-e").await;

    // 401
    let r = gw
        .http
        .get(format!("{}/api/calls/active", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "unauthorized");
    let (s, _) = gw.get("not-a-token", "/api/calls/active").await;
    assert_eq!(s, 401);
    // 403
    let (s, v) = gw
        .post(
            VIEWER,
            &format!("/api/calls/{id}/takeover"),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(v["error"], "forbidden");
    let (s, _) = gw
        .post(AGENT, &format!("/api/calls/{id}/pause-ai"), None)
        .await;
    assert_eq!(s, 403);
    let (s, _) = gw
        .post(
            AGENT,
            "/api/calls/initiate",
            Some(json!({"phoneNumber": "+15551234567"})),
        )
        .await;
    assert_eq!(s, 403);
    // 404
    let (s, _) = gw.get(SUP, "/api/calls/no-such-call").await;
    assert_eq!(s, 404);
    let (s, _) = gw.post(SUP, "/api/calls/no-such-call/end", None).await;
    assert_eq!(s, 404);
    // 409
    let (s, v) = gw
        .send(
            reqwest::Method::DELETE,
            SUP,
            &format!("/api/calls/{id}/pause-ai"),
            None,
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        v["message"],
        "the AI is not paused, so it cannot be resumed"
    );
    // A refused action is audited too: who tried what, and why it was refused.
    let (_, v) = gw.get(SUP, &format!("/api/audit?call_id={id}")).await;
    let refusal = &v["entries"][0];
    assert_eq!(refusal["action"], "resume_ai", "{v}");
    assert_eq!(refusal["actor"], "sam");
    assert_eq!(refusal["ok"], false);
    assert_eq!(
        refusal["error"],
        "the AI is not paused, so it cannot be resumed"
    );
    let (s, _) = gw
        .post(
            SUP,
            &format!("/api/calls/{id}/takeover"),
            Some(json!({"reason": "help"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id}/instruct"),
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        v["message"],
        "a human has taken over; the AI is not on the call"
    );
    let (s, _) = gw.post(SUP, &format!("/api/calls/{id}/end"), None).await;
    assert_eq!(s, 200);
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id}/takeover"),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        v["message"],
        "the call has ended, so it cannot be taken over"
    );
    // 400 / 422 naming the field
    let id2 = gw.start_call("pc-e2").await;
    let r = gw
        .http
        .post(format!("{}/api/calls/{id2}/takeover", gw.url))
        .bearer_auth(SUP)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id2}/takeover"),
            Some(json!({"reason": "  "})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["field"], "reason");
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id2}/takeover"),
            Some(json!({"notes": "x"})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["field"], "reason");
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id2}/say"),
            Some(json!({"text": 5})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["field"], "text");
    let (s, v) = gw
        .post(
            SUP,
            "/api/calls/initiate",
            Some(json!({"phoneNumber": "call me maybe"})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["field"], "phoneNumber");
    // 413 with a JSON body
    let big = "x".repeat(10_000);
    let (s, v) = gw
        .post(
            SUP,
            &format!("/api/calls/{id2}/say"),
            Some(json!({"text": big})),
        )
        .await;
    assert_eq!(s, 413);
    assert_eq!(v["error"], "too_large");
    // 422: the provider cannot do it
    gw.ingest_as("globex-voice", "whsec_test_globex", &json!({"id": "g1", "type": "call.started",
        "provider_call_id": "g-1", "direction": "inbound", "from": "+15550002222", "to": "+15550003333",
        "state": "in_progress"}), 0).await;
    let (_, v) = gw.get(GLOBEX, "/api/calls/active").await;
    let gid = v["calls"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = gw
        .post(GLOBEX, &format!("/api/calls/{gid}/pause-ai"), None)
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["message"], "Globex Voice cannot pause the AI");
    let (_, v) = gw.get(GLOBEX, &format!("/api/audit?call_id={gid}")).await;
    assert_eq!(v["entries"][0]["action"], "pause_ai", "{v}");
    assert_eq!(v["entries"][0]["ok"], false);
    // 502: the control URL failed; the call is unchanged and the failure is audited.
    gw.ingest_as("acme-broken", "whsec_broken", &json!({"id": "b1", "type": "call.started",
        "provider_call_id": "b-1", "direction": "inbound", "from": "+15550004444", "to": "+15550005555",
        "state": "in_progress"}), 0).await;
    let (_, v) = gw.get(SUP, "/api/calls?q=5550004444").await;
    let bid = v["calls"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = gw
        .post(SUP, &format!("/api/calls/{bid}/pause-ai"), None)
        .await;
    assert_eq!(s, 502, "{v}");
    assert_eq!(v["error"], "upstream_failed");
    assert!(v["message"].as_str().unwrap().contains("500"), "{v}");
    assert_eq!(failing.seen.lock().unwrap().len(), 1);
    let (_, call) = gw.get(SUP, &format!("/api/calls/{bid}")).await;
    assert_eq!(call["state"], "in_progress");
    let (_, v) = gw.get(SUP, &format!("/api/audit?call_id={bid}")).await;
    assert_eq!(v["entries"][0]["ok"], false);
    // An unreachable control URL is a 502 too.
    drop(gw.stop().await);

    let mut config = base_config(Some("http://127.0.0.1:9/unreachable"));
    config.limits.actions_per_minute = 3;
    let gw = Gw::start(config).await;
    let id = gw.start_call("pc-r").await;
    let (s, v) = gw
        .post(SUP, &format!("/api/calls/{id}/pause-ai"), None)
        .await;
    assert_eq!(s, 502);
    assert!(
        v["message"].as_str().unwrap().contains("could not reach"),
        "{v}"
    );
    // 429 after the token's bucket is empty; other tokens still work.
    gw.post(SUP, &format!("/api/calls/{id}/pause-ai"), None)
        .await;
    gw.post(SUP, &format!("/api/calls/{id}/pause-ai"), None)
        .await;
    let r = gw
        .http
        .post(format!("{}/api/calls/{id}/pause-ai", gw.url))
        .bearer_auth(SUP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let (s, _) = gw
        .post(ADMIN, &format!("/api/calls/{id}/summary"), None)
        .await;
    assert_eq!(s, 200);
    gw.stop().await;
}

#[tokio::test]
async fn ingest_signatures_replays_and_org_isolation() {
    let gw = Gw::start(base_config(None)).await;
    let mut globex_ws = ws_connect(&gw.url, GLOBEX, None).await;
    assert!(matches!(
        next_real(&mut globex_ws).await,
        ServerFrame::Welcome { .. }
    ));
    assert!(matches!(
        next_real(&mut globex_ws).await,
        ServerFrame::Snapshot { .. }
    ));

    let ev = json!({"id": "evt-1", "type": "call.started", "provider_call_id": "iso-1",
        "direction": "inbound", "from": "+15550006666", "to": "+15550007777", "state": "in_progress"});
    // Bad signature, wrong secret, stale timestamp, unknown integration, no header.
    let (s, v) = gw.ingest_as("acme-voice", "wrong-secret", &ev, 0).await;
    assert_eq!(s, 401);
    assert_eq!(v["message"], "signature does not match");
    let (s, v) = gw.ingest_as("acme-voice", SECRET, &ev, -301).await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("window"), "{v}");
    let (s, v) = gw.ingest_as("nobody", SECRET, &ev, 0).await;
    assert_eq!(s, 401);
    // The same words as a wrong secret: the answer does not tell which names exist.
    assert_eq!(v["message"], "signature does not match");
    let (_, v) = gw.ingest_as("nobody", SECRET, &ev, -301).await;
    assert!(v["message"].as_str().unwrap().contains("window"), "{v}");
    let r = gw
        .http
        .post(format!("{}/api/ingest", gw.url))
        .header("Callwatch-Integration", "acme-voice")
        .body(ev.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Tampered body with a valid signature of another body.
    let t = chrono::Utc::now().timestamp();
    let r = gw
        .http
        .post(format!("{}/api/ingest", gw.url))
        .header("Callwatch-Integration", "acme-voice")
        .header("Callwatch-Signature", signature_header(SECRET, t, b"{}"))
        .body(ev.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, v) = gw.get(SUP, "/api/calls/active").await;
    assert!(
        v["calls"].as_array().unwrap().is_empty(),
        "nothing was applied"
    );

    // Valid, then replayed: 200 duplicate and nothing changes.
    let (s, v) = gw.ingest_as("acme-voice", SECRET, &ev, 0).await;
    assert_eq!(s, 200);
    assert_eq!(v["duplicate"], false);
    let (_, before) = gw.get(SUP, "/api/calls/active").await;
    let (s, v) = gw.ingest_as("acme-voice", SECRET, &ev, 0).await;
    assert_eq!(s, 200);
    assert_eq!(v["duplicate"], true);
    let (_, after) = gw.get(SUP, "/api/calls/active").await;
    assert_eq!(before, after);
    // Also through the generic webhook route.
    let raw = ev.to_string();
    let r = gw
        .http
        .post(format!("{}/webhooks/acme-voice", gw.url))
        .header(
            "Callwatch-Signature",
            signature_header(SECRET, t, raw.as_bytes()),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["duplicate"], true);
    // An event for a call nobody started: 422, and it can be retried later.
    let (s, v) = gw
        .ingest_as(
            "acme-voice",
            SECRET,
            &json!({"id": "evt-x", "type": "call.status",
        "provider_call_id": "nope", "status": "ai_paused"}),
            0,
        )
        .await;
    assert_eq!(s, 422, "{v}");
    // Malformed JSON with a valid signature: 400.
    let r = gw
        .http
        .post(format!("{}/api/ingest", gw.url))
        .header("Callwatch-Integration", "acme-voice")
        .header("Callwatch-Signature", signature_header(SECRET, t, b"{oops"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (ok, err) = gw
        .running
        .as_ref()
        .unwrap()
        .gateway
        .store
        .webhook_counts()
        .unwrap();
    // Only verified deliveries are logged (the 422 and the 400); the six refused before
    // verification are counters, readable by an admin.
    assert_eq!((ok, err), (3, 2));
    let (s, v) = gw.get(ADMIN, "/api/webhook-log/rejected").await;
    assert_eq!(s, 200, "{v}");
    let count = |integration: &str, reason: &str| {
        v["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["integration"] == integration && r["reason"] == reason)
            .map(|r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count("acme-voice", "bad_signature"), Some(2), "{v}");
    assert_eq!(count("acme-voice", "stale"), Some(1), "{v}");
    assert_eq!(count("acme-voice", "missing_signature"), Some(1), "{v}");
    assert_eq!(count("unknown", "unknown_integration"), Some(2), "{v}");
    assert_eq!(gw.get(SUP, "/api/webhook-log/rejected").await.0, 403);

    // Org isolation: globex cannot see or touch acme's call, nor hear of it.
    let id = after["calls"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(gw.get(GLOBEX, &format!("/api/calls/{id}")).await.0, 404);
    assert_eq!(
        gw.get(GLOBEX, &format!("/api/calls/{id}/transcript"))
            .await
            .0,
        404
    );
    assert_eq!(
        gw.post(GLOBEX, &format!("/api/calls/{id}/end"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        gw.post(GLOBEX, &format!("/api/calls/{id}/summary"), None)
            .await
            .0,
        404
    );
    let (_, v) = gw.get(GLOBEX, "/api/calls?q=5550006666").await;
    assert!(v["calls"].as_array().unwrap().is_empty());
    let (_, v) = gw.get(GLOBEX, "/api/calls/active").await;
    assert!(v["calls"].as_array().unwrap().is_empty());
    let (s, _) = gw
        .post(SUP, &format!("/api/calls/{id}/summary"), None)
        .await;
    assert_eq!(s, 200);
    // A globex event after all of acme's: the first thing globex's stream carries.
    gw.ingest_as("globex-voice", "whsec_test_globex", &json!({"id": "g-1", "type": "call.started",
        "provider_call_id": "g-1", "direction": "outbound", "from": "+15550008888", "to": "+15550009999"}), 0).await;
    match next_real(&mut globex_ws).await {
        ServerFrame::Event {
            seq,
            event: StreamEvent::CallUpdated { call },
            ..
        } => {
            assert_eq!(call.org, "globex");
            assert_eq!(seq, 1);
        }
        other => panic!("globex saw {other:?}"),
    }
    gw.stop().await;
}

#[tokio::test]
async fn stream_resume_delivers_exactly_the_missed_events() {
    let control = control_server(StatusCode::OK).await;
    let gw = Gw::start(base_config(Some(&control.url))).await;
    let mut ws = ws_connect(&gw.url, VIEWER, None).await;
    let epoch = match next_real(&mut ws).await {
        ServerFrame::Welcome {
            epoch,
            resumed,
            reason,
            seq,
            ..
        } => {
            assert!(!resumed);
            assert_eq!(reason, Some(ResyncReason::NewClient));
            assert_eq!(seq, 0);
            epoch
        }
        f => panic!("{f:?}"),
    };
    assert!(matches!(
        next_real(&mut ws).await,
        ServerFrame::Snapshot { .. }
    ));
    gw.start_call("s-1").await;
    for n in 0..5 {
        gw.say_line("s-1", n, &format!("line {n}")).await;
    }
    let mut seqs = Vec::new();
    let mut seen_positions: Vec<u32> = Vec::new();
    // Read a few, then drop the connection hard.
    while seqs.len() < 4 {
        if let ServerFrame::Event { seq, event, .. } = next_real(&mut ws).await {
            seqs.push(seq);
            if let StreamEvent::TranscriptAppended { entry } = event {
                seen_positions.push(entry.position);
            }
        }
    }
    drop(ws);
    let last = *seqs.last().unwrap();
    for n in 5..10 {
        gw.say_line("s-1", n, &format!("line {n}")).await;
    }
    let id = gw.start_call("s-2").await;
    assert_eq!(
        gw.post(SUP, &format!("/api/calls/{id}/end"), None).await.0,
        200
    );

    let mut ws = ws_connect(&gw.url, VIEWER, Some((&epoch, last))).await;
    let target = match next_real(&mut ws).await {
        ServerFrame::Welcome {
            resumed,
            seq,
            reason,
            ..
        } => {
            assert!(resumed);
            assert_eq!(reason, None);
            seq
        }
        f => panic!("{f:?}"),
    };
    let mut resumed = Vec::new();
    let mut positions = Vec::new();
    while resumed.last().copied().unwrap_or(last) < target {
        match next_real(&mut ws).await {
            ServerFrame::Event {
                seq,
                event,
                epoch: e,
            } => {
                assert_eq!(e, epoch);
                resumed.push(seq);
                if let StreamEvent::TranscriptAppended { entry } = event {
                    positions.push(entry.position);
                }
            }
            f => panic!("unexpected {f:?}"),
        }
    }
    let expected: Vec<u64> = (last + 1..=target).collect();
    assert_eq!(resumed, expected, "contiguous, none lost, none twice");
    // Every transcript line the client had not seen arrives exactly once.
    let mut all = seen_positions.clone();
    all.extend(&positions);
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<u32>>());
    // Live events follow.
    gw.say_line("s-1", 10, "live").await;
    match next_real(&mut ws).await {
        ServerFrame::Event { seq, .. } => assert_eq!(seq, target + 1),
        f => panic!("{f:?}"),
    }
    // An unknown epoch gets a snapshot with the reason.
    let mut ws2 = ws_connect(&gw.url, VIEWER, Some(("old-epoch", 3))).await;
    match next_real(&mut ws2).await {
        ServerFrame::Welcome {
            resumed, reason, ..
        } => {
            assert!(!resumed);
            assert_eq!(reason, Some(ResyncReason::EpochChanged));
        }
        f => panic!("{f:?}"),
    }
    match next_real(&mut ws2).await {
        ServerFrame::Snapshot { snapshot } => {
            assert_eq!(snapshot.seq, target + 1);
            assert_eq!(snapshot.calls.len(), 1);
            assert_eq!(snapshot.calls[0].transcript.len(), 11);
        }
        f => panic!("{f:?}"),
    }
    // Unauthenticated stream: 401 before any upgrade.
    let r = gw
        .http
        .get(format!("{}/api/stream", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    gw.stop().await;
}

#[tokio::test]
async fn a_lagging_stream_client_is_told_to_resync() {
    let mut config = base_config(None);
    config.stream.client_buffer = 4;
    config.limits.max_body_bytes = 4 * 1024 * 1024;
    let gw = Gw::start(config).await;
    gw.start_call("lag-1").await;
    let mut ws = ws_connect(&gw.url, VIEWER, None).await;
    assert!(matches!(
        next_real(&mut ws).await,
        ServerFrame::Welcome { .. }
    ));
    let snapshot_seq = match next_real(&mut ws).await {
        ServerFrame::Snapshot { snapshot } => snapshot.seq,
        f => panic!("{f:?}"),
    };
    // Stop reading while ~20 MB of events are published: socket buffers and the client's
    // queue overflow.
    let text = "word ".repeat(20_000);
    let n = 200;
    let bodies: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("big-{i}"), "type": "transcript.final", "provider_call_id": "lag-1",
            "utterance_id": format!("b{i}"), "speaker": "ai", "text": text}))
        .collect();
    for chunk in bodies.chunks(20) {
        gw.ingest(Value::Array(chunk.to_vec())).await;
    }
    let last_seq = snapshot_seq + n;
    // Now read: contiguous events, then resync{lagged} + snapshot covering everything.
    let mut expect = snapshot_seq + 1;
    let mut resynced = false;
    loop {
        match next_real(&mut ws).await {
            ServerFrame::Event { seq, .. } => {
                assert!(
                    !resynced || seq > last_seq,
                    "no stale events after the snapshot"
                );
                assert_eq!(seq, expect, "never skipped silently");
                expect += 1;
            }
            ServerFrame::Resync { reason } => {
                assert_eq!(reason, ResyncReason::Lagged);
                match next_real(&mut ws).await {
                    ServerFrame::Snapshot { snapshot } => {
                        // Lag can be detected while the burst is still being published, so
                        // the snapshot may stop short of the last line; the events after it
                        // must then continue it without a gap until every line is there.
                        let mut seen = snapshot.seq;
                        let mut lines = snapshot.calls[0].transcript.len() as u64;
                        while lines < n {
                            match next_real(&mut ws).await {
                                ServerFrame::Event { seq, event, .. } => {
                                    assert_eq!(seq, seen + 1, "events continue the snapshot");
                                    seen = seq;
                                    if matches!(event, StreamEvent::TranscriptAppended { .. }) {
                                        lines += 1;
                                    }
                                }
                                // Still lagging while the burst goes on: told again, with a
                                // newer snapshot to continue from.
                                ServerFrame::Resync { reason } => {
                                    assert_eq!(reason, ResyncReason::Lagged);
                                    match next_real(&mut ws).await {
                                        ServerFrame::Snapshot { snapshot } => {
                                            seen = snapshot.seq;
                                            lines = snapshot.calls[0].transcript.len() as u64;
                                        }
                                        f => panic!(
                                            "resync must be followed by a snapshot, got {f:?}"
                                        ),
                                    }
                                }
                                f => panic!("after the snapshot: {f:?}"),
                            }
                        }
                        // (plus an analytics update that may land meanwhile)
                        assert!(
                            seen >= last_seq,
                            "the snapshot and what follows cover every event"
                        );
                        assert_eq!(lines, n);
                    }
                    f => panic!("resync must be followed by a snapshot, got {f:?}"),
                }
                resynced = true;
                break;
            }
            f => panic!("{f:?}"),
        }
    }
    assert!(resynced);
    assert!(expect <= last_seq, "the client really fell behind");
    gw.stop().await;
}

#[tokio::test]
async fn restart_keeps_data_queue_and_sse() {
    let control = control_server(StatusCode::OK).await;
    let gw = Gw::start(base_config(Some(&control.url))).await;
    let id = gw.start_call("r-1").await;
    gw.say_line("r-1", 0, "Do you have anything on Elm Road?")
        .await;

    // SSE: replay, then live, then resume with Last-Event-ID.
    let mut sse = gw
        .http
        .get(format!("{}/api/calls/{id}/transcript", gw.url))
        .bearer_auth(VIEWER)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let mut buf = String::new();
    let read_events = |buf: &mut String| -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            let mut id = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                    id = v.into();
                }
                if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                    data = v.into();
                }
            }
            if !data.is_empty() {
                out.push((id, serde_json::from_str(&data).unwrap()));
            }
        }
        out
    };
    let mut events = Vec::new();
    gw.say_line("r-1", 1, "With a garden").await;
    while events.len() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(20), sse.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        events.extend(read_events(&mut buf));
    }
    assert_eq!(events[0].1["position"], 0);
    assert_eq!(events[1].1["position"], 1);
    let last_id = events[1].0.clone();
    drop(sse);
    gw.say_line("r-1", 2, "Near the school").await;
    let mut sse = gw
        .http
        .get(format!("{}/api/calls/{id}/transcript", gw.url))
        .bearer_auth(VIEWER)
        .header("accept", "text/event-stream")
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.is_empty() {
        let chunk = tokio::time::timeout(Duration::from_secs(20), sse.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.clear();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        events.extend(read_events(&mut buf));
    }
    assert_eq!(events.len(), 1, "only the missed entry: {events:?}");
    assert_eq!(events[0].1["position"], 2);
    drop(sse);

    // Queue: initiate -> the scheduler dials through the control URL.
    let (s, item) = gw
        .post(
            SUP,
            "/api/calls/initiate",
            Some(json!({"leadId": "L-9", "leadName": "Kim",
        "phoneNumber": "+1 555 010 2030", "campaignId": "renewals", "script": "renewal",
        "agentSettings": {"voice": "warm"}})),
        )
        .await;
    assert_eq!(s, 201, "{item}");
    let qid = item["id"].as_str().unwrap().to_string();
    assert_eq!(item["phone_number"], "+15550102030");
    let c2 = control.clone();
    eventually("the dial POST", || {
        let c2 = c2.clone();
        async move { c2.bodies().iter().any(|b| b["action"] == "dial") }
    })
    .await;
    let dial = control
        .bodies()
        .into_iter()
        .find(|b| b["action"] == "dial")
        .unwrap();
    assert_eq!(dial["queue_item"]["id"], qid.as_str());
    // The stack reports the call; it ends with no answer -> retried later.
    gw.ingest(json!({"id": "q-start", "type": "call.started", "provider_call_id": "q-1", "direction": "outbound",
        "from": "+15559990000", "to": "+15550102030", "queue_item_id": qid})).await;
    gw.ingest(json!({"id": "q-end", "type": "call.ended", "provider_call_id": "q-1", "outcome": "no_answer"})).await;
    let (_, q) = gw.get(SUP, "/api/calls/queue").await;
    let it = &q["items"][0];
    assert_eq!(it["attempts"], 1);
    assert_eq!(it["last_result"], "no_answer");
    assert!(
        it["state"] == "scheduled" || it["state"] == "dialing",
        "{it}"
    );
    // After the backoff (1 s here) it is dialed again, as a new attempt.
    let c4 = control.clone();
    let q4 = qid.clone();
    eventually("the retry dial", || {
        let c4 = c4.clone();
        let q4 = q4.clone();
        async move {
            c4.bodies()
                .iter()
                .filter(|b| b["queue_item"]["id"] == q4.as_str())
                .count()
                == 2
        }
    })
    .await;
    let (_, q) = gw.get(SUP, "/api/calls/queue").await;
    assert_eq!(q["items"][0]["attempts"], 2);
    assert_eq!(q["items"][0]["call_id"], Value::Null);
    // A second item we cancel, a third scheduled far ahead we dial now.
    let (_, item2) = gw
        .post(
            SUP,
            "/api/calls/initiate",
            Some(json!({"phoneNumber": "+15550000002",
        "scheduledAt": "2099-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(item2["state"], "scheduled");
    let q2 = item2["id"].as_str().unwrap().to_string();
    let (s, v) = gw
        .send(
            reqwest::Method::DELETE,
            SUP,
            &format!("/api/calls/queue/{q2}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["state"], "cancelled");
    let (s, v) = gw
        .send(
            reqwest::Method::DELETE,
            SUP,
            &format!("/api/calls/queue/{q2}"),
            None,
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let (_, item3) = gw
        .post(
            SUP,
            "/api/calls/initiate",
            Some(json!({"phoneNumber": "+15550000003",
        "scheduledAt": "2099-01-01T00:00:00Z"})),
        )
        .await;
    let q3 = item3["id"].as_str().unwrap().to_string();
    let (s, v) = gw
        .post(SUP, &format!("/api/calls/queue/{q3}/dial-now"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let c3 = control.clone();
    let q3c = q3.clone();
    eventually("dial-now dials", || {
        let c3 = c3.clone();
        let q3c = q3c.clone();
        async move {
            c3.bodies()
                .iter()
                .any(|b| b["queue_item"]["id"] == q3c.as_str())
        }
    })
    .await;
    let (s, _) = gw.post(SUP, "/api/calls/queue/nope/dial-now", None).await;
    assert_eq!(s, 404);

    // Restart on the same database: everything is still there.
    let epoch = gw.epoch();
    let dir = gw.stop().await;
    let gw = Gw::start_in(base_config(Some(&control.url)), dir).await;
    assert_eq!(gw.epoch(), epoch, "the epoch survives a restart");
    let (_, v) = gw.get(SUP, "/api/calls/active").await;
    assert_eq!(v["calls"][0]["id"], id.as_str());
    let (_, t) = gw.get(SUP, &format!("/api/calls/{id}/transcript")).await;
    assert_eq!(t["entries"].as_array().unwrap().len(), 3);
    let (_, q) = gw.get(SUP, "/api/calls/queue?all=true").await;
    assert_eq!(q["items"].as_array().unwrap().len(), 3);
    let (_, a) = gw.get(ADMIN, "/api/audit").await;
    assert_eq!(a["entries"].as_array().unwrap().len(), 5);
    // Late revisions after a restart keep positions.
    gw.say_line("r-1", 3, "And parking").await;
    let (_, t) = gw.get(SUP, &format!("/api/calls/{id}/transcript")).await;
    assert_eq!(t["entries"][3]["position"], 3);
    // A client of another epoch is told so and gets a snapshot with the call.
    let mut ws = ws_connect(&gw.url, VIEWER, Some(("an-older-epoch", 12))).await;
    match next_real(&mut ws).await {
        ServerFrame::Welcome { reason, .. } => assert_eq!(reason, Some(ResyncReason::EpochChanged)),
        f => panic!("{f:?}"),
    }
    match next_real(&mut ws).await {
        ServerFrame::Snapshot { snapshot } => {
            assert_eq!(snapshot.calls[0].call.state, CallState::InProgress);
            assert!(snapshot
                .queue
                .iter()
                .all(|i| i.state != QueueState::Cancelled));
        }
        f => panic!("{f:?}"),
    }
    gw.stop().await;
}

// ------------------------------------------------------------ child process ----

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_serve(
    config: &std::path::Path,
    db: &std::path::Path,
    log: &std::path::Path,
) -> (Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .args(["serve", "--config"])
        .arg(config)
        .arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0", "--log-file"])
        .arg(log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let child = Child(child);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap().to_string();
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, url);
        }
    }
    panic!("the gateway did not say where it listens");
}

/// Group commit under load: many deliveries in flight at once (so they share
/// transactions), the process killed with SIGKILL in the middle of them; every delivery
/// that was answered 200 is in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_ingest_keeps_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let db = dir.path().join("cw.db");
    let log = dir.path().join("cw.log");
    let (child, url) = spawn_serve(&example, &db, &log);
    let http = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..32)
        .map(|k| {
            let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let pcid = format!("g-{k}-{i}");
                    let body = json!({"id": pcid, "type": "call.started", "provider_call_id": pcid,
                        "direction": "inbound", "from": "+15550001000", "to": "+15550002000"})
                    .to_string();
                    let t = chrono::Utc::now().timestamp();
                    let r = http
                        .post(format!("{url}/api/ingest"))
                        .header("Callwatch-Integration", "acme-voice")
                        .header(
                            "Callwatch-Signature",
                            signature_header("whsec_local_acme", t, body.as_bytes()),
                        )
                        .body(body)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => acked.lock().unwrap().push(pcid),
                        Ok(r) => panic!("ingest answered {}", r.status()),
                        // The process is gone: this one was never acknowledged.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill once a good number are acknowledged, with the senders still going.
    while acked.lock().unwrap().len() < 1_500 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(child); // SIGKILL in the middle of group commits
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1_500);

    let (_child, url) = spawn_serve(&example, &db, &log);
    let r: Value = http
        .get(format!("{url}/api/calls/active"))
        .bearer_auth("cw_local_viewer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::HashSet<&str> = r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["provider_call_id"].as_str())
        .collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|p| !stored.contains(p.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        missing.first()
    );
}

#[tokio::test]
async fn kill_9_keeps_every_acknowledged_write_and_example_config_works() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let db = dir.path().join("cw.db");
    let log = dir.path().join("cw.log");
    let (child, url) = spawn_serve(&example, &db, &log);
    let http = reqwest::Client::new();
    // Every example token works.
    for token in [
        "cw_local_viewer",
        "cw_local_agent",
        "cw_local_supervisor",
        "cw_local_admin",
        "cw_local_globex",
    ] {
        let r = http
            .get(format!("{url}/api/calls/active"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{token}");
    }
    // Acknowledged writes.
    let n = 40;
    let mut acked = 0;
    for i in 0..n {
        let body = json!({"id": format!("k-{i}"), "type": "call.started", "provider_call_id": format!("k-{i}"),
            "direction": "inbound", "from": "+15550001000", "to": "+15550002000", "state": "in_progress"}).to_string();
        let t = chrono::Utc::now().timestamp();
        let r = http
            .post(format!("{url}/api/ingest"))
            .header("Callwatch-Integration", "acme-voice")
            .header(
                "Callwatch-Signature",
                signature_header("whsec_local_acme", t, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            acked += 1;
        }
    }
    assert_eq!(acked, n);
    let r = http
        .post(format!("{url}/api/calls/initiate"))
        .bearer_auth("cw_local_supervisor")
        .json(&json!({"phoneNumber": "+15550003000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    drop(child); // SIGKILL, no chance to flush anything

    let (child, url) = spawn_serve(&example, &db, &log);
    let r: Value = http
        .get(format!("{url}/api/calls/active"))
        .bearer_auth("cw_local_viewer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["calls"].as_array().unwrap().len(), n);
    let r: Value = http
        .get(format!("{url}/api/calls/queue"))
        .bearer_auth("cw_local_viewer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    // History pages through all of them exactly once.
    let mut ids = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut req = http
            .get(format!("{url}/api/calls"))
            .bearer_auth("cw_local_viewer")
            .query(&[("limit", "15")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c.as_str())]);
        }
        let page: Value = req.send().await.unwrap().json().await.unwrap();
        pages += 1;
        for c in page["calls"].as_array().unwrap() {
            assert!(
                ids.insert(c["id"].as_str().unwrap().to_string()),
                "no call twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!((ids.len(), pages), (n, 3));
    let r = http
        .get(format!("{url}/api/calls?cursor=garbage"))
        .bearer_auth("cw_local_viewer")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // The other org sees none of it.
    let r: Value = http
        .get(format!("{url}/api/calls/active"))
        .bearer_auth("cw_local_globex")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["calls"].as_array().unwrap().is_empty());
    // SIGTERM: graceful exit.
    let mut child = child;
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    // Tokens never reach the log.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("gateway listening"));
    assert!(!text.contains("cw_local_"), "a token leaked into the log");
}

#[tokio::test]
async fn stream_token_query_client_frames_heartbeats_and_frame_limit() {
    let mut config = base_config(None);
    config.stream.heartbeat_secs = 1;
    config.limits.max_ws_frame_bytes = 1024;
    let gw = Gw::start(config).await;
    gw.start_call("h-1").await;
    // A client that cannot set headers passes ?token=.
    let url = format!(
        "{}/api/stream?token={VIEWER}",
        gw.url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    match next_real(&mut ws).await {
        ServerFrame::Welcome {
            actor,
            heartbeat_secs,
            ..
        } => {
            assert_eq!(actor, "vera");
            assert_eq!(heartbeat_secs, 1);
        }
        f => panic!("{f:?}"),
    }
    let seq = match next_real(&mut ws).await {
        ServerFrame::Snapshot { snapshot } => snapshot.seq,
        f => panic!("{f:?}"),
    };
    // Heartbeats carry the last seq delivered on this connection.
    let mut last = seq;
    loop {
        match next_frame(&mut ws).await {
            ServerFrame::Heartbeat { seq, .. } => {
                assert_eq!(seq, last);
                break;
            }
            ServerFrame::Event { seq, .. } => last = seq,
            f => panic!("{f:?}"),
        }
    }
    // Asking for a resync gets a snapshot; a ping gets a heartbeat; nonsense gets an error.
    ws.send(Message::Text(r#"{"type":"resync"}"#.into()))
        .await
        .unwrap();
    assert!(matches!(
        next_real(&mut ws).await,
        ServerFrame::Snapshot { .. }
    ));
    ws.send(Message::Text(r#"{"type":"bogus"}"#.into()))
        .await
        .unwrap();
    assert!(matches!(
        next_real(&mut ws).await,
        ServerFrame::Error { .. }
    ));
    ws.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert!(matches!(
        next_frame(&mut ws).await,
        ServerFrame::Heartbeat { .. }
    ));
    // A message over the frame limit closes this connection, and only this one.
    ws.send(Message::Text("x".repeat(4096).into()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "oversized message did not close the stream"
        );
        match tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap()
        {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(_)) => {}
        }
    }
    let (s, _) = gw.get(VIEWER, "/api/calls/active").await;
    assert_eq!(s, 200);
    // SSE with ?token= as well.
    let (_, v) = gw.get(VIEWER, "/api/calls/active").await;
    let id = v["calls"][0]["id"].as_str().unwrap().to_string();
    let r = gw
        .http
        .get(format!(
            "{}/api/calls/{id}/transcript?token={VIEWER}",
            gw.url
        ))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    gw.stop().await;
}

#[tokio::test]
async fn queue_retries_failed_dials_then_gives_up() {
    let failing = control_server(StatusCode::SERVICE_UNAVAILABLE).await;
    let mut config = base_config(Some(&failing.url));
    config.queue.max_attempts = 2;
    let gw = Gw::start(config).await;
    let (s, item) = gw
        .post(
            SUP,
            "/api/calls/initiate",
            Some(json!({"phoneNumber": "+15550004000", "campaignId": "winback"})),
        )
        .await;
    assert_eq!(s, 201);
    let qid = item["id"].as_str().unwrap().to_string();
    let g = &gw;
    eventually("two attempts, then failed", || {
        let qid = qid.clone();
        async move {
            let (_, q) = g.get(VIEWER, "/api/calls/queue?all=true").await;
            let it = q["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == qid.as_str())
                .cloned()
                .unwrap();
            it["state"] == "failed" && it["attempts"] == 2
        }
    })
    .await;
    assert_eq!(
        failing.seen.lock().unwrap().len(),
        2,
        "one POST per attempt"
    );
    let (_, q) = gw.get(VIEWER, "/api/calls/queue?all=true").await;
    assert!(q["items"][0]["last_result"]
        .as_str()
        .unwrap()
        .contains("503"));
    // Finished items are no longer in the default (waiting) view, and cannot be cancelled.
    let (_, q) = gw.get(VIEWER, "/api/calls/queue").await;
    assert!(q["items"].as_array().unwrap().is_empty());
    let (s, v) = gw
        .send(
            reqwest::Method::DELETE,
            SUP,
            &format!("/api/calls/queue/{qid}"),
            None,
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        v["message"],
        "the queued call has failed and is no longer waiting, so it cannot be cancelled"
    );
    gw.stop().await;
}

/// Real stacks send their end-of-call webhook while the API request that ended the call is
/// still in flight. The supervisor's end must still succeed and be recorded as theirs.
#[tokio::test]
async fn end_succeeds_when_the_hang_up_webhook_arrives_first() {
    let gateway_url: Arc<Mutex<Option<String>>> = Arc::default();
    let url_for_stack = gateway_url.clone();
    let app = axum::Router::new().route(
        "/actions",
        axum::routing::post(move |body: axum::body::Bytes| {
            let url_for_stack = url_for_stack.clone();
            async move {
                let action: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if action["action"] == "end" {
                    let base = url_for_stack.lock().unwrap().clone().unwrap();
                    let raw = serde_json::to_vec(&json!({
                        "id": "hangup-race-1",
                        "type": "call.ended",
                        "provider_call_id": "race-1",
                        "outcome": "agent_hangup",
                        "cost": 0.42,
                        "duration_secs": 61.0
                    }))
                    .unwrap();
                    let t = chrono::Utc::now().timestamp();
                    let r = reqwest::Client::new()
                        .post(format!("{base}/api/ingest"))
                        .header("Callwatch-Integration", "acme-voice")
                        .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
                        .header("content-type", "application/json")
                        .body(raw)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                }
                (StatusCode::OK, "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_url = format!("http://{}/actions", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let gw = Gw::start(base_config(Some(&control_url))).await;
    *gateway_url.lock().unwrap() = Some(gw.url.clone());
    let id = gw.start_call("race-1").await;

    let (s, v) = gw.post(SUP, &format!("/api/calls/{id}/end"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["call"]["state"], "ended");
    assert_eq!(v["call"]["outcome"], "ended_by_supervisor");
    // The stack's figures are kept.
    assert_eq!(v["call"]["cost"], 0.42);

    let (_, call) = gw.get(SUP, &format!("/api/calls/{id}")).await;
    assert_eq!(call["outcome"], "ended_by_supervisor");
    let (_, audit) = gw.get(SUP, "/api/audit").await;
    let end = audit["entries"]
        .as_array()
        .or_else(|| audit.as_array())
        .unwrap()
        .iter()
        .find(|a| a["action"] == "end")
        .cloned()
        .unwrap();
    assert_eq!(end["ok"], true, "{end}");
    gw.stop().await;
}

/// Pause, resume and take-over leave system lines in the call's transcript, which the
/// history (the same transcript, read back from SQLite after the call ends) keeps.
#[tokio::test]
async fn pause_resume_and_takeover_are_system_lines_in_the_transcript() {
    let control = control_server(StatusCode::OK).await;
    let gw = Gw::start(base_config(Some(&control.url))).await;
    let id = gw.start_call("pc-sys").await;
    gw.say_line("pc-sys", 1, "Hello there").await;
    let path = |a: &str| format!("/api/calls/{id}/{a}");
    let (s, v) = gw.post(SUP, &path("pause-ai"), None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw
        .send(reqwest::Method::DELETE, SUP, &path("pause-ai"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw
        .post(
            SUP,
            &path("takeover"),
            Some(json!({"reason": "caller asked for a human"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw.post(SUP, &path("end"), None).await;
    assert_eq!(s, 200, "{v}");
    let (_, t) = gw.get(VIEWER, &path("transcript")).await;
    let lines: Vec<(String, String)> = t["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["speaker"].as_str().unwrap_or_default().to_string(),
                e["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let system: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| s == "system")
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(system.len(), 3, "{lines:?}");
    assert!(system[0].ends_with("paused the AI"), "{system:?}");
    assert!(system[1].ends_with("resumed the AI"), "{system:?}");
    assert!(
        system[2].contains("took over the call: caller asked for a human"),
        "{system:?}"
    );
    let positions: Vec<u64> = t["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["position"].as_u64())
        .collect();
    assert_eq!(positions, (0..positions.len() as u64).collect::<Vec<_>>());
}
