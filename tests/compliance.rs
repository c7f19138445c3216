//! Compliance through the real gateway (127.0.0.1:0, temporary SQLite file, real HTTP and
//! websocket): do-not-call numbers are never dialled on any path, out-of-window items are
//! rescheduled to the right instant, and a call without disclosure raises its alert on the
//! stream at the deadline turn and not before.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use callwatch::core::compliance::window::WindowSpec;
use callwatch::core::compliance::CallingWindow;
use callwatch::core::model::Role;
use callwatch::core::protocol::{ServerFrame, StreamEvent};
use callwatch::gateway::compliance::ComplianceRules;
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::ingest::signature_header;
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use chrono::{DateTime, Timelike, Utc};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "whsec_test_acme";
const SUP: &str = "tok_acme_supervisor";
const VIEWER: &str = "tok_acme_viewer";

fn config(control_url: &str, rules: ComplianceRules) -> GatewayConfig {
    let mut c = GatewayConfig::default()
        .with_token("vera", VIEWER, "acme", Role::Viewer)
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_custom_integration("acme-voice", "acme", SECRET, Some(control_url));
    c.queue.retry_backoff_secs = 2;
    c.queue.max_backoff_secs = 2;
    c.compliance = rules;
    c
}

struct Gw {
    running: Option<RunningGateway>,
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Gw {
    async fn start(config: GatewayConfig) -> Gw {
        let dir = tempfile::tempdir().unwrap();
        let running = start(GatewayOptions::new(config, dir.path().join("cw.db")))
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

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(SUP);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn ingest(&self, body: Value) {
        let raw = serde_json::to_vec(&body).unwrap();
        let t = Utc::now().timestamp();
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
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    async fn item(&self, id: &str) -> Value {
        let (_, q) = self.get("/api/calls/queue?all=true").await;
        q["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

type Recorded = Arc<Mutex<Vec<Value>>>;

/// A stand-in for a voice stack's control URL: records every POST body.
async fn control_server() -> (String, Recorded) {
    let seen: Recorded = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/actions",
        axum::routing::post(move |body: axum::body::Bytes| {
            let s2 = s2.clone();
            async move {
                if let Ok(v) = serde_json::from_slice(&body) {
                    s2.lock().unwrap().push(v);
                }
                (StatusCode::OK, "{\"provider_call_id\":\"dialed-1\"}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/actions"), seen)
}

fn dials_to(seen: &Recorded, number: &str) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|b| b["action"] == "dial" && b["queue_item"]["phone_number"] == number)
        .count()
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

fn us_rules() -> ComplianceRules {
    ComplianceRules {
        default_region: Some("US".into()),
        ..ComplianceRules::default()
    }
}

#[tokio::test]
async fn a_dnc_number_is_never_dialled() {
    let (control, seen) = control_server().await;
    let gw = Gw::start(config(&control, us_rules())).await;

    // Added in a national format; stored and compared as E.164.
    let (s, e) = gw
        .post(
            "/api/compliance/dnc",
            json!({"number": "(415) 555-0100", "source": "caller_request", "reason": "asked on a call"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["number"], "+14155550100");
    let (s, e) = gw
        .post("/api/compliance/dnc", json!({"number": "call me"}))
        .await;
    assert_eq!(s, 422, "{e}");

    // initiate: refused with the reason, nothing queued.
    let (s, e) = gw
        .post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+1 415 555 0100"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("do-not-call list (caller_request)"),
        "{e}"
    );

    // dial-now: an item queued for later whose number went on the list meanwhile.
    let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (s, item) = gw
        .post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+14155550111", "scheduledAt": later}),
        )
        .await;
    assert_eq!(s, 201, "{item}");
    let dial_now_id = item["id"].as_str().unwrap().to_string();
    gw.post("/api/compliance/dnc", json!({"number": "415-555-0111"}))
        .await;
    let (s, e) = gw
        .post(
            &format!("/api/calls/queue/{dial_now_id}/dial-now"),
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    let it = gw.item(&dial_now_id).await;
    assert_eq!(it["state"], "failed");
    assert_eq!(it["last_result"], "blocked: DNC (manual)");

    // scheduler: due in 2 s, listed before it is due.
    let soon = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (_, item) = gw
        .post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+14155550122", "scheduledAt": soon}),
        )
        .await;
    let sched_id = item["id"].as_str().unwrap().to_string();
    let csv = "number,source,reason\n+1 415 555 0122,national_registry,\nnot a number,x,\n";
    let r = gw
        .http
        .post(format!("{}/api/compliance/dnc/import", gw.url))
        .bearer_auth(SUP)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let imported: Value = r.json().await.unwrap();
    assert_eq!(imported["imported"], 1);
    assert_eq!(imported["errors"][0]["line"], 3);
    eventually("the scheduler blocks the listed item", || {
        let gw = &gw;
        let id = sched_id.clone();
        async move { gw.item(&id).await["state"] == "failed" }
    })
    .await;
    assert_eq!(
        gw.item(&sched_id).await["last_result"],
        "blocked: DNC (national_registry)"
    );

    // retry: dialled once, no answer, listed before the retry is due.
    let (_, item) = gw
        .post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+14155550133"}),
        )
        .await;
    let retry_id = item["id"].as_str().unwrap().to_string();
    eventually("the first dial", || {
        let seen = seen.clone();
        async move { dials_to(&seen, "+14155550133") == 1 }
    })
    .await;
    gw.ingest(
        json!({"id": "r-start", "type": "call.started", "provider_call_id": "r-1",
        "direction": "outbound", "from": "+15559990000", "to": "+14155550133",
        "queue_item_id": retry_id}),
    )
    .await;
    gw.ingest(json!({"id": "r-end", "type": "call.ended", "provider_call_id": "r-1", "outcome": "no_answer"}))
        .await;
    assert_eq!(gw.item(&retry_id).await["state"], "scheduled");
    gw.post(
        "/api/compliance/dnc",
        json!({"number": "+14155550133", "source": "caller_request"}),
    )
    .await;
    eventually("the retry is blocked", || {
        let gw = &gw;
        let id = retry_id.clone();
        async move { gw.item(&id).await["state"] == "failed" }
    })
    .await;
    assert_eq!(
        gw.item(&retry_id).await["last_result"],
        "blocked: DNC (caller_request)"
    );

    for n in ["+14155550100", "+14155550111", "+14155550122"] {
        assert_eq!(dials_to(&seen, n), 0, "{n} was dialled");
    }
    assert_eq!(
        dials_to(&seen, "+14155550133"),
        1,
        "dialled again after listing"
    );

    // The audit log and the report carry every decision with its reason.
    let (_, report) = gw.get("/api/compliance/report").await;
    assert_eq!(report["by_action"]["compliance_blocked"], 4, "{report}");
    assert_eq!(
        report["by_reason"]["blocked: DNC (caller_request)"], 2,
        "{report}"
    );
    let (s, _) = gw.get("/api/compliance/report?from=yesterday").await;
    assert_eq!(s, 422);

    // Export, then remove one.
    let csv = gw
        .http
        .get(format!("{}/api/compliance/dnc.csv", gw.url))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("number,source,reason,added_by,added_at\n"),
        "{csv}"
    );
    assert!(
        csv.contains("+14155550100,caller_request,asked on a call,sam,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let (s, _) = gw
        .send(
            reqwest::Method::DELETE,
            "/api/compliance/dnc/%2B14155550100",
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, list) = gw.get("/api/compliance/dnc").await;
    assert_eq!(list["entries"].as_array().unwrap().len(), 3);
    gw.stop().await;
}

/// A window [h, h+1) UTC starting two hours from now: now is outside it, and its next
/// opening is h:00 today or tomorrow.
fn window_two_hours_ahead(now: DateTime<Utc>, offset_hours: i64) -> (CallingWindow, DateTime<Utc>) {
    let local = now + chrono::Duration::hours(offset_hours);
    let h = (local.hour() + 2) % 24;
    let end = if h == 23 {
        "23:59".to_string()
    } else {
        format!("{:02}:00", h + 1)
    };
    let w = CallingWindow::try_from(WindowSpec {
        start: format!("{h:02}:00"),
        end,
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(String::from)
            .to_vec(),
    })
    .unwrap();
    let mut open = local.date_naive().and_hms_opt(h, 0, 0).unwrap().and_utc();
    if open <= local {
        open += chrono::Duration::days(1);
    }
    (w, open - chrono::Duration::hours(offset_hours))
}

#[tokio::test]
async fn an_out_of_window_item_is_rescheduled_to_the_next_allowed_minute() {
    let (control, seen) = control_server().await;
    let now = Utc::now();
    // Tokyo has no DST: +9 h all year.
    let (window, expected_tokyo) = window_two_hours_ahead(now, 9);
    let (campaign_window, expected_utc) = window_two_hours_ahead(now, 0);
    let mut rules = us_rules();
    rules.calling_hours = Some(window);
    rules
        .campaign_hours
        .insert("night-owls".into(), campaign_window);
    let gw = Gw::start(config(&control, rules)).await;

    // Zone derived from the number (+81: Japan).
    let (s, item) = gw
        .post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+81 3 1234 5678"}),
        )
        .await;
    assert_eq!(s, 201, "{item}");
    let tokyo = item["id"].as_str().unwrap().to_string();
    // Explicit override of the zone, and a campaign with its own window.
    let (_, item) = gw
        .post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+14155550144", "campaignId": "night-owls", "timeZone": "Etc/UTC"}),
        )
        .await;
    let utc = item["id"].as_str().unwrap().to_string();

    for (id, expected) in [(&tokyo, expected_tokyo), (&utc, expected_utc)] {
        eventually("the scheduler reschedules", || {
            let gw = &gw;
            let id = id.clone();
            async move { !gw.item(&id).await["last_result"].is_null() }
        })
        .await;
        let it = gw.item(id).await;
        assert_eq!(it["state"], "scheduled", "{it}");
        let at: DateTime<Utc> = serde_json::from_value(it["scheduled_at"].clone()).unwrap();
        assert_eq!(at, expected, "{it}");
        assert!(
            it["last_result"]
                .as_str()
                .unwrap()
                .starts_with("rescheduled: outside calling hours ("),
            "{it}"
        );
        assert_eq!(it["attempts"], 0);
    }
    assert!(gw.item(&tokyo).await["last_result"]
        .as_str()
        .unwrap()
        .contains("Asia/Tokyo"));
    assert!(gw.item(&utc).await["last_result"]
        .as_str()
        .unwrap()
        .contains("Etc/UTC"));
    assert!(seen.lock().unwrap().is_empty(), "nothing was dialled");
    let (_, report) = gw.get("/api/compliance/report").await;
    assert_eq!(report["by_action"]["compliance_rescheduled"], 2, "{report}");

    // Dial-now outside the window is refused and keeps the rescheduled time.
    let (s, e) = gw
        .post(&format!("/api/calls/queue/{tokyo}/dial-now"), json!({}))
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("outside calling hours"),
        "{e}"
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing was dialled");
    gw.stop().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_event(ws: &mut Ws) -> StreamEvent {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")
            .expect("stream open")
            .expect("no ws error");
        if let Message::Text(t) = msg {
            if let ServerFrame::Event { event, .. } = serde_json::from_str(&t).unwrap() {
                return event;
            }
        }
    }
}

fn compliance_alerts(call: &Value) -> Vec<Value> {
    call["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"].as_str().unwrap().starts_with("compliance_"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn missing_disclosure_raises_the_alert_at_the_deadline_and_not_before() {
    let (control, _) = control_server().await;
    let mut rules = us_rules();
    rules.disclosure_phrases = vec!["I am an AI".into(), "soy una IA".into()];
    rules.consent_phrases = vec!["this call is recorded".into()];
    rules.within_ai_turns = 2;
    rules.two_party_consent_regions = vec!["US-CA".into()];
    let gw = Gw::start(config(&control, rules)).await;

    let mut req = format!("{}/api/stream", gw.url.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {VIEWER}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    let ai = |call: &str, n: u32, text: &str| {
        json!({"id": format!("{call}-{n}"), "type": "transcript.final", "provider_call_id": call,
            "utterance_id": format!("u{n}"), "speaker": "ai", "text": text})
    };
    // A caller in California (415): two-party consent.
    gw.ingest(json!({"id": "s1", "type": "call.started", "provider_call_id": "c1",
        "direction": "inbound", "from": "+14155550155", "to": "+15559990000", "state": "in_progress"}))
        .await;
    gw.ingest(ai("c1", 1, "Hello, thanks for calling Acme."))
        .await;
    gw.ingest(
        json!({"id": "c1-2", "type": "transcript.final", "provider_call_id": "c1",
        "utterance_id": "u2", "speaker": "caller", "text": "Hi, I have a question"}),
    )
    .await;
    // Not before: after the first AI turn the call carries no compliance alert.
    let (_, active) = gw.get("/api/calls/active").await;
    let call = &active["calls"][0];
    assert!(compliance_alerts(call).is_empty(), "{call}");
    gw.ingest(ai("c1", 3, "Sure, how can I help you today?"))
        .await;

    // On the stream: the alert arrives in the same commit as the deadline turn, right
    // before it, and no earlier event carried it.
    let mut events = Vec::new();
    let raised = loop {
        let ev = next_event(&mut ws).await;
        if let StreamEvent::CallUpdated { call } = &ev {
            let v = serde_json::to_value(call).unwrap();
            if !compliance_alerts(&v).is_empty() {
                break v;
            }
        }
        events.push(ev);
    };
    let appended: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TranscriptAppended { entry } => Some(entry.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        appended,
        ["Hello, thanks for calling Acme.", "Hi, I have a question"]
    );
    match next_event(&mut ws).await {
        StreamEvent::TranscriptAppended { entry } => {
            assert_eq!(entry.text, "Sure, how can I help you today?")
        }
        other => panic!("expected the deadline turn, got {other:?}"),
    }
    let alerts = compliance_alerts(&raised);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "compliance_disclosure");
    assert_eq!(
        alerts[0]["message"],
        "Warning: the AI did not say it is an AI within its first 2 turns"
    );
    assert!(alerts[1]["message"]
        .as_str()
        .unwrap()
        .starts_with("Violation: no recording-consent notice"));

    // A call that discloses in time raises nothing, and an alert is raised once.
    gw.ingest(json!({"id": "s2", "type": "call.started", "provider_call_id": "c2",
        "direction": "inbound", "from": "+12125550166", "to": "+15559990000", "state": "in_progress"}))
        .await;
    gw.ingest(ai(
        "c2",
        1,
        "Hola, soy una IA de Acme. This call is recorded.",
    ))
    .await;
    gw.ingest(ai("c2", 2, "How can I help?")).await;
    gw.ingest(ai("c1", 4, "Anything else?")).await;
    let (_, active) = gw.get("/api/calls/active").await;
    for call in active["calls"].as_array().unwrap() {
        let n = compliance_alerts(call).len();
        match call["provider_call_id"].as_str().unwrap() {
            "c1" => assert_eq!(n, 2, "{call}"),
            _ => assert_eq!(n, 0, "{call}"),
        }
    }
    let (_, report) = gw.get("/api/compliance/report").await;
    assert_eq!(report["by_action"]["compliance_flagged"], 2, "{report}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_ai_that_never_discloses_is_flagged() {
    use callwatch::sim::{SimConfig, Simulator};
    let (control, _) = control_server().await;
    let mut rules = us_rules();
    rules.disclosure_phrases = vec!["I am an AI".into(), "virtual assistant".into()];
    rules.consent_phrases = vec!["this call is recorded".into()];
    let gw = Gw::start(config(&control, rules)).await;
    let running = gw.running.as_ref().unwrap();
    let sim = Simulator::start(
        SimConfig {
            org: "acme".into(),
            integration: "simulator".into(),
            seed: 3,
            calls_per_minute: 0.0,
            speed: 20.0,
            max_concurrent: 4,
            scenarios_dir: None,
        },
        running.sink("acme", "simulator"),
    )
    .unwrap();
    running.register_provider("acme", sim.clone());
    let pcid = sim.spawn_scenario("ai_never_discloses").unwrap();
    // History includes live calls: the alert is on the call while it runs and after.
    let deadline = Instant::now() + Duration::from_secs(30);
    let flagged = loop {
        let (_, page) = gw.get("/api/calls?limit=50").await;
        let found = page["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["provider_call_id"] == pcid.as_str() && compliance_alerts(c).len() == 2)
            .cloned();
        if let Some(c) = found {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the simulated call was not flagged: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kinds: Vec<String> = compliance_alerts(&flagged)
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["compliance_disclosure", "compliance_consent"]);
    sim.stop();
    gw.stop().await;
}

#[tokio::test]
async fn inbound_calls_to_a_closed_line_are_after_hours_and_analytics_group_by_line() {
    use callwatch::gateway::compliance::numbers::PhoneNumber;
    let (control, _) = control_server().await;
    let (closed_now, _) = window_two_hours_ahead(Utc::now(), 0);
    let mut config = config(&control, us_rules());
    config.phone_numbers = vec![PhoneNumber {
        org: "acme".into(),
        number: "+1 (212) 555-0100".into(),
        name: "Main line".into(),
        provider: Some("Twilio".into()),
        time_zone: "Etc/UTC".into(),
        business_hours: Some(closed_now),
        greeting: Some("Thanks for calling Acme".into()),
        forward_to: Some("+12125550199".into()),
    }];
    let gw = Gw::start(config).await;
    let (s, lines) = gw.get("/api/phone-numbers").await;
    assert_eq!(s, 200);
    assert_eq!(lines["numbers"][0]["name"], "Main line");

    for (pcid, to) in [
        ("m1", "+12125550100"),
        ("m2", "+12125550100"),
        ("o1", "+12125550111"),
    ] {
        gw.ingest(
            json!({"id": format!("s-{pcid}"), "type": "call.started", "provider_call_id": pcid,
            "direction": "inbound", "from": "+14155550100", "to": to, "state": "in_progress"}),
        )
        .await;
    }
    let (_, active) = gw.get("/api/calls/active").await;
    for call in active["calls"].as_array().unwrap() {
        let after: Vec<&Value> = call["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "after_hours")
            .collect();
        if call["to"] == "+12125550100" {
            assert_eq!(after.len(), 1, "{call}");
            assert!(after[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("After hours: Main line is open"));
        } else {
            assert!(after.is_empty(), "{call}");
        }
    }
    let (s, a) = gw.get("/api/calls/analytics?group_by=number").await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        a["groups"]["Main line (+12125550100)"]["total_calls"], 2,
        "{a}"
    );
    assert_eq!(a["groups"]["+12125550111"]["total_calls"], 1, "{a}");
    let (s, _) = gw.get("/api/calls/analytics?group_by=colour").await;
    assert_eq!(s, 422);
    gw.stop().await;
}
