//! `GET /api/calls/{id}/transcript` with `Accept: text/event-stream`: the transcript so far,
//! then live entries. Event ids are `<epoch>:<seq>`; `Last-Event-ID` resumes exactly when the
//! server still has the history, otherwise the whole transcript is sent again (entries are
//! keyed by position, so a client simply overwrites).

use std::convert::Infallible;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::core::model::Call;
use crate::core::protocol::{ResyncReason, StreamEvent};
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::auth::Principal;
use crate::gateway::engine::{Gateway, StreamStart};

/// Sends `value` as the JSON data of an SSE event. `Err` means stop: the client went away,
/// or the value could not be encoded (then the client gets an `error` event rather than an
/// empty payload it would misread, and the stream ends).
async fn send_json(tx: &Tx, id: &str, name: &str, value: &impl serde::Serialize) -> Result<(), ()> {
    let event = match serde_json::to_string(value) {
        Ok(data) => Event::default().id(id).event(name).data(data),
        Err(e) => {
            tracing::error!(error = %e, event = name, "cannot encode a transcript stream event; closing the stream");
            let _ = tx
                .send(Ok(Event::default().event("error").data(
                    r#"{"message":"the gateway could not encode an event; reconnect to start over"}"#,
                )))
                .await;
            return Err(());
        }
    };
    tx.send(Ok(event)).await.map_err(|_| ())
}

pub async fn transcript_stream(
    gw: Arc<Gateway>,
    who: Principal,
    call_id: String,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let position = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (e, s) = v.rsplit_once(':')?;
            Some((e.to_string(), s.parse::<u64>().ok()?))
        });
    // 404 before anything streams.
    let Some((call, _)) = gw.call_with_transcript(&who.org, &call_id).await? else {
        return Err(ApiFailure::not_found("no call with this id"));
    };
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    tokio::spawn(async move {
        let _ = follow(gw, who, call, position, tx).await;
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response())
}

type Tx = mpsc::Sender<Result<Event, Infallible>>;

/// Sends the start of a subscription; returns true when the call has ended (stream done).
async fn replay(
    gw: &Gateway,
    org: &str,
    call: &Call,
    start: StreamStart,
    seq: u64,
    tx: &Tx,
) -> Result<bool, ()> {
    let epoch = gw.epoch.to_string();
    match start {
        StreamStart::Resumed(items) => {
            for item in items {
                if send_item(&epoch, item.seq, &item.event, &call.id, tx).await? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        StreamStart::Snapshot(snapshot, ..) => {
            let id = format!("{epoch}:{seq}");
            if let Some(c) = snapshot.calls.iter().find(|c| c.call.id == call.id) {
                for e in &c.transcript {
                    send_json(tx, &id, "transcript", e).await?;
                }
                return Ok(false);
            }
            // Not live: replay from the database and finish.
            let Ok(Some((final_call, entries))) = gw.call_with_transcript(org, &call.id).await
            else {
                return Ok(true);
            };
            for e in &entries {
                send_json(tx, &id, "transcript", e).await?;
            }
            send_json(tx, &id, "end", &final_call).await?;
            Ok(true)
        }
    }
}

async fn send_item(
    epoch: &str,
    seq: u64,
    event: &StreamEvent,
    call_id: &str,
    tx: &Tx,
) -> Result<bool, ()> {
    let id = format!("{epoch}:{seq}");
    match event {
        StreamEvent::TranscriptAppended { entry } | StreamEvent::TranscriptRevised { entry }
            if entry.call_id == call_id =>
        {
            send_json(tx, &id, "transcript", entry).await?;
            Ok(false)
        }
        StreamEvent::CallEnded { call } if call.id == call_id => {
            send_json(tx, &id, "end", call).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

async fn follow(
    gw: Arc<Gateway>,
    who: Principal,
    call: Call,
    position: Option<(String, u64)>,
    tx: Tx,
) -> Result<(), ()> {
    let mut shutdown = gw.shutdown.clone();
    let (start, seq, mut rx) = gw.resume(&who.org, position).await;
    if replay(&gw, &who.org, &call, start, seq, &tx).await? {
        return Ok(());
    }
    let epoch = gw.epoch.to_string();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = tx.closed() => return Ok(()),
            item = rx.recv() => match item {
                Some(item) => {
                    if send_item(&epoch, item.seq, &item.event, &call.id, &tx).await? {
                        return Ok(());
                    }
                }
                None => {
                    let (start, seq, new_rx) = gw.attach(&who.org, None, Some(ResyncReason::Lagged));
                    rx = new_rx;
                    if replay(&gw, &who.org, &call, start, seq, &tx).await? {
                        return Ok(());
                    }
                }
            }
        }
    }
}
