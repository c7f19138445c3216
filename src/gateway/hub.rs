//! One org's event stream: sequence numbers, the bounded history for resuming clients, and
//! fan-out to subscribers. Lives inside the org's lock together with the call state, so an
//! event is numbered, kept and delivered in the same critical section as the state change
//! it describes; a snapshot taken under that lock is exactly "everything up to seq".

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::delta::{Held, Versions};
pub use super::frames::{encode, Delta, Item, StreamItem};
use crate::core::protocol::{ServerFrame, Snapshot, StreamEvent};

pub struct Hub {
    epoch: Arc<str>,
    seq: u64,
    history: VecDeque<Item>,
    history_cap: usize,
    /// What the history holds, in [`cost`] bytes, and the most it may.
    history_bytes: usize,
    history_bytes_cap: usize,
    subscribers: Vec<mpsc::Sender<Item>>,
    /// The last version of each live call and of the analytics, which deltas apply to.
    versions: Versions,
}

/// Why a client cannot be resumed from its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayGap {
    EpochChanged,
    TooFarBehind,
}

/// What an item is counted at against `history_bytes`: its frame, and about as much again
/// for the event it was encoded from, and its delta frame.
fn cost(item: &StreamItem) -> usize {
    2 * item.frame.len() + item.delta.as_ref().map_or(0, |d| d.frame.len())
}

impl Hub {
    /// A hub continuing after `seq`, the org's last logged seq, keeping at most
    /// `history_cap` events and `history_bytes_cap` bytes of them (the newest is always kept).
    pub fn new(epoch: Arc<str>, history_cap: usize, history_bytes_cap: usize, seq: u64) -> Hub {
        Hub {
            epoch,
            seq,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            history_bytes: 0,
            history_bytes_cap,
            subscribers: Vec::new(),
            versions: Versions::default(),
        }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Subscribers whose connection is still open (a closed one leaves the list at the
    /// next event or subscription).
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.iter().filter(|tx| !tx.is_closed()).count()
    }

    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// What the history holds, in [`cost`] bytes.
    pub fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    /// An event as clients receive it (numbered, framed once), without a delta.
    pub fn item(&self, seq: u64, event: StreamEvent) -> Item {
        let frame = encode(&ServerFrame::Event {
            epoch: self.epoch.to_string(),
            seq,
            event: event.clone(),
        });
        Arc::new(StreamItem {
            seq,
            event,
            frame,
            delta: None,
        })
    }

    /// Live calls whose last version is kept for deltas.
    pub fn versions_len(&self) -> usize {
        self.versions.len()
    }

    /// The versions a client holds once it has `snapshot`, taken now (under the org's lock).
    pub fn held_by(&self, snapshot: &Snapshot) -> Held {
        self.versions.held_by(snapshot)
    }

    /// Keeps the event the log numbered `seq` in the history and offers it to every
    /// subscriber. A seq at or below the hub's is one already delivered: ignored (returns
    /// false). The caller delivers a gap's events first (see `Gateway::deliver_logged`). A
    /// subscriber whose buffer is full is dropped: its receiver drains what it has and
    /// then ends, which its connection turns into `resync{lagged}` + a fresh snapshot.
    pub fn publish_at(&mut self, seq: u64, event: StreamEvent) -> bool {
        if seq <= self.seq {
            return false;
        }
        self.seq = seq;
        let frame = encode(&ServerFrame::Event {
            epoch: self.epoch.to_string(),
            seq,
            event: event.clone(),
        });
        let delta = self.versions.delta(&self.epoch, seq, &event, frame.len());
        let item = Arc::new(StreamItem {
            seq,
            event,
            frame,
            delta,
        });
        self.versions.record(&item);
        self.history_bytes += cost(&item);
        self.history.push_back(item.clone());
        while self.history.len() > self.history_cap
            || (self.history_bytes > self.history_bytes_cap && self.history.len() > 1)
        {
            match self.history.pop_front() {
                Some(old) => self.history_bytes -= cost(&old),
                None => break,
            }
        }
        self.subscribers
            .retain(|tx| tx.try_send(item.clone()).is_ok());
        true
    }

    pub fn subscribe(&mut self, buffer: usize) -> mpsc::Receiver<Item> {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        // Connections that closed while the org was quiet leave here, not only at an event.
        self.subscribers.retain(|tx| !tx.is_closed());
        self.subscribers.push(tx);
        rx
    }

    /// The events after `since` in epoch `epoch`, if the history still holds all of them.
    pub fn replay_after(&self, epoch: &str, since: u64) -> Result<Vec<Item>, ReplayGap> {
        if epoch != &*self.epoch {
            return Err(ReplayGap::EpochChanged);
        }
        if since > self.seq {
            // A position from the future of this epoch: the client is confused; start over.
            return Err(ReplayGap::TooFarBehind);
        }
        if since == self.seq {
            return Ok(Vec::new());
        }
        let oldest = self.history.front().map(|i| i.seq).unwrap_or(self.seq + 1);
        if since + 1 < oldest {
            return Err(ReplayGap::TooFarBehind);
        }
        Ok(self
            .history
            .iter()
            .filter(|i| i.seq > since)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Analytics;

    fn ev() -> StreamEvent {
        StreamEvent::AnalyticsUpdated {
            analytics: Analytics::default(),
        }
    }

    fn publish(hub: &mut Hub) {
        let next = hub.seq() + 1;
        assert!(hub.publish_at(next, ev()));
    }

    #[test]
    fn replay_gives_exactly_the_missed_events() {
        let mut hub = Hub::new("e1".into(), 5, usize::MAX, 0);
        for _ in 0..4 {
            publish(&mut hub);
        }
        let seqs: Vec<u64> = hub
            .replay_after("e1", 2)
            .unwrap()
            .iter()
            .map(|i| i.seq)
            .collect();
        assert_eq!(seqs, vec![3, 4]);
        assert!(hub.replay_after("e1", 4).unwrap().is_empty());
        assert_eq!(
            hub.replay_after("e0", 2).unwrap_err(),
            ReplayGap::EpochChanged
        );
        assert_eq!(
            hub.replay_after("e1", 9).unwrap_err(),
            ReplayGap::TooFarBehind
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut hub = Hub::new("e".into(), 3, usize::MAX, 0);
        for _ in 0..10 {
            publish(&mut hub);
        }
        assert_eq!(
            hub.replay_after("e", 6).unwrap_err(),
            ReplayGap::TooFarBehind
        );
        assert_eq!(hub.replay_after("e", 7).unwrap().len(), 3);
    }

    #[test]
    fn history_is_bounded_in_bytes_too() {
        let mut hub = Hub::new("e".into(), 1_000, 1, 0);
        for _ in 0..10 {
            publish(&mut hub);
        }
        // The newest event is always kept, whatever its size.
        assert_eq!(hub.history_len(), 1);
        assert_eq!(hub.replay_after("e", 9).unwrap().len(), 1);
        assert_eq!(
            hub.replay_after("e", 8).unwrap_err(),
            ReplayGap::TooFarBehind
        );
        let one = hub.history_bytes();
        assert!(one > 0);
        // Three of them fit (frames differ only by their seq's digits), a fourth does not.
        let cap = 3 * one + 8;
        let mut hub = Hub::new("e".into(), 1_000, cap, 0);
        for _ in 0..10 {
            publish(&mut hub);
        }
        assert_eq!(hub.history_len(), 3);
        assert!(hub.history_bytes() <= cap);
        assert_eq!(hub.replay_after("e", 7).unwrap().len(), 3);
        assert_eq!(
            hub.replay_after("e", 6).unwrap_err(),
            ReplayGap::TooFarBehind
        );
    }

    #[test]
    fn numbering_continues_from_the_log_and_repeats_are_ignored() {
        let mut hub = Hub::new("e".into(), 10, usize::MAX, 41);
        let mut rx = hub.subscribe(10);
        assert!(hub.publish_at(42, ev()));
        assert!(!hub.publish_at(42, ev()));
        assert!(!hub.publish_at(7, ev()));
        assert_eq!(hub.seq(), 42);
        assert_eq!(rx.try_recv().unwrap().seq, 42);
        assert!(rx.try_recv().is_err());
        // Before 42 the ring knows nothing: a resume from 40 needs the log.
        assert_eq!(
            hub.replay_after("e", 40).unwrap_err(),
            ReplayGap::TooFarBehind
        );
        assert_eq!(hub.replay_after("e", 41).unwrap().len(), 1);
    }

    #[test]
    fn a_full_subscriber_is_dropped_not_skipped() {
        let mut hub = Hub::new("e".into(), 100, usize::MAX, 0);
        let mut rx = hub.subscribe(2);
        for _ in 0..5 {
            publish(&mut hub);
        }
        assert_eq!(hub.subscriber_count(), 0);
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        // Then the channel ends: the connection must resync rather than miss 3..5.
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
