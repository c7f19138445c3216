//! End to end: the real `callwatch` console binary inside tmux against a real gateway
//! (127.0.0.1:0, temporary SQLite file) with compliance rules: the screen shows a call's
//! compliance alert with its message, and blocked / rescheduled queue items with their
//! reasons. Skipped (with a note) when tmux is not installed and `CI` is unset; in CI a
//! missing tmux fails.

#[path = "support/tmux.rs"]
mod tmux;
use std::time::{Duration, Instant};
use tmux::{tmux_or_skip, Tmux};

use callwatch::core::compliance::window::WindowSpec;
use callwatch::core::compliance::CallingWindow;
use callwatch::core::model::Role;
use callwatch::gateway::compliance::ComplianceRules;
use callwatch::gateway::config::GatewayConfig;
use callwatch::gateway::ingest::signature_header;
use callwatch::gateway::{start, GatewayOptions};
use chrono::{Timelike, Utc};
use serde_json::{json, Value};

const TOKEN: &str = "cw_e2e_compliance_sup_9a2c";
const SECRET: &str = "e2e-compliance-secret";

/// A control URL that accepts every dial (nothing here should be dialled).
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

#[tokio::test(flavor = "multi_thread")]
async fn the_console_shows_compliance_alerts_and_blocked_and_rescheduled_items() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // A window starting two hours from now (UTC): an item in Etc/UTC is outside it.
    let h = (Utc::now().hour() + 2) % 24;
    let window = CallingWindow::try_from(WindowSpec {
        start: format!("{h:02}:00"),
        end: if h == 23 {
            "23:59".into()
        } else {
            format!("{:02}:00", h + 1)
        },
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(String::from)
            .to_vec(),
    })
    .unwrap();
    let mut config = GatewayConfig::default()
        .with_token("e2e-sup", TOKEN, "e2e", Role::Supervisor)
        .with_custom_integration("voice", "e2e", SECRET, Some(&control_server().await));
    config.compliance = ComplianceRules {
        default_region: Some("US".into()),
        calling_hours: Some(window),
        disclosure_phrases: vec!["I am an AI".into()],
        consent_phrases: vec!["this call is recorded".into()],
        two_party_consent_regions: vec!["US-CA".into()],
        ..ComplianceRules::default()
    };
    let running = start(GatewayOptions::new(config, dir.path().join("e2e.db")))
        .await
        .expect("gateway");
    let url = running.url();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let ingest = |body: Value| {
        let raw = serde_json::to_vec(&body).unwrap();
        http.post(format!("{url}/api/ingest"))
            .header("Callwatch-Integration", "voice")
            .header(
                "Callwatch-Signature",
                signature_header(SECRET, Utc::now().timestamp(), &raw),
            )
            .header("content-type", "application/json")
            .body(raw)
            .send()
    };

    let console_config = dir.path().join("console.toml");
    std::fs::write(&console_config, "").expect("console config");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let tmux = Tmux::new("cw-compliance");
    let console = format!(
        "'{}' --config '{}' --url '{}' --token-file '{}' --log-file '{}'",
        env!("CARGO_BIN_EXE_callwatch"),
        console_config.display(),
        url,
        token_file.display(),
        dir.path().join("console.log").display(),
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "cw",
        "-x",
        "160",
        "-y",
        "40",
        &console,
    ]);
    assert!(
        out.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_screen("a connected console", |s| s.contains("● connected"));

    // A Californian caller; the AI's first two turns say neither phrase.
    let r = ingest(
        json!({"id": "s1", "type": "call.started", "provider_call_id": "c1",
        "direction": "inbound", "from": "+14155550155", "to": "+15559990000",
        "lead": {"name": "Rosa Diaz"}, "state": "in_progress"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    for (n, text) in [
        (1, "Hello, thanks for calling."),
        (2, "How can I help you today?"),
    ] {
        let r = ingest(json!({"id": format!("a{n}"), "type": "transcript.final",
            "provider_call_id": "c1", "utterance_id": format!("u{n}"), "speaker": "ai",
            "text": text}))
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    tmux.wait_screen("the compliance alert with its message", |s| {
        s.contains("Rosa Diaz") && s.contains("⚠ Warning: the AI did not say")
    });

    // The caller asked not to be called again: one key on the Calls screen.
    tmux.cmd(&["send-keys", "-t", "cw", "D"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list: Value = http
            .get(format!("{url}/api/compliance/dnc"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = list["entries"].as_array().cloned().unwrap_or_default();
        if let Some(e) = entries.iter().find(|e| e["number"] == "+14155550155") {
            assert_eq!(e["source"], "caller_request");
            assert_eq!(e["addedBy"], "e2e-sup");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the caller was not added: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tmux.wait_screen("the console confirms", |s| s.contains("do-not-call list"));

    // Queue: one item outside the window, one whose number goes on the DNC list.
    let r = post(
        "/api/calls/initiate",
        json!({"phoneNumber": "+14155550177", "leadName": "Night Owl", "timeZone": "Etc/UTC"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let soon = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let r = post(
        "/api/calls/initiate",
        json!({"phoneNumber": "+14155550188", "leadName": "Do Not Call", "scheduledAt": soon}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let r = post(
        "/api/compliance/dnc",
        json!({"number": "(415) 555-0188", "source": "caller_request"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    tmux.cmd(&["send-keys", "-t", "cw", "2"]);
    let screen = tmux.wait_screen("blocked and rescheduled items with reasons", |s| {
        s.contains("blocked: DNC (caller_request)")
            && s.contains("rescheduled: outside calling hours")
    });
    assert!(
        screen.contains("Do Not Call") && screen.contains("Night Owl"),
        "{screen}"
    );
    drop(tmux);
    running.shutdown().await;
}
