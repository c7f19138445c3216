//! Attaching to a seed-style backend: a small Socket.IO v5 client (Engine.IO v4, websocket
//! transport only) over tokio-tungstenite, and an adapter that turns the seed's
//! `call:updated` / `transcript:update` events into the [`StreamMsg`]s the console already
//! consumes. A crate was not used: rust_socketio would bring a second tokio-tungstenite
//! major and its own reconnect loop, and the console needs ours (snapshot on reconnect).
//!
//! No loss across reconnects: the socket is connected and the call rooms are joined before
//! the REST reads, so a line is either in the read transcript, in a later event, or both;
//! both is harmless because lines are identified (entry id, else speaker+time+text) and a
//! known line keeps its position. With Socket.IO connection state recovery on the server,
//! the missed events are replayed instead and no re-read is needed.

mod rest;
mod wire;

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

pub use rest::seed_unsupported;

use super::rest::normalise_base;
use super::stream::{Backoff, StreamHandle, StreamMsg};
use super::RestClient;
use crate::core::model::{CallState, Role, TranscriptEntry};
use crate::core::protocol::{CallWithTranscript, ResyncReason, Snapshot, StreamEvent};
use crate::core::seed::{
    SeedCall, SeedEntry, SeedTranscriptUpdate, EVENT_CALL_JOIN, EVENT_CALL_UPDATED,
    EVENT_TRANSCRIPT_SUBSCRIBE, EVENT_TRANSCRIPT_UPDATE,
};
use wire::Packet;

/// The org name the console shows for an attached seed backend (it has no orgs).
pub const SEED_ORG: &str = "seed";

#[derive(Debug, Clone)]
pub struct SeedConfig {
    /// The backend's http(s) base URL.
    pub base_url: String,
    pub token: String,
    pub backoff: Backoff,
    pub connect_timeout: Duration,
}

impl SeedConfig {
    pub fn new(base_url: &str, token: &str) -> Self {
        SeedConfig {
            base_url: base_url.to_string(),
            token: token.to_string(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Starts the Socket.IO task; it reports like the gateway stream task does.
pub fn spawn_seed_stream(config: SeedConfig, tx: mpsc::Sender<StreamMsg>) -> StreamHandle {
    StreamHandle::from_task(tokio::spawn(run(config, tx)))
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

enum End {
    /// Retrying cannot help (refused token, bad URL).
    Fatal(String),
    Failed {
        error: String,
        connected: bool,
    },
}

/// Per call: line identity -> position, so a line seen twice keeps its place.
#[derive(Default)]
struct Lines {
    calls: HashMap<String, HashMap<String, u32>>,
}

impl Lines {
    /// Position of the line and whether it is new.
    fn place(&mut self, call_id: &str, e: &SeedEntry) -> (u32, bool) {
        let known = self.calls.entry(call_id.to_string()).or_default();
        let next = known.len() as u32;
        match known.get(&e.key()) {
            Some(p) => (*p, false),
            None => {
                known.insert(e.key(), next);
                (next, true)
            }
        }
    }

    fn entry(&mut self, call_id: &str, e: &SeedEntry) -> (TranscriptEntry, bool) {
        let (position, new) = self.place(call_id, e);
        let entry = TranscriptEntry {
            id: e
                .id
                .clone()
                .unwrap_or_else(|| format!("{call_id}:{position}")),
            call_id: call_id.to_string(),
            position,
            speaker: e.speaker(),
            text: e.text.clone(),
            is_final: e.is_final.unwrap_or(true),
            at: e.timestamp.unwrap_or_else(chrono::Utc::now),
        };
        (entry, new)
    }
}

/// What one connection carries over to the next.
#[derive(Default)]
struct Session {
    /// Socket.IO connection state recovery: the session id and last offset the server gave.
    pid: Option<String>,
    offset: Option<String>,
    lines: Lines,
    seq: u64,
    ever_connected: bool,
}

async fn run(config: SeedConfig, tx: mpsc::Sender<StreamMsg>) {
    let rest = match RestClient::new(&config.base_url, &config.token) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx
                .send(StreamMsg::AuthFailed {
                    message: e.to_string(),
                })
                .await;
            return;
        }
    };
    let mut session = Session::default();
    let mut attempt = 0u32;
    loop {
        if tx.send(StreamMsg::Connecting { attempt }).await.is_err() {
            return;
        }
        let (error, connected) = match connect(&config, &rest, &tx, &mut session).await {
            End::Fatal(message) => {
                let _ = tx.send(StreamMsg::AuthFailed { message }).await;
                return;
            }
            End::Failed { error, connected } => (error, connected),
        };
        attempt = if connected { 0 } else { attempt + 1 };
        let retry_in = config.backoff.delay(attempt);
        if tx
            .send(StreamMsg::Disconnected { error, retry_in })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

fn socket_url(base: &str) -> Result<String, String> {
    let base = normalise_base(base).map_err(|e| e.to_string())?;
    let ws = match (base.strip_prefix("https://"), base.strip_prefix("http://")) {
        (Some(rest), _) => format!("wss://{rest}"),
        (_, Some(rest)) => format!("ws://{rest}"),
        _ => return Err(format!("invalid backend URL {base:?}")),
    };
    Ok(format!("{ws}/socket.io/?EIO=4&transport=websocket"))
}

fn failed(error: impl Into<String>, connected: bool) -> End {
    End::Failed {
        error: error.into(),
        connected,
    }
}

/// A refused token on the REST side stops the task like a refused socket does.
fn read_failed(what: &str, e: super::ClientError) -> End {
    match e.status() {
        Some(401 | 403) => End::Fatal(format!("{what}: {e}")),
        _ => failed(format!("{what}: {e}"), true),
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), End> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| failed(format!("cannot write to the backend: {e}"), true))
}

async fn connect(
    config: &SeedConfig,
    rest: &RestClient,
    tx: &mpsc::Sender<StreamMsg>,
    session: &mut Session,
) -> End {
    let url = match socket_url(&config.base_url) {
        Ok(u) => u,
        Err(e) => return End::Fatal(e),
    };
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return End::Fatal(format!("invalid backend URL: {e}")),
    };
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", config.token)) else {
        return End::Fatal("the token contains characters that cannot be sent".into());
    };
    request.headers_mut().insert(AUTHORIZATION, bearer);
    let mut ws = match tokio::time::timeout(
        config.connect_timeout,
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Err(_) => return failed("timed out connecting to the backend", false),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let message = format!("the backend refused the connection (HTTP {status})");
            if status == 401 || status == 403 {
                return End::Fatal(message);
            }
            return failed(message, false);
        }
        Ok(Err(e)) => return failed(format!("cannot reach the backend: {e}"), false),
        Ok(Ok((ws, _))) => ws,
    };

    // Engine.IO open, then the Socket.IO CONNECT with the token (and recovery position).
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let mut ping_window = Duration::from_secs(45);
    let mut sid_pid: Option<Option<String>> = None;
    let mut opened = false;
    // A recovering server replays the missed events before its CONNECT answer (as the JS
    // client does, they are kept and handled once connected).
    let mut early = Vec::new();
    while sid_pid.is_none() {
        let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => {
                return failed(
                    "the backend did not complete the Socket.IO handshake",
                    false,
                )
            }
            Ok(None) | Ok(Some(Err(_))) => {
                return failed(
                    "the backend closed the connection during the handshake",
                    false,
                )
            }
            Ok(Some(Ok(m))) => m,
        };
        let Message::Text(text) = frame else { continue };
        match wire::parse(&text) {
            Packet::Open {
                ping_interval,
                ping_timeout,
            } if !opened => {
                opened = true;
                ping_window = ping_interval + ping_timeout;
                let auth = wire::connect_auth(&config.token, &session.pid, &session.offset);
                if let Err(e) = send(&mut ws, format!("40{auth}")).await {
                    return e;
                }
            }
            Packet::Ping => {
                if let Err(e) = send(&mut ws, "3".into()).await {
                    return e;
                }
            }
            Packet::Connected { pid } => sid_pid = Some(pid),
            ev @ Packet::Event { .. } => early.push(ev),
            Packet::ConnectError(message) => return End::Fatal(message),
            Packet::Close | Packet::Disconnect => {
                return failed("the backend closed the Socket.IO session", false)
            }
            _ => {}
        }
    }
    let pid = sid_pid.flatten();
    let recovered = pid.is_some() && pid == session.pid;
    session.pid = pid;
    if !recovered {
        session.offset = None;
    }
    let reason = if session.ever_connected {
        ResyncReason::EpochChanged
    } else {
        ResyncReason::NewClient
    };
    session.ever_connected = true;
    let connected = StreamMsg::Connected {
        org: SEED_ORG.into(),
        actor: "you".into(),
        role: Role::Supervisor,
        resumed: recovered,
        reason: (!recovered).then_some(reason),
    };
    if tx.send(connected).await.is_err() {
        return End::Fatal("the console stopped".into());
    }
    if !recovered {
        if let Err(e) = resync(&mut ws, rest, tx, session).await {
            return e;
        }
    }
    for packet in early {
        if let Err(e) = handle(&mut ws, rest, tx, session, packet).await {
            return e;
        }
    }
    pump(&mut ws, rest, tx, session, ping_window).await
}

/// One packet after the Socket.IO session is up.
async fn handle(
    ws: &mut Ws,
    rest: &RestClient,
    tx: &mpsc::Sender<StreamMsg>,
    session: &mut Session,
    packet: Packet,
) -> Result<(), End> {
    match packet {
        Packet::Ping => send(ws, "3".into()).await,
        Packet::Close | Packet::Disconnect => {
            Err(failed("the backend closed the Socket.IO session", true))
        }
        Packet::Event { name, args, offset } => {
            if session.pid.is_some() && offset.is_some() {
                session.offset = offset;
            }
            on_event(ws, rest, tx, session, &name, args).await
        }
        _ => Ok(()),
    }
}

async fn join(ws: &mut Ws, call_id: &str) -> Result<(), End> {
    for event in [EVENT_CALL_JOIN, EVENT_TRANSCRIPT_SUBSCRIBE] {
        send(ws, wire::event(event, call_id)).await?;
    }
    Ok(())
}

/// Rebuilds the console's state from REST after joining every live call's room.
async fn resync(
    ws: &mut Ws,
    rest: &RestClient,
    tx: &mpsc::Sender<StreamMsg>,
    session: &mut Session,
) -> Result<(), End> {
    let calls = rest
        .seed_active(SEED_ORG)
        .await
        .map_err(|e| read_failed("cannot read the active calls", e))?;
    session.lines = Lines::default();
    for c in &calls {
        join(ws, &c.id).await?;
        session.lines.calls.entry(c.id.clone()).or_default();
    }
    let transcripts = futures::future::join_all(calls.iter().map(|c| rest.seed_transcript(&c.id)));
    let transcripts = transcripts.await;
    let mut with = Vec::with_capacity(calls.len());
    for (call, t) in calls.into_iter().zip(transcripts) {
        let t = t.map_err(|e| read_failed("cannot read a transcript", e))?;
        let transcript = t
            .iter()
            .map(|e| session.lines.entry(&call.id, e).0)
            .collect::<Vec<_>>();
        // A line seen twice in one answer collapses to its latest text.
        let mut dedup: Vec<TranscriptEntry> = Vec::with_capacity(transcript.len());
        for e in transcript {
            match dedup.get_mut(e.position as usize) {
                Some(slot) => *slot = e,
                None => dedup.push(e),
            }
        }
        with.push(CallWithTranscript {
            call,
            transcript: dedup,
        });
    }
    let snapshot = Snapshot {
        epoch: SEED_ORG.into(),
        seq: session.seq,
        org: SEED_ORG.into(),
        calls: with,
        queue: Vec::new(),
        analytics: Default::default(),
    };
    tx.send(StreamMsg::Snapshot(Box::new(snapshot)))
        .await
        .map_err(|_| End::Fatal("the console stopped".into()))
}

async fn emit(
    tx: &mpsc::Sender<StreamMsg>,
    session: &mut Session,
    event: StreamEvent,
) -> Result<(), End> {
    session.seq += 1;
    let msg = StreamMsg::Event {
        seq: session.seq,
        event: Box::new(event),
    };
    tx.send(msg)
        .await
        .map_err(|_| End::Fatal("the console stopped".into()))
}

/// Live events until the link drops.
async fn pump(
    ws: &mut Ws,
    rest: &RestClient,
    tx: &mpsc::Sender<StreamMsg>,
    session: &mut Session,
    ping_window: Duration,
) -> End {
    loop {
        // v4: the server pings; silence past interval + timeout means the link is dead.
        let frame = match tokio::time::timeout(ping_window, ws.next()).await {
            Err(_) => return failed("the backend stopped answering (no ping)", true),
            Ok(None) => return failed("the backend closed the connection", true),
            Ok(Some(Err(e))) => return failed(format!("connection lost: {e}"), true),
            Ok(Some(Ok(m))) => m,
        };
        let Message::Text(text) = frame else {
            if let Message::Close(_) = frame {
                return failed("the backend closed the connection", true);
            }
            continue;
        };
        if let Err(e) = handle(ws, rest, tx, session, wire::parse(&text)).await {
            return e;
        }
    }
}

async fn on_event(
    ws: &mut Ws,
    rest: &RestClient,
    tx: &mpsc::Sender<StreamMsg>,
    session: &mut Session,
    name: &str,
    mut args: Vec<serde_json::Value>,
) -> Result<(), End> {
    if args.is_empty() {
        return Ok(());
    }
    let payload = args.swap_remove(0);
    match name {
        EVENT_CALL_UPDATED => {
            let Ok(seed) = serde_json::from_value::<SeedCall>(payload) else {
                tracing::warn!("ignoring a call:updated that is not a call");
                return Ok(());
            };
            if seed.id.is_empty() {
                return Ok(());
            }
            let call = seed.to_call(SEED_ORG, chrono::Utc::now());
            let new = !session.lines.calls.contains_key(&call.id);
            if call.state == CallState::Ended {
                session.lines.calls.remove(&call.id);
                return emit(tx, session, StreamEvent::CallEnded { call }).await;
            }
            let id = call.id.clone();
            emit(tx, session, StreamEvent::CallUpdated { call }).await?;
            if new {
                // A call we had not seen: join its room, then read what was said before.
                session.lines.calls.entry(id.clone()).or_default();
                join(ws, &id).await?;
                match rest.seed_transcript(&id).await {
                    Ok(lines) => {
                        for e in &lines {
                            line(tx, session, &id, e).await?;
                        }
                    }
                    Err(e) => tracing::warn!(call = %id, error = %e, "cannot read a transcript"),
                }
            }
            Ok(())
        }
        EVENT_TRANSCRIPT_UPDATE => {
            let Ok(update) = serde_json::from_value::<SeedTranscriptUpdate>(payload.clone()) else {
                return Ok(());
            };
            // Either {callId, entry} or the entry itself with a callId.
            let (call_id, entry) = if update.entry.text.is_empty() && update.entry.id.is_none() {
                let entry = serde_json::from_value::<SeedEntry>(payload).unwrap_or_default();
                (update.call_id, entry)
            } else {
                (update.call_id, update.entry)
            };
            if call_id.is_empty() {
                return Ok(());
            }
            line(tx, session, &call_id, &entry).await
        }
        _ => Ok(()),
    }
}

async fn line(
    tx: &mpsc::Sender<StreamMsg>,
    session: &mut Session,
    call_id: &str,
    e: &SeedEntry,
) -> Result<(), End> {
    let (entry, new) = session.lines.entry(call_id, e);
    let event = if new {
        StreamEvent::TranscriptAppended { entry }
    } else {
        StreamEvent::TranscriptRevised { entry }
    };
    emit(tx, session, event).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_seen_again_keeps_its_place_and_new_lines_follow() {
        let mut lines = Lines::default();
        let e = |id: Option<&str>, text: &str| SeedEntry {
            id: id.map(String::from),
            speaker: "user".into(),
            text: text.into(),
            ..SeedEntry::default()
        };
        assert_eq!(lines.place("c", &e(Some("a"), "hi")), (0, true));
        assert_eq!(lines.place("c", &e(Some("b"), "there")), (1, true));
        // The same line again (replayed, or re-read after a reconnect), even with new text.
        assert_eq!(lines.place("c", &e(Some("a"), "hi!")), (0, false));
        // Without ids, speaker + time + text identify a line.
        assert_eq!(lines.place("c", &e(None, "x")), (2, true));
        assert_eq!(lines.place("c", &e(None, "x")), (2, false));
        // Another call counts on its own.
        assert_eq!(lines.place("d", &e(Some("a"), "hi")), (0, true));
        let (entry, new) = lines.entry("c", &e(Some("b"), "there"));
        assert!(!new);
        assert_eq!((entry.position, entry.id.as_str()), (1, "b"));
    }
}
