//! Console round 2 and compliance status through the real gateway (127.0.0.1:0, temporary
//! SQLite file, real HTTP): history filters (and 422 for unknown ones), the console's own
//! requests (history words and filters, add to queue with a compliance refusal, the audit
//! and webhook logs, analytics by range and grouping), the call's stored compliance status
//! with a deadline in turns and in seconds, and the simulator's rule-breaking leads.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use callwatch::app::{start_gateway, SimulatorOptions};
use callwatch::client::RestClient;
use callwatch::console::runtime::execute;
use callwatch::console::update::{Reply, Request};
use callwatch::core::compliance::window::WindowSpec;
use callwatch::core::compliance::CallingWindow;
use callwatch::core::model::Role;
use callwatch::core::protocol::InitiateRequest;
use callwatch::gateway::compliance::ComplianceRules;
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::ingest::signature_header;
use callwatch::gateway::{start, GatewayOptions, RunningGateway};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

const SECRET: &str = "whsec_test_round2";
const SUP: &str = "tok_round2_supervisor";
const ADMIN: &str = "tok_round2_admin";

struct Gw {
    running: Option<RunningGateway>,
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A control URL that accepts every action and dial.
async fn control_server() -> String {
    let app = axum::Router::new().route(
        "/actions",
        axum::routing::post(|| async { "{\"provider_call_id\":\"dialed-1\"}" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/actions")
}

async fn config(rules: ComplianceRules) -> GatewayConfig {
    let control = control_server().await;
    let mut c = GatewayConfig::default()
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_token("ada", ADMIN, "acme", Role::Admin)
        .with_custom_integration("acme-voice", "acme", SECRET, Some(&control));
    c.compliance = rules;
    c
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

    fn client(&self, token: &str) -> RestClient {
        RestClient::new(&self.url, token).unwrap()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(SUP)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(SUP)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn ingest(&self, body: Value) {
        let raw = serde_json::to_vec(&body).unwrap();
        let r = self
            .http
            .post(format!("{}/api/ingest", self.url))
            .header("Callwatch-Integration", "acme-voice")
            .header(
                "Callwatch-Signature",
                signature_header(SECRET, Utc::now().timestamp(), &raw),
            )
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    /// One whole call: started, analysed, ended.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        pcid: &str,
        direction: &str,
        intent: &str,
        sentiment: &str,
        outcome: &str,
        end: bool,
    ) {
        self.ingest(json!({"id": format!("s-{pcid}"), "type": "call.started",
            "provider_call_id": pcid, "direction": direction, "from": "+14155550101",
            "to": "+14155550202", "campaign": "renewals", "state": "in_progress"}))
            .await;
        self.ingest(json!({"id": format!("a-{pcid}"), "type": "call.analysis",
            "provider_call_id": pcid, "intent": intent, "sentiment": sentiment}))
            .await;
        if end {
            self.end(pcid, outcome).await;
        }
    }

    async fn end(&self, pcid: &str, outcome: &str) {
        self.ingest(json!({"id": format!("e-{pcid}"), "type": "call.ended",
            "provider_call_id": pcid, "outcome": outcome}))
            .await;
    }

    async fn id_of(&self, pcid: &str) -> String {
        let (_, v) = self.get("/api/calls?limit=500").await;
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider_call_id"] == pcid)
            .unwrap_or_else(|| panic!("no call {pcid}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The provider call ids a history query lists, sorted.
    async fn listed(&self, query: &str) -> Vec<String> {
        let (s, v) = self.get(&format!("/api/calls?{query}")).await;
        assert_eq!(s, StatusCode::OK, "{query}: {v}");
        let mut ids: Vec<String> = v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["provider_call_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn window(start: &str, end: &str) -> CallingWindow {
    CallingWindow::try_from(WindowSpec {
        start: start.into(),
        end: end.into(),
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(String::from)
            .to_vec(),
    })
    .unwrap()
}

#[tokio::test]
async fn history_filters_each_field_and_refuses_unknown_ones() {
    let gw = Gw::start(config(ComplianceRules::default()).await).await;
    gw.call(
        "in-offer",
        "inbound",
        "make_offer",
        "positive",
        "offer_captured",
        true,
    )
    .await;
    gw.call(
        "in-view",
        "inbound",
        "book_viewing",
        "negative",
        "viewing_booked",
        true,
    )
    .await;
    gw.call(
        "out-offer",
        "outbound",
        "make_offer",
        "neutral",
        "no_answer",
        true,
    )
    .await;
    gw.call("live", "inbound", "make_offer", "positive", "", false)
        .await;
    // A human takes one call over before it ends.
    gw.call("taken", "inbound", "complaint", "negative", "", false)
        .await;
    let taken = gw.id_of("taken").await;
    let (s, v) = gw
        .post(
            &format!("/api/calls/{taken}/takeover"),
            json!({"reason": "caller upset"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    gw.end("taken", "ended_by_supervisor").await;

    assert_eq!(
        gw.listed("state=ended&direction=inbound").await,
        ["in-offer", "in-view", "taken"]
    );
    assert_eq!(
        gw.listed("status=ended&direction=inbound&intent=make_offer")
            .await,
        ["in-offer"]
    );
    // Values compare ignoring case.
    assert_eq!(
        gw.listed("state=ended&intent=MAKE_OFFER").await,
        ["in-offer", "out-offer"]
    );
    assert_eq!(gw.listed("outcome=no_answer").await, ["out-offer"]);
    assert_eq!(
        gw.listed("state=ended&sentiment=negative").await,
        ["in-view", "taken"]
    );
    assert_eq!(gw.listed("taken_over=true").await, ["taken"]);
    assert_eq!(
        gw.listed("state=ended&taken_over=false").await,
        ["in-offer", "in-view", "out-offer"]
    );
    assert_eq!(gw.listed("state=active&intent=make_offer").await, ["live"]);
    assert_eq!(
        gw.listed("provider=acme-voice&direction=outbound").await,
        ["out-offer"]
    );
    let future = (Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(gw.listed(&format!("from={future}")).await.is_empty());

    // Unknown keys and bad values: 422 with the documented JSON error naming the parameter.
    for (query, field) in [
        ("colour=red", "colour"),
        ("direction=sideways", "direction"),
        ("sentiment=angry", "sentiment"),
        ("taken_over=maybe", "taken_over"),
        ("state=ended&status=active", "state"),
        ("state=bogus", "state"),
    ] {
        let (s, v) = gw.get(&format!("/api/calls?{query}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {v}");
        assert_eq!(v["error"], "invalid", "{query}: {v}");
        assert_eq!(v["field"], field, "{query}: {v}");
        assert!(!v["message"].as_str().unwrap_or("").is_empty(), "{v}");
    }

    // The console's history request: words and key=value filters from `:history`.
    let client = gw.client(SUP);
    let reply = execute(
        &client,
        Request::History {
            q: "direction=inbound intent=make_offer".into(),
            cursor: None,
        },
    )
    .await
    .unwrap();
    match reply {
        Reply::History { calls, .. } => {
            let ids: Vec<&str> = calls.iter().map(|c| c.provider_call_id.as_str()).collect();
            assert_eq!(ids, ["in-offer"]);
        }
        other => panic!("{other:?}"),
    }
    let refused = execute(
        &client,
        Request::History {
            q: "colour=red".into(),
            cursor: None,
        },
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(refused.contains("unknown filter"), "{refused}");
    gw.stop().await;
}

#[tokio::test]
async fn the_console_adds_queue_items_reads_the_logs_and_analytics() {
    let rules = ComplianceRules {
        default_region: Some("US".into()),
        ..ComplianceRules::default()
    };
    let gw = Gw::start(config(rules).await).await;
    let sup = gw.client(SUP);
    let admin = gw.client(ADMIN);
    gw.call(
        "c1",
        "inbound",
        "make_offer",
        "positive",
        "offer_captured",
        true,
    )
    .await;
    let (s, v) = gw
        .post(
            "/api/compliance/dnc",
            json!({"number": "+14155550177", "source": "manual"}),
        )
        .await;
    assert!(s.is_success(), "{v}");

    let add = |number: &str| {
        Request::AddToQueue(Box::new(InitiateRequest {
            lead_id: None,
            lead_name: Some("Ruth Added".into()),
            phone_number: number.into(),
            campaign_id: Some("renewals".into()),
            script: None,
            agent_settings: Value::Null,
            scheduled_at: Some(Utc::now() + chrono::Duration::hours(1)),
            time_zone: None,
        }))
    };
    match execute(&sup, add("+14155550188")).await.unwrap() {
        Reply::QueueItem(Some(item)) => {
            assert_eq!(item.lead.name.as_deref(), Some("Ruth Added"));
            assert_eq!(item.campaign.as_deref(), Some("renewals"));
        }
        other => panic!("{other:?}"),
    }
    // A number on the DNC list: the gateway's refusal, in its words, for the form to show.
    let refused = execute(&sup, add("(415) 555-0177"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.to_lowercase().contains("do-not-call"), "{refused}");

    match execute(&sup, Request::AuditLog).await.unwrap() {
        Reply::AuditLog(entries) => {
            assert!(
                entries.iter().any(|e| e.action == "initiate"),
                "{entries:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The webhook log: admins only; the supervisor gets the rule book's sentence.
    let refused = execute(&sup, Request::WebhookLog)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("the supervisor role may not read the webhook log"),
        "{refused}"
    );
    match execute(&admin, Request::WebhookLog).await.unwrap() {
        Reply::WebhookLog(entries) => {
            assert!(entries
                .iter()
                .any(|e| e.ok && e.integration == "acme-voice"));
        }
        other => panic!("{other:?}"),
    }

    for (range, group_by, key) in [
        (Some("today"), Some("provider"), "acme-voice"),
        (Some("7d"), Some("campaign"), "renewals"),
        (Some("30d"), None, ""),
    ] {
        let request = Request::Analytics {
            range: range.map(String::from),
            group_by: group_by.map(String::from),
        };
        match execute(&sup, request).await.unwrap() {
            Reply::Analytics(a) => {
                assert_eq!(a.total_calls, 1, "{range:?}");
                if key.is_empty() {
                    assert!(a.groups.is_empty());
                } else {
                    assert_eq!(a.groups[key].total_calls, 1, "{:?}", a.groups);
                }
            }
            other => panic!("{other:?}"),
        }
    }
    for query in [
        "range=fortnight",
        "range=7d&from=2026-01-01T00:00:00Z",
        "group_by=colour",
    ] {
        let (s, v) = gw.get(&format!("/api/calls/analytics?{query}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {v}");
    }
    gw.stop().await;
}

fn ai(pcid: &str, n: u32, text: &str) -> Value {
    json!({"id": format!("{pcid}-ai{n}"), "type": "transcript.final", "provider_call_id": pcid,
        "utterance_id": format!("u{n}"), "speaker": "ai", "text": text})
}

#[tokio::test]
async fn the_compliance_status_is_stored_with_the_call_and_kept_in_history() {
    let rules = ComplianceRules {
        default_region: Some("US".into()),
        disclosure_phrases: vec!["I am an AI".into()],
        consent_phrases: vec!["this call is recorded".into()],
        within_ai_turns: 2,
        two_party_consent_regions: vec!["US-CA".into()],
        ..ComplianceRules::default()
    };
    let gw = Gw::start(config(rules).await).await;
    // A caller in California (415): a missing consent notice is a violation.
    gw.call("bad", "inbound", "make_offer", "neutral", "", false)
        .await;
    gw.ingest(ai("bad", 1, "Hello, Acme here.")).await;
    let (_, v) = gw
        .get(&format!("/api/calls/{}", gw.id_of("bad").await))
        .await;
    assert!(
        v.get("compliance").is_none(),
        "not before the deadline: {v}"
    );
    gw.ingest(ai("bad", 2, "How can I help?")).await;
    gw.call("good", "inbound", "make_offer", "neutral", "", false)
        .await;
    gw.ingest(ai(
        "good",
        1,
        "I am an AI assistant and this call is recorded.",
    ))
    .await;
    gw.ingest(ai("good", 2, "How can I help?")).await;
    gw.end("bad", "completed").await;
    gw.end("good", "completed").await;

    let bad = gw.id_of("bad").await;
    let (_, v) = gw.get(&format!("/api/calls/{bad}")).await;
    assert_eq!(v["compliance"]["disclosure"], "missing", "{v}");
    assert_eq!(v["compliance"]["consent"], "violation", "{v}");
    let (_, v) = gw.get("/api/calls?state=ended").await;
    let good = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider_call_id"] == "good")
        .cloned()
        .unwrap();
    assert_eq!(good["compliance"]["disclosure"], "ok", "{good}");
    assert_eq!(good["compliance"]["consent"], "ok", "{good}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_in_seconds_is_judged_when_the_time_has_passed() {
    let rules = ComplianceRules {
        default_region: Some("US".into()),
        disclosure_phrases: vec!["I am an AI".into()],
        consent_phrases: vec!["this call is recorded".into()],
        within_secs: Some(3),
        ..ComplianceRules::default()
    };
    let mut c = config(rules).await;
    c.queue.poll_secs = 1;
    let gw = Gw::start(c).await;
    gw.call("timed", "inbound", "make_offer", "neutral", "", false)
        .await;
    // Only the consent notice, and only one turn: the turn count does not matter here.
    gw.ingest(ai("timed", 1, "Hello, this call is recorded."))
        .await;
    let id = gw.id_of("timed").await;
    // Polled until the verdict is there (the check runs every poll, 1 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let (_, v) = gw.get(&format!("/api/calls/{id}")).await;
        if v.get("compliance").is_some() {
            break v;
        }
        assert!(Instant::now() < deadline, "no verdict: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(v["compliance"]["disclosure"], "missing", "{v}");
    assert_eq!(v["compliance"]["consent"], "ok", "{v}");
    // Not before: the verdict is dated at or after the deadline.
    let at = |k: &str| -> DateTime<Utc> {
        serde_json::from_value(k.split('.').fold(v.clone(), |v, p| v[p].clone())).unwrap()
    };
    let started = at("started_at");
    let checked = at("compliance.checked_at");
    assert!(
        checked >= started + chrono::Duration::seconds(3),
        "checked {checked} started {started}"
    );
    let alerts: Vec<&Value> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "compliance_disclosure")
        .collect();
    assert_eq!(alerts.len(), 1, "{v}");
    assert!(
        alerts[0]["message"]
            .as_str()
            .unwrap()
            .contains("within 3 s"),
        "{v}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_rule_breakers_are_blocked_and_rescheduled() {
    use callwatch::app::{night_zone, DNC_LEAD_NUMBER, NIGHT_LEAD_NUMBER};
    let dir = tempfile::tempdir().unwrap();
    let mut rules = ComplianceRules {
        default_region: Some("US".into()),
        calling_hours: Some(window("08:00", "21:00")),
        ..ComplianceRules::default()
    };
    // The DNC lead's campaign may call at any hour: only the DNC list stops it.
    rules
        .campaign_hours
        .insert("Spring buyers".into(), window("00:00", "23:59"));
    let mut config = GatewayConfig::default().with_token("sam", SUP, "acme", Role::Supervisor);
    config.compliance = rules;
    let started = Utc::now();
    let sim = SimulatorOptions {
        seed: Some(11),
        calls_per_minute: Some(0.1),
        speed: Some(20.0),
        scenarios: None,
        max_concurrent: None,
    };
    let running = start_gateway(
        GatewayOptions::new(config, dir.path().join("cw.db")),
        Some(&sim),
    )
    .await
    .unwrap();
    let gw = Gw {
        url: running.url(),
        running: Some(running),
        http: reqwest::Client::new(),
        _dir: dir,
    };
    let item = |number: &'static str| {
        let gw = &gw;
        async move {
            let (_, q) = gw.get("/api/calls/queue?all=true").await;
            q["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["phone_number"] == number)
                .cloned()
                .unwrap_or(Value::Null)
        }
    };
    eventually("the DNC lead is blocked by the scheduler", || async {
        item(DNC_LEAD_NUMBER).await["last_result"] == "blocked: DNC (caller_request)"
    })
    .await;
    let dnc = item(DNC_LEAD_NUMBER).await;
    assert_eq!(dnc["state"], "failed", "{dnc}");
    let night = item(NIGHT_LEAD_NUMBER).await;
    assert_eq!(night["state"], "scheduled", "{night}");
    assert!(
        night["last_result"]
            .as_str()
            .unwrap_or("")
            .starts_with("rescheduled: outside calling hours"),
        "{night}"
    );
    // The right instant: 08:00 in the lead's zone, where it was 03:xx when it was queued.
    let zone = night["time_zone"].as_str().unwrap_or("").to_string();
    assert_eq!(zone, night_zone(started), "{night}");
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let at: DateTime<Utc> = serde_json::from_value(night["scheduled_at"].clone()).unwrap();
    let local = at.with_timezone(&tz);
    assert_eq!(local.format("%H:%M").to_string(), "08:00", "{night}");
    assert!(
        at > started && at - started < chrono::Duration::hours(6),
        "{night}"
    );

    let (_, audit) = gw.get("/api/audit?limit=1000").await;
    let entries = audit["entries"].as_array().unwrap();
    let audited = |action: &str, item: &Value| {
        entries
            .iter()
            .any(|e| e["action"] == action && e["queue_item_id"] == item["id"])
    };
    assert!(audited("compliance_blocked", &dnc), "{audit}");
    assert!(audited("compliance_rescheduled", &night), "{audit}");
    // Never dialled: no call to either number.
    let (_, calls) = gw.get("/api/calls?limit=500").await;
    for c in calls["calls"].as_array().unwrap() {
        assert_ne!(c["to"], DNC_LEAD_NUMBER, "{c}");
        assert_ne!(c["to"], NIGHT_LEAD_NUMBER, "{c}");
    }
    gw.stop().await;
}
