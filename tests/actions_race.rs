//! Racing actions, idempotency keys and strict input, through real HTTP against the real
//! gateway (127.0.0.1:0, a temporary SQLite file). A local axum server stands in for the
//! voice stack's control URL: it answers slowly (300 ms), so concurrent requests really
//! overlap, and counts what it receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use callwatch::core::model::Role;
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::ingest::{sign, signature_header};
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "whsec_race_acme";
/// Supervisors of acme, one token each (the rate limit is per token).
const SUPERVISORS: [(&str, &str); 5] = [
    ("sam", "tok_sam_supervisor"),
    ("sue", "tok_sue_supervisor"),
    ("sid", "tok_sid_supervisor"),
    ("sol", "tok_sol_supervisor"),
    ("ada", "tok_ada_supervisor"),
];
const ADMIN: &str = "tok_acme_admin";

fn config(control_url: &str) -> GatewayConfig {
    let mut c = GatewayConfig::default()
        .with_token("root", ADMIN, "acme", Role::Admin)
        .with_custom_integration("acme-voice", "acme", SECRET, Some(control_url));
    for (name, token) in SUPERVISORS {
        c = c.with_token(name, token, "acme", Role::Supervisor);
    }
    c
}

/// The stand-in control URL: answers 200 after 300 ms; records every action it receives.
#[derive(Clone)]
struct Control {
    url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Control {
    async fn start() -> Control {
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let s2 = seen.clone();
        let app = axum::Router::new().route(
            "/actions",
            axum::routing::post(move |body: axum::body::Bytes| {
                let s2 = s2.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    s2.lock().unwrap().push(v);
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

    /// The actions received, by name.
    fn actions(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["action"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn last(&self) -> Value {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }
}

struct Gw {
    running: Option<RunningGateway>,
    url: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    control: Control,
}

impl Gw {
    async fn start() -> Gw {
        let control = Control::start().await;
        Self::start_in(control, tempfile::tempdir().unwrap()).await
    }

    async fn start_in(control: Control, dir: tempfile::TempDir) -> Gw {
        let running = start(GatewayOptions::new(
            config(&control.url),
            dir.path().join("cw.db"),
        ))
        .await
        .unwrap();
        Gw {
            url: running.url(),
            running: Some(running),
            http: reqwest::Client::new(),
            dir,
            control,
        }
    }

    async fn restart(mut self) -> Gw {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        Self::start_in(self.control.clone(), self.dir).await
    }

    async fn shutdown(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value, bool) {
        let r = req.send().await.unwrap();
        let s = r.status();
        let replayed = r.headers().contains_key("idempotent-replayed");
        (s, r.json().await.unwrap_or(Value::Null), replayed)
    }

    async fn post(&self, token: &str, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send(self.request(reqwest::Method::POST, token, path, body, None))
            .await;
        (s, v)
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap_or(Value::Null)
    }

    async fn ingest_raw(&self, signature: String, raw: Vec<u8>) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/ingest", self.url))
            .header("Callwatch-Integration", "acme-voice")
            .header("Callwatch-Signature", signature)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn ingest(&self, body: Value) -> (StatusCode, Value) {
        let raw = serde_json::to_vec(&body).unwrap();
        let t = chrono::Utc::now().timestamp();
        self.ingest_raw(signature_header(SECRET, t, &raw), raw)
            .await
    }

    /// Starts a call in progress; returns callwatch's call id.
    async fn start_call(&self, pcid: &str) -> String {
        let (s, v) = self
            .ingest(json!({
                "id": format!("start-{pcid}"),
                "type": "call.started",
                "provider_call_id": pcid,
                "direction": "inbound",
                "from": "+15550001111",
                "to": "+15559990000",
                "state": "in_progress"
            }))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        self.call_by_pcid(pcid).await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn call_by_pcid(&self, pcid: &str) -> Value {
        let v = self.get(ADMIN, "/api/calls?limit=100").await;
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider_call_id"] == pcid)
            .cloned()
            .expect("the call exists")
    }
}

/// `n` supervisors take over the same call at the same instant.
async fn simultaneous_takeovers(n: usize) {
    let gw = Gw::start().await;
    let id = gw.start_call(&format!("race-{n}")).await;
    let path = format!("/api/calls/{id}/takeover");
    let body = json!({"reason": "caller asked for a person"});
    let answers = futures::future::join_all(SUPERVISORS[..n].iter().map(|(_, token)| {
        gw.send(gw.request(reqwest::Method::POST, token, &path, Some(&body), None))
    }))
    .await;
    let ok: Vec<usize> = (0..n).filter(|i| answers[*i].0 == StatusCode::OK).collect();
    assert_eq!(ok.len(), 1, "exactly one 200: {answers:?}");
    let winner = SUPERVISORS[ok[0]].0;
    for (i, (s, v, _)) in answers.iter().enumerate() {
        if i != ok[0] {
            assert_eq!(*s, StatusCode::CONFLICT, "{v}");
            // "busy" while the winner's action is in progress; on a machine slow enough to
            // start a request after it was committed, the call's state refuses it instead.
            let expected = match v["error"].as_str() {
                Some("busy") => format!("{winner} is already taking over this call"),
                _ => format!("the call is already taken over by {winner}"),
            };
            assert_eq!(v["message"], expected, "{v}");
        }
    }
    assert_eq!(gw.control.actions(), ["takeover"], "one provider request");
    // The stack and the gateway agree on who holds the call.
    assert_eq!(gw.control.last()["params"]["by"], winner);
    let call = gw.call_by_pcid(&format!("race-{n}")).await;
    assert_eq!(call["state"], "taken_over");
    assert_eq!(call["takeover"]["by"], winner);
    // Once the first action is committed, the call is free again: a later takeover is
    // checked against the call as it now is, still without reaching the stack.
    let (s, v) = gw.post(SUPERVISORS[4].1, &path, Some(&body)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"], "conflict", "{v}");
    assert_eq!(gw.control.actions().len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn two_simultaneous_takeovers_reach_the_stack_once() {
    simultaneous_takeovers(2).await;
}

#[tokio::test]
async fn five_simultaneous_takeovers_reach_the_stack_once() {
    simultaneous_takeovers(5).await;
}

#[tokio::test]
async fn two_simultaneous_ends_answer_one_200() {
    let gw = Gw::start().await;
    let id = gw.start_call("end-race").await;
    let path = format!("/api/calls/{id}/end");
    let (a, b) = tokio::join!(
        gw.post(SUPERVISORS[0].1, &path, None),
        gw.post(SUPERVISORS[1].1, &path, None)
    );
    let statuses = [a.0, b.0];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{a:?} {b:?}"
    );
    assert!(statuses.contains(&StatusCode::CONFLICT), "{a:?} {b:?}");
    assert_eq!(gw.control.actions(), ["end"]);
    let call = gw.call_by_pcid("end-race").await;
    assert_eq!(call["state"], "ended");
    assert_eq!(call["outcome"], "ended_by_supervisor");
    gw.shutdown().await;
}

#[tokio::test]
async fn pausing_twice_at_once_reaches_the_stack_once() {
    let gw = Gw::start().await;
    let id = gw.start_call("pause-race").await;
    let path = format!("/api/calls/{id}/pause-ai");
    // The same supervisor twice (a double key press), and then two supervisors.
    let (a, b) = tokio::join!(
        gw.post(SUPERVISORS[0].1, &path, None),
        gw.post(SUPERVISORS[0].1, &path, None)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let refused = if a.0 == StatusCode::CONFLICT {
        &a.1
    } else {
        &b.1
    };
    // "busy" while the first pause is in progress; on a machine slow enough to start the
    // second request after the first was committed, the call's state refuses it instead.
    let expected = match refused["error"].as_str() {
        Some("busy") => "sam is already pausing the AI on this call",
        _ => "the AI is already paused",
    };
    assert_eq!(refused["message"], expected, "{refused}");
    assert_eq!(gw.control.actions(), ["pause_ai"]);
    assert_eq!(gw.call_by_pcid("pause-race").await["state"], "ai_paused");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_retried_takeover_with_the_same_key_is_performed_once() {
    let gw = Gw::start().await;
    let id = gw.start_call("idem").await;
    let path = format!("/api/calls/{id}/takeover");
    let body = json!({"reason": "caller asked for a person", "notes": "VIP"});
    let (sam, key) = (SUPERVISORS[0].1, "4f1c2a9e-retry-1");
    let take = || gw.request(reqwest::Method::POST, sam, &path, Some(&body), Some(key));

    // The retry arrives while the first is still with the stack: 409, nothing sent.
    let (first, early) = tokio::join!(gw.send(take()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        gw.send(take()).await
    });
    assert_eq!(first.0, StatusCode::OK, "{first:?}");
    assert!(!first.2, "the first answer is not a replay");
    assert_eq!(early.0, StatusCode::CONFLICT, "{early:?}");
    assert_eq!(gw.control.actions(), ["takeover"]);

    // Retried after the answer: the same answer, replayed, and still one provider request.
    let again = gw.send(take()).await;
    assert_eq!(again.0, StatusCode::OK);
    assert!(again.2, "marked as replayed");
    assert_eq!(
        again.1, first.1,
        "the stored answer, byte for byte the same JSON"
    );
    assert_eq!(gw.control.actions(), ["takeover"]);

    // The same key with another request: 422; nothing performed.
    let other = json!({"reason": "a different reason"});
    let (s, v, _) = gw
        .send(gw.request(reqwest::Method::POST, sam, &path, Some(&other), Some(key)))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "idempotency_key_reused");

    // Keys belong to the token: another supervisor's same key is its own request (and is
    // refused by the call's state, not replayed).
    let (s, v, replayed) = gw
        .send(gw.request(
            reqwest::Method::POST,
            SUPERVISORS[1].1,
            &path,
            Some(&body),
            Some(key),
        ))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(!replayed);

    // Durable: after a restart the retry still gets the first answer.
    let gw = gw.restart().await;
    let path = format!("/api/calls/{id}/takeover");
    let (s, v, replayed) = gw
        .send(gw.request(reqwest::Method::POST, sam, &path, Some(&body), Some(key)))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(replayed);
    assert_eq!(v, first.1);
    assert_eq!(gw.control.actions(), ["takeover"]);

    // A malformed key is refused before anything happens.
    let (s, v, _) = gw
        .send(gw.request(
            reqwest::Method::POST,
            sam,
            &format!("/api/calls/{id}/say"),
            Some(&json!({"text": "hi"})),
            Some(&"k".repeat(300)),
        ))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(gw.control.actions(), ["takeover"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn queue_actions_take_idempotency_keys() {
    let gw = Gw::start().await;
    let sam = SUPERVISORS[0].1;
    // Scheduled far ahead so that the scheduler leaves it alone.
    let body = json!({"phoneNumber": "+15551234567",
        "scheduledAt": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()});
    let initiate = || {
        gw.request(
            reqwest::Method::POST,
            sam,
            "/api/calls/initiate",
            Some(&body),
            Some("init-1"),
        )
    };
    let first = gw.send(initiate()).await;
    assert_eq!(first.0, StatusCode::CREATED, "{first:?}");
    let second = gw.send(initiate()).await;
    assert_eq!(second.0, StatusCode::CREATED);
    assert!(second.2);
    assert_eq!(second.1["id"], first.1["id"], "one queue item, not two");
    let queue = gw.get(sam, "/api/calls/queue").await;
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(1), "{queue}");
    let item = first.1["id"].as_str().unwrap();
    let cancel = || {
        gw.request(
            reqwest::Method::DELETE,
            sam,
            &format!("/api/calls/queue/{item}"),
            None,
            Some("cancel-1"),
        )
    };
    let c1 = gw.send(cancel()).await;
    assert_eq!(c1.0, StatusCode::OK, "{c1:?}");
    let c2 = gw.send(cancel()).await;
    assert_eq!((c2.0, c2.2), (StatusCode::OK, true), "replayed, not a 409");
    gw.shutdown().await;
}

#[tokio::test]
async fn arrays_in_place_of_objects_are_refused_and_nothing_is_performed() {
    let gw = Gw::start().await;
    let id = gw.start_call("arrays").await;
    let sam = SUPERVISORS[0].1;
    for (action, body) in [
        ("say", json!(["hello"])),
        ("takeover", json!(["why", "notes"])),
        ("instruct", json!("offer Saturday")),
        ("summary", json!([])),
    ] {
        let (s, v) = gw
            .post(sam, &format!("/api/calls/{id}/{action}"), Some(&body))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{action}: {v}");
        assert_eq!(v["field"], "body", "{action}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or_default()
                .contains("JSON object"),
            "{v}"
        );
    }
    assert!(gw.control.actions().is_empty());
    assert_eq!(gw.call_by_pcid("arrays").await["state"], "in_progress");
    gw.shutdown().await;
}

/// Sends `POST path` with a chunked body of `total` bytes (no Content-Length); returns the
/// status and body of the answer.
async fn post_streamed(url: &str, token: &str, path: &str, total: usize) -> (u16, Value) {
    let addr = url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let frame = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        // The gateway may answer and close before the whole body is sent.
        if tcp.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // The answer may be chunked itself: take the JSON object inside.
    let json = body
        .find('{')
        .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test]
async fn the_body_limit_holds_on_routes_that_take_no_body() {
    let gw = Gw::start().await;
    let id = gw.start_call("big").await;
    let sam = SUPERVISORS[0].1;
    let big = vec![b' '; 1024 * 1024 + 10];
    for action in ["pause-ai", "end"] {
        // Declared length over the limit.
        let r = gw
            .http
            .post(format!("{}/api/calls/{id}/{action}", gw.url))
            .bearer_auth(sam)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{action}");
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(v["error"], "too_large", "{action}: {v}");
        // Streamed, no length declared.
        let (status, v) = post_streamed(
            &gw.url,
            sam,
            &format!("/api/calls/{id}/{action}"),
            1024 * 1024 + 64 * 1024,
        )
        .await;
        assert_eq!(status, 413, "{action} streamed: {v}");
        assert_eq!(v["error"], "too_large", "{action} streamed: {v}");
    }
    assert!(gw.control.actions().is_empty(), "nothing performed");
    assert_eq!(gw.call_by_pcid("big").await["state"], "in_progress");
    // A small streamed body is still fine.
    let (status, v) = post_streamed(&gw.url, sam, &format!("/api/calls/{id}/pause-ai"), 1).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(gw.control.actions(), ["pause_ai"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_duplicated_t_in_the_signature_is_refused() {
    let gw = Gw::start().await;
    let raw = serde_json::to_vec(&json!({"id": "dup-t", "type": "call.started",
        "provider_call_id": "dup-t", "direction": "inbound", "from": "+1555", "to": "+1666"}))
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let signed = sign(SECRET, now, &raw);
    // A valid signature with a second t= appended (it used to win).
    let (s, v) = gw
        .ingest_raw(format!("t={now},v1={signed},t={}", now - 1000), raw.clone())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("t= appears more than once"),
        "{v}"
    );
    let (s, _) = gw.ingest_raw(format!("t={now},v1={signed}"), raw).await;
    assert_eq!(s, StatusCode::OK);
    gw.shutdown().await;
}

#[tokio::test]
async fn call_status_never_moves_a_call_backwards_nor_ends_it() {
    let gw = Gw::start().await;
    gw.start_call("status").await;
    let (s, v) = gw
        .ingest(
            json!({"id": "back", "type": "call.status", "provider_call_id": "status",
            "status": "ringing"}),
        )
        .await;
    // A late delivery: answered 200, and nothing moves backwards.
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(gw.call_by_pcid("status").await["state"], "in_progress");
    let (s, v) = gw
        .ingest(json!({"id": "end-by-status", "type": "call.status",
            "provider_call_id": "status", "status": "ended"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("only through a call.ended"),
        "{v}"
    );
    assert_eq!(gw.call_by_pcid("status").await["state"], "in_progress");
    // The webhook log records why.
    let log = gw.get(ADMIN, "/api/webhook-log?limit=10").await;
    let errors: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["error"].as_str().map(String::from))
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("only through a call.ended")),
        "{errors:?}"
    );
    // Forward moves and call.ended still work.
    let (s, _) = gw
        .ingest(
            json!({"id": "pause", "type": "call.status", "provider_call_id": "status",
            "status": "ai_paused"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = gw
        .ingest(
            json!({"id": "ended", "type": "call.ended", "provider_call_id": "status",
            "outcome": "completed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(gw.call_by_pcid("status").await["state"], "ended");
    gw.shutdown().await;
}

#[tokio::test]
async fn handing_back_twice_at_once_reaches_the_stack_once() {
    let gw = Gw::start().await;
    let id = gw.start_call("handback-race").await;
    let (s, v) = gw
        .post(
            SUPERVISORS[0].1,
            &format!("/api/calls/{id}/takeover"),
            Some(&json!({"reason": "checking", "mode": "text"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The taker and another supervisor hand it back at the same instant.
    let path = format!("/api/calls/{id}/handback");
    let (a, b) = tokio::join!(
        gw.post(SUPERVISORS[0].1, &path, None),
        gw.post(SUPERVISORS[4].1, &path, None)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let refused = if a.0 == StatusCode::CONFLICT {
        &a.1
    } else {
        &b.1
    };
    // "busy" while the first is in progress; or, started after it was committed, the state.
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.ends_with("is already handing back this call")
            || message == "nobody has taken the call over, so there is nothing to hand back",
        "{refused}"
    );
    assert_eq!(gw.control.actions(), ["takeover", "hand_back"]);
    let call = gw.call_by_pcid("handback-race").await;
    assert_eq!(
        (call["state"].clone(), call["takeover"].clone()),
        (json!("in_progress"), Value::Null)
    );
    gw.shutdown().await;
}
