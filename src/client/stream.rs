//! The resumable event stream: one task per console that keeps a websocket to
//! `/api/stream` open, tracks (epoch, seq), and feeds typed messages to the UI through a
//! bounded channel. Reconnects with exponential backoff and jitter and resumes from the
//! last sequence number it delivered; a gap, a duplicate or a silent server are handled here
//! so the UI only ever sees a consistent sequence of snapshots and events.

use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::core::model::Role;
use crate::core::protocol::{
    ApiError, ResyncReason, ServerFrame, Snapshot, StreamDelta, StreamEvent, Transcript, Watcher,
};
use wire::{
    connect_error, in_order, request_resync, send_subscribe, send_watching, sleep_until_some,
    stream_url, Order,
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
    /// The next event as the changes to a record the UI holds (with
    /// [`StreamConfig::deltas`]); in order with the events, exactly once.
    Delta {
        seq: u64,
        delta: Box<StreamDelta>,
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
    /// Receive changes to calls and analytics as [`StreamMsg::Delta`] where the gateway
    /// knows this client holds the previous version (`?deltas=1`); the UI applies them and
    /// calls [`StreamHandle::resync`] when one does not fit. Off: whole events only.
    pub deltas: bool,
}

impl StreamConfig {
    pub fn new(base_url: &str, token: &str) -> Self {
        StreamConfig {
            base_url: base_url.to_string(),
            token: token.to_string(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            subscriptions: false,
            deltas: false,
        }
    }
}

/// Owns the stream task; dropping it stops the task.
pub struct StreamHandle {
    task: JoinHandle<()>,
    watching: watch::Sender<Option<String>>,
    subscribed: watch::Sender<Vec<String>>,
    /// Bumped to ask for a fresh snapshot.
    resync: watch::Sender<u64>,
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

    /// Asks the gateway for a fresh snapshot because the message numbered `seq` (a delta
    /// for a record the UI does not hold) could not be applied: events until it arrives are
    /// dropped, then [`StreamMsg::Snapshot`] replaces all state. A request older than the
    /// last snapshot (the UI was still working through messages before it) is ignored.
    pub fn resync(&self, seq: u64) {
        self.resync.send_if_modified(|at| {
            let newer = seq > *at;
            *at = (*at).max(seq);
            newer
        });
    }

    /// A handle on a stream task that has no "watching" channel (the seed Socket.IO feed):
    /// `watch` and `subscribe` are then no-ops.
    pub(crate) fn from_task(task: JoinHandle<()>) -> Self {
        let (watching, _) = watch::channel(None);
        let (subscribed, _) = watch::channel(Vec::new());
        let (resync, _) = watch::channel(0);
        StreamHandle {
            task,
            watching,
            subscribed,
            resync,
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
    let (resync, asked) = watch::channel(0);
    let channels = Channels {
        watching: rx,
        subs,
        resync: Resync {
            asked,
            snapshot_seq: 0,
        },
    };
    StreamHandle {
        task: tokio::spawn(run(config, tx, channels)),
        watching,
        subscribed,
        resync,
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

/// What the UI tells the stream task through its handle.
struct Channels {
    watching: watch::Receiver<Option<String>>,
    subs: watch::Receiver<Vec<String>>,
    resync: Resync,
}

/// The UI's requests for a snapshot, and the seq of the last snapshot it was given.
struct Resync {
    asked: watch::Receiver<u64>,
    snapshot_seq: u64,
}

async fn run(config: StreamConfig, tx: mpsc::Sender<StreamMsg>, mut ch: Channels) {
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
            wanted: &mut ch.subs,
        };
        let session = session(
            &config,
            &tx,
            &mut pos,
            &mut ch.watching,
            &mut subscription,
            &mut ch.resync,
        );
        match session.await {
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

async fn session(
    config: &StreamConfig,
    tx: &mpsc::Sender<StreamMsg>,
    pos: &mut Option<Position>,
    watching: &mut watch::Receiver<Option<String>>,
    subs: &mut Subscription<'_>,
    resync: &mut Resync,
) -> End {
    let url = stream_url(
        &config.base_url,
        pos.as_ref(),
        subs.acked.as_deref(),
        config.deltas,
    );
    let url = match url {
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
            changed = resync.asked.changed(), if welcomed && !awaiting_snapshot => {
                let seq = *resync.asked.borrow_and_update();
                if changed.is_ok() && seq > resync.snapshot_seq {
                    tracing::info!(seq, "the console asked for a fresh snapshot");
                    awaiting_snapshot = true;
                    if let Err(e) = request_resync(&mut ws).await {
                        *pos = None;
                        return failed(e, welcomed);
                    }
                    resync_deadline = Some(Instant::now() + config.connect_timeout);
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
        let mut gap = false;
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
                resync.snapshot_seq = snapshot.seq;
                *pos = Some(Position {
                    epoch: snapshot.epoch.clone(),
                    seq: snapshot.seq,
                });
                awaiting_snapshot = false;
                resync_deadline = None;
                Some(StreamMsg::Snapshot(snapshot))
            }
            ServerFrame::Event { epoch, seq, event } => {
                let msg = StreamMsg::Event {
                    seq,
                    event: Box::new(event),
                };
                match in_order(pos.as_mut(), awaiting_snapshot, filtered, &epoch, seq) {
                    Order::Next => Some(msg),
                    Order::Drop => None,
                    Order::Gap => {
                        gap = true;
                        None
                    }
                }
            }
            // A delta stands for the event of its seq: the same order, the same checks.
            ServerFrame::Delta { epoch, seq, delta } => {
                let msg = StreamMsg::Delta {
                    seq,
                    delta: Box::new(delta),
                };
                match in_order(pos.as_mut(), awaiting_snapshot, filtered, &epoch, seq) {
                    Order::Next => Some(msg),
                    Order::Drop => None,
                    Order::Gap => {
                        gap = true;
                        None
                    }
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
        if gap {
            awaiting_snapshot = true;
            if let Err(e) = request_resync(&mut ws).await {
                *pos = None;
                return failed(e, welcomed);
            }
            resync_deadline = Some(Instant::now() + config.connect_timeout);
        }
        if let Some(msg) = out {
            if tx.send(msg).await.is_err() {
                return End::UiGone;
            }
        }
    }
}

mod wire;

#[cfg(test)]
mod tests;
