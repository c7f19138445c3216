//! Provider adapters through the real gateway: fixture payloads written from each
//! provider's public docs, signed with test secrets, posted over real HTTP; the calls,
//! transcripts and analytics they produce; actions reaching a local stand-in for each
//! provider's API (127.0.0.1:0), including one that fails, hangs or answers garbage.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use callwatch::core::model::Role;
use callwatch::gateway::config::destinations::DestinationConfig;
use callwatch::gateway::config::{GatewayConfig, IntegrationConfig, IntegrationKind, WebhookAuth};
use callwatch::gateway::providers::{retell, synthflow, twilio};
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SUP: &str = "tok_acme_supervisor";
/// A supervisor with a phone: her take overs put the caller through to it.
const DANA: &str = "tok_acme_dana_phone";
const DANA_PHONE: &str = "+15550001111";
const SALES: &str = "+15550002222";
const ADMIN: &str = "tok_acme_admin";
const VAPI_SECRET: &str = "vapi_test_secret";
const RETELL_KEY: &str = "key_retell_test";
const TWILIO_TOKEN: &str = "twilio_test_token";
const BLAND_SECRET: &str = "bland_signing_test";
const ELEVEN_SECRET: &str = "wsec_eleven_test";
const SYNTHFLOW_SECRET: &str = "synthflow_test";
const DOGRAH_SECRET: &str = "dograh_test";
const PUBLIC: &str = "https://callwatch.example.com";

// ------------------------------------------------------------ stand-in API ----

/// What a stand-in provider API does with each request.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Fail,
    Hang,
    Garbage,
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: String,
}

type Shared = (Arc<Mutex<Vec<Seen>>>, Arc<Mutex<Mode>>);

#[derive(Clone)]
struct StandIn {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<Mutex<Mode>>,
}

impl StandIn {
    async fn start() -> StandIn {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(Mode::Ok));
        let state = (seen.clone(), mode.clone());
        let app = axum::Router::new()
            .fallback(
                |State((seen, mode)): State<Shared>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: String| async move {
                    seen.lock().unwrap().push(Seen {
                        method: method.to_string(),
                        path: uri.to_string(),
                        headers,
                        body,
                    });
                    let mode = *mode.lock().unwrap();
                    match mode {
                        Mode::Ok => (
                            StatusCode::OK,
                            // Every create-call answer field the adapters read.
                            r#"{"id":"vapi-new","call_id":"new-call","sid":"CAnew","status":"success"}"#
                                .to_string(),
                        ),
                        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "boom".to_string()),
                        Mode::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            (StatusCode::OK, "{}".to_string())
                        }
                        Mode::Garbage => (StatusCode::OK, "<html>not json".to_string()),
                    }
                },
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn { url, seen, mode }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

// ------------------------------------------------------------ the gateway ----

fn integration(name: &str, kind: IntegrationKind, secret: &str, api: &str) -> IntegrationConfig {
    let mut i = IntegrationConfig::new(name, kind, "acme", secret);
    i.api_base = Some(api.to_string());
    i.api_timeout_secs = Some(1);
    i
}

fn config(api: &str) -> GatewayConfig {
    let mut vapi = integration("vapi", IntegrationKind::Vapi, VAPI_SECRET, api);
    vapi.api_key = Some("vapi_private_key".into());
    vapi.agent_id = Some("asst_1".into());
    vapi.from_number = Some("pn_1".into());
    let mut vapi_hmac = integration("vapi-hmac", IntegrationKind::Vapi, VAPI_SECRET, api);
    vapi_hmac.webhook_auth = WebhookAuth::Hmac;
    let mut retell = integration("retell", IntegrationKind::Retell, RETELL_KEY, api);
    retell.from_number = Some("+15550002222".into());
    retell.agent_id = Some("agent_9".into());
    let mut twilio = integration("twilio", IntegrationKind::Twilio, TWILIO_TOKEN, api);
    twilio.account_sid = Some("AC0001".into());
    twilio.from_number = Some("+15550003333".into());
    twilio.agent_id = Some("https://twiml.example.com/ai".into());
    let mut bland = integration("bland", IntegrationKind::Bland, BLAND_SECRET, api);
    bland.api_key = Some("bland_api_key".into());
    bland.agent_id = Some("pathway_1".into());
    let mut c = GatewayConfig::default()
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_token("ada", ADMIN, "acme", Role::Admin)
        .with_integration(vapi)
        .with_integration(vapi_hmac)
        .with_integration(retell)
        .with_integration(twilio)
        .with_integration(bland)
        .with_integration(integration(
            "eleven",
            IntegrationKind::ElevenLabs,
            ELEVEN_SECRET,
            api,
        ))
        .with_integration(integration(
            "synthflow",
            IntegrationKind::Synthflow,
            SYNTHFLOW_SECRET,
            api,
        ))
        .with_integration(integration(
            "dograh",
            IntegrationKind::Dograh,
            DOGRAH_SECRET,
            api,
        ));
    c.public_url = Some(PUBLIC.into());
    c = c.with_token("dana", DANA, "acme", Role::Supervisor);
    if let Some(t) = c.tokens.last_mut() {
        t.phone = Some(DANA_PHONE.into());
    }
    c.destinations = vec![
        DestinationConfig {
            org: "acme".into(),
            name: "Sales desk".into(),
            to: SALES.into(),
        },
        DestinationConfig {
            org: "acme".into(),
            name: "Billing".into(),
            to: "sip:billing@pbx.example.com".into(),
        },
    ];
    c
}

struct Gw {
    running: Option<RunningGateway>,
    url: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Gw {
    async fn start(api: &str) -> Gw {
        Self::start_in(api, tempfile::tempdir().unwrap())
            .await
            .unwrap()
    }

    async fn start_in(api: &str, dir: tempfile::TempDir) -> anyhow::Result<Gw> {
        let running = start(GatewayOptions::new(config(api), dir.path().join("cw.db"))).await?;
        Ok(Gw {
            url: running.url(),
            running: Some(running),
            http: reqwest::Client::new(),
            dir,
        })
    }

    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.dir
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn post(&self, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn act(&self, id: &str, action: &str, body: Value) -> (u16, Value) {
        self.act_as(SUP, id, action, body).await
    }

    async fn act_as(&self, token: &str, id: &str, action: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/calls/{id}/{action}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// The call of a provider call id, from history (live or ended).
    async fn call(&self, pcid: &str) -> Value {
        let v = self.get("/api/calls?limit=200").await;
        let found = v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider_call_id"] == pcid)
            .cloned();
        match found {
            Some(c) => c,
            None => {
                let v = self.get("/api/calls/active").await;
                v["calls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["provider_call_id"] == pcid)
                    .cloned()
                    .unwrap_or_else(|| panic!("no call {pcid}"))
            }
        }
    }

    async fn transcript(&self, pcid: &str) -> Vec<(String, String, bool)> {
        let id = self.call(pcid).await["id"].as_str().unwrap().to_string();
        let t = self.get(&format!("/api/calls/{id}/transcript")).await;
        t["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["speaker"].as_str().unwrap().to_string(),
                    e["text"].as_str().unwrap().to_string(),
                    e["final"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    async fn last_webhook(&self) -> Value {
        self.get("/api/webhook-log?limit=1").await["entries"][0].clone()
    }

    // Signed posts, one per provider's scheme.

    async fn vapi(&self, message: Value) -> (u16, Value) {
        let body = serde_json::to_vec(&json!({ "message": message })).unwrap();
        self.post(
            "/webhooks/vapi",
            &[("x-vapi-secret", VAPI_SECRET.into()), ct()],
            body,
        )
        .await
    }

    async fn retell(&self, event: &str, call: Value) -> (u16, Value) {
        let body = serde_json::to_vec(&json!({"event": event, "call": call})).unwrap();
        let sig = retell::sign(RETELL_KEY, &body, chrono::Utc::now().timestamp_millis());
        self.post(
            "/webhooks/retell",
            &[("x-retell-signature", sig), ct()],
            body,
        )
        .await
    }

    async fn twilio(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sig = twilio::signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &owned);
        let body = serde_urlencoded::to_string(&owned).unwrap().into_bytes();
        self.post(
            path,
            &[
                ("x-twilio-signature", sig),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
            body,
        )
        .await
    }
}

fn ct() -> (&'static str, String) {
    ("content-type", "application/json".into())
}

fn hex_hmac(key: &str, parts: &[&[u8]]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    for p in parts {
        m.update(p);
    }
    hex::encode(m.finalize().into_bytes())
}

// --------------------------------------------------------------- fixtures ----

/// Vapi's call object as its server messages carry it (docs: server-url/events).
fn vapi_call(id: &str, control: &str) -> Value {
    json!({
        "id": id, "orgId": "org_1", "type": "inboundPhoneCall", "status": "in-progress",
        "assistantId": "asst_1", "phoneNumberId": "pn_1",
        "customer": {"number": "+15551230001"}, "phoneNumber": {"number": "+15559870000"},
        "monitor": {"listenUrl": "wss://x.example/listen", "controlUrl": control},
    })
}

/// Retell's call object (SDK call.ts): a finished inbound call with analysis.
fn retell_call(id: &str, status: &str) -> Value {
    json!({
        "call_id": id, "agent_id": "agent_9", "agent_name": "Riley", "call_type": "phone_call",
        "call_status": status, "direction": "inbound",
        "from_number": "+15551230002", "to_number": "+15559870000",
        "start_timestamp": 1_763_683_200_000_i64, "end_timestamp": 1_763_683_290_000_i64,
        "duration_ms": 90_000,
        "transcript": "Agent: Hello, Riley speaking.\nUser: I need to move my appointment.",
        "transcript_object": [
            {"role": "agent", "content": "Hello, Riley speaking.", "words": []},
            {"role": "user", "content": "I need to move my appointment.", "words": []}
        ],
        "recording_url": "https://retell.example/rec/1.wav",
        "disconnection_reason": "user_hangup",
        "call_cost": {"combined_cost": 42.0, "total_duration_seconds": 90},
        "call_analysis": {"call_summary": "Caller moved an appointment.", "call_successful": true,
            "user_sentiment": "Positive", "in_voicemail": false},
        "metadata": {}
    })
}

// ------------------------------------------------------------------ tests ----

#[tokio::test]
async fn vapi_server_messages_become_a_call_with_transcript_alerts_and_report() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let control = format!("{}/control/v1", api.url);
    let call = vapi_call("vapi-1", &control);
    let at = 1_763_683_200_000_i64;
    let send = |m: Value| gw.vapi(m);
    assert_eq!(
        send(json!({"type": "status-update", "status": "ringing", "call": call, "timestamp": at}))
            .await
            .0,
        200
    );
    assert_eq!(send(json!({"type": "status-update", "status": "in-progress", "call": call, "timestamp": at + 1000})).await.0, 200);
    send(json!({"type": "transcript", "role": "assistant", "transcriptType": "partial", "transcript": "Hello, this", "call": call, "timestamp": at + 2000})).await;
    send(json!({"type": "transcript", "role": "assistant", "transcriptType": "final", "transcript": "Hello, this is Ava.", "call": call, "timestamp": at + 3000})).await;
    send(json!({"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "Hi, I want to cancel.", "call": call, "timestamp": at + 4000})).await;
    // A replayed final is a duplicate, not a second line.
    let (s, v) = send(json!({"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "Hi, I want to cancel.", "call": call, "timestamp": at + 4000})).await;
    assert_eq!((s, v["duplicate"].clone()), (200, json!(true)));
    send(json!({"type": "conversation-update", "messages": [], "call": call})).await;
    send(json!({"type": "hang", "call": call, "timestamp": at + 5000})).await;
    let live = gw.call("vapi-1").await;
    assert_eq!(live["state"], "in_progress");
    assert_eq!(live["provider"], "Vapi");
    assert_eq!(live["from"], "+15551230001");
    assert_eq!(live["alerts"][0]["kind"], "ai_silent");
    assert!(live["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("pause_ai")));
    send(json!({"type": "speech-update", "status": "started", "role": "assistant", "turn": 2, "call": call, "timestamp": at + 6000})).await;
    assert!(gw.call("vapi-1").await["alerts"]
        .as_array()
        .unwrap()
        .is_empty());
    send(json!({"type": "transfer-update", "destination": {"type": "number", "number": "+15550009999"}, "call": call, "timestamp": at + 7000})).await;
    assert_eq!(gw.call("vapi-1").await["alerts"][0]["kind"], "transfer");
    send(json!({"type": "status-update", "status": "ended", "endedReason": "customer-ended-call", "call": call, "timestamp": at + 8000})).await;
    let (s, _) = send(json!({
        "type": "end-of-call-report", "endedReason": "customer-ended-call", "call": call,
        "timestamp": at + 9000, "cost": 0.31, "durationSeconds": 61.5,
        "analysis": {"summary": "Caller asked to cancel.", "successEvaluation": "true"},
        "artifact": {"recordingUrl": "https://vapi.example/rec.wav", "transcript": "...", "messages": []},
    })).await;
    assert_eq!(s, 200);
    // A final replayed after the report is still a duplicate.
    let (s, v) = gw
        .vapi(json!({"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "Hi, I want to cancel.", "call": call, "timestamp": at + 4000}))
        .await;
    assert_eq!((s, v["duplicate"].clone()), (200, json!(true)));
    let ended = gw.call("vapi-1").await;
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["outcome"], "completed");
    assert_eq!(ended["cost"], 0.31);
    assert_eq!(ended["duration_secs"], 61.5);
    assert_eq!(ended["summary"], "Caller asked to cancel.");
    assert_eq!(ended["recording_url"], "https://vapi.example/rec.wav");
    assert_eq!(
        gw.transcript("vapi-1").await,
        vec![
            ("ai".into(), "Hello, this is Ava.".into(), true),
            ("caller".into(), "Hi, I want to cancel.".into(), true)
        ]
    );
    let a = gw
        .get("/api/calls/analytics?from=2020-01-01T00:00:00Z")
        .await;
    assert_eq!(a["total_calls"], 1);
    let log = gw.last_webhook().await;
    assert_eq!(
        (log["provider"].clone(), log["ok"].clone()),
        (json!("vapi"), json!(true))
    );
    gw.stop().await;
}

#[tokio::test]
async fn vapi_hmac_and_refusals_are_4xx_logged_and_the_gateway_keeps_serving() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let body = serde_json::to_vec(&json!({"message": {"type": "status-update", "status": "in-progress", "call": vapi_call("h-1", "http://127.0.0.1:9/c")}})).unwrap();
    let good = hex_hmac(VAPI_SECRET, &[&body]);
    let (s, _) = gw
        .post(
            "/webhooks/vapi-hmac",
            &[("x-vapi-signature", good), ct()],
            body.clone(),
        )
        .await;
    assert_eq!(s, 200);
    // Bad signature.
    let (s, v) = gw
        .post(
            "/webhooks/vapi-hmac",
            &[("x-vapi-signature", "00".repeat(32)), ct()],
            body.clone(),
        )
        .await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("signature"), "{v}");
    // Unverified deliveries are counted per integration and reason, never stored.
    let rejected = gw.get("/api/webhook-log/rejected").await;
    assert!(
        rejected["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["integration"] == "vapi-hmac"
                && r["reason"] == "bad_signature"
                && r["count"] == 1),
        "{rejected}"
    );
    // Wrong shared secret on the secret-header integration.
    let (s, _) = gw
        .post(
            "/webhooks/vapi",
            &[("x-vapi-secret", "nope".into()), ct()],
            body.clone(),
        )
        .await;
    assert_eq!(s, 401);
    // Unknown event type: 422 naming the provider, logged with its payload.
    let (s, v) = gw
        .vapi(json!({"type": "made-up-event", "call": {"id": "h-1"}}))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("Vapi"), "{v}");
    let log = gw.last_webhook().await;
    assert!(log["error"].as_str().unwrap().contains("made-up-event"));
    assert!(log["payload"].as_str().unwrap().contains("made-up-event"));
    // Malformed bodies.
    let (s, _) = gw
        .post(
            "/webhooks/vapi",
            &[("x-vapi-secret", VAPI_SECRET.into()), ct()],
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = gw.vapi(json!({"type": "status-update"})).await;
    assert_eq!(s, 400);
    assert_eq!(gw.last_webhook().await["ok"], false);
    // Still serving.
    assert_eq!(gw.call("h-1").await["state"], "in_progress");
    gw.stop().await;
}

#[tokio::test]
async fn vapi_actions_reach_the_control_url_and_failures_change_nothing() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let control = format!("{}/control/abc", api.url);
    gw.vapi(json!({"type": "status-update", "status": "in-progress", "call": vapi_call("act-1", &control)})).await;
    let id = gw.call("act-1").await["id"].as_str().unwrap().to_string();
    api.take();
    for (action, body, expected) in [
        (
            "pause-ai",
            json!({}),
            json!({"type": "control", "control": "mute-assistant"}),
        ),
        (
            "say",
            json!({"text": "One moment please."}),
            json!({"type": "say", "content": "One moment please.", "endCallAfterSpoken": false}),
        ),
        (
            "instruct",
            json!({"text": "Offer a refund."}),
            json!({"type": "add-message", "message": {"role": "system", "content": "Offer a refund."}, "triggerResponseEnabled": true}),
        ),
    ] {
        let (s, v) = gw.act(&id, action, body).await;
        assert_eq!(s, 200, "{action}: {v}");
        let seen = api.take();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (seen[0].method.as_str(), seen[0].path.as_str()),
            ("POST", "/control/abc")
        );
        assert_eq!(
            serde_json::from_str::<Value>(&seen[0].body).unwrap(),
            expected
        );
    }
    assert_eq!(gw.call("act-1").await["state"], "ai_paused");
    // Resume through DELETE pause-ai.
    let r = gw
        .http
        .delete(format!("{}/api/calls/{id}/pause-ai", gw.url))
        .bearer_auth(SUP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        serde_json::from_str::<Value>(&api.take()[0].body).unwrap(),
        json!({"type": "control", "control": "unmute-assistant"})
    );
    // A stand-in that fails, hangs or answers garbage: 502 naming Vapi, call unchanged.
    for (mode, words) in [
        (Mode::Fail, "500"),
        (Mode::Hang, "did not answer within 1 s"),
        (Mode::Garbage, "not JSON"),
    ] {
        api.set(mode);
        let (s, v) = gw.act(&id, "end", json!({})).await;
        assert_eq!(s, 502, "{v}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains("Vapi") && msg.contains(words), "{msg}");
        assert_eq!(gw.call("act-1").await["state"], "in_progress");
    }
    api.set(Mode::Ok);
    api.take();
    let (s, _) = gw.act(&id, "end", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&api.take()[0].body).unwrap(),
        json!({"type": "end-call"})
    );
    assert_eq!(gw.call("act-1").await["outcome"], "ended_by_supervisor");
    gw.stop().await;
}

#[tokio::test]
async fn retell_events_in_any_order_and_its_api() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let live = json!({"call_id": "r-1", "agent_id": "agent_9", "call_status": "ongoing",
        "direction": "inbound", "from_number": "+15551230002", "to_number": "+15559870000",
        "start_timestamp": 1_763_683_200_000_i64,
        "transcript_object": [{"role": "agent", "content": "Hello, Riley speaking."},
                              {"role": "user", "content": "I need to"}]});
    assert_eq!(gw.retell("call_started", live.clone()).await.0, 200);
    assert_eq!(gw.retell("transcript_updated", live.clone()).await.0, 200);
    let t = gw.transcript("r-1").await;
    assert_eq!(t[1], ("caller".into(), "I need to".into(), false));
    let c = gw.call("r-1").await;
    assert_eq!(
        (c["provider"].clone(), c["state"].clone()),
        (json!("Retell"), json!("in_progress"))
    );
    // Instruct and end through Retell's API; pause is refused naming Retell.
    let id = c["id"].as_str().unwrap().to_string();
    api.take();
    let (s, _) = gw
        .act(&id, "instruct", json!({"text": "Offer Tuesday."}))
        .await;
    assert_eq!(s, 200);
    let seen = api.take();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("PATCH", "/v2/update-live-call/r-1")
    );
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {RETELL_KEY}")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).unwrap(),
        json!({"call_control": {"additional_context": "Offer Tuesday.", "trigger_response": true}})
    );
    let (s, v) = gw.act(&id, "pause-ai", json!({})).await;
    assert_eq!(s, 422);
    assert_eq!(v["message"], "Retell cannot pause the AI");
    assert!(
        api.take().is_empty(),
        "an unsupported action never reaches the provider"
    );
    // call_analyzed before call_ended (Retell retries and reorders): one end, analysis kept.
    assert_eq!(
        gw.retell("call_analyzed", retell_call("r-1", "ended"))
            .await
            .0,
        200
    );
    let (s, v) = gw.retell("call_ended", retell_call("r-1", "ended")).await;
    assert_eq!((s, v["accepted"].clone()), (200, json!(0)), "{v}");
    gw.retell("transfer_started", retell_call("r-1", "ended"))
        .await;
    let c = gw.call("r-1").await;
    assert_eq!(c["state"], "ended");
    assert_eq!(c["cost"], 0.42);
    assert_eq!(c["duration_secs"], 90.0);
    assert_eq!(c["sentiment"], "positive");
    assert_eq!(c["summary"], "Caller moved an appointment.");
    assert_eq!(c["recording_url"], "https://retell.example/rec/1.wav");
    let t = gw.transcript("r-1").await;
    assert_eq!(
        t[1],
        (
            "caller".into(),
            "I need to move my appointment.".into(),
            true
        )
    );
    // Stale and forged signatures.
    let body = serde_json::to_vec(&json!({"event": "call_started", "call": live})).unwrap();
    let old = retell::sign(
        RETELL_KEY,
        &body,
        chrono::Utc::now().timestamp_millis() - 10 * 60 * 1000,
    );
    let (s, v) = gw
        .post(
            "/webhooks/retell",
            &[("x-retell-signature", old), ct()],
            body.clone(),
        )
        .await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("window"), "{v}");
    let forged = retell::sign("key_other", &body, chrono::Utc::now().timestamp_millis());
    assert_eq!(
        gw.post(
            "/webhooks/retell",
            &[("x-retell-signature", forged), ct()],
            body
        )
        .await
        .0,
        401
    );
    assert_eq!(gw.retell("made_up", live).await.0, 422);
    gw.stop().await;
}

#[tokio::test]
async fn twilio_callbacks_signed_over_the_public_url_reordered_and_recorded() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let base = [
        ("CallSid", "CA111"),
        ("AccountSid", "AC0001"),
        ("From", "+15551230003"),
        ("To", "+15559870000"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
        ("CallbackSource", "call-progress-events"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        base.iter().chain(extra.iter()).copied().collect()
    };
    // in-progress (2) arrives before ringing (1): ringing is dropped, the call stays up.
    let (s, v) = gw
        .twilio(
            "/api/calls/status",
            &with(&[("CallStatus", "in-progress"), ("SequenceNumber", "2")]),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    gw.twilio(
        "/webhooks/twilio/status",
        &with(&[("CallStatus", "ringing"), ("SequenceNumber", "1")]),
    )
    .await;
    let c = gw.call("CA111").await;
    assert_eq!(
        (c["state"].clone(), c["provider"].clone()),
        (json!("in_progress"), json!("Twilio"))
    );
    assert_eq!(
        c["capabilities"],
        json!(["end", "dial", "transfer", "phone_take_over"])
    );
    // End through the Calls API.
    let id = c["id"].as_str().unwrap().to_string();
    let (s, v) = gw.act(&id, "say", json!({"text": "hi"})).await;
    assert_eq!(
        (s, v["message"].clone()),
        (422, json!("Twilio cannot speak text to the caller"))
    );
    api.take();
    let (s, _) = gw.act(&id, "end", json!({})).await;
    assert_eq!(s, 200);
    let seen = api.take();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/2010-04-01/Accounts/AC0001/Calls/CA111.json")
    );
    assert_eq!(seen[0].body, "Status=completed");
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("AC0001:{TWILIO_TOKEN}"),
    );
    assert_eq!(seen[0].headers["authorization"], format!("Basic {basic}"));
    // The completed callback fills in the duration; a recording arrives after.
    gw.twilio(
        "/api/calls/status",
        &with(&[
            ("CallStatus", "completed"),
            ("SequenceNumber", "3"),
            ("CallDuration", "47"),
        ]),
    )
    .await;
    let (s, _) = gw
        .twilio(
            "/api/calls/recording",
            &[
                ("AccountSid", "AC0001"),
                ("CallSid", "CA111"),
                ("RecordingSid", "RE1"),
                ("RecordingUrl", "https://api.twilio.com/rec/RE1"),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", "45"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let c = gw.call("CA111").await;
    assert_eq!(c["state"], "ended");
    assert_eq!(c["outcome"], "ended_by_supervisor");
    assert_eq!(c["duration_secs"], 47.0);
    assert_eq!(c["recording_url"], "https://api.twilio.com/rec/RE1");
    // A signature over another URL (a proxy rewrote it) is refused.
    let params: Vec<(String, String)> = with(&[("CallStatus", "ringing")])
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sig = twilio::signature(
        TWILIO_TOKEN,
        "http://internal:7878/api/calls/status",
        &params,
    );
    let (s, _) = gw
        .post(
            "/api/calls/status",
            &[
                ("x-twilio-signature", sig),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
            serde_urlencoded::to_string(&params).unwrap().into_bytes(),
        )
        .await;
    assert_eq!(s, 401);
    // JSON callbacks: bodySHA256 in the query, the URL alone signed.
    let body = serde_json::to_vec(&json!({"CallSid": "CA222", "CallStatus": "ringing", "From": "+1555", "To": "+1666", "Direction": "inbound"})).unwrap();
    let path = format!(
        "/api/calls/status?bodySHA256={}",
        hex::encode(Sha256::digest(&body))
    );
    let sig = twilio::signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &[]);
    let (s, v) = gw
        .post(
            &path,
            &[("x-twilio-signature", sig.clone()), ct()],
            body.clone(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(gw.call("CA222").await["state"], "ringing");
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(
        gw.post(&path, &[("x-twilio-signature", sig), ct()], tampered)
            .await
            .0,
        401
    );
    gw.stop().await;
}

#[tokio::test]
async fn post_call_providers_fill_history() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    // Bland: the call object, hex HMAC of the body.
    let bland = serde_json::to_vec(&json!({
        "call_id": "b-1", "call_length": 1.5, "to": "+15551230004", "from": "+15559870000",
        "inbound": false, "created_at": "2025-11-21T07:00:00Z", "started_at": "2025-11-21T07:00:05Z",
        "end_at": "2025-11-21T07:01:35Z", "completed": true, "status": "completed",
        "answered_by": "human", "call_ended_by": "USER", "summary": "Booked a demo.", "price": 0.135,
        "recording_url": "https://bland.example/rec.mp3", "variables": {}, "metadata": {},
        "transcripts": [{"id": 1, "created_at": "2025-11-21T07:00:06Z", "text": "Hi, this is Blair.", "user": "assistant"},
                        {"id": 2, "created_at": "2025-11-21T07:00:09Z", "text": "Sure, Tuesday works.", "user": "user"}],
        "concatenated_transcript": "...", "error_message": null
    })).unwrap();
    let sig = hex_hmac(BLAND_SECRET, &[&bland]);
    assert_eq!(
        gw.post(
            "/webhooks/bland",
            &[("x-webhook-signature", sig.clone()), ct()],
            bland.clone()
        )
        .await
        .0,
        200
    );
    let (s, v) = gw
        .post(
            "/webhooks/bland",
            &[("x-webhook-signature", sig), ct()],
            bland,
        )
        .await;
    assert_eq!(
        (s, v["duplicate"].clone()),
        (200, json!(true)),
        "a redelivery changes nothing"
    );
    let c = gw.call("b-1").await;
    assert_eq!(
        (
            c["state"].clone(),
            c["direction"].clone(),
            c["cost"].clone()
        ),
        (json!("ended"), json!("outbound"), json!(0.135))
    );
    assert_eq!(
        (c["duration_secs"].clone(), c["summary"].clone()),
        (json!(90.0), json!("Booked a demo."))
    );
    assert_eq!(gw.transcript("b-1").await.len(), 2);
    // ElevenLabs: t=,v0= over "t.body".
    let eleven = serde_json::to_vec(&json!({
        "type": "post_call_transcription", "event_timestamp": 1_763_683_300,
        "data": {"agent_id": "agent_e", "conversation_id": "conv_1", "status": "done",
            "transcript": [{"role": "agent", "message": "Hello from Eleven.", "time_in_call_secs": 0},
                           {"role": "user", "message": "Hi there.", "time_in_call_secs": 2}],
            "metadata": {"start_time_unix_secs": 1_763_683_200, "call_duration_secs": 33,
                "phone_call": {"direction": "inbound", "agent_number": "+15559870000", "external_number": "+15551230005"}},
            "analysis": {"call_successful": "success", "transcript_summary": "Greeting only."}}
    })).unwrap();
    let t = chrono::Utc::now().timestamp();
    let sig = format!(
        "t={t},v0={}",
        hex_hmac(ELEVEN_SECRET, &[t.to_string().as_bytes(), b".", &eleven])
    );
    let (s, v) = gw
        .post(
            "/webhooks/eleven",
            &[("elevenlabs-signature", sig), ct()],
            eleven.clone(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let c = gw.call("conv_1").await;
    assert_eq!(
        (
            c["provider"].clone(),
            c["from"].clone(),
            c["summary"].clone()
        ),
        (
            json!("ElevenLabs"),
            json!("+15551230005"),
            json!("Greeting only.")
        )
    );
    assert_eq!(c["duration_secs"], 33.0);
    let stale = format!(
        "t={},v0={}",
        t - 3600,
        hex_hmac(
            ELEVEN_SECRET,
            &[(t - 3600).to_string().as_bytes(), b".", &eleven]
        )
    );
    assert_eq!(
        gw.post(
            "/webhooks/eleven",
            &[("elevenlabs-signature", stale), ct()],
            eleven
        )
        .await
        .0,
        401
    );
    // Synthflow: signature over the call id.
    let synth = serde_json::to_vec(&json!({
        "status": "completed", "error_message": "",
        "lead": {"name": "Jo", "phone_number": "+15551230006", "prompt_variables": {}},
        "call": {"status": "completed", "end_call_reason": "agent_goodbye", "model_id": "model_1",
            "call_id": "sf-1", "duration": 113, "start_time": 1_763_683_200,
            "transcript": "bot: Hi Jo, it's Sam.\nhuman: Hi Sam.",
            "recording_url": "https://synthflow.example/rec.wav"}
    }))
    .unwrap();
    let (s, v) = gw
        .post(
            "/webhooks/synthflow",
            &[
                (
                    "synthflow-signature",
                    synthflow::sign(SYNTHFLOW_SECRET, "sf-1"),
                ),
                ct(),
            ],
            synth.clone(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let c = gw.call("sf-1").await;
    assert_eq!(
        (c["provider"].clone(), c["duration_secs"].clone()),
        (json!("Synthflow"), json!(113.0))
    );
    assert_eq!(
        gw.transcript("sf-1").await[1],
        ("caller".into(), "Hi Sam.".into(), true)
    );
    assert_eq!(
        gw.post(
            "/webhooks/synthflow",
            &[
                ("synthflow-signature", synthflow::sign("other", "sf-1")),
                ct()
            ],
            synth
        )
        .await
        .0,
        401
    );
    // Dograh: bearer secret on its webhook node.
    let dograh = serde_json::to_vec(&json!({
        "workflow_run_id": 77, "workflow_id": 5, "campaign_id": 3, "call_time": "2025-11-21T07:00:00Z",
        "gathered_context": {"phone_number": "+15551230007", "call_disposition": "interested"},
        "cost_info": {"call_duration_seconds": 58}, "recording_url": "https://dograh.example/77.wav",
        "transcript_url": "https://dograh.example/77.txt"
    })).unwrap();
    let (s, v) = gw
        .post(
            "/webhooks/dograh",
            &[("authorization", format!("Bearer {DOGRAH_SECRET}")), ct()],
            dograh,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let c = gw.call("77").await;
    assert_eq!(
        (
            c["provider"].clone(),
            c["intent"].clone(),
            c["recording_url"].clone()
        ),
        (
            json!("Dograh"),
            json!("interested"),
            json!("https://dograh.example/77.wav")
        )
    );
    // A post-call delivery is history: the call has ended, so no action applies.
    let id = c["id"].as_str().unwrap().to_string();
    let (s, v) = gw.act(&id, "end", json!({})).await;
    assert_eq!(s, 409, "{v}");
    let a = gw
        .get("/api/calls/analytics?from=2020-01-01T00:00:00Z")
        .await;
    assert_eq!(a["total_calls"], 4);
    assert!(api.take().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn bland_end_and_every_dial_send_the_documented_request() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let cfg = config(&api.url);
    let http = reqwest::Client::new();
    let item: callwatch::core::model::QueueItem = serde_json::from_value(json!({
        "id": "q-1", "org": "acme", "lead": {"name": "Dana"}, "phone_number": "+15551239999",
        "agent_settings": {}, "state": "pending", "attempts": 0,
        "created_at": chrono::Utc::now(), "updated_at": chrono::Utc::now()
    }))
    .unwrap();
    let mut dialed = Vec::new();
    for name in ["vapi", "retell", "twilio", "bland"] {
        let i = cfg.integrations.iter().find(|i| i.name == name).unwrap();
        let (p, _) = callwatch::gateway::providers::build(i, Some(PUBLIC), http.clone());
        let started = p.dial(&item).await.unwrap();
        let seen = api.take().remove(0);
        dialed.push((name, started.provider_call_id, seen));
    }
    let (_, id, vapi) = &dialed[0];
    assert_eq!((id.as_str(), vapi.path.as_str()), ("vapi-new", "/call"));
    assert_eq!(vapi.headers["authorization"], "Bearer vapi_private_key");
    let body: Value = serde_json::from_str(&vapi.body).unwrap();
    assert_eq!(body["customer"]["number"], "+15551239999");
    assert_eq!(body["metadata"]["callwatch_queue_item_id"], "q-1");
    assert_eq!(
        (body["assistantId"].clone(), body["phoneNumberId"].clone()),
        (json!("asst_1"), json!("pn_1"))
    );
    let (_, id, retell) = &dialed[1];
    assert_eq!(
        (id.as_str(), retell.path.as_str()),
        ("new-call", "/v2/create-phone-call")
    );
    let body: Value = serde_json::from_str(&retell.body).unwrap();
    assert_eq!(
        (
            body["from_number"].clone(),
            body["to_number"].clone(),
            body["override_agent_id"].clone()
        ),
        (
            json!("+15550002222"),
            json!("+15551239999"),
            json!("agent_9")
        )
    );
    let (_, id, tw) = &dialed[2];
    assert_eq!(
        (id.as_str(), tw.path.as_str()),
        ("CAnew", "/2010-04-01/Accounts/AC0001/Calls.json")
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&tw.body).unwrap();
    let get = |k: &str| {
        form.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("To"), ["+15551239999"]);
    assert_eq!(get("Url"), ["https://twiml.example.com/ai"]);
    assert_eq!(
        get("StatusCallback"),
        [format!("{PUBLIC}/webhooks/twilio/status?queue_item_id=q-1")]
    );
    assert_eq!(get("StatusCallbackEvent").len(), 4);
    let (_, id, bland) = &dialed[3];
    assert_eq!(
        (id.as_str(), bland.path.as_str()),
        ("new-call", "/v1/calls")
    );
    assert_eq!(bland.headers["authorization"], "bland_api_key");
    // Bland's end: POST /v1/calls/{id}/stop.
    let i = cfg.integrations.iter().find(|i| i.name == "bland").unwrap();
    let (p, _) = callwatch::gateway::providers::build(i, None, http.clone());
    let call: callwatch::core::model::Call = serde_json::from_value(json!({
        "id": "c", "org": "acme", "integration": "bland", "provider": "Bland", "provider_call_id": "b-9",
        "direction": "outbound", "from": "", "to": "", "state": "in_progress",
        "created_at": chrono::Utc::now(), "updated_at": chrono::Utc::now()
    })).unwrap();
    p.perform(&call, &callwatch::core::action::Action::End, "sam")
        .await
        .unwrap();
    let seen = api.take().remove(0);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/calls/b-9/stop")
    );
    // A dial whose stand-in answers garbage names the provider.
    api.set(Mode::Garbage);
    let err = p.dial(&item).await.unwrap_err().to_string();
    assert!(err.contains("Bland") && err.contains("not JSON"), "{err}");
    gw.stop().await;
}

// ------------------------------------------------------------ convergence ----

/// One delivery a provider may send, late, twice or out of order.
#[derive(Clone, Debug)]
enum Delivery {
    Twilio(&'static str, Vec<(&'static str, String)>),
    Retell(&'static str, Value),
}

fn deliveries(n: usize) -> Vec<Delivery> {
    let sid = format!("CAp{n}");
    let tw = |extra: &[(&'static str, &str)]| {
        let mut p: Vec<(&'static str, String)> = vec![
            ("CallSid", sid.clone()),
            ("From", "+15551230003".into()),
            ("To", "+15559870000".into()),
            ("Direction", "outbound-api".into()),
        ];
        p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        p
    };
    let rid = format!("rp-{n}");
    let mut live = retell_call(&rid, "ongoing");
    live["transcript_object"][1]["content"] = json!("I need to");
    vec![
        Delivery::Twilio(
            "/api/calls/status",
            tw(&[("CallStatus", "ringing"), ("SequenceNumber", "1")]),
        ),
        Delivery::Twilio(
            "/api/calls/status",
            tw(&[("CallStatus", "in-progress"), ("SequenceNumber", "2")]),
        ),
        Delivery::Twilio(
            "/api/calls/status",
            tw(&[
                ("CallStatus", "completed"),
                ("SequenceNumber", "3"),
                ("CallDuration", "47"),
            ]),
        ),
        Delivery::Twilio(
            "/api/calls/recording",
            tw(&[
                ("RecordingSid", "RE9"),
                ("RecordingUrl", "https://api.twilio.com/rec/RE9"),
                ("RecordingStatus", "completed"),
            ]),
        ),
        // A second call still up: its state depends on ordering by SequenceNumber alone.
        Delivery::Twilio("/api/calls/status", live_tw(n, "ringing", "1")),
        Delivery::Twilio("/api/calls/status", live_tw(n, "in-progress", "2")),
        Delivery::Retell("call_started", live.clone()),
        Delivery::Retell("transcript_updated", live),
        Delivery::Retell("call_ended", retell_call(&rid, "ended")),
        Delivery::Retell("call_analyzed", retell_call(&rid, "ended")),
    ]
}

fn live_tw(n: usize, status: &str, seq: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CallSid", format!("CAq{n}")),
        ("From", "+15551230008".into()),
        ("To", "+15559870000".into()),
        ("Direction", "inbound".into()),
        ("CallStatus", status.into()),
        ("SequenceNumber", seq.into()),
    ]
}

/// What must not depend on the order of deliveries.
async fn final_state(gw: &Gw, pcid: &str) -> Value {
    let c = gw.call(pcid).await;
    json!({
        "state": c["state"], "outcome": c["outcome"], "duration": c["duration_secs"],
        "cost": c["cost"], "recording": c["recording_url"], "sentiment": c["sentiment"],
        "summary": c["summary"], "from": c["from"], "to": c["to"],
        "transcript": gw.transcript(pcid).await,
    })
}

#[test]
fn duplicated_reordered_and_replayed_deliveries_converge() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let api = rt.block_on(StandIn::start());
    let gw = rt.block_on(Gw::start(&api.url));
    let send = |d: &Delivery| {
        let gw = &gw;
        let d = d.clone();
        async move {
            let (s, v) = match &d {
                Delivery::Twilio(path, params) => {
                    let p: Vec<(&str, &str)> =
                        params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    gw.twilio(path, &p).await
                }
                Delivery::Retell(event, call) => gw.retell(event, call.clone()).await,
            };
            assert_eq!(s, 200, "{d:?}: {v}");
        }
    };
    // The reference: each delivery once, in the order the providers send them.
    rt.block_on(async {
        for d in deliveries(0) {
            send(&d).await;
        }
    });
    let want = (
        rt.block_on(final_state(&gw, "CAp0")),
        rt.block_on(final_state(&gw, "rp-0")),
        rt.block_on(final_state(&gw, "CAq0")),
    );
    assert_eq!(want.2["state"], "in_progress");
    assert_eq!(want.0["state"], "ended");
    assert_eq!(want.1["transcript"].as_array().unwrap().len(), 2);
    let count = deliveries(0).len();
    let orders = proptest::collection::vec(0..count, 0..8).prop_flat_map(move |extra| {
        let mut all: Vec<usize> = (0..count).collect();
        all.extend(extra);
        Just(all).prop_shuffle()
    });
    let case = std::sync::atomic::AtomicUsize::new(1);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&orders, |order| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let all = deliveries(n);
            let got = rt.block_on(async {
                for i in &order {
                    send(&all[*i]).await;
                }
                (
                    final_state(&gw, &format!("CAp{n}")).await,
                    final_state(&gw, &format!("rp-{n}")).await,
                    final_state(&gw, &format!("CAq{n}")).await,
                )
            });
            prop_assert_eq!(&got, &want, "order {:?}", order);
            Ok(())
        })
        .unwrap();
    rt.block_on(gw.stop());
}

// ------------------------------------------------------------ credentials ----

#[tokio::test]
async fn org_credentials_are_sealed_at_rest_used_by_the_adapter_and_never_returned() {
    const NEW_KEY: &str = "key_from_the_api_0123456789";
    // The vault key comes from the environment; no other test in this binary stores
    // credentials, so setting it here changes nothing for them.
    std::env::set_var(
        callwatch::gateway::credentials::KEY_ENV,
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    );
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let put = |token: &'static str, body: Value| {
        let (http, url) = (
            gw.http.clone(),
            format!("{}/api/integrations/retell/credentials", gw.url),
        );
        async move {
            let r = http
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(put(SUP, json!({"api_key": NEW_KEY})).await.0, 403);
    assert_eq!(put(ADMIN, json!({"api_key": ""})).await.0, 422);
    assert_eq!(put(ADMIN, json!({"token": "x"})).await.0, 400);
    let (s, v) = put(ADMIN, json!({"api_key": NEW_KEY})).await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"integration": "retell", "stored": ["api_key"]}))
    );
    let r = gw
        .http
        .put(format!("{}/api/integrations/nope/credentials", gw.url))
        .bearer_auth(ADMIN)
        .json(&json!({"api_key": "k"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The adapter uses it at once.
    let (s, v) = gw.retell("call_started", json!({"call_id": "cr-1", "call_status": "ongoing", "direction": "inbound", "from_number": "+1", "to_number": "+2"})).await;
    assert_eq!(s, 200, "{v}");
    let id = gw.call("cr-1").await["id"].as_str().unwrap().to_string();
    api.take();
    assert_eq!(gw.act(&id, "end", json!({})).await.0, 200);
    assert_eq!(
        api.take()[0].headers["authorization"],
        format!("Bearer {NEW_KEY}")
    );
    let dir = gw.stop().await;
    // Nowhere in the database files in the clear.
    for name in ["cw.db", "cw.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            assert!(
                !bytes
                    .windows(NEW_KEY.len())
                    .any(|w| w == NEW_KEY.as_bytes()),
                "{name}"
            );
        }
    }
    // After a restart the stored key is used again.
    let gw = Gw::start_in(&api.url, dir).await.unwrap();
    gw.retell("call_started", json!({"call_id": "cr-2", "call_status": "ongoing", "direction": "inbound", "from_number": "+1", "to_number": "+2"})).await;
    let id = gw.call("cr-2").await["id"].as_str().unwrap().to_string();
    api.take();
    assert_eq!(gw.act(&id, "end", json!({})).await.0, 200);
    assert_eq!(
        api.take()[0].headers["authorization"],
        format!("Bearer {NEW_KEY}")
    );
    let dir = gw.stop().await;
    // A different key cannot open them: the gateway refuses to start, saying why.
    std::env::set_var(
        callwatch::gateway::credentials::KEY_ENV,
        "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    );
    let err = Gw::start_in(&api.url, dir).await.err().expect("refused");
    assert!(
        format!("{err:#}").contains("cannot be decrypted"),
        "{err:#}"
    );
}

// ------------------------------------------------------------------ queue ----

#[tokio::test]
async fn the_queue_dials_through_vapi_and_its_webhook_links_the_call_to_the_item() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let r = gw
        .http
        .post(format!("{}/api/calls/initiate", gw.url))
        .bearer_auth(SUP)
        .json(&json!({"leadName": "Kim", "phoneNumber": "+15550102030", "campaignId": "renewals"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let qid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The scheduler (first integration that can dial: Vapi) calls POST /call.
    let mut dial = None;
    for _ in 0..100 {
        if let Some(seen) = api.take().into_iter().find(|s| s.path == "/call") {
            dial = Some(seen);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dial = dial.expect("the queue dialled through Vapi");
    let body: Value = serde_json::from_str(&dial.body).unwrap();
    assert_eq!(body["customer"]["number"], "+15550102030");
    assert_eq!(body["metadata"]["callwatch_queue_item_id"], qid.as_str());
    // Vapi reports the call with the metadata it was given.
    let mut call = vapi_call("vapi-new", &format!("{}/control/q", api.url));
    call["type"] = json!("outboundPhoneCall");
    call["metadata"] = json!({"callwatch_queue_item_id": qid});
    let (s, v) = gw
        .vapi(json!({"type": "status-update", "status": "in-progress", "call": call}))
        .await;
    assert_eq!(s, 200, "{v}");
    let c = gw.call("vapi-new").await;
    assert_eq!(
        (
            c["queue_item_id"].as_str(),
            c["direction"].as_str(),
            c["campaign"].as_str()
        ),
        (Some(qid.as_str()), Some("outbound"), Some("renewals"))
    );
    assert_eq!(c["to"], "+15551230001");
    let q = gw.get("/api/calls/queue").await;
    let item = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == qid.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        (item["state"].clone(), item["call_id"].clone()),
        (json!("dialing"), c["id"].clone())
    );
    gw.stop().await;
}

/// The body a stand-in received, as JSON.
fn body_json(seen: &Seen) -> Value {
    serde_json::from_str(&seen.body).unwrap_or_else(|e| panic!("{e}: {}", seen.body))
}

/// A Twilio form body's value of `key`.
fn form_value(seen: &Seen, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&seen.body)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn transfer_reaches_vapi_and_twilio_as_documented_and_retell_refuses_it() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let control = format!("{}/control/x1", api.url);
    let vapi_live = |id: &str| json!({"type": "status-update", "status": "in-progress", "call": vapi_call(id, &control)});

    // The org's destinations and the asker's own phone.
    let r = gw
        .http
        .get(format!("{}/api/destinations", gw.url))
        .bearer_auth(DANA)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["my_phone"], DANA_PHONE);
    assert_eq!(
        list["destinations"][0],
        json!({"name": "Sales desk", "to": SALES})
    );

    // Vapi, cold, to a named destination: the documented transfer message, the call ends
    // `transferred`, and its transcript says where it went and who sent it.
    gw.vapi(vapi_live("x-1")).await;
    let id = gw.call("x-1").await["id"].as_str().unwrap().to_string();
    api.take();
    let (s, v) = gw
        .act(&id, "transfer", json!({"destination": "sales DESK"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let seen = api.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/control/x1")
    );
    assert_eq!(
        body_json(&seen[0]),
        json!({"type": "transfer", "destination": {"type": "number", "number": SALES}})
    );
    let c = gw.call("x-1").await;
    assert_eq!(
        (c["state"].clone(), c["outcome"].clone()),
        (json!("ended"), json!("transferred"))
    );
    let lines = gw.transcript("x-1").await;
    assert!(
        lines.contains(&(
            "system".into(),
            format!("transferred to Sales desk ({SALES}) by sam"),
            true
        )),
        "{lines:?}"
    );
    let audit = gw.get(&format!("/api/audit?call_id={id}")).await;
    let entry = &audit["entries"][0];
    assert_eq!(
        (entry["action"].clone(), entry["ok"].clone()),
        (json!("transfer"), json!(true))
    );
    assert_eq!(entry["detail"]["to"], SALES);

    // Vapi, warm, to a SIP URI with a summary for the receiving person.
    gw.vapi(vapi_live("x-2")).await;
    let id = gw.call("x-2").await["id"].as_str().unwrap().to_string();
    api.take();
    let (s, v) = gw
        .act(
            &id,
            "transfer",
            json!({"to": "sip:desk@pbx.example.com", "mode": "warm", "summary": "Wants a refund."}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        body_json(&api.take()[0]),
        json!({"type": "transfer", "destination": {"type": "sip", "sipUri": "sip:desk@pbx.example.com",
            "transferPlan": {"mode": "warm-transfer-say-message", "message": "Wants a refund."}}})
    );

    // Bad requests: 422 naming the field, nothing sent, nothing audited as a transfer.
    gw.vapi(vapi_live("x-3")).await;
    let id = gw.call("x-3").await["id"].as_str().unwrap().to_string();
    api.take();
    for (body, field) in [
        (json!({"to": "555-0100"}), "to"),
        (json!({"destination": "Nowhere"}), "destination"),
        (json!({"to": SALES, "destination": "Billing"}), "to"),
        (json!({}), "to"),
    ] {
        let (s, v) = gw.act(&id, "transfer", body.clone()).await;
        assert_eq!((s, v["field"].clone()), (422, json!(field)), "{body}: {v}");
    }
    assert!(api.take().is_empty());
    assert_eq!(gw.call("x-3").await["state"], "in_progress");

    // Twilio: the live call is updated with TwiML that dials; warm is refused up front.
    let tw = |status: &'static str, seq: &'static str| {
        vec![
            ("CallSid", "CA222"),
            ("AccountSid", "AC0001"),
            ("From", "+15551230003"),
            ("To", "+15559870000"),
            ("Direction", "inbound"),
            ("CallStatus", status),
            ("SequenceNumber", seq),
        ]
    };
    gw.twilio("/api/calls/status", &tw("in-progress", "1"))
        .await;
    let id = gw.call("CA222").await["id"].as_str().unwrap().to_string();
    api.take();
    let (s, v) = gw
        .act(&id, "transfer", json!({"to": SALES, "mode": "warm"}))
        .await;
    assert_eq!(
        (s, v["message"].clone()),
        (
            422,
            json!("Twilio cannot transfer the call warm (with a summary first); transfer cold instead")
        )
    );
    assert!(api.take().is_empty());
    let (s, v) = gw
        .act(&id, "transfer", json!({"destination": "Billing"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let seen = api.take();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/2010-04-01/Accounts/AC0001/Calls/CA222.json")
    );
    assert_eq!(
        form_value(&seen[0], "Twiml").as_deref(),
        Some("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial><Sip>sip:billing@pbx.example.com</Sip></Dial></Response>")
    );
    assert_eq!(gw.call("CA222").await["outcome"], "transferred");
    // Twilio's own completed callback later only fills in the figures.
    gw.twilio("/api/calls/status", &{
        let mut p = tw("completed", "2");
        p.push(("CallDuration", "61"));
        p
    })
    .await;
    let c = gw.call("CA222").await;
    assert_eq!(
        (c["outcome"].clone(), c["duration_secs"].clone()),
        (json!("transferred"), json!(61.0))
    );

    // Retell has no live transfer API: 422 naming it, audited as refused, nothing sent.
    let live = json!({"call_id": "r-x", "agent_id": "agent_9", "call_status": "ongoing",
        "direction": "inbound", "from_number": "+15551230002", "to_number": "+15559870000",
        "start_timestamp": 1_763_683_200_000_i64});
    gw.retell("call_started", live).await;
    let id = gw.call("r-x").await["id"].as_str().unwrap().to_string();
    api.take();
    let (s, v) = gw.act(&id, "transfer", json!({"to": SALES})).await;
    assert_eq!(
        (s, v["message"].clone()),
        (422, json!("Retell cannot transfer the call"))
    );
    assert!(api.take().is_empty());
    let audit = gw.get(&format!("/api/audit?call_id={id}")).await;
    assert_eq!(audit["entries"][0]["ok"], false);
    gw.stop().await;
}

#[tokio::test]
async fn take_over_with_a_voice_bridges_on_vapi_and_twilio_and_text_hands_back() {
    let api = StandIn::start().await;
    let gw = Gw::start(&api.url).await;
    let control = format!("{}/control/t1", api.url);
    let vapi_live = |id: &str| json!({"type": "status-update", "status": "in-progress", "call": vapi_call(id, &control)});

    // Dana has a phone: by default her take over puts the caller through to it.
    gw.vapi(vapi_live("t-1")).await;
    let id = gw.call("t-1").await["id"].as_str().unwrap().to_string();
    api.take();
    let (s, v) = gw
        .act_as(DANA, &id, "takeover", json!({"reason": "VIP caller"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        body_json(&api.take()[0]),
        json!({"type": "transfer", "destination": {"type": "number", "number": DANA_PHONE}})
    );
    let c = gw.call("t-1").await;
    assert_eq!(c["state"], "taken_over");
    assert_eq!(
        (c["takeover"]["by"].clone(), c["takeover"]["phone"].clone()),
        (json!("dana"), json!(DANA_PHONE))
    );
    assert!(gw
        .transcript("t-1")
        .await
        .iter()
        .any(|(_, text, _)| text == "dana took over the call on their phone: VIP caller"));
    // The caller is on her phone: the AI cannot take it back.
    let (s, v) = gw.act_as(DANA, &id, "handback", json!({})).await;
    assert_eq!(
        (s, v["message"].clone()),
        (
            409,
            json!("the caller is on dana's phone, so the AI cannot take the call back")
        )
    );

    // Dana may still choose text; Sam has no phone and asks for one: 422, nothing sent.
    gw.vapi(vapi_live("t-2")).await;
    let id = gw.call("t-2").await["id"].as_str().unwrap().to_string();
    api.take();
    let (s, v) = gw
        .act(&id, "takeover", json!({"reason": "r", "mode": "phone"}))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("no phone"), "{v}");
    assert!(api.take().is_empty());
    let (s, v) = gw
        .act_as(
            DANA,
            &id,
            "takeover",
            json!({"reason": "quiet word", "mode": "text"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        body_json(&api.take()[0]),
        json!({"type": "control", "control": "mute-assistant"})
    );
    assert_eq!(gw.call("t-2").await["takeover"].get("phone"), None);
    // Hand back after type to talk: unmute, in progress again, a system line.
    let (s, v) = gw.act_as(DANA, &id, "handback", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        body_json(&api.take()[0]),
        json!({"type": "control", "control": "unmute-assistant"})
    );
    let c = gw.call("t-2").await;
    assert_eq!(
        (c["state"].clone(), c["takeover"].clone()),
        (json!("in_progress"), Value::Null)
    );
    assert!(gw
        .transcript("t-2")
        .await
        .iter()
        .any(|(_, text, _)| text == "dana handed the call back to the AI"));
    let (s, _) = gw.act(&id, "handback", json!({})).await;
    assert_eq!(s, 409, "nothing to hand back any more");

    // Twilio: take over is by phone only; Sam (no phone) is told why, Dana is dialled.
    let tw = [
        ("CallSid", "CA333"),
        ("AccountSid", "AC0001"),
        ("From", "+15551230003"),
        ("To", "+15559870000"),
        ("Direction", "inbound"),
        ("CallStatus", "in-progress"),
        ("SequenceNumber", "1"),
    ];
    gw.twilio("/api/calls/status", &tw).await;
    let id = gw.call("CA333").await["id"].as_str().unwrap().to_string();
    api.take();
    let (s, v) = gw.act(&id, "takeover", json!({"reason": "r"})).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Twilio can only take over by putting the caller through to a phone"),
        "{v}"
    );
    let (s, v) = gw
        .act_as(
            DANA,
            &id,
            "takeover",
            json!({"reason": "r", "mode": "text"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(api.take().is_empty());
    let (s, v) = gw
        .act_as(DANA, &id, "takeover", json!({"reason": "escalation"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let seen = api.take();
    assert_eq!(seen[0].path, "/2010-04-01/Accounts/AC0001/Calls/CA333.json");
    assert_eq!(
        form_value(&seen[0], "Twiml").as_deref(),
        Some("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>+15550001111</Dial></Response>")
    );
    assert_eq!(gw.call("CA333").await["takeover"]["phone"], DANA_PHONE);
    gw.stop().await;
}
