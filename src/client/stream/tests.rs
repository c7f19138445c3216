//! The stream task against a real local websocket server that plays scripted frames.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::*;
use crate::core::model::{Analytics, Role};
use crate::core::protocol::{ApiError, ServerFrame, Snapshot, StreamEvent};

enum Step {
    Send(Box<ServerFrame>),
    AwaitResync,
    Close,
    Hold,
}

#[derive(Clone)]
struct Script {
    conns: Arc<Mutex<VecDeque<Vec<Step>>>>,
    seen: mpsc::UnboundedSender<Option<String>>,
}

async fn handler(
    State(script): State<Script>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != "Bearer tok" {
        let body = ApiError {
            error: "unauthorized".into(),
            message: "unknown token".into(),
            field: None,
        };
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let _ = script.seen.send(query);
    let steps = script
        .conns
        .lock()
        .map(|mut c| c.pop_front())
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![Step::Hold]);
    ws.on_upgrade(move |socket| play(socket, steps))
}

async fn play(mut socket: WebSocket, steps: Vec<Step>) {
    for step in steps {
        match step {
            Step::Send(frame) => {
                let text = serde_json::to_string(&*frame).unwrap();
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Step::AwaitResync => loop {
                match socket.recv().await {
                    Some(Ok(WsMessage::Text(t))) if t.contains("resync") => break,
                    Some(Ok(_)) => continue,
                    _ => return,
                }
            },
            Step::Close => return,
            Step::Hold => while let Some(Ok(_)) = socket.recv().await {},
        }
    }
}

async fn start(conns: Vec<Vec<Step>>) -> (String, mpsc::UnboundedReceiver<Option<String>>) {
    let (seen, seen_rx) = mpsc::unbounded_channel();
    let script = Script {
        conns: Arc::new(Mutex::new(conns.into())),
        seen,
    };
    let app = Router::new()
        .route("/api/stream", get(handler))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen_rx)
}

fn welcome(resumed: bool, hb: u64) -> Step {
    Step::Send(Box::new(ServerFrame::Welcome {
        epoch: "E1".into(),
        seq: 0,
        org: "acme".into(),
        actor: "sup".into(),
        role: Role::Supervisor,
        resumed,
        reason: None,
        heartbeat_secs: hb,
        deltas: false,
    }))
}

fn snapshot(seq: u64) -> Step {
    Step::Send(Box::new(ServerFrame::Snapshot {
        snapshot: Box::new(Snapshot {
            epoch: "E1".into(),
            seq,
            org: "acme".into(),
            calls: vec![],
            queue: vec![],
            analytics: Analytics::default(),
        }),
    }))
}

fn event(seq: u64) -> Step {
    let analytics = Analytics {
        total_calls: seq,
        ..Analytics::default()
    };
    Step::Send(Box::new(ServerFrame::Event {
        epoch: "E1".into(),
        seq,
        event: StreamEvent::AnalyticsUpdated { analytics },
    }))
}

fn config(url: &str, token: &str) -> StreamConfig {
    StreamConfig {
        base_url: url.into(),
        token: token.into(),
        backoff: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        connect_timeout: Duration::from_secs(5),
        subscriptions: false,
        deltas: false,
    }
}

async fn next(rx: &mut mpsc::Receiver<StreamMsg>) -> StreamMsg {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("no stream message within 15 s")
        .expect("stream task ended")
}

/// Collapses a message to a short label so whole sequences can be compared.
fn label(m: &StreamMsg) -> String {
    match m {
        StreamMsg::Connecting { attempt } => format!("connecting#{attempt}"),
        StreamMsg::Connected { resumed, .. } => format!("connected(resumed={resumed})"),
        StreamMsg::Snapshot(s) => format!("snapshot@{}", s.seq),
        StreamMsg::Event { seq, .. } => format!("event@{seq}"),
        StreamMsg::Delta { seq, .. } => format!("delta@{seq}"),
        StreamMsg::Resync { reason } => format!("resync({reason:?})"),
        StreamMsg::ServerError { message } => format!("error({message})"),
        StreamMsg::Disconnected { .. } => "disconnected".into(),
        StreamMsg::AuthFailed { message } => format!("auth_failed({message})"),
        StreamMsg::Presence { watchers } => format!("presence({})", watchers.len()),
        StreamMsg::Subscribed { calls, transcripts } => {
            format!("subscribed({}, {})", calls.join(","), transcripts.len())
        }
    }
}

#[tokio::test]
async fn dedupes_resyncs_on_gap_and_resumes_after_reconnect() {
    let (url, mut seen) = start(vec![
        vec![
            welcome(false, 10),
            snapshot(2),
            event(2), // already in the snapshot: dropped
            event(3),
            event(3), // duplicate: dropped
            event(5), // gap: the client asks for a resync
            Step::AwaitResync,
            Step::Send(Box::new(ServerFrame::Resync {
                reason: ResyncReason::Lagged,
            })),
            snapshot(5),
            event(6),
            Step::Close,
        ],
        vec![welcome(true, 10), event(7), Step::Hold],
    ])
    .await;
    let (tx, mut rx) = mpsc::channel(8);
    let _handle = spawn_stream(config(&url, "tok"), tx);
    let mut got = Vec::new();
    for _ in 0..11 {
        got.push(label(&next(&mut rx).await));
    }
    assert_eq!(
        got,
        [
            "connecting#0",
            "connected(resumed=false)",
            "snapshot@2",
            "event@3",
            "resync(Lagged)",
            "snapshot@5",
            "event@6",
            "disconnected",
            "connecting#1",
            "connected(resumed=true)",
            "event@7",
        ]
    );
    assert_eq!(
        seen.recv().await.unwrap(),
        None,
        "first connection has no position"
    );
    assert_eq!(
        seen.recv().await.unwrap().as_deref(),
        Some("epoch=E1&since=6"),
        "reconnect resumes from the last delivered seq"
    );
}

fn delta(seq: u64) -> Step {
    let mut changes = serde_json::Map::new();
    changes.insert("total_calls".into(), seq.into());
    Step::Send(Box::new(ServerFrame::Delta {
        epoch: "E1".into(),
        seq,
        delta: crate::core::protocol::StreamDelta::AnalyticsUpdated {
            changes,
            edits: Default::default(),
        },
    }))
}

#[tokio::test]
async fn deltas_are_numbered_like_events_and_the_ui_can_ask_for_a_snapshot() {
    let (url, mut seen) = start(vec![vec![
        welcome(false, 10),
        snapshot(2),
        delta(2), // in the snapshot: dropped
        delta(3),
        event(4),
        delta(4), // a repeat: dropped
        Step::AwaitResync,
        snapshot(9),
        delta(10),
        Step::Hold,
    ]])
    .await;
    let (tx, mut rx) = mpsc::channel(8);
    let handle = spawn_stream(
        StreamConfig {
            deltas: true,
            ..config(&url, "tok")
        },
        tx,
    );
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(label(&next(&mut rx).await));
    }
    // The UI could not apply the delta numbered 4: a snapshot replaces everything.
    handle.resync(4);
    for _ in 0..2 {
        got.push(label(&next(&mut rx).await));
    }
    assert_eq!(
        got,
        [
            "connecting#0",
            "connected(resumed=false)",
            "snapshot@2",
            "delta@3",
            "event@4",
            "snapshot@9",
            "delta@10",
        ]
    );
    assert_eq!(seen.recv().await.unwrap().as_deref(), Some("deltas=1"));
}

#[tokio::test]
async fn refused_token_stops_with_the_gateway_message() {
    let (url, _seen) = start(vec![]).await;
    let (tx, mut rx) = mpsc::channel(8);
    let handle = spawn_stream(config(&url, "wrong"), tx);
    assert_eq!(label(&next(&mut rx).await), "connecting#0");
    assert_eq!(label(&next(&mut rx).await), "auth_failed(unknown token)");
    assert!(
        rx.recv().await.is_none(),
        "the task ends after an auth failure"
    );
    assert!(handle.is_finished());
}

#[tokio::test]
async fn silent_server_is_dropped_and_reconnected_with_position() {
    let (url, mut seen) = start(vec![
        vec![welcome(false, 1), snapshot(4), Step::Hold],
        vec![welcome(true, 10), Step::Hold],
    ])
    .await;
    let (tx, mut rx) = mpsc::channel(8);
    let _handle = spawn_stream(config(&url, "tok"), tx);
    let mut labels = Vec::new();
    let mut error = String::new();
    while labels.len() < 6 {
        let m = next(&mut rx).await;
        if let StreamMsg::Disconnected { error: e, .. } = &m {
            error = e.clone();
        }
        labels.push(label(&m));
    }
    assert_eq!(
        labels,
        [
            "connecting#0",
            "connected(resumed=false)",
            "snapshot@4",
            "disconnected",
            "connecting#1",
            "connected(resumed=true)"
        ]
    );
    assert!(error.contains("no heartbeat"), "{error}");
    assert_eq!(seen.recv().await.unwrap(), None);
    assert_eq!(
        seen.recv().await.unwrap().as_deref(),
        Some("epoch=E1&since=4")
    );
}

#[tokio::test]
async fn unreachable_gateway_backs_off_and_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (tx, mut rx) = mpsc::channel(8);
    let _handle = spawn_stream(config(&format!("http://{addr}"), "tok"), tx);
    assert_eq!(label(&next(&mut rx).await), "connecting#0");
    match next(&mut rx).await {
        StreamMsg::Disconnected { error, retry_in } => {
            assert!(error.contains("cannot reach the gateway"), "{error}");
            assert!(retry_in <= Duration::from_millis(100));
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert_eq!(label(&next(&mut rx).await), "connecting#1");
}

#[test]
fn backoff_grows_with_jitter_and_is_capped() {
    let b = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };
    for attempt in 0..40 {
        let d = b.delay(attempt);
        let cap = Duration::from_millis(100)
            .saturating_mul(1 << attempt.min(20))
            .min(Duration::from_secs(2));
        assert!(
            d >= cap / 2 && d <= cap,
            "attempt {attempt}: {d:?} not in [{:?}, {cap:?}]",
            cap / 2
        );
    }
}

#[test]
fn urls_map_http_to_ws_and_carry_the_position() {
    let p = Position {
        epoch: "a b".into(),
        seq: 9,
    };
    assert_eq!(
        stream_url("https://gw.example/base/", Some(&p), None, false).unwrap(),
        "wss://gw.example/base/api/stream?epoch=a+b&since=9"
    );
    assert_eq!(
        stream_url("http://127.0.0.1:1", None, Some(&["c".into()]), true).unwrap(),
        "ws://127.0.0.1:1/api/stream?calls=c&deltas=1"
    );
    assert_eq!(
        stream_url("http://127.0.0.1:1", None, None, false).unwrap(),
        "ws://127.0.0.1:1/api/stream"
    );
}
