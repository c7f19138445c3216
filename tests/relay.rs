//! Twilio ConversationRelay through the real gateway: the tests play Twilio's side of the
//! websocket (messages as in Twilio's docs, a signed handshake) and run a local stand-in of
//! an OpenAI-compatible chat-completions endpoint (streaming, with delays and failures).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use callwatch::core::model::Role;
use callwatch::gateway::config::{GatewayConfig, IntegrationConfig, IntegrationKind};
use callwatch::gateway::providers::relay::RelaySettings;
use callwatch::gateway::providers::twilio;
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SUP: &str = "tok_acme_supervisor";
const DANA: &str = "tok_acme_dana_phone";
const SALES: &str = "+15550002222";
const DANA_PHONE: &str = "+15550001111";
const TOKEN: &str = "twilio_relay_token";
const PUBLIC: &str = "https://callwatch.example.com";
const SOCKET: &str = "wss://callwatch.example.com/webhooks/relay/relay";
const APOLOGY: &str = "Sorry, one moment please.";
const HOLDING: &str = "Please hold for a moment.";
const GREETING: &str = "Hi, this is an AI assistant for Acme. How can I help?";

// ------------------------------------------------------------ stand-in model ----

#[derive(Clone, Copy, PartialEq, Debug)]
enum ModelMode {
    /// Answers "You said: <last user message>." in three tokens, `delay` apart.
    Echo {
        delay_ms: u64,
    },
    Fail,
    Hang,
}

#[derive(Clone)]
struct Model {
    url: String,
    mode: Arc<Mutex<ModelMode>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

type ModelState = (Arc<Mutex<ModelMode>>, Arc<Mutex<Vec<Value>>>);

async fn completions(
    State((mode, requests)): State<ModelState>,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::response::Response {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut logged = request.clone();
    logged["authorization"] = json!(headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default());
    requests.lock().unwrap().push(logged);
    let mode = *mode.lock().unwrap();
    match mode {
        ModelMode::Fail => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
        ModelMode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "".into_response()
        }
        ModelMode::Echo { delay_ms } => {
            let last_user = request["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
                .and_then(|m| m["content"].as_str())
                .unwrap_or_default()
                .to_string();
            let tokens = vec!["You said: ".to_string(), last_user, ".".to_string()];
            let stream = futures::stream::iter(tokens.into_iter().enumerate()).then(
                move |(i, t)| async move {
                    if i > 0 && delay_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    }
                    let line = json!({"choices": [{"delta": {"content": t}}]});
                    Ok::<_, std::io::Error>(format!("data: {line}\n\n"))
                },
            );
            let done = futures::stream::once(async { Ok("data: [DONE]\n\n".to_string()) });
            (
                [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                axum::body::Body::from_stream(stream.chain(done)),
            )
                .into_response()
        }
    }
}

impl Model {
    async fn start() -> Model {
        let mode = Arc::new(Mutex::new(ModelMode::Echo { delay_ms: 0 }));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(completions))
            .with_state((mode.clone(), requests.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Model {
            url,
            mode,
            requests,
        }
    }

    fn set(&self, mode: ModelMode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

// ------------------------------------------------------------ the gateway ----

struct Gw {
    url: String,
    running: Option<RunningGateway>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn config(model: &str) -> GatewayConfig {
    let mut relay =
        IntegrationConfig::new("relay", IntegrationKind::ConversationRelay, "acme", TOKEN);
    let mut settings = RelaySettings {
        model_base_url: model.to_string(),
        model: "stand-in-model".into(),
        model_api_key: Some("sk-test-model-key".into()),
        model_timeout_secs: 1,
        apology: APOLOGY.into(),
        holding_line: HOLDING.into(),
        ..RelaySettings::default()
    };
    settings.default_profile.welcome_greeting = GREETING.into();
    settings.default_profile.prompt = "You book appointments for Acme.".into();
    relay.relay = Some(settings);
    let mut config = GatewayConfig::default()
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_token("dana", DANA, "acme", Role::Supervisor)
        .with_integration(relay);
    config.public_url = Some(PUBLIC.into());
    config.tokens[1].phone = Some(DANA_PHONE.into());
    config.destinations = vec![
        callwatch::gateway::config::destinations::DestinationConfig {
            org: "acme".into(),
            name: "Sales desk".into(),
            to: SALES.into(),
        },
    ];
    config
}

impl Gw {
    async fn start(model: &Model) -> Gw {
        let dir = tempfile::tempdir().unwrap();
        let running = start(GatewayOptions::new(
            config(&model.url),
            dir.path().join("cw.db"),
        ))
        .await
        .unwrap();
        Gw {
            url: running.url(),
            running: Some(running),
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(SUP)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn act_as(&self, token: &str, id: &str, action: &str, body: Value) -> (u16, Value) {
        let method = if action == "resume" {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::POST
        };
        let path = if action == "resume" {
            "pause-ai"
        } else {
            action
        };
        let r = self
            .http
            .request(method, format!("{}/api/calls/{id}/{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn act(&self, id: &str, action: &str, body: Value) {
        let (status, v) = self.act_as(SUP, id, action, body).await;
        assert_eq!(status, 200, "{action}: {v}");
    }

    /// A signed form POST as Twilio sends it; the body of the answer as text.
    async fn twilio_post(
        &self,
        path: &str,
        params: &[(&str, &str)],
        signed: bool,
    ) -> (u16, String) {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sig = if signed {
            twilio::signature(TOKEN, &format!("{PUBLIC}{path}"), &owned)
        } else {
            "bm90IGEgc2lnbmF0dXJl".into()
        };
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("x-twilio-signature", sig)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&owned).unwrap())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// The call with this CallSid, waiting until `ok` holds for it.
    async fn call_until(&self, sid: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            let mut calls = self.get("/api/calls?limit=100").await["calls"].clone();
            if let (Some(all), Some(active)) = (
                calls.as_array_mut(),
                self.get("/api/calls/active").await["calls"].as_array(),
            ) {
                all.extend(active.iter().cloned());
            }
            if let Some(c) = calls
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["provider_call_id"] == sid)
            {
                if ok(c) {
                    return c.clone();
                }
                last = c.clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("call {sid} never got {what}: {last}");
    }

    async fn transcript(&self, id: &str) -> Vec<(String, String)> {
        let t = self.get(&format!("/api/calls/{id}/transcript")).await;
        t["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["final"] == true)
            .map(|e| {
                (
                    e["speaker"].as_str().unwrap().to_string(),
                    e["text"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    async fn transcript_until(&self, id: &str, want: (&str, &str)) -> Vec<(String, String)> {
        let mut t = Vec::new();
        for _ in 0..200 {
            t = self.transcript(id).await;
            if t.iter().any(|(s, x)| s == want.0 && x == want.1) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("transcript never had {want:?}: {t:?}");
    }
}

// ------------------------------------------------------------ Twilio's side ----

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Twilio {
    ws: Ws,
}

impl Twilio {
    async fn connect(gw: &Gw, signature: Option<String>) -> Result<Twilio, u16> {
        let url = format!(
            "{}/webhooks/relay/relay",
            gw.url.replace("http://", "ws://")
        );
        let mut req = url.into_client_request().unwrap();
        let sig = signature.unwrap_or_else(|| twilio::signature(TOKEN, SOCKET, &[]));
        req.headers_mut()
            .insert("x-twilio-signature", sig.parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Twilio { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }

    /// Connects and sends `setup` for an inbound call.
    async fn call(gw: &Gw, sid: &str) -> Twilio {
        let mut t = Twilio::connect(gw, None).await.unwrap();
        t.send(json!({
            "type": "setup",
            "sessionId": format!("VX{sid}"),
            "accountSid": "ACtest",
            "parentCallSid": "",
            "callSid": sid,
            "from": "+15557770000",
            "to": "+15558880000",
            "forwardedFrom": "+15558880000",
            "callType": "PSTN",
            "callerName": "",
            "direction": "inbound",
            "callStatus": "RINGING",
            "customParameters": {}
        }))
        .await;
        t
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    async fn say(&mut self, words: &str) {
        self.send(json!({"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": true}))
            .await;
    }

    async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message from the gateway within 5 s")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(t) = frame {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    /// Nothing arrives for a moment.
    async fn quiet(&mut self) {
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(300), self.ws.next()).await
        {
            panic!("expected nothing, got {t}");
        }
    }

    /// Text tokens up to the one with `last: true`, joined.
    async fn spoken(&mut self) -> String {
        let mut out = String::new();
        loop {
            let v = self.next().await;
            assert_eq!(v["type"], "text", "{v}");
            out.push_str(v["token"].as_str().unwrap());
            if v["last"] == true {
                return out;
            }
        }
    }
}

async fn live_call(gw: &Gw, sid: &str) -> (Twilio, String) {
    let t = Twilio::call(gw, sid).await;
    let c = gw
        .call_until(sid, "in_progress", |c| c["state"] == "in_progress")
        .await;
    (t, c["id"].as_str().unwrap().to_string())
}

// ------------------------------------------------------------ the tests ----

#[tokio::test]
async fn twiml_and_a_whole_conversation() {
    let model = Model::start().await;
    let gw = Gw::start(&model).await;

    let (s, twiml) = gw
        .twilio_post(
            "/webhooks/relay/voice",
            &[
                ("CallSid", "CA1"),
                ("From", "+15557770000"),
                ("To", "+15558880000"),
                ("Direction", "inbound"),
            ],
            true,
        )
        .await;
    assert_eq!(s, 200, "{twiml}");
    for part in [
        "<Connect action=\"https://callwatch.example.com/webhooks/relay/handoff\">",
        &format!("<ConversationRelay url=\"{SOCKET}\""),
        &format!("welcomeGreeting=\"{GREETING}\""),
        "ttsProvider=\"ElevenLabs\"",
        "language=\"en-US\"",
    ] {
        assert!(twiml.contains(part), "{part} not in {twiml}");
    }
    let (s, _) = gw
        .twilio_post("/webhooks/relay/voice", &[("CallSid", "CA1")], false)
        .await;
    assert_eq!(s, 401, "an unsigned voice webhook is refused");
    assert_eq!(
        Twilio::connect(&gw, Some("bm90IGEgc2lnbmF0dXJl".into()))
            .await
            .err(),
        Some(401),
        "a handshake with a wrong signature is refused"
    );

    let (mut twilio, id) = live_call(&gw, "CA1").await;
    twilio
        .send(json!({"type": "prompt", "voicePrompt": "I need to", "lang": "en-US", "last": false}))
        .await;
    twilio.say("I need to move my appointment").await;
    assert_eq!(
        twilio.spoken().await,
        "You said: I need to move my appointment."
    );
    twilio.send(json!({"type": "dtmf", "digit": "5"})).await;
    twilio.say("Tuesday works").await;
    assert_eq!(twilio.spoken().await, "You said: Tuesday works.");

    let requests = model.requests();
    let last = &requests[requests.len() - 1];
    assert_eq!(last["stream"], true);
    assert_eq!(last["model"], "stand-in-model");
    assert_eq!(last["authorization"], "Bearer sk-test-model-key");
    let roles: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "assistant", "user", "assistant", "user", "user"]
    );
    assert!(last["messages"][0]["content"]
        .as_str()
        .unwrap()
        .starts_with("You book appointments for Acme."));

    let t = gw
        .transcript_until(&id, ("ai", "You said: Tuesday works."))
        .await;
    assert_eq!(
        t,
        [
            ("ai", GREETING),
            ("caller", "I need to move my appointment"),
            ("ai", "You said: I need to move my appointment."),
            ("caller", "[pressed 5]"),
            ("caller", "Tuesday works"),
            ("ai", "You said: Tuesday works."),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // The caller hangs up: Twilio closes the socket.
    twilio.ws.close(None).await.unwrap();
    let c = gw
        .call_until("CA1", "ended", |c| c["state"] == "ended")
        .await;
    assert_eq!(c["outcome"], "completed");
    // The key never reaches the API.
    assert!(!gw
        .get("/api/calls?limit=10")
        .await
        .to_string()
        .contains("sk-test"));
    gw.stop().await;
}

#[tokio::test]
async fn each_action_changes_exactly_what_twilio_is_sent() {
    let model = Model::start().await;
    let gw = Gw::start(&model).await;
    let (mut twilio, id) = live_call(&gw, "CA2").await;

    gw.act(&id, "pause-ai", json!({})).await;
    assert_eq!(
        twilio.spoken().await,
        HOLDING,
        "pause speaks the holding line only"
    );
    twilio.say("Hello? Are you there?").await;
    twilio.quiet().await;

    gw.act(
        &id,
        "say",
        json!({"text": "A colleague is checking, one second."}),
    )
    .await;
    assert_eq!(
        twilio.next().await,
        json!({"type": "text", "token": "A colleague is checking, one second.", "last": true})
    );
    gw.act(&id, "instruct", json!({"text": "Offer the Friday slot."}))
        .await;
    twilio.quiet().await;

    let before = model.requests().len();
    gw.act(&id, "resume", json!({})).await;
    // The AI answers what the caller said while it was paused.
    assert_eq!(twilio.spoken().await, "You said: Hello? Are you there?.");
    let request = &model.requests()[before];
    let messages = request["messages"].as_array().unwrap();
    assert!(messages.iter().any(|m| m["role"] == "system"
        && m["content"]
            .as_str()
            .unwrap()
            .contains("Offer the Friday slot.")));

    // Take over by someone without a phone: type-to-talk. The AI stays silent...
    gw.act(&id, "takeover", json!({"reason": "escalation"}))
        .await;
    twilio.quiet().await;
    twilio.say("I want a person").await;
    twilio.quiet().await;
    // ...and the supervisor's lines are spoken as typed.
    gw.act(&id, "say", json!({"text": "Hi, this is Sam."}))
        .await;
    assert_eq!(twilio.spoken().await, "Hi, this is Sam.");
    let t = gw
        .transcript_until(&id, ("human", "Hi, this is Sam."))
        .await;
    assert!(
        t.contains(&("caller".into(), "I want a person".into())),
        "{t:?}"
    );

    gw.act(&id, "end", json!({})).await;
    let end = twilio.next().await;
    assert_eq!(end["type"], "end");
    let data: Value = serde_json::from_str(end["handoffData"].as_str().unwrap()).unwrap();
    assert_eq!(data["reasonCode"], "ended-by-supervisor");
    let c = gw
        .call_until("CA2", "ended", |c| c["state"] == "ended")
        .await;
    assert_eq!(c["outcome"], "ended_by_supervisor");
    gw.stop().await;
}

#[tokio::test]
async fn an_interruption_cuts_the_turn_and_is_marked_in_the_transcript() {
    let model = Model::start().await;
    model.set(ModelMode::Echo { delay_ms: 400 });
    let gw = Gw::start(&model).await;
    let (mut twilio, id) = live_call(&gw, "CA3").await;

    twilio.say("What are your hours").await;
    let first = twilio.next().await;
    assert_eq!(
        first,
        json!({"type": "text", "token": "You said: ", "last": false})
    );
    twilio
        .send(json!({"type": "interrupt", "utteranceUntilInterrupt": "You said", "durationUntilInterruptMs": "640"}))
        .await;
    // The rest of that turn is never sent.
    tokio::time::sleep(Duration::from_millis(900)).await;
    twilio.quiet().await;
    let t = gw
        .transcript_until(&id, ("ai", "You said [interrupted]"))
        .await;
    assert!(
        !t.iter().any(|(_, x)| x.contains("What are your hours.")),
        "{t:?}"
    );

    // The next turn knows what was actually heard.
    model.set(ModelMode::Echo { delay_ms: 0 });
    twilio.say("Sorry, go on").await;
    assert_eq!(twilio.spoken().await, "You said: Sorry, go on.");
    let last = model.requests().pop().unwrap();
    let messages = last["messages"].as_array().unwrap();
    assert!(messages
        .iter()
        .any(|m| m["role"] == "assistant" && m["content"] == "You said"));
    gw.stop().await;
}

#[tokio::test]
async fn a_failing_model_gives_the_apology_and_an_alert() {
    let model = Model::start().await;
    model.set(ModelMode::Fail);
    let gw = Gw::start(&model).await;
    let (mut twilio, _id) = live_call(&gw, "CA4").await;

    twilio.say("Hello").await;
    assert_eq!(twilio.spoken().await, APOLOGY);
    let c = gw
        .call_until("CA4", "an alert", |c| {
            c["alerts"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(c["alerts"][0]["kind"], "model_unavailable");
    assert!(c["alerts"][0]["message"].as_str().unwrap().contains("500"));
    assert!(!c.to_string().contains("sk-test"));

    // Slow: nothing within the configured second is the same failure.
    model.set(ModelMode::Hang);
    twilio.say("Hello again").await;
    assert_eq!(twilio.spoken().await, APOLOGY);

    // Back: the alert clears.
    model.set(ModelMode::Echo { delay_ms: 0 });
    twilio.say("Third time").await;
    assert_eq!(twilio.spoken().await, "You said: Third time.");
    gw.call_until("CA4", "its alert cleared", |c| {
        c["alerts"].as_array().is_some_and(|a| a.is_empty())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_dropped_websocket_ends_the_call_with_a_clear_outcome() {
    let model = Model::start().await;
    let gw = Gw::start(&model).await;
    let (twilio, id) = live_call(&gw, "CA5").await;
    // The connection goes away without a close frame.
    drop(twilio);
    let c = gw
        .call_until("CA5", "ended", |c| c["state"] == "ended")
        .await;
    assert_eq!(c["outcome"], "relay_dropped");
    // An action on it now is refused, and the gateway keeps serving.
    let (status, _) = gw.act_as(SUP, &id, "say", json!({"text": "hello?"})).await;
    assert_eq!(status, 409);
    gw.stop().await;
}

#[tokio::test]
async fn a_takeover_by_someone_with_a_phone_hands_the_call_off_to_a_dial() {
    let model = Model::start().await;
    let gw = Gw::start(&model).await;
    let (mut twilio, id) = live_call(&gw, "CA6").await;

    let (status, _) = gw
        .act_as(DANA, &id, "takeover", json!({"reason": "VIP caller"}))
        .await;
    assert_eq!(status, 200);
    let end = twilio.next().await;
    assert_eq!(end["type"], "end");
    let data: Value = serde_json::from_str(end["handoffData"].as_str().unwrap()).unwrap();
    assert_eq!(data["reasonCode"], "live-agent-handoff");
    assert_eq!(data["reason"], "VIP caller");
    assert_eq!(data["by"], "dana");
    assert!(
        !data.to_string().contains(DANA_PHONE),
        "the phone stays with callwatch"
    );

    let params = [
        ("CallSid", "CA6"),
        ("SessionStatus", "completed"),
        ("HandoffData", end["handoffData"].as_str().unwrap()),
    ];
    let (s, _) = gw
        .twilio_post("/webhooks/relay/handoff", &params, false)
        .await;
    assert_eq!(s, 401, "an unsigned action request dials nobody");
    let (s, twiml) = gw
        .twilio_post("/webhooks/relay/handoff", &params, true)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        twiml,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>{DANA_PHONE}</Dial></Response>")
    );
    // A replay dials nobody again.
    let (_, again) = gw
        .twilio_post("/webhooks/relay/handoff", &params, true)
        .await;
    assert!(again.contains("<Hangup/>"), "{again}");

    twilio.ws.close(None).await.ok();
    let c = gw
        .call_until("CA6", "taken over", |c| c["state"] == "taken_over")
        .await;
    assert_eq!(c["takeover"]["by"], "dana");
    gw.stop().await;
}

#[tokio::test]
async fn a_long_call_sends_the_model_a_bounded_conversation_that_keeps_its_instructions() {
    let model = Model::start().await;
    let gw = Gw::start(&model).await;
    let (mut twilio, id) = live_call(&gw, "CA7").await;
    gw.act(&id, "instruct", json!({"text": "Always offer Friday."}))
        .await;
    for turn in 0..130 {
        twilio.say(&format!("question {turn}")).await;
        assert_eq!(twilio.spoken().await, format!("You said: question {turn}."));
    }
    let last = model.requests().pop().unwrap();
    let messages = last["messages"].as_array().unwrap();
    let others = messages.iter().filter(|m| m["role"] != "system").count();
    assert!(others <= 200, "{others} messages sent");
    assert_eq!(messages[0]["role"], "system");
    assert!(messages.iter().any(|m| m["content"]
        .as_str()
        .unwrap()
        .contains("Always offer Friday.")));
    assert_eq!(messages.last().unwrap()["content"], "question 129");
    gw.stop().await;
}

#[tokio::test]
async fn type_to_talk_then_hand_back_lets_the_ai_answer_what_the_caller_said() {
    let model = Model::start().await;
    let gw = Gw::start(&model).await;
    let (mut twilio, id) = live_call(&gw, "CA8").await;

    // Dana has a phone but chooses to type: nothing ends, the AI goes silent.
    let (status, v) = gw
        .act_as(
            DANA,
            &id,
            "takeover",
            json!({"reason": "checking", "mode": "text"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    twilio.say("Is anyone there").await;
    twilio.quiet().await;
    let asked = model.requests().len();
    let (status, v) = gw.act_as(DANA, &id, "handback", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["call"]["state"], "in_progress");
    // The AI answers what the caller said while the human held the call.
    assert_eq!(twilio.spoken().await, "You said: Is anyone there.");
    assert_eq!(model.requests().len(), asked + 1);
    let t = gw
        .transcript_until(&id, ("ai", "You said: Is anyone there."))
        .await;
    assert!(
        t.contains(&(
            "system".into(),
            "dana handed the call back to the AI".into()
        )),
        "{t:?}"
    );
    // And keeps answering.
    twilio.say("Thanks").await;
    assert_eq!(twilio.spoken().await, "You said: Thanks.");
    gw.stop().await;
}

#[tokio::test]
async fn a_transfer_ends_the_session_and_the_action_request_dials_the_destination() {
    let model = Model::start().await;
    let gw = Gw::start(&model).await;
    let (mut twilio, id) = live_call(&gw, "CA9").await;

    let (status, v) = gw
        .act_as(
            SUP,
            &id,
            "transfer",
            json!({"destination": "Sales desk", "mode": "warm"}),
        )
        .await;
    assert_eq!(status, 422, "ConversationRelay transfers cold only: {v}");
    let (status, v) = gw
        .act_as(SUP, &id, "transfer", json!({"destination": "Sales desk"}))
        .await;
    assert_eq!(status, 200, "{v}");
    let end = twilio.next().await;
    assert_eq!(end["type"], "end");
    let data: Value = serde_json::from_str(end["handoffData"].as_str().unwrap()).unwrap();
    assert_eq!(
        (data["reasonCode"].clone(), data["destination"].clone()),
        (json!("transfer"), json!("Sales desk"))
    );
    let params = [
        ("CallSid", "CA9"),
        ("SessionStatus", "completed"),
        ("HandoffData", end["handoffData"].as_str().unwrap()),
    ];
    let (s, twiml) = gw
        .twilio_post("/webhooks/relay/handoff", &params, true)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        twiml,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>{SALES}</Dial></Response>"
        )
    );
    twilio.ws.close(None).await.ok();
    let c = gw
        .call_until("CA9", "transferred", |c| c["outcome"] == "transferred")
        .await;
    assert_eq!(c["state"], "ended");
    gw.stop().await;
}
