//! `GET /api/stream`: the websocket event stream (see docs/PROTOCOL.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use chrono::Utc;
use futures::{SinkExt, StreamExt};

use crate::core::protocol::{ClientFrame, ResyncReason, ServerFrame};
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::auth::{Permission, Principal};
use crate::gateway::engine::{Gateway, StreamStart};
use crate::gateway::hub::encode;

/// A client that does not take a frame within this time is dropped (its socket is stuck).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A browser page may open the stream only from an allowed origin: the gateway's own, or
/// one listed in `[gateway.server] allowed_origins`. Clients that send no `Origin` are not
/// browsers (a page cannot omit it) and are let through.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiFailure> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .unwrap_or_default()
        .trim()
        .trim_end_matches('/');
    let listed = allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same = origin
        .split_once("://")
        .zip(host)
        .is_some_and(|((_, authority), host)| authority.eq_ignore_ascii_case(host.trim()));
    if listed || same {
        return Ok(());
    }
    let shown: String = origin.chars().take(200).collect();
    Err(ApiFailure::forbidden(format!(
        "websocket connections from origin {shown:?} are not allowed; \
         list it in [gateway.server] allowed_origins"
    )))
}

pub async fn stream(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    origin_allowed(&headers, &gw.config.server.allowed_origins)?;
    who.require(Permission::Read, "watch the event stream")?;
    let since = match q.get("since").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiFailure::invalid(
                "since",
                "since must be the last sequence number the client saw",
            )
        })?),
    };
    let position = match (q.get("epoch").filter(|s| !s.is_empty()), since) {
        (Some(e), Some(s)) => Some((e.clone(), s)),
        (None, None) => None,
        _ => {
            return Err(ApiFailure::invalid(
                "epoch",
                "epoch and since must be given together",
            ))
        }
    };
    let max = gw.config.limits.max_ws_frame_bytes;
    Ok(ws
        .max_frame_size(max)
        .max_message_size(max)
        .on_upgrade(move |socket| run(gw, who, position, socket)))
}

struct Conn {
    socket: futures::stream::SplitSink<WebSocket, Message>,
}

impl Conn {
    async fn send(&mut self, text: &str) -> bool {
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text.into()))).await,
            Ok(Ok(()))
        )
    }
    async fn frame(&mut self, frame: &ServerFrame) -> bool {
        self.send(&encode(frame)).await
    }
    /// Sends how the (re)subscription starts; returns the last seq delivered.
    async fn start(&mut self, start: StreamStart, seq: u64) -> Option<u64> {
        match start {
            StreamStart::Resumed(items) => {
                let mut last = seq;
                for item in items {
                    if !self.send(&item.frame).await {
                        return None;
                    }
                    last = item.seq;
                }
                Some(last.max(seq))
            }
            StreamStart::Snapshot(snapshot, _) => {
                let seq = snapshot.seq;
                self.frame(&ServerFrame::Snapshot { snapshot })
                    .await
                    .then_some(seq)
            }
        }
    }
}

async fn run(gw: Arc<Gateway>, who: Principal, position: Option<(String, u64)>, socket: WebSocket) {
    let (sink, mut incoming) = socket.split();
    let mut conn = Conn { socket: sink };
    let mut shutdown = gw.shutdown.clone();
    let heartbeat_secs = gw.config.stream.heartbeat_secs;
    let (start, seq, mut rx) = gw.resume(&who.org, position).await;
    let (resumed, reason) = match &start {
        StreamStart::Resumed(_) => (true, None),
        StreamStart::Snapshot(_, r) => (false, Some(*r)),
    };
    let welcome = ServerFrame::Welcome {
        epoch: gw.epoch.to_string(),
        seq,
        org: who.org.clone(),
        actor: who.name.clone(),
        role: who.role,
        resumed,
        reason,
        heartbeat_secs,
    };
    if !conn.frame(&welcome).await {
        return;
    }
    let Some(mut last) = conn.start(start, seq).await else {
        return;
    };
    tracing::info!(org = %who.org, actor = %who.name, resumed, "stream client connected");
    // Presence: followed once the client says what it watches; left however the loop ends.
    let conn_id = gw.presence.connection();
    let _leave = Leave {
        gw: &gw,
        org: &who.org,
        conn: conn_id,
    };
    let mut presence: Option<tokio::sync::watch::Receiver<crate::gateway::presence::List>> = None;
    let mut beat = tokio::time::interval(Duration::from_secs(heartbeat_secs));
    beat.tick().await;
    // Any frame from the client (a pong above all) proves it is there; one silent for
    // longer than the pong timeout is closed, so dead peers do not hold a connection.
    let server = &gw.config.server;
    let mut ping = tokio::time::interval(Duration::from_secs(server.ws_ping_secs));
    ping.tick().await;
    let pong_timeout = Duration::from_secs(server.ws_pong_timeout_secs);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = conn.socket.send(Message::Close(None)).await;
                break;
            }
            item = rx.recv() => match item {
                Some(item) => {
                    if !conn.send(&item.frame).await {
                        break;
                    }
                    last = item.seq;
                }
                None => {
                    // The hub dropped us: we fell behind. Say so, then start over.
                    tracing::info!(org = %who.org, actor = %who.name, "stream client lagged; resyncing");
                    let (start, seq, new_rx) = gw.attach(&who.org, None, Some(ResyncReason::Lagged));
                    rx = new_rx;
                    if !conn.frame(&ServerFrame::Resync { reason: ResyncReason::Lagged }).await {
                        break;
                    }
                    match conn.start(start, seq).await {
                        Some(s) => last = s,
                        None => break,
                    }
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > pong_timeout {
                    tracing::info!(org = %who.org, actor = %who.name, "stream client did not answer pings; closing");
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn.socket.send(Message::Close(None))).await;
                    break;
                }
                let sent = tokio::time::timeout(SEND_TIMEOUT, conn.socket.send(Message::Ping(Vec::new().into()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break;
                }
            }
            msg = incoming.next() => {
                last_heard = tokio::time::Instant::now();
                match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientFrame>(&text) {
                        Ok(ClientFrame::Resync) => {
                            // The client asked: a fresh snapshot, no resync notice needed.
                            let (start, seq, new_rx) = gw.attach(&who.org, None, Some(ResyncReason::NewClient));
                            rx = new_rx;
                            match conn.start(start, seq).await {
                                Some(s) => last = s,
                                None => break,
                            }
                        }
                        Ok(ClientFrame::Watching { call_id }) => {
                            if call_id.as_ref().is_some_and(|c| c.len() > crate::gateway::presence::MAX_CALL_ID) {
                                let err = ServerFrame::Error { message: "watching: call_id is too long".into() };
                                if !conn.frame(&err).await {
                                    break;
                                }
                                continue;
                            }
                            if presence.is_none() {
                                let mut rx = gw.presence.subscribe(&who.org);
                                // The current list goes out at once, even if nobody moves.
                                rx.mark_changed();
                                presence = Some(rx);
                            }
                            gw.presence.set(&who.org, conn_id, &who.name, call_id);
                        }
                        Ok(ClientFrame::Ping) => {
                            let hb = ServerFrame::Heartbeat { epoch: gw.epoch.to_string(), seq: last, at: Utc::now() };
                            if !conn.frame(&hb).await {
                                break;
                            }
                        }
                        Err(e) => {
                            let err = ServerFrame::Error { message: format!("unknown client frame: {e}") };
                            if !conn.frame(&err).await {
                                break;
                            }
                        }
                    },
                    Some(Ok(_)) => {}
                }
            }
            changed = async {
                match presence.as_mut() {
                    Some(rx) => rx.changed().await.map(|()| rx.borrow_and_update().clone()),
                    None => std::future::pending().await,
                }
            } => {
                match changed {
                    Ok(list) => {
                        let frame = ServerFrame::Presence { watchers: list.to_vec() };
                        if !conn.frame(&frame).await {
                            break;
                        }
                    }
                    Err(_) => presence = None,
                }
            }
            _ = beat.tick() => {
                // `seq` is the last event delivered on this connection, so a client can
                // compare it with what it has.
                let hb = ServerFrame::Heartbeat { epoch: gw.epoch.to_string(), seq: last, at: Utc::now() };
                if !conn.frame(&hb).await {
                    break;
                }
            }
        }
    }
    tracing::info!(org = %who.org, actor = %who.name, "stream client disconnected");
}

/// Takes a connection off the presence list however its loop ends.
struct Leave<'a> {
    gw: &'a Gateway,
    org: &'a str,
    conn: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.gw.presence.leave(self.org, self.conn);
    }
}
