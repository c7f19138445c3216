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

use crate::core::model::{Call, TranscriptEntry};
use crate::core::protocol::{ResyncReason, StreamEvent};
use crate::gateway::auth::Principal;
use crate::gateway::engine::{Gateway, StreamStart};
use crate::gateway::error::{ApiFailure, ApiResult};

fn entry_event(id: &str, entry: &TranscriptEntry) -> Event {
    Event::default()
        .id(id)
        .event("transcript")
        .data(serde_json::to_string(entry).unwrap_or_default())
}

fn end_event(id: &str, call: &Call) -> Event {
    Event::default()
        .id(id)
        .event("end")
        .data(serde_json::to_string(call).unwrap_or_default())
}

pub fn transcript_stream(
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
    let Some((call, _)) = gw.call_with_transcript(&who.org, &call_id)? else {
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
        StreamStart::Snapshot(snapshot, _) => {
            let id = format!("{epoch}:{seq}");
            if let Some(c) = snapshot.calls.iter().find(|c| c.call.id == call.id) {
                for e in &c.transcript {
                    tx.send(Ok(entry_event(&id, e))).await.map_err(|_| ())?;
                }
                return Ok(false);
            }
            // Not live: replay from the database and finish.
            let Ok(Some((final_call, entries))) = gw.call_with_transcript(org, &call.id) else {
                return Ok(true);
            };
            for e in &entries {
                tx.send(Ok(entry_event(&id, e))).await.map_err(|_| ())?;
            }
            tx.send(Ok(end_event(&id, &final_call)))
                .await
                .map_err(|_| ())?;
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
            tx.send(Ok(entry_event(&id, entry))).await.map_err(|_| ())?;
            Ok(false)
        }
        StreamEvent::CallEnded { call } if call.id == call_id => {
            tx.send(Ok(end_event(&id, call))).await.map_err(|_| ())?;
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
    let (start, seq, mut rx) = gw.attach(
        &who.org,
        position.as_ref().map(|(e, s)| (e.as_str(), *s)),
        None,
    );
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
