//! The resumable event stream: one task per console that keeps a websocket to
//! `/api/stream` open, tracks (epoch, seq), and feeds typed messages to the UI through a
//! bounded channel. Reconnects with exponential backoff and jitter and resumes from the
//! last sequence number it delivered; a gap, a duplicate or a silent server are handled here
//! so the UI only ever sees a consistent sequence of snapshots and events.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use super::rest::normalise_base;
use crate::core::model::Role;
use crate::core::protocol::{
    ApiError, ClientFrame, ResyncReason, ServerFrame, Snapshot, StreamEvent, Transcript, Watcher,
};

/// What the stream task tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMsg {
    /// Opening a connection; `attempt` counts the failures since the last good connection.
    Connecting {
        attempt: u32,
    },
    Connected {
        org: String,
        actor: String,
        role: Role,
        /// True when the gateway replays what was missed: keep the state.
        resumed: bool,
        reason: Option<ResyncReason>,
    },
    /// Replace all state with this.
    Snapshot(Box<Snapshot>),
    /// The next event, in order, exactly once.
    Event {
        seq: u64,
        event: Box<StreamEvent>,
    },
    /// The gateway told us to drop state; a snapshot follows.
    Resync {
        reason: ResyncReason,
    },
    /// An `Error` frame from the gateway (the connection stays up).
    ServerError {
        message: String,
    },
    Disconnected {
        error: String,
        retry_in: Duration,
    },
    /// The token was refused; the task stops (retrying cannot help).
    AuthFailed {
        message: String,
    },
    /// Who looks at which call (after this client said what it watches).
    Presence {
        watchers: Vec<Watcher>,
    },
    /// The gateway now sends transcript entries of `calls` only; `transcripts` are those of
    /// the calls just added, complete up to the point their live entries follow from.
    Subscribed {
        calls: Vec<String>,
        transcripts: Vec<Transcript>,
    },
}

/// A burst of subscription changes (a held arrow key) goes out as one frame after this.
const SUBSCRIBE_DEBOUNCE: Duration = Duration::from_millis(25);

/// Exponential backoff with "equal jitter": a delay in [d/2, d] where d doubles per attempt.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let half = exp / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The gateway's http(s) base URL; ws(s) is derived from it.
    pub base_url: String,
    pub token: String,
    pub backoff: Backoff,
    /// How long to wait for the connection and the Welcome frame.
    pub connect_timeout: Duration,
    /// Receive transcript entries only of the calls given to [`StreamHandle::subscribe`]
    /// (none until then); call-level events still come for the whole org. Off: everything.
    pub subscriptions: bool,
}

impl StreamConfig {
    pub fn new(base_url: &str, token: &str) -> Self {
        StreamConfig {
            base_url: base_url.to_string(),
            token: token.to_string(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            subscriptions: false,
        }
    }
}

/// Owns the stream task; dropping it stops the task.
pub struct StreamHandle {
    task: JoinHandle<()>,
    watching: watch::Sender<Option<String>>,
    subscribed: watch::Sender<Vec<String>>,
}

impl StreamHandle {
    /// Tells the gateway which call this console shows (sent now and on every reconnect).
    /// Cheap when nothing changed (called after every message the console handles).
    pub fn watch(&self, call_id: Option<&str>) {
        self.watching.send_if_modified(|cur| {
            if cur.as_deref() == call_id {
                return false;
            }
            *cur = call_id.map(String::from);
            true
        });
    }

    /// The calls whose transcripts this console shows (sorted, no duplicates); only their
    /// transcript entries come (with [`StreamConfig::subscriptions`]). The latest set wins:
    /// the task sends it once changes settle and again on every reconnect.
    pub fn subscribe(&self, calls: &[String]) {
        self.subscribed.send_if_modified(|cur| {
            if cur.as_slice() == calls {
                return false;
            }
            *cur = calls.to_vec();
            true
        });
    }

    /// A handle on a stream task that has no "watching" channel (the seed Socket.IO feed):
    /// `watch` and `subscribe` are then no-ops.
    pub(crate) fn from_task(task: JoinHandle<()>) -> Self {
        let (watching, _) = watch::channel(None);
        let (subscribed, _) = watch::channel(Vec::new());
        StreamHandle {
            task,
            watching,
            subscribed,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the stream task on the current tokio runtime.
pub fn spawn_stream(config: StreamConfig, tx: mpsc::Sender<StreamMsg>) -> StreamHandle {
    let (watching, rx) = watch::channel(None);
    let (subscribed, subs) = watch::channel(Vec::new());
    StreamHandle {
        task: tokio::spawn(run(config, tx, rx, subs)),
        watching,
        subscribed,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Position {
    epoch: String,
    seq: u64,
}

enum End {
    UiGone,
    Fatal(String),
    Failed { error: String, welcomed: bool },
}

async fn run(
    config: StreamConfig,
    tx: mpsc::Sender<StreamMsg>,
    mut watching: watch::Receiver<Option<String>>,
    mut subs: watch::Receiver<Vec<String>>,
) {
    let mut pos: Option<Position> = None;
    // The set the gateway last confirmed: the calls whose transcripts the UI holds and
    // follows. A reconnect resumes with it (`?calls=`); changes go out after the welcome.
    let mut acked: Option<Vec<String>> = config.subscriptions.then(Vec::new);
    let mut attempt = 0u32;
    loop {
        if tx.send(StreamMsg::Connecting { attempt }).await.is_err() {
            return;
        }
        let mut subscription = Subscription {
            acked: &mut acked,
            wanted: &mut subs,
        };
        match session(&config, &tx, &mut pos, &mut watching, &mut subscription).await {
            End::UiGone => return,
            End::Fatal(message) => {
                tracing::warn!(%message, "stream stopped");
                let _ = tx.send(StreamMsg::AuthFailed { message }).await;
                return;
            }
            End::Failed { error, welcomed } => {
                if welcomed {
                    attempt = 0;
                }
                let retry_in = config.backoff.delay(attempt);
                attempt = attempt.saturating_add(1);
                tracing::info!(%error, ?retry_in, "stream disconnected");
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
    }
}

/// The subscription side of a session: what the gateway confirmed and what the UI wants.
struct Subscription<'a> {
    acked: &'a mut Option<Vec<String>>,
    wanted: &'a mut watch::Receiver<Vec<String>>,
}

/// `http://h/p` + position (+ subscribed calls) -> `ws://h/p/api/stream?epoch=E&since=S&calls=a,b`.
fn stream_url(
    base: &str,
    pos: Option<&Position>,
    calls: Option<&[String]>,
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
    if !params.is_empty() {
        let q = serde_urlencoded::to_string(&params).map_err(|e| e.to_string())?;
        url.push('?');
        url.push_str(&q);
    }
    Ok(url)
}

async fn session(
    config: &StreamConfig,
    tx: &mpsc::Sender<StreamMsg>,
    pos: &mut Option<Position>,
    watching: &mut watch::Receiver<Option<String>>,
    subs: &mut Subscription<'_>,
) -> End {
    let url = match stream_url(&config.base_url, pos.as_ref(), subs.acked.as_deref()) {
        Ok(u) => u,
        Err(e) => return End::Fatal(e),
    };
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return End::Fatal(format!("invalid gateway URL: {e}")),
    };
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", config.token)) else {
        return End::Fatal("the token contains characters that cannot be sent".into());
    };
    request.headers_mut().insert(AUTHORIZATION, bearer);

    let connected = tokio::time::timeout(
        config.connect_timeout,
        tokio_tungstenite::connect_async(request),
    )
    .await;
    let mut ws = match connected {
        Err(_) => {
            return End::Failed {
                error: "timed out connecting to the gateway".into(),
                welcomed: false,
            }
        }
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let message = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<ApiError>(b).ok())
                .map(|e| e.message)
                .unwrap_or_else(|| format!("the gateway refused the stream (HTTP {status})"));
            if status == 401 || status == 403 {
                return End::Fatal(message);
            }
            return End::Failed {
                error: message,
                welcomed: false,
            };
        }
        Ok(Err(e)) => {
            return End::Failed {
                error: connect_error(&e),
                welcomed: false,
            }
        }
        Ok(Ok((ws, _))) => ws,
    };

    let mut welcomed = false;
    // Until the Welcome names the heartbeat, allow the connect timeout.
    let mut silence_limit = config.connect_timeout;
    let mut awaiting_snapshot = true;
    // When we asked for a resync ourselves and no snapshot comes, reconnect from scratch.
    let mut resync_deadline: Option<Instant> = None;
    // When the UI's subscription changed and should go out (debounced).
    let mut subscribe_at: Option<Instant> = None;
    let filtered = subs.acked.is_some();
    let failed = |error: String, welcomed: bool| End::Failed { error, welcomed };

    loop {
        if resync_deadline.is_some_and(|d| Instant::now() >= d) {
            *pos = None;
            return failed(
                "the gateway did not answer a resync request".into(),
                welcomed,
            );
        }
        // What the console watches goes out on every connection once it named a call, then
        // on every change (a closed channel: the console is gone, nothing more to say).
        let received = tokio::select! {
            r = tokio::time::timeout(silence_limit, ws.next()) => r,
            changed = watching.changed(), if welcomed => {
                if changed.is_ok() {
                    let call_id = watching.borrow_and_update().clone();
                    if let Err(e) = send_watching(&mut ws, call_id).await {
                        return failed(e, welcomed);
                    }
                }
                continue;
            }
            changed = subs.wanted.changed(), if welcomed && filtered && subscribe_at.is_none() => {
                if changed.is_ok() {
                    subscribe_at = Some(Instant::now() + SUBSCRIBE_DEBOUNCE);
                }
                continue;
            }
            _ = sleep_until_some(subscribe_at) => {
                subscribe_at = None;
                let calls = subs.wanted.borrow_and_update().clone();
                if subs.acked.as_ref() != Some(&calls) {
                    if let Err(e) = send_subscribe(&mut ws, calls).await {
                        return failed(e, welcomed);
                    }
                }
                continue;
            }
        };
        let next = match received {
            Err(_) => {
                let what = if welcomed {
                    "no heartbeat"
                } else {
                    "no welcome"
                };
                return failed(
                    format!("{what} from the gateway for {}s", silence_limit.as_secs()),
                    welcomed,
                );
            }
            Ok(None) => return failed("the gateway closed the connection".into(), welcomed),
            Ok(Some(Err(e))) => return failed(format!("connection lost: {e}"), welcomed),
            Ok(Some(Ok(m))) => m,
        };
        let text = match next {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => continue,
            },
            Message::Close(frame) => {
                let why = frame
                    .map(|f| f.reason.to_string())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "no reason given".into());
                return failed(
                    format!("the gateway closed the connection ({why})"),
                    welcomed,
                );
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        let frame: ServerFrame = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                // Unknown frames from a newer gateway are skipped, not fatal.
                tracing::warn!(error = %e, "ignoring a stream frame callwatch does not understand");
                continue;
            }
        };
        let out = match frame {
            ServerFrame::Welcome {
                epoch,
                org,
                actor,
                role,
                resumed,
                reason,
                heartbeat_secs,
                ..
            } => {
                welcomed = true;
                // A new connection: the gateway learns again what this console shows.
                if watching.borrow().is_some() {
                    watching.mark_changed();
                }
                // Calls the UI added while we were away go out at once.
                if filtered && subs.acked.as_ref() != Some(&*subs.wanted.borrow()) {
                    subscribe_at = Some(Instant::now());
                }
                silence_limit = Duration::from_secs(heartbeat_secs.clamp(1, 600) * 3);
                let resumable = resumed && pos.as_ref().is_some_and(|p| p.epoch == epoch);
                if resumable {
                    awaiting_snapshot = false;
                } else {
                    awaiting_snapshot = true;
                    *pos = None;
                    if resumed {
                        // The server thinks we resumed but we hold no matching position.
                        if let Err(e) = request_resync(&mut ws).await {
                            return failed(e, welcomed);
                        }
                        resync_deadline = Some(Instant::now() + config.connect_timeout);
                    }
                }
                Some(StreamMsg::Connected {
                    org,
                    actor,
                    role,
                    resumed: resumable,
                    reason,
                })
            }
            ServerFrame::Snapshot { snapshot } => {
                *pos = Some(Position {
                    epoch: snapshot.epoch.clone(),
                    seq: snapshot.seq,
                });
                awaiting_snapshot = false;
                resync_deadline = None;
                Some(StreamMsg::Snapshot(snapshot))
            }
            ServerFrame::Event { epoch, seq, event } => {
                if awaiting_snapshot {
                    None // the coming snapshot includes it
                } else if let Some(p) = pos.as_mut() {
                    // Subscribed, the gateway skips other calls' transcript entries: a
                    // seq past the next one is expected (it never skips silently otherwise).
                    let next = if filtered {
                        seq > p.seq
                    } else {
                        seq == p.seq + 1
                    };
                    if p.epoch == epoch && next {
                        p.seq = seq;
                        Some(StreamMsg::Event {
                            seq,
                            event: Box::new(event),
                        })
                    } else if p.epoch == epoch && seq <= p.seq {
                        None // already delivered
                    } else {
                        tracing::warn!(
                            expected = p.seq + 1,
                            got = seq,
                            "gap in the stream; resyncing"
                        );
                        awaiting_snapshot = true;
                        if let Err(e) = request_resync(&mut ws).await {
                            *pos = None;
                            return failed(e, welcomed);
                        }
                        resync_deadline = Some(Instant::now() + config.connect_timeout);
                        None
                    }
                } else {
                    None
                }
            }
            ServerFrame::Resync { reason } => {
                awaiting_snapshot = true;
                Some(StreamMsg::Resync { reason })
            }
            ServerFrame::Heartbeat { epoch, seq, .. } => {
                // Subscribed, the heartbeat's seq covers the events skipped for us: resume
                // after them. (Unsubscribed it equals the last event, already ours.)
                if let Some(p) = pos.as_mut().filter(|_| filtered && !awaiting_snapshot) {
                    if p.epoch == epoch && seq > p.seq {
                        p.seq = seq;
                    }
                }
                None
            }
            ServerFrame::Subscribed {
                calls, transcripts, ..
            } => match calls {
                Some(calls) => {
                    *subs.acked = Some(calls.clone());
                    Some(StreamMsg::Subscribed { calls, transcripts })
                }
                None => None,
            },
            ServerFrame::Error { message } => Some(StreamMsg::ServerError { message }),
            ServerFrame::Presence { watchers } => Some(StreamMsg::Presence { watchers }),
        };
        if let Some(msg) = out {
            if tx.send(msg).await.is_err() {
                return End::UiGone;
            }
        }
    }
}

async fn send_watching<S>(ws: &mut S, call_id: Option<String>) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let body =
        serde_json::to_string(&ClientFrame::Watching { call_id }).map_err(|e| e.to_string())?;
    ws.send(Message::Text(body.into()))
        .await
        .map_err(|e| format!("cannot tell the gateway what this console shows: {e}"))
}

async fn send_subscribe<S>(ws: &mut S, calls: Vec<String>) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let body = serde_json::to_string(&ClientFrame::Subscribe { calls: Some(calls) })
        .map_err(|e| e.to_string())?;
    ws.send(Message::Text(body.into()))
        .await
        .map_err(|e| format!("cannot tell the gateway which transcripts to send: {e}"))
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn request_resync<S>(ws: &mut S) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let body = serde_json::to_string(&ClientFrame::Resync).map_err(|e| e.to_string())?;
    ws.send(Message::Text(body.into()))
        .await
        .map_err(|e| format!("cannot ask the gateway for a resync: {e}"))
}

fn connect_error(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => format!("cannot reach the gateway: {io}"),
        other => format!("cannot connect to the gateway: {other}"),
    }
}

#[cfg(test)]
mod tests;
