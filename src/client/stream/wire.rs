//! The stream task's wire details: the URL it connects to, the client frames it sends and
//! where a numbered frame stands in the sequence.

use futures::SinkExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

use super::Position;
use crate::client::rest::normalise_base;
use crate::core::protocol::ClientFrame;

/// `http://h/p` + position (+ subscribed calls, deltas) ->
/// `ws://h/p/api/stream?epoch=E&since=S&calls=a,b&deltas=1`.
pub(super) fn stream_url(
    base: &str,
    pos: Option<&Position>,
    calls: Option<&[String]>,
    deltas: bool,
) -> Result<String, String> {
    let base = normalise_base(base).map_err(|e| e.to_string())?;
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(format!("invalid gateway URL {base:?}"));
    };
    let mut url = format!("{ws}/api/stream");
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some(p) = pos {
        params.push(("epoch", p.epoch.clone()));
        params.push(("since", p.seq.to_string()));
    }
    if let Some(calls) = calls {
        params.push(("calls", calls.join(",")));
    }
    if deltas {
        params.push(("deltas", "1".into()));
    }
    if !params.is_empty() {
        let q = serde_urlencoded::to_string(&params).map_err(|e| e.to_string())?;
        url.push('?');
        url.push_str(&q);
    }
    Ok(url)
}

/// Where a numbered frame (event or delta) stands in the sequence.
pub(super) enum Order {
    /// The next one: deliver it (the position has moved to it).
    Next,
    /// Already delivered, or the coming snapshot includes it.
    Drop,
    /// Something was skipped: resync.
    Gap,
}

pub(super) fn in_order(
    pos: Option<&mut Position>,
    awaiting_snapshot: bool,
    filtered: bool,
    epoch: &str,
    seq: u64,
) -> Order {
    let Some(p) = pos.filter(|_| !awaiting_snapshot) else {
        return Order::Drop;
    };
    // Subscribed, the gateway skips other calls' transcript entries: a seq past the next
    // one is expected (it never skips silently otherwise).
    let next = if filtered {
        seq > p.seq
    } else {
        seq == p.seq + 1
    };
    if p.epoch == epoch && next {
        p.seq = seq;
        Order::Next
    } else if p.epoch == epoch && seq <= p.seq {
        Order::Drop
    } else {
        tracing::warn!(
            expected = p.seq + 1,
            got = seq,
            "gap in the stream; resyncing"
        );
        Order::Gap
    }
}

pub(super) async fn send_watching<S>(ws: &mut S, call_id: Option<String>) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let body =
        serde_json::to_string(&ClientFrame::Watching { call_id }).map_err(|e| e.to_string())?;
    ws.send(Message::Text(body.into()))
        .await
        .map_err(|e| format!("cannot tell the gateway what this console shows: {e}"))
}

pub(super) async fn send_subscribe<S>(ws: &mut S, calls: Vec<String>) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let body = serde_json::to_string(&ClientFrame::Subscribe { calls: Some(calls) })
        .map_err(|e| e.to_string())?;
    ws.send(Message::Text(body.into()))
        .await
        .map_err(|e| format!("cannot tell the gateway which transcripts to send: {e}"))
}

pub(super) async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub(super) async fn request_resync<S>(ws: &mut S) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let body = serde_json::to_string(&ClientFrame::Resync).map_err(|e| e.to_string())?;
    ws.send(Message::Text(body.into()))
        .await
        .map_err(|e| format!("cannot ask the gateway for a resync: {e}"))
}

pub(super) fn connect_error(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => format!("cannot reach the gateway: {io}"),
        other => format!("cannot connect to the gateway: {other}"),
    }
}
