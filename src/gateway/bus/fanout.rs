//! Wiring the bus to the engine: this instance's commits go out (a [`CommitHook`] feeding
//! an in-order publisher task), every instance's commits come in (delivered through
//! `Gateway::deliver_logged`, which skips what this instance already delivered and fills
//! any gap from the log first), and a slow poll of the log covers a NATS outage.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::gateway::bus::nats::{BusMessage, WireEvent};
use crate::gateway::bus::NatsBus;
use crate::gateway::engine::{CommitHook, Gateway};
use crate::gateway::store::LoggedEvent;

/// Publishes still waiting for JetStream's ack, per instance: enough to keep the link busy.
const ACKS_IN_FLIGHT: usize = 256;
/// Messages taken from the bus per trip to the blocking pool.
const DELIVER_BATCH: usize = 256;
/// How often the log is checked for events the bus did not bring (NATS down, a publish
/// lost with its instance).
pub const LOG_POLL: Duration = Duration::from_secs(2);

/// Commits waiting to be published. Beyond it (NATS down for long) commits are not
/// published at all, which costs nothing but latency: the others read them from the log.
const PUBLISH_QUEUE: usize = 65_536;

/// The commit hook: hands each commit's events to the publisher task, in commit order,
/// without blocking the committing thread (it holds the org's lock).
pub struct Publisher {
    origin: Arc<str>,
    tx: mpsc::Sender<BusMessage>,
    overflowing: std::sync::atomic::AtomicBool,
}

impl CommitHook for Publisher {
    fn committed(&self, org: &str, events: &[LoggedEvent]) {
        let msg = BusMessage {
            origin: self.origin.to_string(),
            org: org.to_string(),
            events: events.iter().map(WireEvent::from).collect(),
        };
        use std::sync::atomic::Ordering;
        // The log has the events whatever happens here.
        match self.tx.try_send(msg) {
            Ok(()) => {
                self.overflowing.store(false, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.overflowing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "NATS publishing is behind; other instances read the log meanwhile"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Starts the publisher, the consumer and the log poll; returns the hook to install.
pub async fn start(
    gw: &Arc<Gateway>,
    bus: NatsBus,
) -> anyhow::Result<(Arc<Publisher>, Vec<tokio::task::JoinHandle<()>>)> {
    let origin: Arc<str> = uuid::Uuid::new_v4().to_string().into();
    // Subscribe before anything is published, so no commit of this instance's lifetime is
    // missed by the consumer (and nothing in between needs the poll).
    let incoming = bus.subscribe().await?;
    let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
    let tasks = vec![
        tokio::spawn(publish(bus, rx, gw.shutdown.clone())),
        tokio::spawn(consume(gw.clone(), origin.clone(), incoming)),
        tokio::spawn(poll_log(gw.clone())),
    ];
    let publisher = Publisher {
        origin,
        tx,
        overflowing: Default::default(),
    };
    Ok((Arc::new(publisher), tasks))
}

async fn publish(
    bus: NatsBus,
    mut rx: mpsc::Receiver<BusMessage>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut acks = FuturesOrdered::new();
    let mut failing = false;
    loop {
        tokio::select! {
            msg = rx.recv(), if acks.len() < ACKS_IN_FLIGHT => {
                let Some(msg) = msg else { break };
                let bus = bus.clone();
                acks.push_back(async move { bus.publish(&msg).await });
            }
            Some(result) = acks.next(), if !acks.is_empty() => {
                match result {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("publishing to NATS works again");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        // Not lost: other instances read the log when they see the gap,
                        // or on their next poll.
                        tracing::warn!(error = %format!("{e:#}"), "cannot publish to NATS; other instances fall back to the log");
                    }
                    Err(_) => {}
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    // Let what is in flight land (bounded) so a graceful restart loses no fan-out.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while acks.next().await.is_some() {}
    })
    .await;
}

async fn consume(
    gw: Arc<Gateway>,
    origin: Arc<str>,
    incoming: impl futures::Stream<Item = BusMessage> + Send + 'static,
) {
    let mut shutdown = gw.shutdown.clone();
    let mut batches = Box::pin(incoming.ready_chunks(DELIVER_BATCH));
    loop {
        let batch = tokio::select! {
            b = batches.next() => match b {
                Some(b) => b,
                None => {
                    tracing::warn!("the NATS consumer ended; delivering from the log poll only");
                    return;
                }
            },
            _ = shutdown.changed() => return,
        };
        // This instance's own events are already delivered (by its commit).
        let remote: Vec<BusMessage> = batch.into_iter().filter(|m| *m.origin != *origin).collect();
        if remote.is_empty() {
            continue;
        }
        let delivered = gw
            .blocking(move |gw| {
                for msg in remote {
                    let events: Vec<LoggedEvent> =
                        msg.events.into_iter().map(LoggedEvent::from).collect();
                    gw.deliver_logged(&msg.org, &events)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = delivered {
            tracing::warn!(error = %e, "cannot deliver events from other instances; the log poll retries");
        }
    }
}

/// Every [`LOG_POLL`], brings each org up to the log's last seq: the safety net when the bus
/// loses or delays a message (NATS down, an instance killed between commit and publish).
async fn poll_log(gw: Arc<Gateway>) {
    let mut shutdown = gw.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(LOG_POLL) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = gw.blocking(|gw| gw.catch_up_all()).await {
            tracing::warn!(error = %e, "cannot read the event log to catch up");
        }
    }
}

impl From<&LoggedEvent> for WireEvent {
    fn from(e: &LoggedEvent) -> Self {
        WireEvent {
            seq: e.seq,
            event: e.event.clone(),
            utterance: e.utterance.clone(),
        }
    }
}

impl From<WireEvent> for LoggedEvent {
    fn from(e: WireEvent) -> Self {
        LoggedEvent {
            seq: e.seq,
            event: e.event,
            utterance: e.utterance,
        }
    }
}
