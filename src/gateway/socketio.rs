//! Socket.IO for existing web dashboards written against the seed backend: served on
//! `/socket.io/` and, as the seed names it, `/api/calls/websocket`. A client authenticates
//! with the same API tokens as the REST API (`auth: {token}`, `Authorization: Bearer`, or
//! `?token=`), sees its own org only, and gets `call:updated` / `transcript:update` for every
//! call of the org, or, once it joined rooms with `call:join` / `transcript:subscribe`, for
//! those calls only. Delivery is Socket.IO's at-most-once: the console keeps its own no-loss
//! stream (`/api/stream`). docs/SOCKETIO.md has the field mapping.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;

use crate::core::protocol::StreamEvent;
use crate::core::seed::{
    SeedCall, SeedEntry, SeedTranscriptUpdate, EVENT_CALL_JOIN, EVENT_CALL_LEAVE,
    EVENT_CALL_UPDATED, EVENT_TRANSCRIPT_SUBSCRIBE, EVENT_TRANSCRIPT_UPDATE,
};
use crate::gateway::auth::{Permission, Principal};
use crate::gateway::engine::Gateway;

/// The seed's own path for its Socket.IO endpoint.
pub const SEED_PATH: &str = "/api/calls/websocket";

/// Adds both Socket.IO endpoints to `router`.
pub fn layer(router: Router, gw: &Arc<Gateway>) -> Router {
    let mut router = router;
    for path in ["/socket.io", SEED_PATH] {
        let (layer, io) = SocketIo::builder()
            .req_path(path)
            .max_payload(gw.config.limits.max_ws_frame_bytes as u64)
            .with_state(gw.clone())
            .build_layer();
        io.ns("/", on_connect.with(authenticate));
        // Open sockets would hold the graceful shutdown until its deadline: close them.
        let mut shutdown = gw.shutdown.clone();
        tokio::spawn(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            io.close().await;
        });
        router = router.layer(layer);
    }
    router
}

/// The calls whose rooms the socket joined; empty means every call of the org.
#[derive(Clone, Default)]
struct Rooms(Arc<Mutex<HashSet<String>>>);

impl Rooms {
    fn wants(&self, call_id: &str) -> bool {
        match self.0.lock() {
            Ok(set) => set.is_empty() || set.contains(call_id),
            Err(_) => false,
        }
    }
    fn change(&self, ids: Vec<String>, join: bool) {
        if let Ok(mut set) = self.0.lock() {
            for id in ids {
                if join {
                    set.insert(id);
                } else {
                    set.remove(&id);
                }
            }
        }
    }
}

/// Stops the socket's forwarding task when the socket goes.
#[derive(Clone)]
struct Forwarder(Arc<tokio::task::AbortHandle>);

#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn token_of(s: &SocketRef, auth: Option<&Value>) -> Option<String> {
    if let Some(t) = auth.and_then(|a| a.get("token")).and_then(Value::as_str) {
        return Some(t.strip_prefix("Bearer ").unwrap_or(t).trim().to_string());
    }
    let parts = s.req_parts();
    if let Some(v) = parts.headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?.trim();
        let (scheme, rest) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string());
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(parts.uri.query()?)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

/// Connect middleware: a refusal becomes Socket.IO's `connect_error` with this message.
async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Value>,
    State(gw): State<Arc<Gateway>>,
) -> Result<(), Refused> {
    let token = token_of(&s, auth.as_ref().ok()).ok_or(Refused(
        "missing API token: connect with auth {token} or `Authorization: Bearer <token>`",
    ))?;
    let who = gw
        .tokens
        .lookup(&token)
        .ok_or(Refused("the API token is not valid"))?;
    if !who.may(Permission::Read) {
        return Err(Refused("this token may not watch calls"));
    }
    s.extensions.insert(who);
    Ok(())
}

/// Call ids from `"id"`, `{"callId": "id"}` or a list of either.
fn call_ids(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(call_ids).collect(),
        Value::Object(o) => o
            .get("callId")
            .or_else(|| o.get("call_id"))
            .or_else(|| o.get("id"))
            .map(call_ids)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn on_connect(s: SocketRef, State(gw): State<Arc<Gateway>>) {
    let Some(who) = s.extensions.get::<Principal>() else {
        let _ = s.disconnect();
        return;
    };
    let rooms = Rooms::default();
    for (event, join) in [
        (EVENT_CALL_JOIN, true),
        (EVENT_TRANSCRIPT_SUBSCRIBE, true),
        (EVENT_CALL_LEAVE, false),
        ("transcript:unsubscribe", false),
    ] {
        let rooms = rooms.clone();
        s.on(event, async move |Data(v): Data<Value>, ack: AckSender| {
            let ids = call_ids(&v);
            let ok = !ids.is_empty();
            rooms.change(ids, join);
            // Only answered when the client asked for an ack.
            let _ = ack.send(&serde_json::json!({ "ok": ok }));
        });
    }
    let task = tokio::spawn(forward(gw, who.org.clone(), s.clone(), rooms));
    s.extensions
        .insert(Forwarder(Arc::new(task.abort_handle())));
    s.on_disconnect(async |s: SocketRef| {
        if let Some(f) = s.extensions.get::<Forwarder>() {
            f.0.abort();
        }
    });
}

/// Relays the org's events to one socket, filtered by its rooms.
async fn forward(gw: Arc<Gateway>, org: String, s: SocketRef, rooms: Rooms) {
    let mut shutdown = gw.shutdown.clone();
    loop {
        // Live events only: Socket.IO has no replay, so no snapshot is built.
        let mut rx = gw
            .org(&org)
            .lock()
            .hub
            .subscribe(gw.config.stream.client_buffer);
        loop {
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = shutdown.changed() => return,
            };
            // None: this socket fell behind and the hub dropped it; Socket.IO is at-most-once,
            // so subscribe again and carry on (the gap is logged, not replayed).
            let Some(item) = item else {
                tracing::warn!(socket = %s.id, "socket.io client fell behind; events skipped");
                break;
            };
            let sent = match &item.event {
                StreamEvent::CallUpdated { call } | StreamEvent::CallEnded { call }
                    if rooms.wants(&call.id) =>
                {
                    s.emit(EVENT_CALL_UPDATED, &SeedCall::from_call(call))
                }
                StreamEvent::TranscriptAppended { entry }
                | StreamEvent::TranscriptRevised { entry }
                    if rooms.wants(&entry.call_id) =>
                {
                    let update = SeedTranscriptUpdate {
                        call_id: entry.call_id.clone(),
                        entry: SeedEntry::from_entry(entry),
                    };
                    s.emit(EVENT_TRANSCRIPT_UPDATE, &update)
                }
                _ => Ok(()),
            };
            if sent.is_err() && !s.connected() {
                return;
            }
        }
    }
}
