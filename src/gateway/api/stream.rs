//! `GET /api/stream`: the websocket event stream (see docs/PROTOCOL.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use chrono::Utc;
use futures::{SinkExt, StreamExt};

use super::subscription::Subscription;
use crate::core::protocol::{ClientFrame, ResyncReason, ServerFrame, Transcript};
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::auth::{Permission, Principal};
use crate::gateway::delta::Held;
use crate::gateway::engine::{Gateway, StreamStart};
use crate::gateway::hub::{encode, StreamItem};

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
    // `?calls=a,b`: transcript entries of these calls only, from the first frame on.
    let sub = Subscription::from_query(q.get("calls").map(String::as_str))
        .map_err(|e| ApiFailure::invalid("calls", e))?;
    // `?deltas=1`: call and analytics changes as deltas where the client holds the record.
    let deltas = match q.get("deltas").map(String::as_str) {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return Err(ApiFailure::invalid("deltas", "deltas must be 1 or 0")),
    };
    let max = gw.config.limits.max_ws_frame_bytes;
    let server = &gw.config.server;
    // Small buffers: an idle client costs a few KB, not the library's 2 x 128 KiB.
    Ok(ws
        .read_buffer_size(server.ws_read_buffer_bytes)
        .write_buffer_size(server.ws_write_buffer_bytes)
        .max_frame_size(max)
        .max_message_size(max)
        .on_upgrade(move |socket| run(gw, who, position, sub, deltas, socket)))
}

/// Frames queued before one flush when events are already waiting.
const MAX_FRAMES_PER_FLUSH: usize = 64;

struct Conn {
    socket: futures::stream::SplitSink<WebSocket, Message>,
    /// What the client holds, when it asked for deltas.
    held: Option<Held>,
}

impl Conn {
    /// Sends a frame; an event's bytes are shared with every other subscriber, not copied.
    async fn send(&mut self, text: Utf8Bytes) -> bool {
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text))).await,
            Ok(Ok(()))
        )
    }
    /// Queues a frame without flushing: a burst of events goes out in as few writes as the
    /// socket's write buffer allows, then one [`Conn::flush`].
    async fn feed(&mut self, text: Utf8Bytes) -> bool {
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.feed(Message::Text(text))).await,
            Ok(Ok(()))
        )
    }
    async fn flush(&mut self) -> bool {
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.flush()).await,
            Ok(Ok(()))
        )
    }
    async fn frame(&mut self, frame: &ServerFrame) -> bool {
        self.send(encode(frame)).await
    }
    /// Queues an event the subscription wants (as a delta where the client can apply it),
    /// or notes that one it does not want was left out. The caller flushes.
    async fn event(&mut self, item: &StreamItem, wanted: bool) -> bool {
        if !wanted {
            if let Some(held) = &mut self.held {
                held.skipped(item);
            }
            return true;
        }
        let frame = match &mut self.held {
            Some(held) => held.frame(item),
            None => item.frame.clone(),
        };
        self.feed(frame).await
    }
    /// Sends how the (re)subscription starts, filtered by `sub`; returns the last seq
    /// delivered (or passed over by the filter).
    async fn start(&mut self, start: StreamStart, seq: u64, sub: &mut Subscription) -> Option<u64> {
        match start {
            StreamStart::Resumed(items) => {
                let mut last = seq;
                for item in items {
                    if !self.event(&item, sub.wants(item.seq, &item.event)).await {
                        return None;
                    }
                    last = item.seq;
                }
                if !self.flush().await {
                    return None;
                }
                Some(last.max(seq))
            }
            StreamStart::Snapshot(mut snapshot, _, held) => {
                let seq = snapshot.seq;
                // The snapshot replaces all the client had: its versions are these.
                if let Some(h) = &mut self.held {
                    *h = held;
                }
                sub.restart();
                sub.trim(&mut snapshot);
                self.frame(&ServerFrame::Snapshot { snapshot })
                    .await
                    .then_some(seq)
            }
        }
    }
}

/// Applies a `subscribe`: the new set, and the transcripts of the calls it adds (live ones
/// from memory, consistent with the stream; others, e.g. ended calls, from the database).
async fn subscribe(
    gw: &Arc<Gateway>,
    org: &str,
    sub: &mut Subscription,
    calls: Option<Vec<String>>,
) -> Result<ServerFrame, String> {
    let Some(ids) = calls else {
        sub.replace(None, 0)?;
        return Ok(ServerFrame::Subscribed {
            calls: None,
            seq: 0,
            transcripts: Vec::new(),
        });
    };
    // Which calls are new decides what to read; the set itself changes once `seq` is known.
    let added = sub.clone().replace(Some(ids.clone()), 0)?;
    let (seq, mut transcripts, others) = gw.live_transcripts(org, &added);
    sub.replace(Some(ids), seq)?;
    for id in others {
        // Unknown or another org's id: no transcript (and none of its events ever come).
        if let Ok(Some((_, entries))) = gw.call_with_transcript(org, &id).await {
            transcripts.push(Transcript {
                call_id: id,
                entries,
            });
        }
    }
    Ok(ServerFrame::Subscribed {
        calls: sub.calls(),
        seq,
        transcripts,
    })
}

async fn run(
    gw: Arc<Gateway>,
    who: Principal,
    position: Option<(String, u64)>,
    mut sub: Subscription,
    deltas: bool,
    socket: WebSocket,
) {
    let (sink, mut incoming) = socket.split();
    let mut conn = Conn {
        socket: sink,
        // Resumed, the client's versions are not known here: full events until it has one.
        held: deltas.then(Held::default),
    };
    let mut shutdown = gw.shutdown.clone();
    let heartbeat_secs = gw.config.stream.heartbeat_secs;
    let (start, seq, mut rx) = gw.resume(&who.org, position).await;
    let (resumed, reason) = match &start {
        StreamStart::Resumed(_) => (true, None),
        StreamStart::Snapshot(_, r, _) => (false, Some(*r)),
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
        deltas,
    };
    if !conn.frame(&welcome).await {
        return;
    }
    let Some(mut last) = conn.start(start, seq, &mut sub).await else {
        return;
    };
    if sub.is_filtered() {
        // Confirms the set of `?calls=` (the client holds those transcripts already).
        let frame = ServerFrame::Subscribed {
            calls: sub.calls(),
            seq: last,
            transcripts: Vec::new(),
        };
        if !conn.frame(&frame).await {
            return;
        }
    }
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
                    // Filtered out or sent, the client's position moves past it (heartbeats
                    // carry `last`, so a filtered client's `since` advances too). Events
                    // already waiting go out with it, flushed once: at high event rates
                    // that is one write for many frames instead of one each.
                    let mut next = Some(item);
                    let mut fed = 0;
                    let mut ok = true;
                    while let Some(item) = next.take() {
                        let wanted = sub.wants(item.seq, &item.event);
                        if !conn.event(&item, wanted).await {
                            ok = false;
                            break;
                        }
                        fed += usize::from(wanted);
                        last = item.seq;
                        if fed < MAX_FRAMES_PER_FLUSH {
                            // A closed channel (lagged) is seen by the next `recv`.
                            next = rx.try_recv().ok();
                        }
                    }
                    if !ok || (fed > 0 && !conn.flush().await) {
                        break;
                    }
                }
                None => {
                    // The hub dropped us: we fell behind. Say so, then start over.
                    tracing::info!(org = %who.org, actor = %who.name, "stream client lagged; resyncing");
                    let (start, seq, new_rx) = gw.attach(&who.org, None, Some(ResyncReason::Lagged));
                    rx = new_rx;
                    if !conn.frame(&ServerFrame::Resync { reason: ResyncReason::Lagged }).await {
                        break;
                    }
                    match conn.start(start, seq, &mut sub).await {
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
                            match conn.start(start, seq, &mut sub).await {
                                Some(s) => last = s,
                                None => break,
                            }
                        }
                        Ok(ClientFrame::Subscribe { calls }) => {
                            let frame = subscribe(&gw, &who.org, &mut sub, calls)
                                .await
                                .unwrap_or_else(|message| ServerFrame::Error { message });
                            if !conn.frame(&frame).await {
                                break;
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
