//! What unauthenticated and heavy clients may cost the gateway, through real HTTP and
//! websockets: refused deliveries store nothing, ingest rate limits, the search cap and
//! full-text search, where `?token=` is accepted, websocket origins and ping timeouts.
//! Each test starts its own gateway on 127.0.0.1:0 in a temporary directory.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use callwatch::core::model::Role;
use callwatch::gateway::config::Synchronous;
use callwatch::gateway::ingest::signature_header;
use callwatch::gateway::{start, GatewayConfig, GatewayOptions, RunningGateway};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "whsec_test_acme";
const VIEWER: &str = "tok_acme_viewer";
const SUP: &str = "tok_acme_supervisor";

fn config() -> GatewayConfig {
    GatewayConfig::default()
        .with_token("vera", VIEWER, "acme", Role::Viewer)
        .with_token("sam", SUP, "acme", Role::Supervisor)
        .with_custom_integration("acme-voice", "acme", SECRET, None)
}

async fn launch(config: GatewayConfig, dir: &Path) -> RunningGateway {
    start(GatewayOptions::new(config, dir.join("cw.db")))
        .await
        .unwrap()
}

fn db_bytes(dir: &Path) -> u64 {
    ["cw.db", "cw.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

async fn ingest(http: &reqwest::Client, url: &str, event: &Value) -> reqwest::Response {
    let raw = serde_json::to_vec(event).unwrap();
    let t = chrono::Utc::now().timestamp();
    http.post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", "acme-voice")
        .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
        .body(raw)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bogus_signature_flood_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.limits.max_body_bytes = 2 * 1024 * 1024;
    let running = launch(c, dir.path()).await;
    let url = running.url();
    let before = db_bytes(dir.path());
    let body = bytes::Bytes::from(vec![b'x'; 1024 * 1024]);
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    const TOTAL: usize = 5_000;
    let mut clients = Vec::new();
    for _ in 0..6 {
        let (url, body, next, refused) = (url.clone(), body.clone(), next.clone(), refused.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= TOTAL {
                    break;
                }
                let t = chrono::Utc::now().timestamp();
                // A well-formed header with the wrong MAC, a made-up integration, a stale
                // timestamp, and the provider route: every way to fail verification.
                let req = match n % 4 {
                    0 => http
                        .post(format!("{url}/api/ingest"))
                        .header("Callwatch-Integration", "acme-voice")
                        .header(
                            "Callwatch-Signature",
                            format!("t={t},v1={}", "ab".repeat(32)),
                        ),
                    1 => http
                        .post(format!("{url}/api/ingest"))
                        .header("Callwatch-Integration", format!("guess-{n}"))
                        .header("Callwatch-Signature", signature_header("nope", t, b"")),
                    2 => http
                        .post(format!("{url}/api/ingest"))
                        .header("Callwatch-Integration", "acme-voice")
                        .header(
                            "Callwatch-Signature",
                            signature_header(SECRET, t - 900, &body),
                        ),
                    _ => http
                        .post(format!("{url}/webhooks/acme-voice"))
                        .header("Callwatch-Signature", "t=1,v1=00"),
                };
                // An early answer may reset the connection while we are still sending.
                if let Ok(r) = req.body(body.clone()).send().await {
                    assert_eq!(r.status(), 401);
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    assert!(
        refused.load(Ordering::Relaxed) > TOTAL / 2,
        "only {} answers",
        refused.load(Ordering::Relaxed)
    );
    let grown = db_bytes(dir.path()).saturating_sub(before);
    assert!(grown < 1_000_000, "database grew by {grown} bytes");
    assert_eq!(running.gateway.store.webhook_counts().unwrap(), (0, 0));
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // And the gateway still takes real deliveries.
    let ok = ingest(
        &reqwest::Client::new(),
        &url,
        &json!({"id": "e1", "type": "call.started", "provider_call_id": "p1",
            "direction": "inbound", "from": "+15550001111", "to": "+15559990000"}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    running.shutdown().await;
}

#[tokio::test]
async fn ingest_is_rate_limited_per_address_and_per_verified_integration() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.limits.ingest_per_minute_per_integration = 2;
    c.limits.ingest_per_minute_per_address = 8;
    let running = launch(c, dir.path()).await;
    let url = running.url();
    let http = reqwest::Client::new();
    // Refused deliveries do not spend the integration's budget...
    for _ in 0..3 {
        let r = http
            .post(format!("{url}/api/ingest"))
            .header("Callwatch-Integration", "acme-voice")
            .header("Callwatch-Signature", "t=1,v1=00")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let event = |n: u32| {
        json!({"id": format!("e{n}"), "type": "call.started", "provider_call_id": format!("p{n}"),
            "direction": "inbound", "from": "+15550001111", "to": "+15559990000"})
    };
    assert_eq!(ingest(&http, &url, &event(1)).await.status(), 200);
    assert_eq!(ingest(&http, &url, &event(2)).await.status(), 200);
    // ...verified ones do.
    let r = ingest(&http, &url, &event(3)).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "rate_limited");
    // 6 requests so far from this address; two more pass the address check, then it
    // refuses before reading the body (a body over the size limit gets 429, not 413).
    for _ in 0..2 {
        assert_eq!(ingest(&http, &url, &event(4)).await.status(), 429);
    }
    let r = http
        .post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", "acme-voice")
        .body(vec![b'x'; 3 * 1024 * 1024])
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        let v: Value = r.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().contains("address"), "{v}");
    }
    let (_, calls) = (
        200,
        http.get(format!("{url}/api/calls"))
            .bearer_auth(SUP)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
    );
    assert_eq!(calls["calls"].as_array().unwrap().len(), 2);
    running.shutdown().await;
}

async fn history(http: &reqwest::Client, url: &str, q: &str) -> (u16, Value) {
    let r = http
        .get(format!("{url}/api/calls"))
        .query(&[("q", q), ("status", "all")])
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("not a call list: {v}"))
        .iter()
        .map(|c| {
            c["provider_call_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{c}"))
                .to_string()
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn search_is_literal_indexed_backfilled_and_capped_per_token() {
    let dir = tempfile::tempdir().unwrap();
    let running = launch(config(), dir.path()).await;
    let url = running.url();
    let http = reqwest::Client::new();
    let lines = [
        (
            "p1",
            "Dana Whitfield",
            r#"I said "hi" OR maybe NEAR(bye) 50% off*"#,
        ),
        ("p2", "Omar Haddad", "the invoice number is 4411"),
        ("p3", "Lee Quinn", "hi there, bye now"),
    ];
    for (n, (pcid, name, text)) in lines.iter().enumerate() {
        let start = json!({"id": format!("s{n}"), "type": "call.started", "provider_call_id": pcid,
            "direction": "inbound", "from": format!("+1555000{n}{n}{n}{n}"), "to": "+15559990000",
            "lead": {"name": name}});
        assert_eq!(ingest(&http, &url, &start).await.status(), 200);
        let line = json!({"id": format!("t{n}"), "type": "transcript.final", "provider_call_id": pcid,
            "utterance_id": "u1", "speaker": "caller", "text": text});
        let r = ingest(&http, &url, &line).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    let check = |q: &'static str, want: &'static [&'static str]| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let (s, v) = history(&http, &url, q).await;
            assert_eq!(s, 200, "{q}: {v}");
            assert_eq!(ids(&v), want, "q = {q:?}");
        }
    };
    // Substrings, case-insensitive, of the transcript and of the caller's details.
    check("INVOICE num", &["p2"]).await;
    check("whitfield", &["p1"]).await;
    check("0111", &["p2"]).await;
    // FTS syntax in user text is literal: quotes, OR, NEAR, *, %.
    check(r#""hi" OR"#, &["p1"]).await;
    check("hi OR bye", &[]).await;
    check("NEAR(bye)", &["p1"]).await;
    check("50% off*", &["p1"]).await;
    check(r#"""#, &["p1"]).await;
    // Shorter than a trigram still works.
    check("hi", &["p1", "p3"]).await;

    // The per-token cap: with every slot of the viewer's token taken, 429 + Retry-After.
    let slots: Vec<_> = (0..4)
        .map(|_| running.gateway.guard.search_slot("vera").unwrap())
        .collect();
    let (s, v) = history(&http, &url, "invoice").await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"], "rate_limited");
    let other = http
        .get(format!("{url}/api/calls?q=invoice"))
        .bearer_auth(SUP)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another token is not affected");
    drop(slots);
    assert_eq!(history(&http, &url, "invoice").await.0, 200);
    running.shutdown().await;

    // A database from before the index: the migration indexes what is already there.
    {
        let conn = rusqlite::Connection::open(dir.path().join("cw.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE calls_fts; DROP TABLE transcript_fts; DROP INDEX webhook_log_at;
             DROP TRIGGER calls_fts_insert; DROP TRIGGER calls_fts_update;
             DROP TRIGGER calls_fts_delete; DROP TRIGGER transcript_fts_insert;
             DROP TRIGGER transcript_fts_update; DROP TRIGGER transcript_fts_delete;
             DELETE FROM schema_migrations WHERE version = 3;",
        )
        .unwrap();
    }
    let running = launch(config(), dir.path()).await;
    let url = running.url();
    let (_, v) = history(&http, &url, "invoice number").await;
    assert_eq!(ids(&v), ["p2"]);
    let (_, v) = history(&http, &url, "quinn").await;
    assert_eq!(ids(&v), ["p3"]);
    running.shutdown().await;
}

#[tokio::test]
async fn query_tokens_only_on_the_stream_and_sse() {
    let dir = tempfile::tempdir().unwrap();
    let running = launch(config(), dir.path()).await;
    let url = running.url();
    let http = reqwest::Client::new();
    for path in ["/api/calls", "/api/calls/active", "/api/calls/x/transcript"] {
        let r = http
            .get(format!("{url}{path}?token={VIEWER}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("only on /api/stream"),
            "{v}"
        );
    }
    let r = http
        .post(format!("{url}/api/calls/x/end?token={SUP}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The SSE transcript takes it (404: the call does not exist, but the token was read).
    let r = http
        .get(format!("{url}/api/calls/x/transcript?token={VIEWER}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    running.shutdown().await;
}

async fn ws_connect(
    url: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    let mut req = format!(
        "{}/api/stream?token={VIEWER}",
        url.replacen("http", "ws", 1)
    )
    .into_client_request()
    .unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert!(v["message"].is_string(), "{v}");
            Err(resp.status().as_u16())
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn websocket_origins_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.server.allowed_origins = vec!["https://ops.example.com".into()];
    let running = launch(c, dir.path()).await;
    let url = running.url();
    let own = url.clone();
    assert!(
        ws_connect(&url, None).await.is_ok(),
        "no Origin: not a browser"
    );
    assert!(ws_connect(&url, Some(&own)).await.is_ok(), "same origin");
    assert!(ws_connect(&url, Some("https://ops.example.com"))
        .await
        .is_ok());
    assert_eq!(
        ws_connect(&url, Some("https://evil.example")).await.err(),
        Some(403)
    );
    assert_eq!(ws_connect(&url, Some("null")).await.err(), Some(403));
    running.shutdown().await;
}

#[tokio::test]
async fn silent_websocket_clients_are_closed_and_answering_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.server.ws_ping_secs = 1;
    c.server.ws_pong_timeout_secs = 2;
    c.stream.heartbeat_secs = 60;
    let running = launch(c, dir.path()).await;
    let url = running.url();
    // Reads all the time: tungstenite answers the pings.
    let mut alive = ws_connect(&url, None).await.unwrap();
    let mut silent = ws_connect(&url, None).await.unwrap();
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut pings = 0;
    while let Ok(Some(msg)) = tokio::time::timeout_at(until, alive.next()).await {
        match msg.unwrap() {
            Message::Ping(_) => pings += 1,
            Message::Close(_) => panic!("an answering client was closed"),
            _ => {}
        }
    }
    assert!(pings >= 3, "{pings} pings");
    // The other one read nothing (so sent no pong) for 5 s: the server has closed it.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match silent.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
    running.shutdown().await;
}

#[tokio::test]
async fn synchronous_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let running = launch(config(), dir.path()).await;
    assert_eq!(running.gateway.store.synchronous().unwrap(), 1, "normal");
    running.shutdown().await;
    let text = "[gateway.store]\nsynchronous = \"full\"\n";
    let mut c = GatewayConfig::from_toml(text).unwrap();
    assert_eq!(c.store.synchronous, Synchronous::Full);
    c.tokens = config().tokens;
    let running = launch(c, dir.path()).await;
    assert_eq!(running.gateway.store.synchronous().unwrap(), 2, "full");
    running.shutdown().await;
    assert!(GatewayConfig::from_toml("[gateway.store]\nsynchronous = \"off\"\n").is_err());
}
